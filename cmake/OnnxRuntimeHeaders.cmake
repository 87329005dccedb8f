# Locate the ONNX Runtime C/C++ API headers. Only headers are needed: the runtime
# library itself is dlopen'ed at run time from the installed onnxruntime package.
# Order: -DORT_INCLUDE_DIR / $ORT_INCLUDE_DIR, /usr/include/onnxruntime, then a
# build-local copy fetched from Debian's libonnxruntime-dev by scripts/fetch-ort-headers.sh.
set(ORT_INCLUDE_DIR "$ENV{ORT_INCLUDE_DIR}" CACHE PATH "Folder holding onnxruntime_cxx_api.h")
if(NOT ORT_INCLUDE_DIR OR NOT EXISTS "${ORT_INCLUDE_DIR}/onnxruntime_cxx_api.h")
  if(EXISTS "/usr/include/onnxruntime/onnxruntime_cxx_api.h")
    set(ORT_INCLUDE_DIR "/usr/include/onnxruntime" CACHE PATH "" FORCE)
  else()
    set(_ort_dest "${CMAKE_BINARY_DIR}/ort-headers")
    execute_process(
      COMMAND bash "${CMAKE_CURRENT_SOURCE_DIR}/scripts/fetch-ort-headers.sh" "${_ort_dest}"
      RESULT_VARIABLE _ort_rc)
    if(NOT _ort_rc EQUAL 0)
      message(FATAL_ERROR "Could not fetch the ONNX Runtime headers; set ORT_INCLUDE_DIR")
    endif()
    set(ORT_INCLUDE_DIR "${_ort_dest}/include/onnxruntime" CACHE PATH "" FORCE)
  endif()
endif()
message(STATUS "ONNX Runtime headers: ${ORT_INCLUDE_DIR}")
