// ReplicaCore: one replica of a replica group's log, as a pure state machine (DESIGN.md section 5,
// STYLE.md 1-3). The coordinator group and every shard group run it unchanged: it knows records
// only as positions, epochs and opaque payloads to ship.
//
// The design is PacificA's primary-backup log shipping with the configuration master outside the
// data path (Kafka's ISR is the same idea):
//
//  - The group's configuration {version, epoch, primary, members, isr} lives in a configuration
//    store and changes only by compare-and-swap on its version; every change bumps the epoch.
//    The core asks for changes (Ready::propose) and learns the outcome (OnConfig/OnProposed).
//  - The primary appends (Append), ships records to every member in batches, pipelined, and
//    counts a position committed once it is durable locally and acknowledged durable by every
//    ISR member (and every member a pending change is adding). Nothing is committed while the
//    ISR has fewer than min_insync members. Ready::committed tells the driver, which then feeds
//    OnDurable to the protocol core: "durable" means committed.
//  - Every message carries the sender's epoch. A replica remembers the highest epoch it has seen
//    (Ready::persist_epoch: the driver keeps it durably before sending anything after it) and
//    answers an older one with kStale, changing nothing.
//  - Failure detection rides on replication traffic. Each append carries the primary's send
//    time, echoed in the ack. A backup that has acknowledged nothing sent in the last
//    lag_timeout_ticks is removed from the ISR by CAS before anything is committed without it.
//    The primary serves only while every ISR backup acknowledged something sent within the last
//    lease_ticks. A backup in the ISR that has heard nothing from its primary for grace_ticks
//    (> lease_ticks) proposes itself as primary of epoch + 1. Only an ISR member ever proposes
//    itself: there is no unclean election.
//  - A new primary reconciles before it serves: it probes every member from its log end; a
//    member whose log does not match answers with its last position and that position's epoch,
//    and the primary resends from the end of that epoch in its own log (KIP-279), so divergence
//    is found by epoch, never by a watermark. A member truncates what diverges and takes the
//    primary's records. The primary is activated (Ready::activated: the driver restores the
//    protocol core from the log) once everything it held at promotion is committed.
//  - A member outside the ISR catches up from the primary's log (from memory, or through
//    Ready::reads when it is older than the in-memory tail) and is added back by CAS once it
//    holds every committed record. One that needs records the primary's log no longer holds
//    gets a state transfer first: the driver's snapshot of the replica's state, in chunks
//    (kTransfer, each acknowledged), which replaces the member's state and log; its log then
//    starts where the primary's did, and shipping goes on from there.
//  - Logs are truncated from the front: the primary where its driver asks (what no transaction
//    needs any more), never past a record an ISR member lacks or one a transfer in progress will
//    ship, and past a lagging member's only beyond `retain_for_lagging_records`; backups follow
//    the primary's log start (each append carries it) once they have committed that far. Every
//    record before a replica's log start is committed.
//  - A replica that restarts never appends in an epoch it held before the restart (it might
//    have lost records that others received): a restarted primary asks for epoch + 1 first.
//
// Time is counted in ticks (Tick(elapsed)): the driver reports the real elapsed time, so a
// process paused for a while sees its lease expired the moment it wakes up.
#pragma once

#include <climits>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/ids.h"
#include "common/protocol.h"

namespace txcoord::replication {

using ReplicaId = int32_t;

// The identity of one replica's disk (its log): made when its data directory is created, never
// 0. A replica whose disk was wiped comes back with a new one, so an ISR entry naming the old
// disk no longer counts it: it cannot be promoted, nor count towards a commit, until it has
// caught up and rejoined.
using DiskId = uint64_t;

struct GroupConfig {
  uint64_t version = 0;  // the store's CAS token: every change increments it
  Epoch epoch = 0;       // bumped by every change; the fencing token
  ReplicaId primary = -1;
  std::vector<ReplicaId> members;  // sorted
  // The in-sync replicas and the disk each joined with; holds the primary. Disk 0 is written
  // only by the bootstrap for the first primary ("the disk it first starts with"); the primary
  // replaces it with its own at its first change of the configuration.
  std::map<ReplicaId, DiskId> isr;
  bool InIsr(ReplicaId r) const { return isr.count(r) != 0; }
  bool InIsrWith(ReplicaId r, DiskId disk) const;
  bool IsMember(ReplicaId r) const;
  bool operator==(const GroupConfig&) const = default;
};
std::string Describe(const GroupConfig& c);

enum class ReplType : uint8_t {
  kAppend = 1,     // primary -> member: records after (prev_position, prev_epoch); a heartbeat
                   // when it carries none
  kAppendAck = 2,  // member -> primary: ok (durable match) or a mismatch (last position/epoch)
  kStale = 3,      // anyone -> sender of an older epoch: `epoch` is newer, nothing changed
  kTransfer = 4,   // primary -> member: chunk transfer_seq of state transfer transfer_id
  kTransferAck = 5,  // member -> primary: ok (chunk held; the last: installed) or refused
};
const char* ToString(ReplType t);

struct ReplMessage {
  ReplType type = ReplType::kAppend;
  ReplicaId from = -1;
  ReplicaId to = -1;
  Epoch epoch = 0;  // the sender's group epoch (kStale: the newest the sender has seen)
  // kAppend
  Lsn prev_position = 0;
  Epoch prev_epoch = 0;
  std::vector<Record> records;  // positions prev_position + 1, ...; each with its log_epoch
  Lsn commit_position = 0;
  Ticks sent_at = 0;  // the primary's clock; echoed by the ack (lease)
  Lsn log_start = 0;  // kAppend: the primary's first log position (backups truncate up to it)
  // kTransfer: the transfer's state replaces the member's, whose log then starts after
  // prev_position (its epoch prev_epoch); `last` ends it. kTransferAck echoes id and seq.
  uint64_t transfer_id = 0;
  uint64_t transfer_seq = 0;
  bool last = false;
  std::string payload;  // opaque to the core: the driver's snapshot chunk
  // kAppendAck
  bool ok = false;
  DiskId disk = 0;         // the member's disk
  Lsn match_position = 0;  // ok: the member's log equals the primary's and is durable up to here
  Lsn last_position = 0;   // !ok: the member's log matches at most up to here...
  Epoch last_epoch = 0;    // ...where it holds this epoch
};

struct ReplicaOptions {
  ReplicaId self = 0;
  DiskId disk = 1;
  size_t min_insync = 2;
  Ticks heartbeat_ticks = 5;       // an idle primary sends an empty append this often
  Ticks lag_timeout_ticks = 20;    // an ISR backup silent this long (from send time) is removed
  Ticks lease_ticks = 30;          // the primary serves while every ISR backup acked this recently
  Ticks grace_ticks = 45;          // a backup proposes itself after hearing nothing this long
  size_t max_batch_records = 256;  // records per append message
  size_t max_in_flight_records = 4096;  // shipped and not yet acknowledged, per member
  size_t max_tail_records = 100000;     // records kept in memory for shipping
  // A proposal unanswered this long is given up (its answer may have been lost); the next read
  // of the store says whether it took.
  Ticks proposal_timeout_ticks = 100;
  // A member outside the ISR keeps the primary from truncating its log only while it lags by
  // less than this; beyond it, it gets a state transfer when it returns.
  Lsn retain_for_lagging_records = 100000;
};

// Where a log begins: every record before `first` is committed and gone; `epoch_before` is the
// epoch of record first - 1 (0 when first is 1, or when an older format did not keep it).
struct LogStart {
  Lsn first = 1;
  Epoch epoch_before = 0;
  bool operator==(const LogStart&) const = default;
};

// The newest state transfer a replica began installing (epoch of its primary, transfer id):
// kept durably with it, so a delayed copy of an older transfer's first chunk never wipes it.
struct TransferMark {
  Epoch epoch = 0;
  uint64_t id = 0;
  auto operator<=>(const TransferMark&) const = default;
};

// A request to the driver for chunk `seq` of state transfer `id` to member `to`: seq 0 takes a
// new snapshot of this replica's state, which must hold the effect of every record before
// start.first (a shard's store applied at least that far); later ones continue it.
struct TransferRead {
  ReplicaId to = -1;
  uint64_t id = 0;
  uint64_t seq = 0;
  LogStart start;
};

// A state transfer being installed on this replica, in the order the driver applies it:
// `begin` drops the replica's state and log (a new transfer), `chunks` are written, and `done`
// makes it whole: the log starts at done->first, durably, before anything after it is sent.
// `begin` and `done` without chunks install the empty state (a transfer given up).
struct Install {
  // A new transfer: drop everything, and keep `mark` and the replica's new disk id durably
  // first (an install is a new disk: what the replica acknowledged before no longer counts).
  bool begin = false;
  TransferMark mark;
  DiskId disk = 0;
  std::vector<std::string> chunks;
  std::optional<LogStart> done;
};

// A request to the driver for records only its log holds (older than the in-memory tail).
struct LogRead {
  ReplicaId to = -1;
  Lsn from = 0;
  Lsn to_position = 0;  // inclusive
};

struct ReplicaReady {
  std::optional<Epoch> persist_epoch;  // first: keep durably (before sending what follows)
  std::optional<Install> install;      // then: a state transfer's part
  std::optional<Lsn> truncate_after;   // then: drop every local record after this position
  std::vector<Record> append;          // then: append locally, in position order
  std::vector<ReplMessage> messages;   // then: send
  std::optional<Lsn> committed;        // the commit position advanced to here
  std::optional<GroupConfig> propose;  // a CAS on the configuration store (version = expected)
  std::vector<LogRead> reads;
  std::vector<TransferRead> transfer_reads;
  // After `committed` is applied: drop every record before truncate_before->first.
  std::optional<LogStart> truncate_before;
  bool role_changed = false;  // primary()/serving()/activated() may have changed
  bool empty() const {
    return !persist_epoch && !install && !truncate_after && append.empty() && messages.empty() &&
           !committed && !propose && reads.empty() && transfer_reads.empty() &&
           !truncate_before && !role_changed;
  }
};

struct ReplicaStats {
  uint64_t appends_shipped = 0;  // append messages sent
  uint64_t records_shipped = 0;
  uint64_t truncations = 0;
  uint64_t stale_refused = 0;
  uint64_t proposals = 0;
  uint64_t transfers_started = 0;  // primary: state transfers begun
  uint64_t transfers_installed = 0;  // member: state transfers installed
};

class ReplicaCore {
 public:
  explicit ReplicaCore(ReplicaOptions options);

  // The replica's durable log at start (positions start.first.., in order, each with its
  // log_epoch), every record of it durable, and the highest epoch it has seen. Call once,
  // before any input.
  void Restore(const std::vector<Record>& log, Epoch epoch_seen, LogStart start = {},
               TransferMark last_transfer = {});

  // The configuration store's current value (watch or poll); an older one is ignored.
  void OnConfig(const GroupConfig& config);
  // The outcome of the last Ready::propose: ok, and the store's value now either way.
  void OnProposed(bool ok, const GroupConfig& current);

  // Primary, activated: the protocol core's records. REQUIRES: their lsns continue the log.
  void Append(std::vector<Record> records);
  void Step(const ReplMessage& m);
  void Tick(Ticks elapsed = 1);
  // The local log is durable up to position (reports never go backwards within a log that is
  // not truncated; a truncation clamps it).
  void OnLocalDurable(Lsn position);
  // Records the driver read for a LogRead.
  void OnLogRead(ReplicaId to, std::vector<Record> records);
  // The chunk the driver read for a TransferRead (`last`: the snapshot ends with it); nullopt:
  // it cannot make one now (the transfer is given up and begun again later).
  void OnTransferRead(ReplicaId to, uint64_t id, uint64_t seq, std::optional<std::string> chunk,
                      bool last);
  // Primary: the driver would drop every record before `floor` (no transaction needs them). The
  // core truncates at most that far, only where the group allows (see the top of this file).
  void TruncateBefore(Lsn floor);

  ReplicaReady TakeReady();

  bool primary() const { return role_ == Role::kPrimary; }
  // Primary, reconciled: the protocol core runs on this replica.
  bool activated() const { return primary() && activated_; }
  // Activated and holding its lease: may answer clients and protocol messages.
  bool serving() const { return activated() && LeaseHeld(); }
  const GroupConfig& config() const { return config_; }
  Epoch epoch_seen() const { return epoch_seen_; }
  DiskId disk() const { return disk_; }
  // The epoch this replica became primary in (its protocol core's epoch), 0 if not primary.
  Epoch primary_epoch() const { return primary() ? primary_epoch_ : 0; }
  Lsn last_position() const { return last_; }
  Lsn durable_position() const { return durable_; }
  Lsn commit_position() const { return commit_; }
  LogStart log_start() const { return {first_, start_epoch_}; }
  // The epoch of the record at position (0 for position 0 or one not held).
  Epoch EpochAt(Lsn position) const;
  const ReplicaStats& stats() const { return stats_; }
  // Primary: each other member's log position acknowledged durable and equal to ours (empty
  // when not primary). What log truncation and operators' lag figures look at.
  std::map<ReplicaId, Lsn> MemberMatches() const;

 private:
  enum class Role { kIdle, kBackup, kPrimary };
  static constexpr Ticks kNever = INT64_MIN / 4;
  struct Member {
    Lsn next = 1;         // next position to ship
    Lsn match = 0;        // acknowledged durable and equal to ours up to here, on `disk`
    DiskId disk = 0;      // the disk its acks name (0: none yet)
    bool probing = true;  // waiting for an answer to a probe: ship nothing more until then
    // Send time of the newest message it acknowledged in this term: the lease counts only acks
    // to what this primary sent, never the promotion itself.
    Ticks acked_sent_at = kNever;
    Ticks last_sent = kNever;
    Ticks answered_at = kNever;  // when it last answered anything (an ack or a transfer ack)
    bool read_pending = false;
    // A state transfer in progress (id 0: none): the chunk awaiting its ack, the log start the
    // member will have, and when the chunk was sent (a lost one restarts the transfer).
    uint64_t transfer_id = 0;
    uint64_t transfer_seq = 0;
    bool transfer_reading = false;
    LogStart transfer_start;
    Ticks transfer_sent = kNever;
  };

  void BecomePrimary();
  void BecomeBackup();
  void OnAppend(const ReplMessage& m);
  void OnAck(const ReplMessage& m);
  // Primary: the member an ack or a transfer ack comes from (null when not ours to hear), its
  // disk updated (another disk: its match is void).
  Member* Answering(const ReplMessage& m);
  void OnTransfer(const ReplMessage& m);
  void OnTransferAck(const ReplMessage& m);
  // Primary: begins (again) a state transfer to a member that needs records before our log.
  void StartTransfer(ReplicaId id, Member& mem);
  // A member's log: a new primary (or a new term of it) resets what we matched.
  void FollowPrimary(const ReplMessage& m);
  // Drops every record before `first` (all committed).
  void DropBefore(Lsn first);
  void SeeEpoch(Epoch e);
  void Demote();
  void AppendLocal(const Record& r);
  void TruncateAfter(Lsn position);
  void AdvanceCommit(Lsn to);
  void PrimaryCommit();
  // Ships to one member what it needs next, and an empty append when a heartbeat is due (or
  // `force`). A probing member gets one probe per heartbeat unless forced.
  void Ship(ReplicaId id, Member& m, bool force);
  void ShipAll();
  // One append to a member: its records follow mem.next - 1 (empty: a heartbeat or a probe).
  void SendAppend(ReplicaId id, Member& mem, std::vector<Record> records);
  void SendAck(ReplicaId to, Ticks sent_at);
  // The configuration after ours: the next version in a new epoch, ourselves on our own disk.
  GroupConfig Successor() const;
  void Propose(GroupConfig next);
  // After an ack from id (on disk): drop it from the ISR if it lost its disk, add it back once
  // it holds every committed record.
  void CheckIsr(ReplicaId id, DiskId disk);
  // Proposes to drop an ISR backup that acknowledged nothing sent in the last lag timeout.
  void CheckLag();
  bool LeaseHeld() const;
  void TrimTail();
  // The last position of ours whose epoch is at most e (KIP-279's end offset for epoch e).
  Lsn EndOfEpoch(Epoch e) const;
  const Record* RecordAt(Lsn position) const;
  ReplMessage To(ReplicaId to, ReplType type) const;

  ReplicaOptions options_;
  DiskId disk_;  // options_.disk, until an installed state transfer makes a new one
  Role role_ = Role::kIdle;
  GroupConfig config_;
  Epoch epoch_seen_ = 0;
  Epoch restored_epoch_ = 0;  // epoch_seen_ at Restore: never append in it or before
  Epoch primary_epoch_ = 0;
  Ticks primary_since_ = 0;
  bool activated_ = false;
  Lsn activation_position_ = 0;
  Ticks now_ = 0;

  // The local log: positions first_..last_; history_ maps each epoch to its first position.
  Lsn first_ = 1;
  Epoch start_epoch_ = 0;  // of record first_ - 1
  Lsn last_ = 0;
  Lsn durable_ = 0;
  Lsn commit_ = 0;
  std::map<Epoch, Lsn> history_;
  std::deque<Record> tail_;  // the newest records, positions tail_start_..last_
  Lsn tail_start_ = 1;

  // Primary.
  std::map<ReplicaId, Member> members_;
  std::optional<GroupConfig> pending_;  // a proposal in flight (one at a time)
  Ticks pending_since_ = 0;
  std::vector<GroupConfig> unresolved_;  // proposals that may have taken: no read settled them

  // Backup.
  ReplicaId primary_id_ = -1;
  Ticks heard_at_ = 0;
  Lsn match_ = 0;           // our log equals the current primary's up to here
  Ticks last_sent_at_ = 0;  // of the newest append from the current primary
  Epoch match_epoch_ = 0;   // the primary epoch match_ was established under
  // A state transfer being received: the newest begun, whether it is still going, next chunk.
  TransferMark transfer_mark_;  // the newest transfer begun here (durable)
  bool transfer_active_ = false;
  uint64_t transfer_next_seq_ = 0;
  uint64_t next_transfer_id_ = 0;  // primary: the last transfer id begun

  ReplicaReady ready_;
  ReplicaStats stats_;
};

}  // namespace txcoord::replication
