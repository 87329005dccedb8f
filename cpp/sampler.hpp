// Sampling P(x) ~ exp(-beta d(x) + mu N_C(x)), d(x) = || s * (Phi(x) - Phi(x0)) ||_2, for many
// inputs and chains at once: single-site Metropolis or heat-bath updates, optionally with replica
// exchange (parallel tempering) over a ladder of betas.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <vector>

#include "engine.hpp"

namespace seqmaxent {

enum class Moves { metropolis, heat_bath };

struct SamplerConfig {
  // Each input's ladder: `rungs` betas per input, ascending (inputs x rungs); one rung is plain
  // single-beta sampling.
  std::vector<double> betas;
  int rungs = 1;
  std::vector<int> keep;  // rungs whose samples are kept (ascending)
  int swap_every = 10;    // steps between neighbour-swap attempts along a ladder (0: rungs stay apart)
  Moves moves = Moves::metropolis;
  double mu = 0.0;
  std::array<uint8_t, kBases> constrained{};  // 1 for bases counted by N_C
  std::vector<float> scale;                   // s: weight of each Phi unit in d (phi_dim)
  int chains = 8;      // independent chains (ladders) per input
  int steps = 10000;   // steps after burn-in; a sample is kept every `period` of them
  int period = 100;
  int burn_in = 0;
  uint64_t seed = 0;
  uint64_t round = 0;  // continuation number: streams are keyed by (seed, round, input id, replica)
  int refresh = 1000;  // steps between exact recomputations of each chain's state (0: never)
  std::vector<uint8_t> region;  // (length) 1 where chains may change the base; empty: every position
  void validate(int phi_dim) const;
  int replicas() const { return chains * rungs; }  // per input
  double beta(int64_t input, int rung) const { return betas[size_t(input) * rungs + rung]; }
  int kept() const { return steps / period; }
};

// The state of every replica, to start from and to continue later.
struct ChainState {
  uint8_t* codes = nullptr;  // (inputs, chains, rungs, L) base codes; nullptr: start at x0, write nothing
  int32_t* rung = nullptr;   // (inputs, chains, rungs) the rung each replica is at; nullptr: replica r at rung r
};

// Caller-owned output buffers.
struct SampleOutputs {
  uint8_t* samples;        // (inputs, keep, chains, kept, L) base codes at each kept rung
  float* distances;        // (inputs, keep, chains, kept) d of each kept sample
  int64_t* accepted;       // (inputs, chains, rungs) accepted site updates made at each rung (a heat-bath
                           // update is accepted when the base changes)
  int64_t* swaps;          // (inputs, chains, rungs - 1) accepted swaps of rungs r and r + 1
  int64_t* evaluations;    // (inputs) network evaluations (one per replica per evaluator call)
  float* phi0;             // (inputs, P) Phi of each input
};

class Sampler {
 public:
  explicit Sampler(Engine& engine) : engine_(engine) {}
  Engine& engine() const { return engine_; }
  // Sample every input (x0: inputs x L codes; code 4 = N, kept fixed). ids: each input's index in
  // the whole set, which keys its random streams. Thread-safe to call progress/cancel meanwhile.
  void run(const uint8_t* x0, const int64_t* ids, int64_t inputs, const SamplerConfig& config, ChainState state,
           const SampleOutputs& out);
  // Phi of n sequences (n x L codes) into phi (n x P), as the chains see it.
  void run_phi(const uint8_t* codes, int64_t n, float* phi);
  int64_t done() const { return done_.load(std::memory_order_relaxed); }
  int64_t total() const { return total_.load(std::memory_order_relaxed); }
  // Stop at the next step; run() then throws Cancelled, now and in every later call (a cancel that
  // comes before run() starts is not lost).
  void cancel() { stop_.store(true); }

 private:
  struct Block;
  Engine& engine_;
  std::atomic<int64_t> done_{0}, total_{0};
  std::atomic<bool> stop_{false};
  std::vector<std::vector<int>> mutable_;  // per input: positions in the region that are not N
};

struct Cancelled : std::exception {
  const char* what() const noexcept override { return "sampling cancelled"; }
};

}  // namespace seqmaxent
