# cmake --install: headers as <cgrad/*.h>, libcgrad (shared and static), a
# CMake package (find_package(cgrad) -> cgrad::cgrad) and cgrad.pc.
include(CMakePackageConfigHelpers)

get_property(CGRAD_PUBLIC_HEADERS GLOBAL PROPERTY CGRAD_PUBLIC_HEADERS)
install(FILES ${CGRAD_PUBLIC_HEADERS} DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/cgrad)
install(TARGETS cgrad EXPORT cgradTargets
        LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
        RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(TARGETS cgrad_static ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR})

# The shared library carries its dependencies; consumers link it alone.
set_target_properties(cgrad PROPERTIES INTERFACE_LINK_LIBRARIES "")
install(EXPORT cgradTargets NAMESPACE cgrad:: DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/cgrad)
configure_package_config_file(${CMAKE_CURRENT_LIST_DIR}/cgradConfig.cmake.in
  ${CMAKE_BINARY_DIR}/cgradConfig.cmake INSTALL_DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/cgrad)
write_basic_package_version_file(${CMAKE_BINARY_DIR}/cgradConfigVersion.cmake
  VERSION ${PROJECT_VERSION} COMPATIBILITY SameMajorVersion)
install(FILES ${CMAKE_BINARY_DIR}/cgradConfig.cmake ${CMAKE_BINARY_DIR}/cgradConfigVersion.cmake
        DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/cgrad)

set(CGRAD_PC_LIBS_PRIVATE "-lblis -lgomp ${CGRAD_PC_EXTRA_LIBS} -lm")
# prefix relative to the .pc file, so `cmake --install --prefix X` works too;
# Libs carries an rpath to libdir, so a program linked with
# `cc app.c $(pkg-config --cflags --libs cgrad)` finds libcgrad.so at run
# time wherever cgrad was installed (no LD_LIBRARY_PATH, no ldconfig)
file(RELATIVE_PATH CGRAD_PC_RELATIVE_PREFIX ${CMAKE_INSTALL_FULL_LIBDIR}/pkgconfig ${CMAKE_INSTALL_PREFIX})
string(REGEX REPLACE "/$" "" CGRAD_PC_RELATIVE_PREFIX "${CGRAD_PC_RELATIVE_PREFIX}")
configure_file(${CMAKE_CURRENT_LIST_DIR}/cgrad.pc.in ${CMAKE_BINARY_DIR}/cgrad.pc @ONLY)
install(FILES ${CMAKE_BINARY_DIR}/cgrad.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
