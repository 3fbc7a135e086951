# The loop layer: weft_loop_t on libuv, the inbox, continuations, notifiers,
# delays, loop groups, statistics and the blocked-loop watchdog.
target_sources(weft_objects PRIVATE
  ${CMAKE_CURRENT_LIST_DIR}/delay.c
  ${CMAKE_CURRENT_LIST_DIR}/group.c
  ${CMAKE_CURRENT_LIST_DIR}/inbox.c
  ${CMAKE_CURRENT_LIST_DIR}/loop.c
  ${CMAKE_CURRENT_LIST_DIR}/notifier.c
  ${CMAKE_CURRENT_LIST_DIR}/post.c
  ${CMAKE_CURRENT_LIST_DIR}/stats.c
  ${CMAKE_CURRENT_LIST_DIR}/then.c
  ${CMAKE_CURRENT_LIST_DIR}/watchdog.c
  ${CMAKE_CURRENT_LIST_DIR}/work.c)
