# Task API subjects against a tm-task the test starts itself (include from
# tests/integration/CMakeLists.txt).
tm_integration_test(test_task_api SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_task_api.c
  ${CMAKE_CURRENT_LIST_DIR}/itest_daemon.c
  DEFS TM_TASK_BIN="$<TARGET_FILE:tm-task>")
add_dependencies(test_task_api tm-task)
# The outbox relay's wake-ups and batch order (services/task/relay.c).
tm_integration_test(test_task_relay SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_relay.c
  ${CMAKE_CURRENT_LIST_DIR}/itest_daemon.c
  DEFS TM_TASK_BIN="$<TARGET_FILE:tm-task>")
add_dependencies(test_task_relay tm-task)
