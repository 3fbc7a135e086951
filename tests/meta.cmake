# Build checks that are tests too.

# Every public header compiles on its own, as C and as C++ (a header that
# forgets an include, or is not extern "C"-clean, fails here).
file(GLOB WEFT_PUBLIC_HEADERS RELATIVE ${PROJECT_SOURCE_DIR}/include/weft
  ${PROJECT_SOURCE_DIR}/include/weft/*.h)
set(header_sources "")
foreach(h ${WEFT_PUBLIC_HEADERS})
  string(REPLACE ".h" "" base ${h})
  foreach(lang c cpp)
    set(src ${CMAKE_CURRENT_BINARY_DIR}/headers/${base}-alone.${lang})
    file(WRITE ${src}.in "#include <weft/${h}>\n#include <weft/${h}>\nint weft_header_${base}_${lang}(void);\nint weft_header_${base}_${lang}(void) { return 0; }\n")
    configure_file(${src}.in ${src} COPYONLY)
    list(APPEND header_sources ${src})
  endforeach()
endforeach()
add_library(header_check OBJECT EXCLUDE_FROM_ALL ${header_sources})
target_include_directories(header_check PRIVATE ${PROJECT_SOURCE_DIR}/include)
target_link_libraries(header_check PRIVATE PkgConfig::LIBUV)
target_compile_definitions(header_check PRIVATE _POSIX_C_SOURCE=200809L)
target_compile_options(header_check PRIVATE -Wall -Wextra -Werror
  $<$<COMPILE_LANGUAGE:C>:-std=c11 -Wstrict-prototypes>
  $<$<COMPILE_LANGUAGE:CXX>:-std=c++11>)
add_test(NAME headers_compile_alone
  COMMAND ${CMAKE_COMMAND} --build ${PROJECT_BINARY_DIR} --target header_check)
set_tests_properties(headers_compile_alone PROPERTIES LABELS meta TIMEOUT 300)

# libweft.so exports weft_ symbols only.
add_test(NAME exports_only_weft
  COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/tools/check-exports.sh $<TARGET_FILE:weft>)
set_tests_properties(exports_only_weft PROPERTIES LABELS meta)

# The weft command exports the whole weft_ API, for its plugins.
add_test(NAME weft_binary_exports_api
  COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/tools/check-binary-exports.sh
    $<TARGET_FILE:weft-cli> $<TARGET_FILE:weft>)
set_tests_properties(weft_binary_exports_api PROPERTIES LABELS meta)

# An installed weft is found by find_package(weft) and by pkg-config.
if(NOT WEFT_SANITIZE)
  add_test(NAME install_and_consume
    COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/tools/check-install.sh
      ${PROJECT_BINARY_DIR} ${CMAKE_CURRENT_BINARY_DIR}/install-check
      ${CMAKE_CURRENT_SOURCE_DIR}/tools/consumer)
  set_tests_properties(install_and_consume PROPERTIES LABELS meta TIMEOUT 300
    RUN_SERIAL TRUE)

  # Every C file follows .clang-format (checked once, in the plain build).
  add_test(NAME clang_format
    COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/tools/check-format.sh ${PROJECT_SOURCE_DIR})
  set_tests_properties(clang_format PROPERTIES LABELS meta)
endif()
