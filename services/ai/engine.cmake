# Rule-based AI engine (pure modules: no NATS, no Postgres). Include from
# services/ai/CMakeLists.txt and tests/unit/ai/CMakeLists.txt:
#   include(${PROJECT_SOURCE_DIR}/services/ai/engine.cmake)
#   add_executable(tm-ai main.c ${AI_ENGINE_SOURCES})
#   target_include_directories(tm-ai PRIVATE ${AI_ENGINE_DIR})
set(AI_ENGINE_DIR ${CMAKE_CURRENT_LIST_DIR})
set(AI_ENGINE_SOURCES
  ${AI_ENGINE_DIR}/tz.c
  ${AI_ENGINE_DIR}/parse.c
  ${AI_ENGINE_DIR}/urgency.c
  ${AI_ENGINE_DIR}/insights.c
  ${AI_ENGINE_DIR}/suggest_rules.c
)
