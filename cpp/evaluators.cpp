#include "evaluators.hpp"

#include <algorithm>
#include <cstring>
#include <stdexcept>

#ifdef __AVX512F__
#include <immintrin.h>
#endif

namespace seqmaxent {

namespace {

constexpr int kOrtBlock = 16;       // chains per ONNX Runtime batch on the CPU
constexpr int kGpuBlock = 2048;     // chains per batch on a GPU
constexpr int kCoreBlockMax = 256;  // chains per block on the core-only path

// 16 floats, one AVX-512 register (two AVX2 ones); unaligned loads and stores.
typedef float vec16 __attribute__((vector_size(64), aligned(4)));
constexpr int kLanes = 16;
int round_up(int n, int m) { return (n + m - 1) / m * m; }

// y[0, NV*16) += sum_q value[q] * rows[channel[q] * stride + (0, NV*16)], NV vectors in registers.
template <int NV>
void sparse_gemv(const float* __restrict value, const uint16_t* __restrict channel, int nnz,
                 const float* __restrict rows, size_t stride, float* __restrict y) {
  vec16 acc[NV];
  for (int v = 0; v < NV; ++v) __builtin_memcpy(&acc[v], y + v * kLanes, sizeof(vec16));
  for (int q = 0; q < nnz; ++q) {
    const float* row = rows + channel[q] * stride;
    const float a = value[q];
    for (int v = 0; v < NV; ++v) {
      vec16 w;
      __builtin_memcpy(&w, row + v * kLanes, sizeof(vec16));
      acc[v] += a * w;
    }
  }
  for (int v = 0; v < NV; ++v) __builtin_memcpy(y + v * kLanes, &acc[v], sizeof(vec16));
}

// Packs the nonzero entries of d[0, n) to the front of d, their indices into index; returns their count.
int compress_nonzero(float* __restrict d, uint16_t* __restrict index, int n) {
  int nnz = 0, c = 0;
#ifdef __AVX512F__
  const __m512i lanes = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
  for (; c + kLanes <= n; c += kLanes) {
    const __m512 v = _mm512_loadu_ps(d + c);
    const __mmask16 keep = _mm512_cmp_ps_mask(v, _mm512_setzero_ps(), _CMP_NEQ_UQ);
    const __m512i idx = _mm512_add_epi32(lanes, _mm512_set1_epi32(c));
    _mm512_storeu_ps(d + nnz, _mm512_maskz_compress_ps(keep, v));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(index + nnz),
                        _mm512_cvtepi32_epi16(_mm512_maskz_compress_epi32(keep, idx)));
    nnz += __builtin_popcount(keep);
  }
#endif
  for (; c < n; ++c) {
    const float v = d[c];
    d[nnz] = v;
    index[nnz] = uint16_t(c);
    nnz += (v != 0.f);
  }
  return nnz;
}

// The same for any width that is a multiple of 16, in passes of up to 8 vectors.
void sparse_gemv(const float* value, const uint16_t* channel, int nnz, const float* rows, size_t stride, float* y,
                 int width) {
  for (int k = 0; k < width; k += 8 * kLanes) {
    const float* r = rows + k;
    float* out = y + k;
    switch (std::min(8, (width - k) / kLanes)) {
      case 1: sparse_gemv<1>(value, channel, nnz, r, stride, out); break;
      case 2: sparse_gemv<2>(value, channel, nnz, r, stride, out); break;
      case 3: sparse_gemv<3>(value, channel, nnz, r, stride, out); break;
      case 4: sparse_gemv<4>(value, channel, nnz, r, stride, out); break;
      case 5: sparse_gemv<5>(value, channel, nnz, r, stride, out); break;
      case 6: sparse_gemv<6>(value, channel, nnz, r, stride, out); break;
      case 7: sparse_gemv<7>(value, channel, nnz, r, stride, out); break;
      default: sparse_gemv<8>(value, channel, nnz, r, stride, out); break;
    }
  }
}

// One ONNX Runtime session run over caller-owned input and output buffers.
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

// Full path: the block's one-hot batch, mutated in place, through the Phi model.
class OnehotBlock final : public BlockEvaluator {
 public:
  OnehotBlock(const Plan& plan, Ort::Session& session, int n)
      : n_(n),
        item_(plan.input.size()),
        layout_(plan.input),
        length_(plan.length),
        x_(size_t(n) * item_),
        phi_(size_t(n) * plan.phi_dim),
        call_(session, x_.data(), plan.input.shape, n, phi_.data(), plan.phi_dim) {}

  const float* reset(const uint8_t* codes) override {
    std::fill(x_.begin(), x_.end(), 0.f);
    for (int i = 0; i < n_; ++i)
      for (int p = 0; p < length_; ++p)
        if (codes[size_t(i) * length_ + p] != kUnknown) at(i, p, codes[size_t(i) * length_ + p]) = 1.f;
    call_.run();
    return phi_.data();
  }
  const float* propose(const Mutation* m) override {
    for (int i = 0; i < n_; ++i) {
      at(i, m[i].position, m[i].from) = 0.f;
      at(i, m[i].position, m[i].to) = 1.f;
    }
    call_.run();
    return phi_.data();
  }
  void commit(const Mutation* m, const uint8_t* accepted) override {
    for (int i = 0; i < n_; ++i)
      if (!accepted[i]) {
        at(i, m[i].position, m[i].to) = 0.f;
        at(i, m[i].position, m[i].from) = 1.f;
      }
  }

 private:
  float& at(int i, int p, int b) { return x_[size_t(i) * item_ + p * layout_.position_stride + b * layout_.base_stride]; }
  int n_;
  int64_t item_;
  InputLayout layout_;
  int length_;
  std::vector<float> x_, phi_;
  OrtCall call_;
};

// The first convolution in a form for single-base updates: for each position, the outputs
// (tap, output index) whose window covers it, and per tap the weight change of each base swap.
class ConvUpdates {
 public:
  ConvUpdates(const ConvLayer& conv, int length)
      : conv_(conv), length_(length), first_(length + 1), delta_(size_t(conv.width) * 16 * conv.out_channels) {
    const int C = conv.out_channels, W = conv.width;
    for (int p = 0; p < length; ++p) {
      first_[p] = int(taps_.size());
      for (int t = 0; t < W; ++t) {
        int q = p + conv.pad_left - t * conv.dilation;
        if (q >= 0 && q % conv.stride == 0 && q / conv.stride < conv.out_length) taps_.push_back({t, q / conv.stride});
      }
    }
    first_[length] = int(taps_.size());
    for (int t = 0; t < W; ++t)
      for (int a = 0; a < kBases; ++a)
        for (int b = 0; b < kBases; ++b)
          for (int c = 0; c < C; ++c)
            delta_[((size_t(t) * 16) + a * 4 + b) * C + c] = weight(c, b, t) - weight(c, a, t);
  }
  struct Tap {
    int tap, out;  // kernel tap, output index j
  };
  const Tap* taps_begin(int p) const { return taps_.data() + first_[p]; }
  const Tap* taps_end(int p) const { return taps_.data() + first_[p + 1]; }
  int max_taps() const {
    int m = 0;
    for (int p = 0; p < length_; ++p) m = std::max(m, first_[p + 1] - first_[p]);
    return m;
  }
  // Change of output channel c (contiguous over c) for tap t when a base goes from a to b.
  const float* delta(int t, int a, int b) const { return delta_.data() + ((size_t(t) * 16) + a * 4 + b) * conv_.out_channels; }
  float weight(int c, int b, int t) const { return conv_.weight[(size_t(c) * kBases + b) * conv_.width + t]; }

  // z (out_length x C, j-major) of one sequence, computed directly.
  void compute(const uint8_t* codes, float* z) const {
    const int C = conv_.out_channels;
    for (int j = 0; j < conv_.out_length; ++j) {
      float* zj = z + size_t(j) * C;
      for (int c = 0; c < C; ++c) zj[c] = conv_.bias[c];
      for (int t = 0; t < conv_.width; ++t) {
        int p = j * conv_.stride - conv_.pad_left + t * conv_.dilation;
        if (p < 0 || p >= length_ || codes[p] == kUnknown) continue;  // padding and N add nothing
        const int b = codes[p];
        for (int c = 0; c < C; ++c) zj[c] += weight(c, b, t);
      }
    }
  }

 private:
  const ConvLayer& conv_;
  int length_;
  std::vector<Tap> taps_;
  std::vector<int> first_;
  std::vector<float> delta_;
};

// Conv in the core, updated in place in the graph's layout (c * out_length + j); the rest of
// the network runs in ONNX Runtime on the block's conv outputs.
class ConvTailBlock final : public BlockEvaluator {
 public:
  ConvTailBlock(const Plan& plan, Ort::Session& session, int n)
      : n_(n),
        length_(plan.length),
        C_(plan.conv->out_channels),
        Lout_(plan.conv->out_length),
        conv_(*plan.conv, plan.length),
        max_taps_(conv_.max_taps()),
        z_(size_t(n) * C_ * Lout_),
        saved_(size_t(n) * max_taps_ * C_),
        zj_(size_t(Lout_) * C_),
        phi_(size_t(n) * plan.phi_dim),
        call_(session, z_.data(), plan.conv->tensor_shape, n, phi_.data(), plan.phi_dim) {}

  const float* reset(const uint8_t* codes) override {
    for (int i = 0; i < n_; ++i) {
      conv_.compute(codes + size_t(i) * length_, zj_.data());
      float* z = z_.data() + size_t(i) * C_ * Lout_;
      for (int j = 0; j < Lout_; ++j)
        for (int c = 0; c < C_; ++c) z[size_t(c) * Lout_ + j] = zj_[size_t(j) * C_ + c];
    }
    call_.run();
    return phi_.data();
  }
  const float* propose(const Mutation* m) override {
    for (int i = 0; i < n_; ++i) {
      float* z = z_.data() + size_t(i) * C_ * Lout_;
      float* saved = saved_.data() + size_t(i) * max_taps_ * C_;
      for (auto* tp = conv_.taps_begin(m[i].position); tp != conv_.taps_end(m[i].position); ++tp, saved += C_) {
        const float* dw = conv_.delta(tp->tap, m[i].from, m[i].to);
        for (int c = 0; c < C_; ++c) {
          float& zc = z[size_t(c) * Lout_ + tp->out];
          saved[c] = zc;
          zc += dw[c];
        }
      }
    }
    call_.run();
    return phi_.data();
  }
  void commit(const Mutation* m, const uint8_t* accepted) override {
    for (int i = 0; i < n_; ++i) {
      if (accepted[i]) continue;
      float* z = z_.data() + size_t(i) * C_ * Lout_;
      const float* saved = saved_.data() + size_t(i) * max_taps_ * C_;
      for (auto* tp = conv_.taps_begin(m[i].position); tp != conv_.taps_end(m[i].position); ++tp, saved += C_)
        for (int c = 0; c < C_; ++c) z[size_t(c) * Lout_ + tp->out] = saved[c];
    }
  }

 private:
  int n_, length_, C_, Lout_;
  ConvUpdates conv_;
  int max_taps_;
  std::vector<float> z_, saved_, zj_, phi_;
  OrtCall call_;
};

// Conv and dense layer both in the core. Per proposal only the conv outputs covering the
// mutated position change, and the dense pre-activation moves by their (sparse, after ReLU)
// activation changes times the matching weight columns. A step's updates are ordered by conv
// output position j, so each block of weights W[j] (C x H) is read once per step and shared by
// every chain whose window covers j. Each chain's own sums always run in the same order (j,
// then channel, ascending), so results do not depend on how chains are grouped into blocks.
// Dense rows are padded to whole 16-float vectors (Hp >= H).
class ConvDenseBlock final : public BlockEvaluator {
 public:
  ConvDenseBlock(const Plan& plan, const std::vector<float>& dense_t, int n)
      : n_(n),
        length_(plan.length),
        C_(plan.conv->out_channels),
        Lout_(plan.conv->out_length),
        H_(plan.phi_dim),
        Hp_(round_up(H_, kLanes)),
        conv_(*plan.conv, plan.length),
        max_taps_(conv_.max_taps()),
        dense_(*plan.dense),
        wt_(dense_t),
        z_(size_t(n) * Lout_ * C_),
        h_(size_t(n) * Hp_),
        z_new_(size_t(n) * max_taps_ * C_),
        da_(size_t(n) * max_taps_ * C_),
        channel_(size_t(n) * max_taps_ * C_),
        nonzero_(size_t(n) * max_taps_),
        h_new_(size_t(n) * Hp_),
        phi_(size_t(n) * H_),
        by_out_(size_t(n) * max_taps_),
        first_(Lout_ + 1) {}

  const float* reset(const uint8_t* codes) override {
    for (int i = 0; i < n_; ++i) {
      float* z = z_.data() + size_t(i) * Lout_ * C_;
      float* h = h_.data() + size_t(i) * Hp_;
      conv_.compute(codes + size_t(i) * length_, z);
      std::fill_n(h, Hp_, 0.f);
      std::copy(dense_.bias.begin(), dense_.bias.end(), h);
      // Same order as the updates: position j, then the channels with nonzero activation.
      for (int j = 0; j < Lout_; ++j) {
        for (int c = 0; c < C_; ++c) da_[c] = activate(dense_.input_activation, z[size_t(j) * C_ + c]);
        const int nnz = compress_nonzero(da_.data(), channel_.data(), C_);
        sparse_gemv(da_.data(), channel_.data(), nnz, wt_.data() + size_t(j) * C_ * Hp_, Hp_, h, Hp_);
      }
      activate_out(i, h);
    }
    return phi_.data();
  }

  const float* propose(const Mutation* m) override {
    const Activation act = dense_.input_activation;
    std::fill(first_.begin(), first_.end(), 0);
    // New conv outputs of each chain's window, their nonzero activation changes, and a count
    // of (chain, window slot) entries per conv output position.
    for (int i = 0; i < n_; ++i) {
      if (i + 8 < n_) prefetch_window(i + 8, m[i + 8].position);
      const float* z = z_.data() + size_t(i) * Lout_ * C_;
      int slot = 0;
      for (auto* tp = conv_.taps_begin(m[i].position); tp != conv_.taps_end(m[i].position); ++tp, ++slot) {
        const size_t base = (size_t(i) * max_taps_ + slot) * C_;
        const float* dw = conv_.delta(tp->tap, m[i].from, m[i].to);
        const float* zo = z + size_t(tp->out) * C_;
        float* zn = z_new_.data() + base;
        float* da = da_.data() + base;
        uint16_t* ch = channel_.data() + base;
#pragma omp simd
        for (int c = 0; c < C_; ++c) {
          zn[c] = zo[c] + dw[c];
          da[c] = activate(act, zn[c]) - activate(act, zo[c]);
        }
        nonzero_[size_t(i) * max_taps_ + slot] = compress_nonzero(da, ch, C_);
        ++first_[tp->out + 1];
      }
      std::copy_n(h_.data() + size_t(i) * Hp_, Hp_, h_new_.data() + size_t(i) * Hp_);
    }
    for (int j = 0; j < Lout_; ++j) first_[j + 1] += first_[j];
    for (int i = 0; i < n_; ++i) {
      int slot = 0;
      for (auto* tp = conv_.taps_begin(m[i].position); tp != conv_.taps_end(m[i].position); ++tp, ++slot)
        by_out_[first_[tp->out]++] = i * max_taps_ + slot;
    }
    // Dense update, one conv output position j at a time (first_[j] is now the end of bucket j).
    for (int j = 0, begin = 0; j < Lout_; begin = first_[j++]) {
      const float* wj = wt_.data() + size_t(j) * C_ * Hp_;
      for (int e = begin; e < first_[j]; ++e) {
        const int entry = by_out_[e];
        const size_t base = size_t(entry) * C_;
        sparse_gemv(da_.data() + base, channel_.data() + base, nonzero_[entry], wj, Hp_,
                    h_new_.data() + size_t(entry / max_taps_) * Hp_, Hp_);
      }
    }
    for (int i = 0; i < n_; ++i) activate_out(i, h_new_.data() + size_t(i) * Hp_);
    return phi_.data();
  }

  void commit(const Mutation* m, const uint8_t* accepted) override {
    for (int i = 0; i < n_; ++i) {
      if (!accepted[i]) continue;
      float* z = z_.data() + size_t(i) * Lout_ * C_;
      const float* zn = z_new_.data() + size_t(i) * max_taps_ * C_;
      for (auto* tp = conv_.taps_begin(m[i].position); tp != conv_.taps_end(m[i].position); ++tp, zn += C_)
        std::copy_n(zn, C_, z + size_t(tp->out) * C_);
      std::copy_n(h_new_.data() + size_t(i) * Hp_, Hp_, h_.data() + size_t(i) * Hp_);
    }
  }

 private:
  // Bring a chain's conv outputs around position p towards the cache before they are needed.
  void prefetch_window(int i, int p) const {
    if (conv_.taps_begin(p) == conv_.taps_end(p)) return;
    const int j0 = std::min(conv_.taps_begin(p)->out, (conv_.taps_end(p) - 1)->out);
    const int j1 = std::max(conv_.taps_begin(p)->out, (conv_.taps_end(p) - 1)->out);
    const char* a = reinterpret_cast<const char*>(z_.data() + (size_t(i) * Lout_ + j0) * C_);
    const char* b = reinterpret_cast<const char*>(z_.data() + (size_t(i) * Lout_ + j1 + 1) * C_);
    for (; a < b; a += 64) __builtin_prefetch(a);
  }
  void activate_out(int i, const float* h) {
    float* phi = phi_.data() + size_t(i) * H_;
    for (int k = 0; k < H_; ++k) phi[k] = activate(dense_.activation, h[k]);
  }

  int n_, length_, C_, Lout_, H_, Hp_;
  ConvUpdates conv_;
  int max_taps_;
  const DenseLayer& dense_;
  const std::vector<float>& wt_;  // dense weight as (out_length, C, Hp), zero-padded
  std::vector<float> z_, h_, z_new_, da_;
  std::vector<uint16_t> channel_;  // channel of each nonzero activation change
  std::vector<int> nonzero_;       // nonzero changes per (chain, window slot)
  std::vector<float> h_new_, phi_;
  std::vector<int> by_out_, first_;  // (chain, slot) entries bucketed by conv output position
};

// Dense weight (H, C * Lout) with flatten index c * Lout + j, as (Lout, C, Hp), rows zero-padded.
std::vector<float> transpose_dense(const Plan& plan) {
  const int H = plan.phi_dim, Hp = round_up(H, kLanes), C = plan.conv->out_channels, Lout = plan.conv->out_length;
  std::vector<float> t(size_t(Hp) * C * Lout, 0.f);
  for (int k = 0; k < H; ++k)
    for (int c = 0; c < C; ++c)
      for (int j = 0; j < Lout; ++j)
        t[(size_t(j) * C + c) * Hp + k] = plan.dense->weight[size_t(k) * C * Lout + size_t(c) * Lout + j];
  return t;
}

}  // namespace

Engine::Engine(Plan plan, Provider provider, int threads, bool incremental)
    : plan_(std::move(plan)),
      provider_(provider),
      threads_(provider == Provider::cuda ? 1 : threads),
      incremental_(incremental && provider == Provider::cpu && plan_.incremental()) {
  plan_.validate();
  if (threads < 1) throw std::invalid_argument("threads must be at least 1");
  if (incremental_ && plan_.dense) {
    dense_t_ = transpose_dense(plan_);
    return;
  }
  const std::string& model = incremental_ ? plan_.tail_model : plan_.phi_model;
  for (int t = 0; t < threads_; ++t) sessions_.push_back(make_session(model, provider));
}

std::string Engine::path() const {
  if (provider_ == Provider::cuda) return "full: ONNX Runtime on the GPU evaluates every proposal";
  if (!incremental_) return "full: ONNX Runtime evaluates every proposal";
  if (plan_.dense) return "incremental: conv + dense updated in the core";
  return "incremental: conv updated in the core, rest of the network in ONNX Runtime";
}

int Engine::block_size(int64_t total_chains) const {
  if (provider_ == Provider::cuda) return kGpuBlock;
  if (!sessions_.empty()) return kOrtBlock;
  int64_t blocks = std::max<int64_t>(threads_, (total_chains + kCoreBlockMax - 1) / kCoreBlockMax);
  return int(std::max<int64_t>(1, (total_chains + blocks - 1) / blocks));
}

std::unique_ptr<BlockEvaluator> Engine::make_block(int n, int thread) {
  if (!incremental_) return std::make_unique<OnehotBlock>(plan_, sessions_.at(thread), n);
  if (plan_.dense) return std::make_unique<ConvDenseBlock>(plan_, dense_t_, n);
  return std::make_unique<ConvTailBlock>(plan_, sessions_.at(thread), n);
}

}  // namespace seqmaxent
