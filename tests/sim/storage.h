// Simulated write-ahead logs of txsim: disks that lose unsynced data on a crash, with random sync
// latency and group commit, driven by an injected Rng (STYLE.md 3 and 8).
//
// SimLog is one node's log (a participant shard, or any node with a private log).
// SharedDecisionLog is the coordinator group's replicated decision log, shared by successive
// coordinator incarnations and fenced by epoch: the role etcd's compare-and-swap on the epoch plays
// in production (DESIGN.md section 5).
//
// Group commit model (both logs): a sync starts on the first Tick at which records are pending and
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

  // Every durable record of every incarnation, in append order.
  const std::vector<Record>& durable() const { return durable_; }
  // The position of the last durable record (0 if none).
  Lsn durable_lsn() const { return durable_.size(); }
  // The position the next appended record takes.
  Lsn next_position() const { return durable_.size() + syncing_.size() + pending_.size() + 1; }
  // Records appended but not yet durable (pending or in the sync in flight).
  size_t not_durable() const { return pending_.size() + syncing_.size(); }
  bool sync_in_flight() const { return !syncing_.empty(); }

  // Counters since construction.
  uint64_t syncs() const { return syncs_; }  // completed syncs
  uint64_t records_durable() const { return records_durable_; }
  uint64_t records_lost_in_crash() const { return records_lost_in_crash_; }

 private:
  const int64_t max_sync_ticks_;
  std::vector<Record> pending_;  // appended, waiting for the next sync
  std::vector<Record> syncing_;  // the batch of the sync in flight (empty: none)
  Ticks sync_done_at_ = 0;
  std::vector<Record> durable_;

  uint64_t syncs_ = 0;
  uint64_t records_durable_ = 0;
  uint64_t records_lost_in_crash_ = 0;
};

// Durability news for one coordinator incarnation: every record it appended up to lsn is durable.
struct WriterDurable {
  Epoch writer = 0;
  Lsn lsn = 0;
  bool operator==(const WriterDurable&) const = default;
};

class SharedDecisionLog {
 public:
  // REQUIRES: max_sync_ticks >= 1.
  explicit SharedDecisionLog(int64_t max_sync_ticks = 3);

  // Appends r on behalf of the coordinator incarnation with epoch `writer`. Returns false and
  // stores nothing (counted in appends_rejected()) if writer < fence(): a deposed coordinator can
  // change nothing. Otherwise r is pending like in SimLog. A writer is expected to have raised the
  // fence to its own epoch with FenceAndRead before appending (a writer above the fence is
  // accepted as is), so one writer appends at a time. REQUIRES: r.lsn is the record's position in
  // the log (the writer was restored with the durable log's end).
  bool Append(Epoch writer, const Record& r);

  // Advances the disk as SimLog::Tick does. Returns, for each writer with records that became
  // durable in this call, the highest such lsn; ordered by writer epoch.
  std::vector<WriterDurable> Tick(Ticks now, Rng& rng);

  // Atomically raises the fence to new_epoch and returns every durable record, in append order.
  // Conservative model of a fenced log: every non-durable record of a writer < new_epoch
  // (pending or in the sync in flight) is dropped now and never becomes durable (counted in
  // records_lost_to_fence()). Durable records are never discarded.
  // REQUIRES: new_epoch > fence().
  std::vector<Record> FenceAndRead(Epoch new_epoch);

  // The writer's process crashed: drops its non-durable records (counted in
  // records_lost_in_crash()). Other writers' records are untouched.
  void CrashWriter(Epoch writer);

  Epoch fence() const { return fence_; }
  const std::vector<Record>& durable() const { return durable_; }
  // Highest durable lsn of writer (0 if none).
  Lsn durable_lsn(Epoch writer) const;
  size_t not_durable() const { return pending_.size() + syncing_.size(); }
  bool sync_in_flight() const { return !syncing_.empty(); }

  // Counters since construction.
  uint64_t syncs() const { return syncs_; }
  uint64_t records_durable() const { return records_durable_; }
  uint64_t records_lost_in_crash() const { return records_lost_in_crash_; }
  uint64_t records_lost_to_fence() const { return records_lost_to_fence_; }
  uint64_t appends_rejected() const { return appends_rejected_; }

 private:
  struct Entry {
    Epoch writer = 0;
    Record record;
  };
  // Removes the non-durable entries for which drop(writer) holds; returns how many.
  template <typename Pred>
  uint64_t DropNotDurable(Pred drop);

  const int64_t max_sync_ticks_;
  Epoch fence_ = 0;
  std::vector<Entry> pending_;
  std::vector<Entry> syncing_;
  Ticks sync_done_at_ = 0;
  std::vector<Record> durable_;
  std::map<Epoch, Lsn> durable_lsn_;    // per writer

  uint64_t syncs_ = 0;
  uint64_t records_durable_ = 0;
  uint64_t records_lost_in_crash_ = 0;
  uint64_t records_lost_to_fence_ = 0;
  uint64_t appends_rejected_ = 0;
};

}  // namespace txcoord::sim
