# tm-realtime integration tests (owned by the realtime service). Included from
# tests/integration/CMakeLists.txt; uses tm_integration_test() defined there.
tm_integration_test(itest_realtime SOURCES test_realtime.c
  DEFS TM_RT_MIGRATIONS="${PROJECT_SOURCE_DIR}/services/realtime/migrations")
target_link_libraries(itest_realtime PRIVATE rtcore)
