// The network ready to evaluate (Engine) and the evaluators of a block of chains: full (full_block.hpp),
// incremental (graph_block.hpp) and resident (resident.hpp).
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "plan.hpp"
#include "resident.hpp"
#include "runtime.hpp"

namespace seqmaxent {

struct Mutation {
  int32_t position;
  uint8_t from, to;  // base codes (model channel order)
};

// The state of n chains and how Phi changes under their proposals. Implementations keep
// whatever they need (one-hot batch, every node's rows) per chain.
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

struct Graph;  // the plan's nodes prepared for incremental evaluation

// How one node of the plan is evaluated.
struct NodeReport {
  std::string label, kind, how;  // how: "updated from changed inputs", "recomputed where changed", ...
  int rows_kept = 0, length = 0;  // rows the core keeps (what Phi needs) of the node's output rows
  int window = 0;                 // most rows a single-base change moves
};

// Multiply-adds x 2 (plus one per add, compare or elementwise op) of one proposal.
struct Flops {
  double incremental = 0.0;  // a single-base change through the core's nodes, averaged over positions
  double full = 0.0;         // a full pass through the same nodes (every row)
};

// A network ready to evaluate: the plan plus one single-threaded ORT session per thread.
// On the CUDA provider, one thread feeds large batches to the GPU. With `resident`, the chains'
// state stays in ONNX Runtime's memory and each step is one run of the plan's step model.
class Engine {
 public:
  Engine(Plan plan, Provider provider, int threads, bool incremental, bool resident = false);
  ~Engine();
  Engine(const Engine&) = delete;  // the prepared graph refers into plan_
  Engine& operator=(const Engine&) = delete;
  const Plan& plan() const { return plan_; }
  int threads() const { return threads_; }
  bool incremental() const { return incremental_; }
  bool resident() const { return resident_; }
  std::string path() const;
  std::vector<NodeReport> nodes() const;
  Flops flops(const std::vector<int>& proposed = {}) const;
  // Bytes of state the core keeps per chain (0 on the full path).
  int64_t chain_bytes() const;
  // Chains per block, a multiple of `group` (the replicas of a ladder stay in one block). Blocks
  // evaluated by ONNX Runtime have a fixed size, so that results do not depend on the thread
  // count; the core-only path computes each chain alone, in blocks that fit in memory.
  int block_size(int64_t total_chains, int group = 1) const;
  // A block of n chains for the calling thread (0 <= thread < threads()).
  std::unique_ptr<BlockEvaluator> make_block(int n, int thread);
  // The resident state of n chains for the calling thread (resident engines only); with
  // `heat_bath`, bound to the heat-bath step too (its session is created on first use).
  std::unique_ptr<ResidentBlock> make_resident(int n, int thread, const std::vector<float>& scale,
                                               const std::array<float, kBases>& weights, bool heat_bath);

 private:
  Plan plan_;
  Provider provider_;
  int threads_;
  bool incremental_, resident_;
  std::vector<Ort::Session> sessions_;  // per thread; empty on the core-only path
  std::vector<ResidentSessions> resident_sessions_;  // per thread, resident engines
  std::mutex heat_mutex_;                            // guards creating the heat-bath sessions
  std::shared_ptr<const Graph> graph_;  // incremental path
};

}  // namespace seqmaxent
