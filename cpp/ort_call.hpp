// One ONNX Runtime session run over caller-owned input and output buffers in host memory.
#pragma once

#include <string>
#include <vector>

#include "runtime.hpp"

namespace seqmaxent {

class OrtCall {
 public:
  OrtCall(Ort::Session& session, float* input, const std::vector<int64_t>& item_shape, int n, float* output,
          int out_dim)
      : session_(session) {
    Ort::AllocatorWithDefaultOptions alloc;
    in_name_ = session.GetInputNameAllocated(0, alloc).get();
    out_name_ = session.GetOutputNameAllocated(0, alloc).get();
    auto mem = Ort::MemoryInfo::CreateCpu(OrtArenaAllocator, OrtMemTypeDefault);
    std::vector<int64_t> in_shape{n};
    in_shape.insert(in_shape.end(), item_shape.begin(), item_shape.end());
    int64_t in_count = n;
    for (auto d : item_shape) in_count *= d;
    int64_t out_shape[2] = {n, out_dim};
    in_ = Ort::Value::CreateTensor<float>(mem, input, size_t(in_count), in_shape.data(), in_shape.size());
    out_ = Ort::Value::CreateTensor<float>(mem, output, size_t(n) * out_dim, out_shape, 2);
  }
  void run() {
    const char* in_names[] = {in_name_.c_str()};
    const char* out_names[] = {out_name_.c_str()};
    session_.Run(run_options_, in_names, &in_, 1, out_names, &out_, 1);
  }

 private:
  Ort::Session& session_;
  Ort::RunOptions run_options_;
  std::string in_name_, out_name_;
  Ort::Value in_{nullptr}, out_{nullptr};
};


}  // namespace seqmaxent
