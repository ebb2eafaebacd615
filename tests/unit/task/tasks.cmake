# Unit tests of the task API (services/task/{cursor,task_json}.c); included by
# tests/unit/task/CMakeLists.txt.
tm_unit_test(test_task_cursor SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_cursor.c)
tm_unit_test(test_task_json SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_task_json.c)
tm_unit_test(test_task_list_json SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_task_list_json.c
             ${PROJECT_SOURCE_DIR}/services/task/cursor.c)
target_include_directories(test_task_list_json PRIVATE ${PROJECT_SOURCE_DIR}/services/task)
