# Unit tests of tm-ai's service-side modules (breaker, cache, prompt, LLM reply validation,
# in-memory task sets).
# Include from tests/unit/ai/CMakeLists.txt:
#   include(${CMAKE_CURRENT_SOURCE_DIR}/service.cmake)
set(AI_SVC_DIR ${CMAKE_CURRENT_LIST_DIR}/../../../services/ai)

tm_unit_test(test_ai_breaker SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_breaker.c ${AI_SVC_DIR}/breaker.c)
target_include_directories(test_ai_breaker PRIVATE ${AI_SVC_DIR})

tm_unit_test(test_ai_cache SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_cache.c ${AI_SVC_DIR}/cache.c)
target_include_directories(test_ai_cache PRIVATE ${AI_SVC_DIR})

tm_unit_test(test_ai_prompt SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_prompt.c ${AI_SVC_DIR}/prompt.c)
target_include_directories(test_ai_prompt PRIVATE ${AI_SVC_DIR})

tm_unit_test(test_ai_llm SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_llm.c ${AI_SVC_DIR}/llm.c
             ${AI_SVC_DIR}/breaker.c LIBS PkgConfig::CURL)
target_include_directories(test_ai_llm PRIVATE ${AI_SVC_DIR})

# The in-memory task sets against a fake projection (projection.c only for the real source).
tm_unit_test(test_ai_tsets SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_tsets.c ${AI_SVC_DIR}/tsets.c
             ${AI_SVC_DIR}/task_set.c ${AI_SVC_DIR}/projection.c ${AI_SVC_DIR}/suggest_rules.c
             ${AI_SVC_DIR}/insights.c ${AI_SVC_DIR}/tz.c)
target_include_directories(test_ai_tsets PRIVATE ${AI_SVC_DIR})
