// Deterministic random numbers (STYLE.md 3). Cores never call rand(): they take an Rng& from
// their driver, which seeds it (the simulator from its seed, a server from its own entropy).
#pragma once

#include <cstdint>

#include "common/check.h"

namespace txcoord {

// SplitMix64: tiny, fast, and the same sequence on every platform for a given seed.
class Rng {
 public:
  explicit Rng(uint64_t seed) : state_(seed) {}
  uint64_t Next() {
    uint64_t z = (state_ += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  // Uniform in [0, n). REQUIRES: n > 0.
  uint64_t Uniform(uint64_t n) {
    TXC_CHECK(n > 0);
    return Next() % n;
  }
  // Uniform in [lo, hi]. REQUIRES: lo <= hi.
  int64_t Range(int64_t lo, int64_t hi) {
    TXC_CHECK(lo <= hi);
    return lo + static_cast<int64_t>(Uniform(static_cast<uint64_t>(hi - lo) + 1));
  }
  // True with probability per_million / 1e6.
  bool Chance(uint32_t per_million) { return Uniform(1000000) < per_million; }

 private:
  uint64_t state_;
};

}  // namespace txcoord
