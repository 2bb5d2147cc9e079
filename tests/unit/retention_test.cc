// Proves wal/retention.h, the truncation policy: records of a live transaction are never
// dropped, a finished one's are kept until `retain_finished` newer ones finished, records found
// by the startup scan are kept until the core finished their transaction, and the floor never
// passes the durable end of the log.
#include "wal/retention.h"

#include <gtest/gtest.h>

#include <set>

namespace txcoord::wal {
namespace {

Record Rec(Lsn lsn, RecordType type, uint64_t seq) {
  Record r;
  r.lsn = lsn;
  r.type = type;
  r.txn = {1, seq};
  r.epoch = 1;
  return r;
}

TEST(LogRetentionTest, DropsOnlyWhatNoLiveOrRetainedTransactionNeeds) {
  LogRetention retention(/*retain_finished=*/1);
  // txn 1: positions 1,2; txn 2: 3; txn 3: 4,5
  for (const Record& r : {Rec(1, RecordType::kPrepared, 1), Rec(2, RecordType::kCommitted, 1),
                          Rec(3, RecordType::kPrepared, 2), Rec(4, RecordType::kPrepared, 3),
                          Rec(5, RecordType::kCommitted, 3)}) {
    retention.Track(r);
  }
  std::set<uint64_t> live = {1, 2, 3};
  auto is_live = [&](TxnId t) { return live.count(t.seq) != 0; };
  EXPECT_EQ(retention.Floor(is_live, 5), 1u) << "txn 1 is live";
  live.erase(1);
  EXPECT_EQ(retention.Floor(is_live, 5), 1u) << "txn 1 finished: retained until another does";
  live.erase(3);
  EXPECT_EQ(retention.Floor(is_live, 5), 3u)
      << "txn 3 finished: txn 1 leaves the retained window; txn 2 (position 3) is live";
  live.clear();
  EXPECT_EQ(retention.Floor(is_live, 5), 3u) << "txn 2 is the newest finished: retained";
  EXPECT_EQ(retention.tracked(), 0u);
  EXPECT_EQ(retention.retained(), 1u);
}

TEST(LogRetentionTest, TheFloorNeverPassesTheDurableEnd) {
  LogRetention retention(0);
  retention.Track(Rec(1, RecordType::kPrepared, 7));
  retention.Track(Rec(2, RecordType::kAborted, 7));
  auto none_live = [](TxnId) { return false; };
  EXPECT_EQ(retention.Floor(none_live, 1), 2u) << "position 2 is not durable yet";
  EXPECT_EQ(retention.Floor(none_live, 2), 3u);
}

TEST(LogRetentionTest, RecordsFoundAtStartupAreKeptUntilTheirTransactionFinishes) {
  LogRetention retention(0);
  retention.Track(Rec(1, RecordType::kPrepared, 7));  // found by the scan: in doubt
  retention.Track(Rec(2, RecordType::kPrepared, 8));  // appended by the new incarnation
  Record epoch_seen{.lsn = 3, .type = RecordType::kEpochSeen, .epoch = 2};
  retention.Track(epoch_seen);  // about no transaction: not tracked
  bool seven_live = true;
  auto is_live = [&](TxnId t) { return t.seq == 7 ? seven_live : false; };
  EXPECT_EQ(retention.Floor(is_live, 3), 1u);
  seven_live = false;
  EXPECT_EQ(retention.Floor(is_live, 3), 4u);
}

}  // namespace
}  // namespace txcoord::wal
