#include "wal/wal.h"

#include <algorithm>

#include <rocksdb/db.h>
#include <rocksdb/memtablerep.h>
#include <rocksdb/options.h>
#include <rocksdb/write_batch.h>

#include "wal/record_codec.h"

namespace txcoord::wal {
namespace {

constexpr char kFormatKey[] = "txcoord.wal.format";
constexpr char kFormatValue[] = "1";
constexpr char kTruncatedKey[] = "txcoord.wal.truncated_before";

Status FromRocks(const rocksdb::Status& s, const std::string& what) {
  if (s.ok()) return Status::Ok();
  if (s.IsCorruption()) return Status::Corruption(what + ": " + s.ToString());
  return Status::IoError(what + ": " + s.ToString());
}

}  // namespace

Result<std::unique_ptr<Wal>> Wal::Open(const std::string& dir, WalOptions options) {
  std::unique_ptr<Wal> wal(new Wal());
  wal->options_ = options;
  rocksdb::DBOptions db_options;
  db_options.create_if_missing = true;
  db_options.create_missing_column_families = true;
  db_options.manual_wal_flush = options.sync_mode == WalOptions::SyncMode::kManualFlush;
  // Records are appended in position order and read back only by scans (at open): an unsorted
  // vector memtable takes each in O(1), where the default skip list pays a cache-missing
  // O(log n) search per record (a sixth of a shard's CPU under load). It needs one memtable
  // writer at a time, which RocksDB's write queue gives us.
  rocksdb::ColumnFamilyOptions log_options;
  log_options.memtable_factory = std::make_shared<rocksdb::VectorRepFactory>();
  db_options.allow_concurrent_memtable_write = false;
  std::vector<rocksdb::ColumnFamilyDescriptor> families = {
      {rocksdb::kDefaultColumnFamilyName, rocksdb::ColumnFamilyOptions()},
      {"log", log_options},
      {"data", rocksdb::ColumnFamilyOptions()},
  };
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  Status s = FromRocks(rocksdb::DB::Open(db_options, dir, families, &handles, &wal->db_),
                       "opening the log in " + dir);
  if (!s.ok()) return s;
  wal->meta_ = handles[0];
  wal->log_ = handles[1];
  wal->data_ = handles[2];

  // The format version: written once, checked on every open.
  std::string format;
  rocksdb::Status rs = wal->db_->Get(rocksdb::ReadOptions(), wal->meta_, kFormatKey, &format);
  if (rs.IsNotFound()) {
    rocksdb::WriteOptions sync;
    sync.sync = true;
    s = FromRocks(wal->db_->Put(sync, wal->meta_, kFormatKey, kFormatValue), "writing format");
    if (!s.ok()) return s;
    if (db_options.manual_wal_flush) {
      s = FromRocks(wal->db_->FlushWAL(true), "syncing format");
      if (!s.ok()) return s;
    }
  } else if (!rs.ok()) {
    return FromRocks(rs, "reading the log format");
  } else if (format != kFormatValue) {
    return Status::Corruption("log in " + dir + " has format " + format + "; this build reads " +
                              kFormatValue + " (a migration is needed)");
  }

  // Positions continue after the last record, or after the truncation floor.
  uint64_t next = 1;
  std::string floor;
  if (wal->db_->Get(rocksdb::ReadOptions(), wal->meta_, kTruncatedKey, &floor).ok()) {
    next = DecodePositionKey(floor);
  }
  std::unique_ptr<rocksdb::Iterator> it(wal->db_->NewIterator(rocksdb::ReadOptions(), wal->log_));
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
  if (db_ != nullptr) {
    for (auto* h : {meta_, log_, data_}) {
      if (h != nullptr) db_->DestroyColumnFamilyHandle(h);
    }
    db_->Close();
    delete db_;
  }
}

Status Wal::Append(const std::vector<Record>& records, const std::vector<Write>& data, bool lazy) {
  TXC_CHECK(!records.empty());
  Pending p;
  p.lazy = lazy;
  p.records.reserve(records.size());
  for (const Record& r : records) p.records.push_back(EncodeRecord(r));  // outside the lock
  p.data = data;
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

uint64_t Wal::next_position() const {
  std::lock_guard<std::mutex> lock(mu_);
  return next_position_;
}

void Wal::SetOnDurable(std::function<void(uint64_t)> on_durable) {
  std::lock_guard<std::mutex> lock(mu_);
  on_durable_ = std::move(on_durable);
}

void Wal::SyncLoop() {
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    auto work = [this] { return stop_ || !pending_.empty(); };
    if (written_ > durable_) {
      // Lazily written records wait a little for an urgent group's sync, then get their own: at
      // most kLazySyncDelay after the first of them, however many lazy groups follow.
      const bool more = work_cv_.wait_until(lock, lazy_deadline_, work);
      if (!more || pending_.empty() || std::chrono::steady_clock::now() >= lazy_deadline_) {
        const uint64_t last = written_;
        lock.unlock();
        Status s = FromRocks(db_->SyncWAL(), "log sync of lazy appends");
        lock.lock();
        if (!Durable(lock, s, last)) return;
        continue;
      }
    } else {
      work_cv_.wait(lock, work);
    }
    if (pending_.empty()) return;  // stopping, and everything appended is durable
    std::vector<Pending> batch;
    batch.swap(pending_);
    lock.unlock();

    // One WriteBatch and at most one fsync for every append queued since the last round.
    rocksdb::WriteBatch wb;
    uint64_t last = 0, records = 0;
    bool sync = false;
    for (const Pending& p : batch) {
      sync = sync || !p.lazy;
      for (size_t i = 0; i < p.records.size(); ++i) {
        wb.Put(log_, PositionKey(p.first_position + i), p.records[i]);
      }
      for (const Write& w : p.data) {
        if (w.value) {
          wb.Put(data_, w.key, *w.value);
        } else {
          wb.Delete(data_, w.key);
        }
      }
      last = p.first_position + p.records.size() - 1;
      records += p.records.size();
    }
    rocksdb::WriteOptions wo;
    Status s;
    if (options_.sync_mode == WalOptions::SyncMode::kSyncWrite) {
      wo.sync = sync;
      s = FromRocks(db_->Write(wo, &wb), "log group commit");
    } else {
      s = FromRocks(db_->Write(wo, &wb), "log group commit");
      if (s.ok()) s = FromRocks(db_->FlushWAL(sync), "log group commit sync");
    }

    lock.lock();
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
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), log_));
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

Status Wal::TruncateBefore(uint64_t position) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    TXC_CHECK_MSG(position <= durable_ + 1, "truncating past the durable end of the log");
  }
  rocksdb::WriteBatch wb;
  wb.DeleteRange(log_, PositionKey(0), PositionKey(position));
  wb.Put(meta_, kTruncatedKey, PositionKey(position));  // positions are never reused
  rocksdb::WriteOptions wo;
  wo.sync = options_.sync_mode == WalOptions::SyncMode::kSyncWrite;
  Status s = FromRocks(db_->Write(wo, &wb), "truncating the log");
  if (s.ok() && !wo.sync) s = FromRocks(db_->FlushWAL(true), "syncing the truncation");
  return s;
}

Result<std::optional<std::string>> Wal::Get(const std::string& key) const {
  std::string value;
  rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), data_, key, &value);
  if (s.IsNotFound()) return std::optional<std::string>();
  if (!s.ok()) return FromRocks(s, "reading " + key);
  return std::optional<std::string>(std::move(value));
}

Status Wal::PutMeta(const std::string& key, const std::string& value) {
  TXC_CHECK_MSG(key.rfind("txcoord.wal.", 0) != 0, "reserved metadata key");
  rocksdb::WriteOptions sync;
  sync.sync = true;
  Status s = FromRocks(db_->Put(sync, meta_, key, value), "writing metadata " + key);
  if (s.ok() && options_.sync_mode == WalOptions::SyncMode::kManualFlush) {
    s = FromRocks(db_->FlushWAL(true), "syncing metadata " + key);
  }
  return s;
}

Result<std::optional<std::string>> Wal::GetMeta(const std::string& key) const {
  std::string value;
  rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), meta_, key, &value);
  if (s.IsNotFound()) return std::optional<std::string>();
  if (!s.ok()) return FromRocks(s, "reading metadata " + key);
  return std::optional<std::string>(std::move(value));
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
