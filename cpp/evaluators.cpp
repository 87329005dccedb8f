#include "evaluators.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <optional>
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

int floor_div(int a, int b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }

// Elementwise ops over rows of channels, padded to `width` floats (affine padding is zero).
class Elementwise {
 public:
  Elementwise(const std::vector<Step>& steps, int width) : width_(width) {
    for (const Step& s : steps) {
      Op op{s.kind, s.alpha, std::vector<float>(width, 0.f), std::vector<float>(width, 0.f)};
      std::copy(s.scale.begin(), s.scale.end(), op.scale.begin());
      std::copy(s.shift.begin(), s.shift.end(), op.shift.begin());
      ops_.push_back(std::move(op));
    }
  }
  bool relu_only() const { return ops_.size() == 1 && ops_[0].kind == Step::Kind::relu; }
  bool identity() const { return ops_.empty(); }
  // out[0, width) = f(in[0, width)); out may be in.
  void apply(const float* in, float* out) const {
    if (in != out) std::copy_n(in, width_, out);
    for (const Op& op : ops_) {
      const int n = width_;
      switch (op.kind) {
        case Step::Kind::relu:
#pragma omp simd
          for (int c = 0; c < n; ++c) out[c] = out[c] > 0.f ? out[c] : 0.f;
          break;
        case Step::Kind::leaky_relu:
          for (int c = 0; c < n; ++c) out[c] = out[c] > 0.f ? out[c] : op.alpha * out[c];
          break;
        case Step::Kind::sigmoid:
          for (int c = 0; c < n; ++c) out[c] = 1.f / (1.f + std::exp(-out[c]));
          break;
        case Step::Kind::tanh:
          for (int c = 0; c < n; ++c) out[c] = std::tanh(out[c]);
          break;
        case Step::Kind::exp:
          for (int c = 0; c < n; ++c) out[c] = std::exp(out[c]);
          break;
        case Step::Kind::affine:
#pragma omp simd
          for (int c = 0; c < n; ++c) out[c] = op.scale[c] * out[c] + op.shift[c];
          break;
      }
    }
  }

 private:
  struct Op {
    Step::Kind kind;
    float alpha;
    std::vector<float> scale, shift;
  };
  int width_;
  std::vector<Op> ops_;
};

// d = f(now) - f(before) over a row of C channels (tmp: one padded row), packed to its nonzero
// entries; returns their count.
int delta_row(const Elementwise& f, const float* now, const float* before, int C, float* d, uint16_t* channel,
              float* tmp) {
  if (f.relu_only()) {
#pragma omp simd
    for (int c = 0; c < C; ++c) d[c] = (now[c] > 0.f ? now[c] : 0.f) - (before[c] > 0.f ? before[c] : 0.f);
  } else if (f.identity()) {
#pragma omp simd
    for (int c = 0; c < C; ++c) d[c] = now[c] - before[c];
  } else {
    f.apply(now, d);
    f.apply(before, tmp);
    for (int c = 0; c < C; ++c) d[c] -= tmp[c];
  }
  return compress_nonzero(d, channel, C);
}

// Outputs of a layer whose window reaches into input positions [a, b), as [first, last).
struct Reach {
  int first, last;
  bool empty() const { return first >= last; }
};
Reach reach(const Layer& y, int a, int b) {
  const int span = (y.width - 1) * y.dilation;
  int first = floor_div(a + y.pad_left - span + y.stride - 1, y.stride);
  int last = floor_div(b - 1 + y.pad_left, y.stride) + 1;
  return {std::max(first, 0), std::min(last, y.out_length)};
}

// The first convolution in a form for single-base updates: for each position, the outputs
// (output index, tap) whose window covers it, in increasing output order, and per tap the
// weight change of each base swap.
class FirstConv {
 public:
  FirstConv(const Layer& conv, int length) : conv_(conv), length_(length), first_(length + 1) {
    const int C = conv.out_channels, W = conv.width;
    delta_.resize(size_t(W) * 16 * C);
    for (int p = 0; p < length; ++p) {
      first_[p] = int(taps_.size());
      for (int t = W - 1; t >= 0; --t) {  // output index grows as the tap shrinks
        int q = p + conv.pad_left - t * conv.dilation;
        if (q >= 0 && q % conv.stride == 0 && q / conv.stride < conv.out_length) taps_.push_back({q / conv.stride, t});
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
    int out, tap;
  };
  const Tap* begin(int p) const { return taps_.data() + first_[p]; }
  const Tap* end(int p) const { return taps_.data() + first_[p + 1]; }
  Reach outputs(int p) const { return begin(p) == end(p) ? Reach{0, 0} : Reach{begin(p)->out, (end(p) - 1)->out + 1}; }
  // Change of output channel c (contiguous over c) for tap t when a base goes from a to b.
  const float* delta(int t, int a, int b) const { return delta_.data() + ((size_t(t) * 16) + a * 4 + b) * conv_.out_channels; }
  // Outputs (out_length rows of `row` floats, channels first in each) of one sequence.
  void compute(const uint8_t* codes, float* y, int row) const {
    const int C = conv_.out_channels;
    for (int j = 0; j < conv_.out_length; ++j) {
      float* yj = y + size_t(j) * row;
      std::fill_n(yj, row, 0.f);
      std::copy_n(conv_.bias.data(), C, yj);
      for (int t = 0; t < conv_.width; ++t) {
        int p = j * conv_.stride - conv_.pad_left + t * conv_.dilation;
        if (p < 0 || p >= length_ || codes[p] == kUnknown) continue;  // padding and N add nothing
        const int b = codes[p];
        for (int c = 0; c < C; ++c) yj[c] += weight(c, b, t);
      }
    }
  }

 private:
  float weight(int c, int b, int t) const { return conv_.weight[(size_t(c) * kBases + b) * conv_.width + t]; }
  const Layer& conv_;
  int length_;
  std::vector<Tap> taps_;
  std::vector<int> first_;
  std::vector<float> delta_;
};

}  // namespace

// The plan's layers prepared for the blocks (shared, read-only): rows padded to whole vectors,
// conv weights as (width, in, padded out) row blocks, and how many output rows of each layer a
// single mutation can change (at least 1, the size of its buffers).
struct Stack {
  struct Level {
    const Layer& layer;
    int C, Cp, window;  // channels, padded channels, most rows one mutation changes
    Elementwise after;
    std::vector<float> rows;  // conv after the first: weight as (width, in_channels, Cp)
  };
  Stack(const Plan& plan)
      : first(plan.layers[0], plan.length),
        H(plan.dense ? plan.dense->out_features : 0),
        Hp(round_up(H, kLanes)),
        dense_after(plan.dense ? plan.dense->after : std::vector<Step>{}, Hp) {
    for (const Layer& y : plan.layers) {
      const int Cp = round_up(y.out_channels, kLanes);
      Level level{y, y.out_channels, Cp, 1, Elementwise(y.after, Cp), {}};
      if (&y != &plan.layers[0] && y.kind == Layer::Kind::conv) {
        level.rows.assign(size_t(y.width) * y.in_channels * Cp, 0.f);
        for (int co = 0; co < y.out_channels; ++co)
          for (int ci = 0; ci < y.in_channels; ++ci)
            for (int t = 0; t < y.width; ++t)
              level.rows[(size_t(t) * y.in_channels + ci) * Cp + co] = y.weight[(size_t(co) * y.in_channels + ci) * y.width + t];
      }
      levels.push_back(std::move(level));
    }
    for (int p = 0; p < plan.length; ++p) {
      Reach r = first.outputs(p);
      for (size_t l = 0; l < levels.size() && !r.empty(); ++l) {
        if (l) r = reach(levels[l].layer, r.first, r.last);
        levels[l].window = std::max(levels[l].window, r.last - r.first);
      }
    }
    if (plan.dense) {
      // Dense weight (H, C * L) with flatten index c * L + j, as (L, C, Hp) rows, zero-padded.
      const Layer& last = plan.layers.back();
      const int C = last.out_channels, L = last.out_length;
      dense_rows.assign(size_t(Hp) * C * L, 0.f);
      for (int k = 0; k < H; ++k)
        for (int c = 0; c < C; ++c)
          for (int j = 0; j < L; ++j)
            dense_rows[(size_t(j) * C + c) * Hp + k] = plan.dense->weight[size_t(k) * C * L + size_t(c) * L + j];
      dense_bias.assign(Hp, 0.f);
      std::copy(plan.dense->bias.begin(), plan.dense->bias.end(), dense_bias.begin());
    }
  }
  FirstConv first;
  std::vector<Level> levels;
  int H, Hp;
  Elementwise dense_after;
  std::vector<float> dense_rows, dense_bias;
};

namespace {

// The layers in the core, updated in place per proposal: each layer recomputes only the output
// rows whose window reaches a changed input row (fastISM's idea), and rows that come out
// unchanged are trimmed from what the next layer sees. Convs after the first add their weights
// times the (sparse) changes of their input; pools recompute their changed windows. Old rows
// are saved and put back for rejected proposals. A dense layer after them is updated from the
// changes of its input only. The core's output (dense, or last layer) is Phi, or the input of
// the tail that ONNX Runtime runs.
//
// Layers run one after another over the whole block so that each layer's weights are read
// from cache for all chains. The dense update is ordered by input row j, so each block of
// dense weights (C x H) is read once per step and shared by every chain whose change reaches
// j. Each chain's own sums always run in the same order, so results do not depend on how
// chains are grouped into blocks.
class StackBlock final : public BlockEvaluator {
 public:
  StackBlock(const Plan& plan, const Stack& stack, Ort::Session* tail, int n)
      : n_(n), length_(plan.length), dense_(plan.dense.has_value()), stack_(stack), levels_(stack.levels.size()) {
    int rows = 0, widest = 0;
    for (size_t l = 0; l < levels_.size(); ++l) {
      const Stack::Level& s = stack.levels[l];
      State& st = levels_[l];
      st.y.assign(size_t(n) * s.layer.out_length * s.Cp, 0.f);
      st.saved.assign(size_t(n) * s.window * s.Cp, 0.f);
      st.range.assign(n, Range{});
      slot_ = std::max(slot_, s.window * s.Cp);
      window_ = std::max(window_, s.window);
      rows = std::max(rows, s.layer.out_length);
      widest = std::max(widest, s.Cp);
    }
    delta_.assign(size_t(n) * slot_, 0.f);
    channel_.assign(size_t(n) * slot_, 0);
    nonzero_.assign(size_t(n) * window_, 0);
    act_.assign(size_t(rows) * widest, 0.f);
    act_channel_.assign(size_t(rows) * widest, 0);
    act_nonzero_.assign(rows, 0);
    tmp_.assign(std::max(widest, stack.Hp), 0.f);
    phi_.assign(size_t(n) * plan.phi_dim, 0.f);
    const Layer& last = plan.layers.back();
    if (dense_) {
      h_.assign(size_t(n) * stack.Hp, 0.f);
      h_new_.assign(size_t(n) * stack.Hp, 0.f);
      by_row_.assign(size_t(n) * window_, 0);
      first_.assign(last.out_length + 1, 0);
    }
    if (tail) {
      x_tail_.assign(size_t(n) * (dense_ ? stack.H : last.out_channels * last.out_length), 0.f);
      call_.emplace(*tail, x_tail_.data(), plan.tail_shape, n, phi_.data(), plan.phi_dim);
    }
  }

  const float* reset(const uint8_t* codes) override {
    for (int i = 0; i < n_; ++i) {
      stack_.first.compute(codes + size_t(i) * length_, y(0, i), stack_.levels[0].Cp);
      for (size_t l = 1; l < levels_.size(); ++l) compute_layer(l, i);
      if (!dense_) {
        write_tail(i, 0, stack_.levels.back().layer.out_length);
      } else {
        float* h = h_.data() + size_t(i) * stack_.Hp;
        std::copy(stack_.dense_bias.begin(), stack_.dense_bias.end(), h);
        const size_t l = levels_.size() - 1;
        const Stack::Level& s = stack_.levels[l];
        activate_rows(l, i);
        for (int j = 0; j < s.layer.out_length; ++j)
          sparse_gemv(act_.data() + size_t(j) * s.Cp, act_channel_.data() + size_t(j) * s.Cp, act_nonzero_[j],
                      stack_.dense_rows.data() + size_t(j) * s.C * stack_.Hp, stack_.Hp, h, stack_.Hp);
        phi_out(i, h);
      }
    }
    if (call_) call_->run();
    return phi_.data();
  }

  const float* propose(const Mutation* m) override {
    for (int i = 0; i < n_; ++i) {
      if (i + 8 < n_) prefetch_first(i + 8, m[i + 8].position);
      propose_first(i, m[i]);
    }
    for (size_t l = 1; l < levels_.size(); ++l)
      for (int i = 0; i < n_; ++i) propose_layer(l, i);
    if (dense_) {
      propose_dense();
    } else {
      for (int i = 0; i < n_; ++i) write_tail(i, levels_.back().range[i].first, levels_.back().range[i].last);
    }
    if (call_) call_->run();
    return phi_.data();
  }

  void commit(const Mutation*, const uint8_t* accepted) override {
    for (int i = 0; i < n_; ++i) {
      if (accepted[i]) {
        if (dense_) std::copy_n(h_new_.data() + size_t(i) * stack_.Hp, stack_.Hp, h_.data() + size_t(i) * stack_.Hp);
        continue;
      }
      for (size_t l = 0; l < levels_.size(); ++l) {
        const Range& r = levels_[l].range[i];
        const int Cp = stack_.levels[l].Cp;
        std::copy_n(saved(l, i), size_t(r.end - r.base) * Cp, y(l, i) + size_t(r.base) * Cp);
      }
      if (!dense_) write_tail(i, levels_.back().range[i].first, levels_.back().range[i].last);
    }
  }

 private:
  // Rows [first, last) of a layer's output changed for the next layer; rows [base, end) were
  // saved (saved row k is row base + k), and delta slot k holds the change of row base + k.
  struct Range {
    int first = 0, last = 0, base = 0, end = 0;
  };
  struct State {
    std::vector<float> y, saved;
    std::vector<Range> range;
  };

  float* y(size_t l, int i) {
    const auto& s = stack_.levels[l];
    return levels_[l].y.data() + size_t(i) * s.layer.out_length * s.Cp;
  }
  float* saved(size_t l, int i) { return levels_[l].saved.data() + size_t(i) * stack_.levels[l].window * stack_.levels[l].Cp; }
  // Chain i's slot of row changes passed to the next layer: values, channels, count per row.
  float* delta(int i) { return delta_.data() + size_t(i) * slot_; }
  uint16_t* channels(int i) { return channel_.data() + size_t(i) * slot_; }
  int* nonzeros(int i) { return nonzero_.data() + size_t(i) * window_; }
  // Does the layer after l (or the dense layer) take the changes of layer l's rows?
  bool delta_consumer(size_t l) const {
    return l + 1 < levels_.size() ? stack_.levels[l + 1].layer.kind == Layer::Kind::conv : dense_;
  }

  void prefetch_first(int i, int p) {
    const Reach r = stack_.first.outputs(p);
    if (r.empty()) return;
    const int Cp = stack_.levels[0].Cp;
    const char* a = reinterpret_cast<const char*>(y(0, i) + size_t(r.first) * Cp);
    const char* b = reinterpret_cast<const char*>(y(0, i) + size_t(r.last) * Cp);
    for (; a < b; a += 64) __builtin_prefetch(a);
  }

  // First conv: add the weight change of each tap in place, saving the old rows, and (when
  // the next layer wants them) the activation changes.
  void propose_first(int i, const Mutation& m) {
    const Stack::Level& s = stack_.levels[0];
    const Reach r = stack_.first.outputs(m.position);
    Range& range = levels_[0].range[i];
    range = {r.first, r.last, r.first, r.last};
    const bool deltas = delta_consumer(0);
    float* rows = y(0, i);
    float* old = saved(0, i);
    float* d = delta(i);
    uint16_t* ch = channels(i);
    int* nnz = nonzeros(i);
    const FirstConv::Tap* tap = stack_.first.begin(m.position);
    for (int j = r.first, k = 0; j < r.last; ++j, ++k) {
      float* row = rows + size_t(j) * s.Cp;
      float* o = old + size_t(k) * s.Cp;
      if (tap->out != j) {  // a row between taps (stride or dilation): unchanged
        std::copy_n(row, s.Cp, o);
        if (deltas) nnz[k] = 0;
        continue;
      }
      const float* dw = stack_.first.delta(tap->tap, m.from, m.to);
      ++tap;
      float* dk = d + size_t(k) * s.Cp;
      if (deltas && s.after.relu_only()) {  // the common case in one pass
#pragma omp simd
        for (int c = 0; c < s.C; ++c) {  // (padded channels stay zero in rows and saved rows)
          const float before = row[c], now = before + dw[c];
          o[c] = before;
          row[c] = now;
          dk[c] = (now > 0.f ? now : 0.f) - (before > 0.f ? before : 0.f);
        }
        nnz[k] = compress_nonzero(dk, ch + size_t(k) * s.Cp, s.C);
        continue;
      }
      std::copy_n(row, s.Cp, o);
#pragma omp simd
      for (int c = 0; c < s.C; ++c) row[c] += dw[c];
      if (deltas) nnz[k] = delta_row(s.after, row, o, s.C, dk, ch + size_t(k) * s.Cp, tmp_.data());
    }
    if (deltas) trim_by_deltas(0, i); else trim_unchanged(0, i);
  }

  // Layer l >= 1 for chain i, from the changed rows of layer l - 1.
  void propose_layer(size_t l, int i) {
    const Stack::Level& s = stack_.levels[l];
    const Stack::Level& in = stack_.levels[l - 1];
    const Range& from = levels_[l - 1].range[i];
    Range& range = levels_[l].range[i];
    const Reach r = from.first < from.last ? reach(s.layer, from.first, from.last) : Reach{0, 0};
    range = {r.first, std::max(r.first, r.last), r.first, std::max(r.first, r.last)};
    if (r.empty()) return;
    float* rows = y(l, i);
    std::copy_n(rows + size_t(r.first) * s.Cp, size_t(r.last - r.first) * s.Cp, saved(l, i));
    if (s.layer.kind == Layer::Kind::conv) {
      // Input row q's change reaches output j = (q + pad - t * dilation) / stride through tap t.
      const float* d = delta(i);
      const uint16_t* ch = channels(i);
      const int* nnz = nonzeros(i);
      for (int q = from.first; q < from.last; ++q) {
        const int k = q - from.base;
        if (!nnz[k]) continue;
        for (int t = 0; t < s.layer.width; ++t) {
          const int a = q + s.layer.pad_left - t * s.layer.dilation;
          if (a < 0 || a % s.layer.stride) continue;
          const int j = a / s.layer.stride;
          if (j >= s.layer.out_length) continue;
          sparse_gemv(d + size_t(k) * in.Cp, ch + size_t(k) * in.Cp, nnz[k],
                      s.rows.data() + size_t(t) * s.layer.in_channels * s.Cp, s.Cp, rows + size_t(j) * s.Cp, s.Cp);
        }
      }
    } else {
      for (int j = r.first; j < r.last; ++j) pool_row(l, i, j);
    }
    if (delta_consumer(l)) {
      float* d = delta(i);
      uint16_t* ch = channels(i);
      int* nnz = nonzeros(i);
      const float* old = saved(l, i);
      for (int j = r.first, k = 0; j < r.last; ++j, ++k)
        nnz[k] = delta_row(s.after, rows + size_t(j) * s.Cp, old + size_t(k) * s.Cp, s.C, d + size_t(k) * s.Cp,
                           ch + size_t(k) * s.Cp, tmp_.data());
      trim_by_deltas(l, i);
    } else {
      trim_unchanged(l, i);
    }
  }

  // Narrow a range to its first and last rows with a nonzero change (empty if none).
  void trim_by_deltas(size_t l, int i) {
    Range& r = levels_[l].range[i];
    const int* nnz = nonzeros(i);
    while (r.first < r.last && !nnz[r.first - r.base]) ++r.first;
    while (r.last > r.first && !nnz[r.last - 1 - r.base]) --r.last;
  }
  // Narrow a range to its first and last rows that differ from the saved ones.
  void trim_unchanged(size_t l, int i) {
    Range& r = levels_[l].range[i];
    const int Cp = stack_.levels[l].Cp;
    const float* rows = y(l, i);
    const float* old = saved(l, i);
    auto same = [&](int j) { return std::memcmp(rows + size_t(j) * Cp, old + size_t(j - r.base) * Cp, Cp * sizeof(float)) == 0; };
    while (r.first < r.last && same(r.first)) ++r.first;
    while (r.last > r.first && same(r.last - 1)) --r.last;
  }

  // Output row j of pooling layer l for chain i, from the activated rows of layer l - 1.
  void pool_row(size_t l, int i, int j) {
    const Stack::Level& s = stack_.levels[l];
    const Stack::Level& in = stack_.levels[l - 1];
    const Layer& pool = s.layer;
    const float* src = y(l - 1, i);
    float* out = y(l, i) + size_t(j) * s.Cp;
    const bool max = pool.kind == Layer::Kind::max_pool;
    std::fill_n(out, s.Cp, max ? -std::numeric_limits<float>::infinity() : 0.f);
    int present = 0;
    for (int t = 0; t < pool.width; ++t) {
      const int q = j * pool.stride - pool.pad_left + t;
      if (q < 0 || q >= pool.in_length) continue;
      ++present;
      in.after.apply(src + size_t(q) * in.Cp, tmp_.data());
      if (max) {
#pragma omp simd
        for (int c = 0; c < s.Cp; ++c) out[c] = std::max(out[c], tmp_[c]);
      } else {
#pragma omp simd
        for (int c = 0; c < s.Cp; ++c) out[c] += tmp_[c];
      }
    }
    if (!max) {
      const float scale = 1.f / float(pool.count_include_pad ? pool.width : std::max(present, 1));
      for (int c = 0; c < s.Cp; ++c) out[c] *= scale;
    }
    for (int c = s.C; c < s.Cp; ++c) out[c] = 0.f;
  }

  // Activated, nonzero-packed rows of layer l's output for chain i, into act_.
  void activate_rows(size_t l, int i) {
    const Stack::Level& s = stack_.levels[l];
    const float* rows = y(l, i);
    for (int q = 0; q < s.layer.out_length; ++q) {
      float* a = act_.data() + size_t(q) * s.Cp;
      s.after.apply(rows + size_t(q) * s.Cp, a);
      act_nonzero_[q] = compress_nonzero(a, act_channel_.data() + size_t(q) * s.Cp, s.C);
    }
  }

  // Layer l >= 1 of chain i computed in full (a conv sums rows in the order of its updates' taps).
  void compute_layer(size_t l, int i) {
    const Stack::Level& s = stack_.levels[l];
    float* rows = y(l, i);
    if (s.layer.kind != Layer::Kind::conv) {
      for (int j = 0; j < s.layer.out_length; ++j) pool_row(l, i, j);
      return;
    }
    const Stack::Level& in = stack_.levels[l - 1];
    activate_rows(l - 1, i);
    for (int j = 0; j < s.layer.out_length; ++j) {
      float* row = rows + size_t(j) * s.Cp;
      std::fill_n(row, s.Cp, 0.f);
      std::copy(s.layer.bias.begin(), s.layer.bias.end(), row);
      for (int t = 0; t < s.layer.width; ++t) {
        const int q = j * s.layer.stride - s.layer.pad_left + t * s.layer.dilation;
        if (q < 0 || q >= s.layer.in_length) continue;
        sparse_gemv(act_.data() + size_t(q) * in.Cp, act_channel_.data() + size_t(q) * in.Cp, act_nonzero_[q],
                    s.rows.data() + size_t(t) * s.layer.in_channels * s.Cp, s.Cp, row, s.Cp);
      }
    }
  }

  // The tail model's input (channels x length, as in the graph) of chain i, rows [a, b).
  void write_tail(int i, int a, int b) {
    const Stack::Level& s = stack_.levels.back();
    const int L = s.layer.out_length;
    float* x = x_tail_.data() + size_t(i) * s.C * L;
    const float* rows = y(levels_.size() - 1, i);
    for (int j = a; j < b; ++j) {
      s.after.apply(rows + size_t(j) * s.Cp, tmp_.data());
      for (int c = 0; c < s.C; ++c) x[size_t(c) * L + j] = tmp_[c];
    }
  }

  // Dense pre-activations moved by each chain's changed rows, one input row j at a time.
  void propose_dense() {
    const size_t l = levels_.size() - 1;
    const Stack::Level& s = stack_.levels[l];
    const int Hp = stack_.Hp;
    std::fill(first_.begin(), first_.end(), 0);
    for (int i = 0; i < n_; ++i) {
      std::copy_n(h_.data() + size_t(i) * Hp, Hp, h_new_.data() + size_t(i) * Hp);
      const Range& r = levels_[l].range[i];
      for (int j = r.first; j < r.last; ++j) ++first_[j + 1];
    }
    for (int j = 0; j < s.layer.out_length; ++j) first_[j + 1] += first_[j];
    for (int i = 0; i < n_; ++i) {
      const Range& r = levels_[l].range[i];
      for (int j = r.first; j < r.last; ++j) by_row_[first_[j]++] = i * window_ + (j - r.base);
    }
    for (int j = 0, begin = 0; j < s.layer.out_length; begin = first_[j++]) {
      const float* wj = stack_.dense_rows.data() + size_t(j) * s.C * Hp;
      for (int e = begin; e < first_[j]; ++e) {
        const int i = by_row_[e] / window_, k = by_row_[e] % window_, nnz = nonzeros(i)[k];
        if (nnz)
          sparse_gemv(delta(i) + size_t(k) * s.Cp, channels(i) + size_t(k) * s.Cp, nnz, wj, Hp,
                      h_new_.data() + size_t(i) * Hp, Hp);
      }
    }
    for (int i = 0; i < n_; ++i) phi_out(i, h_new_.data() + size_t(i) * Hp);
  }

  // The dense layer's output: Phi, or the tail model's input.
  void phi_out(int i, const float* h) {
    stack_.dense_after.apply(h, tmp_.data());
    std::copy_n(tmp_.data(), stack_.H, (call_ ? x_tail_.data() : phi_.data()) + size_t(i) * stack_.H);
  }

  int n_, length_;
  bool dense_;
  const Stack& stack_;
  std::vector<State> levels_;
  int window_ = 1;                  // rows per chain any layer can change
  int slot_ = 0;                    // floats per chain in delta_ and channel_
  std::vector<float> delta_;        // per chain: nonzero-packed changes of the rows a layer passes on
  std::vector<uint16_t> channel_;   // their channels
  std::vector<int> nonzero_;        // their count per row
  std::vector<float> act_;          // one chain's activated rows (full recomputation)
  std::vector<uint16_t> act_channel_;
  std::vector<int> act_nonzero_;
  std::vector<float> tmp_, phi_;
  std::vector<float> h_, h_new_;    // dense pre-activations, padded
  std::vector<int> by_row_, first_;  // (chain, row) entries bucketed by dense input row
  std::vector<float> x_tail_;
  std::optional<OrtCall> call_;
};

}  // namespace

Engine::Engine(Plan plan, Provider provider, int threads, bool incremental)
    : plan_(std::move(plan)),
      provider_(provider),
      threads_(provider == Provider::cuda ? 1 : threads),
      incremental_(incremental && provider == Provider::cpu && plan_.incremental()) {
  plan_.validate();
  if (threads < 1) throw std::invalid_argument("threads must be at least 1");
  if (incremental_) stack_ = std::make_shared<const Stack>(plan_);
  if (incremental_ && plan_.tail_model.empty()) return;
  const std::string& model = incremental_ ? plan_.tail_model : plan_.phi_model;
  for (int t = 0; t < threads_; ++t) sessions_.push_back(make_session(model, provider));
}

std::string Engine::path() const {
  if (provider_ == Provider::cuda) return "full: ONNX Runtime on the GPU evaluates every proposal";
  if (!incremental_) return "full: ONNX Runtime evaluates every proposal";
  std::string layers;
  for (const Layer& y : plan_.layers) {
    layers += (layers.empty() ? "" : ", ") + layer_name(y.kind) + " " + std::to_string(y.width);
    for (const Step& s : y.after) layers += "+" + step_name(s.kind);
  }
  if (plan_.dense) layers += ", dense";
  if (plan_.tail_model.empty()) return "incremental: " + layers + " updated in the core";
  return "incremental: " + layers + " updated in the core, rest of the network in ONNX Runtime";
}

int Engine::block_size(int64_t total_chains, int group) const {
  auto whole = [group](int64_t n) { return int((std::max<int64_t>(n, 1) + group - 1) / group * group); };
  if (provider_ == Provider::cuda) return whole(kGpuBlock);
  if (!sessions_.empty()) return whole(kOrtBlock);
  int64_t blocks = std::max<int64_t>(threads_, (total_chains + kCoreBlockMax - 1) / kCoreBlockMax);
  return whole((total_chains + blocks - 1) / blocks);
}

std::unique_ptr<BlockEvaluator> Engine::make_block(int n, int thread) {
  if (!incremental_) return std::make_unique<OnehotBlock>(plan_, sessions_.at(thread), n);
  return std::make_unique<StackBlock>(plan_, *stack_, sessions_.empty() ? nullptr : &sessions_.at(thread), n);
}

}  // namespace seqmaxent
