// CoreLog: one core incarnation's log, on a Wal (wal.h). The production drivers of both cores use
// it; the simulator has its own in-memory log (tests/sim/storage.h).
//
// Positions and lsns are one numbering: a core numbers its records by their log positions (it
// is restored with the log's end and continues from there), so a record is at the same position
// in every incarnation and, with replication, on every replica.
//
// Shard data. With apply_writes (a shard), the writes a COMMITTED record carries go into the same
// Wal batch as the record: the store is updated exactly when the commit is durable.
//
// Truncation (DESIGN.md section 5: the log must not grow without bound). CoreLog remembers, for
// every transaction with a record, the position of its first record. A transaction the core no
// longer drives (is_live false: the coordinator has ENDed or forgotten it, the shard has decided
// it) is finished; its records are kept until `retain_finished` newer transactions have finished,
// so a late question about a recent transaction (a duplicate COMMIT, a 3PC termination query, a
// one-phase outcome query) is still answered from the log after a restart. Everything before the
// first record of the oldest transaction still needed is deleted. Records that belong to no
// transaction (a shard's EPOCH-SEEN) are not tracked: the driver keeps what they say in Wal
// metadata before it truncates (see the participant service).
//
// Not thread-safe: the driver's io thread owns it.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <set>
#include <vector>

#include "common/protocol.h"
#include "common/status.h"
#include "wal/wal.h"

namespace txcoord::wal {

class CoreLog {
 public:
  // REQUIRES: wal outlives this.
  CoreLog(Wal* wal, bool apply_writes, size_t retain_finished);

  // Appends one Ready's records (their lsns continue the log: Wal::Append) in one group-commit
  // batch. Fails only when the Wal has failed (the node must stop: see Wal::status).
  Status Append(const std::vector<Record>& records);

  // Tracks a record of an earlier incarnation, found by the startup scan (Wal::Scan), so that
  // truncation keeps it until the core has finished its transaction. Call before any Append.
  void Restored(uint64_t position, const Record& record);

  // Marks finished the tracked transactions the core no longer drives, and returns the position
  // before which no record is needed any more. Never above durable_position + 1.
  uint64_t Floor(const std::function<bool(TxnId)>& is_live, uint64_t durable_position);

  // Deletes every record before `floor` (from Floor) if that frees at least min_records records
  // since the last truncation. Returns whether it truncated.
  Result<bool> MaybeTruncate(uint64_t floor, uint64_t min_records);

  size_t tracked() const { return first_position_.size(); }
  size_t retained() const { return retained_.size(); }
  uint64_t truncated_before() const { return truncated_before_; }

 private:
  Wal* wal_;
  bool apply_writes_;
  size_t retain_finished_;
  std::map<TxnId, uint64_t> first_position_;         // live (not yet seen finished) transactions
  std::multimap<uint64_t, TxnId> by_position_;       // the same, by first position
  std::deque<std::pair<TxnId, uint64_t>> retained_;  // finished, oldest first
  std::multiset<uint64_t> retained_positions_;
  uint64_t truncated_before_ = 0;
};

}  // namespace txcoord::wal
