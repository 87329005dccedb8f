#include "runtime.hpp"

#include <dlfcn.h>

#include <memory>
#include <mutex>
#include <stdexcept>

namespace seqmaxent {

namespace {

struct Runtime {
  std::string path;
  void* handle = nullptr;
  const OrtApiBase* base = nullptr;
  std::unique_ptr<Ort::Env> env;
};

Runtime& runtime() {
  static Runtime r;
  return r;
}

std::mutex& runtime_mutex() {
  static std::mutex m;
  return m;
}

Runtime& loaded() {
  Runtime& r = runtime();
  if (!r.env) throw std::runtime_error("ONNX Runtime is not loaded (call load_runtime first)");
  return r;
}

}  // namespace

Provider provider_from_name(const std::string& name) {
  if (name == "cpu") return Provider::cpu;
  if (name == "cuda") return Provider::cuda;
  throw std::invalid_argument("unknown execution provider '" + name + "' (cpu or cuda)");
}

void load_runtime(const std::string& library_path) {
  std::lock_guard<std::mutex> lock(runtime_mutex());
  Runtime& r = runtime();
  if (r.env) {
    if (r.path != library_path)
      throw std::runtime_error("ONNX Runtime already loaded from " + r.path + ", not " + library_path);
    return;
  }
  void* handle = dlopen(library_path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!handle) throw std::runtime_error("cannot load ONNX Runtime from " + library_path + ": " + dlerror());
  using GetApiBase = const OrtApiBase* (*)();
  auto get_base = reinterpret_cast<GetApiBase>(dlsym(handle, "OrtGetApiBase"));
  if (!get_base) {
    dlclose(handle);
    throw std::runtime_error(library_path + " has no OrtGetApiBase: not an ONNX Runtime library");
  }
  const OrtApiBase* base = get_base();
  const OrtApi* api = base->GetApi(ORT_API_VERSION);
  if (!api) {
    std::string version = base->GetVersionString();
    dlclose(handle);
    throw std::runtime_error("onnxruntime " + version + " is too old: seqmaxent needs onnxruntime >= 1." +
                             std::to_string(ORT_API_VERSION) + " (pip install -U onnxruntime)");
  }
  Ort::InitApi(api);
  r.path = library_path;
  r.handle = handle;  // never closed: sessions may outlive any one caller
  r.base = base;
  r.env = std::make_unique<Ort::Env>(ORT_LOGGING_LEVEL_ERROR, "seqmaxent");
}

bool runtime_loaded() { return runtime().env != nullptr; }

std::string runtime_version() { return loaded().base->GetVersionString(); }

std::vector<std::string> available_providers() {
  loaded();
  return Ort::GetAvailableProviders();
}

int64_t gpu_free_bytes() {
  using MemGetInfo = int (*)(size_t*, size_t*);
  for (const char* name : {"libcudart.so.13", "libcudart.so.12", "libcudart.so.11.0", "libcudart.so"}) {
    void* handle = dlopen(name, RTLD_NOW | RTLD_LOCAL | RTLD_NOLOAD);  // the one ONNX Runtime's CUDA provider loaded
    if (!handle) handle = dlopen(name, RTLD_NOW | RTLD_LOCAL);
    if (!handle) continue;
    auto info = reinterpret_cast<MemGetInfo>(dlsym(handle, "cudaMemGetInfo"));
    size_t free = 0, total = 0;
    if (info && info(&free, &total) == 0) return int64_t(free);
  }
  return 0;
}

Ort::Session make_session(const std::string& model_bytes, Provider provider, int device_id) {
  Runtime& r = loaded();
  Ort::SessionOptions options;
  options.SetIntraOpNumThreads(1);
  options.SetInterOpNumThreads(1);
  options.SetExecutionMode(ORT_SEQUENTIAL);
  options.SetGraphOptimizationLevel(GraphOptimizationLevel::ORT_ENABLE_ALL);
  options.AddConfigEntry("session.intra_op.allow_spinning", "0");
  if (provider == Provider::cuda) {
    auto providers = Ort::GetAvailableProviders();
    bool has_cuda = false;
    for (auto& p : providers) has_cuda |= (p == "CUDAExecutionProvider");
    if (!has_cuda)
      throw std::runtime_error(
          "provider='cuda' needs the CUDA build of ONNX Runtime: pip uninstall onnxruntime && pip install "
          "onnxruntime-gpu");
    OrtCUDAProviderOptionsV2* cuda = nullptr;
    Ort::ThrowOnError(Ort::GetApi().CreateCUDAProviderOptions(&cuda));
    std::unique_ptr<OrtCUDAProviderOptionsV2, void (*)(OrtCUDAProviderOptionsV2*)> guard(
        cuda, Ort::GetApi().ReleaseCUDAProviderOptions);
    std::string id = std::to_string(device_id);
    const char* keys[] = {"device_id"};
    const char* values[] = {id.c_str()};
    Ort::ThrowOnError(Ort::GetApi().UpdateCUDAProviderOptions(cuda, keys, values, 1));
    options.AppendExecutionProvider_CUDA_V2(*cuda);
  }
  return Ort::Session(*r.env, model_bytes.data(), model_bytes.size(), options);
}

}  // namespace seqmaxent
