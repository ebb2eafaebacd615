# tm-ai integration test (include from tests/integration/CMakeLists.txt):
# the consumer + handlers over NATS, and the LLM path against tests/e2e/lib/fake_llm.mjs
# (needs `node` on PATH). Uses admin port 9220 and port 8320 for the fake.
tm_integration_test(itest_ai SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_ai.c
  DEFS TM_AI_BIN="$<TARGET_FILE:tm-ai>"
       TM_FAKE_LLM_JS="${CMAKE_CURRENT_LIST_DIR}/../e2e/lib/fake_llm.mjs")
add_dependencies(itest_ai tm-ai)
