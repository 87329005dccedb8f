// What the sampler core knows about a network: the ONNX model that computes Phi from a
// one-hot batch, and, when the network starts with a convolution on the one-hot input,
// that convolution (and the dense layer after it) in a form the core updates incrementally.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace seqmaxent {

constexpr int kBases = 4;
constexpr uint8_t kUnknown = 4;  // code of N: an all-zero one-hot row, never mutated

enum class Activation { identity, relu };

inline float activate(Activation a, float x) { return a == Activation::relu ? (x > 0.f ? x : 0.f) : x; }
Activation activation_from_name(const std::string& name);
std::string activation_name(Activation a);

// Where base b of position p of one sequence sits in the model's input tensor.
struct InputLayout {
  std::vector<int64_t> shape;  // per-sequence shape (no batch axis): {L,4}, {4,L} or {1,L,4}
  int64_t position_stride = 4;
  int64_t base_stride = 1;
  int64_t size() const;
};

// The first convolution, as an equivalent 1-D convolution over positions with one input
// channel per base: z[c, j] = bias[c] + sum_t weight[c, x[j*stride - pad_left + t*dilation], t].
struct ConvLayer {
  int out_channels = 0, width = 0, stride = 1, dilation = 1, pad_left = 0, out_length = 0;
  std::vector<float> weight;             // (out_channels, 4, width)
  std::vector<float> bias;               // (out_channels)
  std::vector<int64_t> tensor_shape;     // per-sequence shape of the conv output in the graph
  void validate(int length) const;
};

// Phi = activation(weight . flatten(input_activation(z)) + bias), flatten index c * out_length + j.
struct DenseLayer {
  int out_features = 0;
  std::vector<float> weight;  // (out_features, out_channels * out_length)
  std::vector<float> bias;    // (out_features)
  Activation input_activation = Activation::identity;
  Activation activation = Activation::identity;
};

struct Plan {
  int length = 0;
  int phi_dim = 0;
  InputLayout input;
  std::string phi_model;            // ONNX bytes: one-hot batch -> Phi
  std::optional<ConvLayer> conv;
  std::optional<DenseLayer> dense;  // with conv: the whole path to Phi runs in the core
  std::string tail_model;           // with conv and no dense: ONNX bytes, conv output -> Phi

  void validate() const;
  bool incremental() const { return conv.has_value(); }
};

// A plan folder for the benchmark binary: plan.txt, raw little-endian float32 arrays, ONNX
// files, and the distance weights s of one choice of output units.
struct PlanFolder {
  Plan plan;
  std::vector<float> scale;
};
void save_plan(const PlanFolder& folder, const std::string& dir);
PlanFolder load_plan(const std::string& dir);

}  // namespace seqmaxent
