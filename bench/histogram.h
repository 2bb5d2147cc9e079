// A log-linear latency histogram (the layout of HdrHistogram, which Debian does not package):
// values below 2^kSubBits are counted exactly; above, each power-of-two range [2^e, 2^(e+1)) is
// split into 2^(kSubBits-1) equal buckets, so every recorded value is known to within
// 1 / 2^(kSubBits-1) of itself (0.8% with kSubBits = 8). Recording is O(1) and allocation free;
// histograms of the same layout merge by adding counts. The exact minimum and maximum are kept.
//
// Percentile(q) returns the highest value of the bucket holding the q-quantile sample (never
// below the true quantile, at most 0.8% above it), clamped to the exact maximum.
#pragma once

#include <algorithm>
#include <array>
#include <bit>
#include <cstdint>
#include <limits>

namespace txcoord::bench {

class Histogram {
 public:
  static constexpr int kSubBits = 8;
  static constexpr uint64_t kSubCount = uint64_t{1} << kSubBits;  // exact below this
  static constexpr uint64_t kHalf = kSubCount / 2;                // buckets per power of two above
  static constexpr int kBuckets = static_cast<int>(kSubCount + (64 - kSubBits) * kHalf);

  void Record(uint64_t value) {
    ++counts_[static_cast<size_t>(BucketOf(value))];
    ++count_;
    sum_ += value;
    min_ = std::min(min_, value);
    max_ = std::max(max_, value);
  }

  void Merge(const Histogram& other) {
    for (size_t i = 0; i < counts_.size(); ++i) counts_[i] += other.counts_[i];
    count_ += other.count_;
    sum_ += other.sum_;
    min_ = std::min(min_, other.min_);
    max_ = std::max(max_, other.max_);
  }

  void Reset() { *this = Histogram(); }

  uint64_t count() const { return count_; }
  uint64_t min() const { return count_ == 0 ? 0 : min_; }
  uint64_t max() const { return max_; }
  double mean() const { return count_ == 0 ? 0 : static_cast<double>(sum_) / count_; }

  // The q-quantile, q in [0, 1] (0.5 = median); 0 when empty.
  uint64_t Percentile(double q) const {
    if (count_ == 0) return 0;
    q = std::clamp(q, 0.0, 1.0);
    // The rank (1-based) of the sample at quantile q: ceil(q * count), at least 1.
    uint64_t rank = static_cast<uint64_t>(q * static_cast<double>(count_));
    if (static_cast<double>(rank) < q * static_cast<double>(count_)) ++rank;
    rank = std::max<uint64_t>(rank, 1);
    uint64_t seen = 0;
    for (int b = 0; b < kBuckets; ++b) {
      seen += counts_[static_cast<size_t>(b)];
      if (seen >= rank) return std::clamp(HighestOf(b), min(), max_);
    }
    return max_;
  }

  // Bucket layout, public for tests.
  static int BucketOf(uint64_t value) {
    if (value < kSubCount) return static_cast<int>(value);
    const int e = std::bit_width(value) - 1;  // 2^e <= value < 2^(e+1), e >= kSubBits
    const int shift = e - (kSubBits - 1);     // bucket width 2^shift
    const uint64_t offset = (value >> shift) - kHalf;  // in [0, kHalf)
    return static_cast<int>(kSubCount + static_cast<uint64_t>(e - kSubBits) * kHalf + offset);
  }
  static uint64_t LowestOf(int bucket) {
    const uint64_t b = static_cast<uint64_t>(bucket);
    if (b < kSubCount) return b;
    const uint64_t e = (b - kSubCount) / kHalf + kSubBits;
    const uint64_t offset = (b - kSubCount) % kHalf;
    return (kHalf + offset) << (e - (kSubBits - 1));
  }
  static uint64_t HighestOf(int bucket) {
    if (bucket + 1 >= kBuckets) return std::numeric_limits<uint64_t>::max();
    return LowestOf(bucket + 1) - 1;
  }

 private:
  std::array<uint64_t, kBuckets> counts_{};
  uint64_t count_ = 0;
  uint64_t sum_ = 0;
  uint64_t min_ = std::numeric_limits<uint64_t>::max();
  uint64_t max_ = 0;
};

}  // namespace txcoord::bench
