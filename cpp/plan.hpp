// What the sampler core knows about a network: the ONNX model that computes Phi from a
// one-hot batch, and, when the network starts with a convolution on the one-hot input, the
// stack of conv / pool / elementwise layers from there on (and the dense layer that may end
// it) in a form the core updates incrementally.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace seqmaxent {

constexpr int kBases = 4;
constexpr uint8_t kUnknown = 4;  // code of N: an all-zero one-hot row, never mutated

// One elementwise op; affine is a per-channel scale and shift (BatchNorm, Mul/Add by constants).
struct Step {
  enum class Kind { relu, leaky_relu, sigmoid, tanh, exp, affine } kind = Kind::relu;
  float alpha = 0.f;                // leaky_relu slope
  std::vector<float> scale, shift;  // affine, one per channel
};
Step::Kind step_kind(const std::string& name);
std::string step_name(Step::Kind kind);

// Where base b of position p of one sequence sits in the model's input tensor.
struct InputLayout {
  std::vector<int64_t> shape;  // per-sequence shape (no batch axis): {L,4}, {4,L} or {1,L,4}
  int64_t position_stride = 4;
  int64_t base_stride = 1;
  int64_t size() const;
};

// A 1-D convolution or pooling over positions, then elementwise ops. Output position j reads
// input positions j * stride - pad_left + t * dilation for t < width; positions outside
// [0, in_length) are padding (zero for conv, skipped for max pool, counted or not by avg pool).
struct Layer {
  enum class Kind { conv, max_pool, avg_pool } kind = Kind::conv;
  int in_channels = 0, out_channels = 0, width = 1, stride = 1, dilation = 1, pad_left = 0;
  int in_length = 0, out_length = 0;
  bool count_include_pad = false;  // avg pool: divide by width rather than by the inputs present
  std::vector<float> weight;       // conv: (out_channels, in_channels, width)
  std::vector<float> bias;         // conv: (out_channels)
  std::vector<Step> after;         // elementwise ops applied to the output, in order
  void validate() const;
};
Layer::Kind layer_kind(const std::string& name);
std::string layer_name(Layer::Kind kind);

// after(weight . flatten(x) + bias), flatten index c * length + j of the last layer's output x.
struct DenseLayer {
  int out_features = 0;
  std::vector<float> weight;  // (out_features, channels * length)
  std::vector<float> bias;    // (out_features)
  std::vector<Step> after;
};

struct Plan {
  int length = 0;
  int phi_dim = 0;
  InputLayout input;
  std::string phi_model;            // ONNX bytes: one-hot batch -> Phi
  std::vector<Layer> layers;        // starts with a conv on the one-hot input (4 channels); empty: none
  std::optional<DenseLayer> dense;  // after the layers
  std::string tail_model;           // ONNX bytes: the core's output (dense, or last layer) -> Phi; empty: it is Phi
  std::vector<int64_t> tail_shape;  // per-sequence shape of the tail model's input

  void validate() const;
  bool incremental() const { return !layers.empty(); }
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
