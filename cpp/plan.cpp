#include "plan.hpp"

#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <stdexcept>

namespace seqmaxent {

namespace fs = std::filesystem;

Activation activation_from_name(const std::string& name) {
  if (name == "identity") return Activation::identity;
  if (name == "relu") return Activation::relu;
  throw std::invalid_argument("unknown activation '" + name + "' (identity or relu)");
}

std::string activation_name(Activation a) { return a == Activation::relu ? "relu" : "identity"; }

int64_t InputLayout::size() const {
  int64_t n = 1;
  for (auto d : shape) n *= d;
  return n;
}

void ConvLayer::validate(int length) const {
  if (out_channels <= 0 || width <= 0 || stride <= 0 || dilation <= 0 || out_length <= 0)
    throw std::invalid_argument("conv layer: sizes must be positive");
  if (weight.size() != size_t(out_channels) * kBases * width || bias.size() != size_t(out_channels))
    throw std::invalid_argument("conv layer: weight or bias has the wrong size");
  if (int64_t(out_length - 1) * stride - pad_left + int64_t(width - 1) * dilation >= length + width * dilation)
    throw std::invalid_argument("conv layer: output length does not fit the input length");
}

void Plan::validate() const {
  if (length <= 0) throw std::invalid_argument("plan: sequence length must be positive");
  if (phi_dim <= 0) throw std::invalid_argument("plan: Phi must have at least one unit");
  if (input.size() != int64_t(length) * kBases) throw std::invalid_argument("plan: input layout does not hold L x 4 values");
  if (phi_model.empty()) throw std::invalid_argument("plan: no Phi model");
  if (dense && !conv) throw std::invalid_argument("plan: a dense layer needs the conv layer before it");
  if (conv) {
    conv->validate(length);
    if (dense) {
      if (dense->out_features != phi_dim) throw std::invalid_argument("plan: dense output size differs from phi_dim");
      if (dense->weight.size() != size_t(phi_dim) * conv->out_channels * conv->out_length ||
          dense->bias.size() != size_t(phi_dim))
        throw std::invalid_argument("plan: dense weight or bias has the wrong size");
    } else if (tail_model.empty()) {
      throw std::invalid_argument("plan: a conv layer needs a dense layer or a tail model");
    }
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

}  // namespace

void save_plan(const PlanFolder& folder, const std::string& dir) {
  const Plan& plan = folder.plan;
  plan.validate();
  fs::path d(dir);
  fs::create_directories(d);
  std::ostringstream t;
  t << "seqmaxent-plan 1\n"
    << "length " << plan.length << "\nphi_dim " << plan.phi_dim << "\n"
    << "input_shape " << join(plan.input.shape) << "\n"
    << "input_strides " << plan.input.position_stride << " " << plan.input.base_stride << "\n";
  write_bytes(d / "phi.onnx", plan.phi_model.data(), plan.phi_model.size());
  write_floats(d / "scale.f32", folder.scale);
  if (plan.conv) {
    const auto& c = *plan.conv;
    t << "conv " << c.out_channels << " " << c.width << " " << c.stride << " " << c.dilation << " " << c.pad_left
      << " " << c.out_length << "\nconv_tensor_shape " << join(c.tensor_shape) << "\n";
    write_floats(d / "conv_weight.f32", c.weight);
    write_floats(d / "conv_bias.f32", c.bias);
  }
  if (plan.dense) {
    const auto& e = *plan.dense;
    t << "dense " << e.out_features << " " << activation_name(e.input_activation) << " "
      << activation_name(e.activation) << "\n";
    write_floats(d / "dense_weight.f32", e.weight);
    write_floats(d / "dense_bias.f32", e.bias);
  }
  if (!plan.tail_model.empty()) write_bytes(d / "tail.onnx", plan.tail_model.data(), plan.tail_model.size());
  std::string text = t.str();
  write_bytes(d / "plan.txt", text.data(), text.size());
}

PlanFolder load_plan(const std::string& dir) {
  fs::path d(dir);
  std::istringstream text(read_bytes(d / "plan.txt"));
  std::map<std::string, std::vector<std::string>> kv;
  for (std::string line; std::getline(text, line);) {
    std::istringstream ls(line);
    std::string key, w;
    ls >> key;
    while (ls >> w) kv[key].push_back(w);
  }
  if (!kv.count("seqmaxent-plan")) throw std::runtime_error(dir + " is not a seqmaxent plan folder");
  auto ints = [&](const std::string& k) {
    std::vector<int64_t> v;
    for (auto& w : kv.at(k)) v.push_back(std::stoll(w));
    return v;
  };
  Plan p;
  p.length = int(ints("length")[0]);
  p.phi_dim = int(ints("phi_dim")[0]);
  p.input.shape = ints("input_shape");
  auto st = ints("input_strides");
  p.input.position_stride = st[0];
  p.input.base_stride = st[1];
  p.phi_model = read_bytes(d / "phi.onnx");
  if (kv.count("conv")) {
    auto v = ints("conv");
    ConvLayer c;
    c.out_channels = int(v[0]), c.width = int(v[1]), c.stride = int(v[2]), c.dilation = int(v[3]);
    c.pad_left = int(v[4]), c.out_length = int(v[5]);
    c.tensor_shape = ints("conv_tensor_shape");
    c.weight = read_floats(d / "conv_weight.f32");
    c.bias = read_floats(d / "conv_bias.f32");
    p.conv = std::move(c);
  }
  if (kv.count("dense")) {
    auto& v = kv.at("dense");
    DenseLayer e;
    e.out_features = std::stoi(v.at(0));
    e.input_activation = activation_from_name(v.at(1));
    e.activation = activation_from_name(v.at(2));
    e.weight = read_floats(d / "dense_weight.f32");
    e.bias = read_floats(d / "dense_bias.f32");
    p.dense = std::move(e);
  }
  if (fs::exists(d / "tail.onnx")) p.tail_model = read_bytes(d / "tail.onnx");
  p.validate();
  return {std::move(p), read_floats(d / "scale.f32")};
}

}  // namespace seqmaxent
