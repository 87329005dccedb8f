#include "kernels.hpp"

#include <cstdlib>
#include <stdexcept>

namespace seqmaxent {

namespace {

#ifdef SEQMAXENT_X86_KERNELS
const Kernels* const kLevels[] = {&generic::table, &avx2::table, &avx512::table};  // lowest first
#else
const Kernels* const kLevels[] = {&generic::table};
#endif

bool supported(const Kernels* k) {
#ifdef SEQMAXENT_X86_KERNELS
  __builtin_cpu_init();
  if (k == &avx512::table)
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl");
  if (k == &avx2::table) return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#endif
  return k == &generic::table;
}

const Kernels& choose() {
  const char* forced = std::getenv("SEQMAXENT_KERNELS");
  const Kernels* best = &generic::table;
  for (const Kernels* k : kLevels)
    if (supported(k)) best = k;
  if (!forced || !*forced) return *best;
  for (const Kernels* k : kLevels)
    if (std::string(forced) == k->name) {
      if (!supported(k)) throw std::runtime_error("SEQMAXENT_KERNELS=" + std::string(forced) + ": this CPU cannot run that level");
      return *k;
    }
  throw std::runtime_error("SEQMAXENT_KERNELS must be generic, avx2 or avx512, not '" + std::string(forced) + "'");
}

}  // namespace

const Kernels& kernels() {
  static const Kernels& chosen = choose();
  return chosen;
}

std::vector<std::string> kernel_levels() {
  std::vector<std::string> out;
  for (const Kernels* k : kLevels)
    if (supported(k)) out.push_back(k->name);
  return out;
}

}  // namespace seqmaxent
