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

# cJSON (safetensors headers), utf8proc (tokenizer), libarchive (aclImdb
# .tar.gz), libcsv (CSV/TSV; Debian ships no .pc for it).
pkg_check_modules(CJSON REQUIRED IMPORTED_TARGET libcjson)
pkg_check_modules(UTF8PROC REQUIRED IMPORTED_TARGET libutf8proc)
pkg_check_modules(LIBARCHIVE REQUIRED IMPORTED_TARGET libarchive)
# HDF5 (Keras .h5 and model.weights.h5): Debian's serial build, whose hdf5.pc
# points into /usr/lib/<arch>/hdf5/serial.
pkg_check_modules(HDF5 REQUIRED IMPORTED_TARGET hdf5)
find_path(CSV_INCLUDE_DIR csv.h)
find_library(CSV_LIBRARY csv)
if(NOT CSV_INCLUDE_DIR OR NOT CSV_LIBRARY)
  message(FATAL_ERROR "libcsv not found: apt-get install libcsv-dev")
endif()
add_library(cgrad_csv INTERFACE IMPORTED)
set_target_properties(cgrad_csv PROPERTIES INTERFACE_INCLUDE_DIRECTORIES ${CSV_INCLUDE_DIR}
                                           INTERFACE_LINK_LIBRARIES ${CSV_LIBRARY})

set(CGRAD_LINK_DEPS OpenMP::OpenMP_C ${CGRAD_BLIS} PkgConfig::CJSON PkgConfig::UTF8PROC
                    PkgConfig::LIBARCHIVE PkgConfig::HDF5 cgrad_csv m)
list(JOIN HDF5_LDFLAGS " " CGRAD_HDF5_LIBS)
set(CGRAD_PC_EXTRA_LIBS "-lcjson -lutf8proc -larchive ${CGRAD_HDF5_LIBS} -lcsv")

# libxsmm (Debian's libxsmm-dev, static archives) for the small products
# BLIS is slow to set up (tensor/ops_matmul.c): AUTO uses it when found, ON
# requires it, OFF builds without. The shared library carries it inside.
set(CGRAD_XSMM AUTO CACHE STRING "Small GEMMs through libxsmm: AUTO, ON or OFF")
set_property(CACHE CGRAD_XSMM PROPERTY STRINGS AUTO ON OFF)
set(CGRAD_HAVE_XSMM OFF)
set(CGRAD_XSMM_LIBS)
if(NOT CGRAD_XSMM STREQUAL "OFF")
  find_path(XSMM_INCLUDE_DIR libxsmm.h)
  find_library(XSMM_LIBRARY NAMES libxsmm.a)
  find_library(XSMM_NOBLAS_LIBRARY NAMES libxsmmnoblas.a)
  if(XSMM_INCLUDE_DIR AND XSMM_LIBRARY AND XSMM_NOBLAS_LIBRARY)
    set(CGRAD_HAVE_XSMM ON)
    set(CGRAD_XSMM_LIBS ${XSMM_LIBRARY} ${XSMM_NOBLAS_LIBRARY} dl rt)
    set(CGRAD_PC_EXTRA_LIBS "${CGRAD_PC_EXTRA_LIBS} -lxsmm -lxsmmnoblas -ldl -lrt")
  elseif(CGRAD_XSMM STREQUAL "ON")
    message(FATAL_ERROR "libxsmm not found: apt-get install libxsmm-dev (or -DCGRAD_XSMM=OFF)")
  endif()
endif()

# MPI (Open MPI from Debian: libopenmpi-dev, openmpi-bin) for dist/:
# AUTO uses it when found, ON requires it, OFF builds without (the
# distributed calls then fail with "built without MPI").
set(CGRAD_MPI AUTO CACHE STRING "Distributed training over MPI: AUTO, ON or OFF")
set_property(CACHE CGRAD_MPI PROPERTY STRINGS AUTO ON OFF)
set(CGRAD_HAVE_MPI OFF)
if(NOT CGRAD_MPI STREQUAL "OFF")
  if(CGRAD_MPI STREQUAL "ON")
    find_package(MPI REQUIRED COMPONENTS C)
  else()
    find_package(MPI QUIET COMPONENTS C)
  endif()
  if(MPI_C_FOUND)
    set(CGRAD_HAVE_MPI ON)
    list(APPEND CGRAD_LINK_DEPS MPI::MPI_C)
    foreach(lib IN LISTS MPI_C_LIBRARIES)
      set(CGRAD_PC_EXTRA_LIBS "${CGRAD_PC_EXTRA_LIBS} ${lib}")
    endforeach()
  else()
    message(STATUS "MPI not found: building without distributed training (apt-get install libopenmpi-dev openmpi-bin)")
  endif()
endif()
