# Third-party libraries, all from Debian packages (see the Makefile's DEPS).
find_package(OpenMP REQUIRED COMPONENTS C)
find_package(PkgConfig REQUIRED)

# BLIS: pkg-config when the distribution ships blis.pc; Debian 12 does not,
# so fall back to the header and library (the alternatives system points
# them at the OpenMP-threaded build, libblis4-openmp).
pkg_check_modules(BLIS QUIET IMPORTED_TARGET blis)
if(BLIS_FOUND)
  set(CGRAD_BLIS PkgConfig::BLIS)
else()
  find_path(BLIS_INCLUDE_DIR blis.h PATH_SUFFIXES blis-openmp blis)
  find_library(BLIS_LIBRARY NAMES blis PATH_SUFFIXES blis-openmp)
  if(NOT BLIS_INCLUDE_DIR OR NOT BLIS_LIBRARY)
    message(FATAL_ERROR "BLIS not found: apt-get install libblis-dev libblis4-openmp")
  endif()
  add_library(cgrad_blis INTERFACE IMPORTED)
  set_target_properties(cgrad_blis PROPERTIES INTERFACE_INCLUDE_DIRECTORIES ${BLIS_INCLUDE_DIR}
                                              INTERFACE_LINK_LIBRARIES ${BLIS_LIBRARY})
  set(CGRAD_BLIS cgrad_blis)
endif()

set(CGRAD_LINK_DEPS OpenMP::OpenMP_C ${CGRAD_BLIS} m)
