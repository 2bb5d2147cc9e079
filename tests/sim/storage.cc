#include "tests/sim/storage.h"

#include <utility>

#include "common/check.h"

namespace txcoord::sim {

// ---------------------------------------------------------------------------------------------
// SimLog

SimLog::SimLog(int64_t max_sync_ticks) : max_sync_ticks_(max_sync_ticks) {
  TXC_CHECK(max_sync_ticks_ >= 1);
}

void SimLog::Append(const Record& r) {
  TXC_CHECK_MSG(r.lsn == next_position(), "SimLog: a record's lsn must be its log position");
  pending_.push_back(r);
}

std::optional<Lsn> SimLog::Tick(Ticks now, Rng& rng) {
  std::optional<Lsn> newly_durable;
  if (!syncing_.empty() && now >= sync_done_at_) {
    for (Record& r : syncing_) {
      TXC_CHECK(r.lsn == durable_lsn() + 1);
      durable_.push_back(std::move(r));
    }
    records_durable_ += syncing_.size();
    ++syncs_;
    syncing_.clear();
    newly_durable = durable_lsn();
  }
  if (syncing_.empty() && !pending_.empty()) {
    syncing_.swap(pending_);
    sync_done_at_ = now + rng.Range(1, max_sync_ticks_);
  }
  return newly_durable;
}

std::vector<Record> SimLog::Crash() {
  records_lost_in_crash_ += pending_.size() + syncing_.size();
  pending_.clear();
  syncing_.clear();
  return durable_;
}

void SimLog::NewIncarnation() {
  TXC_CHECK_MSG(pending_.empty() && syncing_.empty(), "SimLog: NewIncarnation with unsynced data");
}

void SimLog::TruncateAfter(Lsn position) {
  TXC_CHECK_MSG(position >= base_, "SimLog: truncating after a position already dropped");
  if (durable_lsn() > position) durable_.resize(position - base_);
  for (std::vector<Record>* list : {&syncing_, &pending_}) {
    while (!list->empty() && list->back().lsn > position) list->pop_back();
  }
}

void SimLog::TruncateBefore(Lsn first) {
  TXC_CHECK_MSG(first <= durable_lsn() + 1, "SimLog: dropping records that are not durable");
  if (first <= base_ + 1) return;
  durable_.erase(durable_.begin(), durable_.begin() + static_cast<std::ptrdiff_t>(first - 1 - base_));
  base_ = first - 1;
}

void SimLog::Reset(Lsn first) {
  TXC_CHECK(first >= 1);
  durable_.clear();
  syncing_.clear();
  pending_.clear();
  base_ = first - 1;
}

void SimLog::Wipe() {
  base_ = 0;
  durable_.clear();
  syncing_.clear();
  pending_.clear();
}

const Record* SimLog::At(Lsn position) const {
  if (position <= base_) return nullptr;
  if (position <= durable_lsn()) return &durable_[position - 1 - base_];
  for (const std::vector<Record>* list : {&syncing_, &pending_}) {
    for (const Record& r : *list) {
      if (r.lsn == position) return &r;
    }
  }
  return nullptr;
}

}  // namespace txcoord::sim
