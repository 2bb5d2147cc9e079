// Proves replica groups on real processes (DESIGN.md section 5): a coordinator group and two
// shard groups of three replicas each (nine `txcoord` processes on 127.0.0.1), a bank workload
// from several clients running throughout, and one fault per test:
//
//  - kill -9 a shard primary: a backup takes over by itself and the workload goes on;
//  - kill -9 a backup: the ISR shrinks, progress goes on; it returns, catches up and rejoins;
//  - kill -9 the coordinator primary with transactions in flight: a backup takes over and
//    resolves every transaction that was in doubt;
//  - SIGSTOP a shard primary past grace_ms, then SIGCONT: a backup takes over; the old primary
//    is fenced and changes nothing;
//  - kill -9 a shard primary and wipe its data directory (the machine-loss case): it comes back
//    as an empty replica, rebuilds from the group, and nothing is lost;
//  - the replication path's crash points: a primary dying with records durable only on its disk,
//    a backup dying between its sync and its ack, a new primary dying right after it won the
//    election, before any replica heard of its term;
//  - with logs truncated early (small retention): a shard backup and a coordinator backup away
//    while their primaries' logs move past everything they hold come back, get a state transfer
//    (a new disk, the store and the log's suffix), rejoin, and the shard one then takes over.
//
// What is checked at the end does not trust the servers' own bookkeeping: every transfer the
// clients were told COMMITTED (or found COMMITTED by asking about an UNKNOWN one) is replayed
// on a ledger of our own, and the balances read through a plain client must equal it exactly,
// give or take some subset of the few transfers whose call got no reply at all (no transaction
// id to ask about): nothing acknowledged lost, nothing aborted applied, every transaction
// all-or-nothing across the two shards; the total is constant. Then every replica is stopped and its RocksDB store
// opened directly: each one holds exactly the ledger's balances of its shard (the replicas
// agree, including the rebuilt one).
#include <gtest/gtest.h>
#include <signal.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <rocksdb/db.h>

#include "client/client.h"
#include "tools/local_cluster.h"
#include "tests/integration/bank.h"
#include "tests/integration/local_cluster.h"
#include "wal/db.h"

namespace txcoord {
namespace {

using client::Client;
using testing::LocalCluster;
using NodeId = LocalCluster::NodeId;
using Clock = std::chrono::steady_clock;

constexpr int kAccounts = 40;
constexpr int64_t kInitial = 1000;
constexpr int kClients = 4;

using testing::Account;

testing::ClusterOptions Options() {
  testing::ClusterOptions o;
  o.shards = 2;
  o.replicas = 3;
  o.vote_timeout_ms = 1000;
  o.client_timeout_ms = 3000;
  return o;
}

class FailoverTest : public ::testing::Test {
 protected:
  virtual testing::ClusterOptions ClusterOptions() const { return Options(); }
  void SetUp() override {
    cluster_ = std::make_unique<LocalCluster>(ClusterOptions());
    ASSERT_TRUE(cluster_->StartAll(start_env_).ok()) << cluster_->Logs();
    client::ClientOptions options;
    for (const cluster::Address& a : cluster_->config(LocalCluster::kCoordinator).coordinators) {
      options.coordinators.push_back(a.ToString());
    }
    options.timeout = std::chrono::milliseconds(8000);
    client_options_ = options;
    auto c = Client::Connect(options);
    ASSERT_TRUE(c.ok()) << c.status().ToString();
    reader_ = std::move(c.value());
    // Seed the accounts (retried while the groups elect their first primaries).
    std::vector<Op> puts;
    for (int i = 0; i < kAccounts; ++i) {
      puts.push_back({.type = Op::Type::kPut, .key = Account(i), .value = std::to_string(kInitial)});
      book_.ledger[Account(i)] = kInitial;
    }
    ASSERT_TRUE(ExecuteUntilDecided(Protocol::kTwoPc, puts) == Outcome::kCommitted)
        << cluster_->Logs();
    // Every replica in its group's ISR before the fault: the primaries make no configuration
    // change of their own meanwhile. (A primary paused in the middle of one holds the static
    // store's file lock, and no backup could take over until it woke.) Not with crash points
    // armed: their nodes may die on the way.
    for (NodeId n : start_env_.empty() ? cluster_->nodes() : std::vector<NodeId>{}) {
      ASSERT_TRUE(WaitInIsr(n, std::chrono::seconds(15))) << cluster_->name(n) << cluster_->Logs();
    }
  }
  void TearDown() override {
    StopLoad();
    if (HasFailure() && cluster_ != nullptr) std::cerr << cluster_->Logs();
  }

  // Runs ops until an outcome is decided (bounded: 20 s); UNKNOWN ones are asked about.
  Outcome ExecuteUntilDecided(Protocol protocol, const std::vector<Op>& ops) {
    const auto deadline = Clock::now() + std::chrono::seconds(20);
    while (Clock::now() < deadline) {
      auto r = reader_->Execute(protocol, ops);
      if (!r.ok()) {
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
        continue;
      }
      Outcome o = r.value().result.outcome;
      if (o == Outcome::kUnknown) o = testing::Resolve(*reader_, r.value().txn);
      if (o == Outcome::kCommitted) return o;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return Outcome::kUnknown;
  }

  // Two accounts on different shards.
  std::pair<int, int> Pair(std::mt19937& rng) {
    for (;;) {
      const int a = static_cast<int>(rng() % kAccounts);
      const int b = static_cast<int>(rng() % kAccounts);
      if (reader_->ShardOf(Account(a)) != reader_->ShardOf(Account(b))) return {a, b};
    }
  }

  void StartLoad() {
    stop_ = false;
    for (int t = 0; t < kClients; ++t) {
      threads_.emplace_back([this, t] {
        auto c = Client::Connect(client_options_);
        if (!c.ok()) {
          ++errors_;
          return;
        }
        std::mt19937 rng(static_cast<uint32_t>(t) * 7919u + 1);
        while (!stop_) {
          const auto [a, b] = Pair(rng);
          const std::vector<Op> ops = {
              {.type = Op::Type::kAdd, .key = Account(a), .delta = -1, .min_result = 0},
              {.type = Op::Type::kAdd, .key = Account(b), .delta = 1}};
          const Protocol protocol = rng() % 2 ? Protocol::kTwoPc : Protocol::kThreePc;
          auto r = c.value()->Execute(protocol, ops);
          if (r.ok() && r.value().result.outcome == Outcome::kUnknown) ++unknown_;
          if (!book_.Note(a, b, testing::Settle(*c.value(), r))) {
            ++errors_;  // nothing was done: no primary reachable in time
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
          }
        }
      });
    }
  }
  void StopLoad() {
    stop_ = true;
    for (std::thread& t : threads_) t.join();
    threads_.clear();
  }
  // Lets the load run until `n` more transfers committed (true), or `timeout` passed (false).
  // Bounded by time, not a fixed sleep: a slow build (sanitizers) commits the same, later.
  bool Commits(uint64_t n, std::chrono::milliseconds timeout = std::chrono::seconds(20)) {
    const uint64_t before = book_.committed;
    const auto deadline = Clock::now() + timeout;
    while (book_.committed - before < n) {
      if (Clock::now() >= deadline) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return true;
  }

  // The primary the group's configuration names, read again while the store cannot answer
  // (bounded: 10 s; etcd electing a new leader takes a second or two).
  NodeId PrimaryOf(int group) {
    auto p = cluster_->Primary(group);
    const auto deadline = Clock::now() + std::chrono::seconds(10);
    while (!p.ok() && Clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      p = cluster_->Primary(group);
    }
    EXPECT_TRUE(p.ok()) << p.status().ToString();
    return p.ok() ? p.value() : NodeId{group, 0};
  }
  // Waits (bounded) until the group's configuration names a primary other than `old`.
  NodeId WaitNewPrimary(int group, NodeId old, std::chrono::milliseconds timeout) {
    const auto deadline = Clock::now() + timeout;
    while (Clock::now() < deadline) {
      auto p = cluster_->Primary(group);
      if (p.ok() && !(p.value() == old)) return p.value();
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    ADD_FAILURE() << "no new primary for group " << group << " within " << timeout.count()
                  << " ms";
    return old;
  }
  // Waits (bounded) until replica `node` is in its group's ISR (`in`) or out of it; with
  // `not_disk`, in it on another disk than that one.
  bool WaitIsr(NodeId node, bool in, std::chrono::milliseconds timeout,
               replication::DiskId not_disk = 0) {
    const auto deadline = Clock::now() + timeout;
    while (Clock::now() < deadline) {
      auto g = cluster_->ReadGroup(node.group);
      if (g.ok()) {
        auto it = g.value().isr.find(node.replica);
        const bool member = it != g.value().isr.end() && (not_disk == 0 || it->second != not_disk);
        if (member == in) return true;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return false;
  }
  bool WaitInIsr(NodeId node, std::chrono::milliseconds timeout) {
    return WaitIsr(node, true, timeout);
  }
  bool WaitOutOfIsr(NodeId node, std::chrono::milliseconds timeout) {
    return WaitIsr(node, false, timeout);
  }

  // The final checks (see the top of this file).
  void CheckBalances() {
    StopLoad();
    EXPECT_EQ(book_.unresolved.load(), 0u) << "UNKNOWN outcomes that never resolved";
    std::vector<Op> gets;
    for (int i = 0; i < kAccounts; ++i) gets.push_back({.type = Op::Type::kGet, .key = Account(i)});
    std::optional<client::ExecuteOutcome> read;
    const auto deadline = Clock::now() + std::chrono::seconds(30);
    while (Clock::now() < deadline) {
      auto r = reader_->Execute(Protocol::kTwoPc, gets);
      if (r.ok() && r.value().result.outcome == Outcome::kCommitted) {
        read = r.value();
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));  // locks of in-doubt ones
    }
    ASSERT_TRUE(read.has_value()) << "the accounts could not be read: something stays in doubt";
    ASSERT_EQ(read->reads.size(), static_cast<size_t>(kAccounts));
    std::map<std::string, int64_t> balances;
    int64_t total = 0;
    for (int i = 0; i < kAccounts; ++i) {
      ASSERT_TRUE(read->reads[i].found) << Account(i);
      const int64_t balance = std::stoll(read->reads[i].value);
      balances[Account(i)] = balance;
      EXPECT_GE(balance, 0) << Account(i);
      total += balance;
    }
    EXPECT_EQ(total, kInitial * kAccounts);
    // Transfers whose call got no reply at all happened or not, each as a whole: some subset of
    // them, applied on top of every acknowledged one, must give exactly what was read.
    ASSERT_LE(book_.maybe.size(), 16u) << "too many calls without any reply to check";
    const std::optional<std::map<std::string, int64_t>> explanation =
        testing::Explain(book_.ledger, book_.maybe, balances);
    const bool explained = explanation.has_value();
    if (explained) book_.ledger = *explanation;  // what the replicas' stores must hold
    EXPECT_TRUE(explained) << "the balances read are not the acknowledged transfers plus a "
                           << "subset of the " << book_.maybe.size() << " unanswered ones";
    if (!explained) {
      for (const auto& [account, balance] : balances) {
        if (balance != book_.ledger[account]) {
          ADD_FAILURE() << account << ": read " << balance << ", acknowledged " << book_.ledger[account];
        }
      }
    }
  }

  // Stops every replica of each shard group and reads its store directly.
  void CheckReplicaStores() {
    for (NodeId n : cluster_->nodes()) {
      if (cluster_->Running(n)) {
        EXPECT_TRUE(cluster_->Stop(n).ok()) << cluster_->name(n);
      }
    }
    for (int shard = 0; shard < cluster_->shards(); ++shard) {
      for (NodeId n : cluster_->group_nodes(shard)) {
        auto db = wal::Db::Open(cluster_->data_dir(n));
        ASSERT_TRUE(db.ok()) << cluster_->name(n) << ": " << db.status().ToString();
        for (int i = 0; i < kAccounts; ++i) {
          if (reader_->ShardOf(Account(i)) != shard) continue;
          std::string value;
          rocksdb::Status s = db.value()->rocks()->Get(rocksdb::ReadOptions(), db.value()->data(),
                                                       Account(i), &value);
          ASSERT_TRUE(s.ok()) << cluster_->name(n) << " " << Account(i) << ": " << s.ToString();
          EXPECT_EQ(std::stoll(value), book_.ledger[Account(i)])
              << cluster_->name(n) << " holds another balance of " << Account(i);
        }
      }
    }
  }

  // Made in SetUp from ClusterOptions() (a derived fixture changes them).
  std::unique_ptr<LocalCluster> cluster_;
  // Extra environment of some nodes at the first start (crash points), set by a derived fixture.
  std::map<NodeId, std::map<std::string, std::string>> start_env_;
  client::ClientOptions client_options_;
  std::unique_ptr<Client> reader_;
  testing::Book book_;  // what the clients were told
  std::vector<std::thread> threads_;
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> unknown_{0}, errors_{0};
};

TEST_F(FailoverTest, KillShardPrimaryABackupTakesOverAndTheWorkloadGoesOn) {
  StartLoad();
  ASSERT_TRUE(Commits(20));
  const NodeId old = PrimaryOf(0);
  cluster_->Kill(old);
  const NodeId next = WaitNewPrimary(0, old, std::chrono::seconds(10));
  EXPECT_TRUE(Commits(20)) << "no commits after the failover";
  EXPECT_TRUE(WaitOutOfIsr(old, std::chrono::seconds(10)));
  ASSERT_TRUE(cluster_->Start(old).ok()) << cluster_->Logs();
  EXPECT_TRUE(WaitInIsr(old, std::chrono::seconds(15))) << cluster_->name(old) << " never rejoined";
  EXPECT_TRUE(Commits(20));
  std::cerr << "failover " << cluster_->name(old) << " -> " << cluster_->name(next) << ": "
            << book_.committed << " committed, " << unknown_ << " unknown, " << errors_ << " errors\n";
  CheckBalances();
  CheckReplicaStores();
}

TEST_F(FailoverTest, KillBackupTheIsrShrinksAndItCatchesUpWhenBack) {
  StartLoad();
  ASSERT_TRUE(Commits(20));
  const NodeId primary = PrimaryOf(1);
  const NodeId backup{1, (primary.replica + 1) % 3};
  cluster_->Kill(backup);
  const auto deadline = Clock::now() + std::chrono::seconds(10);
  bool shrunk = false;
  while (!shrunk && Clock::now() < deadline) {
    auto g = cluster_->ReadGroup(1);
    shrunk = g.ok() && !g.value().InIsr(backup.replica);
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_TRUE(shrunk) << "the dead backup stayed in the ISR";
  EXPECT_TRUE(Commits(20)) << "no progress without the backup";
  EXPECT_TRUE(PrimaryOf(1) == primary) << "the primary should not have changed";
  ASSERT_TRUE(cluster_->Start(backup).ok()) << cluster_->Logs();
  EXPECT_TRUE(WaitInIsr(backup, std::chrono::seconds(15))) << "the backup never rejoined";
  EXPECT_TRUE(Commits(20));
  CheckBalances();
  CheckReplicaStores();
}

TEST_F(FailoverTest, KillCoordinatorPrimaryABackupResolvesEveryInDoubtTransaction) {
  StartLoad();
  ASSERT_TRUE(Commits(20));
  const NodeId old = PrimaryOf(LocalCluster::kCoordinator);
  cluster_->Kill(old);  // with transfers in flight: the clients are running
  WaitNewPrimary(LocalCluster::kCoordinator, old, std::chrono::seconds(10));
  EXPECT_TRUE(Commits(20)) << "no commits through the new primary";
  EXPECT_TRUE(WaitOutOfIsr(old, std::chrono::seconds(10)));
  ASSERT_TRUE(cluster_->Start(old).ok()) << cluster_->Logs();
  EXPECT_TRUE(WaitInIsr(old, std::chrono::seconds(15)));
  std::cerr << book_.committed << " committed, " << unknown_ << " unknown (all resolved: "
            << (book_.unresolved == 0) << "), " << errors_ << " errors\n";
  CheckBalances();
  CheckReplicaStores();
}

TEST_F(FailoverTest, PausedPrimaryIsDeposedAndChangesNothingWhenItWakes) {
  StartLoad();
  ASSERT_TRUE(Commits(20));
  const NodeId old = PrimaryOf(0);
  const pid_t pid = cluster_->pid(old);
  ASSERT_GT(pid, 0);
  ASSERT_EQ(::kill(pid, SIGSTOP), 0);
  const NodeId next = WaitNewPrimary(0, old, std::chrono::seconds(10));
  EXPECT_TRUE(Commits(20)) << "no commits while the old one sleeps";
  EXPECT_TRUE(WaitOutOfIsr(old, std::chrono::seconds(10)));
  ASSERT_EQ(::kill(pid, SIGCONT), 0);
  EXPECT_TRUE(Commits(20));
  EXPECT_TRUE(PrimaryOf(0) == next) << "the woken primary took its group back";
  EXPECT_TRUE(WaitInIsr(old, std::chrono::seconds(15))) << "the old primary never rejoined";
  CheckBalances();
  CheckReplicaStores();
}

TEST_F(FailoverTest, WipedPrimaryRebuildsFromItsGroupAndNothingIsLost) {
  StartLoad();
  ASSERT_TRUE(Commits(20));
  const NodeId old = PrimaryOf(1);
  auto before = cluster_->ReadGroup(1);
  ASSERT_TRUE(before.ok());
  const replication::DiskId old_disk = before.value().isr.at(old.replica);
  cluster_->Kill(old);
  std::filesystem::remove_all(cluster_->data_dir(old));  // the machine is lost with its disk
  WaitNewPrimary(1, old, std::chrono::seconds(10));
  EXPECT_TRUE(Commits(20));
  ASSERT_TRUE(cluster_->Start(old).ok()) << cluster_->Logs();
  EXPECT_TRUE(WaitIsr(old, true, std::chrono::seconds(20), old_disk))
      << "the wiped replica never rejoined on its new disk";
  EXPECT_TRUE(Commits(20));
  CheckBalances();
  CheckReplicaStores();  // the rebuilt replica holds every committed balance
}

// ---- crash points in the replication path (common/crash_point.h) --------------------------------

constexpr int kCrashExit = 86;  // common/crash_point.h: kCrashExitCode

class PrimaryCrashTest : public FailoverTest {
 public:
  PrimaryCrashTest() {
    start_env_[NodeId{0, 0}] = {{"TXCOORD_CRASH_AT", "replica.primary_durable_before_commit@40"}};
  }
};

TEST_F(PrimaryCrashTest, APrimaryDyingWithRecordsOnlyOnItsDiskLosesNothingAcknowledged) {
  const NodeId armed{0, 0};
  ASSERT_TRUE(PrimaryOf(0) == armed);
  StartLoad();
  EXPECT_EQ(cluster_->WaitExit(armed, std::chrono::seconds(20)), std::optional<int>(kCrashExit))
      << "the crash point was not reached";
  WaitNewPrimary(0, armed, std::chrono::seconds(10));
  EXPECT_TRUE(Commits(20)) << "no commits after the crash";
  ASSERT_TRUE(cluster_->Start(armed).ok()) << cluster_->Logs();
  EXPECT_TRUE(WaitInIsr(armed, std::chrono::seconds(15))) << "it never rejoined";
  CheckBalances();
  CheckReplicaStores();
}

class BackupCrashTest : public FailoverTest {
 public:
  BackupCrashTest() {
    start_env_[NodeId{1, 1}] = {{"TXCOORD_CRASH_AT", "replica.backup_durable_before_ack@40"}};
  }
};

TEST_F(BackupCrashTest, ABackupDyingBeforeItsAckLosesNothingAndCatchesUp) {
  const NodeId armed{1, 1};
  StartLoad();
  EXPECT_EQ(cluster_->WaitExit(armed, std::chrono::seconds(20)), std::optional<int>(kCrashExit))
      << "the crash point was not reached";
  EXPECT_TRUE(Commits(20)) << "no progress without the backup";
  ASSERT_TRUE(cluster_->Start(armed).ok()) << cluster_->Logs();
  EXPECT_TRUE(WaitInIsr(armed, std::chrono::seconds(15))) << "it never rejoined";
  CheckBalances();
  CheckReplicaStores();
}

class PromotionCrashTest : public FailoverTest {
 public:
  PromotionCrashTest() {
    start_env_[NodeId{0, 1}] = {{"TXCOORD_CRASH_AT", "replica.promoted_before_reconciled"}};
  }
};

TEST_F(PromotionCrashTest, ANewPrimaryDyingBeforeItReconcilesIsReplacedAndNothingIsLost) {
  StartLoad();
  ASSERT_TRUE(Commits(20));
  ASSERT_TRUE(PrimaryOf(0) == (NodeId{0, 0}));
  // Leave replica 1 the only one that may be promoted, then take the primary away.
  ASSERT_TRUE(cluster_->Stop(NodeId{0, 2}).ok());
  ASSERT_TRUE(WaitOutOfIsr(NodeId{0, 2}, std::chrono::seconds(10)));
  cluster_->Kill(NodeId{0, 0});
  EXPECT_EQ(cluster_->WaitExit(NodeId{0, 1}, std::chrono::seconds(20)),
            std::optional<int>(kCrashExit))
      << "replica 1 was not promoted, or the crash point was not reached";
  // Everything back (unarmed): replica 1 is promoted again and reconciles the others.
  ASSERT_TRUE(cluster_->StartAll().ok()) << cluster_->Logs();
  EXPECT_TRUE(Commits(20)) << "no commits after the recovery";
  CheckBalances();
  CheckReplicaStores();
}

// ---- state transfer ------------------------------------------------------------------------

class StateTransferTest : public FailoverTest {
 protected:
  testing::ClusterOptions ClusterOptions() const override {
    testing::ClusterOptions o = Options();
    // Logs are truncated every few hundred records, and a member lagging by more than 300
    // records no longer holds its primary's log back.
    o.retain_finished = 200;
    o.log_truncate_records = 200;
    o.log_retain_lagging_records = 300;
    return o;
  }
  // The replica's own view (Peer.replica_status), or nullopt when it does not answer.
  std::optional<thrift::ReplicaStatus> StatusOf(NodeId node) {
    const std::vector<NodeId> nodes = cluster_->nodes();
    std::vector<bool> ask(nodes.size(), false);
    size_t at = 0;
    for (size_t i = 0; i < nodes.size(); ++i) {
      if (nodes[i] == node) at = i;
    }
    ask[at] = true;
    std::vector<Result<thrift::ReplicaStatus>> answers =
        local::AskReplicaStatus(cluster_->cluster_dir(), ask);
    if (!answers[at].ok()) return std::nullopt;
    return answers[at].value();
  }
  // Waits (bounded) until `primary`'s log starts after `position`.
  bool WaitLogStartPast(NodeId primary, int64_t position, std::chrono::milliseconds timeout) {
    const auto deadline = Clock::now() + timeout;
    while (Clock::now() < deadline) {
      std::optional<thrift::ReplicaStatus> s = StatusOf(primary);
      if (s && s->log_start > position + 1) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return false;
  }
  std::string LogOf(NodeId node) {
    std::ifstream in(cluster_->log_path(node));
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
  }
};

TEST_F(StateTransferTest, BackupsBehindTheLogsStartGetTheStateRejoinAndTakeOver) {
  StartLoad();
  ASSERT_TRUE(Commits(20));
  const NodeId shard_primary = PrimaryOf(1);
  const NodeId shard_backup{1, (shard_primary.replica + 1) % 3};
  const NodeId coord_primary = PrimaryOf(LocalCluster::kCoordinator);
  const NodeId coord_backup{LocalCluster::kCoordinator, (coord_primary.replica + 1) % 3};
  std::map<NodeId, int64_t> held;  // the last position each backup held
  std::map<NodeId, replication::DiskId> disks;
  for (NodeId b : {shard_backup, coord_backup}) {
    std::optional<thrift::ReplicaStatus> s = StatusOf(b);
    ASSERT_TRUE(s.has_value()) << cluster_->name(b);
    held[b] = s->last_position;
    auto g = cluster_->ReadGroup(b.group);
    ASSERT_TRUE(g.ok());
    disks[b] = g.value().isr.at(b.replica);
    cluster_->Kill(b);
  }
  EXPECT_TRUE(WaitOutOfIsr(shard_backup, std::chrono::seconds(10)));
  EXPECT_TRUE(WaitOutOfIsr(coord_backup, std::chrono::seconds(10)));
  // The primaries' logs move past everything the backups hold (the load goes on).
  ASSERT_TRUE(WaitLogStartPast(shard_primary, held[shard_backup], std::chrono::seconds(60)))
      << "the shard primary's log was never truncated past its away backup";
  ASSERT_TRUE(WaitLogStartPast(coord_primary, held[coord_backup], std::chrono::seconds(60)))
      << "the coordinator primary's log was never truncated past its away backup";
  for (NodeId b : {shard_backup, coord_backup}) {
    ASSERT_TRUE(cluster_->Start(b).ok()) << cluster_->Logs();
  }
  for (NodeId b : {shard_backup, coord_backup}) {
    EXPECT_TRUE(WaitIsr(b, true, std::chrono::seconds(30), disks[b]))
        << cluster_->name(b) << " never rejoined on the disk its transfer made";
    EXPECT_NE(LogOf(b).find("state transfer installed"), std::string::npos) << cluster_->name(b);
  }
  EXPECT_TRUE(Commits(20));
  // Backups drop what their primary dropped.
  for (NodeId n : cluster_->group_nodes(1)) {
    std::optional<thrift::ReplicaStatus> s = StatusOf(n);
    ASSERT_TRUE(s.has_value());
    EXPECT_GT(s->log_start, 1) << cluster_->name(n) << "'s log was never truncated";
  }
  // The transferred shard replica can be promoted: the other two leave, one at a time.
  const NodeId other{1, 3 - shard_primary.replica - shard_backup.replica};
  ASSERT_TRUE(cluster_->Stop(other).ok());
  ASSERT_TRUE(WaitOutOfIsr(other, std::chrono::seconds(10)));
  cluster_->Kill(shard_primary);
  EXPECT_TRUE(WaitNewPrimary(1, shard_primary, std::chrono::seconds(10)) == shard_backup);
  ASSERT_TRUE(cluster_->Start(other).ok()) << cluster_->Logs();
  ASSERT_TRUE(cluster_->Start(shard_primary).ok()) << cluster_->Logs();
  EXPECT_TRUE(Commits(20)) << "no commits with the transferred replica as primary";
  EXPECT_TRUE(WaitInIsr(shard_primary, std::chrono::seconds(30)));
  EXPECT_TRUE(WaitInIsr(other, std::chrono::seconds(30)));
  CheckBalances();
  CheckReplicaStores();
}

// ---- on etcd ---------------------------------------------------------------------------------
//
// The same cluster and load with the `etcd` configuration master (cluster/etcd_store.h): a real
// 3-member etcd cluster on 127.0.0.1 holds every group's configuration. Beyond the checks above,
// each test checks from the nodes' own logs that no two replicas of a group ever served in the
// same epoch.
class EtcdFailoverTest : public FailoverTest {
 protected:
  testing::ClusterOptions ClusterOptions() const override {
    testing::ClusterOptions o = Options();
    o.etcd_members = 3;
    return o;
  }

  // Every "txcoord GROUP replica R: serving (epoch E, ..." line of every node's log: at most
  // one replica per group and epoch.
  void CheckOnePrimaryPerEpoch() {
    std::map<std::pair<std::string, std::string>, std::set<int>> served;  // (group, epoch)
    for (NodeId n : cluster_->nodes()) {
      std::ifstream in(cluster_->log_path(n));
      std::string line;
      const std::string prefix = "txcoord " + local::GroupName(n.group) + " replica " +
                                 std::to_string(n.replica) + ": serving (epoch ";
      while (std::getline(in, line)) {
        if (line.rfind(prefix, 0) != 0) continue;
        const std::string epoch = line.substr(prefix.size(), line.find(',', prefix.size()) -
                                                                 prefix.size());
        served[{local::GroupName(n.group), epoch}].insert(n.replica);
      }
    }
    EXPECT_FALSE(served.empty()) << "no node logged that it serves";
    for (const auto& [key, replicas] : served) {
      EXPECT_EQ(replicas.size(), 1u) << key.first << " had " << replicas.size()
                                     << " primaries serving in epoch " << key.second;
    }
  }
};

// kill -9 a shard primary, the coordinator primary and etcd's leader, one after the other under
// load; then a failover with etcd down to two members. Each is taken over, the load goes on,
// and the killed ones come back and rejoin.
TEST_F(EtcdFailoverTest, KillEachKindOfPrimaryAndEtcdsLeader) {
  StartLoad();
  ASSERT_TRUE(Commits(20));
  const NodeId shard = PrimaryOf(0);
  cluster_->Kill(shard);
  WaitNewPrimary(0, shard, std::chrono::seconds(10));
  EXPECT_TRUE(Commits(20)) << "no commits after the shard failover";
  const NodeId coordinator = PrimaryOf(LocalCluster::kCoordinator);
  cluster_->Kill(coordinator);
  WaitNewPrimary(LocalCluster::kCoordinator, coordinator, std::chrono::seconds(10));
  EXPECT_TRUE(Commits(20)) << "no commits after the coordinator failover";
  Result<int> leader = cluster_->EtcdLeader();
  ASSERT_TRUE(leader.ok()) << leader.status().ToString();
  cluster_->KillEtcd(leader.value());
  EXPECT_TRUE(Commits(20)) << "no commits after etcd's leader died";
  // A failover needs etcd's new leader: two members of three still make a majority.
  const NodeId other = PrimaryOf(1);
  cluster_->Kill(other);
  WaitNewPrimary(1, other, std::chrono::seconds(15));
  EXPECT_TRUE(Commits(20)) << "no commits after a failover on two etcd members";
  ASSERT_TRUE(cluster_->StartEtcd(leader.value()).ok()) << cluster_->Logs();
  for (NodeId n : {shard, coordinator, other}) {
    ASSERT_TRUE(cluster_->Start(n).ok()) << cluster_->Logs();
  }
  for (NodeId n : {shard, coordinator, other}) {
    EXPECT_TRUE(WaitInIsr(n, std::chrono::seconds(15))) << cluster_->name(n) << " never rejoined";
  }
  EXPECT_TRUE(Commits(20));
  std::cerr << book_.committed << " committed, " << unknown_ << " unknown, " << errors_ << " errors\n";
  CheckBalances();
  CheckOnePrimaryPerEpoch();
  CheckReplicaStores();
}

// All of etcd stopped (SIGSTOP) for a few seconds: the primaries go on serving (etcd is off the
// commit path). Then, with etcd still stopped, a shard primary is paused past its lease: nothing
// can be promoted, so the group stalls and no configuration changes; once etcd is back, a
// backup takes over, and the woken primary is fenced and changes nothing.
TEST_F(EtcdFailoverTest, WithEtcdStoppedPrimariesServeAndNoneIsPromotedUntilItReturns) {
  StartLoad();
  ASSERT_TRUE(Commits(20));
  auto before = cluster_->ReadGroup(0);
  ASSERT_TRUE(before.ok()) << before.status().ToString();
  const NodeId old = PrimaryOf(0);
  for (int i = 0; i < cluster_->etcd().size(); ++i) cluster_->SignalEtcd(i, SIGSTOP);
  EXPECT_TRUE(Commits(100, std::chrono::seconds(3))) << "no commits while etcd is stopped";
  const pid_t pid = cluster_->pid(old);
  ASSERT_GT(pid, 0);
  ASSERT_EQ(::kill(pid, SIGSTOP), 0);
  // Past the grace period, twice over: the backups propose, but etcd cannot answer.
  std::this_thread::sleep_for(std::chrono::milliseconds(2 * Options().grace_ms));
  for (int i = 0; i < cluster_->etcd().size(); ++i) cluster_->SignalEtcd(i, SIGCONT);
  // The store's first answers are what was there before the outage, then the takeover.
  const NodeId next = WaitNewPrimary(0, old, std::chrono::seconds(15));
  auto after = cluster_->ReadGroup(0);
  ASSERT_TRUE(after.ok()) << after.status().ToString();
  EXPECT_GT(after.value().epoch, before.value().epoch);
  EXPECT_TRUE(Commits(20)) << "no commits after etcd returned";
  ASSERT_EQ(::kill(pid, SIGCONT), 0);
  EXPECT_TRUE(Commits(20));
  EXPECT_TRUE(PrimaryOf(0) == next) << "the woken primary took its group back";
  EXPECT_TRUE(WaitInIsr(old, std::chrono::seconds(15))) << "the old primary never rejoined";
  CheckBalances();
  CheckOnePrimaryPerEpoch();
  CheckReplicaStores();
}

}  // namespace
}  // namespace txcoord
