// ShardStore: a shard's committed key/values, in the "data" column family of the node's Db
// (wal/db.h), beside the log. The core reads through it (KvReader). The writes of a COMMITTED
// record reach it once the record is committed in the shard's replica group (durable on every
// in-sync replica): the driver hands every committed record to Apply, in log order, on the
// primary and on every backup alike, so a promoted backup serves its store at once.
//
// Apply writes the data and the applied position in one RocksDB batch without a sync of its own:
// the records are durable in the log, so a crash that loses the batch only makes the replica
// apply them again (from AppliedPosition) once they are committed again. A later synced write
// of the same database (any log append, a truncation) makes the batch durable too (RocksDB has
// one write-ahead log), so the log is never truncated below what the store holds.
//
// A cache of committed values recently read or written keeps the core's reads (every GET and
// ADD) off RocksDB's memtable. Bounded: cleared when full.
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
  // Reads the applied position. IoError when the database cannot be read.
  static Result<std::unique_ptr<ShardStore>> Open(std::shared_ptr<wal::Db> db);

  // The committed value of key. A store that cannot be read cannot run transactions correctly:
  // the process stops (a restart recovers).
  std::optional<std::string> Get(const std::string& key) const override;

  // Applies the writes of the COMMITTED records among `records` (every record up to `position`
  // not applied yet, in order) and records `position` as applied. A store that cannot be
  // written stops the process (the log still holds the records: a restart applies them).
  void Apply(const std::vector<Record>& records, Lsn position);
  // The position of the last record applied (0 for a new store).
  Lsn applied_position() const { return applied_; }

  static constexpr size_t kCacheEntries = size_t{1} << 20;

 private:
  void Cache(const std::string& key, const std::optional<std::string>& value) const;

  explicit ShardStore(std::shared_ptr<wal::Db> db) : db_(std::move(db)) {}

  std::shared_ptr<wal::Db> db_;
  Lsn applied_ = 0;
  mutable std::unordered_map<std::string, std::optional<std::string>> cache_;
};

}  // namespace txcoord::participant
