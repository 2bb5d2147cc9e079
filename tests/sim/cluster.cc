#include "tests/sim/cluster.h"

#include <algorithm>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <sstream>

#include "common/check.h"
#include "coordinator/core/coordinator_core.h"
#include "node/group_node.h"
#include "participant/core/participant_core.h"
#include "replication/core/replica_core.h"
#include "tests/sim/network.h"
#include "tests/sim/storage.h"
#include "tests/sim/trace.h"
#include "wal/retention.h"

namespace txcoord::sim {
namespace {

using replication::DiskId;
using replication::GroupConfig;
using replication::ReplicaId;
using replication::ReplMessage;

constexpr int32_t kCoordGroup = -1;
constexpr int32_t kStoreNet = 1000000;  // the configuration store, as a network endpoint
constexpr int64_t kInitialBalance = 100;
constexpr Ticks kMaxSettleTicks = 8000;
constexpr Ticks kClientTimeoutTicks = 300;
constexpr Ticks kStoreDelayMax = 4;   // one way to or from the configuration store
constexpr Ticks kPollTicks = 10;      // every replica reads its group's configuration this often

// Replication timing (ticks): lag timeout < lease < grace, each a few message delays.
constexpr Ticks kHeartbeatTicks = 5;
constexpr Ticks kLagTimeoutTicks = 25;
constexpr Ticks kLeaseTicks = 35;
constexpr Ticks kGraceTicks = 50;
// Log truncation, small so that every run truncates logs and transfers state: a serving primary
// considers it this often, when it frees this many records, keeping the records of this many
// finished transactions and, for a lagging member, this many records.
constexpr Ticks kTruncateEveryTicks = 20;
constexpr Lsn kTruncateMinRecords = 8;
constexpr size_t kRetainFinished = 16;
constexpr Lsn kRetainLaggingRecords = 24;
// A state transfer's chunks hold this many keys (a shard's store has a few dozen).
constexpr size_t kTransferChunkKeys = 8;

std::string AccountKey(int32_t i) { return "acct/" + std::to_string(i); }

std::string GroupName(int32_t g) { return g == kCoordGroup ? "C" : "S" + std::to_string(g); }

std::string DescribeRepl(const ReplMessage& m) {
  std::string s = std::string(replication::ToString(m.type)) + " r" + std::to_string(m.from) +
                  "->r" + std::to_string(m.to) + " e" + std::to_string(m.epoch);
  if (m.type == replication::ReplType::kAppend) {
    s += " prev " + std::to_string(m.prev_position) + "@" + std::to_string(m.prev_epoch) + " +" +
         std::to_string(m.records.size()) + " commit " + std::to_string(m.commit_position);
  } else if (m.type == replication::ReplType::kAppendAck) {
    s += m.ok ? " ok " + std::to_string(m.match_position)
              : " nack " + std::to_string(m.last_position) + "@" + std::to_string(m.last_epoch);
  }
  return s;
}

class SimStore : public KvReader {
 public:
  std::optional<std::string> Get(const std::string& key) const override {
    auto it = data.find(key);
    if (it == data.end()) return std::nullopt;
    return it->second;
  }
  void Apply(const Record& r) {
    for (const Write& w : r.writes) {
      if (w.value) {
        data[w.key] = *w.value;
      } else {
        data.erase(w.key);
      }
    }
  }
  std::map<std::string, std::string> data;
};

// One replica of a group: its disk (log, the newest epoch seen, a shard's store), and, while it
// runs, the GroupNode that drives it.
struct Replica {
  int32_t group = 0;
  ReplicaId id = 0;
  int32_t net = 0;
  bool up = true;
  Ticks restart_at = 0;
  Ticks paused_until = 0;  // while now < paused_until it takes no input and its clock stands
  Ticks clock = 0;         // the time it last saw
  // Its disk.
  SimLog log{3};
  DiskId disk = 1;
  Epoch persisted_epoch = 0;
  SimStore store;  // a shard's committed data, applied through `applied`
  Lsn applied = 0;
  replication::LogStart log_start;      // where its log begins
  replication::TransferMark transfer_mark;  // the newest state transfer it began installing
  Epoch kept_epoch = 0;  // a shard: the newest EPOCH-SEEN its truncated records said
  TxnId kept_truncated;  // a shard: the largest transaction id its truncated records named
  std::unique_ptr<wal::LogRetention> retention;  // its driver's, while it hosts a core
  // Running.
  std::vector<Envelope> held;  // arrived while paused
  Lsn lied_durable = 0;        // injected bug: what its disk claims is durable
  std::unique_ptr<node::GroupNodeIo> io;
  std::unique_ptr<node::GroupNode> node;
  ParticipantCore* participant = nullptr;  // the hosted core, while it is the serving primary
  CoordinatorCore* coordinator = nullptr;
  Lsn ledger_checked = 0;  // its committed records are compared with the group's up to here
  bool paused(Ticks now) const { return now < paused_until; }
  bool serving() const { return up && node != nullptr && node->serving(); }
};

struct Group {
  int32_t id = 0;
  std::vector<Replica> replicas;
  GroupConfig config;  // the configuration store's value
  // What the group committed, by position (index = position - 1), as its replicas reported it.
  std::vector<Record> ledger;
  std::map<Epoch, ReplicaId> committers;  // configuration epoch -> the primary that committed
  size_t checked = 0;                     // ledger records the protocol checkers have seen
  std::map<std::string, std::string> genesis;
  DiskId next_disk = 1;
  Replica& primary() { return replicas[static_cast<size_t>(config.primary)]; }
};

// A call to or an answer from the configuration store, in flight.
struct StoreCall {
  Ticks at = 0;
  uint64_t order = 0;
  int32_t group = 0;
  ReplicaId replica = 0;
  // kMoved: replica `replica` of `group` hears (as a node polling its store does) that group
  // `moved` has a new primary.
  enum class Kind : uint8_t { kPropose, kPoll, kAnswer, kMoved } kind = Kind::kPoll;
  int32_t moved = 0;
  GroupConfig config;  // kPropose: the proposal; kAnswer: the store's value
  bool ok = false;     // kAnswer to a proposal
  bool proposal = false;
};

enum class Kind : uint8_t { kTransfer, kAudit };

// What the clients know of one transaction; the checkers compare it with what the logs say.
struct TxnFacts {
  Kind kind = Kind::kTransfer;
  Protocol protocol = Protocol::kTwoPc;
  std::set<ShardId> wrote;
  Outcome told = Outcome::kUnknown;
  bool told_any = false;
};

struct Client {
  int32_t index = 0;
  bool busy = false;
  Kind kind = Kind::kTransfer;
  Protocol protocol = Protocol::kTwoPc;
  bool one_shot = false;
  TxnId txn;
  Epoch coord_epoch = 0;  // the coordinator core (term) the transaction began with
  std::vector<std::pair<ShardId, std::vector<Op>>> steps;  // interactive: remaining shard ops
  size_t next_step = 0;
  std::vector<ShardId> touched;
  std::vector<OpResult> reads;
  uint64_t waiting = 0;  // request id awaited, 0 = none
  bool waiting_commit = false;
  Ticks deadline = 0;
  Ticks next_start = 0;
};

struct PendingReply {
  Ticks at = 0;
  uint64_t order = 0;
  ClientReply reply;
};

class Simulation {
 public:
  Simulation(const SimOptions& o, uint64_t seed)
      : o_(o), rng_(seed * 0x9E3779B97F4A7C15ull + 1), net_(rng_, o.network_faults()),
        trace_(o.verbose) {
    result_.seed = seed;
  }

  // Runs the seed; a failed check (common/check.h) anywhere in it is reported as a violation.
  SeedResult Run();

 private:
  void RunChecked();
  class ReplicaIo;

  // Setup and faults.
  Group& GroupOf(int32_t g) { return g == kCoordGroup ? coord_ : shards_[static_cast<size_t>(g)]; }
  std::vector<Group*> Groups() {
    std::vector<Group*> out{&coord_};
    for (Group& g : shards_) out.push_back(&g);
    return out;
  }
  void MakeGroup(Group& g, int32_t id);
  void StartReplica(Group& g, Replica& r);
  void CrashReplica(Group& g, Replica& r, bool wipe);
  void InjectFaults();
  bool MayWipe(Group& g, const Replica& r);
  // Time: every input to a replica is preceded by the time it missed (a paused one sees its
  // whole pause at once).
  void Sync(Replica& r);
  // Moving outputs.
  void SendFrom(int32_t from_net, const Message& m);
  void SendRepl(Group& g, const Replica& from, const ReplMessage& m);
  void Deliver(const Envelope& e);
  void DeliverTo(Group& g, Replica& r, const Envelope& e);
  void QueueReply(const ClientReply& r);
  void CallStore(StoreCall call);
  void StoreTick();
  // The group committed up to position, as replica r reports it.
  void OnCommitted(Group& g, Replica& r, Lsn position);
  // Replica r starts serving as its group's primary.
  void OnServing(Group& g, Replica& r);
  // The serving primary of a group and its hosted core, or null.
  Replica* Serving(Group& g);
  CoordinatorCore* Coordinator(Replica** at = nullptr);
  // Clients.
  void ClientTick(Client& c);
  void StartOp(Client& c);
  void NextStep(Client& c);
  void OnReply(Client& c, const ClientReply& r);
  void Finish(Client& c, Outcome outcome, const std::vector<OpResult>& reads);
  uint64_t NewRequest(Client& c);
  void AbortAtCoordinator(Client& c);
  // Checks.
  void CheckDurableRecords();
  void CheckTold(TxnId txn, Outcome outcome, const char* who);
  void FinalChecks();
  void Violation(const std::string& what);
  bool Quiescent();
  // Why the cluster is not quiescent ("" when it is).
  std::string Unsettled();
  bool AllWritersCommitted(TxnId txn) {
    const std::set<ShardId>& at = committed_at_[txn];
    for (ShardId s : facts_[txn].wrote) {
      if (!at.count(s)) return false;
    }
    return true;
  }
  void TickAll();

  Protocol PickProtocol() {
    switch (o_.protocol) {
      case ProtocolChoice::kTwoPc: return Protocol::kTwoPc;
      case ProtocolChoice::kThreePc: return Protocol::kThreePc;
      case ProtocolChoice::kMixed: break;
    }
    return rng_.Uniform(2) ? Protocol::kThreePc : Protocol::kTwoPc;
  }
  ShardId ShardOf(int32_t account) const { return account % o_.shards; }
  int32_t accounts() const { return o_.shards * o_.accounts_per_shard; }
  static int32_t NetOf(int32_t group, ReplicaId r) { return (group + 1) * 16 + r; }

  const SimOptions& o_;
  Rng rng_;
  Network net_;
  Trace trace_;
  Ticks now_ = 0;
  bool faults_on_ = true;
  bool workload_on_ = true;
  Group coord_;
  std::vector<Group> shards_;
  std::map<int32_t, std::pair<int32_t, ReplicaId>> by_net_;  // net id -> (group, replica)
  std::vector<StoreCall> store_calls_;
  uint64_t store_order_ = 0;
  std::set<TxnId> durable_commits_;  // coordinator COMMIT records the group committed
  std::set<TxnId> durable_aborts_;   // coordinator COORD-ABORT records the group committed
  std::vector<Client> clients_;
  std::map<uint64_t, int32_t> request_client_;
  // Transactions a client was told UNKNOWN about, and the status queries asking about them: a
  // client asks the serving coordinator until it says COMMITTED or ABORTED, and what it says is
  // checked like any outcome a client is told.
  std::map<TxnId, int> unknown_;  // -> status queries made
  std::map<uint64_t, TxnId> status_requests_;
  // Status queries after which a client gives up: the outcome of a one-phase transaction whose
  // shard forgot it (a small retain window) cannot be learned any more.
  static constexpr int kStatusQueries = 40;
  void AskUnknown();
  // A serving primary drops the log no transaction needs (as far as its group allows).
  void MaybeTruncate(Replica& r);
  // State transfers' snapshots, by serial (the chunks name them).
  struct Snapshot {
    Lsn applied = 0;
    Epoch epoch = 0;
    TxnId truncated;
    std::map<std::string, std::string> data;
  };
  std::map<uint64_t, Snapshot> snapshots_;
  uint64_t snapshot_serial_ = 0;
  uint64_t next_request_ = 1;
  uint64_t reply_order_ = 0;
  std::vector<PendingReply> replies_;
  std::map<TxnId, TxnFacts> facts_;
  std::map<TxnId, std::set<ShardId>> committed_at_, aborted_at_;  // committed, per shard
  bool stale_delivery_ = false;  // a deposed coordinator's message is being stepped
  SeedResult result_;
};

// The simulated disk, network and configuration store of one replica, as its GroupNode sees them.
class Simulation::ReplicaIo : public node::GroupNodeIo {
 public:
  ReplicaIo(Simulation& sim, Group& g, Replica& r) : sim_(sim), g_(g), r_(r) {}

  void PersistEpoch(Epoch epoch) override {
    r_.persisted_epoch = std::max(r_.persisted_epoch, epoch);
  }
  void TruncateAfter(Lsn position) override {
    sim_.trace_.Add(sim_.now_, Name() + " truncate after " + std::to_string(position));
    r_.log.TruncateAfter(position);
  }
  void Append(const std::vector<Record>& records) override {
    for (const Record& rec : records) {
      r_.log.Append(rec);
      if (r_.retention) r_.retention->Track(rec);
      if (sim_.trace_.verbose() || rec.type != RecordType::kEpochSeen) {
        sim_.trace_.Add(sim_.now_, Name() + " append " + Describe(rec) + " @" +
                                       std::to_string(rec.lsn) + "e" +
                                       std::to_string(rec.log_epoch));
      }
    }
    if (sim_.o_.inject_bug == InjectedBug::kAckBeforeBackupDurable && r_.node != nullptr &&
        !r_.node->replica().primary() && !records.empty()) {
      r_.lied_durable = records.back().lsn;  // the disk claims a sync it has not made
    }
  }
  std::vector<Record> Read(Lsn from, Lsn to) override {
    std::vector<Record> out;
    for (Lsn p = from; p <= to; ++p) {
      if (const Record* rec = r_.log.At(p)) out.push_back(*rec);
    }
    return out;
  }
  void TruncateBefore(const replication::LogStart& start) override {
    sim_.trace_.Add(sim_.now_, Name() + " truncate before " + std::to_string(start.first));
    TXC_CHECK_MSG(g_.id == kCoordGroup || r_.applied + 1 >= start.first,
                  "a shard truncates its log below what its store holds");
    // What the dropped EPOCH-SEEN records said is kept (the production driver's metadata).
    for (Lsn p = r_.log.first_position(); p < start.first; ++p) {
      const Record* rec = r_.log.At(p);
      if (rec != nullptr && rec->type == RecordType::kEpochSeen) {
        r_.kept_epoch = std::max(r_.kept_epoch, rec->epoch);
      }
      if (rec != nullptr && rec->txn.valid()) {
        r_.kept_truncated = std::max(r_.kept_truncated, rec->txn);
      }
    }
    r_.log.TruncateBefore(start.first);
    r_.log_start = start;
  }
  std::optional<Chunk> ReadTransfer(const replication::TransferRead& read) override {
    if (read.seq == 0) {
      Simulation::Snapshot snap;
      snap.applied = g_.id == kCoordGroup ? 0 : r_.applied;
      snap.epoch = r_.kept_epoch;
      snap.truncated = r_.kept_truncated;
      for (Lsn p = r_.log.first_position(); p <= r_.log.next_position() - 1; ++p) {
        const Record* rec = r_.log.At(p);
        if (rec != nullptr && rec->type == RecordType::kEpochSeen) {
          snap.epoch = std::max(snap.epoch, rec->epoch);
        }
      }
      if (r_.participant != nullptr) snap.epoch = std::max(snap.epoch, r_.participant->max_epoch());
      if (g_.id != kCoordGroup) snap.data = r_.store.data;
      if (sim_.o_.inject_bug == InjectedBug::kStaleSnapshot && g_.id != kCoordGroup &&
          snap.applied > 3) {
        // The injected bug: the store as it was three records ago (a snapshot taken before the
        // store's last writes landed), under the position it claims.
        snap.data = g_.genesis;
        for (Lsn p = 1; p + 3 <= snap.applied && p <= g_.ledger.size(); ++p) {
          if (g_.ledger[p - 1].type == RecordType::kCommitted) {
            SimStore s;
            s.data.swap(snap.data);
            s.Apply(g_.ledger[p - 1]);
            snap.data.swap(s.data);
          }
        }
      }
      TXC_CHECK_MSG(g_.id == kCoordGroup || snap.applied + 1 >= read.start.first,
                    "a snapshot misses records before the log's start");
      const uint64_t serial = ++sim_.snapshot_serial_;
      sim_.snapshots_[serial] = std::move(snap);
      transfers_[read.to] = {read.id, serial};
      sim_.trace_.Add(sim_.now_, Name() + " state transfer " + std::to_string(read.id) +
                                     " to r" + std::to_string(read.to) + " (snapshot " +
                                     std::to_string(serial) + ", log from " +
                                     std::to_string(read.start.first) + ")");
    }
    auto it = transfers_.find(read.to);
    if (it == transfers_.end() || it->second.first != read.id) return std::nullopt;
    const Simulation::Snapshot& snap = sim_.snapshots_.at(it->second.second);
    const size_t chunks = std::max<size_t>(1, (snap.data.size() + kTransferChunkKeys - 1) /
                                                  kTransferChunkKeys);
    if (read.seq >= chunks) return std::nullopt;
    // The payload names the snapshot and the chunk: the simulator's own encoding (the real one
    // is the shard store's, tests/unit/store_test.cc).
    Chunk c;
    c.payload = std::to_string(it->second.second) + ":" + std::to_string(read.seq);
    c.last = read.seq + 1 == chunks;
    return c;
  }
  void Install(const replication::Install& install) override {
    if (install.begin) {
      sim_.trace_.Add(sim_.now_, Name() + " installs transfer " + std::to_string(install.mark.id) +
                                     " of epoch " + std::to_string(install.mark.epoch) +
                                     " as disk " + std::to_string(install.disk));
      r_.disk = install.disk;
      r_.transfer_mark = install.mark;
      r_.log.Reset(1);
      r_.log_start = {};
      r_.store.data.clear();
      r_.applied = 0;
      r_.ledger_checked = 0;
      installing_ = 0;
    }
    for (const std::string& chunk : install.chunks) {
      const size_t colon = chunk.find(':');
      TXC_CHECK(colon != std::string::npos);
      const uint64_t serial = std::stoull(chunk.substr(0, colon));
      const size_t seq = std::stoull(chunk.substr(colon + 1));
      const Simulation::Snapshot& snap = sim_.snapshots_.at(serial);
      auto from = snap.data.begin();
      std::advance(from, static_cast<std::ptrdiff_t>(std::min(snap.data.size(), seq * kTransferChunkKeys)));
      for (size_t i = 0; i < kTransferChunkKeys && from != snap.data.end(); ++i, ++from) {
        r_.store.data[from->first] = from->second;
      }
      installing_ = serial;
    }
    if (install.done) {
      // (No chunk: a half-installed transfer given up, installed as the empty state.)
      const Simulation::Snapshot empty;
      const Simulation::Snapshot& snap = installing_ == 0 ? empty : sim_.snapshots_.at(installing_);
      r_.applied = snap.applied;
      r_.kept_epoch = std::max(r_.kept_epoch, snap.epoch);
      r_.kept_truncated = std::max(r_.kept_truncated, snap.truncated);
      r_.log.Reset(install.done->first);
      r_.log_start = *install.done;
      r_.ledger_checked = install.done->first - 1;
      ++sim_.result_.transfers;
      sim_.trace_.Add(sim_.now_, Name() + " installed: log from " +
                                     std::to_string(install.done->first) + ", store applied to " +
                                     std::to_string(snap.applied));
    }
  }
  void Committed(Lsn position) override { sim_.OnCommitted(g_, r_, position); }
  void Send(const ReplMessage& m) override { sim_.SendRepl(g_, r_, m); }
  void Propose(const GroupConfig& next) override {
    sim_.trace_.Add(sim_.now_, Name() + " proposes " + replication::Describe(next));
    sim_.CallStore({.at = sim_.now_ + sim_.rng_.Range(1, kStoreDelayMax),
                    .group = g_.id,
                    .replica = r_.id,
                    .kind = StoreCall::Kind::kPropose,
                    .config = next});
  }
  void SendProtocol(const std::vector<Message>& messages) override {
    for (Message m : messages) {
      if (g_.id == kCoordGroup && m.type == MsgType::kStatusReply) {
        if (sim_.o_.inject_bug == InjectedBug::kPresumeCommit &&
            m.outcome == Outcome::kAborted) {
          m.outcome = Outcome::kCommitted;  // the injected bug: unknown treated as committed
        }
        // After END every participant holds a committed COMMITTED, so a late query answered by
        // presumed abort misleads no one; before that, ABORTED for a committed COMMIT is a
        // change.
        if (m.outcome == Outcome::kAborted && sim_.durable_commits_.count(m.txn) &&
            !sim_.AllWritersCommitted(m.txn)) {
          sim_.Violation("decision-changed: coordinator " + Name() +
                         " answers ABORTED for durably committed " + m.txn.ToString());
        }
      }
      sim_.SendFrom(r_.net, m);
    }
  }
  void Held(const std::vector<DeferredMessage>& waiting) override {
    for (const DeferredMessage& d : waiting) {
      const Message& m = d.message;
      const bool vote = m.type == MsgType::kVote && m.vote == Vote::kYes;
      const bool decision = m.type == MsgType::kCommit || m.type == MsgType::kPreCommit;
      if ((sim_.o_.inject_bug == InjectedBug::kVoteBeforeDurable && vote &&
           g_.id != kCoordGroup) ||
          (sim_.o_.inject_bug == InjectedBug::kCommitBeforeDurable && decision &&
           g_.id == kCoordGroup)) {
        sim_.SendFrom(r_.net, m);
      }
    }
  }
  void Reply(const ClientReply& reply) override { sim_.QueueReply(reply); }
  void ServingChanged(bool serving) override {
    if (serving) sim_.OnServing(g_, r_);
  }
  std::unique_ptr<ProtocolCore> StartCore(Epoch primary_epoch, const std::vector<Record>& log,
                                          Lsn end) override {
    sim_.trace_.Add(sim_.now_, Name() + " activated as primary of epoch " +
                                   std::to_string(primary_epoch) + " at position " +
                                   std::to_string(end));
    ++sim_.result_.promotions;
    r_.retention = std::make_unique<wal::LogRetention>(kRetainFinished);
    for (const Record& rec : log) r_.retention->Track(rec);
    if (g_.id == kCoordGroup) {
      CoordinatorOptions co;
      co.epoch = primary_epoch;
      co.vote_timeout_ticks = 60;
      co.resend_first_ticks = 8;
      co.resend_max_ticks = 64;
      co.client_timeout_ticks = 200;
      co.pre_commit_timeout_ticks = 60;
      co.active_timeout_ticks = 1000;
      co.shards = sim_.o_.shards;
      // Small, so that a restored backlog of a few transactions already waits its turn.
      co.restore_window = 4;
      auto core = std::make_unique<CoordinatorCore>(co, &sim_.rng_);
      core->Restore(log, end);
      r_.coordinator = core.get();
      return core;
    }
    ParticipantOptions po;
    po.shard = g_.id;
    po.idle_timeout_ticks = 400;
    po.in_doubt_first_ticks = 30;
    po.in_doubt_max_ticks = 240;
    po.termination_after_queries = 2;
    // Small, so that every run forgets finished transactions while duplicates and late messages
    // about them are still in flight.
    po.retain_finished = 16;
    po.queries_per_tick = 4;  // likewise: a few in doubt already ask over several ticks
    po.truncated_max = r_.kept_truncated;
    auto core = std::make_unique<ParticipantCore>(po, &r_.store, &sim_.rng_);
    // What truncated EPOCH-SEEN records said, first: fencing survives truncation.
    std::vector<Record> records;
    if (r_.kept_epoch != 0) {
      records.push_back({.type = RecordType::kEpochSeen, .epoch = r_.kept_epoch});
    }
    records.insert(records.end(), log.begin(), log.end());
    core->Restore(records, end);
    r_.participant = core.get();
    return core;
  }
  void StopCore() override {
    sim_.trace_.Add(sim_.now_, Name() + " stops serving");
    r_.retention.reset();
    r_.participant = nullptr;
    r_.coordinator = nullptr;
  }

 private:
  std::string Name() const { return GroupName(g_.id) + "r" + std::to_string(r_.id); }
  Simulation& sim_;
  Group& g_;
  Replica& r_;
  std::map<ReplicaId, std::pair<uint64_t, uint64_t>> transfers_;  // member -> (id, snapshot)
  uint64_t installing_ = 0;  // the snapshot being installed
};

void Simulation::Violation(const std::string& what) {
  if (result_.violations.empty()) {
    trace_.Add(now_, "VIOLATION " + what);
    const auto& lines = trace_.lines();
    const size_t n = std::min(o_.trace_on_violation, lines.size());
    result_.trace_tail.assign(lines.end() - static_cast<std::ptrdiff_t>(n), lines.end());
  }
  if (result_.violations.size() < 20) result_.violations.push_back(what);
}

// ---- setup and faults -------------------------------------------------------------------

void Simulation::MakeGroup(Group& g, int32_t id) {
  g.id = id;
  g.replicas.resize(static_cast<size_t>(o_.replicas));
  g.config.version = 1;
  g.config.epoch = 1;
  g.config.primary = 0;
  for (ReplicaId i = 0; i < o_.replicas; ++i) {
    Replica& r = g.replicas[static_cast<size_t>(i)];
    r.group = id;
    r.id = i;
    r.net = NetOf(id, i);
    r.disk = g.next_disk++;
    r.store.data = g.genesis;
    if (o_.inject_bug == InjectedBug::kAckBeforeBackupDurable) {
      // The lying disk acknowledges at once and syncs late, as a volatile write cache would.
      r.log = SimLog(40);
    }
    by_net_[r.net] = {id, i};
    g.config.members.push_back(i);
  }
  // The bootstrap: the first primary alone in sync, on whichever disk it starts with; the others
  // join once they have caught up.
  g.config.isr[0] = 0;
}

void Simulation::StartReplica(Group& g, Replica& r) {
  replication::ReplicaOptions ro;
  ro.self = r.id;
  ro.disk = r.disk;
  ro.min_insync = static_cast<size_t>(o_.min_insync);
  ro.heartbeat_ticks = kHeartbeatTicks;
  ro.lag_timeout_ticks = kLagTimeoutTicks;
  ro.lease_ticks = kLeaseTicks;
  ro.grace_ticks = kGraceTicks;
  ro.retain_for_lagging_records = kRetainLaggingRecords;
  r.log.NewIncarnation();
  r.clock = now_;
  r.up = true;
  r.held.clear();
  r.lied_durable = 0;
  r.io = std::make_unique<ReplicaIo>(*this, g, r);
  r.node = std::make_unique<node::GroupNode>(ro, *r.io);
  r.node->Restore(r.log.durable(), r.persisted_epoch, r.log_start, r.transfer_mark);
  // A starting replica reads its group's configuration first.
  CallStore({.at = now_ + rng_.Range(1, kStoreDelayMax), .group = g.id, .replica = r.id,
             .kind = StoreCall::Kind::kPoll});
}

void Simulation::CrashReplica(Group& g, Replica& r, bool wipe) {
  trace_.Add(now_, std::string(wipe ? "WIPE " : "CRASH ") + GroupName(g.id) + "r" +
                       std::to_string(r.id));
  ++result_.crashes;
  r.log.Crash();
  r.node.reset();
  r.io.reset();
  r.participant = nullptr;
  r.coordinator = nullptr;
  r.retention.reset();
  r.up = false;
  r.paused_until = 0;
  r.restart_at = now_ + rng_.Range(20, 150);
  net_.DropAllTo(r.net);
  if (wipe) {
    ++result_.wipes;
    r.log.Wipe();
    r.disk = g.next_disk++;
    r.persisted_epoch = 0;
    r.store.data = g.genesis;
    r.applied = 0;
    r.ledger_checked = 0;
    r.log_start = {};
    r.transfer_mark = {};
    r.kept_epoch = 0;
    r.kept_truncated = {};
  }
}

// A disk is lost only within the fault budget: every other replica of the group is up and in
// sync, so one copy of every committed record survives on a disk that acknowledged it.
bool Simulation::MayWipe(Group& g, const Replica& r) {
  if (o_.replicas < 2 || static_cast<int32_t>(g.config.isr.size()) < o_.replicas) return false;
  for (const Replica& other : g.replicas) {
    if (other.id == r.id) continue;
    if (!other.up || !g.config.InIsrWith(other.id, other.disk)) return false;
  }
  return true;
}

void Simulation::InjectFaults() {
  if (!faults_on_) return;
  for (Group* g : Groups()) {
    for (Replica& r : g->replicas) {
      if (!r.up) continue;
      if (o_.crashes && rng_.Chance(o_.crash_rate_ppm)) {
        CrashReplica(*g, r, false);
      } else if (rng_.Chance(o_.wipe_rate_ppm) && MayWipe(*g, r)) {
        CrashReplica(*g, r, true);
      } else if (!r.paused(now_) && rng_.Chance(o_.pause_rate_ppm)) {
        r.paused_until = now_ + rng_.Range(kLeaseTicks, 3 * kGraceTicks);
        ++result_.pauses;
        trace_.Add(now_, "PAUSE " + GroupName(g->id) + "r" + std::to_string(r.id) + " until t=" +
                             std::to_string(r.paused_until));
      }
    }
    // Failover on purpose: the primary crashes or stops for longer than its lease.
    Replica& p = g->primary();
    if (o_.failover && p.up && !p.paused(now_) && rng_.Chance(o_.crash_rate_ppm / 2)) {
      if (rng_.Uniform(2) == 0) {
        CrashReplica(*g, p, false);
      } else {
        p.paused_until = now_ + rng_.Range(kGraceTicks, 3 * kGraceTicks);
        ++result_.pauses;
        trace_.Add(now_, "PAUSE primary " + GroupName(g->id) + "r" + std::to_string(p.id) +
                             " until t=" + std::to_string(p.paused_until));
      }
    }
    if (o_.inject_bug == InjectedBug::kPromoteOutOfIsr && (!p.up || p.paused(now_))) {
      // The injected bug: a member outside the ISR makes itself primary.
      for (Replica& r : g->replicas) {
        if (!r.up || r.paused(now_) || g->config.InIsr(r.id) || r.node == nullptr) continue;
        GroupConfig next = g->config;
        ++next.version;
        next.epoch = std::max(g->config.epoch, r.node->replica().epoch_seen()) + 1;
        next.primary = r.id;
        next.isr = {{r.id, r.disk}};
        trace_.Add(now_, GroupName(g->id) + "r" + std::to_string(r.id) +
                             " proposes itself from outside the ISR (injected bug)");
        CallStore({.at = now_ + 1, .group = g->id, .replica = r.id,
                   .kind = StoreCall::Kind::kPropose, .config = next});
        break;
      }
    }
  }
}

void Simulation::Sync(Replica& r) {
  if (!r.up || r.node == nullptr || r.paused(now_) || r.clock >= now_) return;
  const Ticks elapsed = now_ - r.clock;
  r.clock = now_;
  r.node->Tick(elapsed);
}

// ---- the configuration store ---------------------------------------------------------------

void Simulation::CallStore(StoreCall call) {
  call.order = store_order_++;
  store_calls_.push_back(std::move(call));
}

void Simulation::StoreTick() {
  std::stable_sort(store_calls_.begin(), store_calls_.end(),
                   [](const StoreCall& a, const StoreCall& b) {
                     return a.at != b.at ? a.at < b.at : a.order < b.order;
                   });
  size_t due = 0;
  while (due < store_calls_.size() && store_calls_[due].at <= now_) ++due;
  std::vector<StoreCall> calls(store_calls_.begin(),
                               store_calls_.begin() + static_cast<std::ptrdiff_t>(due));
  store_calls_.erase(store_calls_.begin(), store_calls_.begin() + static_cast<std::ptrdiff_t>(due));
  for (StoreCall& call : calls) {
    Group& g = GroupOf(call.group);
    Replica& r = g.replicas[static_cast<size_t>(call.replica)];
    const bool reachable = net_.Connected(r.net, kStoreNet);
    switch (call.kind) {
      case StoreCall::Kind::kPropose:
      case StoreCall::Kind::kPoll: {
        const bool propose = call.kind == StoreCall::Kind::kPropose;
        if (!reachable) break;  // no answer: a proposer gives up after its own timeout
        bool ok = false;
        if (propose && call.config.version == g.config.version + 1) {
          // The store's compare-and-swap: on the version only (as etcd's txn on mod_revision).
          ok = true;
          const bool moved = call.config.primary != g.config.primary;
          if (moved) ++result_.failovers;
          g.config = call.config;
          // The other groups' replicas hear of a new primary at their next poll.
          for (Group* other : Groups()) {
            if (!moved || other->id == g.id) continue;
            for (const Replica& w : other->replicas) {
              CallStore({.at = now_ + rng_.Range(1, kStoreDelayMax), .group = other->id,
                         .replica = w.id, .kind = StoreCall::Kind::kMoved, .moved = g.id});
            }
          }
          trace_.Add(now_, "CONFIG " + GroupName(g.id) + " " + replication::Describe(g.config));
          // Watchers hear of it.
          for (const Replica& w : g.replicas) {
            if (w.id == r.id) continue;
            CallStore({.at = now_ + rng_.Range(1, kStoreDelayMax), .group = g.id,
                       .replica = w.id, .kind = StoreCall::Kind::kAnswer, .config = g.config});
          }
        }
        CallStore({.at = now_ + rng_.Range(1, kStoreDelayMax), .group = g.id, .replica = r.id,
                   .kind = StoreCall::Kind::kAnswer, .config = g.config, .ok = ok,
                   .proposal = propose});
        break;
      }
      case StoreCall::Kind::kMoved:
        if (!r.up || r.node == nullptr || r.paused(now_) || !reachable) break;
        Sync(r);
        r.node->PeerMoved(call.moved == kCoordGroup ? NodeRef::Coordinator()
                                                    : NodeRef::Shard(call.moved));
        break;
      case StoreCall::Kind::kAnswer:
        if (!r.up || r.node == nullptr || r.paused(now_) || !reachable) break;
        Sync(r);
        if (call.proposal) {
          r.node->OnProposed(call.ok, call.config);
        } else {
          r.node->OnConfig(call.config);
        }
        break;
    }
  }
}

// ---- moving outputs ---------------------------------------------------------------------

void Simulation::SendFrom(int32_t from_net, const Message& m) {
  // Addressed by role: the group's current primary, as the configuration names it.
  Group& g = GroupOf(m.to.is_coordinator() ? kCoordGroup : m.to.shard);
  net_.Send(now_, from_net, g.primary().net, m);
}

void Simulation::SendRepl(Group& g, const Replica& from, const ReplMessage& m) {
  if (trace_.verbose()) trace_.Add(now_, GroupName(g.id) + " send " + DescribeRepl(m));
  net_.Send(now_, from.net, NetOf(g.id, m.to), m);
}

void Simulation::Deliver(const Envelope& e) {
  auto it = by_net_.find(e.to);
  TXC_CHECK(it != by_net_.end());
  Group& g = GroupOf(it->second.first);
  Replica& r = g.replicas[static_cast<size_t>(it->second.second)];
  if (!r.up || r.node == nullptr) return;
  if (r.paused(now_)) {
    r.held.push_back(e);  // its sockets buffer what arrives while it is stopped
    return;
  }
  DeliverTo(g, r, e);
}

void Simulation::DeliverTo(Group& g, Replica& r, const Envelope& e) {
  Sync(r);
  if (const ReplMessage* rm = std::get_if<ReplMessage>(&e.msg)) {
    if (trace_.verbose()) trace_.Add(now_, GroupName(g.id) + " deliver " + DescribeRepl(*rm));
    if (o_.inject_bug == InjectedBug::kSkipDivergentTruncation &&
        rm->type == replication::ReplType::kAppend && !r.node->replica().primary()) {
      // The injected bug: where this replica holds a record, it takes its own for the
      // primary's, so it never truncates what diverges.
      ReplMessage kept = *rm;
      if (kept.prev_position <= r.node->replica().last_position()) {
        kept.prev_epoch = r.node->replica().EpochAt(kept.prev_position);
      }
      for (Record& rec : kept.records) {
        if (const Record* mine = r.log.At(rec.lsn)) rec = *mine;
      }
      r.node->StepReplication(kept);
      return;
    }
    r.node->StepReplication(*rm);
    return;
  }
  const Message& m = e.message();
  if (!r.serving()) return;  // not the serving primary: dropped, the sender resends
  trace_.Add(now_, GroupName(g.id) + "r" + std::to_string(r.id) + " deliver " + Describe(m));
  const bool stale = r.participant != nullptr && m.from.is_coordinator() &&
                     m.epoch < r.participant->max_epoch();
  const uint64_t before = stale ? r.participant->Digest() : 0;
  stale_delivery_ = stale;
  r.node->StepProtocol(m);
  stale_delivery_ = false;
  if (stale && r.participant != nullptr && r.participant->Digest() != before) {
    // Fencing (invariant 4): a deposed coordinator's message changes nothing.
    Violation("fencing: " + GroupName(g.id) + " changed state on stale " + Describe(m));
  }
}

void Simulation::QueueReply(const ClientReply& r) {
  replies_.push_back({now_ + rng_.Range(1, 3), reply_order_++, r});
}

void Simulation::OnCommitted(Group& g, Replica& r, Lsn position) {
  if (stale_delivery_) {
    Violation("fencing: " + GroupName(g.id) + " committed a record on a stale message");
  }
  const replication::ReplicaCore& core = r.node->replica();
  if (core.primary()) {
    // At most one primary acknowledges records in an epoch.
    const Epoch e = core.config().epoch;
    auto [it, fresh] = g.committers.emplace(e, r.id);
    if (!fresh && it->second != r.id) {
      Violation("replication: " + GroupName(g.id) + " replicas " + std::to_string(it->second) +
                " and " + std::to_string(r.id) + " both committed as primary of epoch " +
                std::to_string(e));
    }
  }
  // The committed prefixes of all replicas are identical.
  for (Lsn p = r.ledger_checked + 1; p <= position; ++p) {
    const Record* rec = r.log.At(p);
    TXC_CHECK_MSG(rec != nullptr, "a replica commits a record it does not hold");
    if (p <= g.ledger.size()) {
      if (!(g.ledger[p - 1] == *rec)) {
        Violation("replication: " + GroupName(g.id) + " replica " + std::to_string(r.id) +
                  " committed " + Describe(*rec) + " at position " + std::to_string(p) +
                  " where the group committed " + Describe(g.ledger[p - 1]));
      }
    } else {
      g.ledger.push_back(*rec);
    }
  }
  r.ledger_checked = std::max(r.ledger_checked, position);
  // A shard applies what is committed to its store.
  if (g.id != kCoordGroup) {
    for (Lsn p = r.applied + 1; p <= position; ++p) {
      const Record* rec = r.log.At(p);
      if (rec != nullptr && rec->type == RecordType::kCommitted) r.store.Apply(*rec);
    }
    r.applied = std::max(r.applied, position);
  }
}

void Simulation::OnServing(Group& g, Replica& r) {
  const Lsn end = r.node->replica().last_position();
  trace_.Add(now_, GroupName(g.id) + "r" + std::to_string(r.id) + " serves as primary of epoch " +
                       std::to_string(r.node->replica().primary_epoch()) + " at position " +
                       std::to_string(end));
  // No record acknowledged durable is ever lost: a serving primary holds every one its log
  // still holds, and a shard's store every write before its log's start.
  if (g.id != kCoordGroup && r.applied + 1 < r.log.first_position()) {
    Violation("durability: " + GroupName(g.id) + " replica " + std::to_string(r.id) +
              " serves with its store applied to " + std::to_string(r.applied) +
              " and its log from " + std::to_string(r.log.first_position()));
  }
  for (size_t i = r.log.first_position() - 1; i < g.ledger.size(); ++i) {
    const Record* rec = r.log.At(i + 1);
    if (rec == nullptr || !(*rec == g.ledger[i])) {
      Violation("durability: " + GroupName(g.id) + " replica " + std::to_string(r.id) +
                " serves without the committed record at position " + std::to_string(i + 1) +
                " (it holds " + std::to_string(end) + ", the group committed " +
                std::to_string(g.ledger.size()) + ")");
      return;
    }
  }
}

Replica* Simulation::Serving(Group& g) {
  Replica& p = g.primary();
  Sync(p);
  if (!p.serving() || p.paused(now_)) return nullptr;
  return &p;
}

CoordinatorCore* Simulation::Coordinator(Replica** at) {
  Replica* r = Serving(coord_);
  if (at != nullptr) *at = r;
  return r == nullptr ? nullptr : r->coordinator;
}

// ---- clients ----------------------------------------------------------------------------

uint64_t Simulation::NewRequest(Client& c) {
  const uint64_t id = next_request_++;
  request_client_[id] = c.index;
  c.waiting = id;
  c.deadline = now_ + kClientTimeoutTicks;
  return id;
}

void Simulation::StartOp(Client& c) {
  Replica* at = nullptr;
  CoordinatorCore* coord = Coordinator(&at);
  if (coord == nullptr) {
    c.next_start = now_ + 10;
    return;
  }
  c.busy = true;
  c.protocol = PickProtocol();
  c.one_shot = rng_.Uniform(2) == 0;
  c.kind = rng_.Uniform(5) == 0 ? Kind::kAudit : Kind::kTransfer;
  c.steps.clear();
  c.next_step = 0;
  c.touched.clear();
  c.reads.clear();
  Sync(*at);
  c.coord_epoch = coord->epoch();
  std::map<ShardId, std::vector<Op>> ops;
  if (c.kind == Kind::kAudit) {
    for (int32_t a = 0; a < accounts(); ++a) {
      ops[ShardOf(a)].push_back({.type = Op::Type::kGet, .key = AccountKey(a)});
    }
  } else {
    const int32_t from = static_cast<int32_t>(rng_.Uniform(static_cast<uint64_t>(accounts())));
    int32_t to = static_cast<int32_t>(rng_.Uniform(static_cast<uint64_t>(accounts())));
    const bool same_shard = rng_.Uniform(4) == 0 || o_.shards == 1;
    while (to == from || (same_shard != (ShardOf(to) == ShardOf(from)))) {
      to = static_cast<int32_t>(rng_.Uniform(static_cast<uint64_t>(accounts())));
    }
    const int64_t amount = rng_.Range(1, 40);
    ops[ShardOf(from)].push_back({.type = Op::Type::kAdd, .key = AccountKey(from),
                                  .delta = -amount, .min_result = 0});
    ops[ShardOf(to)].push_back({.type = Op::Type::kAdd, .key = AccountKey(to), .delta = amount});
  }
  if (c.one_shot) {
    const uint64_t req = NewRequest(c);
    c.waiting_commit = true;
    std::map<ShardId, std::vector<Op>> copy = ops;
    c.txn = coord->Execute(req, c.protocol, std::move(copy));
    for (const auto& [s, list] : ops) c.touched.push_back(s);
  } else {
    c.txn = coord->Begin(c.protocol);
    for (auto& [s, list] : ops) c.steps.emplace_back(s, std::move(list));
  }
  TxnFacts& f = facts_[c.txn];
  f.kind = c.kind;
  f.protocol = c.protocol;
  if (c.kind == Kind::kTransfer) {
    for (const auto& [s, list] : ops) f.wrote.insert(s);
  }
  trace_.Add(now_, "client " + std::to_string(c.index) + " starts " + c.txn.ToString() + " " +
                       (c.kind == Kind::kAudit ? "audit" : "transfer") + " " +
                       ToString(c.protocol) + (c.one_shot ? " one-shot" : " interactive"));
  at->node->DrainCore();
  if (!c.one_shot) NextStep(c);
}

void Simulation::NextStep(Client& c) {
  if (c.next_step < c.steps.size()) {
    auto& [shard, ops] = c.steps[c.next_step++];
    c.touched.push_back(shard);
    const uint64_t req = NewRequest(c);
    Replica* at = Serving(shards_[static_cast<size_t>(shard)]);
    if (at == nullptr || at->participant == nullptr) return;  // refused: the client times out
    Sync(*at);
    at->participant->Execute(req, c.txn, c.txn.epoch, ops);
    at->node->DrainCore();
    return;
  }
  Replica* at = nullptr;
  CoordinatorCore* coord = Coordinator(&at);
  const uint64_t req = NewRequest(c);
  c.waiting_commit = true;
  if (coord == nullptr) return;  // times out: UNKNOWN
  coord->Commit(req, c.txn, c.touched);
  at->node->DrainCore();
}

void Simulation::AbortAtCoordinator(Client& c) {
  Replica* at = nullptr;
  CoordinatorCore* coord = Coordinator(&at);
  if (coord == nullptr || coord->epoch() != c.coord_epoch) return;
  coord->Abort(next_request_++, c.txn, c.touched);
  at->node->DrainCore();
}

void Simulation::Finish(Client& c, Outcome outcome, const std::vector<OpResult>& reads) {
  TxnFacts& f = facts_[c.txn];
  f.told = outcome;
  f.told_any = true;
  trace_.Add(now_, "client " + std::to_string(c.index) + " told " + c.txn.ToString() + " " +
                       ToString(outcome));
  if (outcome == Outcome::kCommitted) ++result_.committed;
  if (outcome == Outcome::kAborted) ++result_.aborted;
  if (outcome == Outcome::kUnknown) {
    ++result_.unknown;
    unknown_.emplace(c.txn, 0);
  }
  CheckTold(c.txn, outcome, "client");
  if (outcome == Outcome::kCommitted && c.kind == Kind::kAudit) {
    int64_t total = 0;
    for (const OpResult& r : reads) total += r.found ? std::stoll(r.value) : 0;
    ++result_.audits_checked;
    if (reads.size() != static_cast<size_t>(accounts()) ||
        total != kInitialBalance * accounts()) {
      Violation("isolation: audit " + c.txn.ToString() + " saw total " + std::to_string(total) +
                " over " + std::to_string(reads.size()) + " accounts");
    }
  }
  c.busy = false;
  c.waiting = 0;
  c.waiting_commit = false;
  c.next_start = now_ + rng_.Range(0, 10);
}

void Simulation::OnReply(Client& c, const ClientReply& r) {
  if (r.request_id != c.waiting) return;
  c.waiting = 0;
  if (c.waiting_commit) {
    std::vector<OpResult> reads = c.reads;
    reads.insert(reads.end(), r.reads.begin(), r.reads.end());
    return Finish(c, r.outcome, reads);
  }
  if (!r.ok) {
    // A shard aborted the transaction (lock conflict, constraint): abort it everywhere.
    AbortAtCoordinator(c);
    return Finish(c, Outcome::kAborted, {});
  }
  c.reads.insert(c.reads.end(), r.reads.begin(), r.reads.end());
  NextStep(c);
}

void Simulation::ClientTick(Client& c) {
  if (c.busy) {
    if (c.waiting != 0 && now_ >= c.deadline) {
      if (c.waiting_commit) return Finish(c, Outcome::kUnknown, {});
      // No answer to a read/write: give the transaction up. It never committed: the client
      // has not asked for a commit.
      AbortAtCoordinator(c);
      Finish(c, Outcome::kAborted, {});
    }
    return;
  }
  if (workload_on_ && now_ >= c.next_start) StartOp(c);
}

// ---- checks -----------------------------------------------------------------------------

void Simulation::CheckTold(TxnId txn, Outcome outcome, const char* who) {
  if (outcome == Outcome::kCommitted) {
    if (!aborted_at_[txn].empty()) {
      Violation(std::string("atomicity: ") + who + " told COMMITTED for " + txn.ToString() +
                " but a shard durably aborted it");
    }
  } else if (outcome == Outcome::kAborted) {
    if (!committed_at_[txn].empty()) {
      Violation(std::string("atomicity: ") + who + " told ABORTED for " + txn.ToString() +
                " but a shard durably committed it");
    }
    if (durable_commits_.count(txn)) {
      Violation(std::string("decision-changed: ") + who + " told ABORTED for " + txn.ToString() +
                " whose COMMIT is durable");
    }
  }
}

void Simulation::CheckDurableRecords() {
  // "Durable" is committed in the group: what the ledgers hold.
  for (; coord_.checked < coord_.ledger.size(); ++coord_.checked) {
    const Record& r = coord_.ledger[coord_.checked];
    if (r.type == RecordType::kCoordAbort) {
      durable_aborts_.insert(r.txn);
      if (durable_commits_.count(r.txn)) {
        Violation("decision-changed: ABORT of " + r.txn.ToString() + " logged after its COMMIT");
      }
      continue;
    }
    if (r.type != RecordType::kCoordCommit) continue;
    if (durable_aborts_.count(r.txn)) {
      Violation("decision-changed: COMMIT of " + r.txn.ToString() + " logged after its ABORT");
    }
    durable_commits_.insert(r.txn);
    auto f = facts_.find(r.txn);
    if (f != facts_.end() && f->second.told == Outcome::kAborted) {
      Violation("decision-changed: COMMIT of " + r.txn.ToString() +
                " became durable after the client was told ABORTED");
    }
  }
  for (Group& g : shards_) {
    for (; g.checked < g.ledger.size(); ++g.checked) {
      const Record& r = g.ledger[g.checked];
      if (r.type != RecordType::kCommitted && r.type != RecordType::kAborted) continue;
      const ShardId s = g.id;
      const bool commit = r.type == RecordType::kCommitted;
      (commit ? committed_at_ : aborted_at_)[r.txn].insert(s);
      const auto& other = (commit ? aborted_at_ : committed_at_)[r.txn];
      if (other.count(s)) {
        Violation("decision-changed: S" + std::to_string(s) + " has both outcomes for " +
                  r.txn.ToString());
      } else if (!other.empty()) {
        Violation("atomicity: " + r.txn.ToString() + " committed at some shards and aborted at " +
                  "others (S" + std::to_string(s) + " " + (commit ? "committed" : "aborted") +
                  ")");
      }
      auto f = facts_.find(r.txn);
      if (f != facts_.end() && f->second.told_any) {
        if (commit && f->second.told == Outcome::kAborted) {
          Violation("atomicity: S" + std::to_string(s) + " committed " + r.txn.ToString() +
                    " after the client was told ABORTED");
        }
        if (!commit && f->second.told == Outcome::kCommitted && f->second.wrote.count(s)) {
          Violation("durability: S" + std::to_string(s) + " aborted " + r.txn.ToString() +
                    " after the client was told COMMITTED");
        }
      }
    }
  }
}

std::string Simulation::Unsettled() {
  for (const Client& c : clients_) {
    if (c.busy) return "client " + std::to_string(c.index) + " waits";
  }
  for (Group* g : Groups()) {
    const std::string name = GroupName(g->id);
    Replica* p = Serving(*g);
    if (p == nullptr) return name + " has no serving primary";
    const replication::ReplicaCore& core = p->node->replica();
    if (core.commit_position() != core.last_position()) {
      return name + " primary committed " + std::to_string(core.commit_position()) + " of " +
             std::to_string(core.last_position());
    }
    for (const Replica& r : g->replicas) {
      const std::string rn = name + "r" + std::to_string(r.id);
      if (!r.up || r.node == nullptr || r.paused(now_)) return rn + " is not running";
      if (r.log.not_durable() != 0) return rn + " has unsynced records";
      if (r.node->replica().last_position() != core.last_position() ||
          r.node->replica().commit_position() != core.commit_position()) {
        return rn + " is behind (" + std::to_string(r.node->replica().last_position()) + "/" +
               std::to_string(r.node->replica().commit_position()) + " of " +
               std::to_string(core.last_position()) + ")";
      }
    }
    if (p->participant != nullptr &&
        (!p->participant->InDoubt().empty() || p->participant->locks_held() != 0)) {
      return name + " has transactions in doubt or locks";
    }
    if (p->coordinator != nullptr && p->coordinator->live_transactions() != 0) {
      return "the coordinator drives transactions";
    }
  }
  if (!replies_.empty()) return "client replies in flight";
  if (!unknown_.empty()) {
    return std::to_string(unknown_.size()) + " UNKNOWN outcome(s) not resolved by status";
  }
  for (const StoreCall& call : store_calls_) {
    // Reads of the configuration never stop; a change in flight does not settle.
    if (call.kind == StoreCall::Kind::kPropose || call.proposal) {
      return "a configuration change is in flight";
    }
  }
  return "";
}

bool Simulation::Quiescent() { return Unsettled().empty(); }

void Simulation::FinalChecks() {
  // Liveness: once faults healed, every transaction reached its outcome within the bound.
  for (Group* g : Groups()) {
    Replica* p = Serving(*g);
    if (p == nullptr) {
      Violation("liveness: " + GroupName(g->id) + " has no serving primary " +
                std::to_string(result_.settle_ticks) + " ticks after the faults healed (" +
                replication::Describe(g->config) + ")");
      continue;
    }
    if (p->participant != nullptr) {
      for (const InDoubtTxn& t : p->participant->InDoubt()) {
        Violation("liveness: " + GroupName(g->id) + " still in doubt about " + t.txn.ToString() +
                  " (" + ToString(t.state) + ") after " + std::to_string(result_.settle_ticks) +
                  " healed ticks");
        break;
      }
      if (p->participant->locks_held() != 0) {
        Violation("liveness: " + GroupName(g->id) + " still holds " +
                  std::to_string(p->participant->locks_held()) +
                  " locks after the faults healed");
      }
    }
    if (p->coordinator != nullptr && p->coordinator->live_transactions() != 0) {
      const LiveTxn first = p->coordinator->LiveTransactions().front();
      Violation("liveness: the coordinator still drives " +
                std::to_string(p->coordinator->live_transactions()) + " transactions after " +
                std::to_string(result_.settle_ticks) + " healed ticks, e.g. " +
                first.txn.ToString() + " " + first.phase + " acked " +
                std::to_string(first.acked) + "/" + std::to_string(first.participants));
    }
    // Replication: every replica holds the group's committed log, unchanged.
    for (Replica& r : g->replicas) {
      for (size_t i = r.log.first_position() - 1; i < g->ledger.size(); ++i) {
        const Record* rec = r.log.At(i + 1);
        if (rec == nullptr || !(*rec == g->ledger[i])) {
          Violation("replication: " + GroupName(g->id) + " replica " + std::to_string(r.id) +
                    " lacks the committed record at position " + std::to_string(i + 1) +
                    " once healed");
          break;
        }
      }
    }
  }
  for (const Client& c : clients_) {
    if (c.busy) Violation("liveness: client " + std::to_string(c.index) + " never got an answer");
  }
  if (const std::string why = Unsettled(); !why.empty()) {
    Violation("liveness: not quiescent " + std::to_string(result_.settle_ticks) +
              " ticks after the faults healed: " + why);
  }
  // Durability: every commit told to a client is committed at every shard it wrote.
  for (const auto& [txn, f] : facts_) {
    if (f.told != Outcome::kCommitted) continue;
    for (ShardId s : f.wrote) {
      if (!committed_at_[txn].count(s)) {
        Violation("durability: " + txn.ToString() + " was told COMMITTED but S" +
                  std::to_string(s) + " has no committed COMMITTED record");
        break;
      }
    }
  }
  // The bank: rebuilt from the committed logs alone, the total never changes and no balance is
  // negative; every replica's store holds exactly that.
  int64_t total = 0;
  for (Group& g : shards_) {
    SimStore committed;
    committed.data = g.genesis;
    for (const Record& r : g.ledger) {
      if (r.type == RecordType::kCommitted) committed.Apply(r);
    }
    for (const auto& [key, value] : committed.data) {
      const int64_t v = std::stoll(value);
      total += v;
      if (v < 0) Violation("isolation: " + key + " is negative (" + value + ")");
    }
    for (const Replica& r : g.replicas) {
      if (committed.data == r.store.data) continue;
      std::string key;
      for (const auto& [k, v] : committed.data) {
        if (r.store.Get(k) != std::optional<std::string>(v)) key = k;
      }
      for (const auto& [k, v] : r.store.data) {
        if (!committed.data.count(k)) key = k;
      }
      Violation("durability: S" + std::to_string(g.id) + " replica " + std::to_string(r.id) +
                " holds data its committed log does not (" + key + ": " +
                r.store.Get(key).value_or("none") + ", committed " +
                committed.Get(key).value_or("none") + ", applied through " +
                std::to_string(r.applied) + " of " + std::to_string(g.ledger.size()) + ")");
    }
  }
  if (total != kInitialBalance * accounts()) {
    Violation("isolation: bank total is " + std::to_string(total) + ", expected " +
              std::to_string(kInitialBalance * accounts()));
  }
}

// ---- the run ----------------------------------------------------------------------------

void Simulation::TickAll() {
  ++now_;
  // Network partitions start and heal; the configuration store is a node of them too.
  std::vector<int32_t> nodes;
  for (const auto& [net, at] : by_net_) nodes.push_back(net);
  nodes.push_back(kStoreNet);
  const NetworkEvent ev = net_.Tick(now_, nodes);
  if (ev == NetworkEvent::kPartitionStarted) {
    ++result_.partitions;
    trace_.Add(now_, "PARTITION " + net_.DescribePartition());
  } else if (ev == NetworkEvent::kPartitionHealed) {
    trace_.Add(now_, "PARTITION healed");
  }
  InjectFaults();
  // Restarts, and pauses that end (the time it missed first, then what its sockets held).
  for (Group* g : Groups()) {
    for (Replica& r : g->replicas) {
      if (!r.up && now_ >= r.restart_at) {
        trace_.Add(now_, "RESTART " + GroupName(g->id) + "r" + std::to_string(r.id));
        StartReplica(*g, r);
      }
      if (r.up && r.node != nullptr && !r.paused(now_) && !r.held.empty()) {
        std::vector<Envelope> held;
        held.swap(r.held);
        for (const Envelope& e : held) DeliverTo(*g, r, e);
      }
    }
  }
  StoreTick();
  for (const Envelope& e : net_.DeliverDue(now_)) Deliver(e);
  // Disks.
  for (Group* g : Groups()) {
    for (Replica& r : g->replicas) {
      if (!r.up || r.node == nullptr || r.paused(now_)) continue;
      const std::optional<Lsn> synced = r.log.Tick(now_, rng_);
      if (synced || r.lied_durable != 0) {
        Sync(r);
        Lsn durable = synced.value_or(0);
        if (r.lied_durable > durable) durable = r.lied_durable;
        r.lied_durable = 0;
        r.node->OnLocalDurable(durable);
      }
    }
  }
  CheckDurableRecords();
  // Timers, and the replicas' periodic read of their configuration.
  for (Group* g : Groups()) {
    for (Replica& r : g->replicas) {
      Sync(r);
      if (r.up && r.node != nullptr && !r.paused(now_) && (now_ + r.id) % kPollTicks == 0) {
        CallStore({.at = now_ + rng_.Range(1, kStoreDelayMax), .group = g->id, .replica = r.id,
                   .kind = StoreCall::Kind::kPoll});
      }
    }
  }
  // Client replies due now, in order.
  std::stable_sort(replies_.begin(), replies_.end(), [](const PendingReply& a,
                                                        const PendingReply& b) {
    return a.at != b.at ? a.at < b.at : a.order < b.order;
  });
  size_t due = 0;
  while (due < replies_.size() && replies_[due].at <= now_) ++due;
  std::vector<PendingReply> ready(replies_.begin(),
                                  replies_.begin() + static_cast<std::ptrdiff_t>(due));
  replies_.erase(replies_.begin(), replies_.begin() + static_cast<std::ptrdiff_t>(due));
  for (const PendingReply& p : ready) {
    if (auto q = status_requests_.find(p.reply.request_id); q != status_requests_.end()) {
      const TxnId txn = q->second;
      status_requests_.erase(q);
      if (p.reply.outcome == Outcome::kUnknown || unknown_.count(txn) == 0) continue;
      unknown_.erase(txn);
      TxnFacts& f = facts_[txn];
      f.told = p.reply.outcome;
      f.told_any = true;
      trace_.Add(now_, "status of " + txn.ToString() + ": " + ToString(p.reply.outcome));
      CheckTold(txn, p.reply.outcome, "status");
      continue;
    }
    auto it = request_client_.find(p.reply.request_id);
    if (it == request_client_.end()) continue;
    const int32_t client = it->second;
    request_client_.erase(it);
    OnReply(clients_[static_cast<size_t>(client)], p.reply);
  }
  for (Client& c : clients_) ClientTick(c);
  if (now_ % 25 == 0) AskUnknown();
  if (now_ % kTruncateEveryTicks == 0) {
    for (Group* g : Groups()) {
      for (Replica& r : g->replicas) MaybeTruncate(r);
    }
  }
}

void Simulation::MaybeTruncate(Replica& r) {
  if (!r.serving() || r.paused(now_) || r.retention == nullptr) return;
  const replication::ReplicaCore& core = r.node->replica();
  auto live = [&](TxnId t) {
    return r.participant != nullptr ? r.participant->IsLive(t) : r.coordinator->IsLive(t);
  };
  const Lsn floor = r.retention->Floor(live, core.commit_position());
  if (floor < core.log_start().first + kTruncateMinRecords) return;
  const Lsn before = core.log_start().first;
  r.node->TruncateBefore(floor);
  if (r.node->replica().log_start().first > before) ++result_.truncations;
}

void Simulation::AskUnknown() {
  if (unknown_.empty()) return;
  Replica* at = nullptr;
  CoordinatorCore* coord = Coordinator(&at);
  if (coord == nullptr) return;
  Sync(*at);
  for (auto it = unknown_.begin(); it != unknown_.end();) {
    if (++it->second > kStatusQueries) {
      ++result_.unresolved;
      trace_.Add(now_, "client gives up asking about " + it->first.ToString());
      it = unknown_.erase(it);
      continue;
    }
    const uint64_t req = next_request_++;
    status_requests_[req] = it->first;
    coord->Status(req, it->first);
    ++it;
  }
  at->node->DrainCore();
}

// A failed check in a core or the driver during a seed: the seed's run stops and reports it.
struct CheckFailure {
  std::string what;
};

[[noreturn]] void ThrowCheckFailure(const char* cond, const char* file, int line,
                                    const char* msg) {
  throw CheckFailure{std::string("CHECK failed: ") + cond + " at " + file + ":" +
                     std::to_string(line) + " " + (msg ? msg : "")};
}

SeedResult Simulation::Run() {
  const CheckFailureHandler previous = check_failure_handler;
  check_failure_handler = ThrowCheckFailure;
  try {
    RunChecked();
  } catch (const CheckFailure& failure) {
    Violation("check: " + failure.what);
    result_.trace_hash = trace_.hash();
  }
  check_failure_handler = previous;
  return result_;
}

void Simulation::RunChecked() {
  shards_.resize(static_cast<size_t>(o_.shards));
  for (int32_t a = 0; a < accounts(); ++a) {
    shards_[static_cast<size_t>(ShardOf(a))].genesis[AccountKey(a)] =
        std::to_string(kInitialBalance);
  }
  MakeGroup(coord_, kCoordGroup);
  for (int32_t s = 0; s < o_.shards; ++s) MakeGroup(shards_[static_cast<size_t>(s)], s);
  for (Group* g : Groups()) {
    for (Replica& r : g->replicas) StartReplica(*g, r);
  }
  clients_.resize(static_cast<size_t>(o_.clients));
  for (int32_t i = 0; i < o_.clients; ++i) clients_[static_cast<size_t>(i)].index = i;

  while (now_ < o_.ticks) {
    TickAll();
    if (o_.stop_on_violation && !result_.violations.empty()) break;
  }
  // Heal: no more faults, every replica up and running; the workload drains.
  trace_.Add(now_, "HEAL");
  faults_on_ = false;
  workload_on_ = false;
  net_.HealAll();
  for (Group* g : Groups()) {
    for (Replica& r : g->replicas) {
      r.paused_until = std::min(r.paused_until, now_);
      if (!r.up) r.restart_at = std::min(r.restart_at, now_ + 1);
    }
  }
  const Ticks heal_start = now_;
  while (now_ - heal_start < kMaxSettleTicks) {
    TickAll();
    if ((now_ - heal_start) % 25 == 0 && Quiescent()) break;
  }
  result_.settle_ticks = now_ - heal_start;
  CheckDurableRecords();
  FinalChecks();
  result_.messages = net_.sent();
  for (Group& g : shards_) {
    for (Replica& r : g.replicas) {
      if (r.participant == nullptr) continue;
      result_.termination_rounds += r.participant->stats().termination_rounds;
      result_.stale_rejected += r.participant->stats().stale_rejected;
    }
  }
  result_.trace_hash = trace_.hash();
}

}  // namespace

SeedResult RunSeed(const SimOptions& options, uint64_t seed) {
  Simulation sim(options, seed);
  return sim.Run();
}

}  // namespace txcoord::sim
