#include "plan.hpp"

#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <stdexcept>

namespace seqmaxent {

namespace fs = std::filesystem;

namespace {

const std::map<std::string, Step::Kind> kStepKinds = {
    {"relu", Step::Kind::relu},   {"leaky_relu", Step::Kind::leaky_relu}, {"sigmoid", Step::Kind::sigmoid},
    {"tanh", Step::Kind::tanh},   {"exp", Step::Kind::exp},               {"softplus", Step::Kind::softplus},
    {"elu", Step::Kind::elu},     {"erf", Step::Kind::erf},               {"silu", Step::Kind::silu},
    {"gelu", Step::Kind::gelu},   {"mish", Step::Kind::mish},             {"affine", Step::Kind::affine}};
const std::map<std::string, Node::Kind> kNodeKinds = {
    {"input", Node::Kind::input},       {"conv", Node::Kind::conv}, {"max_pool", Node::Kind::max_pool},
    {"avg_pool", Node::Kind::avg_pool}, {"add", Node::Kind::add},   {"dense", Node::Kind::dense}};

template <class Kind>
Kind kind_from(const std::map<std::string, Kind>& kinds, const std::string& name, const char* what) {
  auto it = kinds.find(name);
  if (it != kinds.end()) return it->second;
  std::string known;
  for (auto& [k, v] : kinds) known += (known.empty() ? "" : ", ") + k;
  throw std::invalid_argument(std::string("unknown ") + what + " '" + name + "' (" + known + ")");
}

template <class Kind>
std::string name_of(const std::map<std::string, Kind>& kinds, Kind kind) {
  for (auto& [k, v] : kinds)
    if (v == kind) return k;
  throw std::logic_error("unnamed kind");
}

}  // namespace

Step::Kind step_kind(const std::string& name) { return kind_from(kStepKinds, name, "elementwise op"); }
std::string step_name(Step::Kind kind) { return name_of(kStepKinds, kind); }
Node::Kind node_kind(const std::string& name) { return kind_from(kNodeKinds, name, "node kind"); }
std::string node_name(Node::Kind kind) { return name_of(kNodeKinds, kind); }

int64_t InputLayout::size() const {
  int64_t n = 1;
  for (auto d : shape) n *= d;
  return n;
}

namespace {

void check_edge(const std::vector<Node>& nodes, size_t consumer, const Edge& e, const std::string& what) {
  if (e.node < 0 || size_t(e.node) >= consumer) throw std::invalid_argument(what + ": reads a node that does not come before it");
  const Node& from = nodes[e.node];
  if (e.offset < 0 || e.length <= 0 || e.offset + e.length > from.length)
    throw std::invalid_argument(what + ": reads rows outside its input");
  for (const Step& s : e.map)
    if (s.kind == Step::Kind::affine && (s.scale.size() != size_t(from.channels) || s.shift.size() != size_t(from.channels)))
      throw std::invalid_argument(what + ": affine step needs one scale and shift per channel");
  if (from.kind == Node::Kind::input && !e.map.empty())
    throw std::invalid_argument(what + ": the one-hot input is read without elementwise steps");
}

void check_node(const std::vector<Node>& nodes, size_t k) {
  const Node& y = nodes[k];
  const std::string what = "plan node " + std::to_string(k) + " (" + node_name(y.kind) + (y.label.empty() ? "" : " " + y.label) + ")";
  if (y.kind == Node::Kind::input) throw std::invalid_argument(what + ": only node 0 is the input");
  if (y.channels <= 0 || y.length <= 0 || y.width <= 0 || y.stride <= 0 || y.dilation <= 0 || y.pad_left < 0)
    throw std::invalid_argument(what + ": sizes must be positive");
  const size_t n_inputs = y.kind == Node::Kind::add ? std::max<size_t>(y.inputs.size(), 2) : 1;
  if (y.inputs.size() != n_inputs) throw std::invalid_argument(what + ": wrong number of inputs");
  for (const Edge& e : y.inputs) check_edge(nodes, k, e, what);
  const Edge& in = y.inputs[0];
  const int Cin = nodes[in.node].channels;
  if (nodes[in.node].kind == Node::Kind::input && y.kind != Node::Kind::conv)
    throw std::invalid_argument(what + ": only a conv reads the one-hot input");
  switch (y.kind) {
    case Node::Kind::conv:
    case Node::Kind::max_pool:
    case Node::Kind::avg_pool: {
      if (y.kind == Node::Kind::conv) {
        if (y.weight.size() != size_t(y.channels) * Cin * y.width || y.bias.size() != size_t(y.channels))
          throw std::invalid_argument(what + ": weight or bias has the wrong size");
      } else if (Cin != y.channels || !y.weight.empty() || y.dilation != 1) {
        throw std::invalid_argument(what + ": pooling keeps the channels, has no weights and no dilation");
      }
      if (int64_t(y.length - 1) * y.stride - y.pad_left >= in.length + int64_t(y.width - 1) * y.dilation)
        throw std::invalid_argument(what + ": output length does not fit the input length");
      break;
    }
    case Node::Kind::add:
      for (const Edge& e : y.inputs)
        if (e.length != y.length || nodes[e.node].channels != y.channels)
          throw std::invalid_argument(what + ": summed inputs must have its rows and channels");
      break;
    case Node::Kind::dense:
      if (y.length != 1 || y.weight.size() != size_t(y.channels) * in.length * Cin || y.bias.size() != size_t(y.channels))
        throw std::invalid_argument(what + ": dense layer is one row, weight (channels, rows x channels in)");
      break;
    case Node::Kind::input:
      break;
  }
}

}  // namespace

void Plan::validate() const {
  if (length <= 0) throw std::invalid_argument("plan: sequence length must be positive");
  if (phi_dim <= 0) throw std::invalid_argument("plan: Phi must have at least one unit");
  if (input.size() != int64_t(length) * kBases) throw std::invalid_argument("plan: input layout does not hold L x 4 values");
  if (phi_model.empty()) throw std::invalid_argument("plan: no Phi model");
  if (nodes.empty()) return;
  if (nodes[0].kind != Node::Kind::input || nodes[0].channels != kBases || nodes[0].length != length || !nodes[0].inputs.empty())
    throw std::invalid_argument("plan: node 0 must be the one-hot input (4 channels, one row per position)");
  for (size_t k = 1; k < nodes.size(); ++k) check_node(nodes, k);
  check_edge(nodes, nodes.size(), output, "plan output");
  if (output.node == 0) throw std::invalid_argument("plan: the output must be a layer, not the input");
  const int64_t entries = int64_t(nodes[output.node].channels) * output.length;
  if (tail_model.empty()) {
    if (phi_index.size() != size_t(phi_dim)) throw std::invalid_argument("plan: phi_index needs one entry per Phi unit");
    for (int32_t e : phi_index)
      if (e < 0 || e >= entries) throw std::invalid_argument("plan: phi_index entry outside the output rows");
  } else {
    if (!output.map.empty() || output.offset != 0 || output.length != nodes[output.node].length)
      throw std::invalid_argument("plan: the tail takes a whole node, without steps");
    int64_t n = 1;
    for (auto d : tail_shape) n *= d;
    if (n != entries || tail_index.size() != size_t(n))
      throw std::invalid_argument("plan: the tail model does not take the output node's entries");
    std::vector<char> seen(size_t(n), 0);
    for (int32_t e : tail_index)
      if (e < 0 || e >= n || seen[e]++) throw std::invalid_argument("plan: tail_index must be a permutation");
  }
}

namespace {

void write_bytes(const fs::path& p, const void* data, size_t n) {
  std::ofstream f(p, std::ios::binary);
  f.write(static_cast<const char*>(data), std::streamsize(n));
  if (!f) throw std::runtime_error("cannot write " + p.string());
}

std::string read_bytes(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  if (!f) throw std::runtime_error("cannot read " + p.string());
  std::ostringstream s;
  s << f.rdbuf();
  return s.str();
}

template <class T>
void write_array(const fs::path& p, const std::vector<T>& v) { write_bytes(p, v.data(), v.size() * sizeof(T)); }

template <class T>
std::vector<T> read_array(const fs::path& p) {
  std::string b = read_bytes(p);
  std::vector<T> v(b.size() / sizeof(T));
  std::copy(b.begin(), b.begin() + std::ptrdiff_t(v.size() * sizeof(T)), reinterpret_cast<char*>(v.data()));
  return v;
}

template <class T>
std::string join(const std::vector<T>& v) {
  std::ostringstream s;
  for (size_t i = 0; i < v.size(); ++i) s << (i ? " " : "") << v[i];
  return s.str();
}

// An edge as "KEY NODE OFFSET LENGTH" and one "step KIND ALPHA" line per map step; affine arrays
// in STEM_stepK_{scale,shift}.f32.
void write_edge(std::ostream& t, const fs::path& d, const std::string& key, const std::string& stem, const Edge& e) {
  t << key << " " << e.node << " " << e.offset << " " << e.length << "\n";
  for (size_t k = 0; k < e.map.size(); ++k) {
    t << "step " << step_name(e.map[k].kind) << " " << e.map[k].alpha << "\n";
    if (e.map[k].kind != Step::Kind::affine) continue;
    write_array(d / (stem + "_step" + std::to_string(k) + "_scale.f32"), e.map[k].scale);
    write_array(d / (stem + "_step" + std::to_string(k) + "_shift.f32"), e.map[k].shift);
  }
}

std::string edge_stem(size_t node, size_t edge) { return "node" + std::to_string(node) + "_edge" + std::to_string(edge); }

}  // namespace

void save_plan(const PlanFolder& folder, const std::string& dir) {
  const Plan& plan = folder.plan;
  plan.validate();
  fs::path d(dir);
  fs::create_directories(d);
  std::ostringstream t;
  t << "seqmaxent-plan 3\n"
    << "length " << plan.length << "\nphi_dim " << plan.phi_dim << "\n"
    << "input_shape " << join(plan.input.shape) << "\n"
    << "input_strides " << plan.input.position_stride << " " << plan.input.base_stride << "\n";
  write_bytes(d / "phi.onnx", plan.phi_model.data(), plan.phi_model.size());
  write_array(d / "scale.f32", folder.scale);
  for (size_t k = 0; k < plan.nodes.size(); ++k) {
    const Node& y = plan.nodes[k];
    t << "node " << node_name(y.kind) << " " << y.channels << " " << y.length << " " << y.width << " " << y.stride << " "
      << y.dilation << " " << y.pad_left << " " << y.count_include_pad << " " << y.label << "\n";
    if (!y.weight.empty()) write_array(d / ("node" + std::to_string(k) + "_weight.f32"), y.weight);
    if (!y.bias.empty()) write_array(d / ("node" + std::to_string(k) + "_bias.f32"), y.bias);
    for (size_t e = 0; e < y.inputs.size(); ++e) write_edge(t, d, "edge", edge_stem(k, e), y.inputs[e]);
  }
  if (!plan.nodes.empty()) write_edge(t, d, "output", "output", plan.output);
  if (!plan.phi_index.empty()) write_array(d / "phi_index.i32", plan.phi_index);
  if (!plan.tail_model.empty()) {
    t << "tail_shape " << join(plan.tail_shape) << "\n";
    write_bytes(d / "tail.onnx", plan.tail_model.data(), plan.tail_model.size());
    write_array(d / "tail_index.i32", plan.tail_index);
  }
  std::string text = t.str();
  write_bytes(d / "plan.txt", text.data(), text.size());
}

PlanFolder load_plan(const std::string& dir) {
  fs::path d(dir);
  std::istringstream text(read_bytes(d / "plan.txt"));
  std::string line;
  if (!std::getline(text, line) || line != "seqmaxent-plan 3")
    throw std::runtime_error(dir + " is not a seqmaxent plan folder (version 3)");
  Plan p;
  Edge* edge = nullptr;  // the edge that step lines extend
  std::string stem;
  while (std::getline(text, line)) {
    std::istringstream ls(line);
    std::string key;
    ls >> key;
    auto ints = [&] {
      std::vector<int64_t> v;
      for (int64_t x; ls >> x;) v.push_back(x);
      return v;
    };
    if (key == "length") ls >> p.length;
    else if (key == "phi_dim") ls >> p.phi_dim;
    else if (key == "input_shape") p.input.shape = ints();
    else if (key == "input_strides") ls >> p.input.position_stride >> p.input.base_stride;
    else if (key == "tail_shape") p.tail_shape = ints();
    else if (key == "node") {
      std::string kind;
      Node y;
      ls >> kind >> y.channels >> y.length >> y.width >> y.stride >> y.dilation >> y.pad_left >> y.count_include_pad;
      std::getline(ls >> std::ws, y.label);
      y.kind = node_kind(kind);
      const std::string k = "node" + std::to_string(p.nodes.size());
      if (y.kind == Node::Kind::conv || y.kind == Node::Kind::dense) {  // the kind decides, not leftover files
        y.weight = read_array<float>(d / (k + "_weight.f32"));
        y.bias = read_array<float>(d / (k + "_bias.f32"));
      }
      p.nodes.push_back(std::move(y));
      edge = nullptr;
    } else if (key == "edge" || key == "output") {
      Edge e;
      ls >> e.node >> e.offset >> e.length;
      if (key == "output") {
        p.output = e;
        edge = &p.output;
        stem = "output";
      } else {
        if (p.nodes.empty()) throw std::runtime_error(dir + "/plan.txt: edge before any node");
        p.nodes.back().inputs.push_back(e);
        edge = &p.nodes.back().inputs.back();
        stem = edge_stem(p.nodes.size() - 1, p.nodes.back().inputs.size() - 1);
      }
    } else if (key == "step") {
      if (!edge) throw std::runtime_error(dir + "/plan.txt: step without an edge");
      std::string kind;
      Step s;
      ls >> kind >> s.alpha;
      s.kind = step_kind(kind);
      if (s.kind == Step::Kind::affine) {
        const std::string k = stem + "_step" + std::to_string(edge->map.size());
        s.scale = read_array<float>(d / (k + "_scale.f32"));
        s.shift = read_array<float>(d / (k + "_shift.f32"));
      }
      edge->map.push_back(std::move(s));
    } else if (!key.empty()) {
      throw std::runtime_error(dir + "/plan.txt: unknown entry '" + key + "'");
    }
  }
  p.phi_model = read_bytes(d / "phi.onnx");
  if (!p.tail_shape.empty()) {  // plan.txt decides, not leftover files
    p.tail_model = read_bytes(d / "tail.onnx");
    p.tail_index = read_array<int32_t>(d / "tail_index.i32");
  } else if (!p.nodes.empty()) {
    p.phi_index = read_array<int32_t>(d / "phi_index.i32");
  }
  p.validate();
  return {std::move(p), read_array<float>(d / "scale.f32")};
}

}  // namespace seqmaxent
