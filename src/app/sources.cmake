# The app layer: routes, hooks, state, offloading (src/app/app-int.h).
target_sources(weft_objects PRIVATE
  ${CMAKE_CURRENT_LIST_DIR}/app.c
  ${CMAKE_CURRENT_LIST_DIR}/offload.c
  ${CMAKE_CURRENT_LIST_DIR}/params.c
  ${CMAKE_CURRENT_LIST_DIR}/plugin.c
  ${CMAKE_CURRENT_LIST_DIR}/respond.c
  ${CMAKE_CURRENT_LIST_DIR}/router.c
  ${CMAKE_CURRENT_LIST_DIR}/static.c
  ${CMAKE_CURRENT_LIST_DIR}/static-http.c)
