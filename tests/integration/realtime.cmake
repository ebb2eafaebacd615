# tm-realtime integration tests (owned by the realtime service). Included from
# tests/integration/CMakeLists.txt; uses tm_integration_test() defined there. tm-realtime
# runs in-process (two replicas); tm-task is the built binary, started by the test.
tm_integration_test(itest_realtime SOURCES test_realtime.c itest_daemon.c
  DEFS TM_RT_MIGRATIONS="${PROJECT_SOURCE_DIR}/services/realtime/migrations"
       TM_TASK_BIN="$<TARGET_FILE:tm-task>")
target_link_libraries(itest_realtime PRIVATE rtcore)
add_dependencies(itest_realtime tm-task)
