# tm-task identity/workspace integration test (included from tests/integration/CMakeLists.txt).
tm_integration_test(itest_task_identity SOURCES test_task_identity.c itest_daemon.c
  DEFS TM_TASK_BIN="$<TARGET_FILE:tm-task>")
add_dependencies(itest_task_identity tm-task)
