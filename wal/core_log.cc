#include "wal/core_log.h"

#include <algorithm>

#include "common/check.h"

namespace txcoord::wal {

CoreLog::CoreLog(Wal* wal, bool apply_writes, size_t retain_finished)
    : wal_(wal), apply_writes_(apply_writes), retain_finished_(retain_finished) {}

Status CoreLog::Append(const std::vector<Record>& records) {
  if (records.empty()) return Status::Ok();
  std::vector<Write> data;
  if (apply_writes_) {
    for (const Record& r : records) {
      if (r.type == RecordType::kCommitted)
        data.insert(data.end(), r.writes.begin(), r.writes.end());
    }
  }
  const bool lazy =
      std::all_of(records.begin(), records.end(), [](const Record& r) { return r.lazy; });
  if (Status s = wal_->Append(records, data, lazy); !s.ok()) return s;
  for (const Record& r : records) {
    if (!r.txn.valid()) continue;
    if (first_position_.emplace(r.txn, r.lsn).second) by_position_.emplace(r.lsn, r.txn);
  }
  return Status::Ok();
}

void CoreLog::Restored(uint64_t position, const Record& record) {
  if (truncated_before_ == 0) truncated_before_ = position;  // the scan starts at the floor
  if (!record.txn.valid()) return;
  if (first_position_.emplace(record.txn, position).second) {
    by_position_.emplace(position, record.txn);
  }
}

uint64_t CoreLog::Floor(const std::function<bool(TxnId)>& is_live, uint64_t durable_position) {
  for (auto it = by_position_.begin(); it != by_position_.end();) {
    if (is_live(it->second)) {
      ++it;
      continue;
    }
    retained_.emplace_back(it->second, it->first);
    retained_positions_.insert(it->first);
    first_position_.erase(it->second);
    it = by_position_.erase(it);
  }
  while (retained_.size() > retain_finished_) {
    retained_positions_.erase(retained_positions_.find(retained_.front().second));
    retained_.pop_front();
  }
  uint64_t floor = durable_position + 1;
  if (!by_position_.empty()) floor = std::min(floor, by_position_.begin()->first);
  if (!retained_positions_.empty()) floor = std::min(floor, *retained_positions_.begin());
  return floor;
}

Result<bool> CoreLog::MaybeTruncate(uint64_t floor, uint64_t min_records) {
  if (floor <= truncated_before_ || floor - truncated_before_ < min_records) return false;
  if (Status s = wal_->TruncateBefore(floor); !s.ok()) return s;
  truncated_before_ = floor;
  return true;
}

}  // namespace txcoord::wal
