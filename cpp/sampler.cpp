#include "sampler.hpp"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <exception>
#include <mutex>
#include <stdexcept>
#include <string>
#include <vector>

#include "rng.hpp"

namespace seqmaxent {

void SamplerConfig::validate(int phi_dim) const {
  if (scale.size() != size_t(phi_dim)) throw std::invalid_argument("scale must have one weight per Phi unit");
  if (rungs < 1 || betas.empty() || betas.size() % rungs != 0)
    throw std::invalid_argument("betas must hold `rungs` betas per input");
  for (size_t r = 0; r < betas.size(); ++r) {
    if (!(betas[r] >= 0.0) || !std::isfinite(betas[r])) throw std::invalid_argument("beta must be a finite number >= 0");
    if (r % rungs > 0 && !(betas[r] > betas[r - 1])) throw std::invalid_argument("the betas of a ladder must increase");
  }
  if (keep.empty()) throw std::invalid_argument("keep at least one rung");
  for (size_t k = 0; k < keep.size(); ++k)
    if (keep[k] < 0 || keep[k] >= rungs || (k > 0 && keep[k] <= keep[k - 1]))
      throw std::invalid_argument("kept rungs must be increasing rung indices");
  if (swap_every < 0) throw std::invalid_argument("swap_every must be >= 0");
  if (!std::isfinite(mu)) throw std::invalid_argument("mu must be finite");
  if (chains < 1) throw std::invalid_argument("chains must be at least 1");
  if (steps < 1) throw std::invalid_argument("steps must be at least 1");
  if (period < 1 || steps % period != 0) throw std::invalid_argument("period must be >= 1 and divide steps");
  if (burn_in < 0) throw std::invalid_argument("burn_in must be >= 0");
  if (refresh < 0) throw std::invalid_argument("refresh must be >= 0");
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

// The uniform is drawn whatever the ratio, so that a chain's stream is the same on every path
// (the resident step draws it before it knows the ratio).
bool metropolis_accepts(double log_ratio, ChainRng& rng) {
  const double u = rng.uniform();
  return log_ratio >= 0.0 || std::log(u) < log_ratio;
}

}  // namespace

// The replicas of whole ladders, [first, first + n) of all inputs' replicas, sampled together.
struct Sampler::Block {
  Block(Sampler& s, int64_t first, int n, int thread, const uint8_t* x0, const int64_t* ids,
        const SamplerConfig& cfg, ChainState state, const SampleOutputs& out)
      : cfg(cfg), out(out), state(state), first(first), n(n), R(cfg.rungs), L(s.engine_.plan().length),
        P(s.engine_.plan().phi_dim), eval(s.engine_.make_block(n, thread)), codes(size_t(n) * L), phi0(n),
        positions(n), input_of(n), rng(n), ladder_rng(n / R), d(n), rung(n), holder(n), m(n), accepted(n), n_accepted(n, 0),
        n_swaps(size_t(n / R) * (R - 1), 0) {
    const uint64_t seed = cfg.seed + cfg.round * 0x632BE59BD9B4E019ull;
    for (int i = 0; i < n; ++i) {
      const int64_t g = first + i, input = g / cfg.replicas();
      const uint8_t* start = state.codes ? state.codes + g * L : x0 + input * L;
      std::copy_n(start, L, codes.data() + size_t(i) * L);
      phi0[i] = out.phi0 + input * P;
      positions[i] = &s.mutable_[input];
      input_of[i] = input;
      const uint64_t key = uint64_t(ids[input]) * cfg.replicas() + uint64_t(g % cfg.replicas());
      rng[i] = ChainRng(seed, key);
      rung[i] = state.rung ? state.rung[g] : int(g % R);
      if (rung[i] < 0 || rung[i] >= R) throw std::invalid_argument("a replica's rung is out of range");
    }
    for (int l = 0; l < n / R; ++l) {
      ladder_rng[l] = ChainRng(~seed, uint64_t(ids[(first / R + l) / cfg.chains]) * cfg.chains + (first / R + l) % cfg.chains);
      std::vector<uint8_t> seen(R, 0);
      for (int r = 0; r < R; ++r) {
        const int i = l * R + r;
        if (seen[rung[i]]++) throw std::invalid_argument("the replicas of a ladder must hold distinct rungs");
        holder[l * R + rung[i]] = i;
      }
    }
    set_distances(eval->reset(codes.data()));
    if (s.engine_.resident()) {
      std::array<float, kBases> w;
      for (int b = 0; b < kBases; ++b) w[b] = float(weight(uint8_t(b)));
      resident = s.engine_.make_resident(n, thread, cfg.scale, w, cfg.moves == Moves::heat_bath);
      std::vector<float> starts(size_t(n) * P);
      for (int i = 0; i < n; ++i) std::copy_n(phi0[i], P, starts.data() + size_t(i) * P);
      resident->reset(codes.data(), starts.data(), d.data());
    }
  }

  void set_distances(const float* phi) {
    for (int i = 0; i < n; ++i) d[i] = distance(phi + size_t(i) * P, phi0[i], cfg.scale.data(), P);
  }
  double beta(int i) const { return cfg.beta(input_of[i], rung[i]); }
  double weight(uint8_t base) const { return cfg.mu * cfg.constrained[base]; }
  uint8_t& code(int i, int p) { return codes[size_t(i) * L + p]; }
  // A uniformly chosen mutable site of chain i, from 32 random bits.
  int site(int i, uint32_t bits) const {
    const auto& where = *positions[i];
    return where[ChainRng::below(bits, uint32_t(where.size()))];
  }
  const float* propose() {
    ++calls;
    return eval->propose(m.data());
  }
  void count_accepted(int i) { ++n_accepted[size_t(i / R) * R + rung[i]]; }

  // One Metropolis proposal per replica: a random site to one of its 3 other bases.
  void metropolis() {
    for (int i = 0; i < n; ++i) {
      const uint64_t r = rng[i].next();
      const int pos = site(i, uint32_t(r >> 32));
      const uint8_t from = code(i, pos);
      m[i] = {pos, from, uint8_t((from + 1 + ChainRng::below(uint32_t(r), 3)) & 3)};
    }
    const float* phi = propose();
    for (int i = 0; i < n; ++i) {
      const double d_new = distance(phi + size_t(i) * P, phi0[i], cfg.scale.data(), P);
      accepted[i] = metropolis_accepts(-beta(i) * (d_new - d[i]) + weight(m[i].to) - weight(m[i].from), rng[i]);
      if (accepted[i]) {
        code(i, m[i].position) = m[i].to;
        d[i] = d_new;
        count_accepted(i);
      }
    }
    eval->commit(m.data(), accepted.data());
  }

  // One Metropolis step of every replica in the resident state: the same draws as metropolis().
  void metropolis_resident() {
    ResidentBlock::Draws& draw = resident->draws();
    for (int i = 0; i < n; ++i) {
      const uint64_t r = rng[i].next();
      draw.pos[i] = site(i, uint32_t(r >> 32));
      draw.shift[i] = 1 + ChainRng::below(uint32_t(r), 3);
      draw.logu[i] = float(std::log(rng[i].uniform()));
      draw.beta[i] = float(beta(i));
    }
    ++calls;
    resident->step(d.data(), accepted.data());
    for (int i = 0; i < n; ++i)
      if (accepted[i]) count_accepted(i);
  }

  // One heat-bath update of every replica in the resident state: the same draws as heat_bath().
  void heat_bath_resident() {
    ResidentBlock::Draws& draw = resident->draws();
    for (int i = 0; i < n; ++i) {
      draw.pos[i] = site(i, uint32_t(rng[i].next() >> 32));
      draw.u[i] = float(rng[i].uniform());
      draw.beta[i] = float(beta(i));
    }
    calls += 3;
    resident->heat_bath(d.data(), accepted.data());
    for (int i = 0; i < n; ++i)
      if (accepted[i]) count_accepted(i);
  }

  // One heat-bath update per replica: a random site takes base b with probability proportional
  // to exp(-beta d + mu N_C) over its 4 bases. The 3 alternatives are evaluated in turn; the
  // third is kept directly when chosen, the others need one more evaluation.
  void heat_bath() {
    std::vector<std::array<double, 4>>& logw = hb_logw;
    std::vector<std::array<double, 4>>& dist = hb_dist;
    logw.resize(n), dist.resize(n), hb_choice.resize(n);
    for (int i = 0; i < n; ++i) {
      const int pos = site(i, uint32_t(rng[i].next() >> 32));
      const uint8_t from = code(i, pos);
      m[i] = {pos, from, from};
      dist[i][0] = d[i];
      logw[i][0] = -beta(i) * d[i] + weight(from);
    }
    for (int k = 1; k <= 3; ++k) {
      for (int i = 0; i < n; ++i) m[i].to = uint8_t((m[i].from + k) & 3);
      const float* phi = propose();
      for (int i = 0; i < n; ++i) {
        dist[i][k] = distance(phi + size_t(i) * P, phi0[i], cfg.scale.data(), P);
        logw[i][k] = -beta(i) * dist[i][k] + weight(m[i].to);
      }
      if (k < 3) std::fill(accepted.begin(), accepted.end(), 0);
      else
        for (int i = 0; i < n; ++i) {
          const double top = *std::max_element(logw[i].begin(), logw[i].end());
          std::array<double, 4> w;
          double total = 0.0;
          for (int b = 0; b < 4; ++b) total += w[b] = std::exp(logw[i][b] - top);
          double u = rng[i].uniform() * total;
          int choice = 0;
          while (choice < 3 && u >= w[choice]) u -= w[choice++];
          hb_choice[i] = choice;
          accepted[i] = choice == 3;
        }
      eval->commit(m.data(), accepted.data());
    }
    bool again = false;
    for (int i = 0; i < n; ++i) {
      const int choice = hb_choice[i];
      if (choice == 0) continue;
      count_accepted(i);
      d[i] = dist[i][choice];
      if (choice == 3) {
        code(i, m[i].position) = m[i].to;
        continue;
      }
      again = true;
      m[i].to = uint8_t((m[i].from + choice) & 3);
    }
    if (!again) return;
    for (int i = 0; i < n; ++i) {
      accepted[i] = hb_choice[i] == 1 || hb_choice[i] == 2;
      if (accepted[i]) code(i, m[i].position) = m[i].to;
      else m[i].from = m[i].to = code(i, m[i].position);  // no change
    }
    propose();
    eval->commit(m.data(), accepted.data());
  }

  // Neighbour swaps along each ladder, rungs (r, r + 1) for r of the given parity: exchanging
  // the betas of the replicas there with probability min(1, exp((b_r - b_r+1)(d_r - d_r+1))).
  void swap(int parity) {
    for (int l = 0; l < n / R; ++l)
      for (int r = parity; r + 1 < R; r += 2) {
        int& a = holder[l * R + r];
        int& b = holder[l * R + r + 1];
        const int64_t input = input_of[a];
        if (!metropolis_accepts((cfg.beta(input, r) - cfg.beta(input, r + 1)) * (d[a] - d[b]), ladder_rng[l])) continue;
        std::swap(rung[a], rung[b]);
        std::swap(a, b);
        ++n_swaps[size_t(l) * (R - 1) + r];
      }
  }

  // Sample k of every kept rung of every ladder.
  void keep(int k) {
    if (resident) resident->codes(codes.data());
    const int K = int(cfg.keep.size()), kept = cfg.kept();
    for (int l = 0; l < n / R; ++l) {
      const int64_t ladder = first / R + l, input = ladder / cfg.chains, c = ladder % cfg.chains;
      for (int j = 0; j < K; ++j) {
        const int i = holder[l * R + cfg.keep[j]];
        const int64_t slot = ((input * K + j) * cfg.chains + c) * kept + k;
        std::copy_n(codes.data() + size_t(i) * L, L, out.samples + slot * L);
        out.distances[slot] = float(d[i]);
      }
    }
  }

  void finish() {
    if (resident) resident->codes(codes.data());
    std::copy(n_accepted.begin(), n_accepted.end(), out.accepted + first);
    std::copy(n_swaps.begin(), n_swaps.end(), out.swaps + (first / R) * (R - 1));
    for (int i = 0; i < n; ++i) {
      const int64_t g = first + i;
#pragma omp atomic
      out.evaluations[g / cfg.replicas()] += calls;
      if (state.codes) std::copy_n(codes.data() + size_t(i) * L, L, state.codes + g * L);
      if (state.rung) state.rung[g] = rung[i];
    }
  }

  const SamplerConfig& cfg;
  const SampleOutputs& out;
  ChainState state;
  int64_t first;
  int n, R, L, P;
  std::unique_ptr<BlockEvaluator> eval;
  std::unique_ptr<ResidentBlock> resident;  // resident engines: the state that steps
  std::vector<uint8_t> codes;
  std::vector<const float*> phi0;
  std::vector<const std::vector<int>*> positions;
  std::vector<int64_t> input_of;
  std::vector<ChainRng> rng, ladder_rng;
  std::vector<double> d;
  std::vector<int> rung, holder;  // holder[l * R + r]: the replica at rung r of ladder l
  std::vector<Mutation> m;
  std::vector<uint8_t> accepted;
  std::vector<int64_t> n_accepted, n_swaps;
  std::vector<std::array<double, 4>> hb_logw, hb_dist;
  std::vector<int> hb_choice;
  int64_t calls = 0;
};

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

void Sampler::run(const uint8_t* x0, const int64_t* ids, int64_t inputs, const SamplerConfig& cfg, ChainState state,
                  const SampleOutputs& out) {
  cfg.validate(engine_.plan().phi_dim);
  if (engine_.resident() && cfg.moves == Moves::heat_bath && engine_.plan().heat_bath_model.empty())
    throw std::invalid_argument("the plan has no heat-bath step for the resident path");
  if (inputs < 1) throw std::invalid_argument("no input sequences");
  if (cfg.betas.size() != size_t(inputs) * cfg.rungs) throw std::invalid_argument("betas must hold one ladder per input");
  const int L = engine_.plan().length;
  if (!cfg.region.empty() && cfg.region.size() != size_t(L))
    throw std::invalid_argument("the region must have one entry per position");
  // The positions each input's chains may mutate: those of the region that are not N.
  mutable_.assign(inputs, {});
  for (int64_t i = 0; i < inputs; ++i) {
    if (ids[i] < 0) throw std::invalid_argument("input ids must be >= 0");
    for (int p = 0; p < L; ++p)
      if (x0[i * L + p] != kUnknown && (cfg.region.empty() || cfg.region[p])) mutable_[i].push_back(p);
    if (mutable_[i].empty())
      throw std::invalid_argument("input " + std::to_string(ids[i] + 1) + (cfg.region.empty() ? " is all N" : " is all N in the region"));
    if (state.codes)
      for (int64_t r = 0; r < cfg.replicas(); ++r)
        for (int p = 0; p < L; ++p) {
          const uint8_t c = state.codes[(i * cfg.replicas() + r) * L + p];
          if ((c == kUnknown) != (x0[i * L + p] == kUnknown) || c > kUnknown)
            throw std::invalid_argument("start states must be base codes 0..3 where x0 is, and N where it is N");
        }
  }
  const int64_t replicas = inputs * cfg.replicas();
  if (stop_.load()) throw Cancelled();
  done_.store(0);
  total_.store(replicas * (int64_t(cfg.burn_in) + cfg.steps));
  std::fill_n(out.evaluations, inputs, 0);
  run_phi(x0, inputs, out.phi0);
  const int R = cfg.rungs, total_steps = cfg.burn_in + cfg.steps;
  for_blocks(replicas, engine_.block_size(replicas, R), engine_.threads(), stop_, [&](int64_t first, int n, int thread) {
    Block b(*this, first, n, thread, x0, ids, cfg, state, out);
    for (int step = 0; step < total_steps; ++step) {
      if (b.resident && cfg.moves == Moves::heat_bath) b.heat_bath_resident();  // nothing to refresh
      else if (b.resident) b.metropolis_resident();
      else if (cfg.moves == Moves::heat_bath) b.heat_bath();
      else b.metropolis();
      if (!b.resident && cfg.refresh > 0 && (step + 1) % cfg.refresh == 0) b.set_distances(b.eval->reset(b.codes.data()));
      if (R > 1 && cfg.swap_every > 0 && (step + 1) % cfg.swap_every == 0) b.swap(((step + 1) / cfg.swap_every) & 1);
      const int after = step + 1 - cfg.burn_in;
      if (after > 0 && after % cfg.period == 0) b.keep(after / cfg.period - 1);
      done_.fetch_add(n, std::memory_order_relaxed);
      if (stop_.load(std::memory_order_relaxed)) return;
    }
    b.finish();
  });
  if (stop_.load()) throw Cancelled();
}

}  // namespace seqmaxent
