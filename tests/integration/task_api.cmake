# Task API subjects against a running tm-task on TM_TEST_NATS_URL (include from
# tests/integration/CMakeLists.txt).
tm_integration_test(test_task_api SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_task_api.c)
