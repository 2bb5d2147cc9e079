// Simulated write-ahead logs of txsim: disks that lose unsynced data on a crash, with random sync
// latency and group commit, driven by an injected Rng (STYLE.md 3 and 8).
//
// SimLog is one replica's log (every replica of every group has its own; replication between them
// is the real replication core's, tests/sim/cluster.cc).
//
// Group commit model: a sync starts on the first Tick at which records are pending and
// no sync is in flight; it takes every record pending at that moment and makes them durable
// together, in append order, after a random latency in [1, max_sync_ticks] ticks. Records appended
// while a sync is in flight wait for the next sync. A crash loses everything not yet durable,
// including the batch of a sync still in flight.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <vector>

#include "common/ids.h"
#include "common/protocol.h"
#include "common/rng.h"

namespace txcoord::sim {

class SimLog {
 public:
  // REQUIRES: max_sync_ticks >= 1.
  explicit SimLog(int64_t max_sync_ticks = 3);

  // Stores r as pending (not durable). REQUIRES: r.lsn == next_position() (a record's lsn is
  // its position in the log, in every incarnation).
  void Append(const Record& r);

  // Advances the disk to time now: completes a sync whose latency has elapsed, then starts a sync
  // of all pending records if there are any and none is in flight. Returns the highest core lsn
  // that became durable in this call (the caller feeds it to the core's OnDurable), or nullopt.
  std::optional<Lsn> Tick(Ticks now, Rng& rng);

  // The node crashed: drops every non-durable record (pending or in an unfinished sync; counted
  // in records_lost_in_crash()) and returns the durable records, in append order, for the caller
  // to rebuild the node's core from. Call NewIncarnation() before the new core appends.
  std::vector<Record> Crash();

  // Starts a new core incarnation, which continues the log after its durable records (the
  // positions of records lost in the crash are taken again).
  // REQUIRES: nothing pending and no sync in flight (Crash() ensures this).
  void NewIncarnation();

  // Drops every record after position: durable, in a sync in flight, or pending (a replica
  // truncating what diverges from its primary's log). Later appends continue at position + 1.
  void TruncateAfter(Lsn position);
  // Drops every record before `first` (durable ones: REQUIRES first <= durable_lsn() + 1).
  void TruncateBefore(Lsn first);
  // Drops every record; the next append takes position `first` (a state transfer installed).
  void Reset(Lsn first);
  // The disk is lost: every record goes (a replica whose disk was wiped).
  void Wipe();
  // The record at position, durable or not (nullptr if none).
  const Record* At(Lsn position) const;

  // Every durable record the log still holds (from first_position()), in append order.
  const std::vector<Record>& durable() const { return durable_; }
  // The first position the log holds (or would: the next of an empty log after a truncation).
  Lsn first_position() const { return base_ + 1; }
  // The position of the last durable record (0 if none).
  Lsn durable_lsn() const { return base_ + durable_.size(); }
  // The position the next appended record takes.
  Lsn next_position() const {
    return base_ + durable_.size() + syncing_.size() + pending_.size() + 1;
  }
  // Records appended but not yet durable (pending or in the sync in flight).
  size_t not_durable() const { return pending_.size() + syncing_.size(); }
  bool sync_in_flight() const { return !syncing_.empty(); }

  // Counters since construction.
  uint64_t syncs() const { return syncs_; }  // completed syncs
  uint64_t records_durable() const { return records_durable_; }
  uint64_t records_lost_in_crash() const { return records_lost_in_crash_; }

 private:
  int64_t max_sync_ticks_;
  std::vector<Record> pending_;  // appended, waiting for the next sync
  std::vector<Record> syncing_;  // the batch of the sync in flight (empty: none)
  Ticks sync_done_at_ = 0;
  std::vector<Record> durable_;  // positions base_ + 1, ...
  Lsn base_ = 0;

  uint64_t syncs_ = 0;
  uint64_t records_durable_ = 0;
  uint64_t records_lost_in_crash_ = 0;
};

}  // namespace txcoord::sim
