#include "full_block.hpp"

#include <algorithm>

#include "ort_call.hpp"

namespace seqmaxent {

namespace {

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


}  // namespace

std::unique_ptr<BlockEvaluator> make_full_block(const Plan& plan, Ort::Session& session, int n) {
  return std::make_unique<OnehotBlock>(plan, session, n);
}

}  // namespace seqmaxent
