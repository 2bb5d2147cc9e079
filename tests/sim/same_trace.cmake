# Runs txsim twice in two processes with the same arguments and fails unless both print the same
# summary (which carries the hash of every seed's event trace). Usage:
#   cmake -DTXSIM=path -DARGS="--protocol;mixed;--seeds;30" -P same_trace.cmake
foreach(run 1 2)
  execute_process(COMMAND ${TXSIM} ${ARGS} OUTPUT_VARIABLE out${run} RESULT_VARIABLE rc${run})
  string(REGEX MATCH "summary:[^\n]*" summary${run} "${out${run}}")
  string(REGEX REPLACE " wall_s=[^ ]*" "" summary${run} "${summary${run}}")
  if(NOT rc${run} EQUAL 0 OR summary${run} STREQUAL "")
    message(FATAL_ERROR "txsim run ${run} failed (${rc${run}}):\n${out${run}}")
  endif()
endforeach()
if(NOT summary1 STREQUAL summary2)
  message(FATAL_ERROR "two runs of the same seeds differ:\n  ${summary1}\n  ${summary2}")
endif()
message(STATUS "same trace in two processes: ${summary1}")
