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

Record Committed(Lsn lsn, std::vector<Write> writes) {
  return {.lsn = lsn, .type = RecordType::kCommitted, .txn = {1, lsn}, .epoch = 1,
          .writes = std::move(writes)};
}

TEST(ShardStoreTest, CommittedWritesApplyOnceInOrderAndSurviveReopen) {
  TempDir dir;
  {
    auto db = wal::Db::Open(dir.path());
    ASSERT_TRUE(db.ok());
    auto log = wal::Wal::Open(db.value());
    ASSERT_TRUE(log.ok());
    auto opened = ShardStore::Open(db.value());
    ASSERT_TRUE(opened.ok());
    ShardStore& store = *opened.value();
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
    ASSERT_TRUE(log.value()->Append(first).ok());
    ASSERT_TRUE(log.value()->WaitDurable(2).ok());
  }
  auto db = wal::Db::Open(dir.path());
  ASSERT_TRUE(db.ok());
  auto store = ShardStore::Open(db.value());  // an empty cache: every read goes to RocksDB
  ASSERT_TRUE(store.ok());
  EXPECT_EQ(store.value()->applied_position(), 3u);
  EXPECT_EQ(store.value()->Get("a"), std::nullopt) << "deleted";
  EXPECT_EQ(store.value()->Get("b"), std::optional<std::string>("2"));
  EXPECT_EQ(store.value()->Get("c"), std::optional<std::string>("3"));
  EXPECT_EQ(store.value()->Get("p"), std::nullopt);
}

TEST(ShardStoreTest, ASnapshotInstallsExactlyIntoAnotherStore) {
  TempDir from_dir, to_dir;
  auto from_db = wal::Db::Open(from_dir.path());
  ASSERT_TRUE(from_db.ok());
  auto from = ShardStore::Open(from_db.value());
  ASSERT_TRUE(from.ok());
  std::vector<Write> writes;
  for (int i = 0; i < 300; ++i) {
    writes.push_back({"key/" + std::to_string(i), std::string(100, static_cast<char>('a' + i % 26))});
  }
  from.value()->Apply({Committed(7, writes)}, 7);
  from.value()->Apply({Committed(8, {{"key/0", std::nullopt}, {"bin\0key", "v"}})}, 8);
  std::unique_ptr<ShardStore::Snapshot> snap = from.value()->TakeSnapshot({.max_epoch = 42, .truncated_max = {3, 99}});
  EXPECT_EQ(snap->applied(), 8u);
  from.value()->Apply({Committed(9, {{"after", "not in the snapshot"}})}, 9);

  std::vector<std::string> chunks;
  for (bool last = false; !last;) chunks.push_back(snap->Next(4096, &last));
  EXPECT_GT(chunks.size(), 5u) << "about 4 KiB each";
  for (const std::string& c : chunks) {
    EXPECT_TRUE(ShardStore::CheckChunk(c).ok());
    EXPECT_LT(c.size(), 4096u + 200u);
  }
  {
    auto to_db = wal::Db::Open(to_dir.path());
    ASSERT_TRUE(to_db.ok());
    auto to = ShardStore::Open(to_db.value());
    ASSERT_TRUE(to.ok());
    to.value()->Apply({Committed(3, {{"stale", "dropped by the install"}, {"key/1", "old"}})}, 3);
    to.value()->BeginInstall();
    EXPECT_EQ(to.value()->applied_position(), 0u);
    for (const std::string& c : chunks) to.value()->InstallChunk(c);
    const ShardStore::Kept kept = to.value()->FinishInstall();
    EXPECT_EQ(kept.max_epoch, 42u);
    EXPECT_EQ(kept.truncated_max, (TxnId{3, 99}));
    EXPECT_EQ(to.value()->applied_position(), 8u);
  }
  auto to_db = wal::Db::Open(to_dir.path());
  ASSERT_TRUE(to_db.ok());
  auto to = ShardStore::Open(to_db.value());
  ASSERT_TRUE(to.ok());
  EXPECT_EQ(to.value()->applied_position(), 8u);
  EXPECT_EQ(to.value()->Get("stale"), std::nullopt);
  EXPECT_EQ(to.value()->Get("key/0"), std::nullopt);
  EXPECT_EQ(to.value()->Get("after"), std::nullopt);
  EXPECT_EQ(to.value()->Get("bin\0key"), std::optional<std::string>("v"));
  for (int i = 1; i < 300; ++i) {
    EXPECT_EQ(to.value()->Get("key/" + std::to_string(i)), from.value()->Get("key/" + std::to_string(i)));
  }
}

TEST(ShardStoreTest, AMalformedChunkIsRefused) {
  TempDir dir;
  auto db = wal::Db::Open(dir.path());
  ASSERT_TRUE(db.ok());
  auto store = ShardStore::Open(db.value());
  ASSERT_TRUE(store.ok());
  store.value()->Apply({Committed(1, {{"a", "1"}, {"b", "2"}})}, 1);
  bool last = false;
  const std::string chunk = store.value()->TakeSnapshot({})->Next(1 << 20, &last);
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
