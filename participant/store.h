// ShardStore: a shard's committed key/values, in the "data" column family of the node's Db
// (wal/db.h), beside the log. The core reads through it (KvReader). The writes of a COMMITTED
// record reach it once the record is committed in the shard's replica group (durable on every
// in-sync replica): the driver hands every committed record to Apply, in log order, on the
// primary and on every backup alike, so a promoted backup serves its store at once.
//
// Apply never blocks the node's io thread: it makes the writes visible to Get at once (the
// cache, and `pending_` until they are in RocksDB) and hands them and the applied position to
// the log's syncer as writes along (wal/wal.h): they go into the syncer's next WriteBatch.
// (Written on the io thread, an apply waited for the log syncer's fsync whenever RocksDB grouped
// the two writes: a third of the throughput at 64 clients. Written by a thread of the store's
// own, as before, every apply cost a wake-up and a write of its own and still queued behind the
// syncer's synced writes in RocksDB: --replicas 1 ran 12-17% below a build that wrote them with
// the COMMITTED record.) They need no sync of their own: the records are durable in the log, so
// a crash that loses them only makes the replica apply them again (from the applied position)
// once they are committed again. Flush waits until everything handed over is written; a synced
// write of the same database after it (a log append, a truncation) makes it durable too, since
// RocksDB has one write-ahead log: the participant service flushes before it truncates the log,
// so the log is never truncated below what the store holds.
//
// A cache of committed values recently read or written keeps the core's reads (every GET and
// ADD) off RocksDB's memtable. Bounded: cleared when full.
//
// Get/Apply/Flush: the node's io thread only.
#pragma once

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "common/protocol.h"
#include "participant/core/participant_core.h"
#include "wal/db.h"
#include "wal/wal.h"

namespace txcoord::participant {

class ShardStore : public KvReader {
 public:
  // Reads the applied position. IoError when the database cannot be read. `log` is the log over
  // the same database, which writes what Apply hands it; it must outlive every Apply and Flush.
  static Result<std::unique_ptr<ShardStore>> Open(std::shared_ptr<wal::Db> db, wal::Wal* log);

  // The committed value of key. A store that cannot be read cannot run transactions correctly:
  // the process stops (a restart recovers).
  std::optional<std::string> Get(const std::string& key) const override;

  // Applies the writes of the COMMITTED records among `records` (every record up to `position`
  // not applied yet, in order) and records `position` as applied. A store that cannot be
  // written stops the process (the log still holds the records: a restart applies them).
  void Apply(const std::vector<Record>& records, Lsn position);
  // Waits until every batch Apply handed to the log is written to RocksDB.
  void Flush();
  // The position of the last record applied (0 for a new store).
  Lsn applied_position() const { return applied_; }

  // State transfer (replication/core/replica_core.h): the store as one replica hands it to
  // another. A snapshot is consistent: RocksDB's, taken after Flush, so its applied position and
  // its keys agree. Its chunks (see store.cc for the encoding) each carry that position and
  // what the shard kept of its dropped records (Kept), are at most about max_bytes (one
  // key/value may exceed it), and are checksummed.
  class Snapshot {
   public:
    virtual ~Snapshot() = default;
    virtual Lsn applied() const = 0;
    // The next chunk; *last is set on the final one (a snapshot has at least one).
    virtual std::string Next(size_t max_bytes, bool* last) = 0;
  };
  // What a shard keeps about the records it dropped, carried by every chunk (the member's log
  // starts after them).
  struct Kept {
    Epoch max_epoch = 0;  // the newest coordinator epoch it fences with
    TxnId truncated_max;  // the largest transaction id it may have forgotten
  };
  std::unique_ptr<Snapshot> TakeSnapshot(Kept kept);
  // A chunk as it arrives from the network: InvalidArgument naming what is wrong.
  static Status CheckChunk(std::string_view chunk);
  // Installing one: drops every key and the applied position (durably), then writes chunks,
  // then makes the transfer's applied position this store's (durably); what the chunks kept is
  // returned for the caller to keep. A store that cannot be written stops the process.
  void BeginInstall();
  void InstallChunk(std::string_view chunk);
  Kept FinishInstall();

  static constexpr size_t kCacheEntries = size_t{1} << 20;
  static constexpr size_t kPendingSweep = size_t{1} << 16;

 private:
  void Cache(const std::string& key, const std::optional<std::string>& value) const;

  ShardStore(std::shared_ptr<wal::Db> db, wal::Wal* log) : db_(std::move(db)), log_(log) {}

  std::shared_ptr<wal::Db> db_;
  wal::Wal* log_;
  Lsn applied_ = 0;
  // A transfer being installed: the position and epoch its chunks carry.
  Lsn installing_applied_ = 0;
  Kept installing_kept_;
  mutable std::unordered_map<std::string, std::optional<std::string>> cache_;
  // Applied, maybe not yet in RocksDB: a key's newest value and the log's ticket for the writes
  // along that write it (written once log_->written_along() reaches it).
  struct Pending {
    std::optional<std::string> value;
    uint64_t ticket = 0;
  };
  mutable std::unordered_map<std::string, Pending> pending_;
  uint64_t last_ticket_ = 0;  // of the last batch handed over
};

}  // namespace txcoord::participant
