# Locate the ONNX Runtime C/C++ API headers. Only headers are needed: the runtime library itself
# is dlopen'ed at run time from the installed onnxruntime package. In order:
#   1. -DORT_INCLUDE_DIR=... or the ORT_INCLUDE_DIR environment variable;
#   2. the system: /usr/include/onnxruntime, /usr/local/include/onnxruntime, $CONDA_PREFIX/include/onnxruntime;
#   3. Debian's libonnxruntime-dev package (API 21), downloaded with CMake itself (no apt, no dpkg:
#      `cmake -E tar` unpacks the .deb) and checked against a pinned SHA-256, into the build folder.
#      SEQMAXENT_ORT_HEADERS_URL points it at a copy of that file elsewhere (a mirror, a local file).
set(ORT_INCLUDE_DIR "$ENV{ORT_INCLUDE_DIR}" CACHE PATH "Folder holding onnxruntime_cxx_api.h")
set(_ort_deb "libonnxruntime-dev_1.21.0+dfsg-1_amd64.deb")
set(_ort_sha256 "14f7d959d5deacbcf1504830d4189f91fc67382b399ed9ae9d3aa9c4050ced08")
set(_ort_url "$ENV{SEQMAXENT_ORT_HEADERS_URL}")
if(NOT _ort_url)
  set(_ort_url "https://deb.debian.org/debian/pool/main/o/onnxruntime/${_ort_deb}")
endif()
set(_ort_hint "set ORT_INCLUDE_DIR to a folder with onnxruntime_cxx_api.h (ONNX Runtime 1.21 or newer, e.g. \
the include/ folder of onnxruntime-linux-x64-1.21.0.tgz from https://github.com/microsoft/onnxruntime/releases), \
or SEQMAXENT_ORT_HEADERS_URL to a copy of ${_ort_deb} (SHA-256 ${_ort_sha256})")

if(ORT_INCLUDE_DIR AND NOT EXISTS "${ORT_INCLUDE_DIR}/onnxruntime_cxx_api.h")
  message(FATAL_ERROR "ORT_INCLUDE_DIR=${ORT_INCLUDE_DIR} holds no onnxruntime_cxx_api.h; ${_ort_hint}")
endif()
if(NOT ORT_INCLUDE_DIR)
  foreach(_dir /usr/include/onnxruntime /usr/local/include/onnxruntime "$ENV{CONDA_PREFIX}/include/onnxruntime")
    if(EXISTS "${_dir}/onnxruntime_cxx_api.h")
      set(ORT_INCLUDE_DIR "${_dir}" CACHE PATH "" FORCE)
      break()
    endif()
  endforeach()
endif()
if(NOT ORT_INCLUDE_DIR)
  set(_ort_dest "${CMAKE_BINARY_DIR}/ort-headers")
  if(NOT EXISTS "${_ort_dest}/usr/include/onnxruntime/onnxruntime_cxx_api.h")
    message(STATUS "Downloading the ONNX Runtime API headers: ${_ort_url}")
    file(DOWNLOAD "${_ort_url}" "${_ort_dest}/${_ort_deb}" STATUS _ort_status TLS_VERIFY ON)
    list(GET _ort_status 0 _ort_code)
    if(NOT _ort_code EQUAL 0)
      list(GET _ort_status 1 _ort_message)
      file(REMOVE "${_ort_dest}/${_ort_deb}")
      message(FATAL_ERROR "Could not download the ONNX Runtime API headers from ${_ort_url} (${_ort_message}; "
                          "offline?); ${_ort_hint}")
    endif()
    file(SHA256 "${_ort_dest}/${_ort_deb}" _ort_got)
    if(NOT _ort_got STREQUAL _ort_sha256)
      file(REMOVE "${_ort_dest}/${_ort_deb}")
      message(FATAL_ERROR "${_ort_url} is not the expected file (SHA-256 ${_ort_got}, expected ${_ort_sha256}); "
                          "${_ort_hint}")
    endif()
    execute_process(COMMAND ${CMAKE_COMMAND} -E tar xf "${_ort_deb}" WORKING_DIRECTORY "${_ort_dest}"
                    RESULT_VARIABLE _ort_rc)
    file(GLOB _ort_data "${_ort_dest}/data.tar.*")
    if(_ort_rc EQUAL 0 AND _ort_data)
      execute_process(COMMAND ${CMAKE_COMMAND} -E tar xf "${_ort_data}" WORKING_DIRECTORY "${_ort_dest}"
                      RESULT_VARIABLE _ort_rc)
    endif()
    if(NOT _ort_rc EQUAL 0 OR NOT EXISTS "${_ort_dest}/usr/include/onnxruntime/onnxruntime_cxx_api.h")
      message(FATAL_ERROR "Could not unpack ${_ort_dest}/${_ort_deb}; ${_ort_hint}")
    endif()
  endif()
  set(ORT_INCLUDE_DIR "${_ort_dest}/usr/include/onnxruntime" CACHE PATH "" FORCE)
endif()
message(STATUS "ONNX Runtime headers: ${ORT_INCLUDE_DIR}")
