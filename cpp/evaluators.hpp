// Evaluating Phi for a block of chains, one proposed single-base mutation per chain at a time.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "plan.hpp"
#include "runtime.hpp"

namespace seqmaxent {

struct Mutation {
  int32_t position;
  uint8_t from, to;  // base codes (model channel order)
};

// The state of n chains and how Phi changes under their proposals. Implementations keep
// whatever they need (one-hot batch, layer activations, dense pre-activations) per chain.
class BlockEvaluator {
 public:
  virtual ~BlockEvaluator() = default;
  // Recompute every chain's state exactly from its codes (n x L); returns Phi (n x P).
  virtual const float* reset(const uint8_t* codes) = 0;
  // Phi (n x P) of every chain with its proposal applied.
  virtual const float* propose(const Mutation* proposals) = 0;
  // Keep the accepted proposals and drop the others; called once after every propose.
  virtual void commit(const Mutation* proposals, const uint8_t* accepted) = 0;
};

struct Stack;  // the plan's layers prepared for incremental evaluation

// A network ready to evaluate: the plan plus one single-threaded ORT session per thread.
// On the CUDA provider, one thread feeds large full-network batches to the GPU.
class Engine {
 public:
  Engine(Plan plan, Provider provider, int threads, bool incremental);
  Engine(const Engine&) = delete;  // the prepared layers refer into plan_
  Engine& operator=(const Engine&) = delete;
  const Plan& plan() const { return plan_; }
  int threads() const { return threads_; }
  bool incremental() const { return incremental_; }
  std::string path() const;
  // Chains per block, a multiple of `group` (the replicas of a ladder stay in one block). Blocks
  // evaluated by ONNX Runtime have a fixed size, so that results do not depend on the thread
  // count; the core-only path computes each chain alone.
  int block_size(int64_t total_chains, int group = 1) const;
  // A block of n chains for the calling thread (0 <= thread < threads()).
  std::unique_ptr<BlockEvaluator> make_block(int n, int thread);

 private:
  Plan plan_;
  Provider provider_;
  int threads_;
  bool incremental_;
  std::vector<Ort::Session> sessions_;  // per thread; empty on the core-only path
  std::shared_ptr<const Stack> stack_;  // incremental path
};

}  // namespace seqmaxent
