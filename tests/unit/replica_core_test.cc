// Step tests of the replica-group core (replication/core/replica_core.h), one rule each, with
// exact outputs: a record is committed only once durable on the primary and acknowledged durable
// by every ISR member, never with fewer than min_insync; a backup acknowledges only what it
// synced; an older epoch is refused and changes nothing; a silent backup leaves the ISR by CAS
// before anything commits without it; the primary serves only within its lease; only an ISR
// member proposes itself after its grace; a new primary finds and repairs divergence by epoch and
// serves only once its log is committed; a restarted primary asks for a new epoch first; a member
// back on a wiped disk is dropped from the ISR and can never be promoted; a member that caught up
// rejoins, counted for commits from the moment it is proposed; and records older than the
// in-memory tail are read from the driver's log; logs are truncated from the front only as far
// as the group allows, backups follow the primary's log start, and a member that needs what the
// primary's log no longer holds gets a state transfer (refused while it is in sync, never twice
// from a delayed copy), installed as a new disk, then the log's suffix.
#include "replication/core/replica_core.h"

#include <gtest/gtest.h>

#include <map>
#include <set>
#include <memory>
#include <string>
#include <vector>

namespace txcoord::replication {
namespace {

ReplicaOptions Options(ReplicaId self, DiskId disk = 0) {
  ReplicaOptions o;
  o.self = self;
  o.disk = disk == 0 ? static_cast<DiskId>(100 + self) : disk;
  o.min_insync = 2;
  o.heartbeat_ticks = 5;
  o.lag_timeout_ticks = 20;
  o.lease_ticks = 30;
  o.grace_ticks = 45;
  return o;
}

GroupConfig Config(uint64_t version, Epoch epoch, ReplicaId primary, std::vector<ReplicaId> isr,
                   std::vector<ReplicaId> members = {0, 1, 2}) {
  GroupConfig c;
  c.version = version;
  c.epoch = epoch;
  c.primary = primary;
  c.members = members;
  for (ReplicaId id : isr) c.isr[id] = static_cast<DiskId>(100 + id);
  return c;
}

Record Rec(Lsn lsn, Epoch log_epoch = 0, uint64_t seq = 0) {
  Record r;
  r.lsn = lsn;
  r.type = RecordType::kPrepared;
  r.txn = {1, seq == 0 ? lsn : seq};
  r.log_epoch = log_epoch;
  return r;
}

std::vector<ReplMessage> OfType(const std::vector<ReplMessage>& ms, ReplType t) {
  std::vector<ReplMessage> out;
  for (const ReplMessage& m : ms) {
    if (m.type == t) out.push_back(m);
  }
  return out;
}

const ReplMessage* To(const std::vector<ReplMessage>& ms, ReplicaId to, ReplType t) {
  for (const ReplMessage& m : ms) {
    if (m.to == to && m.type == t) return &m;
  }
  return nullptr;
}

// Three replicas wired by hand: Pump() delivers every message sent, each replica's appends are
// durable at once unless it is listed in `slow`.
class Group {
 public:
  explicit Group(int n = 3) {
    for (ReplicaId i = 0; i < n; ++i) cores.emplace(i, ReplicaCore(Options(i)));
  }
  ReplicaCore& operator[](ReplicaId i) { return cores.at(i); }

  void ConfigAll(const GroupConfig& c) {
    store = c;
    for (auto& [id, core] : cores) core.OnConfig(c);
  }
  // Moves every core's output until nothing moves; down replicas receive nothing.
  void Pump(int rounds = 50) {
    for (int i = 0; i < rounds; ++i) {
      bool moved = false;
      for (auto& [id, core] : cores) {
        ReplicaReady r = core.TakeReady();
        if (r.empty()) continue;
        moved = true;
        if (r.install) {
          if (r.install->begin) {
            logs[id].clear();
            state[id].clear();
            disks[id] = r.install->disk;
          }
          for (const std::string& chunk : r.install->chunks) state[id].push_back(chunk);
          if (r.install->done) logs[id].clear();
        }
        if (r.truncate_after) {
          auto& log = logs[id];
          while (!log.empty() && log.back().lsn > *r.truncate_after) log.pop_back();
        }
        for (const Record& rec : r.append) logs[id].push_back(rec);
        if (r.committed) committed[id] = *r.committed;
        if (r.propose) proposals.push_back(*r.propose);
        for (const TransferRead& read : r.transfer_reads) {
          // The snapshot: `transfer_chunks` chunks naming the replica, the transfer and the
          // chunk.
          reads.push_back(read);
          core.OnTransferRead(read.to, read.id, read.seq,
                              "r" + std::to_string(id) + " t" + std::to_string(read.id) + " c" +
                                  std::to_string(read.seq),
                              read.seq + 1 == transfer_chunks);
        }
        if (r.truncate_before) {
          auto& log = logs[id];
          std::erase_if(log, [&](const Record& rec) { return rec.lsn < r.truncate_before->first; });
          starts[id] = *r.truncate_before;
        }
        for (const ReplMessage& m : r.messages) {
          sent.push_back(m);
          if (!down.count(m.to) && !down.count(id)) inbox.push_back(m);
        }
        if (!slow.count(id) && !r.append.empty()) core.OnLocalDurable(r.append.back().lsn);
      }
      std::vector<ReplMessage> deliver;
      deliver.swap(inbox);
      for (const ReplMessage& m : deliver) {
        moved = true;
        if (drop_transfer_acks && m.type == ReplType::kTransferAck) continue;
        cores.at(m.to).Step(m);
      }
      if (!moved) return;
    }
  }
  // Applies the newest proposal as the configuration store would (CAS on version).
  bool ApplyProposal() {
    if (proposals.empty()) return false;
    GroupConfig p = proposals.back();
    proposals.clear();
    const bool ok = p.version == store.version + 1;
    if (ok) store = p;
    for (auto& [id, core] : cores) {
      if (!down.count(id)) core.OnConfig(store);
    }
    return ok;
  }
  void TickAll(Ticks n) {
    for (Ticks t = 0; t < n; ++t) {
      for (auto& [id, core] : cores) {
        if (!down.count(id)) core.Tick();
      }
      Pump();
    }
  }

  std::map<ReplicaId, ReplicaCore> cores;
  std::map<ReplicaId, std::vector<Record>> logs;
  std::map<ReplicaId, Lsn> committed;
  std::vector<GroupConfig> proposals;
  std::vector<ReplMessage> sent, inbox;
  std::set<ReplicaId> slow, down;
  GroupConfig store;
  // State transfers: what each replica's driver was asked to read, and installed.
  uint64_t transfer_chunks = 2;
  bool drop_transfer_acks = false;
  std::vector<TransferRead> reads;
  std::map<ReplicaId, std::vector<std::string>> state;
  std::map<ReplicaId, DiskId> disks;
  std::map<ReplicaId, LogStart> starts;
};

// A group whose replica 0 is an activated primary of epoch 1 with {0, 1, 2} in sync: its term's
// EPOCH-START record is position 1, committed everywhere.
void Started(Group& g) {
  g.ConfigAll(Config(1, 1, 0, {0, 1, 2}));
  g.Pump();
  ASSERT_TRUE(g[0].activated());
  ASSERT_TRUE(g[0].serving());
  ASSERT_EQ(g[0].commit_position(), 1u);
  ASSERT_EQ(g.logs[2].size(), 1u);
  ASSERT_EQ(g.logs[2][0].type, RecordType::kEpochStart);
}

TEST(ReplicaCoreTest, CommitsOnlyOnceDurableOnThePrimaryAndEveryIsrMember) {
  Group g;
  Started(g);
  g.slow = {0, 2};  // the primary's own sync and replica 2's are slow
  g[0].Append({Rec(2), Rec(3)});
  g.Pump();
  EXPECT_EQ(g.logs[1].size(), 3u) << "shipped in one batch";
  EXPECT_EQ(g[0].commit_position(), 1u) << "not durable on the primary nor on replica 2";
  g[0].OnLocalDurable(3);
  g.Pump();
  EXPECT_EQ(g[0].commit_position(), 1u) << "replica 2 has not synced";
  g.TickAll(6);  // heartbeats: replica 2 answers them, still without its sync
  EXPECT_EQ(g[0].commit_position(), 1u) << "a heartbeat's answer counts only what is durable";
  EXPECT_EQ(g[2].durable_position(), 1u);
  const size_t acks_before = OfType(g.sent, ReplType::kAppendAck).size();
  g.Pump();
  EXPECT_EQ(OfType(g.sent, ReplType::kAppendAck).size(), acks_before)
      << "a backup acknowledges records only once they are durable there";
  g[2].OnLocalDurable(3);
  g.Pump();
  EXPECT_EQ(g[0].commit_position(), 3u);
  EXPECT_EQ(g.committed[0], 3u);
  g.TickAll(6);  // a heartbeat carries the commit position to the backups
  EXPECT_EQ(g[1].commit_position(), 3u);
  EXPECT_EQ(g[2].commit_position(), 3u);
}

TEST(ReplicaCoreTest, FewerThanMinInsyncCommitsNothing) {
  Group g;
  g.ConfigAll(Config(1, 1, 0, {0}));  // replicas 1 and 2 out of sync
  g.down = {1, 2};
  g.Pump();
  EXPECT_FALSE(g[0].activated()) << "nothing can commit, not even the empty reconciliation";
  g.TickAll(100);
  EXPECT_EQ(g[0].commit_position(), 0u);
  EXPECT_FALSE(g[0].serving());
}

TEST(ReplicaCoreTest, OneReplicaWithMinInsyncOneCommitsWhatIsDurable) {
  ReplicaOptions o = Options(0);
  o.min_insync = 1;
  ReplicaCore c(o);
  c.OnConfig(Config(1, 1, 0, {0}, {0}));
  EXPECT_FALSE(c.activated()) << "its EPOCH-START is not durable yet";
  c.OnLocalDurable(1);
  ASSERT_TRUE(c.serving());
  c.TakeReady();
  c.Append({Rec(2)});
  ReplicaReady r = c.TakeReady();
  ASSERT_EQ(r.append.size(), 1u);
  EXPECT_EQ(r.append[0].log_epoch, 1u) << "records take the primary's epoch";
  EXPECT_FALSE(r.committed);
  c.OnLocalDurable(2);
  EXPECT_EQ(c.TakeReady().committed, std::optional<Lsn>(2));
}

TEST(ReplicaCoreTest, AnOlderEpochIsRefusedAndChangesNothing) {
  ReplicaCore b(Options(1));
  b.OnConfig(Config(3, 3, 0, {0, 1, 2}));
  b.TakeReady();
  ReplMessage append;
  append.type = ReplType::kAppend;
  append.from = 2;
  append.to = 1;
  append.epoch = 2;  // a deposed primary
  append.records = {Rec(1, 2)};
  b.Step(append);
  ReplicaReady r = b.TakeReady();
  EXPECT_TRUE(r.append.empty());
  ASSERT_EQ(r.messages.size(), 1u);
  EXPECT_EQ(r.messages[0].type, ReplType::kStale);
  EXPECT_EQ(r.messages[0].epoch, 3u);
  EXPECT_EQ(b.last_position(), 0u);
  EXPECT_EQ(b.stats().stale_refused, 1u);
}

TEST(ReplicaCoreTest, ANewerEpochIsPersistedBeforeAnythingElse) {
  ReplicaCore b(Options(1));
  b.OnConfig(Config(1, 1, 0, {0, 1, 2}));
  b.TakeReady();
  ReplMessage append;
  append.type = ReplType::kAppend;
  append.from = 2;
  append.to = 1;
  append.epoch = 4;  // a primary the config has not told us about yet
  append.records = {Rec(1, 4)};
  b.Step(append);
  ReplicaReady r = b.TakeReady();
  EXPECT_EQ(r.persist_epoch, std::optional<Epoch>(4));
  EXPECT_EQ(r.append.size(), 1u);
  EXPECT_EQ(b.epoch_seen(), 4u);
}

TEST(ReplicaCoreTest, ASilentBackupLeavesTheIsrByCasBeforeAnythingCommitsWithoutIt) {
  Group g;
  Started(g);
  g.down = {2};
  g[0].Append({Rec(2)});
  g.Pump();
  EXPECT_EQ(g[0].commit_position(), 1u) << "replica 2 is still in the ISR";
  g.TickAll(21);
  ASSERT_EQ(g.proposals.size(), 1u);
  EXPECT_EQ(g.proposals[0].isr.count(2), 0u);
  EXPECT_EQ(g.proposals[0].epoch, 2u) << "every change bumps the epoch";
  EXPECT_EQ(g[0].commit_position(), 1u) << "not before the change is made";
  ASSERT_TRUE(g.ApplyProposal());
  g.Pump();
  EXPECT_EQ(g[0].commit_position(), 2u);
  EXPECT_TRUE(g[0].serving());
}

TEST(ReplicaCoreTest, ThePrimaryStopsServingWhenItsLeaseRunsOut) {
  Group g;
  Started(g);
  g.down = {1, 2};  // and the configuration store refuses every change (never applied)
  g.TickAll(29);
  EXPECT_TRUE(g[0].serving());
  g.TickAll(2);
  EXPECT_FALSE(g[0].serving()) << "no ISR backup acknowledged anything sent within the lease";
  EXPECT_TRUE(g[0].primary());
}

TEST(ReplicaCoreTest, OnlyAnIsrBackupProposesItselfAndOnlyAfterItsGrace) {
  Group g;
  g.ConfigAll(Config(1, 1, 0, {0, 1}));  // replica 2 is a member out of sync
  g.down = {2};
  g.Pump();
  ASSERT_TRUE(g.proposals.empty());
  g.down = {0};
  g.TickAll(45);
  for (const GroupConfig& p : g.proposals) ADD_FAILURE() << "early: " << Describe(p);
  EXPECT_TRUE(g.proposals.empty()) << "the grace has not run out";
  g.TickAll(1);
  ASSERT_EQ(g.proposals.size(), 1u) << "replica 2, not in the ISR, never proposes itself";
  const GroupConfig& p = g.proposals[0];
  EXPECT_EQ(p.primary, 1);
  EXPECT_EQ(p.epoch, 2u);
  EXPECT_EQ(p.isr.count(0), 0u);
  EXPECT_EQ(p.isr.count(1), 1u);
}

TEST(ReplicaCoreTest, ANewPrimaryRepairsDivergenceByEpochAndServesOnceItsLogIsCommitted) {
  // Replica 1 is promoted holding [1@1 2@1 3@1]; replica 2 holds [1@1 2@1 3@2 4@2] from a deposed
  // primary of epoch 2 whose records 3 and 4 never committed.
  Group g;
  g[1].Restore({Rec(1, 1), Rec(2, 1), Rec(3, 1)}, 1);
  g[2].Restore({Rec(1, 1), Rec(2, 1), Rec(3, 2, 33), Rec(4, 2, 34)}, 2);
  g.logs[2] = {Rec(1, 1), Rec(2, 1), Rec(3, 2, 33), Rec(4, 2, 34)};
  g.down = {0};
  g.ConfigAll(Config(5, 3, 1, {1, 2}));
  EXPECT_TRUE(g[1].primary());
  EXPECT_FALSE(g[1].activated()) << "not before its log is committed";
  g.Pump();
  EXPECT_TRUE(g[1].activated());
  EXPECT_EQ(g[1].commit_position(), 4u) << "its log and its term's EPOCH-START";
  ASSERT_EQ(g.logs[2].size(), 4u) << "the divergent suffix is gone";
  EXPECT_EQ(g.logs[2][2], Rec(3, 1)) << "and the primary's record 3 took its place";
  EXPECT_EQ(g.logs[2][3].type, RecordType::kEpochStart);
  EXPECT_EQ(g.logs[2][3].log_epoch, 3u);
  EXPECT_EQ(g[2].stats().truncations, 1u);
  // The first probe asks about 3@1 (the log before the term, with the EPOCH-START): replica 2
  // holds 3@2 and answers 2@1, where the logs meet; the next append takes it from there.
  std::vector<std::pair<Lsn, Epoch>> nacks;
  for (const ReplMessage& m : OfType(g.sent, ReplType::kAppendAck)) {
    if (m.from == 2 && !m.ok) nacks.emplace_back(m.last_position, m.last_epoch);
  }
  EXPECT_EQ(nacks, (std::vector<std::pair<Lsn, Epoch>>{{2, 1}}));
}

TEST(ReplicaCoreTest, AStaleReadOfTheConfigurationNeverMakesAPrimary) {
  // Replica 0 was primary of epoch 2 and has since seen epoch 3 on a message; a delayed read of
  // the store still saying "0 is primary of epoch 2" must not make it primary again.
  ReplicaCore r(Options(0));
  r.OnConfig(Config(2, 2, 0, {0, 1, 2}));
  ASSERT_TRUE(r.primary());
  ReplMessage newer;
  newer.type = ReplType::kAppend;
  newer.from = 1;
  newer.to = 0;
  newer.epoch = 3;
  r.Step(newer);
  EXPECT_FALSE(r.primary());
  GroupConfig stale = Config(2, 2, 0, {0, 1, 2});
  r.OnConfig(stale);
  EXPECT_FALSE(r.primary());
  EXPECT_FALSE(r.TakeReady().propose) << "nor propose anything from it";
}

TEST(ReplicaCoreTest, ANewPrimaryServesOnlyOnceEveryIsrBackupAnsweredIt) {
  Group g;
  g.down = {1};
  g.ConfigAll(Config(1, 1, 0, {0, 1, 2}));
  g.Pump();
  EXPECT_FALSE(g[0].serving()) << "replica 1 has not answered: the promotion is no lease";
  g.down.clear();
  g.TickAll(6);
  EXPECT_TRUE(g[0].serving());
}

TEST(ReplicaCoreTest, AProposalWhoseAnswerIsLostIsGivenUpAndProposedAgain) {
  Group g;
  Started(g);
  g.down = {2};
  g.TickAll(21);
  ASSERT_EQ(g.proposals.size(), 1u);
  g.proposals.clear();  // the store's answer never comes back
  g.TickAll(99);
  EXPECT_TRUE(g.proposals.empty()) << "one proposal at a time";
  g.TickAll(2);
  ASSERT_EQ(g.proposals.size(), 1u) << "given up after proposal_timeout_ticks, then again";
  EXPECT_EQ(g.proposals[0].isr.count(2), 0u);
}

TEST(ReplicaCoreTest, AnAdditionWhoseAnswerIsLostCountsUntilAReadSettlesIt) {
  // Replica 2 is proposed back into the ISR; the store applies it but the answer is lost. Even
  // after the proposal times out, nothing commits without replica 2 until a read of the store
  // says what the ISR is: else records acknowledged by {0, 1} alone could be lost when replica 2,
  // in the ISR the store holds, is promoted without them.
  Group g;
  g.ConfigAll(Config(1, 1, 0, {0, 1}));
  g.down = {2};
  g.Pump();
  g.down.clear();
  g.TickAll(6);
  ASSERT_EQ(g.proposals.size(), 1u);
  ASSERT_EQ(g.proposals[0].isr.count(2), 1u);
  g.store = g.proposals[0];  // applied, answer lost
  g.proposals.clear();
  g.TickAll(101);  // past proposal_timeout_ticks
  g.down = {2};
  g[0].Append({Rec(2)});
  g.TickAll(3);
  EXPECT_EQ(g[0].commit_position(), 1u) << "replica 2 may be in the ISR";
  g[0].OnConfig(g.store);  // a read settles it: replica 2 is in the ISR indeed
  g.Pump();
  EXPECT_EQ(g[0].commit_position(), 1u);
  g.down.clear();
  g.TickAll(6);
  EXPECT_EQ(g[0].commit_position(), 2u);
}

TEST(ReplicaCoreTest, RereadingTheSameConfigurationDoesNotPostponeTheGrace) {
  // The configuration names a primary that never speaks (it lost its disk before taking over):
  // the ISR backup still proposes itself after one grace period, however often it rereads it.
  ReplicaCore b(Options(2));
  GroupConfig c = Config(5, 5, 1, {1, 2});
  b.OnConfig(c);
  b.TakeReady();
  for (int t = 0; t < 46; ++t) {
    b.Tick();
    if (t % 10 == 0) b.OnConfig(c);
  }
  ReplicaReady r = b.TakeReady();
  ASSERT_TRUE(r.propose);
  EXPECT_EQ(r.propose->primary, 2);
}

TEST(ReplicaCoreTest, AMemberHoldingThePrimarysLogTakesTheTermInOneRoundTrip) {
  Group g;
  for (ReplicaId i : {0, 1, 2}) g[i].Restore({Rec(1, 1), Rec(2, 1)}, 1);
  g.ConfigAll(Config(3, 2, 0, {0, 1, 2}));
  g.Pump();
  EXPECT_TRUE(g[0].serving());
  EXPECT_TRUE(OfType(g.sent, ReplType::kAppendAck).size() >= 2);
  for (const ReplMessage& m : OfType(g.sent, ReplType::kAppendAck)) {
    EXPECT_TRUE(m.ok) << "no member had to be probed twice";
  }
  EXPECT_EQ(OfType(g.sent, ReplType::kAppend).size(), 2u) << "one probe each, with the record";
}

TEST(ReplicaCoreTest, TruncatingACommittedRecordStopsTheProcess) {
  ReplicaCore b(Options(2));
  b.Restore({Rec(1, 1), Rec(2, 1)}, 1);
  b.OnConfig(Config(2, 2, 0, {0, 1, 2}));
  ReplMessage append;
  append.type = ReplType::kAppend;
  append.from = 0;
  append.to = 2;
  append.epoch = 2;
  append.prev_position = 2;
  append.prev_epoch = 1;
  append.commit_position = 2;
  b.Step(append);
  ASSERT_EQ(b.commit_position(), 2u);
  ReplMessage bad = append;  // a broken primary rewrites committed position 2
  bad.prev_position = 1;
  bad.records = {Rec(2, 2)};
  EXPECT_DEATH(b.Step(bad), "truncating a committed record");
}

TEST(ReplicaCoreTest, ARestartedPrimaryAsksForANewEpochBeforeAppending) {
  ReplicaCore p(Options(0));
  p.Restore({Rec(1, 1), Rec(2, 1)}, 1);
  p.OnConfig(Config(1, 1, 0, {0, 1, 2}));
  EXPECT_FALSE(p.primary()) << "it may have lost records it shipped before the restart";
  ReplicaReady r = p.TakeReady();
  ASSERT_TRUE(r.propose);
  EXPECT_EQ(r.propose->primary, 0);
  EXPECT_EQ(r.propose->epoch, 2u);
  p.OnProposed(true, *r.propose);
  EXPECT_TRUE(p.primary());
  EXPECT_EQ(p.primary_epoch(), 2u);
}

TEST(ReplicaCoreTest, AMemberBackOnAWipedDiskLeavesTheIsrAndIsNeverPromoted) {
  Group g;
  Started(g);
  g[0].Append({Rec(2), Rec(3)});
  g.Pump();
  ASSERT_EQ(g[0].commit_position(), 3u);
  // Replica 2's disk is replaced: it starts empty, with a new disk id, knowing no epoch.
  g.cores.erase(2);
  g.cores.emplace(2, ReplicaCore(Options(2, /*disk=*/999)));
  g.logs[2].clear();
  g[2].OnConfig(g.store);
  g.TickAll(6);
  ASSERT_EQ(g.proposals.size(), 1u);
  EXPECT_EQ(g.proposals[0].isr.count(2), 0u) << "what it acknowledged is gone";
  ASSERT_TRUE(g.ApplyProposal());
  // Even in the old configuration it would not have proposed itself: the ISR names its old disk.
  g.down = {0};
  g.TickAll(50);
  for (const GroupConfig& p : g.proposals) EXPECT_NE(p.primary, 2);
}

TEST(ReplicaCoreTest, ACaughtUpMemberRejoinsAndCountsFromTheProposal) {
  Group g;
  g.ConfigAll(Config(1, 1, 0, {0, 1}));
  g.down = {2};
  g.Pump();
  ASSERT_TRUE(g[0].activated());
  g[0].Append({Rec(2), Rec(3), Rec(4)});
  g.Pump();
  ASSERT_EQ(g[0].commit_position(), 4u);
  g.down.clear();
  g.TickAll(6);  // heartbeats reach replica 2: it catches up
  EXPECT_EQ(g.logs[2].size(), 4u);
  ASSERT_EQ(g.proposals.size(), 1u);
  EXPECT_EQ(g.proposals[0].isr.count(2), 1u);
  EXPECT_EQ(g.proposals[0].isr.at(2), 102u) << "with the disk it caught up on";
  // While the change is in flight, a commit needs replica 2 too.
  g.slow = {2};
  g[0].Append({Rec(5)});
  g.Pump();
  EXPECT_EQ(g[0].commit_position(), 4u);
  g[2].OnLocalDurable(5);
  g.Pump();
  EXPECT_EQ(g[0].commit_position(), 5u);
  EXPECT_TRUE(g.ApplyProposal());
}

// Replica 0, primary of epoch 1 alone in its ISR with member 1, its log at positions 1..5 and an
// in-memory tail of 2 records: what member 1 needs from position 1 on is read from the log.
std::unique_ptr<ReplicaCore> PrimaryWithASmallTail(const ReplicaOptions& options) {
  ReplicaOptions o = options;
  o.max_tail_records = 2;
  o.min_insync = 1;
  auto p = std::make_unique<ReplicaCore>(o);
  p->OnConfig(Config(1, 1, 0, {0}, {0, 1}));
  p->OnLocalDurable(1);
  EXPECT_TRUE(p->activated());
  p->Append({Rec(2), Rec(3), Rec(4), Rec(5)});
  p->OnLocalDurable(5);
  p->TakeReady();
  return p;
}

// Replica 1's answer to a probe of epoch 1: it holds nothing.
ReplMessage EmptyMemberNack() {
  ReplMessage nack;
  nack.type = ReplType::kAppendAck;
  nack.from = 1;
  nack.to = 0;
  nack.epoch = 1;
  nack.disk = 101;
  nack.last_position = 0;
  return nack;
}

TEST(ReplicaCoreTest, RecordsOlderThanTheTailAreReadFromTheLog) {
  std::unique_ptr<ReplicaCore> primary = PrimaryWithASmallTail(Options(0));
  ReplicaCore& p = *primary;
  p.Step(EmptyMemberNack());
  ReplicaReady r = p.TakeReady();
  ASSERT_EQ(r.reads.size(), 1u);
  EXPECT_EQ(r.reads[0].to, 1);
  EXPECT_EQ(r.reads[0].from, 1u);
  EXPECT_EQ(r.reads[0].to_position, 5u);
  p.OnLogRead(1, {Rec(1, 1), Rec(2, 1), Rec(3, 1), Rec(4, 1), Rec(5, 1)});
  r = p.TakeReady();
  const ReplMessage* append = To(r.messages, 1, ReplType::kAppend);
  ASSERT_NE(append, nullptr);
  EXPECT_EQ(append->prev_position, 0u);
  EXPECT_EQ(append->records.size(), 5u);
}

// A member that never answers (a dead backup) is probed without records once what it needs is
// older than the tail: before, every heartbeat read the log for it, a RocksDB scan on the io
// thread each time (a primary with one dead backup fell from 4,000 to 50 txn/s). Once it answers,
// its records are read.
TEST(ReplicaCoreTest, ASilentMemberIsProbedWithoutReadingTheLog) {
  const ReplicaOptions o = Options(0);
  std::unique_ptr<ReplicaCore> primary = PrimaryWithASmallTail(o);
  ReplicaCore& p = *primary;
  int probes = 0;
  for (int t = 0; t < 10 * o.lag_timeout_ticks; ++t) {
    p.Tick(1);
    ReplicaReady r = p.TakeReady();
    EXPECT_TRUE(r.reads.empty()) << "tick " << t;
    for (const ReplMessage& m : OfType(r.messages, ReplType::kAppend)) {
      if (m.to != 1) continue;
      EXPECT_TRUE(m.records.empty());
      ++probes;
    }
  }
  EXPECT_GE(probes, 10 * o.lag_timeout_ticks / o.heartbeat_ticks - 1);
  p.Step(EmptyMemberNack());
  ReplicaReady r = p.TakeReady();
  ASSERT_EQ(r.reads.size(), 1u);
  EXPECT_EQ(r.reads[0].to, 1);
  EXPECT_EQ(r.reads[0].from, 1u);
}

// A backup bounds its in-memory tail like a primary (it grew without bound before): once
// promoted, what a member needs from before its tail is read from the log.
TEST(ReplicaCoreTest, ABackupKeepsABoundedTailAndReadsOlderRecordsOncePromoted) {
  ReplicaOptions o = Options(1);
  o.max_tail_records = 2;
  o.min_insync = 1;
  ReplicaCore b(o);
  b.OnConfig(Config(1, 1, 0, {0, 1}, {0, 1}));
  ReplMessage append;
  append.type = ReplType::kAppend;
  append.from = 0;
  append.to = 1;
  append.epoch = 1;
  append.records = {Rec(1, 1), Rec(2, 1), Rec(3, 1), Rec(4, 1)};
  append.commit_position = 4;
  b.Step(append);
  b.OnLocalDurable(4);
  b.TakeReady();
  ASSERT_EQ(b.commit_position(), 4u);
  // Replica 0 is gone; replica 1 is made primary of epoch 2 with replica 0 still a member.
  b.OnConfig(Config(2, 2, 1, {1}, {0, 1}));
  b.TakeReady();
  ASSERT_TRUE(b.primary());
  ReplMessage nack;
  nack.type = ReplType::kAppendAck;
  nack.from = 0;
  nack.to = 1;
  nack.epoch = 2;
  nack.disk = 100;
  nack.last_position = 0;  // it came back empty
  b.Step(nack);
  const ReplicaReady r = b.TakeReady();
  ASSERT_EQ(r.reads.size(), 1u) << "records 1..2 are no longer in its tail";
  EXPECT_EQ(r.reads[0].from, 1u);
}

ReplMessage TransferMsg(ReplicaId from, ReplicaId to, Epoch epoch, uint64_t id, uint64_t seq,
                        bool last, Lsn prev = 11, Epoch prev_epoch = 2) {
  ReplMessage m;
  m.type = ReplType::kTransfer;
  m.from = from;
  m.to = to;
  m.epoch = epoch;
  m.transfer_id = id;
  m.transfer_seq = seq;
  m.last = last;
  m.payload = "chunk " + std::to_string(seq);
  m.prev_position = prev;
  m.prev_epoch = prev_epoch;
  return m;
}

std::vector<Lsn> Positions(const std::vector<Record>& log) {
  std::vector<Lsn> out;
  for (const Record& r : log) out.push_back(r.lsn);
  return out;
}

// Replica 2 is away while the primary commits records 2..14 and truncates its log to 12; it
// comes back needing records 2..11: it gets the primary's state (a lost chunk's transfer is
// begun again; meanwhile the log is kept for it), as a new disk, then records 12..14, and
// rejoins the ISR with that disk. Replica 1 follows the primary's log start.
TEST(ReplicaCoreTest, AMemberBehindTheLogsStartGetsAStateTransferThenTheSuffix) {
  Group g;
  ReplicaOptions o = Options(0);
  o.retain_for_lagging_records = 2;
  g.cores.erase(0);
  g.cores.emplace(0, ReplicaCore(o));
  Started(g);
  g.down = {2};
  g[0].Append({Rec(2), Rec(3), Rec(4), Rec(5), Rec(6), Rec(7), Rec(8), Rec(9), Rec(10)});
  g.TickAll(25);  // replica 2 is silent past the lag timeout: it is dropped from the ISR
  ASSERT_TRUE(g.ApplyProposal());
  g.Pump();
  ASSERT_EQ(g[0].commit_position(), 10u);
  g[0].Append({Rec(11), Rec(12), Rec(13), Rec(14)});  // epoch 2 (the ISR change)
  g.Pump();
  ASSERT_EQ(g[0].commit_position(), 14u);

  g[0].TruncateBefore(12);
  g.Pump();
  EXPECT_EQ(g.starts[0], (LogStart{12, 2})) << "records before 12 dropped, 11's epoch kept";
  EXPECT_EQ(Positions(g.logs[0]), (std::vector<Lsn>{12, 13, 14}));
  g.TickAll(6);  // a heartbeat carries the log start
  EXPECT_EQ(g.starts[1], (LogStart{12, 2})) << "a backup follows the primary's log start";
  EXPECT_EQ(g[1].log_start(), (LogStart{12, 2}));

  // Replica 2 returns and reads the store (it is out of the ISR); its first chunk's ack is lost.
  g.down.clear();
  g[2].OnConfig(g.store);
  g.drop_transfer_acks = true;
  g.TickAll(6);
  ASSERT_EQ(g.reads.size(), 1u) << "its probe's answer says it holds only position 1";
  EXPECT_EQ(g.reads[0].to, 2);
  EXPECT_EQ(g.reads[0].seq, 0u);
  EXPECT_EQ(g.reads[0].start, (LogStart{12, 2}));
  EXPECT_TRUE(g.logs[2].empty()) << "a transfer's first chunk drops what the member held";
  const DiskId new_disk = g[2].disk();
  EXPECT_NE(new_disk, 102u) << "an installing member is a new disk";
  EXPECT_EQ(g.disks[2], new_disk) << "kept by the driver";
  g[0].Append({Rec(15)});
  g.Pump();
  g[0].TruncateBefore(15);
  g.Pump();
  EXPECT_EQ(g[0].log_start().first, 12u) << "the log is kept for a transfer in progress";

  g.drop_transfer_acks = false;
  g.TickAll(25);  // the lost chunk: the transfer begins again
  ASSERT_GE(g.reads.size(), 3u);
  EXPECT_EQ(g.reads[1].id, g.reads[0].id + 1);
  EXPECT_EQ(g.state[2], (std::vector<std::string>{"r0 t2 c0", "r0 t2 c1"}));
  EXPECT_EQ(g[2].log_start(), (LogStart{12, 2}));
  EXPECT_EQ(Positions(g.logs[2]), (std::vector<Lsn>{12, 13, 14, 15}));
  ASSERT_FALSE(g.proposals.empty());
  EXPECT_EQ(g.proposals.back().isr.count(2), 1u);
  EXPECT_EQ(g.proposals.back().isr.at(2), g[2].disk()) << "it rejoins on its new disk";
  EXPECT_EQ(g[0].stats().transfers_started, 2u);
  EXPECT_EQ(g[2].stats().transfers_installed, 1u);
}

TEST(ReplicaCoreTest, TruncationWaitsForEveryInSyncMember) {
  Group g;
  Started(g);
  g.slow = {2};
  g[0].Append({Rec(2), Rec(3), Rec(4), Rec(5)});
  g.Pump();
  ASSERT_EQ(g[0].commit_position(), 1u);
  g[0].TruncateBefore(5);
  g.Pump();
  EXPECT_EQ(g[0].log_start().first, 2u) << "only what is committed";
  g[2].OnLocalDurable(5);
  g.Pump();
  ASSERT_EQ(g[0].commit_position(), 5u);
  g[0].TruncateBefore(5);
  g.Pump();
  EXPECT_EQ(g.starts[0].first, 5u);
  EXPECT_EQ(g.starts[0].epoch_before, 1u);
  // A backup truncates nothing it has not committed and synced.
  g.slow = {1};
  g[0].Append({Rec(6)});
  g.Pump();
  g[1].OnLocalDurable(6);
  g.Pump();
  g.TickAll(6);
  EXPECT_EQ(g[1].log_start().first, 5u);
}

TEST(ReplicaCoreTest, AnInSyncOrOutOfOrderOrOlderTransferIsRefused) {
  ReplicaCore b(Options(1));
  b.OnConfig(Config(1, 1, 0, {0, 1}));
  b.TakeReady();
  b.Step(TransferMsg(0, 1, 1, 1, 0, false));
  ReplicaReady r = b.TakeReady();
  EXPECT_FALSE(r.install) << "in sync: the ISR may promote it";
  ASSERT_EQ(OfType(r.messages, ReplType::kTransferAck).size(), 1u);
  EXPECT_FALSE(OfType(r.messages, ReplType::kTransferAck)[0].ok);

  b.OnConfig(Config(2, 2, 0, {0}));
  b.TakeReady();
  b.Step(TransferMsg(0, 1, 2, 5, 0, false));
  r = b.TakeReady();
  ASSERT_TRUE(r.install);
  EXPECT_TRUE(r.install->begin);
  EXPECT_EQ(r.install->mark, (TransferMark{2, 5}));
  EXPECT_EQ(r.install->disk, b.disk());
  EXPECT_NE(b.disk(), 101u);
  EXPECT_TRUE(OfType(r.messages, ReplType::kTransferAck)[0].ok);
  for (const ReplMessage& m : {TransferMsg(0, 1, 2, 3, 0, false),    // older
                               TransferMsg(0, 1, 2, 5, 2, false)}) {  // out of order
    b.Step(m);
    r = b.TakeReady();
    EXPECT_FALSE(r.install);
    EXPECT_FALSE(OfType(r.messages, ReplType::kTransferAck)[0].ok);
  }
  b.Step(TransferMsg(0, 1, 2, 5, 1, true));
  r = b.TakeReady();
  ASSERT_TRUE(r.install);
  EXPECT_EQ(r.install->chunks, (std::vector<std::string>{"chunk 1"}));
  ASSERT_TRUE(r.install->done);
  EXPECT_EQ(*r.install->done, (LogStart{12, 2}));
  EXPECT_EQ(b.log_start(), (LogStart{12, 2}));
  EXPECT_EQ(b.commit_position(), 11u);

  // Restarted with its mark: a delayed copy of that transfer's first chunk changes nothing.
  ReplicaCore c(Options(1, /*disk=*/777));
  c.Restore({}, 2, {12, 2}, {2, 5});
  c.OnConfig(Config(2, 2, 0, {0}));
  c.TakeReady();
  c.Step(TransferMsg(0, 1, 2, 5, 0, false));
  r = c.TakeReady();
  EXPECT_FALSE(r.install);
  EXPECT_EQ(c.log_start(), (LogStart{12, 2}));
}

TEST(ReplicaCoreTest, RecordsBeforeAMembersLogStartAreItsCommittedPrefix) {
  ReplicaCore b(Options(1));
  b.Restore({Rec(8, 1), Rec(9, 1)}, 1, {8, 1});
  EXPECT_EQ(b.commit_position(), 7u) << "everything before a log's start is committed";
  EXPECT_EQ(b.EpochAt(7), 1u);
  b.OnConfig(Config(2, 2, 0, {0, 1}));
  b.TakeReady();
  ReplMessage append;
  append.type = ReplType::kAppend;
  append.from = 0;
  append.to = 1;
  append.epoch = 2;
  append.prev_position = 3;
  append.prev_epoch = 1;
  for (Lsn p = 4; p <= 11; ++p) append.records.push_back(Rec(p, 1));
  append.commit_position = 11;
  b.Step(append);
  ReplicaReady r = b.TakeReady();
  EXPECT_EQ(Positions(r.append), (std::vector<Lsn>{10, 11}));
  b.OnLocalDurable(11);
  r = b.TakeReady();
  ASSERT_EQ(OfType(r.messages, ReplType::kAppendAck).size(), 1u);
  EXPECT_TRUE(OfType(r.messages, ReplType::kAppendAck)[0].ok);
  EXPECT_EQ(OfType(r.messages, ReplType::kAppendAck)[0].match_position, 11u);
  EXPECT_EQ(b.commit_position(), 11u);
}

// A member half way through a transfer whose new primary's log starts at 1 (it never truncated,
// so it never transfers): the member installs the empty state and takes the log from the start,
// instead of refusing every append.
TEST(ReplicaCoreTest, AHalfInstalledMemberTakesALogThatStartsAtOne) {
  ReplicaCore b(Options(1));
  b.OnConfig(Config(2, 2, 0, {0}));
  b.TakeReady();
  b.Step(TransferMsg(0, 1, 2, 5, 0, false));
  ASSERT_TRUE(b.TakeReady().install);
  // Replica 2 is primary of epoch 3 now, with its whole log.
  b.OnConfig(Config(3, 3, 2, {2}));
  b.TakeReady();
  ReplMessage append;
  append.type = ReplType::kAppend;
  append.from = 2;
  append.to = 1;
  append.epoch = 3;
  append.records = {Rec(1, 1), Rec(2, 3)};
  append.commit_position = 2;
  b.Step(append);
  const ReplicaReady r = b.TakeReady();
  ASSERT_TRUE(r.install);
  EXPECT_TRUE(r.install->begin) << "the half-installed state goes";
  EXPECT_TRUE(r.install->chunks.empty());
  ASSERT_TRUE(r.install->done);
  EXPECT_EQ(*r.install->done, LogStart{});
  EXPECT_EQ(Positions(r.append), (std::vector<Lsn>{1, 2}));
}

}  // namespace
}  // namespace txcoord::replication
