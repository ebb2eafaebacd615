# tm-ai integration test (include from tests/integration/CMakeLists.txt): the built tm-ai and
# tm-task, the consumer + handlers over NATS, and the LLM path against
# tests/e2e/lib/fake_llm.mjs (needs `node` on PATH).
tm_integration_test(itest_ai SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_ai.c
  ${CMAKE_CURRENT_LIST_DIR}/itest_daemon.c
  DEFS TM_AI_BIN="$<TARGET_FILE:tm-ai>" TM_TASK_BIN="$<TARGET_FILE:tm-task>"
       TM_FAKE_LLM_JS="${CMAKE_CURRENT_LIST_DIR}/../e2e/lib/fake_llm.mjs")
add_dependencies(itest_ai tm-ai tm-task)

# tm-ai's projection writes, event by event against a batch in one statement (migration 005),
# on the real Postgres only (no daemons).
set(AI_SVC_DIR ${PROJECT_SOURCE_DIR}/services/ai)
tm_integration_test(itest_ai_projection SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_ai_projection.c
  ${CMAKE_CURRENT_LIST_DIR}/itest_daemon.c ${AI_SVC_DIR}/projection.c ${AI_SVC_DIR}/task_set.c
  ${AI_SVC_DIR}/suggest_rules.c ${AI_SVC_DIR}/insights.c ${AI_SVC_DIR}/tz.c
  DEFS TM_AI_MIGRATIONS="${AI_SVC_DIR}/migrations")
target_include_directories(itest_ai_projection PRIVATE ${AI_SVC_DIR})
