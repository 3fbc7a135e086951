# The future layer: promise/future, waiting, all/any.
target_sources(weft_objects PRIVATE
  ${CMAKE_CURRENT_LIST_DIR}/combine.c
  ${CMAKE_CURRENT_LIST_DIR}/future.c
  ${CMAKE_CURRENT_LIST_DIR}/wait.c)
