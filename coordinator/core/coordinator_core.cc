#include "coordinator/core/coordinator_core.h"

#include <set>

#include <algorithm>

#include "common/check.h"

namespace txcoord {

CoordinatorCore::CoordinatorCore(CoordinatorOptions options, Rng* rng)
    : options_(options), rng_(rng) {
  TXC_CHECK(options_.epoch > 0 && options_.epoch < (1ull << 24));
  TXC_CHECK(rng_ != nullptr);
  // Every coordinator proposes as kCoordinatorProposer, so each epoch gets its own range of
  // rounds, above every earlier epoch's: no two incarnations can ever share a ballot.
  round_ = options_.epoch << kRoundsPerEpochBits;
}

void CoordinatorCore::Restore(const std::vector<Record>& durable_log, Lsn log_end) {
  TXC_CHECK(txns_.empty() && next_lsn_ == 1);
  for (const Record& r : durable_log) {
    TXC_CHECK_MSG(r.lsn <= log_end, "a restored record lies past the end of the log");
  }
  // One numbering with the log: this incarnation's records continue it, and all of it is durable.
  next_lsn_ = log_end + 1;
  durable_lsn_ = log_end;
  // END is written only after a commit every participant applied: a finished, committed
  // transaction (also when truncation took its COMMIT record).
  for (const Record& r : durable_log) {
    if (r.type == RecordType::kCoordEnd) Remember(r.txn, Outcome::kCommitted, AbortReason::kNone);
    if (r.type == RecordType::kCoordAbort) {
      Remember(r.txn, Outcome::kAborted, AbortReason::kTermination);
    }
  }
  for (auto& [id, log] : recovery::FoldCoordinatorLog(durable_log)) {
    TXC_CHECK_MSG(id.epoch < options_.epoch, "log holds a transaction of this or a newer epoch");
    Txn& t = txns_[id];
    t.id = id;
    t.protocol = log.protocol;
    t.participants = log.participants;
    t.resend = recovery::Backoff(options_.resend_first_ticks, options_.resend_max_ticks);
    t.next_resend = Wakeups::kNever;  // until started
    t.pre_commit_logged = log.pre_commit;
    if (log.commit) {
      // Decided: the record is durable, so COMMIT may go out as soon as it starts, and a status
      // query is answered COMMITTED meanwhile.
      t.phase = Phase::kCommitting;
      t.decision_durable = true;
    } else {
      TXC_CHECK(log.pre_commit);
      t.phase = Phase::kRestoredPreCommit;  // undecided: a status query is told "not yet"
    }
    to_restore_.push_back(id);
  }
  StartRestored();
}

void CoordinatorCore::StartRestored() {
  TXC_CHECK(options_.restore_window > 0);
  while (restoring_ < options_.restore_window && !to_restore_.empty()) {
    auto it = txns_.find(to_restore_.front());
    to_restore_.pop_front();
    // Finished before its turn: every participant acked a COMMIT the previous primary sent.
    if (it == txns_.end()) continue;
    Txn& t = it->second;
    t.restored = true;
    ++restoring_;
    if (t.phase == Phase::kCommitting) {
      SendToParticipants(t, MsgType::kCommit, false);
      ArmResend(t);
    } else {
      TXC_CHECK(t.phase == Phase::kRestoredPreCommit);
      StartTermination(t);
    }
  }
}

TxnId CoordinatorCore::Begin(Protocol protocol) {
  const TxnId id{options_.epoch, next_seq_++};
  Txn& t = txns_[id];
  t.id = id;
  t.protocol = protocol;
  t.phase = Phase::kActive;
  SetPhaseDeadline(t, now_ + options_.active_timeout_ticks);
  t.resend = recovery::Backoff(options_.resend_first_ticks, options_.resend_max_ticks);
  return id;
}

void CoordinatorCore::Commit(uint64_t request_id, TxnId txn, std::vector<ShardId> participants) {
  auto it = txns_.find(txn);
  ClientReply r{.request_id = request_id, .txn = txn};
  if (it == txns_.end()) {
    // Not live here: answer what is remembered; never start a decision for it.
    r.outcome = ClientOutcome(txn, &r.reason);
    r.ok = r.outcome == Outcome::kCommitted;
    r.detail = "transaction is not active at this coordinator";
    ready_.replies.push_back(std::move(r));
    return;
  }
  Txn& t = it->second;
  if (deposed_ && t.phase == Phase::kActive) {
    r.outcome = Outcome::kAborted;
    r.reason = AbortReason::kStaleEpoch;
    r.ok = false;
    r.detail = "coordinator epoch superseded";
    ready_.replies.push_back(std::move(r));
    ++stats_.aborted;
    Finish(t, Outcome::kAborted, AbortReason::kStaleEpoch);
    return;
  }
  if (t.phase != Phase::kActive || t.client_request) {
    // A duplicate commit: answer what is known, never start a second decision.
    r.outcome = t.phase == Phase::kCommitting && t.decision_durable ? Outcome::kCommitted
                                                                    : Outcome::kUnknown;
    r.ok = false;
    r.detail = "commit already in progress";
    ready_.replies.push_back(std::move(r));
    return;
  }
  std::sort(participants.begin(), participants.end());
  participants.erase(std::unique(participants.begin(), participants.end()), participants.end());
  t.participants = std::move(participants);
  t.client_request = request_id;
  SetClientDeadline(t, now_ + options_.client_timeout_ticks);
  if (t.participants.empty()) {
    ReplyClient(t, Outcome::kCommitted, AbortReason::kNone, "no participants");
    Finish(t, Outcome::kCommitted);
    return;
  }
  StartPrepare(t);
}

void CoordinatorCore::Abort(uint64_t request_id, TxnId txn, std::vector<ShardId> participants) {
  ClientReply r{.request_id = request_id,
                .txn = txn,
                .outcome = Outcome::kAborted,
                .reason = AbortReason::kClientAbort};
  auto it = txns_.find(txn);
  if (it != txns_.end() && it->second.phase != Phase::kActive) {
    r.outcome = KnownOutcome(txn);
    r.ok = false;
    r.detail = "commit already in progress";
    ready_.replies.push_back(std::move(r));
    return;
  }
  if (it != txns_.end()) {
    it->second.participants = std::move(participants);
    SendToParticipants(it->second, MsgType::kAbort, false);
    Finish(it->second, Outcome::kAborted, AbortReason::kClientAbort);
    ++stats_.aborted;
    ready_.replies.push_back(std::move(r));
    return;
  }
  // Finished or unknown here: answer what is known, never "aborted" for what may have committed.
  AbortReason known_reason = AbortReason::kNone;
  r.outcome = ClientOutcome(txn, &known_reason);
  if (r.outcome == Outcome::kAborted) {
    r.reason = known_reason;
  } else {
    r.reason = AbortReason::kNone;
    r.ok = false;
    r.detail = r.outcome == Outcome::kCommitted ? "already committed"
                                                : "not known here: it may have committed";
  }
  ready_.replies.push_back(std::move(r));
}

TxnId CoordinatorCore::Execute(uint64_t request_id, Protocol protocol,
                               std::map<ShardId, std::vector<Op>> ops) {
  const TxnId id = Begin(protocol);
  Txn& t = txns_[id];
  std::vector<ShardId> shards;
  for (const auto& [shard, list] : ops) shards.push_back(shard);
  t.ops = std::move(ops);
  Commit(request_id, id, std::move(shards));
  return id;
}

void CoordinatorCore::Status(uint64_t request_id, TxnId txn) {
  ClientReply r{.request_id = request_id, .txn = txn};
  r.outcome = ClientOutcome(txn, &r.reason);
  if (r.outcome == Outcome::kUnknown && txns_.count(txn) == 0 && txn.epoch < options_.epoch &&
      options_.shards > 0 && resolving_ < kMaxResolving) {
    // An earlier term's transaction that this log never decided (its client's reply was lost in
    // a failover). Absent from the group's log, it has no durable COMMIT or PRE-COMMIT, so no
    // shard can commit it -- unless it was a one-phase transaction, which its one shard decides
    // alone. Ask every shard for its state under this term's epoch: a shard answers only once
    // it has durably seen this epoch, and refuses the earlier term's PREPAREs from then on, so
    // an answer other than COMMITTED can no longer become COMMITTED (a PREPARED one is resolved
    // by asking this coordinator, which presumes abort). Committed if a shard says so; aborted
    // once every shard answered otherwise. Shards that never saw it record nothing about it.
    Txn& t = txns_[txn];
    t.id = txn;
    t.phase = Phase::kResolving;
    ++resolving_;
    for (ShardId s = 0; s < options_.shards; ++s) t.participants.push_back(s);
    t.client_request = request_id;
    // The client waits for the shards' answers as long as for a commit (without a deadline of
    // its own it was told UNKNOWN at the next tick, before most answers could arrive).
    SetClientDeadline(t, now_ + options_.client_timeout_ticks);
    t.resend = recovery::Backoff(options_.resend_first_ticks, options_.resend_max_ticks);
    SendResolveQueries(t);
    ArmResend(t);
    return;
  }
  ready_.replies.push_back(std::move(r));
}

void CoordinatorCore::SendResolveQueries(Txn& t) {
  for (ShardId s : t.participants) {
    if (t.acked.count(s)) continue;
    Send(To(s, MsgType::kStateQuery, t));
  }
}

Outcome CoordinatorCore::KnownOutcome(TxnId txn) const {
  auto it = txns_.find(txn);
  if (it == txns_.end()) {
    auto recent = recent_.find(txn);
    if (recent != recent_.end()) return recent->second.outcome;
    // Presumed abort -- but a newer epoch's transaction is not ours to presume anything about.
    return txn.epoch > options_.epoch ? Outcome::kUnknown : Outcome::kAborted;
  }
  const Txn& t = it->second;
  return t.phase == Phase::kCommitting && t.decision_durable ? Outcome::kCommitted
                                                             : Outcome::kUnknown;
}

Message CoordinatorCore::To(ShardId shard, MsgType type, const Txn& t) const {
  Message m;
  m.type = type;
  m.from = NodeRef::Coordinator();
  m.to = NodeRef::Shard(shard);
  m.txn = t.id;
  m.epoch = options_.epoch;
  m.protocol = t.protocol;
  return m;
}

Lsn CoordinatorCore::Append(Record r) {
  r.lsn = next_lsn_++;
  r.epoch = options_.epoch;
  ready_.records.push_back(std::move(r));
  return next_lsn_ - 1;
}

void CoordinatorCore::OnPeerMoved(NodeRef group) {
  if (group.is_coordinator()) return;
  for (auto& [id, t] : txns_) {
    // Not armed yet (its record is not durable) or nothing to resend: left as it is.
    if (t.phase == Phase::kActive || t.next_resend == Wakeups::kNever) continue;
    if (std::find(t.participants.begin(), t.participants.end(), group.shard) ==
        t.participants.end()) {
      continue;
    }
    t.resend = recovery::Backoff(options_.resend_first_ticks, options_.resend_max_ticks);
    SetResend(t, now_);
  }
}

void CoordinatorCore::ArmResend(Txn& t) { SetResend(t, now_ + t.resend.NextDelay(*rng_)); }

void CoordinatorCore::SetResend(Txn& t, Ticks at) {
  t.next_resend = at;
  wakeups_.At(t.id, at, t.wake_at);
}

void CoordinatorCore::SetPhaseDeadline(Txn& t, Ticks at) {
  t.phase_deadline = at;
  wakeups_.At(t.id, at, t.wake_at);
}

void CoordinatorCore::SetClientDeadline(Txn& t, Ticks at) {
  t.client_deadline = at;
  wakeups_.At(t.id, at, t.wake_at);
}

void CoordinatorCore::Rearm(Txn& t) {
  // A deadline already passed was acted on (or waits for an input that sets it again).
  for (Ticks at : {t.client_request ? t.client_deadline : Wakeups::kNever, t.phase_deadline,
                   t.next_resend}) {
    if (at > now_) wakeups_.At(t.id, at, t.wake_at);
  }
}

void CoordinatorCore::StartPrepare(Txn& t) {
  t.phase = Phase::kPreparing;
  t.one_phase = t.participants.size() == 1;
  SetPhaseDeadline(t, now_ + options_.vote_timeout_ticks);
  t.resend.Reset();
  SendPrepares(t);
  ArmResend(t);
}

void CoordinatorCore::SendPrepares(Txn& t) {
  for (ShardId s : t.participants) {
    if (t.votes.count(s)) continue;
    Message m = To(s, MsgType::kPrepare, t);
    m.participants = t.participants;
    m.one_phase = t.one_phase;
    auto ops = t.ops.find(s);
    if (ops != t.ops.end()) m.ops = ops->second;
    Send(std::move(m));
  }
}

void CoordinatorCore::SendToParticipants(Txn& t, MsgType type, bool only_unacked) {
  for (ShardId s : t.participants) {
    if (only_unacked && t.acked.count(s)) continue;
    auto vote = t.votes.find(s);
    // Read-only and NO voters left the transaction; they get no phase-2 message.
    if (vote != t.votes.end() && (vote->second == Vote::kReadOnly || vote->second == Vote::kNo)) {
      continue;
    }
    Message m = To(s, type, t);
    if (type == MsgType::kPreCommit) m.commit = true;
    Send(std::move(m));
  }
}

void CoordinatorCore::ReplyClient(Txn& t, Outcome outcome, AbortReason reason,
                                  const std::string& detail) {
  if (!t.client_request) return;
  ClientReply r{.request_id = *t.client_request,
                .txn = t.id,
                .outcome = outcome,
                .reason = reason,
                .ok = outcome == Outcome::kCommitted,
                .detail = detail};
  for (const auto& [shard, reads] : t.reads) {
    r.reads.insert(r.reads.end(), reads.begin(), reads.end());
  }
  if (outcome == Outcome::kUnknown) ++stats_.unknown_replies;
  ready_.replies.push_back(std::move(r));
  t.client_request.reset();
}

void CoordinatorCore::HoldReplyClient(Txn& t, Lsn after) {
  if (!t.client_request) return;
  ClientReply r{.request_id = *t.client_request, .txn = t.id, .outcome = Outcome::kCommitted};
  for (const auto& [shard, reads] : t.reads) {
    r.reads.insert(r.reads.end(), reads.begin(), reads.end());
  }
  gate_.HoldReply(after, std::move(r), ready_);
  t.client_request.reset();
}

void CoordinatorCore::Remember(TxnId txn, Outcome outcome, AbortReason reason) {
  if (outcome == Outcome::kUnknown || options_.remembered_outcomes == 0) return;
  // Remember the outcome for clients asking later (a bounded window, oldest forgotten first).
  if (recent_.emplace(txn, Remembered{outcome, reason}).second) recent_order_.push_back(txn);
  while (recent_order_.size() > options_.remembered_outcomes) {
    recent_.erase(recent_order_.front());
    recent_order_.pop_front();
  }
}

void CoordinatorCore::Finish(Txn& t, Outcome outcome, AbortReason reason) {
  if (t.phase == Phase::kResolving) --resolving_;
  const bool restored = t.restored;
  Remember(t.id, outcome, reason);
  wakeups_.Cancel(t.id, t.wake_at);
  txns_.erase(t.id);
  if (restored) {
    --restoring_;
    StartRestored();
  }
}

bool CoordinatorCore::IsActive(TxnId txn) const {
  auto it = txns_.find(txn);
  return it != txns_.end() && it->second.phase == Phase::kActive && !it->second.client_request &&
         !deposed_;
}

Outcome CoordinatorCore::ClientOutcome(TxnId txn, AbortReason* reason) const {
  *reason = AbortReason::kNone;
  if (txns_.count(txn)) return KnownOutcome(txn);
  auto it = recent_.find(txn);
  if (it != recent_.end()) {
    *reason = it->second.reason;
    return it->second.outcome;
  }
  if (txn.epoch == options_.epoch && txn.seq >= next_seq_) {
    *reason = AbortReason::kUnknownTxn;  // never begun: nothing can commit it
    return Outcome::kAborted;
  }
  // Decided and forgotten here (truncated from the log, or out of the remembered window), or an
  // earlier term's that this log never decided: not ours to guess. Absence from a whole log does
  // not mean aborted: a one-phase transaction is decided by its one shard, without a record here
  // (txsim found the guess wrong); the shards know (Participant.states).
  return Outcome::kUnknown;
}

void CoordinatorCore::DecideAbort(Txn& t, AbortReason reason, const std::string& detail) {
  if (t.pre_commit_logged) {
    // 3PC after a PRE-COMMIT record: without a record of the abort, a restore would run
    // termination again, and could never end it once the participants that were told had
    // forgotten the transaction (txsim found a shard in doubt for good). ABORT waits for it.
    const Lsn lsn = Append({.type = RecordType::kCoordAbort,
                            .txn = t.id,
                            .protocol = t.protocol,
                            .participants = t.participants});
    for (ShardId s : t.participants) gate_.HoldMessage(lsn, To(s, MsgType::kAbort, t), ready_);
  } else {
    // Presumed abort: no record. Tell every participant that may hold locks or a PREPARED
    // record; one that misses this asks later and is told "aborted" because nothing is known.
    SendToParticipants(t, MsgType::kAbort, false);
  }
  ReplyClient(t, Outcome::kAborted, reason, detail);
  ++stats_.aborted;
  Finish(t, Outcome::kAborted, reason);
}

void CoordinatorCore::DecideCommit(Txn& t) {
  Record r{.type = RecordType::kCoordCommit,
           .txn = t.id,
           .protocol = t.protocol,
           .participants = t.participants};
  t.decision_lsn = Append(std::move(r));
  undurable_.emplace(t.decision_lsn, t.id);
  t.phase = Phase::kCommitting;
  t.acked.clear();
  // Persist before send: COMMIT and the client's COMMITTED wait for the record.
  for (ShardId s : t.participants) {
    if (t.votes[s] != Vote::kYes) continue;
    gate_.HoldMessage(t.decision_lsn, To(s, MsgType::kCommit, t), ready_);
  }
  HoldReplyClient(t, t.decision_lsn);
  t.resend.Reset();
  SetResend(t, Wakeups::kNever);  // armed once the record is durable
  ++stats_.committed;
}

void CoordinatorCore::StartPreCommit(Txn& t) {
  Record r{.type = RecordType::kCoordPreCommit,
           .txn = t.id,
           .protocol = t.protocol,
           .participants = t.participants};
  t.decision_lsn = Append(std::move(r));
  undurable_.emplace(t.decision_lsn, t.id);
  t.pre_commit_logged = true;
  t.phase = Phase::kPreCommitting;
  t.acked.clear();
  for (ShardId s : t.participants) {
    Message m = To(s, MsgType::kPreCommit, t);
    m.commit = true;
    gate_.HoldMessage(t.decision_lsn, std::move(m), ready_);
  }
  t.resend.Reset();
  SetResend(t, Wakeups::kNever);
  SetPhaseDeadline(t, Wakeups::kNever);
}

void CoordinatorCore::ChosenCommit(Txn& t) {
  const bool first = t.phase != Phase::kCommitting;
  t.phase = Phase::kCommitting;
  t.decision_durable = true;  // chosen by a majority of durable PRE-COMMITs
  t.acked.clear();
  t.round.reset();
  if (first) {
    Append({.type = RecordType::kCoordCommit,
            .txn = t.id,
            .protocol = t.protocol,
            .participants = t.participants});
    ++stats_.committed;
  }
  SendToParticipants(t, MsgType::kCommit, false);
  ReplyClient(t, Outcome::kCommitted, AbortReason::kNone, "");
  t.resend.Reset();
  ArmResend(t);
}

void CoordinatorCore::OnVote(Txn& t, const Message& m) {
  const ShardId s = m.from.shard;
  if (std::find(t.participants.begin(), t.participants.end(), s) == t.participants.end()) return;
  if (t.votes.count(s)) return;  // duplicate
  t.votes[s] = m.vote;
  if (!m.reads.empty()) t.reads[s] = m.reads;
  if (t.one_phase) {
    if (m.outcome == Outcome::kCommitted) {
      ReplyClient(t, Outcome::kCommitted, AbortReason::kNone, "");
      ++stats_.committed;
    } else {
      ReplyClient(t, Outcome::kAborted,
                  m.reason == AbortReason::kNone ? AbortReason::kVoteNo : m.reason, "");
      ++stats_.aborted;
    }
    Finish(t, m.outcome == Outcome::kCommitted ? Outcome::kCommitted : Outcome::kAborted);
    return;
  }
  if (m.vote == Vote::kNo) {
    return DecideAbort(t, m.reason == AbortReason::kNone ? AbortReason::kVoteNo : m.reason,
                       "shard " + std::to_string(s) + " voted no");
  }
  if (t.votes.size() < t.participants.size()) return;
  bool any_yes = false;
  for (const auto& [shard, v] : t.votes) any_yes |= v == Vote::kYes;
  if (!any_yes) {
    // Every participant was read-only: committed, nothing to log and no phase 2.
    ReplyClient(t, Outcome::kCommitted, AbortReason::kNone, "read-only");
    ++stats_.committed;
    Finish(t, Outcome::kCommitted);
    return;
  }
  if (t.protocol == Protocol::kTwoPc) {
    DecideCommit(t);
  } else {
    StartPreCommit(t);
  }
}

void CoordinatorCore::StartTermination(Txn& t) {
  t.phase = Phase::kTerminating;
  const uint64_t floor = t.round ? BallotRound(t.round->highest_promise_seen()) : 0;
  round_ = std::max(round_, floor) + 1;
  t.round = std::make_unique<recovery::TerminationRound>(MakeBallot(round_, kCoordinatorProposer),
                                                         t.participants);
  ++stats_.termination_rounds;
  for (ShardId s : t.participants) {
    Message m = To(s, MsgType::kStateQuery, t);
    m.ballot = t.round->ballot();
    m.abort_if_unprepared = true;
    Send(std::move(m));
  }
  SetPhaseDeadline(t, now_ + options_.pre_commit_timeout_ticks);
  ArmResend(t);
}

void CoordinatorCore::OnForgotten(Txn& t, ShardId shard) {
  // The shard finished the transaction long ago and forgot its outcome (its records were
  // truncated): it holds nothing of it. Its answer says nothing about the outcome.
  if (t.phase == Phase::kResolving) {
    // That shard may have committed it (a one-phase transaction): another may still say so.
    t.forgotten.insert(shard);
    t.acked[shard] = true;
    return ResolveIfAnswered(t);
  }
  if (t.phase != Phase::kTerminating) return;
  t.forgotten.insert(shard);
  if (t.forgotten.size() < t.participants.size()) return;
  // Every participant finished it (a termination among them decided): nobody waits for this
  // coordinator any more. Forgotten here too, with the outcome unknown (a client is told so).
  // No END: END means committed (Restore); after a restart the next term asks again, and is
  // told the same.
  ReplyClient(t, Outcome::kUnknown, AbortReason::kNone,
              "every participant finished the transaction and forgot its outcome");
  Finish(t, Outcome::kUnknown);
}

void CoordinatorCore::ResolveIfAnswered(Txn& t) {
  if (t.acked.size() < t.participants.size()) return;
  if (!t.forgotten.empty()) {
    // A shard that forgot it may have committed it: not guessed.
    ReplyClient(t, Outcome::kUnknown, AbortReason::kNone,
                "a shard finished the transaction and no longer knows its outcome");
    Finish(t, Outcome::kUnknown);
    return;
  }
  // Nothing to tell the shards: one that holds it prepared asks, and is told aborted.
  ReplyClient(t, Outcome::kAborted, AbortReason::kStaleEpoch,
              "never decided in its coordinator's term, and no shard committed it");
  Finish(t, Outcome::kAborted, AbortReason::kStaleEpoch);
}

void CoordinatorCore::DriveRound(Txn& t) {
  using Step = recovery::TerminationRound::Step;
  switch (t.round->step()) {
    case Step::kCollecting:
    case Step::kAccepting:
    case Step::kPreempted:  // Ticks retries with a higher ballot after the backoff
      return;
    case Step::kProposing:
      for (ShardId s : t.participants) {
        Message m = To(s, MsgType::kTermAccept, t);
        m.ballot = t.round->ballot();
        m.commit = t.round->propose_commit();
        Send(std::move(m));
      }
      t.round->ProposalSent();
      return;
    case Step::kDecided:
      if (t.round->outcome() == Outcome::kCommitted) return ChosenCommit(t);
      return DecideAbort(t, AbortReason::kTermination, "termination chose abort");
  }
}

void CoordinatorCore::Step(const Message& m) {
  if (m.type == MsgType::kStaleEpoch) {
    if (m.current_epoch > options_.epoch && !deposed_) Depose();
    return;
  }
  if (m.type == MsgType::kStatus) {
    Message r;
    r.type = MsgType::kStatusReply;
    r.from = NodeRef::Coordinator();
    r.to = m.from;
    r.txn = m.txn;
    r.epoch = options_.epoch;
    r.outcome = KnownOutcome(m.txn);
    auto it = txns_.find(m.txn);
    if (it != txns_.end() && it->second.phase == Phase::kCommitting &&
        !it->second.decision_durable) {
      // Decided but not yet durable: the answer is COMMITTED, released with the record.
      r.outcome = Outcome::kCommitted;
      gate_.HoldMessage(it->second.decision_lsn, std::move(r), ready_);
    } else {
      Send(std::move(r));
    }
    return;
  }
  auto it = txns_.find(m.txn);
  if (it == txns_.end()) {
    if (m.type == MsgType::kLearnDecision && m.txn.epoch <= options_.epoch) {
      // A shard holds what its termination round decided until told the outcome this log has
      // (participant_core.h). Finished here: committed, or aborted (remembered or presumed; a
      // COMMITTED one is forgotten here only after every participant acknowledged it).
      const bool committed = KnownOutcome(m.txn) == Outcome::kCommitted;
      Message r;
      r.type = committed ? MsgType::kCommit : MsgType::kAbort;
      r.from = NodeRef::Coordinator();
      r.to = m.from;
      r.txn = m.txn;
      r.epoch = options_.epoch;
      r.protocol = m.protocol;
      Send(std::move(r));
      return;
    }
    // A vote for a transaction already aborted and forgotten: tell the shard (presumed abort).
    if (m.type == MsgType::kVote && m.vote == Vote::kYes && !m.one_phase) {
      Message r;
      r.type = MsgType::kAbort;
      r.from = NodeRef::Coordinator();
      r.to = m.from;
      r.txn = m.txn;
      r.epoch = options_.epoch;
      if (m.txn.epoch <= options_.epoch) Send(std::move(r));
    }
    return;
  }
  Txn& t = it->second;
  switch (m.type) {
    case MsgType::kVote:
      if (t.phase == Phase::kPreparing) OnVote(t, m);
      return;
    case MsgType::kPreCommitAck:
      if (t.phase != Phase::kPreCommitting) return;
      if (m.state == TxnState::kCommitted) return ChosenCommit(t);
      if (m.state == TxnState::kAborted) {
        return DecideAbort(t, AbortReason::kTermination, "participant aborted by termination");
      }
      if (!m.ok) {
        // A termination leader holds a higher ballot: ballot 0 cannot win any more.
        return StartTermination(t);
      }
      if (std::find(t.participants.begin(), t.participants.end(), m.from.shard) ==
          t.participants.end()) {
        return;  // not a participant: its ack counts toward nothing
      }
      t.acked[m.from.shard] = true;
      if (t.acked.size() >= recovery::Quorum(t.participants.size())) ChosenCommit(t);
      return;
    case MsgType::kDecisionAck:
      if (t.phase != Phase::kCommitting) return;
      t.acked[m.from.shard] = true;
      {
        size_t need = 0;
        for (ShardId s : t.participants) {
          auto v = t.votes.find(s);
          if (v == t.votes.end() || v->second == Vote::kYes) ++need;
        }
        size_t have = 0;
        for (ShardId s : t.participants) have += t.acked.count(s);
        if (have < need) return;
      }
      // Everyone applied the decision: END (lazily, nothing waits on it) and forget.
      Append({.type = RecordType::kCoordEnd, .txn = t.id, .protocol = t.protocol, .lazy = true});
      Finish(t, Outcome::kCommitted);
      return;
    case MsgType::kStateReply:
      if (m.state == TxnState::kForgotten) return OnForgotten(t, m.from.shard);
      if (t.phase == Phase::kResolving) {
        if (m.state == TxnState::kCommitted) {
          // A one-phase transaction its shard committed (its reads are not kept: none returned).
          ReplyClient(t, Outcome::kCommitted, AbortReason::kNone, "");
          Finish(t, Outcome::kCommitted);
          return;
        }
        t.acked[m.from.shard] = true;
        return ResolveIfAnswered(t);
      }
      if (t.phase == Phase::kOnePhaseQuery) {
        if (m.state == TxnState::kCommitted || m.state == TxnState::kAborted) {
          const bool committed = m.state == TxnState::kCommitted;
          if (committed) t.reads[m.from.shard] = m.reads;
          ReplyClient(t, committed ? Outcome::kCommitted : Outcome::kAborted,
                      committed ? AbortReason::kNone : AbortReason::kTimeout, "");
          ++(committed ? stats_.committed : stats_.aborted);
          Finish(t, committed ? Outcome::kCommitted : Outcome::kAborted);
        }
        return;
      }
      if (t.phase == Phase::kTerminating && m.ballot == t.round->ballot()) {
        t.round->OnStateReply(m.from.shard, m);
        DriveRound(t);
      }
      return;
    case MsgType::kTermAcceptAck:
      if (m.state == TxnState::kForgotten) return OnForgotten(t, m.from.shard);
      if (t.phase == Phase::kTerminating && m.ballot == t.round->ballot()) {
        t.round->OnAcceptAck(m.from.shard, m);
        DriveRound(t);
      }
      return;
    case MsgType::kLearnDecision:
      // A participants' termination round decided. Chosen, so adopted in any undecided 3PC phase
      // (a restored PRE-COMMIT waiting its turn too). In kCommitting the COMMITs this coordinator
      // resends answer it.
      if (t.phase != Phase::kPreCommitting && t.phase != Phase::kTerminating &&
          t.phase != Phase::kRestoredPreCommit) {
        return;
      }
      if (m.outcome == Outcome::kCommitted) return ChosenCommit(t);
      if (m.outcome == Outcome::kAborted) {
        return DecideAbort(t, AbortReason::kTermination, "termination chose abort");
      }
      return;
    default:
      return;
  }
}

void CoordinatorCore::OnTick(Txn& t) {
  if (t.client_request && now_ >= t.client_deadline) {
    ReplyClient(t, Outcome::kUnknown, AbortReason::kTimeout, "outcome not known in time");
  }
  switch (t.phase) {
    case Phase::kActive:
      if (now_ >= t.phase_deadline) {
        ++stats_.aborted;
        Finish(t, Outcome::kAborted, AbortReason::kTimeout);
      }
      return;
    case Phase::kPreparing:
      if (now_ >= t.phase_deadline) {
        if (t.one_phase) {
          // The single participant decides; its vote is missing. Ask it, and make it abort if it
          // has not decided, so that the answer is final.
          t.phase = Phase::kOnePhaseQuery;
          SetResend(t, now_);
        } else {
          return DecideAbort(t, AbortReason::kTimeout, "no vote in time");
        }
      }
      break;
    case Phase::kPreCommitting:
      if (t.decision_durable && now_ >= t.phase_deadline) return StartTermination(t);
      break;
    case Phase::kTerminating:
      if (t.round->step() == recovery::TerminationRound::Step::kPreempted ||
          now_ >= t.phase_deadline) {
        if (now_ >= t.next_resend) StartTermination(t);
        return;
      }
      break;
    default:
      break;
  }
  if (now_ < t.next_resend) return;
  ArmResend(t);
  switch (t.phase) {
    case Phase::kPreparing:
      SendPrepares(t);
      return;
    case Phase::kResolving:
      if (++t.one_phase_queries > options_.one_phase_query_attempts) {
        // A shard stays silent (down, or it forgot the transaction): not guessed.
        ReplyClient(t, Outcome::kUnknown, AbortReason::kNone, "a shard did not answer");
        Finish(t, Outcome::kUnknown);
        return;
      }
      SendResolveQueries(t);
      return;
    case Phase::kOnePhaseQuery: {
      if (++t.one_phase_queries > options_.one_phase_query_attempts) {
        // Bounded: the shard aborts an undecided transaction on its own. The outcome stays
        // unknown to this coordinator, and the client is told so.
        ReplyClient(t, Outcome::kUnknown, AbortReason::kTimeout, "single participant silent");
        Finish(t, Outcome::kUnknown);
        return;
      }
      Message m = To(t.participants[0], MsgType::kStateQuery, t);
      m.abort_if_unprepared = true;
      Send(std::move(m));
      return;
    }
    case Phase::kPreCommitting:
      SendToParticipants(t, MsgType::kPreCommit, true);
      return;
    case Phase::kTerminating:
      // Resend this round's current phase to those that have not answered.
      for (ShardId s : t.participants) {
        Message m = To(s,
                       t.round->step() == recovery::TerminationRound::Step::kAccepting
                           ? MsgType::kTermAccept
                           : MsgType::kStateQuery,
                       t);
        m.ballot = t.round->ballot();
        m.commit = t.round->propose_commit();
        m.abort_if_unprepared = true;
        Send(std::move(m));
      }
      return;
    case Phase::kCommitting:
      SendToParticipants(t, MsgType::kCommit, true);
      return;
    case Phase::kActive:
    case Phase::kRestoredPreCommit:  // no resend before its turn (next_resend is kNever)
      return;
  }
}

void CoordinatorCore::Depose() {
  // A newer epoch owns the decision log: no decision of this coordinator can become durable any
  // more (the log refuses this epoch's appends), so what only it could decide is aborted:
  // active transactions and multi-participant prepares. A one-phase transaction is decided by
  // its shard, which may have committed: it stays UNKNOWN here. Decided ones are left to the
  // successor, which holds their records.
  deposed_ = true;
  std::vector<TxnId> undecided;
  for (const auto& [id, t] : txns_) {
    if (t.phase == Phase::kActive || (t.phase == Phase::kPreparing && !t.one_phase)) {
      undecided.push_back(id);
    }
  }
  for (TxnId id : undecided) {
    DecideAbort(txns_.at(id), AbortReason::kStaleEpoch, "coordinator epoch superseded");
  }
}

void CoordinatorCore::Tick() {
  ++now_;
  for (TxnId id : wakeups_.TakeDue(now_)) {
    auto it = txns_.find(id);
    TXC_CHECK_MSG(it != txns_.end(), "a finished transaction kept its wakeup");
    it->second.wake_at = Wakeups::kNever;
    OnTick(it->second);
    it = txns_.find(id);  // OnTick may have finished it
    if (it != txns_.end()) Rearm(it->second);
  }
}

void CoordinatorCore::OnDurable(Lsn lsn) {
  // A log never becomes less durable: a position going backwards is a broken driver.
  TXC_CHECK_MSG(lsn >= durable_lsn_, "durable position went backwards");
  TXC_CHECK_MSG(lsn < next_lsn_, "durable position past the last appended record");
  if (lsn == durable_lsn_) return;
  durable_lsn_ = lsn;
  gate_.Release(durable_lsn_, ready_);
  while (!undurable_.empty() && undurable_.begin()->first <= lsn) {
    const auto [decision_lsn, id] = *undurable_.begin();
    undurable_.erase(undurable_.begin());
    auto it = txns_.find(id);
    // Finished meanwhile, or a newer decision record of its own is what counts now.
    if (it == txns_.end() || it->second.decision_lsn != decision_lsn) continue;
    Txn& t = it->second;
    if (t.decision_durable) continue;
    if (t.phase == Phase::kCommitting) {
      t.decision_durable = true;
      ArmResend(t);
    } else if (t.phase == Phase::kPreCommitting) {
      t.decision_durable = true;
      SetPhaseDeadline(t, now_ + options_.pre_commit_timeout_ticks);
      ArmResend(t);
    }
  }
}

std::vector<LiveTxn> CoordinatorCore::LiveTransactions() const {
  std::vector<LiveTxn> out;
  for (const auto& [id, t] : txns_) {
    const char* phase = "?";
    switch (t.phase) {
      case Phase::kActive:
        phase = "active";
        break;
      case Phase::kPreparing:
        phase = "preparing";
        break;
      case Phase::kOnePhaseQuery:
        phase = "one-phase-query";
        break;
      case Phase::kResolving:
        phase = "resolving";
        break;
      case Phase::kPreCommitting:
        phase = "pre-committing";
        break;
      case Phase::kTerminating:
        phase = "terminating";
        break;
      case Phase::kCommitting:
        phase = "committing";
        break;
      case Phase::kRestoredPreCommit:
        phase = "restored-pre-commit";
        break;
    }
    out.push_back({id, phase, t.participants.size(), t.acked.size()});
  }
  return out;
}

Ready CoordinatorCore::TakeReady() {
  gate_.Release(durable_lsn_, ready_);
  Ready out;
  std::swap(out, ready_);
  return out;
}

}  // namespace txcoord
