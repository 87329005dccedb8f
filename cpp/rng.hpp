// Per-chain random streams: xoshiro256** seeded from (seed, chain) by SplitMix64, so every
// chain draws the same numbers whichever thread or block runs it.
#pragma once

#include <cstdint>

namespace seqmaxent {

class ChainRng {
 public:
  ChainRng() = default;
  ChainRng(uint64_t seed, uint64_t chain) {
    uint64_t x = seed ^ (chain * 0xD1B54A32D192ED03ull + 0x9E3779B97F4A7C15ull);
    for (auto& s : s_) s = splitmix(x);
  }
  uint64_t next() {
    const uint64_t r = rotl(s_[1] * 5, 7) * 9;
    const uint64_t t = s_[1] << 17;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = rotl(s_[3], 45);
    return r;
  }
  // Uniform in [0, 1).
  double uniform() { return double(next() >> 11) * 0x1.0p-53; }
  // Uniform integer in [0, n) from 32 random bits (bias below n / 2^32).
  static uint32_t below(uint32_t bits, uint32_t n) { return uint32_t((uint64_t(bits) * n) >> 32); }

 private:
  static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  static uint64_t splitmix(uint64_t& x) {
    uint64_t z = (x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  uint64_t s_[4] = {};
};

}  // namespace seqmaxent
