#include "wal/retention.h"

#include <algorithm>

namespace txcoord::wal {

void LogRetention::Track(const Record& record) {
  if (!record.txn.valid()) return;
  if (first_position_.emplace(record.txn, record.lsn).second) {
    by_position_.emplace(record.lsn, record.txn);
  }
}

uint64_t LogRetention::Floor(const std::function<bool(TxnId)>& is_live,
                             uint64_t durable_position) {
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

}  // namespace txcoord::wal
