# The proc layer: children started with posix_spawn of the program itself,
# restart intensity, shared memory, crash notes.
target_sources(weft_objects PRIVATE
  ${CMAKE_CURRENT_LIST_DIR}/notes.c
  ${CMAKE_CURRENT_LIST_DIR}/restart.c
  ${CMAKE_CURRENT_LIST_DIR}/shm.c
  ${CMAKE_CURRENT_LIST_DIR}/spawn.c)
