#include "tests/sim/cluster.h"

#include <algorithm>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <sstream>

#include "common/check.h"
#include "coordinator/core/coordinator_core.h"
#include "node/core_runner.h"
#include "participant/core/participant_core.h"
#include "tests/sim/network.h"
#include "tests/sim/storage.h"
#include "tests/sim/trace.h"

namespace txcoord::sim {
namespace {

constexpr int32_t kClientBase = 500;
constexpr int32_t kCoordBase = 1000;
constexpr int64_t kInitialBalance = 100;
constexpr Ticks kMaxSettleTicks = 8000;
constexpr Ticks kClientTimeoutTicks = 300;

std::string AccountKey(int32_t i) { return "acct/" + std::to_string(i); }

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

struct ShardNode {
  ShardId id = 0;
  bool up = true;
  Ticks restart_at = 0;
  SimLog log{3};
  SimStore store;
  std::map<std::string, std::string> genesis;
  std::unique_ptr<ParticipantCore> core;
  std::unique_ptr<node::Effects> effects;  // the simulated disk and network, for the runner
  std::unique_ptr<node::CoreRunner> runner;
  size_t durable_checked = 0;
};

struct CoordNode {
  Epoch epoch = 0;
  std::unique_ptr<CoordinatorCore> core;
  std::unique_ptr<node::Effects> effects;
  std::unique_ptr<node::CoreRunner> runner;
  Ticks dies_at = INT64_MAX;  // a zombie runs until then
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
  Epoch coord_epoch = 0;  // the coordinator incarnation the transaction began with
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

  SeedResult Run();

 private:
  // Setup and faults.
  void StartShard(ShardNode& n, const std::vector<Record>& durable);
  void StartCoordinator(Epoch epoch, const std::vector<Record>& log);
  void CrashShard(ShardNode& n);
  void CrashCoordinator(Epoch epoch, const char* why);
  void Failover();
  void InjectFaults();
  // Moving outputs: each core runs through the production driver's loop (node/core_runner.h);
  // these Effects are the simulated disk, network and clients it applies the output to.
  class ShardEffects;
  class CoordEffects;
  void ShardAppend(ShardNode& n, const std::vector<Record>& records);
  void CoordAppend(CoordNode& c, const std::vector<Record>& records);
  void CoordSend(CoordNode& c, const std::vector<Message>& messages);
  void SendFrom(int32_t from, const Message& m);
  void Deliver(const Envelope& e);
  void QueueReply(const ClientReply& r);
  // Clients.
  void ClientTick(Client& c);
  void StartOp(Client& c);
  void NextStep(Client& c);
  void OnReply(Client& c, const ClientReply& r);
  void Finish(Client& c, Outcome outcome, const std::vector<OpResult>& reads);
  uint64_t NewRequest(Client& c);
  // Checks.
  void CheckDurableRecords();
  void CheckTold(TxnId txn, Outcome outcome, const char* who);
  void FinalChecks();
  void Violation(const std::string& what);
  bool Quiescent() const;
  bool AllWritersCommitted(TxnId txn) {
    const std::set<ShardId>& at = committed_at_[txn];
    for (ShardId s : facts_[txn].wrote) {
      if (!at.count(s)) return false;
    }
    return true;
  }
  void TickAll();

  CoordNode* Current() {
    auto it = coords_.find(current_epoch_);
    return it == coords_.end() ? nullptr : &it->second;
  }
  CoordNode* CoordFor(Epoch e) {
    auto it = coords_.find(e);
    return it == coords_.end() ? nullptr : &it->second;
  }
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

  const SimOptions& o_;
  Rng rng_;
  Network net_;
  Trace trace_;
  Ticks now_ = 0;
  bool faults_on_ = true;
  bool workload_on_ = true;
  std::vector<ShardNode> shards_;
  std::map<Epoch, CoordNode> coords_;  // the current one and at most one zombie
  Epoch current_epoch_ = 0;
  Epoch next_epoch_ = 1;
  Ticks coordinator_restart_at_ = 0;  // > 0: no coordinator until then
  SharedDecisionLog decision_log_{3};
  size_t decision_durable_checked_ = 0;
  std::set<TxnId> durable_commits_;  // coordinator COMMIT records that are durable
  std::vector<Client> clients_;
  std::map<uint64_t, int32_t> request_client_;
  uint64_t next_request_ = 1;
  uint64_t reply_order_ = 0;
  std::vector<PendingReply> replies_;
  std::map<TxnId, TxnFacts> facts_;
  std::map<TxnId, std::set<ShardId>> committed_at_, aborted_at_;  // durable, per shard
  bool stale_delivery_ = false;  // a deposed coordinator's message is being stepped
  SeedResult result_;
};

class Simulation::ShardEffects : public node::Effects {
 public:
  ShardEffects(Simulation& sim, ShardNode& n) : sim_(sim), n_(n) {}
  void Append(const std::vector<Record>& records) override { sim_.ShardAppend(n_, records); }
  void Send(const std::vector<Message>& messages) override {
    for (const Message& m : messages) sim_.SendFrom(n_.id, m);
  }
  void Held(const std::vector<DeferredMessage>& waiting) override {
    if (sim_.o_.inject_bug != InjectedBug::kVoteBeforeDurable) return;
    for (const DeferredMessage& d : waiting) {
      if (d.message.type == MsgType::kVote && d.message.vote == Vote::kYes) {
        sim_.SendFrom(n_.id, d.message);
      }
    }
  }
  void Reply(const ClientReply& r) override { sim_.QueueReply(r); }

 private:
  Simulation& sim_;
  ShardNode& n_;
};

class Simulation::CoordEffects : public node::Effects {
 public:
  CoordEffects(Simulation& sim, CoordNode& c) : sim_(sim), c_(c) {}
  void Append(const std::vector<Record>& records) override { sim_.CoordAppend(c_, records); }
  void Send(const std::vector<Message>& messages) override { sim_.CoordSend(c_, messages); }
  void Held(const std::vector<DeferredMessage>& waiting) override {
    if (sim_.o_.inject_bug != InjectedBug::kCommitBeforeDurable) return;
    // The decision goes out before its record is durable: COMMIT in 2PC, PRE-COMMIT in 3PC.
    for (const DeferredMessage& d : waiting) {
      if (d.message.type == MsgType::kCommit || d.message.type == MsgType::kPreCommit) {
        sim_.SendFrom(kCoordBase + static_cast<int32_t>(c_.epoch), d.message);
      }
    }
  }
  void Reply(const ClientReply& r) override { sim_.QueueReply(r); }

 private:
  Simulation& sim_;
  CoordNode& c_;
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

void Simulation::StartShard(ShardNode& n, const std::vector<Record>& durable) {
  n.store.data = n.genesis;
  for (const Record& r : durable) {
    if (r.type == RecordType::kCommitted) n.store.Apply(r);
  }
  n.log.NewIncarnation();
  ParticipantOptions po;
  po.shard = n.id;
  po.idle_timeout_ticks = 400;
  po.in_doubt_first_ticks = 30;
  po.in_doubt_max_ticks = 240;
  po.termination_after_queries = 2;
  // Small, so that every run forgets finished transactions while duplicates and late messages
  // about them are still in flight.
  po.retain_finished = 16;
  n.core = std::make_unique<ParticipantCore>(po, &n.store, &rng_);
  n.core->Restore(durable, durable.size());
  n.effects = std::make_unique<ShardEffects>(*this, n);
  n.runner = std::make_unique<node::CoreRunner>(*n.core, *n.effects, durable.size());
  n.up = true;
  n.runner->Drain();
}

void Simulation::StartCoordinator(Epoch epoch, const std::vector<Record>& log) {
  CoordinatorOptions co;
  co.epoch = epoch;
  co.vote_timeout_ticks = 60;
  co.resend_first_ticks = 8;
  co.resend_max_ticks = 64;
  co.client_timeout_ticks = 200;
  co.pre_commit_timeout_ticks = 60;
  co.active_timeout_ticks = 1000;
  CoordNode& c = coords_[epoch];
  c.epoch = epoch;
  c.core = std::make_unique<CoordinatorCore>(co, &rng_);
  c.core->Restore(log, log.size());
  c.effects = std::make_unique<CoordEffects>(*this, c);
  c.runner = std::make_unique<node::CoreRunner>(*c.core, *c.effects, log.size());
  current_epoch_ = epoch;
  c.runner->Drain();
}

void Simulation::CrashShard(ShardNode& n) {
  trace_.Add(now_, "CRASH S" + std::to_string(n.id));
  ++result_.crashes;
  n.log.Crash();
  n.runner.reset();
  n.effects.reset();
  n.core.reset();
  n.up = false;
  n.restart_at = now_ + rng_.Range(20, 150);
  net_.DropAllTo(n.id);
}

void Simulation::CrashCoordinator(Epoch epoch, const char* why) {
  CoordNode* c = CoordFor(epoch);
  if (c == nullptr) return;
  trace_.Add(now_, std::string(why) + " coordinator e=" + std::to_string(epoch));
  decision_log_.CrashWriter(epoch);
  net_.DropAllTo(kCoordBase + static_cast<int32_t>(epoch));
  coords_.erase(epoch);
  if (epoch == current_epoch_) {
    ++result_.crashes;
    current_epoch_ = 0;
    coordinator_restart_at_ = now_ + rng_.Range(20, 150);
  }
}

void Simulation::Failover() {
  // A new coordinator with epoch + 1 takes over the durable decision log; the old one keeps
  // running for a while (a zombie) and must be fenced by the log and by the shards.
  const Epoch old_epoch = current_epoch_;
  const Epoch epoch = next_epoch_++;
  trace_.Add(now_, "FAILOVER to coordinator e=" + std::to_string(epoch));
  if (old_epoch != 0) {
    ++result_.failovers;
    coords_[old_epoch].dies_at = now_ + rng_.Range(20, 300);
  }
  StartCoordinator(epoch, decision_log_.FenceAndRead(epoch));
}

void Simulation::InjectFaults() {
  if (!faults_on_) return;
  if (o_.crashes) {
    for (ShardNode& n : shards_) {
      if (n.up && rng_.Chance(o_.crash_rate_ppm)) CrashShard(n);
    }
    if (current_epoch_ != 0 && rng_.Chance(o_.crash_rate_ppm)) {
      CrashCoordinator(current_epoch_, "CRASH");
    }
  }
  if (o_.failover && current_epoch_ != 0 && coords_.size() == 1 &&
      rng_.Chance(o_.crash_rate_ppm)) {
    Failover();
  }
}

// ---- moving outputs ---------------------------------------------------------------------

void Simulation::SendFrom(int32_t from, const Message& m) {
  int32_t to = -1;
  if (m.to.is_coordinator()) {
    // Requests go to the current coordinator (the cluster map); replies go back on the
    // connection they came from: to the incarnation of the message's epoch, if it still runs.
    if (m.type == MsgType::kStatus || m.type == MsgType::kLearnDecision) {
      if (current_epoch_ != 0) to = kCoordBase + static_cast<int32_t>(current_epoch_);
    } else if (CoordFor(m.epoch) != nullptr) {
      to = kCoordBase + static_cast<int32_t>(m.epoch);
    }
  } else {
    to = m.to.shard;
  }
  if (to < 0) return;
  net_.Send(now_, from, to, m);
}

void Simulation::ShardAppend(ShardNode& n, const std::vector<Record>& records) {
  if (stale_delivery_) {
    // Fencing (invariant 4): a deposed coordinator's message changes nothing.
    Violation("fencing: S" + std::to_string(n.id) + " appends a record on a stale message");
  }
  for (const Record& rec : records) {
    n.log.Append(rec);
    if (rec.type == RecordType::kCommitted) n.store.Apply(rec);
    if (trace_.verbose() || rec.type != RecordType::kEpochSeen) {
      trace_.Add(now_, "S" + std::to_string(n.id) + " append " + Describe(rec));
    }
  }
}

void Simulation::CoordAppend(CoordNode& c, const std::vector<Record>& records) {
  for (const Record& rec : records) {
    const bool ok = decision_log_.Append(c.epoch, rec);
    trace_.Add(now_, "C" + std::to_string(c.epoch) + (ok ? " append " : " append FENCED ") +
                         Describe(rec));
  }
}

void Simulation::CoordSend(CoordNode& c, const std::vector<Message>& messages) {
  const int32_t me = kCoordBase + static_cast<int32_t>(c.epoch);
  for (Message m : messages) {
    if (m.type == MsgType::kStatusReply) {
      if (o_.inject_bug == InjectedBug::kPresumeCommit && m.outcome == Outcome::kAborted) {
        m.outcome = Outcome::kCommitted;  // the injected bug: unknown treated as committed
      }
      // After END every participant holds a durable COMMITTED, so a late query answered by
      // presumed abort misleads no one; before that, ABORTED for a durable COMMIT is a change.
      if (m.outcome == Outcome::kAborted && durable_commits_.count(m.txn) &&
          !AllWritersCommitted(m.txn)) {
        Violation("decision-changed: coordinator e=" + std::to_string(c.epoch) +
                  " answers ABORTED for durably committed " + m.txn.ToString());
      }
    }
    SendFrom(me, m);
  }
}

void Simulation::Deliver(const Envelope& e) {
  if (e.to >= kCoordBase) {
    CoordNode* c = CoordFor(static_cast<Epoch>(e.to - kCoordBase));
    if (c == nullptr) return;
    if (trace_.verbose()) trace_.Add(now_, "deliver " + Describe(e.msg));
    c->runner->Step(e.msg);
    return;
  }
  ShardNode& n = shards_[static_cast<size_t>(e.to)];
  if (!n.up) return;
  trace_.Add(now_, "deliver " + Describe(e.msg));
  const bool stale = e.msg.from.is_coordinator() && e.msg.epoch < n.core->max_epoch();
  const uint64_t before = stale ? n.core->Digest() : 0;
  stale_delivery_ = stale;  // ShardAppend reports any record it makes
  n.runner->Step(e.msg);
  stale_delivery_ = false;
  if (stale && n.core->Digest() != before) {
    // Fencing (invariant 4): a deposed coordinator's message changes nothing.
    Violation("fencing: S" + std::to_string(n.id) + " changed state on stale " + Describe(e.msg));
  }
}

void Simulation::QueueReply(const ClientReply& r) {
  replies_.push_back({now_ + rng_.Range(1, 3), reply_order_++, r});
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
  CoordNode* coord = Current();
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
  c.coord_epoch = coord->epoch;
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
    c.txn = coord->core->Execute(req, c.protocol, std::move(copy));
    for (const auto& [s, list] : ops) c.touched.push_back(s);
  } else {
    c.txn = coord->core->Begin(c.protocol);
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
  coord->runner->Drain();
  if (!c.one_shot) NextStep(c);
}

void Simulation::NextStep(Client& c) {
  if (c.next_step < c.steps.size()) {
    auto& [shard, ops] = c.steps[c.next_step++];
    c.touched.push_back(shard);
    ShardNode& n = shards_[static_cast<size_t>(shard)];
    const uint64_t req = NewRequest(c);
    if (!n.up) return;  // connection refused: the client times out and aborts
    n.core->Execute(req, c.txn, c.txn.epoch, ops);
    n.runner->Drain();
    return;
  }
  CoordNode* coord = CoordFor(c.coord_epoch);
  if (coord == nullptr) coord = Current();
  const uint64_t req = NewRequest(c);
  c.waiting_commit = true;
  if (coord == nullptr) return;  // times out: UNKNOWN
  coord->core->Commit(req, c.txn, c.touched);
  coord->runner->Drain();
}

void Simulation::Finish(Client& c, Outcome outcome, const std::vector<OpResult>& reads) {
  TxnFacts& f = facts_[c.txn];
  f.told = outcome;
  f.told_any = true;
  trace_.Add(now_, "client " + std::to_string(c.index) + " told " + c.txn.ToString() + " " +
                       ToString(outcome));
  if (outcome == Outcome::kCommitted) ++result_.committed;
  if (outcome == Outcome::kAborted) ++result_.aborted;
  if (outcome == Outcome::kUnknown) ++result_.unknown;
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
    CoordNode* coord = CoordFor(c.coord_epoch);
    if (coord != nullptr) {
      coord->core->Abort(next_request_++, c.txn, c.touched);
      coord->runner->Drain();
    }
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
      CoordNode* coord = CoordFor(c.coord_epoch);
      if (coord != nullptr) {
        coord->core->Abort(next_request_++, c.txn, c.touched);
        coord->runner->Drain();
      }
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
  const auto& dlog = decision_log_.durable();
  for (; decision_durable_checked_ < dlog.size(); ++decision_durable_checked_) {
    const Record& r = dlog[decision_durable_checked_];
    if (r.type != RecordType::kCoordCommit) continue;
    durable_commits_.insert(r.txn);
    auto f = facts_.find(r.txn);
    if (f != facts_.end() && f->second.told == Outcome::kAborted) {
      Violation("decision-changed: COMMIT of " + r.txn.ToString() +
                " became durable after the client was told ABORTED");
    }
  }
  for (ShardNode& n : shards_) {
    const auto& log = n.log.durable();
    for (; n.durable_checked < log.size(); ++n.durable_checked) {
      const Record& r = log[n.durable_checked];
      if (r.type != RecordType::kCommitted && r.type != RecordType::kAborted) continue;
      const bool commit = r.type == RecordType::kCommitted;
      (commit ? committed_at_ : aborted_at_)[r.txn].insert(n.id);
      const auto& other = (commit ? aborted_at_ : committed_at_)[r.txn];
      if (other.count(n.id)) {
        Violation("decision-changed: S" + std::to_string(n.id) + " has both outcomes for " +
                  r.txn.ToString());
      } else if (!other.empty()) {
        Violation("atomicity: " + r.txn.ToString() + " committed at some shards and aborted at " +
                  "others (S" + std::to_string(n.id) + " " + (commit ? "committed" : "aborted") +
                  ")");
      }
      auto f = facts_.find(r.txn);
      if (f != facts_.end() && f->second.told_any) {
        if (commit && f->second.told == Outcome::kAborted) {
          Violation("atomicity: S" + std::to_string(n.id) + " committed " + r.txn.ToString() +
                    " after the client was told ABORTED");
        }
        if (!commit && f->second.told == Outcome::kCommitted && f->second.wrote.count(n.id)) {
          Violation("durability: S" + std::to_string(n.id) + " aborted " + r.txn.ToString() +
                    " after the client was told COMMITTED");
        }
      }
    }
  }
}

bool Simulation::Quiescent() const {
  for (const Client& c : clients_) {
    if (c.busy) return false;
  }
  for (const ShardNode& n : shards_) {
    if (!n.up || !n.core->InDoubt().empty() || n.core->locks_held() != 0) return false;
    if (n.log.not_durable() != 0) return false;
  }
  for (const auto& [e, c] : coords_) {
    if (c.core->live_transactions() != 0) return false;
  }
  return current_epoch_ != 0 && coords_.size() == 1 && decision_log_.not_durable() == 0 &&
         replies_.empty();
}

void Simulation::FinalChecks() {
  // Liveness: once faults healed, every transaction reached its outcome within the bound.
  for (const ShardNode& n : shards_) {
    for (const InDoubtTxn& t : n.core->InDoubt()) {
      Violation("liveness: S" + std::to_string(n.id) + " still in doubt about " +
                t.txn.ToString() + " (" + ToString(t.state) + ") after " +
                std::to_string(result_.settle_ticks) + " healed ticks");
      break;
    }
    if (n.core->locks_held() != 0) {
      Violation("liveness: S" + std::to_string(n.id) + " still holds " +
                std::to_string(n.core->locks_held()) + " locks after the faults healed");
    }
  }
  for (const Client& c : clients_) {
    if (c.busy) Violation("liveness: client " + std::to_string(c.index) + " never got an answer");
  }
  for (const auto& [e, c] : coords_) {
    if (c.core->live_transactions() != 0) {
      const LiveTxn first = c.core->LiveTransactions().front();
      Violation("liveness: coordinator e=" + std::to_string(e) + " still drives " +
                std::to_string(c.core->live_transactions()) + " transactions after " +
                std::to_string(result_.settle_ticks) + " healed ticks, e.g. " +
                first.txn.ToString() + " " + first.phase + " acked " +
                std::to_string(first.acked) + "/" + std::to_string(first.participants));
    }
  }
  if (!Quiescent()) {
    Violation("liveness: not quiescent " + std::to_string(result_.settle_ticks) +
              " ticks after the faults healed");
  }
  // Durability: every commit told to a client is durable at every shard it wrote.
  for (const auto& [txn, f] : facts_) {
    if (f.told != Outcome::kCommitted) continue;
    for (ShardId s : f.wrote) {
      if (!committed_at_[txn].count(s)) {
        Violation("durability: " + txn.ToString() + " was told COMMITTED but S" +
                  std::to_string(s) + " has no durable COMMITTED record");
        break;
      }
    }
  }
  // The bank: rebuilt from the durable logs alone, the total never changes and no balance is
  // negative.
  int64_t total = 0;
  for (const ShardNode& n : shards_) {
    SimStore durable;
    durable.data = n.genesis;
    for (const Record& r : n.log.durable()) {
      if (r.type == RecordType::kCommitted) durable.Apply(r);
    }
    for (const auto& [key, value] : durable.data) {
      const int64_t v = std::stoll(value);
      total += v;
      if (v < 0) Violation("isolation: " + key + " is negative (" + value + ")");
    }
    if (durable.data != n.store.data) {
      Violation("durability: S" + std::to_string(n.id) + " serves data its log does not hold");
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
  // Network partitions start and heal.
  std::vector<int32_t> nodes;
  for (const ShardNode& n : shards_) nodes.push_back(n.id);
  for (const auto& [e, c] : coords_) nodes.push_back(kCoordBase + static_cast<int32_t>(e));
  const NetworkEvent ev = net_.Tick(now_, nodes);
  if (ev == NetworkEvent::kPartitionStarted) {
    ++result_.partitions;
    trace_.Add(now_, "PARTITION " + net_.DescribePartition());
  } else if (ev == NetworkEvent::kPartitionHealed) {
    trace_.Add(now_, "PARTITION healed");
  }
  InjectFaults();
  // Restarts and zombie deaths.
  for (ShardNode& n : shards_) {
    if (!n.up && now_ >= n.restart_at) {
      trace_.Add(now_, "RESTART S" + std::to_string(n.id));
      StartShard(n, n.log.durable());
    }
  }
  if (current_epoch_ == 0 && now_ >= coordinator_restart_at_) Failover();
  std::vector<Epoch> dead;
  for (const auto& [e, c] : coords_) {
    if (now_ >= c.dies_at) dead.push_back(e);
  }
  for (Epoch e : dead) CrashCoordinator(e, "ZOMBIE-EXIT");
  // Messages.
  for (const Envelope& e : net_.DeliverDue(now_)) Deliver(e);
  // Disks.
  for (ShardNode& n : shards_) {
    if (!n.up) continue;
    if (auto lsn = n.log.Tick(now_, rng_)) {
      n.runner->OnDurable(*lsn);
    }
  }
  for (const WriterDurable& w : decision_log_.Tick(now_, rng_)) {
    CoordNode* c = CoordFor(w.writer);
    if (c == nullptr) continue;
    c->runner->OnDurable(w.lsn);
  }
  CheckDurableRecords();
  // Timers.
  for (ShardNode& n : shards_) {
    if (!n.up) continue;
    n.runner->Tick();
  }
  for (auto& [e, c] : coords_) {
    c.runner->Tick();
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
    auto it = request_client_.find(p.reply.request_id);
    if (it == request_client_.end()) continue;
    const int32_t client = it->second;
    request_client_.erase(it);
    OnReply(clients_[static_cast<size_t>(client)], p.reply);
  }
  for (Client& c : clients_) ClientTick(c);
}

SeedResult Simulation::Run() {
  shards_.resize(static_cast<size_t>(o_.shards));
  for (int32_t s = 0; s < o_.shards; ++s) {
    ShardNode& n = shards_[static_cast<size_t>(s)];
    n.id = s;
  }
  for (int32_t a = 0; a < accounts(); ++a) {
    shards_[static_cast<size_t>(ShardOf(a))].genesis[AccountKey(a)] =
        std::to_string(kInitialBalance);
  }
  for (ShardNode& n : shards_) StartShard(n, {});
  Failover();
  clients_.resize(static_cast<size_t>(o_.clients));
  for (int32_t i = 0; i < o_.clients; ++i) clients_[static_cast<size_t>(i)].index = i;

  while (now_ < o_.ticks) {
    TickAll();
    if (o_.stop_on_violation && !result_.violations.empty()) break;
  }
  // Heal: no more faults, everyone up, the zombie gone; the workload drains.
  trace_.Add(now_, "HEAL");
  faults_on_ = false;
  workload_on_ = false;
  net_.HealAll();
  const Ticks heal_start = now_;
  while (now_ - heal_start < kMaxSettleTicks) {
    TickAll();
    if ((now_ - heal_start) % 25 == 0 && Quiescent()) break;
  }
  result_.settle_ticks = now_ - heal_start;
  CheckDurableRecords();
  FinalChecks();
  result_.messages = net_.sent();
  for (const ShardNode& n : shards_) {
    result_.termination_rounds += n.core->stats().termination_rounds;
    result_.stale_rejected += n.core->stats().stale_rejected;
  }
  result_.trace_hash = trace_.hash();
  return result_;
}

}  // namespace

SeedResult RunSeed(const SimOptions& options, uint64_t seed) {
  Simulation sim(options, seed);
  return sim.Run();
}

}  // namespace txcoord::sim
