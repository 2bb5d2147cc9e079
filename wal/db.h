// Db: one node's RocksDB database, in the node's data directory, and the column families that
// the node's storage types share (FORMAT.md in this folder):
//   "default": metadata (the format version, the truncation floor, a service's own keys);
//   "log":     the write-ahead log's records (wal.h);
//   "data":    a shard's committed key/values (participant/store.h; empty on a coordinator).
// The log and the shard store are separate types over this one database, so that a COMMITTED
// record and its writes go in one atomic WriteBatch (Wal::Append takes the store's writes).
//
// Thread-safe (RocksDB is). The Db must outlive every type opened over it.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/status.h"

namespace rocksdb {
class DB;
class ColumnFamilyHandle;
class Status;
}  // namespace rocksdb

namespace txcoord::wal {

struct DbOptions {
  enum class SyncMode {
    kSyncWrite,    // WriteBatch with WriteOptions::sync
    kManualFlush,  // manual_wal_flush: unsynced write, then FlushWAL(sync=true)
  };
  SyncMode sync_mode = SyncMode::kSyncWrite;
};

class Db {
 public:
  // Opens (creating if needed) the database in `dir` and checks its format version: a database
  // of another version refuses to open (a migration is needed), with a Status naming both.
  static Result<std::shared_ptr<Db>> Open(const std::string& dir, DbOptions options = {});
  ~Db();
  Db(const Db&) = delete;
  Db& operator=(const Db&) = delete;

  // Metadata outside the log, under keys the caller chooses (they must not start with
  // "txcoord.wal.", which is the log's own). PutMeta is durable when it returns.
  Status PutMeta(const std::string& key, const std::string& value);
  Result<std::optional<std::string>> GetMeta(const std::string& key) const;
  // Metadata the node's types keep as a decimal number ("42") or a pair of them ("3:17": an
  // epoch and an id): a value that is anything else (a sign, a space, an overflow, a missing or
  // extra part) is Corruption naming the key and the value.
  Result<std::optional<uint64_t>> GetMetaNumber(const std::string& key) const;
  Result<std::optional<std::pair<uint64_t, uint64_t>>> GetMetaPair(const std::string& key) const;

  // For the storage types over this database.
  rocksdb::DB* rocks() const { return db_; }
  rocksdb::ColumnFamilyHandle* meta() const { return meta_; }
  rocksdb::ColumnFamilyHandle* log() const { return log_; }
  rocksdb::ColumnFamilyHandle* data() const { return data_; }
  const DbOptions& options() const { return options_; }
  const std::string& dir() const { return dir_; }

 private:
  Db() = default;

  DbOptions options_;
  std::string dir_;
  rocksdb::DB* db_ = nullptr;
  rocksdb::ColumnFamilyHandle* meta_ = nullptr;
  rocksdb::ColumnFamilyHandle* log_ = nullptr;
  rocksdb::ColumnFamilyHandle* data_ = nullptr;
};

// The parsing of GetMetaNumber, for a value read otherwise (under a snapshot).
Result<uint64_t> ParseMetaNumber(std::string_view value, std::string_view key);

// A RocksDB status as ours: Corruption or IoError, prefixed with what was being done.
Status FromRocks(const rocksdb::Status& s, const std::string& what);

}  // namespace txcoord::wal
