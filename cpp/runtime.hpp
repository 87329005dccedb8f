// ONNX Runtime, loaded at run time with dlopen from the installed onnxruntime package, so the
// extension never links against one runtime version.
#pragma once

#define ORT_API_MANUAL_INIT
#include <onnxruntime_cxx_api.h>
#undef ORT_API_MANUAL_INIT

#include <string>
#include <vector>

namespace seqmaxent {

enum class Provider { cpu, cuda };
Provider provider_from_name(const std::string& name);

// Load the runtime library at `library_path` and initialise the C++ API. Safe to call again
// with the same path; a different path after the first load is an error.
void load_runtime(const std::string& library_path);
bool runtime_loaded();
std::string runtime_version();
std::vector<std::string> available_providers();

// Free memory of CUDA device 0 in bytes, from the CUDA runtime library that onnxruntime-gpu
// loads (libcudart, opened with dlopen); 0 when it cannot be asked.
int64_t gpu_free_bytes();

// A single-threaded inference session (the core parallelises over chains, not inside ORT).
Ort::Session make_session(const std::string& model_bytes, Provider provider, int device_id = 0);

}  // namespace seqmaxent
