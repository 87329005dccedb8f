#include "sampler.hpp"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <exception>
#include <mutex>
#include <stdexcept>
#include <vector>

#include "rng.hpp"

namespace seqmaxent {

void SamplerConfig::validate(int phi_dim) const {
  if (scale.size() != size_t(phi_dim)) throw std::invalid_argument("scale must have one weight per Phi unit");
  if (!(beta >= 0.0) || !std::isfinite(beta)) throw std::invalid_argument("beta must be a finite number >= 0");
  if (!std::isfinite(mu)) throw std::invalid_argument("mu must be finite");
  if (chains < 1) throw std::invalid_argument("chains must be at least 1");
  if (steps < 1) throw std::invalid_argument("steps must be at least 1");
  if (period < 1 || steps % period != 0) throw std::invalid_argument("period must be >= 1 and divide steps");
  if (burn_in < 0) throw std::invalid_argument("burn_in must be >= 0");
  if (refresh < 0) throw std::invalid_argument("refresh must be >= 0");
  if (first_input < 0) throw std::invalid_argument("first_input must be >= 0");
}

namespace {

double distance(const float* phi, const float* phi0, const float* scale, int P) {
  double s = 0.0;
  for (int k = 0; k < P; ++k) {
    const double v = double(scale[k]) * (double(phi[k]) - double(phi0[k]));
    s += v * v;
  }
  return std::sqrt(s);
}

// Runs body(first, n, thread) over [0, count) in blocks of `block`, on the engine's threads;
// the first exception stops the others and is rethrown.
template <class Body>
void for_blocks(int64_t count, int block, int threads, std::atomic<bool>& stop, Body body) {
  const int64_t blocks = (count + block - 1) / block;
  std::exception_ptr error;
  std::mutex error_mutex;
#pragma omp parallel for schedule(dynamic, 1) num_threads(threads)
  for (int64_t b = 0; b < blocks; ++b) {
    if (stop.load(std::memory_order_relaxed)) continue;
    try {
      const int64_t first = b * block;
      body(first, int(std::min<int64_t>(block, count - first)), omp_get_thread_num());
    } catch (...) {
      std::lock_guard<std::mutex> lock(error_mutex);
      if (!error) error = std::current_exception();
      stop.store(true);
    }
  }
  if (error) std::rethrow_exception(error);
}

}  // namespace

void Sampler::run_phi(const uint8_t* codes, int64_t n, float* phi) {
  const Plan& plan = engine_.plan();
  const size_t L = plan.length, P = plan.phi_dim;
  for (int64_t i = 0; i < n * int64_t(L); ++i)
    if (codes[i] > kUnknown) throw std::invalid_argument("base codes must be 0..3, or 4 for N");
  for_blocks(n, engine_.block_size(n), engine_.threads(), stop_, [&](int64_t first, int m, int thread) {
    auto block = engine_.make_block(m, thread);
    const float* out = block->reset(codes + first * L);
    std::copy_n(out, m * P, phi + first * P);
  });
}

void Sampler::run(const uint8_t* x0, int64_t inputs, const SamplerConfig& config, const SampleOutputs& out) {
  config.validate(engine_.plan().phi_dim);
  if (inputs < 1) throw std::invalid_argument("no input sequences");
  const int L = engine_.plan().length;
  // The positions each input's chains may mutate: all but its Ns.
  mutable_.assign(inputs, {});
  for (int64_t i = 0; i < inputs; ++i) {
    for (int p = 0; p < L; ++p)
      if (x0[i * L + p] != kUnknown) mutable_[i].push_back(p);
    if (mutable_[i].empty()) throw std::invalid_argument("input " + std::to_string(i + 1) + " is all N");
  }
  const int64_t chains = inputs * config.chains;
  stop_.store(false);
  done_.store(0);
  total_.store(chains * (int64_t(config.burn_in) + config.steps));
  run_phi(x0, inputs, out.phi0);
  for_blocks(chains, engine_.block_size(chains), engine_.threads(), stop_, [&](int64_t first, int n, int thread) {
    run_block(first, n, thread, x0, config, out);
  });
  if (stop_.load()) throw Cancelled();
}

void Sampler::run_block(int64_t first_chain, int n, int thread, const uint8_t* x0, const SamplerConfig& cfg,
                        const SampleOutputs& out) {
  const Plan& plan = engine_.plan();
  const int L = plan.length, P = plan.phi_dim, kept = cfg.kept();
  const float* scale = cfg.scale.data();
  auto block = engine_.make_block(n, thread);

  std::vector<uint8_t> codes(size_t(n) * L);
  std::vector<const float*> phi0(n);
  std::vector<const std::vector<int>*> positions(n);
  std::vector<ChainRng> rng(n);
  std::vector<double> d(n);
  std::vector<Mutation> m(n);
  std::vector<uint8_t> accepted(n);
  std::vector<int64_t> n_accepted(n, 0);
  for (int i = 0; i < n; ++i) {
    const int64_t input = (first_chain + i) / cfg.chains;
    std::copy_n(x0 + input * L, L, codes.data() + size_t(i) * L);
    phi0[i] = out.phi0 + input * P;
    positions[i] = &mutable_[input];
    rng[i] = ChainRng(cfg.seed, uint64_t(cfg.first_input * cfg.chains + first_chain + i));
  }
  auto set_distances = [&](const float* phi) {
    for (int i = 0; i < n; ++i) d[i] = distance(phi + size_t(i) * P, phi0[i], scale, P);
  };
  set_distances(block->reset(codes.data()));

  const int total_steps = cfg.burn_in + cfg.steps;
  for (int step = 0; step < total_steps; ++step) {
    for (int i = 0; i < n; ++i) {
      const uint64_t r = rng[i].next();
      const auto& where = *positions[i];
      const int pos = where[ChainRng::below(uint32_t(r >> 32), uint32_t(where.size()))];
      const uint8_t from = codes[size_t(i) * L + pos];
      m[i] = {pos, from, uint8_t((from + 1 + ChainRng::below(uint32_t(r), 3)) & 3)};
    }
    const float* phi = block->propose(m.data());
    for (int i = 0; i < n; ++i) {
      const double d_new = distance(phi + size_t(i) * P, phi0[i], scale, P);
      const double log_ratio =
          -cfg.beta * (d_new - d[i]) + cfg.mu * (int(cfg.constrained[m[i].to]) - int(cfg.constrained[m[i].from]));
      const bool accept = log_ratio >= 0.0 || std::log(rng[i].uniform()) < log_ratio;
      accepted[i] = accept;
      if (accept) {
        codes[size_t(i) * L + m[i].position] = m[i].to;
        d[i] = d_new;
        ++n_accepted[i];
      }
    }
    block->commit(m.data(), accepted.data());
    if (cfg.refresh > 0 && (step + 1) % cfg.refresh == 0) set_distances(block->reset(codes.data()));
    const int after = step + 1 - cfg.burn_in;
    if (after > 0 && after % cfg.period == 0) {
      const int k = after / cfg.period - 1;
      for (int i = 0; i < n; ++i) {
        const int64_t slot = (first_chain + i) * kept + k;
        std::copy_n(codes.data() + size_t(i) * L, L, out.samples + slot * L);
        out.distances[slot] = float(d[i]);
      }
    }
    done_.fetch_add(n, std::memory_order_relaxed);
    if (stop_.load(std::memory_order_relaxed)) return;
  }
  std::copy(n_accepted.begin(), n_accepted.end(), out.accepted + first_chain);
}

}  // namespace seqmaxent
