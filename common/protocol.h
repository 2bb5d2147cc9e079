// The protocol vocabulary shared by the pure cores: messages, log records and the Ready batch a
// core hands to its driver. These are the cores' own types; the Thrift types in idl/ are
// converted to and from them at the edge and never reach a core.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/ids.h"

namespace txcoord {

enum class Protocol : uint8_t { kTwoPc = 1, kThreePc = 2 };
enum class Vote : uint8_t { kNone = 0, kYes = 1, kNo = 2, kReadOnly = 3 };
enum class Outcome : uint8_t { kUnknown = 0, kCommitted = 1, kAborted = 2 };
enum class AbortReason : uint8_t {
  kNone = 0, kVoteNo = 1, kLockConflict = 2, kTimeout = 3, kClientAbort = 4,
  kParticipantFailed = 5, kConstraint = 6, kStaleEpoch = 7, kTermination = 8, kOperator = 9,
  kUnknownTxn = 10,
};

// A participant's view of one transaction.
enum class TxnState : uint8_t {
  kUnknown = 0, kActive = 1, kPrepared = 2, kPreCommitted = 3, kPreAborted = 4,
  kCommitted = 5, kAborted = 6,
  // A participant finished this transaction long ago and no longer remembers how (its memory of
  // finished transactions is bounded). Says nothing about the outcome.
  kForgotten = 7,
};
inline bool IsFinal(TxnState s) { return s == TxnState::kCommitted || s == TxnState::kAborted; }

const char* ToString(Protocol p);
const char* ToString(Vote v);
const char* ToString(Outcome o);
const char* ToString(AbortReason r);
const char* ToString(TxnState s);

// One read or write inside a transaction at one shard.
struct Op {
  enum class Type : uint8_t { kGet = 1, kPut = 2, kDelete = 3, kAdd = 4 };
  Type type = Type::kGet;
  std::string key;
  std::string value;      // kPut
  int64_t delta = 0;      // kAdd: value is a decimal integer (missing = 0)
  int64_t min_result = INT64_MIN;  // kAdd: the transaction fails with kConstraint below this
  bool for_update = false;         // kGet: take the exclusive lock (read-modify-write)
  bool operator==(const Op&) const = default;
};

struct OpResult {
  std::string key;
  bool found = false;
  std::string value;
  bool operator==(const OpResult&) const = default;
};

// Who a message is from or to. The driver maps kCoordinator to the current coordinator primary
// and a shard id to that shard's primary.
struct NodeRef {
  enum class Kind : uint8_t { kCoordinator = 0, kShard = 1 };
  Kind kind = Kind::kCoordinator;
  ShardId shard = -1;
  static NodeRef Coordinator() { return {Kind::kCoordinator, -1}; }
  static NodeRef Shard(ShardId s) { return {Kind::kShard, s}; }
  bool is_coordinator() const { return kind == Kind::kCoordinator; }
  auto operator<=>(const NodeRef&) const = default;
};

enum class MsgType : uint8_t {
  kPrepare = 1,        // coordinator -> shard: participants, protocol, one_phase, optional ops
  kVote = 2,           // shard -> coordinator: vote, reason, reads, (one phase) outcome
  kPreCommit = 3,      // coordinator -> shard (3PC): accept PRE-COMMIT at ballot 0
  kPreCommitAck = 4,   // shard -> coordinator: ok, promised
  kCommit = 5,         // coordinator or termination leader -> shard: decision
  kAbort = 6,          // coordinator or termination leader -> shard: decision
  kDecisionAck = 7,    // shard -> coordinator: the decision is durable here
  kStateQuery = 8,     // anyone -> shard: state (+ promise ballot if > 0, abort_if_unprepared)
  kStateReply = 9,     // shard -> asker: state, accepted/promised ballots, ok
  kTermAccept = 10,    // termination leader -> shard: accept PRE-COMMIT/PRE-ABORT at ballot
  kTermAcceptAck = 11, // shard -> leader: ok, state, promised
  kStatus = 12,        // shard -> coordinator: what was decided for txn? (in-doubt resolution)
  kStatusReply = 13,   // coordinator -> shard: outcome (kUnknown = not decided yet)
  kStaleEpoch = 14,    // shard -> coordinator: your epoch is deposed (current in `epoch`)
  kLearnDecision = 15, // termination leader -> coordinator: the chosen outcome
};
const char* ToString(MsgType t);

// One message of the protocol. Fields not used by a type keep their defaults.
struct Message {
  MsgType type = MsgType::kPrepare;
  NodeRef from;
  NodeRef to;
  TxnId txn;
  Epoch epoch = 0;  // the coordinator epoch this message speaks for (fencing)
  Protocol protocol = Protocol::kTwoPc;
  std::vector<ShardId> participants;  // kPrepare: every shard of the transaction
  bool one_phase = false;             // kPrepare: the only participant decides
  std::vector<Op> ops;                // kPrepare: one-shot execution (early prepare)
  Vote vote = Vote::kNone;
  AbortReason reason = AbortReason::kNone;
  std::vector<OpResult> reads;
  Outcome outcome = Outcome::kUnknown;  // kVote (one phase), kStatusReply, kLearnDecision
  TxnState state = TxnState::kUnknown;  // kStateReply, kTermAcceptAck, kPreCommitAck
  Ballot ballot = 0;                    // kStateQuery/kTermAccept/kPreCommit
  Ballot accepted_ballot = 0;           // kStateReply
  Ballot promised_ballot = 0;           // kStateReply, acks
  bool commit = false;                  // kTermAccept: PRE-COMMIT (true) or PRE-ABORT (false)
  bool abort_if_unprepared = false;     // kStateQuery
  bool ok = false;                      // acks and replies
  Epoch current_epoch = 0;              // kStaleEpoch: the newest epoch the shard has seen
};

// Records a core asks its driver to append to its log. lsn is the record's position in the log
// (one numbering for cores, WAL and replication): the core assigns it, continuing the log it was
// restored from by one per record; the driver appends records in lsn order and calls
// OnDurable(lsn) once every record up to lsn is durable.
enum class RecordType : uint8_t {
  // coordinator log
  kCoordPreCommit = 1,  // 3PC: PRE-COMMIT about to be sent (participants listed)
  kCoordCommit = 2,     // the COMMIT decision (participants listed)
  kCoordEnd = 3,        // every participant acknowledged: the transaction may be forgotten
  kCoordAbort = 4,      // 3PC: ABORT decided after a PRE-COMMIT record (termination chose it):
                        // a restore does not run termination again
  // participant log
  kPrepared = 10,      // voted YES: coordinator epoch, protocol, participants, write set
  kPreCommitted = 11,  // accepted PRE-COMMIT at ballot
  kPreAborted = 12,    // accepted PRE-ABORT at ballot
  kPromised = 13,      // promised ballot to a termination leader
  kCommitted = 14,     // outcome; carries the write set that the driver applies atomically
  kAborted = 15,       // outcome
  kEpochSeen = 16,     // a newer coordinator epoch was seen (fencing survives restart)
  // replication (any group's log)
  kEpochStart = 20,  // a new primary's first record: its term begins here (no transaction)
};
const char* ToString(RecordType t);

struct Write {
  std::string key;
  std::optional<std::string> value;  // nullopt: delete
  bool operator==(const Write&) const = default;
};

struct Record {
  Lsn lsn = 0;
  RecordType type = RecordType::kPrepared;
  TxnId txn;
  Epoch epoch = 0;  // coordinator epoch of the writer (coordinator) or of the txn (participant)
  Protocol protocol = Protocol::kTwoPc;
  std::vector<ShardId> participants;
  std::vector<Write> writes;  // kPrepared, kCommitted
  // kPrepared: keys read under shared locks (retaken on restart) and, for a one-shot
  // transaction, the read results its YES vote carries (repeated after a restart).
  std::vector<std::string> read_keys;
  std::vector<OpResult> reads;
  Ballot ballot = 0;          // kPreCommitted/kPreAborted: accepted; kPromised: promised
  // The replica group epoch under which the group's primary appended this record (replication/:
  // a position and its log_epoch name one record on every replica). Set by the replication
  // layer, not by the cores.
  Epoch log_epoch = 0;
  // A hint to the driver, not part of the record: nothing waits urgently for this record's
  // durability (a participant's COMMITTED after a coordinator's decision, the coordinator's END),
  // so it may ride a later sync (wal/wal.h: lazy appends). OnDurable still covers it only once it
  // is durable. Not stored.
  bool lazy = false;
  bool operator==(const Record&) const = default;
};

// A reply to a client request (begin/commit/abort/execute at the coordinator, read/write at a
// shard). request_id is the driver's handle for the waiting caller.
struct ClientReply {
  uint64_t request_id = 0;
  TxnId txn;
  Outcome outcome = Outcome::kUnknown;  // for commit/abort/execute; kUnknown = ambiguous
  AbortReason reason = AbortReason::kNone;
  bool ok = true;                       // read/write: false -> the txn is aborted here (reason)
  std::vector<OpResult> reads;
  std::string detail;
};

// A message released only once the record at after_lsn is durable ("persist before send" as a
// type, STYLE.md 2). The core puts it here; it never appears in Ready::messages.
struct DeferredMessage {
  Lsn after_lsn = 0;
  Message message;
};
struct DeferredReply {
  Lsn after_lsn = 0;
  ClientReply reply;
};

// What a core hands its driver after each input. The driver must: append `records` (in order),
// send `messages` now, and deliver each deferred message or reply once OnDurable has covered its
// after_lsn -- the core re-emits them in `messages`/`replies` at that point, so the driver never
// releases a deferred item itself. The deferred lists are exposed so drivers and tests can see
// what waits on the disk.
struct Ready {
  std::vector<Record> records;
  std::vector<Message> messages;
  std::vector<ClientReply> replies;
  std::vector<DeferredMessage> deferred_messages;
  std::vector<DeferredReply> deferred_replies;
  bool empty() const {
    return records.empty() && messages.empty() && replies.empty() && deferred_messages.empty() &&
           deferred_replies.empty();
  }
};

// What every protocol core is to the one loop that drives it (node/core_runner.h): inputs
// Step/Tick/OnDurable and output TakeReady, like etcd raft's Node. Client requests are each
// core's own methods; the driver drains the core after calling one.
class ProtocolCore {
 public:
  virtual ~ProtocolCore() = default;
  virtual void Step(const Message& m) = 0;
  virtual void Tick() = 0;
  // Every record up to lsn is durable. REQUIRES: lsn never decreases and was appended.
  virtual void OnDurable(Lsn lsn) = 0;
  virtual Ready TakeReady() = 0;
  // Another group (the coordinator's, or a shard's) has a new primary: whatever waits on a
  // resend to it goes at the next tick, its backoff begun again, instead of when a timer grown
  // long during the outage fires. Resolution after a failover starts from the failover.
  virtual void OnPeerMoved(NodeRef /*group*/) {}
};

// Holds messages and replies until the log is durable far enough. Both cores use it. Items are
// kept by the lsn they wait for (in hold order within one lsn), so a Release that frees nothing
// costs one comparison: cores call it after every input.
class DurabilityGate {
 public:
  void HoldMessage(Lsn after, Message m, Ready& out) {
    out.deferred_messages.push_back({after, m});
    messages_.emplace(after, std::move(m));
  }
  void HoldReply(Lsn after, ClientReply r, Ready& out) {
    out.deferred_replies.push_back({after, r});
    replies_.emplace(after, std::move(r));
  }
  // Moves everything waiting on lsn <= durable into out.messages / out.replies, in lsn order.
  void Release(Lsn durable, Ready& out);
  size_t waiting() const { return messages_.size() + replies_.size(); }

 private:
  std::multimap<Lsn, Message> messages_;
  std::multimap<Lsn, ClientReply> replies_;
};

}  // namespace txcoord
