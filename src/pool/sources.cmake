# The pool layer: the supervised worker pool (see src/pool/pool-int.h).
target_sources(weft_objects PRIVATE
  ${CMAKE_CURRENT_LIST_DIR}/deadlines.c
  ${CMAKE_CURRENT_LIST_DIR}/job.c
  ${CMAKE_CURRENT_LIST_DIR}/local.c
  ${CMAKE_CURRENT_LIST_DIR}/parallel.c
  ${CMAKE_CURRENT_LIST_DIR}/pool.c
  ${CMAKE_CURRENT_LIST_DIR}/queue.c
  ${CMAKE_CURRENT_LIST_DIR}/submit.c
  ${CMAKE_CURRENT_LIST_DIR}/supervisor.c
  ${CMAKE_CURRENT_LIST_DIR}/worker.c)
