# The server layer: loops, listeners, the connection cap.
target_sources(weft_objects PRIVATE
  ${CMAKE_CURRENT_LIST_DIR}/proxy.c
  ${CMAKE_CURRENT_LIST_DIR}/server.c)
