# The app layer: apps (handler, state, freezing).
target_sources(weft_objects PRIVATE
  ${CMAKE_CURRENT_LIST_DIR}/app.c)
