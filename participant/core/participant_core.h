// A shard's participant as a pure state machine (DESIGN.md sections 3-4).
//
// Concurrency control: strict two-phase locking per key with the no-wait policy (a conflicting
// request aborts its transaction at once), so no distributed deadlock can form. Shared locks for
// reads, exclusive for writes and reads "for update"; writes are buffered in the transaction and
// reach the store only through the COMMITTED record, which the driver applies atomically with
// the record itself. Locks are released once the outcome record is durable (or at once for an
// abort or a read-only vote).
//
// Votes: YES after the PREPARED record is durable; NO (with a reason) when an op failed, a lock
// conflicted or the transaction is unknown; READ-ONLY for a 2PC participant that only read
// interactively (its lock point has passed, so it releases and leaves). One-shot (early-prepare)
// and 3PC participants always vote YES or NO: a 3PC read-only voter that left could not answer
// a termination round, and a one-shot read at prepare time must keep its locks until the
// decision because other shards may not have taken theirs yet.
//
// Fencing: a message from a coordinator epoch older than the newest seen is refused with
// STALE-EPOCH and changes nothing. In-doubt transactions ask the coordinator with capped backoff
// and, under 3PC, run a termination round (recovery/core/termination.h) as proposer; a decision of
// that round is held, and told to the coordinator, until the coordinator answers (Txn::held).
#pragma once

#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "common/protocol.h"
#include "common/rng.h"
#include "common/wakeups.h"
#include "participant/core/lock_table.h"
#include "recovery/core/backoff.h"
#include "recovery/core/termination.h"

namespace txcoord {

// Read access to the shard's committed data (RocksDB in production, a map in the simulator).
class KvReader {
 public:
  virtual ~KvReader() = default;
  virtual std::optional<std::string> Get(const std::string& key) const = 0;
};

struct ParticipantOptions {
  ShardId shard = 0;
  Ticks idle_timeout_ticks = 400;    // an ACTIVE transaction idle this long is aborted here
  Ticks in_doubt_first_ticks = 30;   // first status query after voting YES
  Ticks in_doubt_max_ticks = 240;    // backoff cap for in-doubt queries and termination
  int termination_after_queries = 2; // 3PC: unanswered status queries before a termination round
  // Transactions in doubt that ask the coordinator at once, after a restore or when its group's
  // primary moved: the others ask in the ticks after, this many a tick. A backlog of 100,000
  // asked in one tick, and the new coordinator primary answered them in one turn.
  size_t queries_per_tick = 256;
  // Finished (COMMITTED or ABORTED) transactions, 2PC and 3PC, are remembered until this many
  // newer ones have finished, then forgotten: memory stays bounded under endless load. 0
  // remembers all. A held one (Txn::held) counts only once the coordinator has answered.
  size_t retain_finished = 100000;
  // The largest transaction id whose records were dropped from the log before this core started
  // (log truncation, or a state transfer's log start). A transaction at or below it that is not
  // known here may have finished here and been forgotten, whatever its protocol: it gets no
  // answer (silence is never wrong), never "unknown".
  TxnId truncated_max;
};

struct ParticipantStats {
  uint64_t stale_rejected = 0;
  uint64_t lock_conflicts = 0;
  uint64_t termination_rounds = 0;
  uint64_t conflicting_decisions = 0;  // a decision contrary to a final state arrived (ignored)
};

struct InDoubtTxn {
  TxnId txn;
  TxnState state;
  Ticks age_ticks;
  int queries;
};

class ParticipantCore : public ProtocolCore {
 public:
  ParticipantCore(ParticipantOptions options, const KvReader* store, Rng* rng);

  // Recovery: the durable records of earlier incarnations, each record's lsn its log position,
  // and log_end, the log's last position (all of it durable): this core's records continue the
  // log from log_end + 1. Call once, before any input.
  // PREPARED transactions get their write locks back and start asking for their outcome.
  void Restore(const std::vector<Record>& durable_log, Lsn log_end);

  // Interactive reads and writes of a client inside transaction `txn` (coordinator epoch).
  // The reply has ok=false and a reason when the transaction is aborted here.
  void Execute(uint64_t request_id, TxnId txn, Epoch epoch, std::vector<Op> ops);

  void Step(const Message& m) override;
  void Tick() override;
  void OnDurable(Lsn lsn) override;
  Ready TakeReady() override;
  // The coordinator group's new primary: every voted transaction in doubt asks it at the next
  // tick (the new primary resolves what it can at once), its backoff begun again.
  void OnPeerMoved(NodeRef group) override;

  // kForgotten for a transaction this shard may have known and no longer remembers (see
  // ParticipantOptions::retain_finished).
  TxnState StateOf(TxnId txn) const;
  // Whether txn is ACTIVE or voted and undecided here, or held (Txn::held): its log records are
  // still needed (a held one's outcome record says it is held, across a restart).
  bool IsLive(TxnId txn) const {
    if (live_.count(txn) != 0) return true;
    auto it = txns_.find(txn);
    return it != txns_.end() && it->second.held;
  }
  Epoch max_epoch() const { return max_epoch_; }
  size_t locks_held() const { return locks_.keys_locked(); }
  std::vector<InDoubtTxn> InDoubt() const;
  // How many transactions InDoubt() would list.
  size_t in_doubt() const;
  // ACTIVE or voted and undecided: the transactions this core still drives.
  size_t live_transactions() const { return live_.size(); }
  const ParticipantStats& stats() const { return stats_; }
  // A digest of the protocol state (states, ballots, locks, epoch): the simulator's fencing
  // check compares it before and after a stale message.
  uint64_t Digest() const;

 private:
  struct Txn {
    TxnId id;
    TxnState state = TxnState::kActive;
    Epoch epoch = 0;
    Protocol protocol = Protocol::kTwoPc;
    std::vector<ShardId> participants;
    std::map<std::string, std::optional<std::string>> writes;
    std::vector<OpResult> reads;  // one-shot: repeated in every YES vote until decided
    Ticks last_activity = 0;
    Ticks in_doubt_since = 0;
    Lsn record_lsn = 0;  // the newest record a reply about this txn must wait for
    Ballot promised = 0;
    Ballot accepted = 0;
    recovery::Backoff backoff{30, 240};
    Ticks next_action = 0;  // set only through SetNextAction (it registers the wakeup)
    Ticks wake_at = Wakeups::kNever;  // its registered wakeup while live, or while held
    // Final by this shard's own termination round, whose ballot its outcome record carries.
    // Such a transaction is held (never forgotten) and its outcome resent to the coordinator
    // (LEARN-DECISION) until the coordinator sends COMMIT or ABORT for it: a forgotten decider
    // could leave a peer that missed the decision in doubt for good, since the coordinator's own
    // termination round would need the decider's answer too.
    Ballot decided_by = 0;
    bool held = false;
    int queries = 0;
    std::unique_ptr<recovery::TerminationRound> round;
  };
  Txn& NewTxn(TxnId id, Epoch epoch);
  // Runs ops under locks; returns kNone on success or the abort reason.
  AbortReason RunOps(Txn& t, const std::vector<Op>& ops, std::vector<OpResult>& reads);
  void AbortHere(Txn& t, bool durable);
  // Applies COMMIT. With `ack`, answers that message (same sender, same epoch) once durable.
  void Commit(Txn& t, const Message* ack);
  void OnPrepare(const Message& m);
  void OnPreCommit(const Message& m);
  void OnDecision(const Message& m, bool commit);
  void OnStateQuery(const Message& m);
  void OnTermAccept(const Message& m);
  void StartInDoubt(Txn& t);
  void SetNextAction(Txn& t, Ticks at);
  // Every voted transaction asks the coordinator soon, options_.queries_per_tick a tick from the
  // next tick on (with restart_backoff, its backoff begun again).
  void AskAllSoon(bool restart_backoff);
  // t is final or gone: no longer live, no wakeup.
  void Unlive(Txn& t);
  // Tick's visit of one live transaction that is due; true when it went idle.
  bool OnTick(Txn& t);
  // A held transaction (Txn::held): its outcome to the coordinator, now and after a backoff.
  void TellCoordinator(Txn& t);
  // The coordinator answered about a held transaction: it may be forgotten like any other.
  void Release(Txn& t);
  void StartRound(Txn& t);
  void DriveRound(Txn& t);
  bool Fenced(const Message& m);
  Message Reply(const Message& to_msg, MsgType type) const;
  // A message this shard starts about t (to a peer or the coordinator), in t's epoch.
  Message About(const Txn& t, MsgType type, NodeRef to) const;
  Lsn Append(Record r);
  void SendAfter(Txn& t, Message m);
  void Send(Message m) { ready_.messages.push_back(std::move(m)); }
  Txn* Find(TxnId id);
  // A transaction not found that may have finished here and been forgotten (in memory, or with
  // its log records). Such a transaction is never started again by a PREPARE or a client's ops (a
  // late duplicate must not run its ops twice), and nothing is said about it but FORGOTTEN to its
  // coordinator (silence is never a wrong answer).
  bool Forgotten(TxnId id) const {
    return !txns_.count(id) && (id <= forgotten_max_ || id <= options_.truncated_max);
  }
  // Answers a query about a forgotten transaction: to the coordinator, FORGOTTEN; to a peer,
  // nothing.
  void TellForgotten(Message reply);
  // Marks t finished (it is final) and forgets the oldest finished ones beyond the retention.
  void Finished(const Txn& t);
  void ForgetOld();

  ParticipantOptions options_;
  const KvReader* store_;
  Rng* rng_;
  Ticks now_ = 0;
  Lsn next_lsn_ = 1;
  Lsn durable_lsn_ = 0;
  Epoch max_epoch_ = 0;
  uint64_t round_ = 0;
  std::map<TxnId, Txn> txns_;  // live ones and the outcomes of finished ones
  std::set<TxnId> live_;        // ACTIVE or voted: the only ones Tick() has work for
  Wakeups wakeups_;             // when each live one is due: its idle timeout or next query
  std::deque<TxnId> finished_;  // final ones in txns_, oldest first
  TxnId forgotten_max_;         // the largest id forgotten so far
  LockTable locks_;
  std::multimap<Lsn, TxnId> release_at_;  // locks released once the outcome record is durable
  DurabilityGate gate_;
  Ready ready_;
  ParticipantStats stats_;
};

}  // namespace txcoord
