# The sync layer: the per-thread record, the queue, events, semaphores,
# wait groups, the recursive lock and the scoped-lock helpers.
target_sources(weft_objects PRIVATE
  ${CMAKE_CURRENT_LIST_DIR}/thread.c)
