# WebSocket codec and op decoder tests (owner: h7). Included by this folder's CMakeLists.txt:
#   include(${CMAKE_CURRENT_SOURCE_DIR}/ws.cmake)
include_guard(GLOBAL)
set(TM_WS_DIR ${PROJECT_SOURCE_DIR}/services/gateway)

tm_unit_test(test_ws_frame
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_ws_frame.c ${TM_WS_DIR}/ws_frame.c)
target_include_directories(test_ws_frame PRIVATE ${TM_WS_DIR} ${CMAKE_CURRENT_LIST_DIR})

tm_unit_test(test_ws_ops
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_ws_ops.c ${TM_WS_DIR}/ws_ops.c ${TM_WS_DIR}/ws_frame.c)
target_include_directories(test_ws_ops PRIVATE ${TM_WS_DIR})
