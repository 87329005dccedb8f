#include "resident.hpp"

#include <algorithm>
#include <stdexcept>
#include <string>

namespace seqmaxent {

namespace {

Ort::MemoryInfo device_memory(Provider provider) {
  if (provider == Provider::cuda) return Ort::MemoryInfo("Cuda", OrtDeviceAllocator, 0, OrtMemTypeDefault);
  return Ort::MemoryInfo::CreateCpu(OrtDeviceAllocator, OrtMemTypeDefault);
}

template <class T>
Ort::Value host_tensor(const Ort::MemoryInfo& cpu, T* data, const std::vector<int64_t>& shape) {
  size_t count = 1;
  for (int64_t s : shape) count *= size_t(s);
  return Ort::Value::CreateTensor<T>(cpu, data, count, shape.data(), shape.size());
}

}  // namespace

ResidentBlock::ResidentBlock(ResidentSessions& sessions, Provider provider, int n, int length, int phi_dim,
                             const std::vector<float>& scale, const std::array<float, kBases>& weights)
    : s_(sessions),
      n_(n),
      L_(length),
      P_(phi_dim),
      cpu_(Ort::MemoryInfo::CreateCpu(OrtDeviceAllocator, OrtMemTypeDefault)),
      dev_(device_memory(provider)),
      allocator_(sessions.step, dev_),
      x_shape_{n, length, kBases},
      d_shape_{n},
      phi_shape_{n, phi_dim},
      draws_{std::vector<int64_t>(n), std::vector<int64_t>(n), std::vector<float>(n), std::vector<float>(n),
             std::vector<float>(n)},
      scale_(scale),
      weights_(weights.begin(), weights.end()),
      d_host_(n),
      accepted_(n),
      codes_(size_t(n) * length),
      binding_(sessions.step),
      heat_binding_(nullptr) {
  Ort::AllocatorWithDefaultOptions names;
  std::vector<std::string> outputs;
  for (size_t i = 0; i < s_.step.GetOutputCount(); ++i) outputs.push_back(s_.step.GetOutputNameAllocated(i, names).get());
  for (size_t i = 0; i < s_.step.GetInputCount(); ++i) {
    const std::string name = s_.step.GetInputNameAllocated(i, names).get();
    if (std::find(outputs.begin(), outputs.end(), name + "_next") == outputs.end()) continue;
    std::vector<int64_t> shape = s_.step.GetInputTypeInfo(i).GetTensorTypeAndShapeInfo().GetShape();
    if (name == "x") shape = x_shape_;
    else if (name == "d") shape = d_shape_;
    else if (shape.empty() || std::any_of(shape.begin() + 1, shape.end(), [](int64_t s) { return s <= 0; }))
      throw std::invalid_argument("the step model's state " + name + " has no fixed per-chain shape");
    shape[0] = n;
    state_names_.push_back(name);
    state_.push_back(device(shape));
  }
  if (state_names_.size() < 2 || state_names_[0] != "x" || state_names_[1] != "d")
    throw std::invalid_argument("the step model must take the state x, then d");
  phi0_ = device(phi_shape_);
  const std::vector<int64_t> p_shape{P_}, w_shape{kBases};
  host_.emplace_back("s", host_tensor(cpu_, scale_.data(), p_shape));
  host_.emplace_back("w", host_tensor(cpu_, weights_.data(), w_shape));
  host_.emplace_back("beta", host_tensor(cpu_, draws_.beta.data(), d_shape_));
  host_.emplace_back("pos", host_tensor(cpu_, draws_.pos.data(), d_shape_));
  host_.emplace_back("shift", host_tensor(cpu_, draws_.shift.data(), d_shape_));
  host_.emplace_back("logu", host_tensor(cpu_, draws_.logu.data(), d_shape_));
  host_.emplace_back("u", host_tensor(cpu_, draws_.u.data(), d_shape_));
  host_.emplace_back("d_copy", host_tensor(cpu_, d_host_.data(), d_shape_));
  host_.emplace_back("accepted", host_tensor(cpu_, reinterpret_cast<bool*>(accepted_.data()), d_shape_));
  bind(s_.step, binding_);
  if (s_.heat) {
    heat_binding_ = Ort::IoBinding(s_.heat);
    bind(s_.heat, heat_binding_);
  }
}

void ResidentBlock::bind(Ort::Session& session, Ort::IoBinding& binding) {
  for (size_t k = 0; k < state_.size(); ++k) {  // in place: the step's ScatterND skips its copy
    binding.BindInput(state_names_[k].c_str(), state_[k]);
    binding.BindOutput((state_names_[k] + "_next").c_str(), state_[k]);
  }
  binding.BindInput("phi0", phi0_);
  Ort::AllocatorWithDefaultOptions names;
  std::vector<std::string> inputs;
  for (size_t i = 0; i < session.GetInputCount(); ++i) inputs.push_back(session.GetInputNameAllocated(i, names).get());
  for (auto& [name, value] : host_) {
    if (name == "d_copy" || name == "accepted") binding.BindOutput(name.c_str(), value);
    else if (std::find(inputs.begin(), inputs.end(), name) != inputs.end()) binding.BindInput(name.c_str(), value);
  }
}

Ort::Value& ResidentBlock::state(const std::string& name) {
  return state_[std::find(state_names_.begin(), state_names_.end(), name) - state_names_.begin()];
}

Ort::Value ResidentBlock::device(const std::vector<int64_t>& shape) {
  return Ort::Value::CreateTensor<float>(allocator_, shape.data(), shape.size());
}

void ResidentBlock::upload(const float* host, const std::vector<int64_t>& shape, Ort::Value& to) {
  Ort::IoBinding binding(s_.copy);
  Ort::Value from = host_tensor(cpu_, const_cast<float*>(host), shape);
  binding.BindInput("in", from);
  binding.BindOutput("out", to);
  s_.copy.Run(Ort::RunOptions{}, binding);
  binding.SynchronizeOutputs();
}

void ResidentBlock::reset(const uint8_t* codes, const float* phi0, const double* d) {
  std::vector<float> x(size_t(n_) * L_ * kBases, 0.f);
  for (size_t i = 0; i < size_t(n_) * L_; ++i)
    if (codes[i] != kUnknown) x[i * kBases + codes[i]] = 1.f;
  upload(x.data(), x_shape_, state("x"));
  for (int i = 0; i < n_; ++i) d_host_[i] = float(d[i]);
  upload(d_host_.data(), d_shape_, state("d"));
  upload(phi0, phi_shape_, phi0_);
  if (!s_.init) return;
  Ort::IoBinding binding(s_.init);  // the caches from the whole network on x
  binding.BindInput("x", state("x"));
  for (size_t k = 2; k < state_.size(); ++k) binding.BindOutput(state_names_[k].c_str(), state_[k]);
  binding.BindOutput("phi", cpu_);
  s_.init.Run(Ort::RunOptions{}, binding);
  binding.SynchronizeOutputs();
}

void ResidentBlock::step(double* d, uint8_t* accepted) { run(s_.step, binding_, d, accepted); }

void ResidentBlock::heat_bath(double* d, uint8_t* accepted) {
  if (!s_.heat) throw std::logic_error("this block was made without the heat-bath step");
  run(s_.heat, heat_binding_, d, accepted);
}

void ResidentBlock::run(Ort::Session& session, Ort::IoBinding& binding, double* d, uint8_t* accepted) {
  session.Run(Ort::RunOptions{}, binding);
  binding.SynchronizeOutputs();
  for (int i = 0; i < n_; ++i) {
    d[i] = d_host_[i];
    accepted[i] = accepted_[i];
  }
}

void ResidentBlock::codes(uint8_t* out) {
  const std::vector<int64_t> shape{n_, L_};
  Ort::Value codes = host_tensor(cpu_, codes_.data(), shape);
  Ort::IoBinding binding(s_.codes);
  binding.BindInput("x", state("x"));
  binding.BindOutput("codes", codes);
  s_.codes.Run(Ort::RunOptions{}, binding);
  binding.SynchronizeOutputs();
  std::copy(codes_.begin(), codes_.end(), out);
}

}  // namespace seqmaxent
