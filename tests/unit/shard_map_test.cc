// The shard map routes every key to exactly one shard, the same way in every process and every
// language: the hash function is pinned to FNV-1a 64's published test vectors, range boundaries
// are exact (a split key belongs to the shard it starts), and a malformed map is refused with an
// error that names the field at fault.
#include <gtest/gtest.h>

#include <map>
#include <string>

#include "cluster/shard_map.h"

namespace txcoord::cluster {
namespace {

ShardMap Map(Partitioning p, int shards, std::vector<std::string> splits = {}) {
  ShardMap m;
  m.partitioning = p;
  for (int i = 0; i < shards; ++i) {
    m.shards.push_back({i, "127.0.0.1", static_cast<uint16_t>(7000 + i)});
  }
  m.split_keys = std::move(splits);
  return m;
}

TEST(ShardMapTest, KeyHashIsFnv1a64) {
  // Published FNV-1a 64 test vectors: the function is part of the wire contract.
  EXPECT_EQ(KeyHash(""), 0xcbf29ce484222325ull);
  EXPECT_EQ(KeyHash("a"), 0xaf63dc4c8601ec8cull);
  EXPECT_EQ(KeyHash("foobar"), 0x85944171f73967e8ull);
}

TEST(ShardMapTest, HashRoutingIsStableAndSpreadsKeys) {
  const ShardMap m = Map(Partitioning::kHash, 3);
  ASSERT_TRUE(Validate(m).ok());
  EXPECT_EQ(ShardFor(m, "foobar"), static_cast<ShardId>(0x85944171f73967e8ull % 3));
  std::map<ShardId, int> counts;
  for (int i = 0; i < 3000; ++i) ++counts[ShardFor(m, "acct/" + std::to_string(i))];
  ASSERT_EQ(counts.size(), 3u);
  for (const auto& [shard, n] : counts) {
    EXPECT_GT(n, 800) << "shard " << shard;
    EXPECT_LT(n, 1200) << "shard " << shard;
  }
}

TEST(ShardMapTest, RangeBoundariesAreExact) {
  const ShardMap m = Map(Partitioning::kRange, 3, {"g", "p"});
  ASSERT_TRUE(Validate(m).ok());
  EXPECT_EQ(ShardFor(m, ""), 0);
  EXPECT_EQ(ShardFor(m, "a"), 0);
  EXPECT_EQ(ShardFor(m, std::string("f\xff", 2)), 0);
  EXPECT_EQ(ShardFor(m, "g"), 1) << "a split key starts its shard";
  EXPECT_EQ(ShardFor(m, "g\0"), 1);
  EXPECT_EQ(ShardFor(m, "ozzz"), 1);
  EXPECT_EQ(ShardFor(m, "p"), 2);
  EXPECT_EQ(ShardFor(m, "zzz"), 2);
  EXPECT_EQ(ShardFor(Map(Partitioning::kRange, 1), "anything"), 0);
}

TEST(ShardMapTest, ErrorsNameTheField) {
  auto error = [](const ShardMap& m) { return Validate(m).message(); };
  EXPECT_EQ(error(Map(Partitioning::kHash, 0)), "shards: at least one shard is needed");
  ShardMap m = Map(Partitioning::kHash, 3);
  m.shards[2].id = 5;
  EXPECT_EQ(error(m), "shards[2].id: expected 2, found 5 (ids are 0..N-1 in order)");
  m = Map(Partitioning::kHash, 3);
  m.shards[1].port = 0;
  EXPECT_EQ(error(m), "shards[1].port: expected 1..65535, found 0");
  m = Map(Partitioning::kHash, 3);
  m.shards[0].host.clear();
  EXPECT_EQ(error(m), "shards[0].host: empty");
  EXPECT_EQ(error(Map(Partitioning::kHash, 2, {"m"})),
            "split_keys: hash partitioning takes none, found 1");
  EXPECT_EQ(error(Map(Partitioning::kRange, 3, {"m"})),
            "split_keys: range partitioning over 3 shards needs 2, found 1");
  EXPECT_EQ(error(Map(Partitioning::kRange, 3, {"p", "g"})),
            "split_keys[1]: not greater than split_keys[0]");
  EXPECT_EQ(error(Map(Partitioning::kRange, 3, {"g", "g"})),
            "split_keys[1]: not greater than split_keys[0]");
  EXPECT_EQ(error(Map(Partitioning::kRange, 2, {""})),
            "split_keys[0]: empty (shard 0 already starts at the empty key)");
}

TEST(ShardMapTest, PartitioningNamesRoundTrip) {
  EXPECT_EQ(ParsePartitioning("hash").value(), Partitioning::kHash);
  EXPECT_EQ(ParsePartitioning("range").value(), Partitioning::kRange);
  EXPECT_STREQ(ToString(Partitioning::kRange), "range");
  const auto bad = ParsePartitioning("consistent");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().message(), "partitioning: expected \"hash\" or \"range\", found \"consistent\"");
}

}  // namespace
}  // namespace txcoord::cluster
