// Resident chains: the state of a block of chains stays in ONNX Runtime's memory (GPU memory on
// the CUDA provider) and each Metropolis step is one run of the step model (see
// python/seqmaxent/resident.py), bound with IOBinding. Per step only the random draws and betas
// go in and the distances and accept flags come back; base codes come back when a sample is kept.
// The state is the one-hot x, d, and the caches of an incremental step (python/seqmaxent/windows.py):
// every step-model input S with an output S_next. Each is one buffer bound as both: the step
// rewrites it by a ScatterND from itself, which ONNX Runtime does in place.
#pragma once

#include <array>
#include <cstdint>
#include <vector>

#include "plan.hpp"
#include "runtime.hpp"

namespace seqmaxent {

// The sessions a resident block runs: the Metropolis step, codes, copy, init and heat-bath step
// models of the plan (init: a null session when the steps keep no caches; heat: null until a
// heat-bath sampler first needs it).
struct ResidentSessions {
  Ort::Session step, codes, copy, init, heat;
};

class ResidentBlock {
 public:
  // n chains of sequences of `length`; scale s (P) and base weights w (4) as in the sampler.
  ResidentBlock(ResidentSessions& sessions, Provider provider, int n, int length, int phi_dim,
                const std::vector<float>& scale, const std::array<float, kBases>& weights);
  // Start every chain at its codes (n x L) with distances d (n) from Phi of its input (n x P), and
  // fill the caches from the codes.
  void reset(const uint8_t* codes, const float* phi0, const double* d);
  // The next step's draws and betas, one per chain, filled by the caller before step().
  struct Draws {
    std::vector<int64_t> pos, shift;  // the position, and the new base's shift from the old (1..3)
    std::vector<float> logu, beta;
    std::vector<float> u;  // heat-bath: the uniform that picks one of the 4 bases
  };
  Draws& draws() { return draws_; }
  // One step: each chain proposes base (old + shift) % 4 at pos and accepts where
  // logu < -beta (d' - d) + w[new] - w[old]. d (n) is updated; accepted[i] says whether chain i moved.
  void step(double* d, uint8_t* accepted);
  // One heat-bath step: each chain evaluates the 3 other bases at pos and keeps base b with
  // probability proportional to exp(-beta d_b + w[b]), picked by u as the core's sampler does;
  // accepted[i] says whether chain i changed. Needs the heat-bath session.
  void heat_bath(double* d, uint8_t* accepted);
  // The chains' base codes (n x L).
  void codes(uint8_t* out);

 private:
  Ort::Value device(const std::vector<int64_t>& shape);
  void upload(const float* host, const std::vector<int64_t>& shape, Ort::Value& to);
  Ort::Value& state(const std::string& name);
  void bind(Ort::Session& session, Ort::IoBinding& binding);
  void run(Ort::Session& session, Ort::IoBinding& binding, double* d, uint8_t* accepted);

  ResidentSessions& s_;
  int n_, L_, P_;
  Ort::MemoryInfo cpu_, dev_;
  Ort::Allocator allocator_;
  std::vector<int64_t> x_shape_, d_shape_, phi_shape_;
  std::vector<std::string> state_names_;  // x, d, then the caches
  std::vector<Ort::Value> state_;         // one device buffer each
  Ort::Value phi0_{nullptr};
  Draws draws_;
  std::vector<float> scale_, weights_, d_host_;
  std::vector<uint8_t> accepted_, codes_;
  std::vector<std::pair<std::string, Ort::Value>> host_;  // tensors over the host buffers, made once
  Ort::IoBinding binding_, heat_binding_;                  // the steps, state bound in place
};

}  // namespace seqmaxent
