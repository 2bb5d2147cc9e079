// ShardStore: a shard's committed key/values, in the "data" column family of the node's Db
// (wal/db.h), beside the log. The core reads through it (KvReader); the writes of a COMMITTED
// record reach it only through the log: WritesOf turns the records of one append into the data
// writes that go in the same WriteBatch (Wal::Append), so the store changes exactly when the
// commit is durable.
//
// A cache of committed values recently read or written keeps the core's reads (every GET and
// ADD) off RocksDB's memtable. A COMMITTED record's writes enter it when the record is appended:
// their keys stay locked until the record is durable, so no read sees them early. Bounded:
// cleared when full.
//
// Not thread-safe: the node's io thread owns it.
#pragma once

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/protocol.h"
#include "participant/core/participant_core.h"
#include "wal/db.h"

namespace txcoord::participant {

class ShardStore : public KvReader {
 public:
  explicit ShardStore(std::shared_ptr<wal::Db> db);

  // The committed value of key. A store that cannot be read cannot run transactions correctly:
  // the process stops (a restart recovers).
  std::optional<std::string> Get(const std::string& key) const override;

  // The data writes of the COMMITTED records among `records`, for the same WriteBatch.
  std::vector<wal::DbWrite> WritesOf(const std::vector<Record>& records);

  static constexpr size_t kCacheEntries = size_t{1} << 20;

 private:
  void Cache(const std::string& key, const std::optional<std::string>& value) const;

  std::shared_ptr<wal::Db> db_;
  mutable std::unordered_map<std::string, std::optional<std::string>> cache_;
};

}  // namespace txcoord::participant
