// Proves participant/store.h over a real RocksDB database: the writes of COMMITTED records (and
// of no other record) become readable exactly with their record's group commit, deletes remove,
// values survive a reopen, and reads of a key the store has no value for say so.
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

TEST(ShardStoreTest, CommittedWritesLandWithTheirRecordAndSurviveReopen) {
  TempDir dir;
  {
    auto db = wal::Db::Open(dir.path());
    ASSERT_TRUE(db.ok());
    auto log = wal::Wal::Open(db.value());
    ASSERT_TRUE(log.ok());
    ShardStore store(db.value());
    EXPECT_EQ(store.Get("a"), std::nullopt);
    const std::vector<Record> first = {
        {.lsn = 1, .type = RecordType::kPrepared, .txn = {1, 1}, .epoch = 1,
         .writes = {{"p", "not yet"}}},
        Committed(2, {{"a", "1"}, {"b", "2"}})};
    const std::vector<wal::DbWrite> writes = store.WritesOf(first);
    EXPECT_EQ(writes.size(), 2u) << "a PREPARED record's writes are not the store's";
    ASSERT_TRUE(log.value()->Append(first, writes).ok());
    const std::vector<Record> second = {Committed(3, {{"a", std::nullopt}, {"c", "3"}})};
    ASSERT_TRUE(log.value()->Append(second, store.WritesOf(second)).ok());
    ASSERT_TRUE(log.value()->WaitDurable(3).ok());
  }
  auto db = wal::Db::Open(dir.path());
  ASSERT_TRUE(db.ok());
  ShardStore store(db.value());  // an empty cache: every read goes to RocksDB
  EXPECT_EQ(store.Get("a"), std::nullopt) << "deleted";
  EXPECT_EQ(store.Get("b"), std::optional<std::string>("2"));
  EXPECT_EQ(store.Get("c"), std::optional<std::string>("3"));
  EXPECT_EQ(store.Get("p"), std::nullopt);
}

}  // namespace
}  // namespace txcoord::participant
