# The HTTP layer: the connection engine, with llhttp as its parser.
#
# llhttp 8.1 comes from Debian's node-llhttp (MIT; see docs/architecture.md,
# "Third-party code"): its C sources build as their own object library, in
# strict mode, with warnings off for them alone and hidden visibility, and
# its header is a SYSTEM include so our -Werror does not judge it.
set(WEFT_LLHTTP_DIR /usr/share/llhttp CACHE PATH "llhttp C sources (Debian node-llhttp)")
set(WEFT_LLHTTP_INCLUDE /usr/share/include/llhttp CACHE PATH "llhttp.h (Debian node-llhttp)")
if(NOT EXISTS ${WEFT_LLHTTP_DIR}/llhttp.c OR NOT EXISTS ${WEFT_LLHTTP_INCLUDE}/llhttp.h)
  message(FATAL_ERROR "llhttp sources not found in ${WEFT_LLHTTP_DIR} (install node-llhttp)")
endif()
add_library(weft_llhttp OBJECT
  ${WEFT_LLHTTP_DIR}/llhttp.c ${WEFT_LLHTTP_DIR}/api.c ${WEFT_LLHTTP_DIR}/http.c)
target_include_directories(weft_llhttp SYSTEM PUBLIC ${WEFT_LLHTTP_INCLUDE})
target_compile_definitions(weft_llhttp PUBLIC LLHTTP_STRICT_MODE=1)
target_compile_options(weft_llhttp PRIVATE -w -fvisibility=hidden)
set_target_properties(weft_llhttp PROPERTIES POSITION_INDEPENDENT_CODE ON C_STANDARD 99)
# Its include path and define reach weft's own objects; its objects are
# added to both libraries in the top-level CMakeLists.txt.
target_include_directories(weft_objects SYSTEM PRIVATE ${WEFT_LLHTTP_INCLUDE})
target_compile_definitions(weft_objects PRIVATE LLHTTP_STRICT_MODE=1)

target_sources(weft_objects PRIVATE
  ${CMAKE_CURRENT_LIST_DIR}/addr.c
  ${CMAKE_CURRENT_LIST_DIR}/body.c
  ${CMAKE_CURRENT_LIST_DIR}/client.c
  ${CMAKE_CURRENT_LIST_DIR}/conn.c
  ${CMAKE_CURRENT_LIST_DIR}/date.c
  ${CMAKE_CURRENT_LIST_DIR}/figures.c
  ${CMAKE_CURRENT_LIST_DIR}/output.c
  ${CMAKE_CURRENT_LIST_DIR}/parser.c
  ${CMAKE_CURRENT_LIST_DIR}/proxy.c
  ${CMAKE_CURRENT_LIST_DIR}/request.c
  ${CMAKE_CURRENT_LIST_DIR}/response.c
  ${CMAKE_CURRENT_LIST_DIR}/status.c
  ${CMAKE_CURRENT_LIST_DIR}/timers.c
  ${CMAKE_CURRENT_LIST_DIR}/transport.c)
