#include <algorithm>
#include <stdexcept>

#include "engine.hpp"
#include "full_block.hpp"
#include "graph_block.hpp"

namespace seqmaxent {

namespace {

constexpr int kOrtBlock = 16;                      // chains per ONNX Runtime batch on the CPU
constexpr int kGpuBlock = 2048;                    // chains per batch on a GPU
constexpr int64_t kGpuResidentChains = 32768;      // resident chains on a GPU when its free memory is unknown
constexpr int kCoreBlockMax = 256;                 // chains per block on the core-only path
constexpr int64_t kBlockBytes = int64_t(16) << 20;  // state per block on the core-only path (at least one ladder):
                                                    // small blocks keep a chain's rows in cache from step to step

}  // namespace

Engine::Engine(Plan plan, Provider provider, int threads, bool incremental, bool resident)
    : plan_(std::move(plan)),
      provider_(provider),
      threads_(provider == Provider::cuda ? 1 : threads),
      incremental_(incremental && !resident && provider == Provider::cpu && plan_.incremental()),
      resident_(resident) {
  plan_.validate();
  if (threads < 1) throw std::invalid_argument("threads must be at least 1");
  if (resident_ && plan_.step_model.empty()) throw std::invalid_argument("the plan has no step model for the resident path");
  for (int t = 0; resident_ && t < threads_; ++t)
    resident_sessions_.push_back({make_session(plan_.step_model, provider), make_session(plan_.codes_model, provider),
                                  make_session(plan_.copy_model, provider),
                                  plan_.init_model.empty() ? Ort::Session(nullptr) : make_session(plan_.init_model, provider),
                                  Ort::Session(nullptr)});
  if (incremental_) graph_ = prepare_graph(plan_);
  if (incremental_ && plan_.tail_model.empty()) return;
  const std::string& model = incremental_ ? plan_.tail_model : plan_.phi_model;
  for (int t = 0; t < threads_; ++t) sessions_.push_back(make_session(model, provider));
}

Engine::~Engine() = default;

std::string Engine::path() const {
  const char* where = provider_ == Provider::cuda ? "on the GPU" : "in ONNX Runtime's memory";
  if (resident_)
    return std::string("resident: the chains' state stays ") + where + "; each step is one run of the step model" +
           (plan_.step_path.empty() ? "" : " (" + plan_.step_path + ")");
  if (provider_ == Provider::cuda) return "full: ONNX Runtime on the GPU evaluates every proposal";
  if (!incremental_) return "full: ONNX Runtime evaluates every proposal";
  return graph_path(plan_, *graph_);
}

std::vector<NodeReport> Engine::nodes() const { return incremental_ ? graph_nodes(*graph_) : std::vector<NodeReport>{}; }

Flops Engine::flops(const std::vector<int>& proposed) const {
  return incremental_ ? graph_flops(*graph_, proposed) : Flops{};
}

int64_t Engine::chain_bytes() const { return incremental_ ? graph_chain_bytes(*graph_) : 0; }

int Engine::block_size(int64_t total_chains, int group) const {
  auto whole = [group](int64_t n) { return int((std::max<int64_t>(n, 1) + group - 1) / group * group); };
  if (resident_ && provider_ == Provider::cuda) {  // all chains in flight, as many as half the free memory holds
    const int64_t free = gpu_free_bytes();
    const int64_t fit = free > 0 ? free / 2 / std::max<int64_t>(plan_.resident_chain_bytes, 1) : kGpuResidentChains;
    return whole(std::min<int64_t>(total_chains, std::max<int64_t>(fit, group)));
  }
  if (resident_) return whole(std::min<int64_t>(total_chains, kCoreBlockMax));
  if (provider_ == Provider::cuda) return whole(kGpuBlock);
  if (!sessions_.empty()) return whole(kOrtBlock);
  const int64_t fit = std::max<int64_t>(group, kBlockBytes / std::max<int64_t>(chain_bytes(), 1) / group * group);
  const int64_t blocks = std::max<int64_t>({int64_t(threads_), (total_chains + kCoreBlockMax - 1) / kCoreBlockMax,
                                            (total_chains + fit - 1) / fit});
  return whole((total_chains + blocks - 1) / blocks);
}

std::unique_ptr<ResidentBlock> Engine::make_resident(int n, int thread, const std::vector<float>& scale,
                                                    const std::array<float, kBases>& weights, bool heat_bath) {
  if (!resident_) throw std::logic_error("not a resident engine");
  if (heat_bath && !plan_.heat_bath_model.empty()) {
    std::lock_guard<std::mutex> lock(heat_mutex_);
    Ort::Session& heat = resident_sessions_.at(thread).heat;
    if (!heat) heat = make_session(plan_.heat_bath_model, provider_);
  }
  return std::make_unique<ResidentBlock>(resident_sessions_.at(thread), provider_, n, plan_.length, plan_.phi_dim, scale,
                                         weights);
}

std::unique_ptr<BlockEvaluator> Engine::make_block(int n, int thread) {
  if (!incremental_) return make_full_block(plan_, sessions_.at(thread), n);
  return make_graph_block(plan_, *graph_, sessions_.empty() ? nullptr : &sessions_.at(thread), n);
}

}  // namespace seqmaxent