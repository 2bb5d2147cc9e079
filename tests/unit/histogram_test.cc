// Proves that txbench's latency histogram (bench/histogram.h) reports what it promises: values
// below 256 are counted exactly; every value lands in a bucket whose bounds hold it, the buckets
// tile the whole uint64 range without gaps, and no bucket is wider than 1/128 of its lowest value,
// so a percentile is never below the true one and at most 0.8% above it. It checks that on the
// bucket layout itself (every bucket, and values at and around every power of two plus seeded
// random ones), then on percentiles of known distributions (uniform 1..100000, a two-valued
// skewed one, single values), the empty histogram, the exact minimum and maximum, and that
// merging two histograms gives exactly what recording both sets into one gives.
#include "bench/histogram.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "common/rng.h"

namespace txcoord::bench {
namespace {

constexpr uint64_t kMax = std::numeric_limits<uint64_t>::max();

// The quantiles every percentile check looks at.
const std::vector<double> kQuantiles = {0.0, 0.001, 0.1, 0.25, 0.5, 0.75, 0.9, 0.99, 0.999, 1.0};

TEST(HistogramTest, ValuesBelow256AreExact) {
  for (uint64_t v = 0; v < 256; ++v) {
    const int b = Histogram::BucketOf(v);
    EXPECT_EQ(b, static_cast<int>(v));
    EXPECT_EQ(Histogram::LowestOf(b), v);
    EXPECT_EQ(Histogram::HighestOf(b), v);
    Histogram h;
    h.Record(v);
    h.Record(v);
    EXPECT_EQ(h.Percentile(0.5), v);
  }
  // A mix of small values: every percentile is exactly the true order statistic.
  Histogram h;
  for (uint64_t v = 1; v <= 200; ++v) h.Record(v);
  EXPECT_EQ(h.Percentile(0.5), 100u);
  EXPECT_EQ(h.Percentile(0.9), 180u);
  EXPECT_EQ(h.Percentile(0.99), 198u);
  EXPECT_EQ(h.Percentile(0.001), 1u);
}

TEST(HistogramTest, BucketsTileTheRangeInOrder) {
  EXPECT_EQ(Histogram::LowestOf(0), 0u);
  for (int b = 0; b + 1 < Histogram::kBuckets; ++b) {
    ASSERT_LE(Histogram::LowestOf(b), Histogram::HighestOf(b)) << "bucket " << b;
    ASSERT_EQ(Histogram::HighestOf(b) + 1, Histogram::LowestOf(b + 1)) << "bucket " << b;
  }
  EXPECT_EQ(Histogram::HighestOf(Histogram::kBuckets - 1), kMax);
  EXPECT_EQ(Histogram::BucketOf(kMax), Histogram::kBuckets - 1);
}

// Every bucket from 256 up is at most 1/128 of its lowest value wide.
TEST(HistogramTest, RelativeBucketWidthIsAtMostOneIn128) {
  for (int b = 256; b < Histogram::kBuckets; ++b) {
    const uint64_t low = Histogram::LowestOf(b);
    const uint64_t width = Histogram::HighestOf(b) - low + 1;  // no overflow: width <= 2^56
    ASSERT_LE(width * 128, low) << "bucket " << b << " [" << low << ", +" << width << ")";
  }
}

TEST(HistogramTest, EveryValuesBucketHoldsIt) {
  std::vector<uint64_t> values;
  for (int e = 0; e < 64; ++e) {
    const uint64_t p = uint64_t{1} << e;
    values.insert(values.end(), {p - 1, p, p + 1, p + p / 2, p + p / 3});
  }
  values.push_back(kMax);
  values.push_back(kMax - 1);
  Rng rng(42);
  for (int i = 0; i < 100000; ++i) {
    // Uniform bit width, then uniform below it: every magnitude is covered.
    const int bits = static_cast<int>(rng.Uniform(64)) + 1;
    values.push_back(bits == 64 ? rng.Next() : rng.Next() & ((uint64_t{1} << bits) - 1));
  }
  for (const uint64_t v : values) {
    const int b = Histogram::BucketOf(v);
    ASSERT_GE(b, 0) << v;
    ASSERT_LT(b, Histogram::kBuckets) << v;
    ASSERT_LE(Histogram::LowestOf(b), v) << "bucket " << b;
    ASSERT_GE(Histogram::HighestOf(b), v) << "bucket " << b;
    // A value recorded alone comes back exactly (the bucket's top is clamped to the maximum).
    Histogram h;
    h.Record(v);
    ASSERT_EQ(h.Percentile(0.5), v);
  }
}

// 1..100000 once each: the q-quantile is ceil(q * 100000); the histogram never reports less and
// at most 1/128 (0.8%) more.
TEST(HistogramTest, PercentilesOfUniformAreWithinOnePartIn128Above) {
  Histogram h;
  constexpr uint64_t kN = 100000;
  for (uint64_t v = 1; v <= kN; ++v) h.Record(v);
  EXPECT_EQ(h.count(), kN);
  for (const double q : kQuantiles) {
    const auto truth =
        std::max<uint64_t>(1, static_cast<uint64_t>(std::ceil(q * static_cast<double>(kN))));
    const uint64_t got = h.Percentile(q);
    EXPECT_GE(got, truth) << "q=" << q;
    EXPECT_LE(static_cast<double>(got), static_cast<double>(truth) * (1.0 + 1.0 / 128)) << "q=" << q;
  }
  EXPECT_GE(h.Percentile(0.5), 50000u);
  EXPECT_LE(h.Percentile(0.5), 50400u) << "0.8% above 50000";
  EXPECT_EQ(h.Percentile(1.0), kN) << "p100 is the maximum";
  EXPECT_EQ(h.Percentile(0.0), 1u) << "p0 is the minimum";
  EXPECT_DOUBLE_EQ(h.mean(), 50000.5);
}

// The q-quantile is the sample of rank ceil(q * count): of 10, 20, 30, p50 is 20 (rank 2 of
// 1.5), p33 is 10 (rank 1 of 0.99) and p34 is 20 (rank 2 of 1.02).
TEST(HistogramTest, RankIsTheCeilingOfQTimesCount) {
  Histogram h;
  for (const uint64_t v : {30u, 10u, 20u}) h.Record(v);
  EXPECT_EQ(h.Percentile(0.33), 10u);
  EXPECT_EQ(h.Percentile(0.34), 20u);
  EXPECT_EQ(h.Percentile(0.5), 20u);
  EXPECT_EQ(h.Percentile(0.67), 30u);
  EXPECT_EQ(h.Percentile(-1.0), 10u) << "q is clamped to [0, 1]";
  EXPECT_EQ(h.Percentile(2.0), 30u) << "q is clamped to [0, 1]";
}

// 990 fast samples and 10 slow ones: p99 is fast, p99.9 is slow.
TEST(HistogramTest, PercentilesOfASkewedDistribution) {
  Histogram h;
  for (int i = 0; i < 990; ++i) h.Record(1000);
  for (int i = 0; i < 10; ++i) h.Record(5000000);
  const uint64_t fast = h.Percentile(0.99);
  EXPECT_GE(fast, 1000u);
  EXPECT_LE(fast, 1000u + 1000u / 128);
  EXPECT_EQ(h.Percentile(0.5), fast);
  EXPECT_EQ(h.Percentile(0.991), 5000000u) << "clamped to the exact maximum";
  EXPECT_EQ(h.Percentile(0.999), 5000000u);
  EXPECT_EQ(h.Percentile(1.0), 5000000u);
}

TEST(HistogramTest, EmptyIsZero) {
  const Histogram h;
  EXPECT_EQ(h.count(), 0u);
  EXPECT_EQ(h.min(), 0u);
  EXPECT_EQ(h.max(), 0u);
  EXPECT_EQ(h.mean(), 0.0);
  for (const double q : kQuantiles) EXPECT_EQ(h.Percentile(q), 0u) << "q=" << q;
}

TEST(HistogramTest, MinAndMaxAreExact) {
  Histogram h;
  // Neither value is a bucket boundary: a bucket bound would differ from it.
  h.Record(1000003);
  h.Record(987654321);
  h.Record(5555555);
  EXPECT_EQ(h.min(), 1000003u);
  EXPECT_EQ(h.max(), 987654321u);
  EXPECT_EQ(h.Percentile(1.0), 987654321u) << "the top is clamped to the exact maximum";
  // The bottom is not clamped down: p0 is the top of the minimum's bucket, within 0.8% of it.
  EXPECT_GE(h.Percentile(0.0), 1000003u);
  EXPECT_LE(h.Percentile(0.0), 1000003u + 1000003u / 128);
  EXPECT_NE(Histogram::HighestOf(Histogram::BucketOf(987654321)), 987654321u);
  h.Reset();
  EXPECT_EQ(h.count(), 0u);
  EXPECT_EQ(h.min(), 0u);
  EXPECT_EQ(h.max(), 0u);
}

// Merging is the same as having recorded both sets in one histogram, whatever the sets.
TEST(HistogramTest, MergeEqualsRecordingBoth) {
  Rng rng(7);
  Histogram a;
  Histogram b;
  Histogram both;
  for (int i = 0; i < 20000; ++i) {
    const uint64_t v = 100 + rng.Uniform(1000000);
    a.Record(v);
    both.Record(v);
  }
  // Zeros and ones too: the first buckets must merge like the others.
  for (const uint64_t v : {0u, 0u, 1u}) {
    a.Record(v);
    both.Record(v);
  }
  b.Record(0);
  both.Record(0);
  for (int i = 0; i < 5000; ++i) {
    const uint64_t v = 50 + rng.Uniform(50000000);  // different range: a different shape
    b.Record(v);
    both.Record(v);
  }
  Histogram merged = a;
  merged.Merge(b);
  EXPECT_EQ(merged.count(), both.count());
  EXPECT_EQ(merged.min(), both.min());
  EXPECT_EQ(merged.max(), both.max());
  EXPECT_DOUBLE_EQ(merged.mean(), both.mean());
  for (int i = 0; i <= 1000; ++i) {
    const double q = i / 1000.0;
    ASSERT_EQ(merged.Percentile(q), both.Percentile(q)) << "q=" << q;
  }
  // Merging an empty histogram changes nothing; merging into one takes the other's min.
  Histogram unchanged = a;
  unchanged.Merge(Histogram());
  EXPECT_EQ(unchanged.min(), a.min());
  EXPECT_EQ(unchanged.max(), a.max());
  EXPECT_EQ(unchanged.count(), a.count());
  Histogram from_empty;
  from_empty.Merge(b);
  EXPECT_EQ(from_empty.min(), b.min());
  EXPECT_EQ(from_empty.Percentile(0.5), b.Percentile(0.5));
}

}  // namespace
}  // namespace txcoord::bench
