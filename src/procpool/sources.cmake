# The process pool: supervised worker processes (posix_spawn of the
# program itself, through the proc layer) running jobs registered by name,
# with results as futures.
target_sources(weft_objects PRIVATE
  ${CMAKE_CURRENT_LIST_DIR}/child.c
  ${CMAKE_CURRENT_LIST_DIR}/procpool.c
  ${CMAKE_CURRENT_LIST_DIR}/registry.c
  ${CMAKE_CURRENT_LIST_DIR}/submit.c
  ${CMAKE_CURRENT_LIST_DIR}/supervise.c
  ${CMAKE_CURRENT_LIST_DIR}/transport.c)
