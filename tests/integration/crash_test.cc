// Proves recovery on real processes at every named crash point (common/crash_point.h): the
// coordinator dying after its PREPAREs left, after its decision became durable but before any
// COMMIT left, and after some COMMITs left; a shard dying before its PREPARED record was synced,
// after it but before its YES vote left, and after applying a COMMIT but before acking it.
//
// For each point: a cluster of a coordinator and three shards starts with the point armed on one
// node (TXCOORD_CRASH_AT=<point>@<n>, so some transactions pass it first). Four clients run a bank
// workload throughout -- transfers between nine accounts on three shards, 2PC and 3PC, interactive
// (client library routing to shards) and one-shot (execute) -- each transfer also writing a
// unique marker key. The armed node must die at the point (exit status 86), is restarted on its
// data, and the workload goes on. Then:
//   - the bank total is unchanged (an audit reading every account commits and sums to the start);
//   - every transfer a client was told COMMITTED has its marker readable; every one told ABORTED
//     has none; a transfer told UNKNOWN is resolved through status and checked the same way;
//   - after a clean stop, no transaction is COMMITTED in one shard's log and ABORTED in another's
//     (atomicity, read from the RocksDB logs themselves).

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "client/client.h"
#include "common/crash_point.h"
#include "common/rng.h"
#include "recovery/core/log_fold.h"
#include "tests/integration/local_cluster.h"
#include "wal/wal.h"

namespace txcoord {
namespace {

using client::Client;
using testing::LocalCluster;

constexpr int kAccounts = 9;
constexpr int64_t kInitialBalance = 1000;
constexpr int kClients = 4;

std::string Account(int i) { return "acct/" + std::to_string(i); }

struct CrashCase {
  const char* point;
  int node;  // LocalCluster::kCoordinator or a shard id
};

std::string CaseName(const ::testing::TestParamInfo<CrashCase>& info) {
  std::string name = info.param.point;
  for (char& c : name) {
    if (c == '.') c = '_';
  }
  return name;
}

// What the clients were told, by marker key.
struct Told {
  std::mutex mu;
  std::set<std::string> committed;
  std::set<std::string> aborted;
  std::vector<std::pair<TxnId, std::string>> unknown;
  std::atomic<int> transfers{0};
};

class CrashTest : public ::testing::TestWithParam<CrashCase> {
 protected:
  CrashTest()
      : cluster_(testing::ClusterOptions{
            .vote_timeout_ms = 1000, .client_timeout_ms = 3000, .idle_timeout_ms = 3000}) {}
  void TearDown() override {
    if (HasFailure()) std::cerr << cluster_.Logs();
  }

  std::unique_ptr<Client> Connect() {
    for (int attempt = 0; attempt < 100; ++attempt) {
      auto c = Client::Connect({.host = "127.0.0.1",
                                .port = cluster_.coordinator_port(),
                                .timeout = std::chrono::milliseconds(5000)});
      if (c.ok()) return std::move(c.value());
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    ADD_FAILURE() << "cannot connect to the coordinator";
    return nullptr;
  }

  // Execute, retried while it aborts or is unknown (bounded, 30 s): for setup and audits, whose
  // retry is harmless (they write nothing, or write the same values).
  std::optional<client::ExecuteOutcome> Settled(Client& c, const std::vector<Op>& ops) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (std::chrono::steady_clock::now() < deadline) {
      auto r = c.Execute(Protocol::kTwoPc, ops);
      if (r.ok() && r.value().result.outcome == Outcome::kCommitted) return r.value();
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return std::nullopt;
  }

  void Transfer(Client& c, Rng& rng, int client, int seq, Told& told) {
    const int from = static_cast<int>(rng.Uniform(kAccounts));
    int to = static_cast<int>(rng.Uniform(kAccounts - 1));
    if (to >= from) ++to;
    const int64_t amount = rng.Range(1, 50);
    const Protocol protocol = rng.Chance(0.5) ? Protocol::kThreePc : Protocol::kTwoPc;
    const std::string marker = "m/" + std::to_string(client) + "/" + std::to_string(seq);
    const Op debit{.type = Op::Type::kAdd, .key = Account(from), .delta = -amount, .min_result = 0};
    const Op credit{.type = Op::Type::kAdd, .key = Account(to), .delta = amount};
    // The marker is routed by its own key: often a third participant of the transfer.
    const Op mark{.type = Op::Type::kPut, .key = marker, .value = "1"};
    Outcome outcome = Outcome::kUnknown;
    TxnId id;
    if (client % 2 == 0) {
      auto r = c.Execute(protocol, {debit, credit, mark});
      if (!r.ok()) return;  // refused before anything ran
      outcome = r.value().result.outcome;
      id = r.value().txn;
    } else {
      auto txn = c.Begin(protocol);
      if (!txn.ok()) return;
      id = txn.value().id();
      bool ran = c.Run(txn.value(), {debit}).ok() && c.Run(txn.value(), {credit}).ok() &&
                 c.Run(txn.value(), {mark}).ok();
      auto r = ran ? c.Commit(txn.value()) : c.Abort(txn.value());
      if (!r.ok()) return;
      outcome = r.value().outcome;
    }
    ++told.transfers;
    std::lock_guard<std::mutex> lock(told.mu);
    if (outcome == Outcome::kCommitted) told.committed.insert(marker);
    if (outcome == Outcome::kAborted) told.aborted.insert(marker);
    if (outcome == Outcome::kUnknown && id.valid()) told.unknown.emplace_back(id, marker);
  }

  LocalCluster cluster_;
};

TEST_P(CrashTest, BankSurvivesTheCrashAndRecovery) {
  const CrashCase crash = GetParam();
  for (int node = LocalCluster::kCoordinator; node < 3; ++node) {
    std::map<std::string, std::string> env;
    if (node == crash.node) env["TXCOORD_CRASH_AT"] = std::string(crash.point) + "@10";
    ASSERT_TRUE(cluster_.Start(node, env).ok()) << cluster_.Logs();
  }
  std::unique_ptr<Client> admin = Connect();
  ASSERT_NE(admin, nullptr);
  std::vector<Op> setup;
  for (int i = 0; i < kAccounts; ++i) {
    setup.push_back(
        {.type = Op::Type::kPut, .key = Account(i), .value = std::to_string(kInitialBalance)});
  }
  ASSERT_TRUE(Settled(*admin, setup).has_value()) << "setup did not commit";

  Told told;
  std::atomic<bool> stop{false};
  std::vector<std::thread> clients;
  for (int i = 0; i < kClients; ++i) {
    clients.emplace_back([&, i] {
      std::unique_ptr<Client> c = Connect();
      if (c == nullptr) return;
      Rng rng(static_cast<uint64_t>(i) + 1);
      for (int seq = 0; !stop.load(); ++seq) Transfer(*c, rng, i, seq, told);
    });
  }
  // The armed node dies at its point, and comes back on its data.
  std::optional<int> code = cluster_.WaitExit(crash.node, std::chrono::seconds(30));
  EXPECT_EQ(code, std::optional<int>(kCrashExitCode)) << "the crash point was not reached";
  const int before_restart = told.transfers.load();
  auto committed = [&told] {
    std::lock_guard<std::mutex> lock(told.mu);
    return told.committed.size();
  };
  const size_t committed_before_restart = committed();
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  ASSERT_TRUE(cluster_.Start(crash.node).ok()) << cluster_.Logs();
  // The workload goes on until it has done some transfers, and committed some, after the restart
  // (bounded). Right after it, transfers may all abort: in-doubt ones still hold their locks.
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while ((told.transfers.load() < before_restart + 40 ||
          committed() < committed_before_restart + 20) &&
         std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  stop = true;
  for (std::thread& t : clients) t.join();
  EXPECT_GE(told.transfers.load(), before_restart + 40) << "the workload stalled after restart";

  // The bank total, once in-doubt transactions have resolved (the audit needs every lock).
  std::vector<Op> audit;
  for (int i = 0; i < kAccounts; ++i) audit.push_back({.type = Op::Type::kGet, .key = Account(i)});
  std::optional<client::ExecuteOutcome> seen = Settled(*admin, audit);
  ASSERT_TRUE(seen.has_value()) << "no audit committed within 30 s";
  int64_t total = 0;
  for (const OpResult& r : seen->reads) {
    ASSERT_TRUE(r.found) << r.key;
    total += std::stoll(r.value);
    EXPECT_GE(std::stoll(r.value), 0) << r.key;
  }
  EXPECT_EQ(total, kInitialBalance * kAccounts);

  // What each client was told is what happened.
  for (const auto& [txn, marker] : told.unknown) {
    auto s = admin->StatusOf(txn);
    if (!s.ok()) continue;
    if (s.value().outcome == Outcome::kCommitted) told.committed.insert(marker);
    if (s.value().outcome == Outcome::kAborted) told.aborted.insert(marker);
  }
  EXPECT_GT(told.committed.size(), 20u);
  auto check = [&](const std::set<std::string>& markers, bool want) {
    std::vector<std::string> keys(markers.begin(), markers.end());
    for (size_t at = 0; at < keys.size(); at += 64) {
      std::vector<Op> gets;
      for (size_t i = at; i < std::min(keys.size(), at + 64); ++i) {
        gets.push_back({.type = Op::Type::kGet, .key = keys[i]});
      }
      std::optional<client::ExecuteOutcome> r = Settled(*admin, gets);
      ASSERT_TRUE(r.has_value());
      for (const OpResult& read : r->reads) {
        EXPECT_EQ(read.found, want)
            << read.key
            << (want ? " was told COMMITTED but is missing" : " was told ABORTED but is there");
      }
    }
  };
  check(told.committed, true);
  check(told.aborted, false);

  // Atomicity, from the shards' own logs after a clean stop.
  admin.reset();
  for (int node = LocalCluster::kCoordinator; node < 3; ++node) {
    EXPECT_TRUE(cluster_.Stop(node).ok()) << cluster_.Logs();
  }
  std::map<TxnId, std::map<ShardId, TxnState>> final_states;
  for (ShardId s = 0; s < 3; ++s) {
    auto db = wal::Db::Open(cluster_.data_dir(s));
    ASSERT_TRUE(db.ok()) << db.status().ToString();
    auto wal = wal::Wal::Open(db.value());
    ASSERT_TRUE(wal.ok()) << wal.status().ToString();
    std::vector<Record> records;
    ASSERT_TRUE(wal.value()
                    ->Scan(0,
                           [&](uint64_t, const Record& r) {
                             records.push_back(r);
                             return true;
                           })
                    .ok());
    for (const auto& [txn, log] : recovery::FoldParticipantLog(records).txns) {
      if (IsFinal(log.state)) final_states[txn][s] = log.state;
    }
  }
  int checked = 0;
  for (const auto& [txn, states] : final_states) {
    std::set<TxnState> distinct;
    for (const auto& [shard, state] : states) distinct.insert(state);
    EXPECT_EQ(distinct.size(), 1u) << txn.ToString() << " is committed on one shard and aborted "
                                   << "on another";
    if (states.size() > 1) ++checked;
  }
  EXPECT_GT(checked, 0) << "no multi-shard outcome in the logs to compare";
}

INSTANTIATE_TEST_SUITE_P(
    CrashPoints, CrashTest,
    ::testing::Values(CrashCase{"coordinator.after_prepare_sent", LocalCluster::kCoordinator},
                      CrashCase{"coordinator.after_decision_durable", LocalCluster::kCoordinator},
                      CrashCase{"coordinator.after_some_commits_sent", LocalCluster::kCoordinator},
                      CrashCase{"shard.before_prepared_durable", 0},
                      CrashCase{"shard.after_prepared_durable", 0},
                      CrashCase{"shard.after_commit_applied", 0}),
    CaseName);

}  // namespace
}  // namespace txcoord
