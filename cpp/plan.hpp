// What the sampler core knows about a network: the ONNX model that computes Phi from a one-hot
// batch, and, when the network starts with a convolution on the one-hot input, the graph of
// layers from there on in a form the core updates incrementally.
//
// Every node of that graph outputs rows (positions) of channels. A consumer reads a window of
// its producer's rows through elementwise steps (ReLU, BatchNorm...): an Edge. Nodes are convs
// and pools over positions, sums of several edges (residual and skip connections), and dense
// layers (one row out). Phi is a list of (row, channel) entries of one edge, or, when the core
// stops before Phi, the tail model (ONNX Runtime) computes Phi from one node's rows.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace seqmaxent {

constexpr int kBases = 4;
constexpr uint8_t kUnknown = 4;  // code of N: an all-zero one-hot row, never mutated

// One elementwise op; affine is a per-channel scale and shift (BatchNorm, Mul/Add by constants).
// silu x * sigmoid(alpha x), gelu x * (1 + erf(x / sqrt 2)) / 2, mish x * tanh(softplus(x)).
struct Step {
  enum class Kind { relu, leaky_relu, sigmoid, tanh, exp, softplus, elu, erf, silu, gelu, mish, affine } kind = Kind::relu;
  float alpha = 0.f;                // leaky_relu slope, elu scale, silu's beta
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

// Rows [offset, offset + length) of node `node`, seen by a consumer as its rows [0, length),
// each through `map`.
struct Edge {
  int node = 0;
  int offset = 0, length = 0;
  std::vector<Step> map;
};

// input: the one-hot sequence (4 channels, one row per position). conv, max_pool, avg_pool:
// output row j reads input rows j * stride - pad_left + t * dilation for t < width; rows outside
// [0, input length) are padding (zero for conv, skipped for max pool, counted or not by avg pool).
// add: the sum of its inputs, row by row. dense: one row, weight . (input rows, flattened row by
// row) + bias.
struct Node {
  enum class Kind { input, conv, max_pool, avg_pool, add, dense } kind = Kind::input;
  std::vector<Edge> inputs;
  int channels = 0, length = 0;  // output rows x channels
  int width = 1, stride = 1, dilation = 1, pad_left = 0;
  bool count_include_pad = false;  // avg pool: divide by width rather than by the inputs present
  std::vector<float> weight;       // conv: (channels, in channels, width); dense: (channels, in rows * in channels)
  std::vector<float> bias;         // conv, dense: (channels)
  std::string label;               // the ONNX node it came from, for messages
};
Node::Kind node_kind(const std::string& name);
std::string node_name(Node::Kind kind);

struct Plan {
  int length = 0;
  int phi_dim = 0;
  InputLayout input;
  std::string phi_model;         // ONNX bytes: one-hot batch -> Phi (n, phi_dim)
  std::vector<Node> nodes;       // topological order, nodes[0] the input; empty: no incremental path
  Edge output;                   // the edge Phi is read from
  std::vector<int32_t> phi_index;  // without a tail: Phi unit k is entry row * channels + channel of `output`
  std::string tail_model;        // ONNX bytes: node output.node (its rows, in the order tail_index) -> Phi
  std::vector<int32_t> tail_index;  // tail input element e is entry row * channels + channel of that node
  std::vector<int64_t> tail_shape;  // per-sequence shape of the tail model's input
  // The resident path (resident.hpp): ONNX bytes of the Metropolis step, codes and copy models
  // (empty: none), of the model that fills the steps' caches (empty: they keep none) and of the
  // heat-bath step (empty: none), what the steps compute in words, and the bytes of device memory
  // one chain needs (state and activations).
  std::string step_model, codes_model, copy_model, init_model, heat_bath_model, step_path;
  int64_t resident_chain_bytes = 0;

  void validate() const;
  bool incremental() const { return !nodes.empty(); }
};

// A plan folder for the benchmark binary: plan.txt, raw little-endian arrays, ONNX files, and
// the distance weights s of one choice of output units and positions.
struct PlanFolder {
  Plan plan;
  std::vector<float> scale;
};
void save_plan(const PlanFolder& folder, const std::string& dir);
PlanFolder load_plan(const std::string& dir);

}  // namespace seqmaxent
