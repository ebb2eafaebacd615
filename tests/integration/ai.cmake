# tm-ai integration test (include from tests/integration/CMakeLists.txt): the built tm-ai and
# tm-task, the consumer + handlers over NATS, and the LLM path against
# tests/e2e/lib/fake_llm.mjs (needs `node` on PATH).
tm_integration_test(itest_ai SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_ai.c
  ${CMAKE_CURRENT_LIST_DIR}/itest_daemon.c
  DEFS TM_AI_BIN="$<TARGET_FILE:tm-ai>" TM_TASK_BIN="$<TARGET_FILE:tm-task>"
       TM_FAKE_LLM_JS="${CMAKE_CURRENT_LIST_DIR}/../e2e/lib/fake_llm.mjs")
add_dependencies(itest_ai tm-ai tm-task)
