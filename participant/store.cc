#include "participant/store.h"

#include <rocksdb/db.h>

#include "common/check.h"

namespace txcoord::participant {

ShardStore::ShardStore(std::shared_ptr<wal::Db> db) : db_(std::move(db)) {
  TXC_CHECK(db_ != nullptr);
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

std::vector<wal::DbWrite> ShardStore::WritesOf(const std::vector<Record>& records) {
  std::vector<wal::DbWrite> out;
  for (const Record& r : records) {
    if (r.type != RecordType::kCommitted) continue;
    for (const Write& w : r.writes) {
      out.push_back({db_->data(), w.key, w.value});
      Cache(w.key, w.value);
    }
  }
  return out;
}

}  // namespace txcoord::participant
