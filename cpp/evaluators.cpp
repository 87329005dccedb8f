#include "evaluators.hpp"

#include <algorithm>
#include <cstring>
#include <stdexcept>

namespace seqmaxent {

namespace {

constexpr int kOrtBlock = 16;       // chains per ONNX Runtime batch on the CPU
constexpr int kGpuBlock = 2048;     // chains per batch on a GPU
constexpr int kCoreBlockMax = 256;  // chains per block on the core-only path

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
      for (int p = 0; p < length_; ++p) at(i, p, codes[size_t(i) * length_ + p]) = 1.f;
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
        if (p < 0 || p >= length_) continue;
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
// mutated position change, and the dense pre-activation moves by their activation change
// times the matching weight columns. Chains proposing the same position are processed
// together so each weight column is read once per step for all of them; each chain's own
// sums always run in the same order, so results do not depend on how chains are grouped.
class ConvDenseBlock final : public BlockEvaluator {
 public:
  ConvDenseBlock(const Plan& plan, const std::vector<float>& dense_t, int n)
      : n_(n),
        length_(plan.length),
        C_(plan.conv->out_channels),
        Lout_(plan.conv->out_length),
        H_(plan.phi_dim),
        conv_(*plan.conv, plan.length),
        max_taps_(conv_.max_taps()),
        dense_(*plan.dense),
        wt_(dense_t),
        z_(size_t(n) * Lout_ * C_),
        h_(size_t(n) * H_),
        z_new_(size_t(n) * max_taps_ * C_),
        da_(size_t(n) * max_taps_ * C_),
        h_new_(size_t(n) * H_),
        phi_(size_t(n) * H_),
        order_(n),
        count_(length_ + 1) {}

  const float* reset(const uint8_t* codes) override {
    for (int i = 0; i < n_; ++i) {
      float* z = z_.data() + size_t(i) * Lout_ * C_;
      float* h = h_.data() + size_t(i) * H_;
      conv_.compute(codes + size_t(i) * length_, z);
      std::copy(dense_.bias.begin(), dense_.bias.end(), h);
      for (int jc = 0; jc < Lout_ * C_; ++jc) axpy(activate(dense_.input_activation, z[jc]), wt_.data() + size_t(jc) * H_, h);
      activate_out(i, h);
    }
    return phi_.data();
  }

  const float* propose(const Mutation* m) override {
    const Activation act = dense_.input_activation;
    // Counting sort of the chains by proposed position.
    std::fill(count_.begin(), count_.end(), 0);
    for (int i = 0; i < n_; ++i) ++count_[m[i].position + 1];
    for (int p = 0; p < length_; ++p) count_[p + 1] += count_[p];
    for (int i = 0; i < n_; ++i) order_[count_[m[i].position]++] = i;
    // New conv outputs and their activation changes, per chain.
    for (int i = 0; i < n_; ++i) {
      const float* z = z_.data() + size_t(i) * Lout_ * C_;
      float* zn = z_new_.data() + size_t(i) * max_taps_ * C_;
      float* da = da_.data() + size_t(i) * max_taps_ * C_;
      for (auto* tp = conv_.taps_begin(m[i].position); tp != conv_.taps_end(m[i].position); ++tp, zn += C_, da += C_) {
        const float* dw = conv_.delta(tp->tap, m[i].from, m[i].to);
        const float* zo = z + size_t(tp->out) * C_;
        for (int c = 0; c < C_; ++c) {
          zn[c] = zo[c] + dw[c];
          da[c] = activate(act, zn[c]) - activate(act, zo[c]);
        }
      }
      std::copy_n(h_.data() + size_t(i) * H_, H_, h_new_.data() + size_t(i) * H_);
    }
    // Dense update, one group of chains with the same position at a time.
    for (int g = 0; g < n_;) {
      const int p = m[order_[g]].position;
      int end = g;
      while (end < n_ && m[order_[end]].position == p) ++end;
      int k = 0;
      for (auto* tp = conv_.taps_begin(p); tp != conv_.taps_end(p); ++tp, ++k)
        for (int c = 0; c < C_; ++c) {
          const float* w = wt_.data() + (size_t(tp->out) * C_ + c) * H_;
          for (int q = g; q < end; ++q) {
            const int i = order_[q];
            const float da = da_[(size_t(i) * max_taps_ + k) * C_ + c];
            if (da != 0.f) axpy(da, w, h_new_.data() + size_t(i) * H_);
          }
        }
      g = end;
    }
    for (int i = 0; i < n_; ++i) activate_out(i, h_new_.data() + size_t(i) * H_);
    return phi_.data();
  }

  void commit(const Mutation* m, const uint8_t* accepted) override {
    for (int i = 0; i < n_; ++i) {
      if (!accepted[i]) continue;
      float* z = z_.data() + size_t(i) * Lout_ * C_;
      const float* zn = z_new_.data() + size_t(i) * max_taps_ * C_;
      for (auto* tp = conv_.taps_begin(m[i].position); tp != conv_.taps_end(m[i].position); ++tp, zn += C_)
        std::copy_n(zn, C_, z + size_t(tp->out) * C_);
      std::copy_n(h_new_.data() + size_t(i) * H_, H_, h_.data() + size_t(i) * H_);
    }
  }

 private:
  void axpy(float a, const float* __restrict w, float* __restrict y) const {
#pragma omp simd
    for (int k = 0; k < H_; ++k) y[k] += a * w[k];
  }
  void activate_out(int i, const float* h) {
    float* phi = phi_.data() + size_t(i) * H_;
    for (int k = 0; k < H_; ++k) phi[k] = activate(dense_.activation, h[k]);
  }

  int n_, length_, C_, Lout_, H_;
  ConvUpdates conv_;
  int max_taps_;
  const DenseLayer& dense_;
  const std::vector<float>& wt_;  // dense weight as (out_length, C, H)
  std::vector<float> z_, h_, z_new_, da_, h_new_, phi_;
  std::vector<int> order_, count_;
};

// Dense weight (H, C * Lout) with flatten index c * Lout + j, as (Lout, C, H).
std::vector<float> transpose_dense(const Plan& plan) {
  const int H = plan.phi_dim, C = plan.conv->out_channels, Lout = plan.conv->out_length;
  std::vector<float> t(size_t(H) * C * Lout);
  for (int k = 0; k < H; ++k)
    for (int c = 0; c < C; ++c)
      for (int j = 0; j < Lout; ++j)
        t[(size_t(j) * C + c) * H + k] = plan.dense->weight[size_t(k) * C * Lout + size_t(c) * Lout + j];
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
