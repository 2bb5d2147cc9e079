#include "participant/core/participant_core.h"

#include <algorithm>
#include <charconv>
#include <system_error>

#include "common/check.h"
#include "recovery/core/log_fold.h"

namespace txcoord {

namespace {
bool IsVoted(TxnState s) {
  return s == TxnState::kPrepared || s == TxnState::kPreCommitted || s == TxnState::kPreAborted;
}
// ADD's operand: a missing or empty value is 0; otherwise the whole value must be a base-10
// signed 64-bit integer (no sign but '-', no spaces, nothing after it), else nullopt.
std::optional<int64_t> ParseInt(const std::optional<std::string>& v) {
  if (!v || v->empty()) return 0;
  int64_t out = 0;
  const char* end = v->data() + v->size();
  const auto [ptr, ec] = std::from_chars(v->data(), end, out);
  if (ec != std::errc() || ptr != end) return std::nullopt;
  return out;
}
}  // namespace

ParticipantCore::ParticipantCore(ParticipantOptions options, const KvReader* store, Rng* rng)
    : options_(options), store_(store), rng_(rng) {
  TXC_CHECK(store_ != nullptr && rng_ != nullptr);
}

ParticipantCore::Txn* ParticipantCore::Find(TxnId id) {
  auto it = txns_.find(id);
  return it == txns_.end() ? nullptr : &it->second;
}

void ParticipantCore::Finished(const Txn& t) {
  TXC_CHECK(IsFinal(t.state));
  if (t.held) return;  // Release() finishes it
  // Remembered while `retain_finished` newer transactions finish, as the log keeps its records
  // (wal/retention.h): a duplicate decision, a recovering coordinator or a 3PC peer's termination
  // round may still ask. Then forgotten, 3PC ones too: a state is only ever answered truly, and a
  // forgotten transaction is answered FORGOTTEN to its coordinator and not at all to a peer. (A
  // 3PC peer still in doubt that long learns the outcome from its coordinator, which has not
  // ENDed the transaction: that waits for every participant's acknowledgement.) Kept forever,
  // finished 3PC transactions grew the shard's memory without bound under 3PC load, and a restart
  // forgot them anyway once their records were truncated.
  finished_.push_back(t.id);
  ForgetOld();
}

void ParticipantCore::ForgetOld() {
  if (options_.retain_finished == 0) return;
  while (finished_.size() > options_.retain_finished) {
    const TxnId id = finished_.front();
    const Txn* t = Find(id);
    // Not before its outcome record is durable and its locks are released (and anything said
    // about it has been said): the oldest is nearly always long past that.
    if (t != nullptr && (t->record_lsn > durable_lsn_ || locks_.Holds(t->id))) return;
    txns_.erase(id);
    forgotten_max_ = std::max(forgotten_max_, id);
    finished_.pop_front();
  }
}

ParticipantCore::Txn& ParticipantCore::NewTxn(TxnId id, Epoch epoch) {
  Txn& t = txns_[id];
  t.id = id;
  t.epoch = epoch;
  live_.insert(id);
  t.last_activity = now_;
  t.backoff = recovery::Backoff(options_.in_doubt_first_ticks, options_.in_doubt_max_ticks);
  // Its idle timeout; activity only moves it later, which the wakeup finds out (OnTick).
  wakeups_.At(id, now_ + options_.idle_timeout_ticks, t.wake_at);
  return t;
}

void ParticipantCore::Restore(const std::vector<Record>& durable_log, Lsn log_end) {
  TXC_CHECK(txns_.empty() && next_lsn_ == 1);
  for (const Record& r : durable_log) {
    TXC_CHECK_MSG(r.lsn <= log_end, "a restored record lies past the end of the log");
  }
  // One numbering with the log: this incarnation's records continue it, and all of it is durable.
  next_lsn_ = log_end + 1;
  durable_lsn_ = log_end;
  recovery::ParticipantLog log = recovery::FoldParticipantLog(durable_log);
  max_epoch_ = log.max_epoch;
  for (auto& [id, rec] : log.txns) {
    if (rec.state == TxnState::kUnknown) continue;  // only a promise: never voted here
    Txn& t = NewTxn(id, rec.epoch);
    t.state = rec.state;
    t.protocol = rec.protocol;
    t.participants = rec.participants;
    t.promised = rec.promised;
    t.accepted = rec.accepted;
    if (t.state == TxnState::kCommitted) t.reads = rec.reads;  // a one-phase vote's reads
    if (IsFinal(t.state)) {
      Unlive(t);
      // Decided by this shard's round: the coordinator may not have heard yet. Asked again.
      t.decided_by = rec.decided_by;
      t.held = rec.decided_by != 0;
      if (t.held) {
        SetNextAction(t, now_ + 1);
      } else {
        finished_.push_back(id);
      }
    }
    if (IsVoted(t.state)) {
      // No two voted transactions held conflicting locks, so retaking them cannot fail.
      for (const Write& w : rec.writes) {
        t.writes[w.key] = w.value;
        TXC_CHECK(locks_.TryLock(t.id, w.key, LockTable::Mode::kExclusive));
      }
      for (const std::string& key : rec.read_keys)
        TXC_CHECK(locks_.TryLock(t.id, key, LockTable::Mode::kShared));
      t.reads = rec.reads;
      StartInDoubt(t);
    }
  }
  // A restored core (a restart, or a new primary after a failover, whose coordinator's decision
  // may have gone to the old primary) asks from its first tick, not after a backoff.
  AskAllSoon(/*restart_backoff=*/false);
  ForgetOld();
}

AbortReason ParticipantCore::RunOps(Txn& t, const std::vector<Op>& ops,
                                    std::vector<OpResult>& reads) {
  for (const Op& op : ops) {
    const bool exclusive = op.type != Op::Type::kGet || op.for_update;
    if (!locks_.TryLock(t.id, op.key,
                        exclusive ? LockTable::Mode::kExclusive : LockTable::Mode::kShared)) {
      ++stats_.lock_conflicts;
      return AbortReason::kLockConflict;
    }
    auto current = [&]() -> std::optional<std::string> {
      auto w = t.writes.find(op.key);
      return w != t.writes.end() ? w->second : store_->Get(op.key);
    };
    switch (op.type) {
      case Op::Type::kGet: {
        auto v = current();
        reads.push_back({op.key, v.has_value(), v.value_or("")});
        break;
      }
      case Op::Type::kPut:
        t.writes[op.key] = op.value;
        break;
      case Op::Type::kDelete:
        t.writes[op.key] = std::nullopt;
        break;
      case Op::Type::kAdd: {
        const std::optional<int64_t> value = ParseInt(current());
        int64_t next = 0;
        // Not an integer, or a sum past int64: the IDL's CONSTRAINT, never a wrapped value.
        if (!value || __builtin_add_overflow(*value, op.delta, &next)) {
          return AbortReason::kConstraint;
        }
        if (next < op.min_result) return AbortReason::kConstraint;
        t.writes[op.key] = std::to_string(next);
        break;
      }
    }
  }
  return AbortReason::kNone;
}

Lsn ParticipantCore::Append(Record r) {
  r.lsn = next_lsn_++;
  ready_.records.push_back(std::move(r));
  return next_lsn_ - 1;
}

void ParticipantCore::SendAfter(Txn& t, Message m) {
  if (t.record_lsn > durable_lsn_) {
    gate_.HoldMessage(t.record_lsn, std::move(m), ready_);
  } else {
    Send(std::move(m));
  }
}

Message ParticipantCore::Reply(const Message& to_msg, MsgType type) const {
  Message r;
  r.type = type;
  r.from = NodeRef::Shard(options_.shard);
  r.to = to_msg.from;
  r.txn = to_msg.txn;
  r.epoch = to_msg.epoch;
  r.protocol = to_msg.protocol;
  r.ballot = to_msg.ballot;
  return r;
}

Message ParticipantCore::About(const Txn& t, MsgType type, NodeRef to) const {
  Message m;
  m.type = type;
  m.from = NodeRef::Shard(options_.shard);
  m.to = to;
  m.txn = t.id;
  m.epoch = t.epoch;
  m.protocol = t.protocol;
  return m;
}

bool ParticipantCore::Fenced(const Message& m) {
  if (!m.from.is_coordinator()) return false;
  if (m.epoch < max_epoch_) {
    ++stats_.stale_rejected;
    Message r = Reply(m, MsgType::kStaleEpoch);
    r.current_epoch = max_epoch_;
    Send(std::move(r));
    return true;
  }
  if (m.epoch > max_epoch_) {
    max_epoch_ = m.epoch;
    Append({.type = RecordType::kEpochSeen, .epoch = max_epoch_});
  }
  return false;
}

void ParticipantCore::Execute(uint64_t request_id, TxnId txn, Epoch epoch, std::vector<Op> ops) {
  ClientReply r{.request_id = request_id, .txn = txn};
  auto fail = [&](AbortReason reason, std::string detail) {
    r.ok = false;
    r.outcome = Outcome::kAborted;
    r.reason = reason;
    r.detail = std::move(detail);
    ready_.replies.push_back(std::move(r));
  };
  if (epoch < max_epoch_ || txn.epoch != epoch) {
    ++stats_.stale_rejected;
    return fail(AbortReason::kStaleEpoch, "coordinator epoch is deposed");
  }
  // A client's transaction id is not the coordinator speaking: only the coordinator's own
  // messages (Fenced) raise the epoch this shard fences with. A made-up id from a future epoch
  // concerns its own transaction alone, never every real one.
  Txn* t = Find(txn);
  if (t == nullptr && Forgotten(txn)) {
    return fail(AbortReason::kUnknownTxn,
                "transaction " + txn.ToString() + " finished here long ago (forgotten)");
  }
  if (t == nullptr) t = &NewTxn(txn, epoch);
  if (t->state != TxnState::kActive) {
    r.ok = false;
    r.outcome = t->state == TxnState::kCommitted ? Outcome::kCommitted
                : t->state == TxnState::kAborted ? Outcome::kAborted
                                                 : Outcome::kUnknown;
    r.reason = AbortReason::kNone;
    r.detail = std::string("transaction is ") + ToString(t->state) + ", not active";
    ready_.replies.push_back(std::move(r));
    return;
  }
  t->last_activity = now_;
  const AbortReason reason = RunOps(*t, ops, r.reads);
  if (reason != AbortReason::kNone) {
    AbortHere(*t, false);
    return fail(reason, "aborted at shard " + std::to_string(options_.shard));
  }
  ready_.replies.push_back(std::move(r));
}

void ParticipantCore::AbortHere(Txn& t, bool durable) {
  if (IsFinal(t.state)) return;
  // A voted transaction's abort must be durable (its PREPARED record is); so must an abort that
  // answers a query, so that a late PREPARE cannot undo what the answer promised.
  if (durable || IsVoted(t.state)) {
    t.record_lsn =
        Append({.type = RecordType::kAborted, .txn = t.id, .epoch = t.epoch, .ballot = t.decided_by});
  }
  t.state = TxnState::kAborted;
  Unlive(t);
  t.writes.clear();
  t.reads.clear();
  t.round.reset();
  locks_.ReleaseAll(t.id);
  Finished(t);
}

void ParticipantCore::Commit(Txn& t, const Message* ack_to) {
  if (t.state == TxnState::kAborted) {
    ++stats_.conflicting_decisions;
    return;
  }
  if (t.state != TxnState::kCommitted) {
    if (!IsVoted(t.state)) {
      // COMMIT for a transaction this shard never voted YES for: nothing may be applied.
      ++stats_.conflicting_decisions;
      return;
    }
    Record r{.type = RecordType::kCommitted,
             .txn = t.id,
             .epoch = t.epoch,
             .protocol = t.protocol,
             .ballot = t.decided_by};
    for (auto& [key, value] : t.writes) r.writes.push_back({key, value});
    // A one-phase shard's COMMITTED is also its vote: a repeated PREPARE must get the same reads,
    // after a restart too. Otherwise the YES vote that carried them was already counted.
    const bool one_phase = t.participants.size() <= 1;
    if (one_phase) r.reads = t.reads;
    // A one-phase COMMITTED is the decision itself (its vote waits for it); otherwise the
    // coordinator's decision is durable already, and only its ack and these locks wait.
    r.lazy = !one_phase;
    t.record_lsn = Append(std::move(r));
    t.state = TxnState::kCommitted;
    Unlive(t);
    t.round.reset();
    if (!one_phase) t.reads.clear();
    release_at_.emplace(t.record_lsn, t.id);
    Finished(t);
  }
  if (ack_to != nullptr) {
    Message ack = Reply(*ack_to, MsgType::kDecisionAck);
    ack.state = TxnState::kCommitted;
    ack.ok = true;
    SendAfter(t, std::move(ack));
  }
}

void ParticipantCore::OnPrepare(const Message& m) {
  Message vote = Reply(m, MsgType::kVote);
  Txn* t = Find(m.txn);
  if (t != nullptr && t->state != TxnState::kActive) {
    // Duplicate or late PREPARE: repeat what this shard already said.
    if (t->state == TxnState::kCommitted) {
      vote.vote = Vote::kYes;
      vote.outcome = m.one_phase ? Outcome::kCommitted : Outcome::kUnknown;
      vote.reads = t->reads;
    } else if (t->state == TxnState::kAborted) {
      vote.vote = Vote::kNo;
      vote.outcome = Outcome::kAborted;
      vote.reason = AbortReason::kVoteNo;
    } else {
      vote.vote = Vote::kYes;
      vote.reads = t->reads;
    }
    return SendAfter(*t, std::move(vote));
  }
  const bool one_shot = !m.ops.empty();
  if (t == nullptr && Forgotten(m.txn)) {
    return;  // a very late duplicate (it was answered): its ops must not run twice
  }
  if (t == nullptr) {
    if (!one_shot) {
      // Unknown and nothing to run: its reads and writes were lost (restart) or never came.
      vote.vote = Vote::kNo;
      vote.reason = AbortReason::kUnknownTxn;
      vote.outcome = Outcome::kAborted;
      return Send(std::move(vote));
    }
    t = &NewTxn(m.txn, m.epoch);
  }
  t->epoch = m.epoch;
  t->protocol = m.protocol;
  t->participants = m.participants;
  t->last_activity = now_;
  const AbortReason reason = RunOps(*t, m.ops, vote.reads);
  if (reason != AbortReason::kNone) {
    // A one-phase participant decides: its NO must be durable before it is said (a duplicate
    // PREPARE after a restart would otherwise run the ops again and commit).
    AbortHere(*t, m.one_phase && one_shot);
    vote.vote = Vote::kNo;
    vote.reason = reason;
    vote.outcome = Outcome::kAborted;
    vote.reads.clear();
    return SendAfter(*t, std::move(vote));
  }
  if (m.one_phase) {
    t->reads = vote.reads;  // repeated with every answer to a repeated PREPARE
    if (t->writes.empty()) {
      locks_.ReleaseAll(t->id);
      t->state = TxnState::kCommitted;
      Unlive(*t);
      Finished(*t);
      vote.vote = Vote::kReadOnly;
      vote.outcome = Outcome::kCommitted;
      return Send(std::move(vote));
    }
    t->state = TxnState::kPrepared;  // so that Commit applies it
    Commit(*t, nullptr);
    vote.vote = Vote::kYes;
    vote.outcome = Outcome::kCommitted;
    return SendAfter(*t, std::move(vote));
  }
  if (t->writes.empty() && !one_shot && m.protocol == Protocol::kTwoPc) {
    locks_.ReleaseAll(t->id);
    Unlive(*t);
    txns_.erase(m.txn);
    vote.vote = Vote::kReadOnly;
    return Send(std::move(vote));
  }
  Record r{.type = RecordType::kPrepared,
           .txn = t->id,
           .epoch = t->epoch,
           .protocol = t->protocol,
           .participants = t->participants};
  for (auto& [key, value] : t->writes) r.writes.push_back({key, value});
  for (const std::string& key : locks_.HeldBy(t->id)) {
    if (!t->writes.count(key)) r.read_keys.push_back(key);
  }
  r.reads = vote.reads;  // the vote's content is as durable as the vote
  t->record_lsn = Append(std::move(r));
  t->state = TxnState::kPrepared;
  t->reads = vote.reads;
  vote.vote = Vote::kYes;
  SendAfter(*t, std::move(vote));  // persist before send: YES waits for PREPARED
  StartInDoubt(*t);
}

void ParticipantCore::OnPreCommit(const Message& m) {
  Message ack = Reply(m, MsgType::kPreCommitAck);
  Txn* t = Find(m.txn);
  if (t == nullptr || t->state == TxnState::kActive) {
    ack.ok = false;
    ack.state = t ? t->state : TxnState::kUnknown;
    return Send(std::move(ack));
  }
  ack.promised_ballot = t->promised;
  if (IsFinal(t->state)) {
    ack.state = t->state;
    ack.ok = t->state == TxnState::kCommitted;
    return SendAfter(*t, std::move(ack));
  }
  if (t->promised > 0) {
    // A termination round holds a higher ballot: ballot 0 can no longer be accepted here.
    ack.ok = false;
    ack.state = t->state;
    return Send(std::move(ack));
  }
  if (t->state == TxnState::kPrepared) {
    t->state = TxnState::kPreCommitted;
    t->accepted = 0;
    t->record_lsn = Append({.type = RecordType::kPreCommitted,
                            .txn = t->id,
                            .epoch = t->epoch,
                            .protocol = t->protocol,
                            .ballot = 0});
  }
  ack.ok = t->state == TxnState::kPreCommitted;
  ack.state = t->state;
  t->backoff.Reset();
  SetNextAction(*t, now_ + t->backoff.NextDelay(*rng_));
  SendAfter(*t, std::move(ack));
}

void ParticipantCore::OnDecision(const Message& m, bool commit) {
  Txn* t = Find(m.txn);
  if (t == nullptr) {
    // Read-only voters and restarted shards that never voted know nothing to apply.
    if (commit && m.from.is_coordinator()) {
      Message ack = Reply(m, MsgType::kDecisionAck);
      ack.ok = true;
      ack.state = TxnState::kUnknown;
      Send(std::move(ack));
    }
    return;
  }
  if (commit) {
    Commit(*t, m.from.is_coordinator() ? &m : nullptr);
  } else if (t->state == TxnState::kCommitted) {
    ++stats_.conflicting_decisions;
  } else {
    AbortHere(*t, false);
  }
  // The coordinator has a decision for it (or, having none, presumes abort and never needs this
  // shard's answer): a held transaction may be forgotten.
  if (t->held && m.from.is_coordinator()) Release(*t);
}

void ParticipantCore::TellForgotten(Message reply) {
  if (!reply.to.is_coordinator()) return;
  reply.state = TxnState::kForgotten;
  reply.ok = true;
  Send(std::move(reply));
}

void ParticipantCore::OnStateQuery(const Message& m) {
  Message r = Reply(m, MsgType::kStateReply);
  // Whatever this answer says holds only once this shard's fence is durable: the EPOCH-SEEN that
  // Fenced may just have appended for the asker's epoch (a coordinator resolving an earlier
  // term's transaction counts on this shard refusing that term's PREPAREs from now on).
  const Lsn fence = next_lsn_ - 1;
  // A forgotten transaction's state is not known any more. 3PC ones are never forgotten in
  // memory, so one not found never voted here -- unless its records were truncated before this
  // core started (ParticipantOptions::truncated_max). A peer's termination gets silence (never
  // wrong); the coordinator is told FORGOTTEN: finished here, outcome not known (it stops
  // driving a transaction every participant finished, and guesses nothing).
  if (Forgotten(m.txn)) return TellForgotten(std::move(r));
  Txn* t = Find(m.txn);
  if ((t == nullptr || t->state == TxnState::kActive) && m.abort_if_unprepared) {
    // Never voted here: this shard may abort on its own, and does so durably before saying it.
    if (t == nullptr) t = &NewTxn(m.txn, m.txn.epoch);
    AbortHere(*t, true);
  }
  if (t == nullptr) {
    r.state = TxnState::kUnknown;
    r.ok = true;
    if (fence > durable_lsn_) return gate_.HoldMessage(fence, std::move(r), ready_);
    return Send(std::move(r));
  }
  r.state = t->state;
  r.accepted_ballot = t->accepted;
  if (t->state == TxnState::kCommitted) r.reads = t->reads;  // a one-phase outcome's reads
  if (IsVoted(t->state) && m.ballot > 0) {
    if (m.ballot > t->promised) {
      t->promised = m.ballot;
      t->record_lsn = Append({.type = RecordType::kPromised,
                              .txn = t->id,
                              .epoch = t->epoch,
                              .protocol = t->protocol,
                              .ballot = m.ballot});
    }
    r.ok = m.ballot == t->promised;
  } else {
    r.ok = true;
  }
  r.promised_ballot = t->promised;
  if (fence > durable_lsn_ && fence > t->record_lsn) {
    return gate_.HoldMessage(fence, std::move(r), ready_);
  }
  SendAfter(*t, std::move(r));
}

void ParticipantCore::OnTermAccept(const Message& m) {
  Message ack = Reply(m, MsgType::kTermAcceptAck);
  if (Forgotten(m.txn)) return TellForgotten(std::move(ack));
  Txn* t = Find(m.txn);
  if (t == nullptr || t->state == TxnState::kActive) {
    if (t == nullptr) t = &NewTxn(m.txn, m.txn.epoch);
    AbortHere(*t, true);
  }
  ack.state = t->state;
  if (IsVoted(t->state) && m.ballot >= t->promised) {
    t->promised = m.ballot;
    t->accepted = m.ballot;
    t->state = m.commit ? TxnState::kPreCommitted : TxnState::kPreAborted;
    t->record_lsn = Append({.type = m.commit ? RecordType::kPreCommitted : RecordType::kPreAborted,
                            .txn = t->id,
                            .epoch = t->epoch,
                            .protocol = t->protocol,
                            .ballot = m.ballot});
    ack.state = t->state;
    ack.ok = true;
  } else {
    ack.ok = IsFinal(t->state);
  }
  ack.promised_ballot = t->promised;
  SendAfter(*t, std::move(ack));
}

void ParticipantCore::StartInDoubt(Txn& t) {
  t.in_doubt_since = now_;
  t.queries = 0;
  t.backoff = recovery::Backoff(options_.in_doubt_first_ticks, options_.in_doubt_max_ticks);
  SetNextAction(t, now_ + t.backoff.NextDelay(*rng_));
}

void ParticipantCore::SetNextAction(Txn& t, Ticks at) {
  t.next_action = at;
  wakeups_.At(t.id, at, t.wake_at);
}

void ParticipantCore::Unlive(Txn& t) {
  live_.erase(t.id);
  wakeups_.Cancel(t.id, t.wake_at);
}

void ParticipantCore::StartRound(Txn& t) {
  const uint64_t seen =
      std::max(BallotRound(t.promised), t.round ? BallotRound(t.round->highest_promise_seen()) : 0);
  round_ = std::max(round_, seen) + 1;
  t.round = std::make_unique<recovery::TerminationRound>(
      MakeBallot(round_, static_cast<uint32_t>(options_.shard) + 1), t.participants);
  ++stats_.termination_rounds;
  // Promise our own ballot durably before using it: after a restart the next round starts above
  // it, so this shard never proposes twice with one ballot (Paxos forbids it).
  t.promised = t.round->ballot();
  t.record_lsn = Append({.type = RecordType::kPromised,
                         .txn = t.id,
                         .epoch = t.epoch,
                         .protocol = t.protocol,
                         .ballot = t.promised});
  for (ShardId s : t.participants) {
    Message q = About(t, MsgType::kStateQuery, NodeRef::Shard(s));
    q.ballot = t.round->ballot();
    q.abort_if_unprepared = true;
    SendAfter(t, std::move(q));
  }
}

void ParticipantCore::DriveRound(Txn& t) {
  using Step = recovery::TerminationRound::Step;
  if (!t.round) return;
  if (t.round->step() == Step::kProposing) {
    for (ShardId s : t.participants) {
      Message a = About(t, MsgType::kTermAccept, NodeRef::Shard(s));
      a.ballot = t.round->ballot();
      a.commit = t.round->propose_commit();
      Send(std::move(a));
    }
    t.round->ProposalSent();
    return;
  }
  if (t.round->step() != Step::kDecided) return;
  const bool commit = t.round->outcome() == Outcome::kCommitted;
  // Tell every participant (and the coordinator, which may be waiting on PRE-COMMIT acks).
  for (ShardId s : t.participants) {
    if (s == options_.shard) continue;
    Send(About(t, commit ? MsgType::kCommit : MsgType::kAbort, NodeRef::Shard(s)));
  }
  // Decided here: held until the coordinator answers (Txn::held); the outcome record says so.
  t.decided_by = t.round->ballot();
  t.held = true;
  if (commit) {
    Commit(t, nullptr);
  } else {
    AbortHere(t, false);
  }
  TellCoordinator(t);
}

void ParticipantCore::TellCoordinator(Txn& t) {
  TXC_CHECK(t.held && IsFinal(t.state));
  Message learn = About(t, MsgType::kLearnDecision, NodeRef::Coordinator());
  learn.outcome = t.state == TxnState::kCommitted ? Outcome::kCommitted : Outcome::kAborted;
  SendAfter(t, std::move(learn));  // after its outcome record
  SetNextAction(t, now_ + t.backoff.NextDelay(*rng_));
}

void ParticipantCore::Release(Txn& t) {
  TXC_CHECK(t.held);
  t.held = false;
  wakeups_.Cancel(t.id, t.wake_at);
  Finished(t);
}

void ParticipantCore::Step(const Message& m) {
  if (Fenced(m)) return;
  switch (m.type) {
    case MsgType::kPrepare:
      return OnPrepare(m);
    case MsgType::kPreCommit:
      return OnPreCommit(m);
    case MsgType::kCommit:
      return OnDecision(m, true);
    case MsgType::kAbort:
      return OnDecision(m, false);
    case MsgType::kStateQuery:
      return OnStateQuery(m);
    case MsgType::kTermAccept:
      return OnTermAccept(m);
    case MsgType::kStatusReply:
      if (m.outcome == Outcome::kCommitted) return OnDecision(m, true);
      if (m.outcome == Outcome::kAborted) return OnDecision(m, false);
      return;
    case MsgType::kStateReply: {
      Txn* t = Find(m.txn);
      if (t && t->round && m.ballot == t->round->ballot()) {
        t->round->OnStateReply(m.from.shard, m);
        DriveRound(*t);
      }
      return;
    }
    case MsgType::kTermAcceptAck: {
      Txn* t = Find(m.txn);
      if (t && t->round && m.ballot == t->round->ballot()) {
        t->round->OnAcceptAck(m.from.shard, m);
        DriveRound(*t);
      }
      return;
    }
    default:
      return;
  }
}

void ParticipantCore::Tick() {
  ++now_;
  std::vector<TxnId> idle;
  for (TxnId id : wakeups_.TakeDue(now_)) {
    Txn& t = txns_.at(id);
    t.wake_at = Wakeups::kNever;
    if (t.held) {
      TellCoordinator(t);
      continue;
    }
    TXC_CHECK_MSG(live_.count(id), "a transaction that is not live kept its wakeup");
    if (OnTick(t)) idle.push_back(id);
  }
  for (TxnId id : idle) AbortHere(txns_[id], false);
}

bool ParticipantCore::OnTick(Txn& t) {
  if (t.state == TxnState::kActive) {
    const Ticks idle_at = t.last_activity + options_.idle_timeout_ticks;
    if (now_ >= idle_at) return true;
    wakeups_.At(t.id, idle_at, t.wake_at);
    return false;
  }
  TXC_CHECK_MSG(IsVoted(t.state), "a live transaction is active or voted");
  if (now_ >= t.next_action) {
    SetNextAction(t, now_ + t.backoff.NextDelay(*rng_));
    ++t.queries;
    Send(About(t, MsgType::kStatus, NodeRef::Coordinator()));
    if (t.protocol == Protocol::kThreePc && t.queries >= options_.termination_after_queries) {
      StartRound(t);
    }
  }
  wakeups_.At(t.id, t.next_action, t.wake_at);
  return false;
}

void ParticipantCore::OnPeerMoved(NodeRef group) {
  if (group.is_coordinator()) AskAllSoon(/*restart_backoff=*/true);
}

void ParticipantCore::AskAllSoon(bool restart_backoff) {
  TXC_CHECK(options_.queries_per_tick > 0);
  size_t asked = 0;
  for (TxnId id : live_) {
    Txn& t = txns_.at(id);
    if (!IsVoted(t.state)) continue;
    if (restart_backoff) {
      t.backoff = recovery::Backoff(options_.in_doubt_first_ticks, options_.in_doubt_max_ticks);
    }
    const Ticks at = now_ + 1 + static_cast<Ticks>(asked++ / options_.queries_per_tick);
    // Moved later too: SetNextAction only ever moves a wakeup earlier.
    wakeups_.Cancel(t.id, t.wake_at);
    SetNextAction(t, at);
  }
}

void ParticipantCore::OnDurable(Lsn lsn) {
  // A log never becomes less durable: a position going backwards is a broken driver.
  TXC_CHECK_MSG(lsn >= durable_lsn_, "durable position went backwards");
  TXC_CHECK_MSG(lsn < next_lsn_, "durable position past the last appended record");
  if (lsn == durable_lsn_) return;
  durable_lsn_ = lsn;
  gate_.Release(durable_lsn_, ready_);
  while (!release_at_.empty() && release_at_.begin()->first <= durable_lsn_) {
    Txn* t = Find(release_at_.begin()->second);
    if (t != nullptr) {
      locks_.ReleaseAll(t->id);
      t->writes.clear();
    }
    release_at_.erase(release_at_.begin());
  }
  ForgetOld();
}

Ready ParticipantCore::TakeReady() {
  gate_.Release(durable_lsn_, ready_);
  Ready out;
  std::swap(out, ready_);
  return out;
}

TxnState ParticipantCore::StateOf(TxnId txn) const {
  auto it = txns_.find(txn);
  if (it != txns_.end()) return it->second.state;
  return txn <= forgotten_max_ || txn <= options_.truncated_max ? TxnState::kForgotten
                                                                 : TxnState::kUnknown;
}

std::vector<InDoubtTxn> ParticipantCore::InDoubt() const {
  std::vector<InDoubtTxn> out;
  for (TxnId id : live_) {
    const Txn& t = txns_.at(id);
    if (IsVoted(t.state)) out.push_back({id, t.state, now_ - t.in_doubt_since, t.queries});
  }
  return out;
}

size_t ParticipantCore::in_doubt() const {
  size_t n = 0;
  for (TxnId id : live_) n += IsVoted(txns_.at(id).state) ? 1 : 0;
  return n;
}

uint64_t ParticipantCore::Digest() const {
  uint64_t h = 1469598103934665603ull;
  auto mix = [&h](uint64_t v) {
    h ^= v;
    h *= 1099511628211ull;
  };
  mix(max_epoch_);
  for (const auto& [id, t] : txns_) {
    mix(id.epoch);
    mix(id.seq);
    mix(static_cast<uint64_t>(t.state));
    mix(t.promised);
    mix(t.accepted);
    mix(t.writes.size());
    mix(locks_.HeldBy(id).size());
  }
  mix(locks_.keys_locked());
  return h;
}

}  // namespace txcoord
