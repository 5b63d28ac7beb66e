# Runs one libFuzzer harness for a fixed time on a fresh copy of its committed
# seed corpus (the committed corpus is never written), with its dictionary.
# Fails when the fuzzer exits non-zero or any sanitizer/property report
# appears in its output. Invoked by CTest from fuzz/CMakeLists.txt:
#   cmake -DFUZZER=... -DCORPUS=... -DDICT=... -DWORK=... -DSECONDS=... -P run_fuzzer.cmake
foreach(var FUZZER CORPUS WORK SECONDS)
  if(NOT DEFINED ${var} OR "${${var}}" STREQUAL "")
    message(FATAL_ERROR "run_fuzzer.cmake: ${var} is not set")
  endif()
endforeach()
if(NOT IS_DIRECTORY "${CORPUS}")
  message(FATAL_ERROR "seed corpus ${CORPUS} is missing")
endif()

file(REMOVE_RECURSE "${WORK}")
file(MAKE_DIRECTORY "${WORK}/corpus" "${WORK}/artifacts")
file(GLOB seeds "${CORPUS}/*")
if(seeds STREQUAL "")
  message(FATAL_ERROR "seed corpus ${CORPUS} is empty")
endif()
file(COPY ${seeds} DESTINATION "${WORK}/corpus")

set(args
  -max_total_time=${SECONDS}
  -rss_limit_mb=2048
  -timeout=10
  -print_final_stats=1
  -artifact_prefix=${WORK}/artifacts/)
if(DEFINED DICT AND EXISTS "${DICT}" AND NOT IS_DIRECTORY "${DICT}")
  list(APPEND args -dict=${DICT})
endif()

execute_process(
  COMMAND "${FUZZER}" ${args} "${WORK}/corpus"
  WORKING_DIRECTORY "${WORK}"
  RESULT_VARIABLE rc
  OUTPUT_VARIABLE out
  ERROR_VARIABLE out)
file(WRITE "${WORK}/fuzz.log" "${out}")

set(bad "")
if(NOT rc EQUAL 0)
  set(bad "fuzzer exited with ${rc}")
elseif(out MATCHES "(ERROR: [A-Za-z]+Sanitizer|runtime error:|property violated|deadly signal)")
  set(bad "sanitizer or property report in the output: ${CMAKE_MATCH_1}")
elseif(NOT out MATCHES "Done [0-9]+ runs")
  set(bad "the fuzzer did not finish its run")
endif()

if(bad)
  file(GLOB artifacts "${WORK}/artifacts/*")
  message("${out}")
  message(FATAL_ERROR "${bad}\nlog: ${WORK}/fuzz.log\nartifacts: ${artifacts}")
endif()

# On success show the summary only (the full log stays in WORK).
string(REGEX MATCHALL "[^\n]*(INITED|DONE|Done [0-9]+ runs|stat::[a-z_]+:)[^\n]*" summary "${out}")
list(JOIN summary "\n" summary)
message("${summary}")
