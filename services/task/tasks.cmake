# The task API of tm-task (included by services/task/CMakeLists.txt).
set(TASK_API_SOURCES ${TASK_API_SOURCES}
  ${CMAKE_CURRENT_SOURCE_DIR}/tasks.c
  ${CMAKE_CURRENT_SOURCE_DIR}/task_json.c
  ${CMAKE_CURRENT_SOURCE_DIR}/task_list.c
  ${CMAKE_CURRENT_SOURCE_DIR}/cursor.c
  ${CMAKE_CURRENT_SOURCE_DIR}/time_entries.c
  ${CMAKE_CURRENT_SOURCE_DIR}/attachments.c
  ${CMAKE_CURRENT_SOURCE_DIR}/changes.c
  ${CMAKE_CURRENT_SOURCE_DIR}/outbox.c
)
