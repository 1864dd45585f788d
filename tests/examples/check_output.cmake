# Run EXE; fail unless it exits 0 and its output matches REGEX.
execute_process(COMMAND ${EXE} RESULT_VARIABLE rc OUTPUT_VARIABLE out
    ERROR_VARIABLE err TIMEOUT 50)
message("${out}${err}")
if(NOT rc EQUAL 0)
    message(FATAL_ERROR "${EXE} exited with ${rc}")
endif()
string(REGEX REPLACE "\n" " " flat "${out}")
if(NOT flat MATCHES "${REGEX}")
    message(FATAL_ERROR "output does not match: ${REGEX}")
endif()
