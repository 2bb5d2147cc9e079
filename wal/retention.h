// LogRetention: which records of a node's log are still needed, so the log does not grow without
// bound (DESIGN.md section 5). Pure bookkeeping: the node driver feeds it every record appended
// or found at startup and deletes what it says is no longer needed (Wal::TruncateBefore).
//
// It remembers, for every transaction with a record, the position of its first record. A
// transaction the core no longer drives (is_live false: the coordinator has ENDed or forgotten it,
// the shard has decided it) is finished; its records are kept until `retain_finished` newer
// transactions have finished, so a late question about a recent transaction (a duplicate COMMIT,
// a 3PC termination query, a one-phase outcome query) is still answered from the log after a
// restart. Everything before the first record of the oldest transaction still needed may go.
// Records that belong to no transaction (a shard's EPOCH-SEEN) are not tracked: the driver keeps
// what they say in metadata before it truncates (see the participant service).
//
// Not thread-safe: the driver's io thread owns it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <set>
#include <utility>

#include "common/protocol.h"

namespace txcoord::wal {

class LogRetention {
 public:
  explicit LogRetention(size_t retain_finished) : retain_finished_(retain_finished) {}

  // A record at position record.lsn, appended or found by the startup scan, in position order.
  void Track(const Record& record);

  // Marks finished the tracked transactions the core no longer drives, and returns the position
  // before which no record is needed any more. Never above durable_position + 1.
  uint64_t Floor(const std::function<bool(TxnId)>& is_live, uint64_t durable_position);

  size_t tracked() const { return first_position_.size(); }
  size_t retained() const { return retained_.size(); }

 private:
  size_t retain_finished_;
  std::map<TxnId, uint64_t> first_position_;         // live (not yet seen finished) transactions
  std::multimap<uint64_t, TxnId> by_position_;       // the same, by first position
  std::deque<std::pair<TxnId, uint64_t>> retained_;  // finished, oldest first
  std::multiset<uint64_t> retained_positions_;
};

}  // namespace txcoord::wal
