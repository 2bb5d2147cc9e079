#include "wal/wal.h"

#include <algorithm>

#include <rocksdb/db.h>
#include <rocksdb/memtablerep.h>
#include <rocksdb/options.h>
#include <rocksdb/write_batch.h>

#include "wal/record_codec.h"

namespace txcoord::wal {
namespace {

constexpr char kTruncatedKey[] = "txcoord.wal.truncated_before";
constexpr char kTruncatedEpochKey[] = "txcoord.wal.truncated_epoch";

}  // namespace

Result<std::unique_ptr<Wal>> Wal::Open(std::shared_ptr<Db> db) {
  TXC_CHECK(db != nullptr);
  std::unique_ptr<Wal> wal(new Wal());
  wal->db_ = std::move(db);
  rocksdb::DB* rocks = wal->db_->rocks();
  // Positions continue after the last record, or after the truncation floor.
  uint64_t next = 1;
  std::string floor;
  if (rocks->Get(rocksdb::ReadOptions(), wal->db_->meta(), kTruncatedKey, &floor).ok()) {
    next = DecodePositionKey(floor);
  }
  std::unique_ptr<rocksdb::Iterator> it(rocks->NewIterator(rocksdb::ReadOptions(), wal->db_->log()));
  it->SeekToLast();
  if (it->Valid()) next = std::max(next, DecodePositionKey(it->key().ToStringView()) + 1);
  if (!it->status().ok()) return FromRocks(it->status(), "scanning the log tail");
  wal->next_position_ = next;
  wal->durable_ = next - 1;
  wal->written_ = wal->durable_;
  wal->syncer_ = std::thread([w = wal.get()] { w->SyncLoop(); });
  return wal;
}

Wal::~Wal() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  work_cv_.notify_all();
  if (syncer_.joinable()) syncer_.join();
}

Status Wal::Append(const std::vector<Record>& records, bool lazy) {
  TXC_CHECK(!records.empty());
  Pending p;
  p.lazy = lazy;
  p.records.reserve(records.size());
  for (const Record& r : records) p.records.push_back(EncodeRecord(r));  // outside the lock
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!status_.ok()) return status_;
    for (size_t i = 0; i < records.size(); ++i) {
      TXC_CHECK_MSG(records[i].lsn == next_position_ + i,
                    "appended records must continue the log: a record's lsn is its position");
    }
    p.first_position = next_position_;
    next_position_ += records.size();
    pending_.push_back(std::move(p));
  }
  work_cv_.notify_one();
  return Status::Ok();
}

uint64_t Wal::WriteAlong(std::function<void(rocksdb::WriteBatch&)> add) {
  uint64_t ticket = 0;
  bool first = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    first = along_.empty();
    if (first) along_deadline_ = std::chrono::steady_clock::now() + kLazySyncDelay;
    along_.push_back(std::move(add));
    ticket = ++along_ticket_;
  }
  // Only the syncer's deadline changes: it rides the next group, or is written by then.
  if (first) work_cv_.notify_one();
  return ticket;
}

Status Wal::WaitWrittenAlong(uint64_t ticket) {
  std::unique_lock<std::mutex> lock(mu_);
  // Queued: the syncer writes them now. (Not queued but not written: the syncer is writing them.)
  if (written_along() < ticket && status_.ok() && !along_.empty()) {
    along_wanted_ = true;
    work_cv_.notify_one();
  }
  durable_cv_.wait(lock, [&] { return written_along() >= ticket || !status_.ok(); });
  return written_along() >= ticket ? Status::Ok() : status_;
}

uint64_t Wal::next_position() const {
  std::lock_guard<std::mutex> lock(mu_);
  return next_position_;
}

void Wal::SetOnDurable(std::function<void(uint64_t)> on_durable) {
  std::lock_guard<std::mutex> lock(mu_);
  on_durable_ = std::move(on_durable);
}

void Wal::SyncLoop() {
  using Clock = std::chrono::steady_clock;
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    // Records wake the syncer at once. Lazily written records wait a little for an urgent
    // group's sync, then get their own: at most kLazySyncDelay after the first of them, however
    // many lazy groups follow. Writes along wait as long for a group to ride, unless somebody
    // waits for them (WaitWrittenAlong).
    const bool had_along = !along_.empty();  // its deadline is in the wait below
    auto work = [this, had_along] {
      return stop_ || !pending_.empty() || along_wanted_ || (!had_along && !along_.empty());
    };
    std::optional<Clock::time_point> deadline;
    if (written_ > durable_) deadline = lazy_deadline_;
    if (!along_.empty()) deadline = std::min(deadline.value_or(along_deadline_), along_deadline_);
    if (deadline) {
      work_cv_.wait_until(lock, *deadline, work);
    } else {
      work_cv_.wait(lock, work);
    }
    if (along_.empty()) along_wanted_ = false;  // nothing left to want: never spin on it
    if (pending_.empty()) {
      const Clock::time_point now = Clock::now();
      if (written_ > durable_ && (stop_ || now >= lazy_deadline_)) {
        const uint64_t last = written_;
        lock.unlock();
        Status s = FromRocks(db_->rocks()->SyncWAL(), "log sync of lazy appends");
        lock.lock();
        if (!Durable(lock, s, last)) return;
        continue;
      }
      const bool along_due = !along_.empty() && (stop_ || along_wanted_ || now >= along_deadline_);
      if (!along_due) {
        // Stopping, everything appended durable and every write along written.
        if (stop_ && along_.empty() && written_ <= durable_) return;
        continue;  // a deadline not reached yet
      }
    }
    std::vector<Pending> batch;
    batch.swap(pending_);
    std::vector<std::function<void(rocksdb::WriteBatch&)>> along;
    along.swap(along_);
    along_wanted_ = false;
    const uint64_t along_last = along_ticket_;
    lock.unlock();

    // One WriteBatch and at most one fsync for every append queued since the last round, and
    // the writes along queued with them.
    rocksdb::WriteBatch wb;
    uint64_t last = 0, records = 0;
    bool sync = false;
    for (const Pending& p : batch) {
      sync = sync || !p.lazy;
      for (size_t i = 0; i < p.records.size(); ++i) {
        wb.Put(db_->log(), PositionKey(p.first_position + i), p.records[i]);
      }
      last = p.first_position + p.records.size() - 1;
      records += p.records.size();
    }
    for (const auto& add : along) add(wb);
    rocksdb::WriteOptions wo;
    Status s;
    if (db_->options().sync_mode == DbOptions::SyncMode::kSyncWrite) {
      wo.sync = sync;
      s = FromRocks(db_->rocks()->Write(wo, &wb), "log group commit");
    } else {
      s = FromRocks(db_->rocks()->Write(wo, &wb), "log group commit");
      if (s.ok()) s = FromRocks(db_->rocks()->FlushWAL(sync), "log group commit sync");
    }

    lock.lock();
    if (!along.empty() && s.ok()) {
      written_along_.store(along_last, std::memory_order_release);
      stats_.along += along.size();
      durable_cv_.notify_all();
    }
    if (batch.empty()) {  // writes along alone
      if (!s.ok()) {
        status_ = s;  // sticky, as for records
        durable_cv_.notify_all();
        return;
      }
      ++stats_.along_alone;
      continue;
    }
    stats_.appends += batch.size();
    stats_.records += records;
    if (!sync && s.ok()) {
      ++stats_.lazy_writes;
      if (written_ <= durable_) lazy_deadline_ = std::chrono::steady_clock::now() + kLazySyncDelay;
      written_ = last;
      continue;
    }
    if (!Durable(lock, s, last)) return;
  }
}

bool Wal::Durable(std::unique_lock<std::mutex>& lock, const Status& s, uint64_t last) {
  if (!s.ok()) {
    status_ = s;  // sticky: nothing after this may be reported durable
    durable_cv_.notify_all();
    return false;
  }
  ++stats_.syncs;
  written_ = last;
  auto callback = on_durable_;
  lock.unlock();
  if (callback) callback(last);  // outside the lock: it may call back into the log
  lock.lock();
  // Only now: whoever WaitDurable()s on this position sees the callback already made.
  durable_ = last;
  durable_cv_.notify_all();
  return true;
}

Status Wal::WaitDurable(uint64_t position) {
  std::unique_lock<std::mutex> lock(mu_);
  durable_cv_.wait(lock, [&] { return durable_ >= position || !status_.ok(); });
  return durable_ >= position ? Status::Ok() : status_;
}

uint64_t Wal::durable_position() const {
  std::lock_guard<std::mutex> lock(mu_);
  return durable_;
}

Status Wal::Scan(uint64_t from, const std::function<bool(uint64_t, const Record&)>& fn) const {
  std::unique_ptr<rocksdb::Iterator> it(db_->rocks()->NewIterator(rocksdb::ReadOptions(), db_->log()));
  for (it->Seek(PositionKey(from)); it->Valid(); it->Next()) {
    const uint64_t position = DecodePositionKey(it->key().ToStringView());
    Result<Record> r = DecodeRecord(it->value().ToStringView());
    if (!r.ok()) {
      return Status::Corruption("log position " + std::to_string(position) + ": " +
                                r.status().message());
    }
    r.value().lsn = position;
    if (!fn(position, r.value())) return Status::Ok();
  }
  return FromRocks(it->status(), "scanning the log");
}

Status Wal::TruncateBefore(uint64_t position, uint64_t epoch_before) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    TXC_CHECK_MSG(position <= durable_ + 1, "truncating past the durable end of the log");
  }
  rocksdb::WriteBatch wb;
  wb.DeleteRange(db_->log(), PositionKey(0), PositionKey(position));
  wb.Put(db_->meta(), kTruncatedKey, PositionKey(position));  // positions are never reused
  wb.Put(db_->meta(), kTruncatedEpochKey, PositionKey(epoch_before));
  rocksdb::WriteOptions wo;
  wo.sync = db_->options().sync_mode == DbOptions::SyncMode::kSyncWrite;
  Status s = FromRocks(db_->rocks()->Write(wo, &wb), "truncating the log");
  if (s.ok() && !wo.sync) s = FromRocks(db_->rocks()->FlushWAL(true), "syncing the truncation");
  return s;
}

Result<Wal::Start> Wal::start() const {
  rocksdb::DB* rocks = db_->rocks();
  Start out;
  std::unique_ptr<rocksdb::Iterator> it(rocks->NewIterator(rocksdb::ReadOptions(), db_->log()));
  it->SeekToFirst();
  if (!it->status().ok()) return FromRocks(it->status(), "reading the log's start");
  out.first = it->Valid() ? DecodePositionKey(it->key().ToStringView()) : next_position();
  std::string floor;
  std::string epoch;
  rocksdb::Status f = rocks->Get(rocksdb::ReadOptions(), db_->meta(), kTruncatedKey, &floor);
  if (!f.ok() && !f.IsNotFound()) return FromRocks(f, "reading the log's start");
  rocksdb::Status e = rocks->Get(rocksdb::ReadOptions(), db_->meta(), kTruncatedEpochKey, &epoch);
  if (!e.ok() && !e.IsNotFound()) return FromRocks(e, "reading the log's start");
  if (f.ok() && e.ok() && DecodePositionKey(floor) == out.first) {
    out.epoch_before = DecodePositionKey(epoch);
  }
  return out;
}

Status Wal::Reset(uint64_t first, uint64_t epoch_before) {
  TXC_CHECK(first >= 1);
  uint64_t next = 0;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!status_.ok()) return status_;
    next = next_position_;
  }
  if (next > 1) {
    if (Status s = WaitDurable(next - 1); !s.ok()) return s;
  }
  rocksdb::WriteBatch wb;
  wb.DeleteRange(db_->log(), PositionKey(0), PositionKey(UINT64_MAX));
  wb.Put(db_->meta(), kTruncatedKey, PositionKey(first));
  wb.Put(db_->meta(), kTruncatedEpochKey, PositionKey(epoch_before));
  rocksdb::WriteOptions wo;
  wo.sync = db_->options().sync_mode == DbOptions::SyncMode::kSyncWrite;
  Status s = FromRocks(db_->rocks()->Write(wo, &wb), "resetting the log");
  if (s.ok() && !wo.sync) s = FromRocks(db_->rocks()->FlushWAL(true), "syncing the reset");
  std::lock_guard<std::mutex> lock(mu_);
  if (!s.ok()) {
    status_ = s;
    return s;
  }
  next_position_ = first;
  durable_ = first - 1;
  written_ = first - 1;
  return Status::Ok();
}

Status Wal::TruncateAfter(uint64_t position) {
  uint64_t next = 0;
  {
    std::unique_lock<std::mutex> lock(mu_);
    if (position + 1 >= next_position_) return status_;  // nothing after it
    next = next_position_;
  }
  // Everything queued is written (and synced) first, so no write of the syncer lands after the
  // delete.
  if (Status s = WaitDurable(next - 1); !s.ok()) return s;
  rocksdb::WriteBatch wb;
  wb.DeleteRange(db_->log(), PositionKey(position + 1), PositionKey(next));
  rocksdb::WriteOptions wo;
  wo.sync = db_->options().sync_mode == DbOptions::SyncMode::kSyncWrite;
  Status s = FromRocks(db_->rocks()->Write(wo, &wb), "truncating the log's suffix");
  if (s.ok() && !wo.sync) s = FromRocks(db_->rocks()->FlushWAL(true), "syncing the truncation");
  std::lock_guard<std::mutex> lock(mu_);
  if (!s.ok()) {
    status_ = s;
    return s;
  }
  next_position_ = position + 1;
  durable_ = std::min(durable_, position);
  written_ = std::min(written_, position);
  return Status::Ok();
}

Status Wal::status() const {
  std::lock_guard<std::mutex> lock(mu_);
  return status_;
}

WalStats Wal::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  return stats_;
}

}  // namespace txcoord::wal
