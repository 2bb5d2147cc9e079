#include "common/protocol.h"

namespace txcoord {

const char* ToString(Protocol p) { return p == Protocol::kThreePc ? "3pc" : "2pc"; }

const char* ToString(Vote v) {
  switch (v) {
    case Vote::kNone: return "none";
    case Vote::kYes: return "yes";
    case Vote::kNo: return "no";
    case Vote::kReadOnly: return "read-only";
  }
  return "?";
}

const char* ToString(Outcome o) {
  switch (o) {
    case Outcome::kUnknown: return "unknown";
    case Outcome::kCommitted: return "committed";
    case Outcome::kAborted: return "aborted";
  }
  return "?";
}

const char* ToString(AbortReason r) {
  switch (r) {
    case AbortReason::kNone: return "none";
    case AbortReason::kVoteNo: return "vote-no";
    case AbortReason::kLockConflict: return "lock-conflict";
    case AbortReason::kTimeout: return "timeout";
    case AbortReason::kClientAbort: return "client-abort";
    case AbortReason::kParticipantFailed: return "participant-failed";
    case AbortReason::kConstraint: return "constraint";
    case AbortReason::kStaleEpoch: return "stale-epoch";
    case AbortReason::kTermination: return "termination";
    case AbortReason::kOperator: return "operator";
    case AbortReason::kUnknownTxn: return "unknown-txn";
  }
  return "?";
}

const char* ToString(TxnState s) {
  switch (s) {
    case TxnState::kUnknown: return "unknown";
    case TxnState::kActive: return "active";
    case TxnState::kPrepared: return "prepared";
    case TxnState::kPreCommitted: return "pre-committed";
    case TxnState::kPreAborted: return "pre-aborted";
    case TxnState::kCommitted: return "committed";
    case TxnState::kAborted: return "aborted";
    case TxnState::kForgotten: return "forgotten";
  }
  return "?";
}

const char* ToString(MsgType t) {
  switch (t) {
    case MsgType::kPrepare: return "PREPARE";
    case MsgType::kVote: return "VOTE";
    case MsgType::kPreCommit: return "PRE-COMMIT";
    case MsgType::kPreCommitAck: return "PRE-COMMIT-ACK";
    case MsgType::kCommit: return "COMMIT";
    case MsgType::kAbort: return "ABORT";
    case MsgType::kDecisionAck: return "DECISION-ACK";
    case MsgType::kStateQuery: return "STATE-QUERY";
    case MsgType::kStateReply: return "STATE-REPLY";
    case MsgType::kTermAccept: return "TERM-ACCEPT";
    case MsgType::kTermAcceptAck: return "TERM-ACCEPT-ACK";
    case MsgType::kStatus: return "STATUS";
    case MsgType::kStatusReply: return "STATUS-REPLY";
    case MsgType::kStaleEpoch: return "STALE-EPOCH";
    case MsgType::kLearnDecision: return "LEARN-DECISION";
  }
  return "?";
}

const char* ToString(RecordType t) {
  switch (t) {
    case RecordType::kCoordPreCommit: return "coord-pre-commit";
    case RecordType::kCoordCommit: return "coord-commit";
    case RecordType::kCoordEnd: return "coord-end";
    case RecordType::kCoordAbort: return "coord-abort";
    case RecordType::kPrepared: return "prepared";
    case RecordType::kPreCommitted: return "pre-committed";
    case RecordType::kPreAborted: return "pre-aborted";
    case RecordType::kPromised: return "promised";
    case RecordType::kCommitted: return "committed";
    case RecordType::kAborted: return "aborted";
    case RecordType::kEpochSeen: return "epoch-seen";
    case RecordType::kEpochStart: return "epoch-start";
  }
  return "?";
}

namespace {
template <typename T>
void ReleaseDurable(std::multimap<Lsn, T>& held, Lsn durable, std::vector<T>& out) {
  auto end = held.upper_bound(durable);
  for (auto it = held.begin(); it != end; ++it) out.push_back(std::move(it->second));
  held.erase(held.begin(), end);
}
}  // namespace

void DurabilityGate::Release(Lsn durable, Ready& out) {
  ReleaseDurable(messages_, durable, out.messages);
  ReleaseDurable(replies_, durable, out.replies);
}

}  // namespace txcoord
