// Proves participant/store.h over a real RocksDB database: the writes of COMMITTED records (and
// of no other record) are applied in order with the applied position, records at or below it are
// never applied again, deletes remove, values and the position survive a reopen once a synced
// write followed, and reads of a key the store has no value for say so.
#include "participant/store.h"

#include <gtest/gtest.h>

#include "tests/unit/temp_dir.h"
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

}  // namespace
}  // namespace txcoord::participant
