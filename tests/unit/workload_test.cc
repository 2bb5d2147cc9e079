// Proves that txbench's workloads (bench/workload.h) generate the transactions they promise, by
// routing every generated key through the same shard map txbench uses (hash, 1 to 16 shards) and
// looking at thousands of seeded transactions:
//
//  - bank: two ADDs on distinct accounts, on different shards whenever there are several; the
//    debit has min_result 0, the amounts are 1..10 and the two sum to zero (money moves, the
//    total cannot change).
//  - fanout: exactly K puts on K distinct shards, every shard gets picked; K above the number of
//    shards (or 0) is refused.
//  - ycsb: the zipfian rank 0 is the most frequent and comes up 1/zeta(n) of the time, ranks and
//    scrambled items stay in [0, n), the scrambling moves the hottest items apart, transactions
//    have ops_per_txn ops with read_fraction of them reads.
//  - LoadBatches writes every account / record exactly once in batches of the asked size;
//    AuditOps reads every account once.
//  - Bad options and unknown workload names are InvalidArgument errors naming the problem.
#include "bench/workload.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "cluster/shard_map.h"
#include "common/rng.h"

namespace txcoord::bench {
namespace {

cluster::ShardMap HashMap(int shards) {
  cluster::ShardMap m;
  for (int i = 0; i < shards; ++i) {
    m.shards.push_back({i, "127.0.0.1", static_cast<uint16_t>(7000 + i)});
  }
  return m;
}

std::unique_ptr<Workload> MakeOk(const WorkloadOptions& o, const cluster::ShardMap& map) {
  Result<std::unique_ptr<Workload>> w = Workload::Make(o, map);
  EXPECT_TRUE(w.ok()) << w.status().ToString();
  return w.ok() ? std::move(w.value()) : nullptr;
}

// The error of Make(o, map); fails the test when Make succeeds or the error is not typed.
std::string MakeError(const WorkloadOptions& o, const cluster::ShardMap& map) {
  Result<std::unique_ptr<Workload>> w = Workload::Make(o, map);
  EXPECT_FALSE(w.ok());
  if (w.ok()) return "";
  EXPECT_EQ(w.status().code(), Status::Code::kInvalidArgument) << w.status().ToString();
  return w.status().message();
}

TEST(WorkloadTest, BankMovesMoneyBetweenShards) {
  const cluster::ShardMap map = HashMap(3);
  auto w = MakeOk({.kind = WorkloadKind::kBank, .accounts = 1000}, map);
  ASSERT_NE(w, nullptr);
  Rng rng(1);
  std::set<int64_t> amounts;
  std::set<ShardId> from_shards;
  for (int i = 0; i < 10000; ++i) {
    const std::vector<Op> ops = w->Next(rng);
    ASSERT_EQ(ops.size(), 2u);
    const Op& from = ops[0];
    const Op& to = ops[1];
    ASSERT_EQ(from.type, Op::Type::kAdd);
    ASSERT_EQ(to.type, Op::Type::kAdd);
    ASSERT_NE(from.key, to.key);
    ASSERT_NE(cluster::ShardFor(map, from.key), cluster::ShardFor(map, to.key))
        << from.key << " and " << to.key << " are on the same shard";
    ASSERT_EQ(from.delta + to.delta, 0) << "money is created or destroyed";
    ASSERT_LT(from.delta, 0);
    ASSERT_GE(to.delta, 1);
    ASSERT_LE(to.delta, 10);
    ASSERT_EQ(from.min_result, 0) << "the debit must not overdraw";
    ASSERT_EQ(to.min_result, INT64_MIN);
    amounts.insert(to.delta);
    from_shards.insert(cluster::ShardFor(map, from.key));
    for (const Op* op : {&from, &to}) {
      ASSERT_EQ(op->key.rfind("bank/", 0), 0u) << op->key;
      const int64_t account = std::stoll(op->key.substr(5));
      ASSERT_GE(account, 0);
      ASSERT_LT(account, 1000);
    }
  }
  EXPECT_EQ(amounts.size(), 10u) << "amounts 1..10";
  EXPECT_EQ(from_shards.size(), 3u) << "every shard pays";
}

TEST(WorkloadTest, BankOnOneShardUsesTwoAccounts) {
  const cluster::ShardMap map = HashMap(1);
  auto w = MakeOk({.kind = WorkloadKind::kBank, .accounts = 2}, map);
  ASSERT_NE(w, nullptr);
  Rng rng(2);
  for (int i = 0; i < 1000; ++i) {
    const std::vector<Op> ops = w->Next(rng);
    ASSERT_EQ(ops.size(), 2u);
    ASSERT_NE(ops[0].key, ops[1].key);
    ASSERT_EQ(ops[0].delta + ops[1].delta, 0);
  }
}

TEST(WorkloadTest, FanoutTouchesKDistinctShards) {
  const cluster::ShardMap map = HashMap(16);
  for (const int k : {1, 2, 4, 8, 16}) {
    auto w = MakeOk({.kind = WorkloadKind::kFanout, .participants = k, .keys_per_shard = 100},
                    map);
    ASSERT_NE(w, nullptr);
    Rng rng(static_cast<uint64_t>(k));
    std::set<ShardId> used;
    for (int i = 0; i < 2000; ++i) {
      const std::vector<Op> ops = w->Next(rng);
      ASSERT_EQ(ops.size(), static_cast<size_t>(k));
      std::set<ShardId> shards;
      for (const Op& op : ops) {
        ASSERT_EQ(op.type, Op::Type::kPut);
        ASSERT_FALSE(op.value.empty());
        shards.insert(cluster::ShardFor(map, op.key));
      }
      ASSERT_EQ(shards.size(), static_cast<size_t>(k)) << "K=" << k << ": a shard twice";
      used.insert(shards.begin(), shards.end());
    }
    EXPECT_EQ(used.size(), 16u) << "K=" << k << ": every shard is chosen sometimes";
    EXPECT_TRUE(w->LoadBatches(500).empty()) << "blind writes: nothing to load";
  }
}

TEST(WorkloadTest, FanoutRefusesMoreParticipantsThanShards) {
  const std::string too_many =
      MakeError({.kind = WorkloadKind::kFanout, .participants = 4}, HashMap(3));
  EXPECT_NE(too_many.find("--participants"), std::string::npos) << too_many;
  EXPECT_NE(too_many.find("(3)"), std::string::npos) << "names the number of shards: " << too_many;
  MakeError({.kind = WorkloadKind::kFanout, .participants = 17}, HashMap(16));
  MakeError({.kind = WorkloadKind::kFanout, .participants = 0}, HashMap(16));
  // A range map whose last shard owns every "fan/" key: the others can never be filled.
  cluster::ShardMap range = HashMap(3);
  range.partitioning = cluster::Partitioning::kRange;
  range.split_keys = {"a", "b"};
  const std::string unfillable =
      MakeError({.kind = WorkloadKind::kFanout, .participants = 2, .keys_per_shard = 1}, range);
  EXPECT_NE(unfillable.find("owns none of the keys"), std::string::npos) << unfillable;
}

// P(rank 0) of YCSB's zipfian is exactly 1 / zeta(n, theta); rank 1 is 1/2^theta of that.
TEST(WorkloadTest, ZipfianRankZeroIsTheMostFrequent) {
  constexpr uint64_t kN = 1000;
  constexpr double kTheta = 0.99;
  constexpr int kDraws = 200000;
  const ScrambledZipfian zipf(kN, kTheta);
  Rng rng(3);
  std::vector<int> by_rank(kN, 0);
  for (int i = 0; i < kDraws; ++i) {
    const uint64_t r = zipf.NextRank(rng);
    ASSERT_LT(r, kN);
    ++by_rank[r];
  }
  const auto hottest = std::max_element(by_rank.begin(), by_rank.end()) - by_rank.begin();
  EXPECT_EQ(hottest, 0);
  EXPECT_GT(by_rank[0], by_rank[1]);
  EXPECT_GT(by_rank[1], by_rank[2]);
  double zeta = 0;
  for (uint64_t i = 1; i <= kN; ++i) zeta += 1.0 / std::pow(static_cast<double>(i), kTheta);
  const double expected0 = kDraws / zeta;  // about 26,000: 5% is many standard deviations
  EXPECT_NEAR(by_rank[0], expected0, 0.05 * expected0);
  EXPECT_NEAR(by_rank[1], expected0 / std::pow(2.0, kTheta), 0.05 * expected0);
  // The tail is drawn too, up to the last ranks.
  EXPECT_GT(std::count_if(by_rank.begin() + kN / 2, by_rank.end(), [](int c) { return c > 0; }),
            static_cast<long>(kN / 4));
}

TEST(WorkloadTest, ZipfianStaysInRangeAndScrambles) {
  for (const uint64_t n : {2ull, 3ull, 10ull, 1000ull}) {
    const ScrambledZipfian zipf(n, 0.99);
    Rng rng(n);
    for (int i = 0; i < 50000; ++i) {
      ASSERT_LT(zipf.NextRank(rng), n);
      ASSERT_LT(zipf.Next(rng), n);
    }
  }
  // Scrambled: the ten hottest items are not the items 0..9 side by side.
  constexpr uint64_t kN = 1000;
  const ScrambledZipfian zipf(kN, 0.99);
  Rng rng(4);
  std::vector<int> by_item(kN, 0);
  for (int i = 0; i < 200000; ++i) ++by_item[zipf.Next(rng)];
  std::vector<uint64_t> items(kN);
  for (uint64_t i = 0; i < kN; ++i) items[i] = i;
  std::partial_sort(items.begin(), items.begin() + 10, items.end(),
                    [&](uint64_t a, uint64_t b) { return by_item[a] > by_item[b]; });
  const uint64_t spread = *std::max_element(items.begin(), items.begin() + 10) -
                          *std::min_element(items.begin(), items.begin() + 10);
  EXPECT_GT(spread, 100u) << "the hottest items are neighbours: not scrambled";
  // The hottest item is as hot as rank 0 (scrambling is a relabelling).
  double zeta = 0;
  for (uint64_t i = 1; i <= kN; ++i) zeta += 1.0 / std::pow(static_cast<double>(i), 0.99);
  EXPECT_GE(by_item[items[0]], 0.95 * 200000 / zeta);
}

TEST(WorkloadTest, YcsbTransactionsHaveTheAskedShape) {
  const cluster::ShardMap map = HashMap(3);
  for (const double read_fraction : {0.0, 0.5, 1.0}) {
    auto w = MakeOk({.kind = WorkloadKind::kYcsb, .records = 5000, .ops_per_txn = 6,
                     .read_fraction = read_fraction},
                    map);
    ASSERT_NE(w, nullptr);
    Rng rng(5);
    int reads = 0;
    int ops_total = 0;
    for (int i = 0; i < 5000; ++i) {
      const std::vector<Op> ops = w->Next(rng);
      ASSERT_EQ(ops.size(), 6u);
      for (const Op& op : ops) {
        ASSERT_EQ(op.key.rfind("ycsb/", 0), 0u) << op.key;
        ASSERT_LT(std::stoll(op.key.substr(5)), 5000);
        if (op.type == Op::Type::kGet) {
          ++reads;
        } else {
          ASSERT_EQ(op.type, Op::Type::kPut);
          ASSERT_EQ(op.value.size(), 100u);
        }
        ++ops_total;
      }
    }
    EXPECT_NEAR(static_cast<double>(reads) / ops_total, read_fraction, 0.02);
  }
}

TEST(WorkloadTest, LoadBatchesCoverEveryKeyOnce) {
  const cluster::ShardMap map = HashMap(3);
  auto bank = MakeOk({.kind = WorkloadKind::kBank, .accounts = 1234, .initial_balance = 77}, map);
  ASSERT_NE(bank, nullptr);
  const auto batches = bank->LoadBatches(500);
  ASSERT_EQ(batches.size(), 3u);
  EXPECT_EQ(batches[0].size(), 500u);
  EXPECT_EQ(batches[1].size(), 500u);
  EXPECT_EQ(batches[2].size(), 234u);
  std::map<std::string, int> seen;
  for (const auto& batch : batches) {
    for (const Op& op : batch) {
      EXPECT_EQ(op.type, Op::Type::kPut);
      EXPECT_EQ(op.value, "77");
      ++seen[op.key];
    }
  }
  ASSERT_EQ(seen.size(), 1234u);
  for (int64_t i = 0; i < 1234; ++i) EXPECT_EQ(seen[Workload::AccountKey(i)], 1) << i;
  EXPECT_EQ(bank->ExpectedTotal(), 1234 * 77);
  EXPECT_EQ(bank->LoadBatches(5000).size(), 1u);

  // The audit reads every account once.
  std::set<std::string> audited;
  for (const Op& op : bank->AuditOps()) {
    EXPECT_EQ(op.type, Op::Type::kGet);
    EXPECT_TRUE(audited.insert(op.key).second) << op.key << " twice";
  }
  EXPECT_EQ(audited.size(), 1234u);

  auto ycsb = MakeOk({.kind = WorkloadKind::kYcsb, .records = 1001}, map);
  ASSERT_NE(ycsb, nullptr);
  const auto records = ycsb->LoadBatches(100);
  ASSERT_EQ(records.size(), 11u);
  std::set<std::string> keys;
  for (const auto& batch : records) {
    EXPECT_LE(batch.size(), 100u);
    for (const Op& op : batch) {
      EXPECT_EQ(op.type, Op::Type::kPut);
      EXPECT_EQ(op.value.size(), 100u);
      EXPECT_TRUE(keys.insert(op.key).second) << op.key << " twice";
    }
  }
  ASSERT_EQ(keys.size(), 1001u);
  for (uint64_t i = 0; i < 1001; ++i) EXPECT_EQ(keys.count(Workload::RecordKey(i)), 1u) << i;
}

TEST(WorkloadTest, ParseWorkloadKindRoundTripsAndRejectsOthers) {
  for (const WorkloadKind k : {WorkloadKind::kBank, WorkloadKind::kYcsb, WorkloadKind::kFanout}) {
    Result<WorkloadKind> parsed = ParseWorkloadKind(ToString(k));
    ASSERT_TRUE(parsed.ok()) << ToString(k);
    EXPECT_EQ(parsed.value(), k);
  }
  for (const std::string bad : {"", "Bank", "tpcc", "bank "}) {
    Result<WorkloadKind> parsed = ParseWorkloadKind(bad);
    ASSERT_FALSE(parsed.ok()) << "'" << bad << "'";
    EXPECT_EQ(parsed.status().code(), Status::Code::kInvalidArgument);
    EXPECT_NE(parsed.status().message().find("'" + bad + "'"), std::string::npos)
        << parsed.status().message();
  }
}

TEST(WorkloadTest, BadOptionsAreInvalidArgument) {
  const cluster::ShardMap map = HashMap(3);
  EXPECT_NE(MakeError({.kind = WorkloadKind::kBank, .accounts = 1}, map).find("--accounts"),
            std::string::npos);
  EXPECT_NE(MakeError({.kind = WorkloadKind::kYcsb, .records = 1}, map).find("--records"),
            std::string::npos);
  EXPECT_NE(MakeError({.kind = WorkloadKind::kYcsb, .ops_per_txn = 0}, map).find("--ops-per-txn"),
            std::string::npos);
  MakeError({.kind = WorkloadKind::kYcsb, .ops_per_txn = 1001}, map);
  EXPECT_NE(MakeError({.kind = WorkloadKind::kYcsb, .read_fraction = -0.1}, map)
                .find("--read-fraction"),
            std::string::npos);
  MakeError({.kind = WorkloadKind::kYcsb, .read_fraction = 1.1}, map);
  EXPECT_NE(MakeError({.kind = WorkloadKind::kBank}, cluster::ShardMap{}).find("no shards"),
            std::string::npos);
}

}  // namespace
}  // namespace txcoord::bench
