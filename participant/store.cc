#include "participant/store.h"

#include <rocksdb/db.h>
#include <rocksdb/write_batch.h>

#include "common/check.h"

namespace txcoord::participant {

namespace {
constexpr char kAppliedKey[] = "shard.applied_position";
}  // namespace

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
  rocksdb::WriteBatch wb;
  for (const Record& r : records) {
    if (r.lsn <= applied_ || r.type != RecordType::kCommitted) continue;
    for (const Write& w : r.writes) {
      if (w.value) {
        wb.Put(db_->data(), w.key, *w.value);
      } else {
        wb.Delete(db_->data(), w.key);
      }
    }
  }
  wb.Put(db_->meta(), kAppliedKey, std::to_string(position));
  rocksdb::WriteOptions wo;
  wo.sync = false;
  const rocksdb::Status s = db_->rocks()->Write(wo, &wb);
  TXC_CHECK_MSG(s.ok(), "the shard store cannot be written");
  for (const Record& r : records) {
    if (r.lsn <= applied_ || r.type != RecordType::kCommitted) continue;
    for (const Write& w : r.writes) Cache(w.key, w.value);
  }
  applied_ = position;
}

}  // namespace txcoord::participant
