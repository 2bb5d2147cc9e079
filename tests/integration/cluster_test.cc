// Proves the whole system on real processes: a coordinator and three shards (tools/txcoord) on
// 127.0.0.1, driven through the C++ client library (client/client.h).
//
//  - Commit and abort across three shards, under 2PC and 3PC: committed writes are readable from
//    every shard, aborted ones leave nothing; one-shot execute returns its reads in request order;
//    the read-only and single-shard (one-phase) fast paths commit.
//  - Clean stop and restart: every committed value survives SIGTERM and a restart of every node.
//  - Lock conflicts (no-wait) abort the second transaction with LOCK_CONFLICT, typed.

#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "client/client.h"
#include "tests/integration/local_cluster.h"

namespace txcoord {
namespace {

using client::Client;
using client::CommitOutcome;
using testing::LocalCluster;

class ClusterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(cluster_.StartAll().ok()) << cluster_.Logs();
    Connect();
  }
  void TearDown() override {
    if (HasFailure()) std::cerr << cluster_.Logs();
  }
  void Connect() {
    client_.reset();
    auto c = Client::Connect({.host = "127.0.0.1", .port = cluster_.coordinator_port()});
    ASSERT_TRUE(c.ok()) << c.status().ToString();
    client_ = std::move(c.value());
  }
  // One key per shard, each owned by a different shard.
  std::vector<std::string> KeyPerShard(const std::string& prefix) {
    std::vector<std::string> keys(3);
    for (int i = 0; keys[0].empty() || keys[1].empty() || keys[2].empty(); ++i) {
      const std::string k = prefix + std::to_string(i);
      std::string& slot = keys[static_cast<size_t>(client_->ShardOf(k))];
      if (slot.empty()) slot = k;
    }
    return keys;
  }
  // Execute, retried (bounded, 5 s) while it aborts with LOCK_CONFLICT.
  client::ExecuteOutcome ExecuteSettled(Protocol protocol, const std::vector<Op>& ops) {
    client::ExecuteOutcome last;
    for (int attempt = 0; attempt < 250; ++attempt) {
      auto r = client_->Execute(protocol, ops);
      EXPECT_TRUE(r.ok()) << r.status().ToString();
      if (!r.ok()) return last;
      last = r.value();
      if (last.result.reason != AbortReason::kLockConflict) return last;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return last;
  }
  std::optional<std::string> ReadCommitted(const std::string& key) {
    // Retried while it aborts with LOCK_CONFLICT: shards release a committed transaction's
    // locks once they have applied its COMMIT, a moment after the client is told COMMITTED, and
    // locking is no-wait. Bounded: 5 s.
    for (int attempt = 0; attempt < 250; ++attempt) {
      auto r = ExecuteSettled(Protocol::kTwoPc, {Op{.type = Op::Type::kGet, .key = key}});
      if (r.result.outcome == Outcome::kCommitted && r.reads.size() == 1) {
        return r.reads[0].found ? std::optional(r.reads[0].value) : std::nullopt;
      }
    }
    ADD_FAILURE() << "could not read " << key;
    return std::nullopt;
  }

  LocalCluster cluster_;
  std::unique_ptr<Client> client_;
};

TEST_F(ClusterTest, CommitAndAbortAcrossThreeShardsUnderBothProtocols) {
  for (Protocol protocol : {Protocol::kTwoPc, Protocol::kThreePc}) {
    const std::string tag = ToString(protocol);
    const std::vector<std::string> keys = KeyPerShard("k/" + tag + "/");
    auto txn = client_->Begin(protocol);
    ASSERT_TRUE(txn.ok()) << txn.status().ToString();
    for (const std::string& k : keys) ASSERT_TRUE(client_->Write(txn.value(), k, "v-" + k).ok());
    EXPECT_EQ(txn.value().touched().size(), 3u);
    auto committed = client_->Commit(txn.value());
    ASSERT_TRUE(committed.ok());
    EXPECT_EQ(committed.value().outcome, Outcome::kCommitted) << committed.value().detail;
    for (const std::string& k : keys) EXPECT_EQ(ReadCommitted(k), "v-" + k);

    auto aborted = client_->Begin(protocol);
    ASSERT_TRUE(aborted.ok());
    for (const std::string& k : keys) ASSERT_TRUE(client_->Write(aborted.value(), k, "gone").ok());
    auto outcome = client_->Abort(aborted.value());
    ASSERT_TRUE(outcome.ok());
    EXPECT_EQ(outcome.value().outcome, Outcome::kAborted);
    for (const std::string& k : keys) EXPECT_EQ(ReadCommitted(k), "v-" + k) << "abort leaked";
  }
}

TEST_F(ClusterTest, ExecuteReturnsReadsInRequestOrderAcrossShards) {
  const std::vector<std::string> keys = KeyPerShard("x/");
  for (Protocol protocol : {Protocol::kTwoPc, Protocol::kThreePc}) {
    std::vector<Op> writes;
    for (const std::string& k : keys)
      writes.push_back({.type = Op::Type::kPut, .key = k, .value = k + "!"});
    std::optional<client::ExecuteOutcome> w = ExecuteSettled(protocol, writes);
    ASSERT_EQ(w.value().result.outcome, Outcome::kCommitted) << w.value().result.detail;
    // Shard order is 0,1,2; ask in the order 2,0,1 with a missing key in the middle.
    std::optional<client::ExecuteOutcome> r =
        ExecuteSettled(protocol, {{.type = Op::Type::kGet, .key = keys[2]},
                                  {.type = Op::Type::kGet, .key = "x/missing"},
                                  {.type = Op::Type::kGet, .key = keys[0]},
                                  {.type = Op::Type::kGet, .key = keys[1]}});
    ASSERT_EQ(r.value().result.outcome, Outcome::kCommitted);
    ASSERT_EQ(r.value().reads.size(), 4u);
    EXPECT_EQ(r.value().reads[0].key, keys[2]);
    EXPECT_EQ(r.value().reads[0].value, keys[2] + "!");
    EXPECT_EQ(r.value().reads[1].key, "x/missing");
    EXPECT_FALSE(r.value().reads[1].found);
    EXPECT_EQ(r.value().reads[2].value, keys[0] + "!");
    EXPECT_EQ(r.value().reads[3].value, keys[1] + "!");
  }
}

TEST_F(ClusterTest, ReadOnlyAndSingleShardFastPathsCommit) {
  const std::vector<std::string> keys = KeyPerShard("f/");
  auto setup =
      client_->Execute(Protocol::kTwoPc, {{.type = Op::Type::kPut, .key = keys[0], .value = "a"},
                                          {.type = Op::Type::kPut, .key = keys[1], .value = "b"}});
  ASSERT_TRUE(setup.ok());
  ASSERT_EQ(setup.value().result.outcome, Outcome::kCommitted);
  ASSERT_EQ(ReadCommitted(keys[0]), "a");  // settled: the setup's locks are released
  ASSERT_EQ(ReadCommitted(keys[1]), "b");
  for (Protocol protocol : {Protocol::kTwoPc, Protocol::kThreePc}) {
    // Read-only across two shards.
    auto ro = client_->Begin(protocol);
    ASSERT_TRUE(ro.ok());
    auto a = client_->Read(ro.value(), keys[0]);
    auto b = client_->Read(ro.value(), keys[1]);
    ASSERT_TRUE(a.ok() && b.ok()) << a.status().ToString() << " " << b.status().ToString();
    EXPECT_EQ(a.value(), "a");
    EXPECT_EQ(b.value(), "b");
    auto c = client_->Commit(ro.value());
    ASSERT_TRUE(c.ok());
    EXPECT_EQ(c.value().outcome, Outcome::kCommitted) << c.value().detail;
    // One shard: one-phase commit, interactive and one-shot.
    auto one = client_->Begin(protocol);
    ASSERT_TRUE(one.ok());
    ASSERT_TRUE(client_->Write(one.value(), keys[2], "one").ok());
    auto c1 = client_->Commit(one.value());
    ASSERT_TRUE(c1.ok());
    EXPECT_EQ(c1.value().outcome, Outcome::kCommitted) << c1.value().detail;
    EXPECT_EQ(ReadCommitted(keys[2]), "one");
    auto shot =
        client_->Execute(protocol, {{.type = Op::Type::kAdd, .key = keys[2] + "/n", .delta = 5}});
    ASSERT_TRUE(shot.ok());
    EXPECT_EQ(shot.value().result.outcome, Outcome::kCommitted);
  }
  EXPECT_EQ(ReadCommitted(keys[2] + "/n"), "10");
}

TEST_F(ClusterTest, LockConflictAbortsTheSecondTransactionTyped) {
  const std::string key = KeyPerShard("l/")[1];
  auto first = client_->Begin(Protocol::kTwoPc);
  auto second = client_->Begin(Protocol::kTwoPc);
  ASSERT_TRUE(first.ok() && second.ok());
  ASSERT_TRUE(client_->Write(first.value(), key, "1").ok());
  Status s = client_->Write(second.value(), key, "2");
  EXPECT_EQ(s.code(), Status::Code::kAborted) << s.ToString();
  EXPECT_EQ(second.value().failed(), AbortReason::kLockConflict) << s.message();
  auto c2 = client_->Commit(second.value());
  ASSERT_TRUE(c2.ok());
  EXPECT_EQ(c2.value().outcome, Outcome::kAborted);
  EXPECT_EQ(c2.value().reason, AbortReason::kLockConflict);
  auto c1 = client_->Commit(first.value());
  ASSERT_TRUE(c1.ok());
  EXPECT_EQ(c1.value().outcome, Outcome::kCommitted);
  EXPECT_EQ(ReadCommitted(key), "1");
}

TEST_F(ClusterTest, CommittedValuesSurviveACleanRestartOfEveryNode) {
  const std::vector<std::string> keys = KeyPerShard("r/");
  std::vector<Op> writes;
  for (const std::string& k : keys)
    writes.push_back({.type = Op::Type::kPut, .key = k, .value = "kept"});
  auto w = client_->Execute(Protocol::kThreePc, writes);
  ASSERT_TRUE(w.ok());
  ASSERT_EQ(w.value().result.outcome, Outcome::kCommitted);
  client_.reset();
  for (int node = LocalCluster::kCoordinator; node < 3; ++node) {
    ASSERT_TRUE(cluster_.Stop(node).ok()) << cluster_.Logs();
  }
  ASSERT_TRUE(cluster_.StartAll().ok()) << cluster_.Logs();
  Connect();
  for (const std::string& k : keys) EXPECT_EQ(ReadCommitted(k), "kept");
  // The restarted coordinator runs under a new epoch: new ids never repeat old ones.
  auto txn = client_->Begin(Protocol::kTwoPc);
  ASSERT_TRUE(txn.ok());
  EXPECT_EQ(txn.value().id().epoch, 2u);
}

}  // namespace
}  // namespace txcoord
