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
      TXC_CHECK(r.lsn == durable_.size() + 1);
      durable_.push_back(std::move(r));
    }
    records_durable_ += syncing_.size();
    ++syncs_;
    syncing_.clear();
    newly_durable = durable_.size();
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

// ---------------------------------------------------------------------------------------------
// SharedDecisionLog

SharedDecisionLog::SharedDecisionLog(int64_t max_sync_ticks) : max_sync_ticks_(max_sync_ticks) {
  TXC_CHECK(max_sync_ticks_ >= 1);
}

bool SharedDecisionLog::Append(Epoch writer, const Record& r) {
  if (writer < fence_) {
    ++appends_rejected_;
    return false;
  }
  // One writer at a time appends (every older one is fenced or crashed), so its lsns are the
  // log's positions.
  TXC_CHECK_MSG(r.lsn == durable_.size() + syncing_.size() + pending_.size() + 1,
                "SharedDecisionLog: a record's lsn must be its log position");
  pending_.push_back({writer, r});
  return true;
}

std::vector<WriterDurable> SharedDecisionLog::Tick(Ticks now, Rng& rng) {
  std::vector<WriterDurable> news;
  if (!syncing_.empty() && now >= sync_done_at_) {
    std::map<Epoch, Lsn> highest;
    for (Entry& e : syncing_) {
      highest[e.writer] = e.record.lsn;  // per writer, batches are in lsn order
      durable_.push_back(std::move(e.record));
    }
    for (const auto& [writer, lsn] : highest) {
      durable_lsn_[writer] = lsn;
      news.push_back({writer, lsn});
    }
    records_durable_ += syncing_.size();
    ++syncs_;
    syncing_.clear();
  }
  if (syncing_.empty() && !pending_.empty()) {
    syncing_.swap(pending_);
    sync_done_at_ = now + rng.Range(1, max_sync_ticks_);
  }
  return news;
}

template <typename Pred>
uint64_t SharedDecisionLog::DropNotDurable(Pred drop) {
  uint64_t dropped = 0;
  for (std::vector<Entry>* list : {&pending_, &syncing_}) {
    std::vector<Entry> kept;
    for (Entry& e : *list) {
      if (drop(e.writer)) {
        ++dropped;
      } else {
        kept.push_back(std::move(e));
      }
    }
    list->swap(kept);
  }
  // A sync whose whole batch was dropped is no longer in flight; the next Tick starts a new one
  // for whatever is pending.
  return dropped;
}

std::vector<Record> SharedDecisionLog::FenceAndRead(Epoch new_epoch) {
  TXC_CHECK_MSG(new_epoch > fence_, "SharedDecisionLog: fence must increase");
  fence_ = new_epoch;
  records_lost_to_fence_ += DropNotDurable([new_epoch](Epoch w) { return w < new_epoch; });
  return durable_;
}

void SharedDecisionLog::CrashWriter(Epoch writer) {
  records_lost_in_crash_ += DropNotDurable([writer](Epoch w) { return w == writer; });
}

Lsn SharedDecisionLog::durable_lsn(Epoch writer) const {
  auto it = durable_lsn_.find(writer);
  return it == durable_lsn_.end() ? 0 : it->second;
}

}  // namespace txcoord::sim
