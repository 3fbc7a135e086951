# The sync layer: the per-thread record, the queue, events, semaphores,
# wait groups, the recursive lock and the scoped-lock helpers.
target_sources(weft_objects PRIVATE
  ${CMAKE_CURRENT_LIST_DIR}/event.c
  ${CMAKE_CURRENT_LIST_DIR}/queue.c
  ${CMAKE_CURRENT_LIST_DIR}/rlock.c
  ${CMAKE_CURRENT_LIST_DIR}/scoped.c
  ${CMAKE_CURRENT_LIST_DIR}/sem.c
  ${CMAKE_CURRENT_LIST_DIR}/thread.c
  ${CMAKE_CURRENT_LIST_DIR}/waitgroup.c)
