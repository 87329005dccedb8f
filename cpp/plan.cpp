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
    {"relu", Step::Kind::relu}, {"leaky_relu", Step::Kind::leaky_relu}, {"sigmoid", Step::Kind::sigmoid},
    {"tanh", Step::Kind::tanh}, {"exp", Step::Kind::exp},               {"affine", Step::Kind::affine}};
const std::map<std::string, Layer::Kind> kLayerKinds = {
    {"conv", Layer::Kind::conv}, {"max_pool", Layer::Kind::max_pool}, {"avg_pool", Layer::Kind::avg_pool}};

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

void validate_steps(const std::vector<Step>& steps, int channels, const std::string& where) {
  for (const Step& s : steps)
    if (s.kind == Step::Kind::affine && (s.scale.size() != size_t(channels) || s.shift.size() != size_t(channels)))
      throw std::invalid_argument(where + ": affine step needs one scale and shift per channel");
}

}  // namespace

Step::Kind step_kind(const std::string& name) { return kind_from(kStepKinds, name, "elementwise op"); }
std::string step_name(Step::Kind kind) { return name_of(kStepKinds, kind); }
Layer::Kind layer_kind(const std::string& name) { return kind_from(kLayerKinds, name, "layer kind"); }
std::string layer_name(Layer::Kind kind) { return name_of(kLayerKinds, kind); }

int64_t InputLayout::size() const {
  int64_t n = 1;
  for (auto d : shape) n *= d;
  return n;
}

void Layer::validate() const {
  const std::string what = layer_name(kind) + " layer";
  if (in_channels <= 0 || out_channels <= 0 || width <= 0 || stride <= 0 || dilation <= 0 || in_length <= 0 ||
      out_length <= 0 || pad_left < 0)
    throw std::invalid_argument(what + ": sizes must be positive");
  if (kind == Kind::conv) {
    if (weight.size() != size_t(out_channels) * in_channels * width || bias.size() != size_t(out_channels))
      throw std::invalid_argument(what + ": weight or bias has the wrong size");
  } else if (in_channels != out_channels || !weight.empty() || dilation != 1) {
    throw std::invalid_argument(what + ": pooling keeps the channels, has no weights and no dilation");
  }
  if (int64_t(out_length - 1) * stride - pad_left >= in_length + int64_t(width - 1) * dilation)
    throw std::invalid_argument(what + ": output length does not fit the input length");
  validate_steps(after, out_channels, what);
}

void Plan::validate() const {
  if (length <= 0) throw std::invalid_argument("plan: sequence length must be positive");
  if (phi_dim <= 0) throw std::invalid_argument("plan: Phi must have at least one unit");
  if (input.size() != int64_t(length) * kBases) throw std::invalid_argument("plan: input layout does not hold L x 4 values");
  if (phi_model.empty()) throw std::invalid_argument("plan: no Phi model");
  if (dense && layers.empty()) throw std::invalid_argument("plan: a dense layer needs the layers before it");
  if (layers.empty()) return;
  if (layers[0].kind != Layer::Kind::conv || layers[0].in_channels != kBases || layers[0].in_length != length)
    throw std::invalid_argument("plan: the first layer must be a conv on the one-hot input");
  for (size_t l = 0; l < layers.size(); ++l) {
    layers[l].validate();
    if (l && (layers[l].in_channels != layers[l - 1].out_channels || layers[l].in_length != layers[l - 1].out_length))
      throw std::invalid_argument("plan: layer " + std::to_string(l) + " does not fit the output of the layer before");
  }
  const Layer& last = layers.back();
  int64_t out = int64_t(last.out_channels) * last.out_length;  // what the core hands on
  if (dense) {
    const int H = dense->out_features;
    if (H <= 0 || dense->weight.size() != size_t(H) * out || dense->bias.size() != size_t(H))
      throw std::invalid_argument("plan: dense weight or bias has the wrong size");
    validate_steps(dense->after, H, "dense layer");
    out = H;
  }
  if (tail_model.empty()) {
    if (out != phi_dim) throw std::invalid_argument("plan: the core's output is not Phi and there is no tail model");
  } else {
    int64_t n = 1;
    for (auto d : tail_shape) n *= d;
    if (n != out) throw std::invalid_argument("plan: the tail model does not take the core's output");
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

void write_floats(const fs::path& p, const std::vector<float>& v) { write_bytes(p, v.data(), v.size() * sizeof(float)); }

std::vector<float> read_floats(const fs::path& p) {
  std::string b = read_bytes(p);
  std::vector<float> v(b.size() / sizeof(float));
  std::copy(b.begin(), b.begin() + std::ptrdiff_t(v.size() * sizeof(float)), reinterpret_cast<char*>(v.data()));
  return v;
}

template <class T>
std::string join(const std::vector<T>& v) {
  std::ostringstream s;
  for (size_t i = 0; i < v.size(); ++i) s << (i ? " " : "") << v[i];
  return s.str();
}

// Steps as lines "step OWNER KIND ALPHA", affine arrays in OWNER_stepK_{scale,shift}.f32.
void write_steps(std::ostream& t, const fs::path& d, const std::string& owner, const std::vector<Step>& steps) {
  for (size_t k = 0; k < steps.size(); ++k) {
    t << "step " << owner << " " << step_name(steps[k].kind) << " " << steps[k].alpha << "\n";
    if (steps[k].kind != Step::Kind::affine) continue;
    write_floats(d / (owner + "_step" + std::to_string(k) + "_scale.f32"), steps[k].scale);
    write_floats(d / (owner + "_step" + std::to_string(k) + "_shift.f32"), steps[k].shift);
  }
}

}  // namespace

void save_plan(const PlanFolder& folder, const std::string& dir) {
  const Plan& plan = folder.plan;
  plan.validate();
  fs::path d(dir);
  fs::create_directories(d);
  std::ostringstream t;
  t << "seqmaxent-plan 2\n"
    << "length " << plan.length << "\nphi_dim " << plan.phi_dim << "\n"
    << "input_shape " << join(plan.input.shape) << "\n"
    << "input_strides " << plan.input.position_stride << " " << plan.input.base_stride << "\n";
  write_bytes(d / "phi.onnx", plan.phi_model.data(), plan.phi_model.size());
  write_floats(d / "scale.f32", folder.scale);
  for (size_t l = 0; l < plan.layers.size(); ++l) {
    const Layer& y = plan.layers[l];
    const std::string owner = "layer" + std::to_string(l);
    t << "layer " << layer_name(y.kind) << " " << y.in_channels << " " << y.out_channels << " " << y.width << " "
      << y.stride << " " << y.dilation << " " << y.pad_left << " " << y.in_length << " " << y.out_length << " "
      << y.count_include_pad << "\n";
    if (y.kind == Layer::Kind::conv) {
      write_floats(d / (owner + "_weight.f32"), y.weight);
      write_floats(d / (owner + "_bias.f32"), y.bias);
    }
    write_steps(t, d, owner, y.after);
  }
  if (plan.dense) {
    t << "dense " << plan.dense->out_features << "\n";
    write_floats(d / "dense_weight.f32", plan.dense->weight);
    write_floats(d / "dense_bias.f32", plan.dense->bias);
    write_steps(t, d, "dense", plan.dense->after);
  }
  if (!plan.tail_model.empty()) {
    t << "tail_shape " << join(plan.tail_shape) << "\n";
    write_bytes(d / "tail.onnx", plan.tail_model.data(), plan.tail_model.size());
  }
  std::string text = t.str();
  write_bytes(d / "plan.txt", text.data(), text.size());
}

PlanFolder load_plan(const std::string& dir) {
  fs::path d(dir);
  std::istringstream text(read_bytes(d / "plan.txt"));
  std::string line;
  if (!std::getline(text, line) || line != "seqmaxent-plan 2")
    throw std::runtime_error(dir + " is not a seqmaxent plan folder (version 2)");
  Plan p;
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
    else if (key == "layer") {
      std::string kind;
      Layer y;
      ls >> kind >> y.in_channels >> y.out_channels >> y.width >> y.stride >> y.dilation >> y.pad_left >> y.in_length >>
          y.out_length >> y.count_include_pad;
      y.kind = layer_kind(kind);
      const std::string owner = "layer" + std::to_string(p.layers.size());
      if (y.kind == Layer::Kind::conv) {
        y.weight = read_floats(d / (owner + "_weight.f32"));
        y.bias = read_floats(d / (owner + "_bias.f32"));
      }
      p.layers.push_back(std::move(y));
    } else if (key == "dense") {
      DenseLayer e;
      ls >> e.out_features;
      e.weight = read_floats(d / "dense_weight.f32");
      e.bias = read_floats(d / "dense_bias.f32");
      p.dense = std::move(e);
    } else if (key == "step") {
      std::string owner, kind;
      Step s;
      ls >> owner >> kind >> s.alpha;
      s.kind = step_kind(kind);
      if (owner == "dense" ? !p.dense : owner.rfind("layer", 0) != 0 || std::stoul(owner.substr(5)) >= p.layers.size())
        throw std::runtime_error(dir + "/plan.txt: step for '" + owner + "' before or without that layer");
      std::vector<Step>& steps = owner == "dense" ? p.dense->after : p.layers[std::stoul(owner.substr(5))].after;
      if (s.kind == Step::Kind::affine) {
        const std::string stem = owner + "_step" + std::to_string(steps.size());
        s.scale = read_floats(d / (stem + "_scale.f32"));
        s.shift = read_floats(d / (stem + "_shift.f32"));
      }
      steps.push_back(std::move(s));
    } else if (!key.empty()) {
      throw std::runtime_error(dir + "/plan.txt: unknown entry '" + key + "'");
    }
  }
  p.phi_model = read_bytes(d / "phi.onnx");
  if (!p.tail_shape.empty()) p.tail_model = read_bytes(d / "tail.onnx");  // plan.txt decides, not leftover files
  p.validate();
  return {std::move(p), read_floats(d / "scale.f32")};
}

}  // namespace seqmaxent
