// Proves LockTable's rules (participant/core/lock_table.h) one case per row: which requests are
// granted after which holdings, that a refused request changes nothing, that upgrades need the
// only shared lock, and that ReleaseAll frees every key of one transaction and nothing of others.
#include "participant/core/lock_table.h"

#include <gtest/gtest.h>

#include <vector>

namespace txcoord {
namespace {

using Mode = LockTable::Mode;
const TxnId kA{1, 1};
const TxnId kB{1, 2};
const TxnId kC{1, 3};

struct Request {
  TxnId txn;
  Mode mode;
};

struct Case {
  const char* name;
  std::vector<Request> held;  // granted first, in order, all on key "k"
  Request request;
  bool granted;
};

TEST(LockTableTest, GrantsAndConflictsOnOneKey) {
  const std::vector<Case> cases = {
      {"free key, shared", {}, {kA, Mode::kShared}, true},
      {"free key, exclusive", {}, {kA, Mode::kExclusive}, true},
      {"shared beside shared", {{kB, Mode::kShared}}, {kA, Mode::kShared}, true},
      {"exclusive beside another's shared", {{kB, Mode::kShared}}, {kA, Mode::kExclusive}, false},
      {"shared beside another's exclusive", {{kB, Mode::kExclusive}}, {kA, Mode::kShared}, false},
      {"exclusive beside another's exclusive",
       {{kB, Mode::kExclusive}},
       {kA, Mode::kExclusive},
       false},
      {"upgrade of the only shared lock", {{kA, Mode::kShared}}, {kA, Mode::kExclusive}, true},
      {"upgrade while another shares",
       {{kA, Mode::kShared}, {kB, Mode::kShared}},
       {kA, Mode::kExclusive},
       false},
      {"shared again under my exclusive", {{kA, Mode::kExclusive}}, {kA, Mode::kShared}, true},
      {"exclusive again under my exclusive",
       {{kA, Mode::kExclusive}},
       {kA, Mode::kExclusive},
       true},
      {"shared again under my shared", {{kA, Mode::kShared}}, {kA, Mode::kShared}, true},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    LockTable locks;
    for (const Request& h : c.held) ASSERT_TRUE(locks.TryLock(h.txn, "k", h.mode));
    const LockTable before = locks;
    EXPECT_EQ(locks.TryLock(c.request.txn, "k", c.request.mode), c.granted);
    if (!c.granted) {
      for (TxnId t : {kA, kB}) EXPECT_EQ(locks.HeldBy(t), before.HeldBy(t));
      LockTable after = locks, unchanged = before;
      EXPECT_EQ(after.TryLock(kC, "k", Mode::kShared), unchanged.TryLock(kC, "k", Mode::kShared));
    }
    bool requester_held = false;
    for (const Request& h : c.held) requester_held |= h.txn == c.request.txn;
    EXPECT_EQ(locks.Holds(c.request.txn), c.granted || requester_held);
    // A refused request changes nothing: releasing the holders frees the key entirely.
    for (const Request& h : c.held) locks.ReleaseAll(h.txn);
    locks.ReleaseAll(c.request.txn);
    EXPECT_EQ(locks.keys_locked(), 0u);
  }
}

TEST(LockTableTest, AnUpgradedLockExcludesOthersUntilReleased) {
  LockTable locks;
  ASSERT_TRUE(locks.TryLock(kA, "k", Mode::kShared));
  ASSERT_TRUE(locks.TryLock(kA, "k", Mode::kExclusive));
  EXPECT_FALSE(locks.TryLock(kB, "k", Mode::kShared));
  locks.ReleaseAll(kA);
  EXPECT_TRUE(locks.TryLock(kB, "k", Mode::kExclusive));
}

TEST(LockTableTest, ReleaseAllFreesOneTransactionsKeysOnly) {
  LockTable locks;
  ASSERT_TRUE(locks.TryLock(kA, "x", Mode::kExclusive));
  ASSERT_TRUE(locks.TryLock(kA, "y", Mode::kShared));
  ASSERT_TRUE(locks.TryLock(kB, "y", Mode::kShared));
  ASSERT_TRUE(locks.TryLock(kC, "z", Mode::kExclusive));
  EXPECT_EQ(locks.keys_locked(), 3u);
  EXPECT_EQ(locks.HeldBy(kA), (std::set<std::string>{"x", "y"}));

  locks.ReleaseAll(kA);
  EXPECT_FALSE(locks.Holds(kA));
  EXPECT_TRUE(locks.HeldBy(kA).empty());
  EXPECT_EQ(locks.keys_locked(), 2u) << "y stays shared by B, z exclusive by C";
  EXPECT_TRUE(locks.TryLock(kA, "x", Mode::kExclusive));
  EXPECT_FALSE(locks.TryLock(kA, "y", Mode::kExclusive)) << "B still shares y";
  EXPECT_FALSE(locks.TryLock(kA, "z", Mode::kShared));

  locks.ReleaseAll(kB);
  locks.ReleaseAll(kC);
  locks.ReleaseAll(kA);
  locks.ReleaseAll(kA);  // idempotent
  EXPECT_EQ(locks.keys_locked(), 0u);
}

}  // namespace
}  // namespace txcoord
