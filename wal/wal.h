// The write-ahead log of one node: the records in the "log" column family of the node's Db
// (db.h), keyed by their position (8 bytes big-endian), encoded by record_codec, with the
// truncation floor in the metadata.
// Group commit: Append() only queues; one syncer thread takes everything queued, writes it as ONE
// RocksDB WriteBatch and makes it durable with one fsync, then reports the highest durable
// position. Appends that arrive during a sync ride the next one, so the number of fsyncs per
// append falls as load rises. (A shard's committed writes are not the log's: the shard store
// applies them once their records are committed in the group, participant/store.h.)
//
// Lazy appends: records whose durability nobody waits for urgently (a participant's COMMITTED
// after a coordinator's decision, the coordinator's END) are written without an fsync of their
// own and become durable with the next sync: the next urgent group's, or, if none comes within
// kLazySyncDelay, one the syncer makes for them. RocksDB's log is sequential, so a later sync
// covers them. Nothing about them is reported durable before that sync. Without this, an urgent
// record (a PREPARED a vote waits for) arriving during a lazy record's fsync waited a whole
// extra fsync.
//
// Writes along: another storage type over the same Db (a shard's applied writes:
// participant/store.h) may hand the syncer writes that need no durability of their own. They go
// into the next group's WriteBatch, so they never wait in RocksDB's write queue behind a synced
// write and cost no write, thread or wake-up of their own; when no record comes within
// kLazySyncDelay, or somebody waits for them, the syncer writes them alone, without an fsync.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "common/protocol.h"
#include "common/status.h"
#include "wal/db.h"

namespace rocksdb {
class WriteBatch;
}  // namespace rocksdb

namespace txcoord::wal {

struct WalStats {
  uint64_t appends = 0;  // Append() calls made durable
  uint64_t records = 0;  // records made durable
  uint64_t syncs = 0;    // fsyncs: synced WriteBatches, and syncs made for lazy appends alone
  uint64_t lazy_writes = 0;  // WriteBatches of lazy appends alone, written without an fsync
  uint64_t along = 0;        // WriteAlong calls written
  uint64_t along_alone = 0;  // WriteBatches of writes along alone, written without an fsync
};

// How long lazily written records may wait for an urgent group's sync before the syncer syncs
// them itself.
inline constexpr std::chrono::microseconds kLazySyncDelay{2000};

class Wal {
 public:
  // Opens the log in db (which must outlive it; the Wal keeps a reference).
  static Result<std::unique_ptr<Wal>> Open(std::shared_ptr<Db> db);
  // Makes everything appended so far durable, then stops the syncer.
  ~Wal();
  Wal(const Wal&) = delete;
  Wal& operator=(const Wal&) = delete;

  // Queues records for the next group commit. Thread-safe. A record's lsn is its position in the
  // log: the caller numbers its records, and they must continue the log exactly
  // (records[i].lsn == next_position() + i, checked). Positions increase by one per record,
  // across restarts; a prefix truncation never makes them reused (a suffix truncation does:
  // TruncateAfter). REQUIRES: !records.empty(). Fails only once the log has failed (see
  // status()). `lazy`: see the top of this file.
  Status Append(const std::vector<Record>& records, bool lazy = false);
  // Queues writes along (see the top of this file): `add` puts them into the WriteBatch the
  // syncer writes next, on the syncer thread (it must not touch the log's column family).
  // Returns a ticket, increasing: written_along() >= ticket once they are in RocksDB (visible to
  // reads; durable with the next sync of the database). Thread-safe. A failed write fails the
  // log (status()).
  uint64_t WriteAlong(std::function<void(rocksdb::WriteBatch&)> add);
  // The last ticket written. Thread-safe, lock-free.
  uint64_t written_along() const { return written_along_.load(std::memory_order_acquire); }
  // Blocks until written_along() >= ticket, or the log has failed (its status).
  Status WaitWrittenAlong(uint64_t ticket);
  // The position the next appended record takes: one past the last record ever appended (or the
  // truncation floor of an emptied log).
  uint64_t next_position() const;

  // Called from the syncer thread, outside any lock, with the highest durable position after
  // every group commit, in increasing order. Set it before the first Append.
  void SetOnDurable(std::function<void(uint64_t durable_position)> on_durable);
  // Blocks until `position` is durable (and on_durable has been called for it) or the log has
  // failed.
  Status WaitDurable(uint64_t position);
  uint64_t durable_position() const;

  // Recovery: calls fn(position, record) for every record at or after `from`, in order, until
  // fn returns false; each record's lsn is its position. A record that fails to decode stops the
  // scan with Corruption.
  Status Scan(uint64_t from, const std::function<bool(uint64_t, const Record&)>& fn) const;
  // Deletes every record before `position` (finished transactions), and keeps the new start
  // with the epoch of the record before it (`epoch_before`, replication's log start). REQUIRES:
  // position is durable or below it.
  Status TruncateBefore(uint64_t position, uint64_t epoch_before = 0);
  // Where the log begins: its first position (the next one of an empty log) and the epoch
  // kept for the record before it (0 when not known: never truncated, or by an older version).
  struct Start {
    uint64_t first = 1;
    uint64_t epoch_before = 0;
  };
  Result<Start> start() const;
  // Deletes every record and makes the log begin at `first` (a state transfer installed:
  // replication/core/replica_core.h), durably, after waiting for everything queued. The next
  // append takes position `first`; a durability report made before is stale (the caller drops
  // it, as after TruncateAfter).
  Status Reset(uint64_t first, uint64_t epoch_before);

  // Deletes every record after `position` (a replica's log diverged from its primary's there:
  // replication/core/replica_core.h), durably, after waiting for everything queued to be written.
  // The next append continues at position + 1, and the durable position is clamped to it (a
  // report already made for a later position is stale: the caller drops it). Rare; blocks for
  // a sync.
  Status TruncateAfter(uint64_t position);

  Db& db() const { return *db_; }

  // Sticky: once a write or sync failed, the log refuses appends (the process must restart and
  // recover; continuing could acknowledge what is not durable).
  Status status() const;
  WalStats stats() const;

 private:
  struct Pending {
    uint64_t first_position;
    std::vector<std::string> records;  // encoded
    bool lazy = false;
  };

  Wal() = default;
  void SyncLoop();
  // After a sync (status s) covering every position up to `last`: reports it durable, or makes
  // the failure sticky (returns false). REQUIRES: lock holds mu_ (released around the callback).
  bool Durable(std::unique_lock<std::mutex>& lock, const Status& s, uint64_t last);

  std::shared_ptr<Db> db_;

  mutable std::mutex mu_;
  std::condition_variable work_cv_;     // pending_ is not empty, or stop_
  std::condition_variable durable_cv_;  // durable_ or written_along_ advanced, or the log failed
  std::vector<Pending> pending_;        // GUARDED_BY(mu_)
  // GUARDED_BY(mu_): writes along not yet taken by the syncer, and the last ticket given.
  std::vector<std::function<void(rocksdb::WriteBatch&)>> along_;
  uint64_t along_ticket_ = 0;
  std::chrono::steady_clock::time_point along_deadline_;  // when along_ is written at the latest
  bool along_wanted_ = false;  // somebody waits for along_ (WaitWrittenAlong)
  std::atomic<uint64_t> written_along_{0};
  uint64_t next_position_ = 1;          // GUARDED_BY(mu_)
  uint64_t durable_ = 0;                // GUARDED_BY(mu_)
  uint64_t written_ = 0;                // GUARDED_BY(mu_): written, maybe not synced (lazy)
  // GUARDED_BY(mu_): when written_ > durable_, the latest time the syncer syncs them by.
  std::chrono::steady_clock::time_point lazy_deadline_;
  Status status_;                       // GUARDED_BY(mu_)
  WalStats stats_;                      // GUARDED_BY(mu_)
  bool stop_ = false;                   // GUARDED_BY(mu_)
  std::function<void(uint64_t)> on_durable_;
  std::thread syncer_;
};

}  // namespace txcoord::wal
