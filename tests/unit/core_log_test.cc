// Proves wal/core_log.h: a record's lsn is its log position (anything else stops the process),
// COMMITTED writes reaching the store
// with their record, and the truncation policy -- records of a live transaction are never
// deleted, a finished one's are kept until `retain_finished` newer ones finished, records of an
// earlier incarnation are kept until the core finished their transaction, and positions are
// never reused.

#include "wal/core_log.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <set>
#include <string>
#include <vector>

#include "common/check.h"
#include "tests/unit/temp_dir.h"

namespace txcoord::wal {
namespace {

using testing::TempDir;

Record Rec(Lsn lsn, RecordType type, uint64_t seq) {
  Record r;
  r.lsn = lsn;
  r.type = type;
  r.txn = {1, seq};
  r.epoch = 1;
  return r;
}

std::set<uint64_t> SeqsInLog(const Wal& wal) {
  std::set<uint64_t> seqs;
  EXPECT_TRUE(wal.Scan(0,
                       [&](uint64_t, const Record& r) {
                         seqs.insert(r.txn.seq);
                         return true;
                       })
                  .ok());
  return seqs;
}

TEST(CoreLogTest, CommittedWritesReachTheStoreWithTheirRecord) {
  TempDir dir;
  auto wal = Wal::Open(dir.path());
  ASSERT_TRUE(wal.ok());
  Wal& w = *wal.value();
  ASSERT_TRUE(w.Append({Rec(1, RecordType::kPrepared, 99)}).ok());  // an earlier incarnation's
  CoreLog log(&w, /*apply_writes=*/true, /*retain_finished=*/0);
  Record commit = Rec(3, RecordType::kCommitted, 2);
  commit.writes = {{"k", "v"}};
  ASSERT_TRUE(log.Append({Rec(2, RecordType::kPrepared, 2), commit}).ok());
  ASSERT_TRUE(w.WaitDurable(3).ok());
  EXPECT_EQ(w.Get("k").value(), std::optional<std::string>("v"));
}

TEST(CoreLogTest, ARecordsLsnIsItsPosition) {
  TempDir dir;
  auto wal = Wal::Open(dir.path());
  ASSERT_TRUE(wal.ok());
  Wal& w = *wal.value();
  CoreLog log(&w, false, 0);
  ASSERT_TRUE(log.Append({Rec(1, RecordType::kPrepared, 1)}).ok());
  EXPECT_DEATH((void)log.Append({Rec(3, RecordType::kPrepared, 2)}), "lsn is its position");
  EXPECT_EQ(w.next_position(), 2u);
}

TEST(CoreLogTest, TruncatesOnlyWhatNoLiveOrRetainedTransactionNeeds) {
  TempDir dir;
  auto wal = Wal::Open(dir.path());
  ASSERT_TRUE(wal.ok());
  Wal& w = *wal.value();
  CoreLog log(&w, false, /*retain_finished=*/1);
  // txn 1: positions 1,2; txn 2: 3; txn 3: 4,5
  ASSERT_TRUE(log.Append({Rec(1, RecordType::kPrepared, 1), Rec(2, RecordType::kCommitted, 1),
                          Rec(3, RecordType::kPrepared, 2), Rec(4, RecordType::kPrepared, 3),
                          Rec(5, RecordType::kCommitted, 3)})
                  .ok());
  ASSERT_TRUE(w.WaitDurable(5).ok());
  std::set<uint64_t> live = {1, 2, 3};
  auto is_live = [&](TxnId t) { return live.count(t.seq) != 0; };
  EXPECT_EQ(log.Floor(is_live, 5), 1u) << "txn 1 is live";
  live.erase(1);
  // txn 1 finished: retained (retain_finished = 1) until another finishes.
  EXPECT_EQ(log.Floor(is_live, 5), 1u);
  live.erase(3);
  // txn 3 finished: txn 1 leaves the retained window; txn 2 (position 3) is live.
  EXPECT_EQ(log.Floor(is_live, 5), 3u);
  ASSERT_TRUE(log.MaybeTruncate(3, 1).value());
  EXPECT_EQ(SeqsInLog(w), (std::set<uint64_t>{2, 3}));
  EXPECT_FALSE(log.MaybeTruncate(3, 1).value()) << "nothing new to delete";
  live.clear();
  // Everything finished; txn 2 (position 3) is the newest finished, so it is retained.
  EXPECT_EQ(log.Floor(is_live, 5), 3u);
  EXPECT_FALSE(log.MaybeTruncate(3, 1).value());
  EXPECT_EQ(SeqsInLog(w), (std::set<uint64_t>{2, 3}));
}

TEST(CoreLogTest, RecordsOfAnEarlierIncarnationAreKeptUntilTheirTransactionFinishes) {
  TempDir dir;
  {
    auto wal = Wal::Open(dir.path());
    ASSERT_TRUE(wal.ok());
    ASSERT_TRUE(wal.value()->Append({Rec(1, RecordType::kPrepared, 7)}).ok());
  }
  auto wal = Wal::Open(dir.path());
  ASSERT_TRUE(wal.ok());
  Wal& w = *wal.value();
  CoreLog log(&w, false, 0);
  ASSERT_TRUE(w.Scan(0, [&](uint64_t p, const Record& r) {
                 log.Restored(p, r);
                 return true;
               }).ok());
  ASSERT_TRUE(log.Append({Rec(2, RecordType::kPrepared, 8)}).ok());
  ASSERT_TRUE(w.WaitDurable(2).ok());
  bool seven_live = true;
  auto is_live = [&](TxnId t) { return t.seq == 7 ? seven_live : false; };
  EXPECT_EQ(log.Floor(is_live, 2), 1u) << "the in-doubt transaction of the earlier incarnation";
  seven_live = false;
  EXPECT_EQ(log.Floor(is_live, 2), 3u);
  ASSERT_TRUE(log.MaybeTruncate(3, 1).value());
  EXPECT_TRUE(SeqsInLog(w).empty());
  // Positions go on from where they were.
  EXPECT_EQ(w.next_position(), 3u);
  EXPECT_TRUE(w.Append({Rec(3, RecordType::kPrepared, 9)}).ok());
}

}  // namespace
}  // namespace txcoord::wal
