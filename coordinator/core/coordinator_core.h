// The coordinator as a pure state machine (DESIGN.md sections 3-4, STYLE.md 1-3).
//
// Inputs: client requests (Begin, Commit, Abort, Execute, Status), Step(message), Tick() and
// OnDurable(lsn). Output: TakeReady(). No I/O, no clock, no threads: the production driver and
// the simulator feed it the same way.
//
// Protocol summary:
//  - 2PC, presumed abort: PREPARE to every participant; all YES (or READ-ONLY) -> append COMMIT,
//    and only once it is durable reply COMMITTED and send COMMIT (the messages wait in the
//    durability gate). Any NO, or no vote by the vote timeout -> ABORT with no record.
//    Read-only voters leave; all read-only -> committed with no record and no phase 2.
//  - One participant: one-phase commit, the participant decides; no coordinator record.
//  - 3PC: after all YES, append PRE-COMMIT; once durable send PRE-COMMIT (ballot 0 of the
//    termination protocol). A majority of acks chooses commit: reply COMMITTED, send COMMIT,
//    append COMMIT lazily. A preempted or stalled PRE-COMMIT round becomes a termination round
//    run by the coordinator itself (recovery/core/termination.h). An abort decided after the
//    PRE-COMMIT record is logged (COORD-ABORT) before ABORT goes out, so that a restore does not
//    run termination again; a decision learned from the participants' own round is adopted.
//  - Status queries from in-doubt participants: committed if decided, "not yet" while deciding,
//    aborted if unknown (presumed abort) -- never "aborted" and commit later.
//  - Every message carries this coordinator's epoch. A STALE-EPOCH reply deposes it.
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
#include "recovery/core/backoff.h"
#include "recovery/core/log_fold.h"
#include "recovery/core/termination.h"

namespace txcoord {

struct CoordinatorOptions {
  Epoch epoch = 1;
  Ticks vote_timeout_ticks = 60;        // undecided by then (no PRE-COMMIT sent): abort
  Ticks resend_first_ticks = 8;         // first resend delay of PREPARE / PRE-COMMIT / COMMIT
  Ticks resend_max_ticks = 64;          // cap of the resend backoff
  Ticks client_timeout_ticks = 200;     // a client still waiting then gets UNKNOWN (or the outcome)
  Ticks pre_commit_timeout_ticks = 60;  // no PRE-COMMIT majority by then: run termination
  Ticks active_timeout_ticks = 2000;    // a begun transaction never committed is forgotten
  int one_phase_query_attempts = 20;    // 1PC outcome queries before giving the txn up
  size_t remembered_outcomes = 100000;  // finished outcomes kept for client status queries
  // Restored transactions (Restore) driven at once: the rest wait in order and start as these
  // finish. A new primary with a backlog of 100,000 decisions sent them all in one turn, and each
  // shard primary took them in one turn too, past its lease.
  size_t restore_window = 1024;
  // The cluster's shard count: a status query about an earlier term's transaction this log
  // never decided asks every shard (0: not known, such a query stays UNKNOWN).
  int32_t shards = 0;
};

// One transaction the coordinator still drives, for operators and the simulator.
struct LiveTxn {
  TxnId txn;
  const char* phase;
  size_t participants;
  size_t acked;
};

struct CoordinatorStats {
  uint64_t committed = 0;
  uint64_t aborted = 0;
  uint64_t unknown_replies = 0;
  uint64_t termination_rounds = 0;
};

class CoordinatorCore : public ProtocolCore {
 public:
  // REQUIRES: options.epoch is larger than every epoch any earlier incarnation ran under.
  CoordinatorCore(CoordinatorOptions options, Rng* rng);

  // Recovery: the durable decision log of earlier incarnations, each record's lsn its log
  // position, and log_end, the log's last position (all of it durable): this core's records
  // continue the log from log_end + 1. Call once, before any input.
  // COMMIT without END: resend COMMIT until acked. PRE-COMMIT without COMMIT: run termination
  // (never "drive to commit": the participants may have chosen abort meanwhile). At most
  // options.restore_window of them at once; the others are answered as decided meanwhile.
  void Restore(const std::vector<Record>& durable_log, Lsn log_end);

  // Client requests. Replies come out of TakeReady() with the given request_id.
  TxnId Begin(Protocol protocol);
  // participants: every shard the client read or wrote. Empty -> committed at once.
  void Commit(uint64_t request_id, TxnId txn, std::vector<ShardId> participants);
  void Abort(uint64_t request_id, TxnId txn, std::vector<ShardId> participants);
  // One-shot transaction: begin + ops + commit. Reads come back in the reply.
  TxnId Execute(uint64_t request_id, Protocol protocol, std::map<ShardId, std::vector<Op>> ops);
  void Status(uint64_t request_id, TxnId txn);

  void Step(const Message& m) override;
  void Tick() override;
  void OnDurable(Lsn lsn) override;
  Ready TakeReady() override;
  // A shard group's new primary: every transaction waiting on a resend to it (PREPARE,
  // PRE-COMMIT, COMMIT, queries) resends at the next tick.
  void OnPeerMoved(NodeRef group) override;

  Epoch epoch() const { return options_.epoch; }
  bool deposed() const { return deposed_; }
  size_t live_transactions() const { return txns_.size(); }
  std::vector<LiveTxn> LiveTransactions() const;
  const CoordinatorStats& stats() const { return stats_; }
  // What this coordinator would answer a status query with, right now.
  Outcome KnownOutcome(TxnId txn) const;
  // The answer to a client about txn: live, remembered, never begun (kAborted with reason
  // kUnknownTxn), or honestly unknown.
  Outcome ClientOutcome(TxnId txn, AbortReason* reason) const;
  // Whether txn is begun and not yet asked to commit or abort (reads and writes may still join).
  bool IsActive(TxnId txn) const;
  // Whether this coordinator still drives txn (its log records are still needed).
  bool IsLive(TxnId txn) const { return txns_.count(txn) != 0; }

 private:
  enum class Phase {
    kActive,         // begun, the client has not asked to commit yet
    kPreparing,      // PREPAREs out, collecting votes
    kOnePhaseQuery,  // 1PC vote missing: asking the participant for the outcome
    kPreCommitting,  // 3PC: PRE-COMMIT record appended/durable, collecting acks
    kTerminating,    // 3PC: running a termination round as proposer
    kCommitting,     // decided COMMIT: sending COMMIT until every participant acked
    kResolving,      // a client asks about an earlier term's transaction absent from the log:
                     // asking every shard (see Status)
    kRestoredPreCommit,  // 3PC, restored from a PRE-COMMIT record: waits its turn to run
                         // termination (StartRestored); no input moves it before
  };

  struct Txn {
    TxnId id;
    Protocol protocol = Protocol::kTwoPc;
    Phase phase = Phase::kActive;
    std::vector<ShardId> participants;
    std::map<ShardId, std::vector<Op>> ops;  // one-shot only
    bool one_phase = false;
    std::map<ShardId, Vote> votes;
    std::map<ShardId, std::vector<OpResult>> reads;
    std::map<ShardId, bool> acked;  // PRE-COMMIT acks or COMMIT acks, per phase
    std::set<ShardId> forgotten;    // participants that answered FORGOTTEN (see OnForgotten)
    Lsn decision_lsn = 0;           // 2PC COMMIT / 3PC PRE-COMMIT record
    bool pre_commit_logged = false;  // a PRE-COMMIT record: an abort must be logged too
    bool decision_durable = false;
    // Deadlines, each set only through SetClientDeadline / SetPhaseDeadline / SetResend, which
    // register them in wakeups_ (Tick looks only at the transactions due).
    std::optional<uint64_t> client_request;
    Ticks client_deadline = 0;
    Ticks phase_deadline = 0;
    Ticks next_resend = 0;
    Ticks wake_at = Wakeups::kNever;  // its registered wakeup
    recovery::Backoff resend{8, 64};
    bool restored = false;  // restored, and started: counts in restoring_
    std::unique_ptr<recovery::TerminationRound> round;
    int one_phase_queries = 0;
  };

  // Starts waiting restored transactions while fewer than options_.restore_window run.
  void StartRestored();
  void StartPrepare(Txn& t);
  void SendPrepares(Txn& t);  // to every participant that has not voted
  void OnVote(Txn& t, const Message& m);
  void DecideAbort(Txn& t, AbortReason reason, const std::string& detail);
  void DecideCommit(Txn& t);  // 2PC
  void ChosenCommit(Txn& t);  // 3PC: commit is chosen at the participants
  void StartPreCommit(Txn& t);
  void StartTermination(Txn& t);
  void DriveRound(Txn& t);
  void SendToParticipants(Txn& t, MsgType type, bool only_unacked);
  // A participant answered FORGOTTEN (participant_core.h): a resolving status is UNKNOWN; a
  // termination ends once every participant did.
  void OnForgotten(Txn& t, ShardId shard);
  // Resolving an earlier term's transaction: once every shard answered (none said COMMITTED),
  // ABORTED, or UNKNOWN when one had forgotten it.
  void ResolveIfAnswered(Txn& t);
  void ReplyClient(Txn& t, Outcome outcome, AbortReason reason, const std::string& detail);
  void HoldReplyClient(Txn& t, Lsn after);
  // Forgets t (the caller must not touch it afterwards), remembering a known outcome.
  void Finish(Txn& t, Outcome outcome, AbortReason reason = AbortReason::kNone);
  // kResolving: the state query (abort if unprepared) to every shard that has not answered.
  void SendResolveQueries(Txn& t);
  // Keeps a decided outcome for clients asking later, in a bounded window.
  void Remember(TxnId txn, Outcome outcome, AbortReason reason);
  void OnTick(Txn& t);
  void Depose();
  void ArmResend(Txn& t);  // the next resend, after the backoff's next delay
  void SetResend(Txn& t, Ticks at);
  void SetPhaseDeadline(Txn& t, Ticks at);
  void SetClientDeadline(Txn& t, Ticks at);
  // After OnTick: registers the deadlines t still has ahead of now.
  void Rearm(Txn& t);
  Message To(ShardId shard, MsgType type, const Txn& t) const;
  Lsn Append(Record r);
  void Send(Message m) { ready_.messages.push_back(std::move(m)); }

  static constexpr int kRoundsPerEpochBits = 24;

  CoordinatorOptions options_;
  Rng* rng_;
  Ticks now_ = 0;
  uint64_t next_seq_ = 1;
  Lsn next_lsn_ = 1;
  Lsn durable_lsn_ = 0;
  uint64_t round_ = 0;
  bool deposed_ = false;
  std::map<TxnId, Txn> txns_;
  Wakeups wakeups_;  // when each transaction in txns_ has a deadline
  std::deque<TxnId> to_restore_;  // restored, not started yet (StartRestored), in log order
  size_t restoring_ = 0;          // restored and started, not finished
  // Decision records (Txn::decision_lsn) not yet durable: OnDurable looks only at these.
  std::multimap<Lsn, TxnId> undurable_;
  struct Remembered {
    Outcome outcome;
    AbortReason reason;
  };
  std::map<TxnId, Remembered> recent_;  // finished transactions, for clients asking later
  // Status queries resolving an earlier term's transaction by asking every shard: a client asking
  // about made-up ids must not make the coordinator flood the shards, so past this many at once a
  // status query is answered UNKNOWN at once (ask again later).
  static constexpr size_t kMaxResolving = 1024;
  size_t resolving_ = 0;
  std::deque<TxnId> recent_order_;
  DurabilityGate gate_;
  Ready ready_;
  CoordinatorStats stats_;
};

}  // namespace txcoord
