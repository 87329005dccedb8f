// seqmaxent-bench: proposals per second of the sampler core on a plan folder
// (written by seqmaxent.Model.save_plan), without Python.
//
//   seqmaxent-bench --plan DIR --ort LIBONNXRUNTIME [--chains 500] [--steps 200] [--threads 2]
//                   [--full] [--beta 400] [--repeats 3]
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "sampler.hpp"

using namespace seqmaxent;

namespace {

[[noreturn]] void usage() {
  std::fprintf(stderr,
               "usage: seqmaxent-bench --plan DIR --ort LIB [--chains N] [--steps N] [--threads N] [--full] "
               "[--beta B] [--repeats N]\n");
  std::exit(2);
}

}  // namespace

int main(int argc, char** argv) {
  std::string plan_dir, ort;
  int chains = 500, steps = 200, threads = 2, repeats = 3;
  double beta = 400.0;
  bool full = false;
  for (int i = 1; i < argc; ++i) {
    auto value = [&]() -> const char* {
      if (i + 1 >= argc) usage();
      return argv[++i];
    };
    if (!std::strcmp(argv[i], "--plan")) plan_dir = value();
    else if (!std::strcmp(argv[i], "--ort")) ort = value();
    else if (!std::strcmp(argv[i], "--chains")) chains = std::atoi(value());
    else if (!std::strcmp(argv[i], "--steps")) steps = std::atoi(value());
    else if (!std::strcmp(argv[i], "--threads")) threads = std::atoi(value());
    else if (!std::strcmp(argv[i], "--repeats")) repeats = std::atoi(value());
    else if (!std::strcmp(argv[i], "--beta")) beta = std::atof(value());
    else if (!std::strcmp(argv[i], "--full")) full = true;
    else usage();
  }
  if (plan_dir.empty() || ort.empty()) usage();
  try {
    load_runtime(ort);
    PlanFolder folder = load_plan(plan_dir);
    Engine engine(std::move(folder.plan), Provider::cpu, threads, !full);
    const int L = engine.plan().length;
    std::vector<uint8_t> x0(L);
    std::mt19937 gen(1);
    for (auto& b : x0) b = uint8_t(gen() & 3);
    SamplerConfig config;
    config.betas = {beta};
    config.keep = {0};
    config.scale = folder.scale;
    config.chains = chains;
    config.steps = steps;
    config.period = steps;
    std::vector<uint8_t> samples(size_t(chains) * L);
    std::vector<float> distances(chains), phi0(engine.plan().phi_dim);
    std::vector<int64_t> accepted(chains), evaluations(1);
    SampleOutputs out{samples.data(), distances.data(), accepted.data(), nullptr, evaluations.data(), phi0.data()};
    const int64_t id = 0;
    double best = 0.0;
    for (int r = 0; r < repeats; ++r) {
      Sampler sampler(engine);
      auto t0 = std::chrono::steady_clock::now();
      sampler.run(x0.data(), &id, 1, config, {}, out);
      double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      best = std::max(best, double(chains) * steps / s);
    }
    int64_t acc = 0;
    for (auto a : accepted) acc += a;
    std::printf("{\"path\": \"%s\", \"threads\": %d, \"chains\": %d, \"steps\": %d, \"length\": %d, "
                "\"proposals_per_s\": %.1f, \"acceptance\": %.4f, \"ort_version\": \"%s\"}\n",
                engine.path().c_str(), threads, chains, steps, L, best, double(acc) / (double(chains) * steps),
                runtime_version().c_str());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "seqmaxent-bench: %s\n", e.what());
    return 1;
  }
  return 0;
}
