// Metropolis sampling of P(x) ~ exp(-beta d(x) + mu N_C(x)), d(x) = || s * (Phi(x) - Phi(x0)) ||_2,
// for many inputs and chains at once.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <vector>

#include "evaluators.hpp"

namespace seqmaxent {

struct SamplerConfig {
  double beta = 0.0;
  double mu = 0.0;
  std::array<uint8_t, kBases> constrained{};  // 1 for bases counted by N_C
  std::vector<float> scale;                   // s: weight of each Phi unit in d (phi_dim)
  int chains = 50;
  int steps = 10000;   // steps after burn-in; a sample is kept every `period` of them
  int period = 100;
  int burn_in = 0;
  uint64_t seed = 0;
  int64_t first_input = 0;  // index of input 0 in a larger set: chain streams are keyed by (seed, input, chain)
  int refresh = 1000;  // steps between exact recomputations of each chain's state (0: never)
  void validate(int phi_dim) const;
  int kept() const { return steps / period; }
};

// Caller-owned output buffers.
struct SampleOutputs {
  uint8_t* samples;    // (inputs, chains, kept, L) base codes
  float* distances;    // (inputs, chains, kept) d at each kept sample
  int64_t* accepted;   // (inputs, chains) accepted proposals over burn-in and sampling
  float* phi0;         // (inputs, P) Phi of each input
};

class Sampler {
 public:
  explicit Sampler(Engine& engine) : engine_(engine) {}
  Engine& engine() const { return engine_; }
  // Sample every input (x0: inputs x L codes; code 4 = N, kept fixed). Thread-safe to call progress/cancel meanwhile.
  void run(const uint8_t* x0, int64_t inputs, const SamplerConfig& config, const SampleOutputs& out);
  // Phi of n sequences (n x L codes) into phi (n x P), as the chains see it.
  void run_phi(const uint8_t* codes, int64_t n, float* phi);
  int64_t done() const { return done_.load(std::memory_order_relaxed); }
  int64_t total() const { return total_.load(std::memory_order_relaxed); }
  // Stop at the next step; run() then throws Cancelled.
  void cancel() { stop_.store(true); }

 private:
  void run_block(int64_t first_chain, int n, int thread, const uint8_t* x0, const SamplerConfig& config,
                 const SampleOutputs& out);

  Engine& engine_;
  std::atomic<int64_t> done_{0}, total_{0};
  std::atomic<bool> stop_{false};
  std::vector<std::vector<int>> mutable_;  // per input: positions that are not N
};

struct Cancelled : std::exception {
  const char* what() const noexcept override { return "sampling cancelled"; }
};

}  // namespace seqmaxent
