# Run a command and check its exit status and output, for CTest tests that
# need more than PASS_REGULAR_EXPRESSION (which ignores the exit status) or
# WILL_FAIL (which ignores the output):
#
#   cmake [-DRC=<status>] [-DOUT=<regex>] [-DERR=<regex>] [-DNOT_OUT=<regex>]
#         [-DLINES=<regex> -DLINES_HAVE=<regex>] -P expect_run.cmake -- <command> [args...]
#
#   RC          the exit status the command must return (default 0)
#   OUT, ERR    a regex its stdout / stderr must match
#   NOT_OUT     a regex its stdout must not match
#   LINES       every stdout line that matches this regex must also match
#   LINES_HAVE  (e.g. every flag line of --help names its default)
#
# Prints the command's output and what did not hold; fails with FATAL_ERROR.
set(cmd)
set(seen_dashes FALSE)
math(EXPR last "${CMAKE_ARGC} - 1")
foreach(i RANGE 1 ${last})
  if(seen_dashes)
    list(APPEND cmd "${CMAKE_ARGV${i}}")
  elseif(CMAKE_ARGV${i} STREQUAL "--")
    set(seen_dashes TRUE)
  endif()
endforeach()
if(NOT cmd)
  message(FATAL_ERROR "expect_run.cmake: no command after --")
endif()
if(NOT DEFINED RC)
  set(RC 0)
endif()

execute_process(COMMAND ${cmd} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
message("---- stdout\n${out}---- stderr\n${err}---- exit status ${rc}")

set(problems)
if(NOT rc STREQUAL RC)
  list(APPEND problems "exit status ${rc}, expected ${RC}")
endif()
if(DEFINED OUT AND NOT out MATCHES "${OUT}")
  list(APPEND problems "stdout does not match: ${OUT}")
endif()
if(DEFINED ERR AND NOT err MATCHES "${ERR}")
  list(APPEND problems "stderr does not match: ${ERR}")
endif()
if(DEFINED NOT_OUT AND out MATCHES "${NOT_OUT}")
  list(APPEND problems "stdout matches what it must not: ${NOT_OUT}")
endif()
if(DEFINED LINES)
  set(n_lines 0)
  string(REPLACE ";" "," text "${out}")
  string(REPLACE "\n" ";" lines "${text}")
  foreach(line IN LISTS lines)
    if(line MATCHES "${LINES}")
      math(EXPR n_lines "${n_lines} + 1")
      if(NOT line MATCHES "${LINES_HAVE}")
        list(APPEND problems "line '${line}' does not match: ${LINES_HAVE}")
      endif()
    endif()
  endforeach()
  if(n_lines EQUAL 0)
    list(APPEND problems "no stdout line matches: ${LINES}")
  endif()
endif()
if(problems)
  string(REPLACE ";" "\n  " problems "${problems}")
  message(FATAL_ERROR "${cmd}:\n  ${problems}")
endif()
