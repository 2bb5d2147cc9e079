// Proves participant/store.h over a real RocksDB database: the writes of COMMITTED records (and
// of no other record) are applied in order with the applied position, records at or below it are
// never applied again, deletes remove, values and the position survive a reopen once a synced
// write followed, and reads of a key the store has no value for say so. A state transfer's
// snapshot is consistent (taken after what was applied is written; later applies are not in it),
// its chunks install into another store exactly (every old key gone, the position taken) and
// survive a reopen, and a chunk that is cut, altered or not a chunk at all is refused.
#include "participant/store.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "tests/unit/temp_dir.h"
#include "wal/record_codec.h"
#include "wal/wal.h"

namespace txcoord::participant {
namespace {

using testing::TempDir;

// A store over a database and its log, as the shard service opens them (the log writes what the
// store applies: wal/wal.h, writes along). Members go in reverse: the store first.
struct Opened {
  std::shared_ptr<wal::Db> db;
  std::unique_ptr<wal::Wal> log;
  std::unique_ptr<ShardStore> store;
};

void Open(const std::string& dir, Opened* out) {
  auto db = wal::Db::Open(dir);
  ASSERT_TRUE(db.ok()) << db.status().ToString();
  out->db = db.value();
  auto log = wal::Wal::Open(out->db);
  ASSERT_TRUE(log.ok()) << log.status().ToString();
  out->log = std::move(log.value());
  auto store = ShardStore::Open(out->db, out->log.get());
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  out->store = std::move(store.value());
}

Record Committed(Lsn lsn, std::vector<Write> writes) {
  return {.lsn = lsn, .type = RecordType::kCommitted, .txn = {1, lsn}, .epoch = 1,
          .writes = std::move(writes)};
}

TEST(ShardStoreTest, CommittedWritesApplyOnceInOrderAndSurviveReopen) {
  TempDir dir;
  {
    Opened opened;
    ASSERT_NO_FATAL_FAILURE(Open(dir.path(), &opened));
    ShardStore& store = *opened.store;
    EXPECT_EQ(store.applied_position(), 0u);
    EXPECT_EQ(store.Get("a"), std::nullopt);
    const std::vector<Record> first = {
        {.lsn = 1, .type = RecordType::kPrepared, .txn = {1, 1}, .epoch = 1,
         .writes = {{"p", "not yet"}}},
        Committed(2, {{"a", "1"}, {"b", "2"}})};
    store.Apply(first, 2);
    EXPECT_EQ(store.applied_position(), 2u);
    EXPECT_EQ(store.Get("a"), std::optional<std::string>("1"));
    EXPECT_EQ(store.Get("p"), std::nullopt) << "a PREPARED record's writes are not the store's";
    // A replay of what is applied changes nothing.
    store.Apply({Committed(2, {{"a", "replayed"}})}, 2);
    EXPECT_EQ(store.Get("a"), std::optional<std::string>("1"));
    store.Apply({Committed(3, {{"a", std::nullopt}, {"c", "3"}})}, 3);
    // Flushed, then a synced write of the same database: the unsynced applies are durable.
    store.Flush();
    ASSERT_TRUE(opened.log->Append(first).ok());
    ASSERT_TRUE(opened.log->WaitDurable(2).ok());
  }
  Opened reopened;  // an empty cache: every read goes to RocksDB
  ASSERT_NO_FATAL_FAILURE(Open(dir.path(), &reopened));
  ShardStore& store = *reopened.store;
  EXPECT_EQ(store.applied_position(), 3u);
  EXPECT_EQ(store.Get("a"), std::nullopt) << "deleted";
  EXPECT_EQ(store.Get("b"), std::optional<std::string>("2"));
  EXPECT_EQ(store.Get("c"), std::optional<std::string>("3"));
  EXPECT_EQ(store.Get("p"), std::nullopt);
}

TEST(ShardStoreTest, ASnapshotInstallsExactlyIntoAnotherStore) {
  TempDir from_dir, to_dir;
  Opened from_opened;
  ASSERT_NO_FATAL_FAILURE(Open(from_dir.path(), &from_opened));
  ShardStore* from = from_opened.store.get();
  std::vector<Write> writes;
  for (int i = 0; i < 300; ++i) {
    writes.push_back({"key/" + std::to_string(i), std::string(100, static_cast<char>('a' + i % 26))});
  }
  from->Apply({Committed(7, writes)}, 7);
  from->Apply({Committed(8, {{"key/0", std::nullopt}, {"bin\0key", "v"}})}, 8);
  std::unique_ptr<ShardStore::Snapshot> snap = from->TakeSnapshot({.max_epoch = 42, .truncated_max = {3, 99}});
  EXPECT_EQ(snap->applied(), 8u);
  from->Apply({Committed(9, {{"after", "not in the snapshot"}})}, 9);

  std::vector<std::string> chunks;
  for (bool last = false; !last;) chunks.push_back(snap->Next(4096, &last));
  EXPECT_GT(chunks.size(), 5u) << "about 4 KiB each";
  for (const std::string& c : chunks) {
    EXPECT_TRUE(ShardStore::CheckChunk(c).ok());
    EXPECT_LT(c.size(), 4096u + 200u);
  }
  {
    Opened to_opened;
    ASSERT_NO_FATAL_FAILURE(Open(to_dir.path(), &to_opened));
    ShardStore* to = to_opened.store.get();
    to->Apply({Committed(3, {{"stale", "dropped by the install"}, {"key/1", "old"}})}, 3);
    to->BeginInstall();
    EXPECT_EQ(to->applied_position(), 0u);
    for (const std::string& c : chunks) to->InstallChunk(c);
    const ShardStore::Kept kept = to->FinishInstall();
    EXPECT_EQ(kept.max_epoch, 42u);
    EXPECT_EQ(kept.truncated_max, (TxnId{3, 99}));
    EXPECT_EQ(to->applied_position(), 8u);
  }
  Opened to_opened;
  ASSERT_NO_FATAL_FAILURE(Open(to_dir.path(), &to_opened));
  ShardStore* to = to_opened.store.get();
  EXPECT_EQ(to->applied_position(), 8u);
  EXPECT_EQ(to->Get("stale"), std::nullopt);
  EXPECT_EQ(to->Get("key/0"), std::nullopt);
  EXPECT_EQ(to->Get("after"), std::nullopt);
  EXPECT_EQ(to->Get("bin\0key"), std::optional<std::string>("v"));
  for (int i = 1; i < 300; ++i) {
    EXPECT_EQ(to->Get("key/" + std::to_string(i)), from->Get("key/" + std::to_string(i)));
  }
}

TEST(ShardStoreTest, AMalformedChunkIsRefused) {
  TempDir dir;
  Opened opened;
  ASSERT_NO_FATAL_FAILURE(Open(dir.path(), &opened));
  ShardStore* store = opened.store.get();
  store->Apply({Committed(1, {{"a", "1"}, {"b", "2"}})}, 1);
  bool last = false;
  const std::string chunk = store->TakeSnapshot({})->Next(1 << 20, &last);
  ASSERT_TRUE(last);
  ASSERT_TRUE(ShardStore::CheckChunk(chunk).ok());
  std::string flipped = chunk;
  flipped[45] ^= 1;
  std::string wrong_count = chunk;
  wrong_count[36] = 9;  // more entries than it holds (checksum fixed below)
  wrong_count.resize(wrong_count.size() - 4);
  const uint32_t crc = wal::Crc32c(wrong_count);
  for (int i = 0; i < 4; ++i) wrong_count.push_back(static_cast<char>((crc >> (8 * i)) & 0xFF));
  for (const std::string& bad : {std::string(), std::string("TXS1"), chunk.substr(0, 20),
                                 chunk.substr(0, chunk.size() - 1), flipped, wrong_count,
                                 std::string(64, 'x')}) {
    const Status s = ShardStore::CheckChunk(bad);
    EXPECT_FALSE(s.ok()) << bad.size();
    EXPECT_EQ(s.code(), Status::Code::kInvalidArgument);
  }
}

}  // namespace
}  // namespace txcoord::participant
