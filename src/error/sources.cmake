# The error layer: weft_strerror, the log sink, the version, and the private
# base every layer shares (assertions, the allocator hook).
target_sources(weft_objects PRIVATE
  ${CMAKE_CURRENT_LIST_DIR}/alloc.c
  ${CMAKE_CURRENT_LIST_DIR}/log.c
  ${CMAKE_CURRENT_LIST_DIR}/strerror.c
  ${CMAKE_CURRENT_LIST_DIR}/version.c)
