#include "participant/store.h"

#include <rocksdb/db.h>
#include <rocksdb/write_batch.h>

#include "common/check.h"

namespace txcoord::participant {

namespace {
constexpr char kAppliedKey[] = "shard.applied_position";
}  // namespace

ShardStore::ShardStore(std::shared_ptr<wal::Db> db) : db_(std::move(db)) {
  writer_ = std::thread([this] { WriteLoop(); });
}

ShardStore::~ShardStore() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  writer_.join();  // it writes what is queued first
}

void ShardStore::WriteLoop() {
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    cv_.wait(lock, [this] { return stop_ || !queue_.empty(); });
    if (queue_.empty()) return;  // stopping, everything written
    auto [batch, wb] = std::move(queue_.front());
    queue_.pop_front();
    lock.unlock();
    rocksdb::WriteOptions wo;
    wo.sync = false;
    const rocksdb::Status s = db_->rocks()->Write(wo, wb.get());
    TXC_CHECK_MSG(s.ok(), "the shard store cannot be written");
    lock.lock();
    written_.store(batch, std::memory_order_release);
    cv_.notify_all();
  }
}

void ShardStore::Flush() {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait(lock, [this] { return written_.load(std::memory_order_acquire) >= next_batch_; });
}

Result<std::unique_ptr<ShardStore>> ShardStore::Open(std::shared_ptr<wal::Db> db) {
  TXC_CHECK(db != nullptr);
  std::unique_ptr<ShardStore> store(new ShardStore(db));
  Result<std::optional<std::string>> applied = db->GetMeta(kAppliedKey);
  if (!applied.ok()) return applied.status();
  if (applied.value()) store->applied_ = std::stoull(*applied.value());
  return store;
}

void ShardStore::Cache(const std::string& key, const std::optional<std::string>& value) const {
  if (cache_.size() >= kCacheEntries) cache_.clear();
  cache_[key] = value;
}

std::optional<std::string> ShardStore::Get(const std::string& key) const {
  if (auto it = cache_.find(key); it != cache_.end()) return it->second;
  if (auto it = pending_.find(key); it != pending_.end()) {
    if (it->second.batch > written_.load(std::memory_order_acquire)) return it->second.value;
    pending_.erase(it);  // in RocksDB now
  }
  std::string value;
  rocksdb::Status s = db_->rocks()->Get(rocksdb::ReadOptions(), db_->data(), key, &value);
  std::optional<std::string> out;
  if (s.ok()) {
    out = std::move(value);
  } else {
    TXC_CHECK_MSG(s.IsNotFound(), "the shard store cannot be read");
  }
  Cache(key, out);
  return out;
}

void ShardStore::Apply(const std::vector<Record>& records, Lsn position) {
  if (position <= applied_) return;
  auto wb = std::make_unique<rocksdb::WriteBatch>();
  const uint64_t batch = ++next_batch_;
  for (const Record& r : records) {
    if (r.lsn <= applied_ || r.type != RecordType::kCommitted) continue;
    for (const Write& w : r.writes) {
      if (w.value) {
        wb->Put(db_->data(), w.key, *w.value);
      } else {
        wb->Delete(db_->data(), w.key);
      }
      Cache(w.key, w.value);
      pending_[w.key] = Pending{w.value, batch};
    }
  }
  wb->Put(db_->meta(), kAppliedKey, std::to_string(position));
  {
    std::lock_guard<std::mutex> lock(mu_);
    queue_.emplace_back(batch, std::move(wb));
  }
  cv_.notify_all();
  applied_ = position;
  // Entries already written are dropped now and then, so pending_ stays about as large as
  // what is queued.
  if (pending_.size() > kPendingSweep) {
    const uint64_t written = written_.load(std::memory_order_acquire);
    std::erase_if(pending_, [written](const auto& e) { return e.second.batch <= written; });
  }
}

}  // namespace txcoord::participant
