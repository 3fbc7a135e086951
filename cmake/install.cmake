# Install rules: the two libraries, the public headers, weft.pc and a CMake
# package (find_package(weft) -> weft::weft, weft::weft_static). Debian's
# libuv ships only pkg-config files, so the package finds it through
# PkgConfig, as weft.pc's "Requires: libuv" does.
include(CMakePackageConfigHelpers)

install(TARGETS weft weft_static EXPORT weftTargets
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
  RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR}
  INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(DIRECTORY include/weft DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}
  FILES_MATCHING PATTERN "*.h")
install(EXPORT weftTargets NAMESPACE weft::
  DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/weft)

configure_package_config_file(cmake/weftConfig.cmake.in
  ${PROJECT_BINARY_DIR}/weftConfig.cmake
  INSTALL_DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/weft)
write_basic_package_version_file(${PROJECT_BINARY_DIR}/weftConfigVersion.cmake
  COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/weftConfig.cmake
  ${PROJECT_BINARY_DIR}/weftConfigVersion.cmake
  DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/weft)

# weft.pc finds its prefix relative to itself, so an installed tree can be
# moved (and installed with --prefix) without rewriting it.
file(RELATIVE_PATH WEFT_PC_TO_PREFIX "${CMAKE_INSTALL_FULL_LIBDIR}/pkgconfig"
  "${CMAKE_INSTALL_PREFIX}")
string(REGEX REPLACE "/$" "" WEFT_PC_TO_PREFIX "${WEFT_PC_TO_PREFIX}")
configure_file(cmake/weft.pc.in ${PROJECT_BINARY_DIR}/weft.pc @ONLY)
install(FILES ${PROJECT_BINARY_DIR}/weft.pc
  DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)

# The libraries contain llhttp (MIT): its notice goes with them.
set(WEFT_LLHTTP_NOTICE /usr/share/doc/node-llhttp/copyright CACHE FILEPATH
    "llhttp's copyright and licence (Debian node-llhttp)")
if(EXISTS ${WEFT_LLHTTP_NOTICE})
  install(FILES ${WEFT_LLHTTP_NOTICE} DESTINATION ${CMAKE_INSTALL_DOCDIR}
          RENAME LICENSE.llhttp)
endif()
