// Step tests of the participant core (participant/core/participant_core.h), in the style of etcd
// raft's raft_paper_test.go: one or more tests per rule of the header and of DESIGN.md sections
// 4 and 6 -- strict two-phase locking with no-wait, buffered writes, the vote rules (YES after a
// durable PREPARED, NO, READ-ONLY, one phase), decisions, fencing by coordinator epoch, the 3PC
// PRE-COMMIT / promise / accept rules of the termination protocol, in-doubt resolution and
// recovery from the log. Each test drives one ParticipantCore (shard 1) over a std::map store
// with hand-built messages from the coordinator or from other shards, then drains TakeReady()
// and asserts the exact output: records appended (type, write set, ballot), messages sent now,
// messages held until a record is durable (Ready::deferred_messages, released only after
// OnDurable covers their lsn), client replies, lock state and Digest(). A rule about something
// not happening (no record, no YES before the disk, no change from a stale epoch) is tested in
// the state where it could happen. Randomness (in-doubt backoff jitter) comes from a seeded Rng;
// tests rely only on the documented jitter bounds ([d/2, d]).

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/ids.h"
#include "common/protocol.h"
#include "tests/unit/core_test_util.h"
#include "common/rng.h"
#include "participant/core/participant_core.h"

namespace txcoord {
namespace {

using testing_util::OfType;
using testing_util::Targets;

constexpr ShardId kShard = 1;

class MapReader : public KvReader {
 public:
  std::optional<std::string> Get(const std::string& key) const override {
    auto it = data.find(key);
    if (it == data.end()) return std::nullopt;
    return it->second;
  }
  std::map<std::string, std::string> data;
};

Op Get(std::string key, bool for_update = false) {
  return {.type = Op::Type::kGet, .key = std::move(key), .for_update = for_update};
}
Op Put(std::string key, std::string value) {
  return {.type = Op::Type::kPut, .key = std::move(key), .value = std::move(value)};
}
Op Del(std::string key) { return {.type = Op::Type::kDelete, .key = std::move(key)}; }
Op Add(std::string key, int64_t delta, int64_t min_result = INT64_MIN) {
  return {.type = Op::Type::kAdd, .key = std::move(key), .delta = delta, .min_result = min_result};
}

Message FromCoord(MsgType type, TxnId txn, Epoch epoch = 1, Protocol p = Protocol::kTwoPc) {
  Message m;
  m.type = type;
  m.from = NodeRef::Coordinator();
  m.to = NodeRef::Shard(kShard);
  m.txn = txn;
  m.epoch = epoch;
  m.protocol = p;
  return m;
}

Message FromShard(ShardId s, MsgType type, TxnId txn, Protocol p = Protocol::kThreePc) {
  Message m;
  m.type = type;
  m.from = NodeRef::Shard(s);
  m.to = NodeRef::Shard(kShard);
  m.txn = txn;
  m.epoch = txn.epoch;
  m.protocol = p;
  return m;
}

Message Prepare(TxnId txn, std::vector<ShardId> participants, Protocol p = Protocol::kTwoPc,
                bool one_phase = false, std::vector<Op> ops = {}) {
  Message m = FromCoord(MsgType::kPrepare, txn, txn.epoch, p);
  m.participants = std::move(participants);
  m.one_phase = one_phase;
  m.ops = std::move(ops);
  return m;
}

Lsn MaxLsn(const Ready& rd) {
  Lsn l = 0;
  for (const Record& r : rd.records) l = std::max(l, r.lsn);
  return l;
}

class ParticipantStepTest : public ::testing::Test {
 protected:
  // A participant for shard 1 that has already seen (durably) coordinator epoch 1, so that
  // records in the tests are the protocol's, not the first EPOCH-SEEN.
  ParticipantCore& Make(ParticipantOptions o = {.shard = kShard}, bool see_epoch_1 = true) {
    p_ = std::make_unique<ParticipantCore>(o, &store_, &rng_);
    if (see_epoch_1) {
      p_->Step(FromCoord(MsgType::kStatusReply, TxnId{1, 999}, 1));
      const Ready rd = p_->TakeReady();
      EXPECT_EQ(rd.records.size(), 1u);
      p_->OnDurable(MaxLsn(rd));
    }
    return *p_;
  }
  ClientReply Exec(TxnId txn, std::vector<Op> ops) {
    p_->Execute(++request_, txn, txn.epoch, std::move(ops));
    const Ready rd = p_->TakeReady();
    EXPECT_EQ(rd.replies.size(), 1u);
    return rd.replies.empty() ? ClientReply{} : rd.replies[0];
  }
  // Prepares txn (2PC unless told) after running ops interactively; returns the PREPARED lsn,
  // made durable, with the YES drained.
  Lsn PrepareDurably(TxnId txn, std::vector<Op> ops, std::vector<ShardId> participants = {1, 2},
                     Protocol p = Protocol::kTwoPc) {
    EXPECT_TRUE(Exec(txn, std::move(ops)).ok);
    p_->Step(Prepare(txn, std::move(participants), p));
    Ready rd = p_->TakeReady();
    EXPECT_EQ(rd.records.size(), 1u);
    const Lsn lsn = MaxLsn(rd);
    p_->OnDurable(lsn);
    rd = p_->TakeReady();
    EXPECT_EQ(OfType(rd.messages, MsgType::kVote).size(), 1u);
    return lsn;
  }

  MapReader store_;
  Rng rng_{7};
  std::unique_ptr<ParticipantCore> p_;
  uint64_t request_ = 0;
};

// ---- execution under strict two-phase locking ------------------------------------------------

TEST_F(ParticipantStepTest, ExecuteReadsSharedWritesBufferedConflictAborts) {
  store_.data = {{"a", "1"}, {"b", "2"}};
  ParticipantCore& p = Make();
  const TxnId t1{1, 1};
  const TxnId t2{1, 2};
  const TxnId t3{1, 3};
  const TxnId t4{1, 4};

  ClientReply r = Exec(t1, {Get("a"), Put("b", "20")});
  EXPECT_TRUE(r.ok);
  EXPECT_EQ(r.reads, (std::vector<OpResult>{{"a", true, "1"}}));
  EXPECT_EQ(p.StateOf(t1), TxnState::kActive);
  EXPECT_EQ(p.locks_held(), 2u);

  // A shared lock is shared.
  r = Exec(t2, {Get("a")});
  EXPECT_TRUE(r.ok);
  EXPECT_EQ(r.reads, (std::vector<OpResult>{{"a", true, "1"}}));

  // Reading a key t1 wrote conflicts (no-wait): t3 is aborted here, with its other lock.
  p.Execute(50, t3, 1, {Get("c"), Get("b")});
  Ready rd = p.TakeReady();
  EXPECT_TRUE(rd.records.empty()) << "an abort before any vote needs no record";
  EXPECT_TRUE(rd.messages.empty());
  ASSERT_EQ(rd.replies.size(), 1u);
  EXPECT_EQ(rd.replies[0].request_id, 50u);
  EXPECT_FALSE(rd.replies[0].ok);
  EXPECT_EQ(rd.replies[0].reason, AbortReason::kLockConflict);
  EXPECT_EQ(rd.replies[0].outcome, Outcome::kAborted);
  EXPECT_EQ(p.StateOf(t3), TxnState::kAborted);
  EXPECT_EQ(p.locks_held(), 2u) << "t3's shared lock on c is released";
  EXPECT_EQ(p.stats().lock_conflicts, 1u);
  EXPECT_TRUE(Exec(t4, {Put("c", "x")}).ok) << "c is free again";

  // t3 is done: later requests in it are refused.
  p.Execute(51, t3, 1, {Get("z")});
  rd = p.TakeReady();
  ASSERT_EQ(rd.replies.size(), 1u);
  EXPECT_FALSE(rd.replies[0].ok);
  EXPECT_EQ(rd.replies[0].outcome, Outcome::kAborted);
}

TEST_F(ParticipantStepTest, WriteAfterAnotherTxnsReadConflicts) {
  store_.data = {{"a", "1"}};
  ParticipantCore& p = Make();
  EXPECT_TRUE(Exec({1, 1}, {Get("a")}).ok);
  const ClientReply r = Exec({1, 2}, {Put("a", "9")});
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.reason, AbortReason::kLockConflict);
  // Upgrading one's own shared lock is fine when nobody else shares it.
  EXPECT_TRUE(Exec({1, 1}, {Put("a", "2")}).ok);
  EXPECT_EQ(p.StateOf({1, 1}), TxnState::kActive);
}

TEST_F(ParticipantStepTest, ReadYourOwnBufferedWrites) {
  store_.data = {{"k", "old"}, {"d", "gone-soon"}};
  Make();
  const TxnId t{1, 1};
  EXPECT_TRUE(Exec(t, {Put("k", "new")}).ok);
  ClientReply r = Exec(t, {Get("k"), Get("d")});
  EXPECT_EQ(r.reads, (std::vector<OpResult>{{"k", true, "new"}, {"d", true, "gone-soon"}}));
  r = Exec(t, {Del("d"), Get("d")});
  EXPECT_EQ(r.reads, (std::vector<OpResult>{{"d", false, ""}}));
  EXPECT_EQ(store_.data.at("k"), "old") << "writes are buffered in the transaction";
}

TEST_F(ParticipantStepTest, AddBelowMinResultFailsWithConstraint) {
  store_.data = {{"acct", "10"}};
  ParticipantCore& p = Make();
  const TxnId t{1, 1};
  ClientReply r = Exec(t, {Add("acct", -4, 0), Get("acct"), Add("missing", 3)});
  EXPECT_TRUE(r.ok);
  EXPECT_EQ(r.reads, (std::vector<OpResult>{{"acct", true, "6"}}));
  r = Exec(t, {Add("acct", -7, 0)});  // 6 - 7 < 0
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.reason, AbortReason::kConstraint);
  EXPECT_EQ(r.outcome, Outcome::kAborted);
  EXPECT_EQ(p.StateOf(t), TxnState::kAborted);
  EXPECT_EQ(p.locks_held(), 0u);
  // At exactly the bound it succeeds.
  EXPECT_TRUE(Exec({1, 2}, {Add("acct", -10, 0)}).ok);
}

// ADD reads the value as a whole base-10 signed 64-bit integer: anything else, and a sum that
// overflows, aborts with CONSTRAINT and writes nothing (the IDL's promise). It once committed
// INT64_MAX + 1 as INT64_MIN, 'abc' + 1 as 1 and '12abc' + 1 as 13.
TEST_F(ParticipantStepTest, AddOfANonIntegerOrAnOverflowFailsWithConstraint) {
  struct Case {
    std::optional<std::string> stored;
    int64_t delta;
    std::optional<std::string> sum;  // nullopt: CONSTRAINT
  };
  const std::vector<Case> cases = {
      {std::nullopt, 3, "3"},
      {"", 3, "3"},
      {"-5", 2, "-3"},
      {"9223372036854775806", 1, "9223372036854775807"},
      {"9223372036854775807", 1, std::nullopt},
      {"-9223372036854775808", -1, std::nullopt},
      {"-9223372036854775807", -1, "-9223372036854775808"},
      {"abc", 1, std::nullopt},
      {"12abc", 1, std::nullopt},
      {" 12", 1, std::nullopt},
      {"+12", 1, std::nullopt},
      {"99999999999999999999", 1, std::nullopt},
      {"1.5", 1, std::nullopt},
  };
  uint64_t seq = 0;
  for (const Case& c : cases) {
    SCOPED_TRACE(c.stored.value_or("(missing)") + " + " + std::to_string(c.delta));
    store_.data.clear();
    if (c.stored) store_.data["n"] = *c.stored;
    Make();
    const ClientReply r = Exec({1, ++seq}, {Add("n", c.delta), Get("n")});
    if (c.sum) {
      EXPECT_TRUE(r.ok);
      EXPECT_EQ(r.reads, (std::vector<OpResult>{{"n", true, *c.sum}}));
    } else {
      EXPECT_FALSE(r.ok);
      EXPECT_EQ(r.reason, AbortReason::kConstraint);
      EXPECT_EQ(p_->locks_held(), 0u);
    }
  }
}

TEST_F(ParticipantStepTest, IdleActiveTxnIsAbortedAndReleasesItsLocks) {
  ParticipantCore& p = Make({.shard = kShard, .idle_timeout_ticks = 50});
  const TxnId t{1, 1};
  EXPECT_TRUE(Exec(t, {Put("a", "1")}).ok);
  for (int i = 0; i < 30; ++i) p.Tick();
  EXPECT_TRUE(Exec(t, {Get("b")}).ok);  // activity restarts the idle clock
  for (int i = 0; i < 49; ++i) p.Tick();
  EXPECT_EQ(p.StateOf(t), TxnState::kActive);
  p.Tick();
  EXPECT_EQ(p.StateOf(t), TxnState::kAborted);
  EXPECT_EQ(p.locks_held(), 0u);
  const Ready rd = p.TakeReady();
  EXPECT_TRUE(rd.records.empty());
  EXPECT_TRUE(rd.messages.empty());
  // Its PREPARE, if it ever comes, gets NO.
  p.Step(Prepare(t, {1, 2}));
  const std::vector<Message> v = OfType(p.TakeReady().messages, MsgType::kVote);
  ASSERT_EQ(v.size(), 1u);
  EXPECT_EQ(v[0].vote, Vote::kNo);
}

// ---- votes ----------------------------------------------------------------------------------

TEST_F(ParticipantStepTest, PrepareLogsWriteSetAndHoldsYesUntilDurable) {
  store_.data = {{"z", "26"}};
  ParticipantCore& p = Make();
  const TxnId t{1, 1};
  EXPECT_TRUE(Exec(t, {Put("x", "1"), Del("y"), Get("z")}).ok);
  p.Step(Prepare(t, {1, 2}));
  Ready rd = p.TakeReady();
  ASSERT_EQ(rd.records.size(), 1u);
  const Record r = rd.records[0];
  EXPECT_EQ(r.type, RecordType::kPrepared);
  EXPECT_EQ(r.txn, t);
  EXPECT_EQ(r.epoch, 1u);
  EXPECT_EQ(r.protocol, Protocol::kTwoPc);
  EXPECT_EQ(r.participants, (std::vector<ShardId>{1, 2}));
  EXPECT_EQ(r.writes, (std::vector<Write>{{"x", "1"}, {"y", std::nullopt}}));
  EXPECT_TRUE(rd.messages.empty()) << "YES must not leave before PREPARED is durable";
  ASSERT_EQ(rd.deferred_messages.size(), 1u);
  EXPECT_EQ(rd.deferred_messages[0].after_lsn, r.lsn);
  const Message held = rd.deferred_messages[0].message;
  EXPECT_EQ(held.type, MsgType::kVote);
  EXPECT_EQ(held.vote, Vote::kYes);
  EXPECT_TRUE(held.to.is_coordinator());
  EXPECT_EQ(held.from, NodeRef::Shard(kShard));
  EXPECT_EQ(held.txn, t);
  EXPECT_EQ(p.StateOf(t), TxnState::kPrepared);

  p.OnDurable(r.lsn - 1);
  EXPECT_TRUE(p.TakeReady().messages.empty()) << "an earlier lsn does not cover the record";
  p.OnDurable(r.lsn);
  rd = p.TakeReady();
  ASSERT_EQ(rd.messages.size(), 1u);
  EXPECT_EQ(rd.messages[0].type, MsgType::kVote);
  EXPECT_EQ(rd.messages[0].vote, Vote::kYes);
  EXPECT_TRUE(rd.records.empty());
  EXPECT_EQ(p.locks_held(), 3u) << "a prepared transaction keeps its locks";
}

TEST_F(ParticipantStepTest, InteractiveReadOnly2pcVotesReadOnlyAndLeaves) {
  store_.data = {{"a", "1"}};
  ParticipantCore& p = Make();
  const TxnId t{1, 1};
  EXPECT_TRUE(Exec(t, {Get("a"), Get("b", /*for_update=*/true)}).ok);
  EXPECT_EQ(p.locks_held(), 2u);
  p.Step(Prepare(t, {1, 2}));
  const Ready rd = p.TakeReady();
  EXPECT_TRUE(rd.records.empty());
  EXPECT_TRUE(rd.deferred_messages.empty());
  ASSERT_EQ(rd.messages.size(), 1u);
  EXPECT_EQ(rd.messages[0].vote, Vote::kReadOnly);
  EXPECT_EQ(p.locks_held(), 0u);
  EXPECT_EQ(p.StateOf(t), TxnState::kUnknown) << "a read-only voter leaves the transaction";
  EXPECT_TRUE(p.InDoubt().empty());
}

// A one-phase shard's answer is the outcome: every repeat of it (a duplicate PREPARE, a state
// query after a lost vote, either after a restart) carries the same reads (found by txsim with
// one shard: a duplicated PREPARE's repeated vote won the race without the audit's reads).
TEST_F(ParticipantStepTest, OnePhaseAnswersRepeatTheirReads) {
  store_.data["a"] = "1";
  ParticipantCore& p = Make();
  const TxnId ro{1, 60};
  p.Step(Prepare(ro, {kShard}, Protocol::kTwoPc, true, {Get("a")}));
  std::vector<Message> votes = OfType(p.TakeReady().messages, MsgType::kVote);
  ASSERT_EQ(votes.size(), 1u);
  const std::vector<OpResult> reads = votes[0].reads;
  ASSERT_EQ(reads.size(), 1u);
  p.Step(Prepare(ro, {kShard}, Protocol::kTwoPc, true, {Get("a")}));
  votes = OfType(p.TakeReady().messages, MsgType::kVote);
  ASSERT_EQ(votes.size(), 1u);
  EXPECT_EQ(votes[0].outcome, Outcome::kCommitted);
  EXPECT_EQ(votes[0].reads, reads) << "a duplicate PREPARE";
  Message q = FromCoord(MsgType::kStateQuery, ro);
  q.abort_if_unprepared = true;
  p.Step(q);
  std::vector<Message> replies = OfType(p.TakeReady().messages, MsgType::kStateReply);
  ASSERT_EQ(replies.size(), 1u);
  EXPECT_EQ(replies[0].state, TxnState::kCommitted);
  EXPECT_EQ(replies[0].reads, reads) << "a state query after a lost vote";

  // With a write, the reads are in the COMMITTED record and survive a restart.
  const TxnId rw{1, 61};
  p.Step(Prepare(rw, {kShard}, Protocol::kTwoPc, true, {Get("a"), Put("b", "2")}));
  Ready rd = p.TakeReady();
  ASSERT_EQ(rd.records.size(), 1u);
  const Record committed = rd.records[0];
  EXPECT_EQ(committed.type, RecordType::kCommitted);
  EXPECT_EQ(committed.reads, reads);
  ParticipantCore& restarted = Make({.shard = kShard}, /*see_epoch_1=*/false);  // p is gone
  restarted.Restore({{.lsn = 0, .type = RecordType::kEpochSeen, .epoch = 1}, committed},
                    committed.lsn);
  restarted.Step(Prepare(rw, {kShard}, Protocol::kTwoPc, true, {Get("a"), Put("b", "2")}));
  votes = OfType(restarted.TakeReady().messages, MsgType::kVote);
  ASSERT_EQ(votes.size(), 1u);
  EXPECT_EQ(votes[0].outcome, Outcome::kCommitted);
  EXPECT_EQ(votes[0].reads, reads) << "after a restart";
}

TEST_F(ParticipantStepTest, OneShotReadOnly2pcPrepareVotesYesWithARecord) {
  store_.data = {{"a", "1"}};
  ParticipantCore& p = Make();
  const TxnId t{1, 1};
  p.Step(Prepare(t, {1, 2}, Protocol::kTwoPc, false, {Get("a")}));
  Ready rd = p.TakeReady();
  ASSERT_EQ(rd.records.size(), 1u);
  EXPECT_EQ(rd.records[0].type, RecordType::kPrepared);
  EXPECT_TRUE(rd.records[0].writes.empty());
  EXPECT_TRUE(rd.messages.empty());
  ASSERT_EQ(rd.deferred_messages.size(), 1u);
  EXPECT_EQ(rd.deferred_messages[0].message.vote, Vote::kYes)
      << "a one-shot read must keep its lock until the decision";
  EXPECT_EQ(rd.deferred_messages[0].message.reads, (std::vector<OpResult>{{"a", true, "1"}}));
  EXPECT_EQ(p.locks_held(), 1u);
  EXPECT_EQ(p.StateOf(t), TxnState::kPrepared);
  // A duplicate PREPARE after the record is durable repeats YES with the same reads.
  p.OnDurable(rd.records[0].lsn);
  p.TakeReady();
  p.Step(Prepare(t, {1, 2}, Protocol::kTwoPc, false, {Get("a")}));
  rd = p.TakeReady();
  EXPECT_TRUE(rd.records.empty());
  ASSERT_EQ(rd.messages.size(), 1u);
  EXPECT_EQ(rd.messages[0].vote, Vote::kYes);
  EXPECT_EQ(rd.messages[0].reads, (std::vector<OpResult>{{"a", true, "1"}}));
}

TEST_F(ParticipantStepTest, ReadOnly3pcParticipantVotesYes) {
  store_.data = {{"a", "1"}};
  ParticipantCore& p = Make();
  const TxnId t{1, 1};
  EXPECT_TRUE(Exec(t, {Get("a")}).ok);
  p.Step(Prepare(t, {0, 1, 2}, Protocol::kThreePc));
  const Ready rd = p.TakeReady();
  ASSERT_EQ(rd.records.size(), 1u);
  EXPECT_EQ(rd.records[0].type, RecordType::kPrepared);
  EXPECT_EQ(rd.records[0].protocol, Protocol::kThreePc);
  ASSERT_EQ(rd.deferred_messages.size(), 1u);
  EXPECT_EQ(rd.deferred_messages[0].message.vote, Vote::kYes)
      << "a 3PC voter must stay to answer termination rounds";
  EXPECT_EQ(p.locks_held(), 1u);
}

TEST_F(ParticipantStepTest, UnknownTxnPrepareWithoutOpsVotesNo) {
  ParticipantCore& p = Make();
  const TxnId t{1, 8};
  p.Step(Prepare(t, {1, 2}));
  const Ready rd = p.TakeReady();
  EXPECT_TRUE(rd.records.empty());
  ASSERT_EQ(rd.messages.size(), 1u);
  EXPECT_EQ(rd.messages[0].type, MsgType::kVote);
  EXPECT_EQ(rd.messages[0].vote, Vote::kNo);
  EXPECT_EQ(rd.messages[0].reason, AbortReason::kUnknownTxn);
  EXPECT_EQ(rd.messages[0].txn, t);
}

TEST_F(ParticipantStepTest, OneShot2pcPrepareThatFailsVotesNoWithoutRecord) {
  ParticipantCore& p = Make();
  EXPECT_TRUE(Exec({1, 1}, {Put("x", "1")}).ok);
  const TxnId t{1, 2};
  p.Step(Prepare(t, {1, 2}, Protocol::kTwoPc, false, {Put("y", "2"), Get("x")}));
  const Ready rd = p.TakeReady();
  EXPECT_TRUE(rd.records.empty()) << "2PC presumed abort: a NO needs no record";
  ASSERT_EQ(rd.messages.size(), 1u);
  EXPECT_EQ(rd.messages[0].vote, Vote::kNo);
  EXPECT_EQ(rd.messages[0].reason, AbortReason::kLockConflict);
  EXPECT_TRUE(rd.messages[0].reads.empty());
  EXPECT_EQ(p.locks_held(), 1u) << "t's lock on y is released";
}

TEST_F(ParticipantStepTest, OnePhasePrepareWithWritesCommitsDurablyBeforeYes) {
  ParticipantCore& p = Make();
  const TxnId t{1, 1};
  EXPECT_TRUE(Exec(t, {Put("x", "1")}).ok);
  p.Step(Prepare(t, {1}, Protocol::kTwoPc, /*one_phase=*/true));
  Ready rd = p.TakeReady();
  ASSERT_EQ(rd.records.size(), 1u);
  EXPECT_EQ(rd.records[0].type, RecordType::kCommitted);
  EXPECT_EQ(rd.records[0].writes, (std::vector<Write>{{"x", "1"}}));
  EXPECT_TRUE(rd.messages.empty());
  ASSERT_EQ(rd.deferred_messages.size(), 1u);
  EXPECT_EQ(rd.deferred_messages[0].after_lsn, rd.records[0].lsn);
  EXPECT_EQ(rd.deferred_messages[0].message.vote, Vote::kYes);
  EXPECT_EQ(rd.deferred_messages[0].message.outcome, Outcome::kCommitted);
  EXPECT_EQ(p.StateOf(t), TxnState::kCommitted);
  EXPECT_EQ(p.locks_held(), 1u) << "locks go once the outcome is durable";
  p.OnDurable(rd.records[0].lsn);
  rd = p.TakeReady();
  ASSERT_EQ(rd.messages.size(), 1u);
  EXPECT_EQ(rd.messages[0].outcome, Outcome::kCommitted);
  EXPECT_EQ(p.locks_held(), 0u);
  EXPECT_TRUE(p.InDoubt().empty()) << "one phase: never in doubt";
}

TEST_F(ParticipantStepTest, OnePhaseReadOnlyCommitsWithoutRecord) {
  store_.data = {{"a", "1"}};
  ParticipantCore& p = Make();
  const TxnId t{1, 1};
  p.Step(Prepare(t, {1}, Protocol::kTwoPc, true, {Get("a")}));
  const Ready rd = p.TakeReady();
  EXPECT_TRUE(rd.records.empty());
  ASSERT_EQ(rd.messages.size(), 1u);
  EXPECT_EQ(rd.messages[0].outcome, Outcome::kCommitted);
  EXPECT_EQ(rd.messages[0].reads, (std::vector<OpResult>{{"a", true, "1"}}));
  EXPECT_EQ(p.locks_held(), 0u);
}

TEST_F(ParticipantStepTest, OnePhaseOneShotFailureLogsAbortBeforeNo) {
  store_.data = {{"acct", "3"}};
  ParticipantCore& p = Make();
  const TxnId t{1, 1};
  p.Step(Prepare(t, {1}, Protocol::kTwoPc, true, {Put("log", "x"), Add("acct", -5, 0)}));
  Ready rd = p.TakeReady();
  ASSERT_EQ(rd.records.size(), 1u);
  EXPECT_EQ(rd.records[0].type, RecordType::kAborted);
  EXPECT_EQ(rd.records[0].txn, t);
  EXPECT_TRUE(rd.messages.empty()) << "the one-phase NO is a decision: durable first";
  ASSERT_EQ(rd.deferred_messages.size(), 1u);
  EXPECT_EQ(rd.deferred_messages[0].after_lsn, rd.records[0].lsn);
  const Message v = rd.deferred_messages[0].message;
  EXPECT_EQ(v.vote, Vote::kNo);
  EXPECT_EQ(v.reason, AbortReason::kConstraint);
  EXPECT_EQ(v.outcome, Outcome::kAborted);
  EXPECT_EQ(p.locks_held(), 0u);
  p.OnDurable(rd.records[0].lsn);
  rd = p.TakeReady();
  ASSERT_EQ(rd.messages.size(), 1u);
  EXPECT_EQ(rd.messages[0].vote, Vote::kNo);
  // A duplicate PREPARE does not run the ops again.
  store_.data["acct"] = "100";
  p.Step(Prepare(t, {1}, Protocol::kTwoPc, true, {Put("log", "x"), Add("acct", -5, 0)}));
  rd = p.TakeReady();
  EXPECT_TRUE(rd.records.empty());
  ASSERT_EQ(rd.messages.size(), 1u);
  EXPECT_EQ(rd.messages[0].vote, Vote::kNo);
  EXPECT_EQ(rd.messages[0].outcome, Outcome::kAborted);
}

TEST_F(ParticipantStepTest, DuplicatePrepareAfterVotingResendsYes) {
  ParticipantCore& p = Make();
  const TxnId t{1, 1};
  EXPECT_TRUE(Exec(t, {Put("x", "1")}).ok);
  p.Step(Prepare(t, {1, 2}));
  Ready rd = p.TakeReady();
  const Lsn lsn = MaxLsn(rd);
  // Before the record is durable, the duplicate's YES waits too.
  p.Step(Prepare(t, {1, 2}));
  rd = p.TakeReady();
  EXPECT_TRUE(rd.records.empty()) << "no second PREPARED record";
  EXPECT_TRUE(rd.messages.empty());
  ASSERT_EQ(rd.deferred_messages.size(), 1u);
  EXPECT_EQ(rd.deferred_messages[0].after_lsn, lsn);
  p.OnDurable(lsn);
  rd = p.TakeReady();
  EXPECT_EQ(OfType(rd.messages, MsgType::kVote).size(), 2u);
  // After it is durable, at once.
  p.Step(Prepare(t, {1, 2}));
  rd = p.TakeReady();
  EXPECT_TRUE(rd.records.empty());
  ASSERT_EQ(rd.messages.size(), 1u);
  EXPECT_EQ(rd.messages[0].vote, Vote::kYes);
}

// ---- decisions ------------------------------------------------------------------------------

TEST_F(ParticipantStepTest, CommitLogsWritesAcksAfterDurableAndReleasesLocksThen) {
  ParticipantCore& p = Make();
  const TxnId t{1, 1};
  PrepareDurably(t, {Put("x", "1"), Del("y")});
  p.Step(FromCoord(MsgType::kCommit, t));
  Ready rd = p.TakeReady();
  ASSERT_EQ(rd.records.size(), 1u);
  const Record r = rd.records[0];
  EXPECT_EQ(r.type, RecordType::kCommitted);
  EXPECT_EQ(r.txn, t);
  EXPECT_EQ(r.writes, (std::vector<Write>{{"x", "1"}, {"y", std::nullopt}}));
  EXPECT_TRUE(rd.messages.empty());
  ASSERT_EQ(rd.deferred_messages.size(), 1u);
  EXPECT_EQ(rd.deferred_messages[0].after_lsn, r.lsn);
  EXPECT_EQ(rd.deferred_messages[0].message.type, MsgType::kDecisionAck);
  EXPECT_TRUE(rd.deferred_messages[0].message.to.is_coordinator());
  EXPECT_EQ(p.StateOf(t), TxnState::kCommitted);

  // Not durable yet: the locks stay, a reader of x conflicts.
  EXPECT_EQ(p.locks_held(), 2u);
  EXPECT_FALSE(Exec({1, 2}, {Get("x")}).ok);

  p.OnDurable(r.lsn);
  rd = p.TakeReady();
  ASSERT_EQ(rd.messages.size(), 1u);
  EXPECT_EQ(rd.messages[0].type, MsgType::kDecisionAck);
  EXPECT_TRUE(rd.messages[0].ok);
  EXPECT_EQ(rd.messages[0].txn, t);
  EXPECT_EQ(p.locks_held(), 0u);
  EXPECT_TRUE(Exec({1, 3}, {Get("x")}).ok);
  EXPECT_TRUE(p.InDoubt().empty());

  // A duplicate COMMIT only repeats the ack.
  p.Step(FromCoord(MsgType::kCommit, t));
  rd = p.TakeReady();
  EXPECT_TRUE(rd.records.empty());
  ASSERT_EQ(rd.messages.size(), 1u);
  EXPECT_EQ(rd.messages[0].type, MsgType::kDecisionAck);
}

TEST_F(ParticipantStepTest, AbortOfPreparedTxnIsLogged) {
  ParticipantCore& p = Make();
  const TxnId t{1, 1};
  PrepareDurably(t, {Put("x", "1")});
  p.Step(FromCoord(MsgType::kAbort, t));
  const Ready rd = p.TakeReady();
  ASSERT_EQ(rd.records.size(), 1u);
  EXPECT_EQ(rd.records[0].type, RecordType::kAborted);
  EXPECT_EQ(rd.records[0].txn, t);
  EXPECT_TRUE(rd.messages.empty()) << "presumed abort: no ack";
  EXPECT_EQ(p.StateOf(t), TxnState::kAborted);
  EXPECT_EQ(p.locks_held(), 0u);
  EXPECT_TRUE(p.InDoubt().empty());
}

TEST_F(ParticipantStepTest, AbortOfActiveTxnNeedsNoRecord) {
  ParticipantCore& p = Make();
  const TxnId t{1, 1};
  EXPECT_TRUE(Exec(t, {Put("x", "1")}).ok);
  p.Step(FromCoord(MsgType::kAbort, t));
  const Ready rd = p.TakeReady();
  EXPECT_TRUE(rd.records.empty());
  EXPECT_EQ(p.StateOf(t), TxnState::kAborted);
  EXPECT_EQ(p.locks_held(), 0u);
}

TEST_F(ParticipantStepTest, CommitOfNeverVotedTxnAppliesNothing) {
  ParticipantCore& p = Make();
  const TxnId t{1, 1};
  EXPECT_TRUE(Exec(t, {Put("x", "1")}).ok);
  p.Step(FromCoord(MsgType::kCommit, t));
  const Ready rd = p.TakeReady();
  EXPECT_TRUE(rd.records.empty());
  EXPECT_EQ(p.StateOf(t), TxnState::kActive);
  EXPECT_EQ(p.stats().conflicting_decisions, 1u);
}

TEST_F(ParticipantStepTest, CommitOfUnknownTxnIsAckedForTheReadOnlyVoter) {
  ParticipantCore& p = Make();
  p.Step(FromCoord(MsgType::kCommit, TxnId{1, 4}));
  const Ready rd = p.TakeReady();
  EXPECT_TRUE(rd.records.empty());
  ASSERT_EQ(rd.messages.size(), 1u);
  EXPECT_EQ(rd.messages[0].type, MsgType::kDecisionAck);
  EXPECT_TRUE(rd.messages[0].ok);
}

// ---- fencing ----------------------------------------------------------------------------------

TEST_F(ParticipantStepTest, AMadeUpTransactionIdDoesNotFenceTheRealCoordinator) {
  // Issue 12's finding: Participant.run with a TxnId of epoch 1001, sent straight to a shard,
  // made it refuse every real coordinator epoch for good.
  ParticipantCore& p = Make();
  const ClientReply forged = Exec(TxnId{1001, 1}, {Put("f", "1")});
  EXPECT_TRUE(forged.ok);
  EXPECT_EQ(p.max_epoch(), 1u);
  const TxnId real{1, 7};
  EXPECT_TRUE(Exec(real, {Put("r", "1")}).ok) << "the real coordinator's transactions run on";
  p.Step(Prepare(real, {1, 2}));
  const Ready rd = p.TakeReady();
  EXPECT_TRUE(OfType(rd.messages, MsgType::kStaleEpoch).empty());
  EXPECT_EQ(rd.records.size(), 1u) << "PREPARED, and no EPOCH-SEEN";
}

TEST_F(ParticipantStepTest, StaleEpochIsRefusedAndChangesNothing) {
  ParticipantCore& p = Make({.shard = kShard}, /*see_epoch_1=*/false);
  const TxnId old{1, 5};
  p.Execute(1, old, 1, {Put("x", "1")});
  Ready rd = p.TakeReady();
  EXPECT_TRUE(rd.records.empty()) << "a client's ops never raise the fencing epoch";
  p.Step(Prepare(old, {1, 2}));
  rd = p.TakeReady();
  ASSERT_EQ(rd.records.size(), 2u);
  EXPECT_EQ(rd.records[0].type, RecordType::kEpochSeen) << "the coordinator's PREPARE does";
  EXPECT_EQ(rd.records[0].epoch, 1u);
  p.OnDurable(MaxLsn(rd));
  p.TakeReady();

  // Coordinator epoch 2 speaks: the shard remembers it durably.
  p.Step(FromCoord(MsgType::kStatusReply, TxnId{2, 1}, 2));
  rd = p.TakeReady();
  ASSERT_EQ(rd.records.size(), 1u);
  EXPECT_EQ(rd.records[0].type, RecordType::kEpochSeen);
  EXPECT_EQ(rd.records[0].epoch, 2u);
  EXPECT_EQ(p.max_epoch(), 2u);
  p.OnDurable(rd.records[0].lsn);
  p.TakeReady();

  const uint64_t digest = p.Digest();
  for (MsgType type : {MsgType::kAbort, MsgType::kCommit, MsgType::kPrepare, MsgType::kPreCommit,
                       MsgType::kStateQuery, MsgType::kTermAccept, MsgType::kStatusReply}) {
    Message m = FromCoord(type, old, /*epoch=*/1);
    m.participants = {1, 2};
    m.ballot = type == MsgType::kStateQuery || type == MsgType::kTermAccept ? 99 : 0;
    m.abort_if_unprepared = true;
    m.outcome = Outcome::kAborted;
    p.Step(m);
    rd = p.TakeReady();
    EXPECT_TRUE(rd.records.empty()) << ToString(type);
    EXPECT_TRUE(rd.deferred_messages.empty()) << ToString(type);
    ASSERT_EQ(rd.messages.size(), 1u) << ToString(type);
    EXPECT_EQ(rd.messages[0].type, MsgType::kStaleEpoch) << ToString(type);
    EXPECT_TRUE(rd.messages[0].to.is_coordinator());
    EXPECT_EQ(rd.messages[0].current_epoch, 2u);
    EXPECT_EQ(p.Digest(), digest) << ToString(type);
    EXPECT_EQ(p.StateOf(old), TxnState::kPrepared);
  }
  EXPECT_EQ(p.stats().stale_rejected, 7u);

  // A client of the deposed coordinator cannot start work either.
  p.Execute(9, TxnId{1, 6}, 1, {Put("y", "1")});
  rd = p.TakeReady();
  ASSERT_EQ(rd.replies.size(), 1u);
  EXPECT_FALSE(rd.replies[0].ok);
  EXPECT_EQ(rd.replies[0].reason, AbortReason::kStaleEpoch);
  EXPECT_TRUE(rd.records.empty());
  EXPECT_EQ(p.Digest(), digest);

  // The current epoch is served.
  p.Step(FromCoord(MsgType::kCommit, old, 2));
  rd = p.TakeReady();
  ASSERT_EQ(rd.records.size(), 1u);
  EXPECT_EQ(rd.records[0].type, RecordType::kCommitted);
}

// ---- 3PC: PRE-COMMIT, promises, accepts ------------------------------------------------------

class ThreePcTest : public ParticipantStepTest {
 protected:
  const TxnId t_{1, 1};
  void SetUp() override {
    Make();
    PrepareDurably(t_, {Put("x", "1")}, {0, 1, 2}, Protocol::kThreePc);
  }
  Message StateQuery(Ballot b, bool abort_if_unprepared = true, TxnId txn = TxnId{1, 1}) {
    Message q = FromShard(0, MsgType::kStateQuery, txn);
    q.ballot = b;
    q.abort_if_unprepared = abort_if_unprepared;
    return q;
  }
  Message TermAccept(Ballot b, bool commit) {
    Message a = FromShard(0, MsgType::kTermAccept, t_);
    a.ballot = b;
    a.commit = commit;
    return a;
  }
};

TEST_F(ThreePcTest, PreCommitOnPreparedLogsBallotZeroAndAcksAfterDurable) {
  ParticipantCore& p = *p_;
  Message pc = FromCoord(MsgType::kPreCommit, t_, 1, Protocol::kThreePc);
  pc.commit = true;
  p.Step(pc);
  Ready rd = p.TakeReady();
  ASSERT_EQ(rd.records.size(), 1u);
  EXPECT_EQ(rd.records[0].type, RecordType::kPreCommitted);
  EXPECT_EQ(rd.records[0].ballot, 0u);
  EXPECT_EQ(rd.records[0].txn, t_);
  EXPECT_TRUE(rd.messages.empty());
  ASSERT_EQ(rd.deferred_messages.size(), 1u);
  EXPECT_EQ(rd.deferred_messages[0].after_lsn, rd.records[0].lsn);
  const Message ack = rd.deferred_messages[0].message;
  EXPECT_EQ(ack.type, MsgType::kPreCommitAck);
  EXPECT_TRUE(ack.ok);
  EXPECT_EQ(ack.state, TxnState::kPreCommitted);
  EXPECT_EQ(p.StateOf(t_), TxnState::kPreCommitted);
  p.OnDurable(rd.records[0].lsn);
  rd = p.TakeReady();
  ASSERT_EQ(OfType(rd.messages, MsgType::kPreCommitAck).size(), 1u);
  EXPECT_TRUE(rd.messages[0].to.is_coordinator());
}

TEST_F(ThreePcTest, PromiseIsLoggedThenBallotZeroIsRefused) {
  ParticipantCore& p = *p_;
  const Ballot b = MakeBallot(1, 1);
  p.Step(StateQuery(b));
  Ready rd = p.TakeReady();
  ASSERT_EQ(rd.records.size(), 1u);
  EXPECT_EQ(rd.records[0].type, RecordType::kPromised);
  EXPECT_EQ(rd.records[0].ballot, b);
  EXPECT_TRUE(rd.messages.empty()) << "a promise is said only once it is durable";
  ASSERT_EQ(rd.deferred_messages.size(), 1u);
  const Message reply = rd.deferred_messages[0].message;
  EXPECT_EQ(rd.deferred_messages[0].after_lsn, rd.records[0].lsn);
  EXPECT_EQ(reply.type, MsgType::kStateReply);
  EXPECT_EQ(reply.to, NodeRef::Shard(0));
  EXPECT_EQ(reply.from, NodeRef::Shard(kShard));
  EXPECT_EQ(reply.ballot, b);
  EXPECT_TRUE(reply.ok);
  EXPECT_EQ(reply.state, TxnState::kPrepared);
  EXPECT_EQ(reply.promised_ballot, b);
  EXPECT_EQ(p.StateOf(t_), TxnState::kPrepared) << "a promise is not an accept";
  p.OnDurable(rd.records[0].lsn);
  p.TakeReady();

  // The coordinator's ballot 0 comes too late.
  Message pc = FromCoord(MsgType::kPreCommit, t_, 1, Protocol::kThreePc);
  pc.commit = true;
  p.Step(pc);
  rd = p.TakeReady();
  EXPECT_TRUE(rd.records.empty());
  ASSERT_EQ(rd.messages.size(), 1u);
  EXPECT_EQ(rd.messages[0].type, MsgType::kPreCommitAck);
  EXPECT_FALSE(rd.messages[0].ok);
  EXPECT_EQ(rd.messages[0].promised_ballot, b);
  EXPECT_EQ(p.StateOf(t_), TxnState::kPrepared);

  // A lower ballot is refused and logs nothing.
  p.Step(StateQuery(MakeBallot(0, 3)));
  rd = p.TakeReady();
  EXPECT_TRUE(rd.records.empty());
  ASSERT_EQ(rd.messages.size(), 1u);
  EXPECT_FALSE(rd.messages[0].ok);
  EXPECT_EQ(rd.messages[0].promised_ballot, b);
}

TEST_F(ThreePcTest, TermAcceptAtOrAbovePromiseIsLoggedLowerIsRefused) {
  ParticipantCore& p = *p_;
  const Ballot b = MakeBallot(2, 1);
  p.Step(StateQuery(b));
  p.OnDurable(MaxLsn(p.TakeReady()));
  p.TakeReady();

  p.Step(TermAccept(MakeBallot(1, 3), /*commit=*/true));  // lower than the promise
  Ready rd = p.TakeReady();
  EXPECT_TRUE(rd.records.empty());
  ASSERT_EQ(rd.messages.size(), 1u);
  EXPECT_EQ(rd.messages[0].type, MsgType::kTermAcceptAck);
  EXPECT_FALSE(rd.messages[0].ok);
  EXPECT_EQ(rd.messages[0].promised_ballot, b);
  EXPECT_EQ(p.StateOf(t_), TxnState::kPrepared);

  p.Step(TermAccept(b, /*commit=*/false));
  rd = p.TakeReady();
  ASSERT_EQ(rd.records.size(), 1u);
  EXPECT_EQ(rd.records[0].type, RecordType::kPreAborted);
  EXPECT_EQ(rd.records[0].ballot, b);
  EXPECT_TRUE(rd.messages.empty());
  ASSERT_EQ(rd.deferred_messages.size(), 1u);
  EXPECT_TRUE(rd.deferred_messages[0].message.ok);
  EXPECT_EQ(rd.deferred_messages[0].message.state, TxnState::kPreAborted);
  EXPECT_EQ(p.StateOf(t_), TxnState::kPreAborted);

  const Ballot higher = MakeBallot(3, kCoordinatorProposer);
  p.Step(TermAccept(higher, /*commit=*/true));
  rd = p.TakeReady();
  ASSERT_EQ(rd.records.size(), 1u);
  EXPECT_EQ(rd.records[0].type, RecordType::kPreCommitted);
  EXPECT_EQ(rd.records[0].ballot, higher);
  EXPECT_EQ(p.StateOf(t_), TxnState::kPreCommitted);

  // A later STATE-QUERY reports the accepted ballot.
  p.OnDurable(MaxLsn(rd));
  p.TakeReady();
  p.Step(StateQuery(MakeBallot(4, 1)));
  p.OnDurable(MaxLsn(p.TakeReady()));
  rd = p.TakeReady();
  ASSERT_EQ(rd.messages.size(), 1u);
  EXPECT_EQ(rd.messages[0].state, TxnState::kPreCommitted);
  EXPECT_EQ(rd.messages[0].accepted_ballot, higher);
}

TEST_F(ThreePcTest, StateQueryOnUnknownTxnAbortsDurablyBeforeReplying) {
  ParticipantCore& p = *p_;
  const TxnId unknown{1, 40};
  p.Step(StateQuery(MakeBallot(1, 1), true, unknown));
  Ready rd = p.TakeReady();
  ASSERT_EQ(rd.records.size(), 1u);
  EXPECT_EQ(rd.records[0].type, RecordType::kAborted);
  EXPECT_EQ(rd.records[0].txn, unknown);
  EXPECT_TRUE(rd.messages.empty());
  ASSERT_EQ(rd.deferred_messages.size(), 1u);
  EXPECT_EQ(rd.deferred_messages[0].after_lsn, rd.records[0].lsn);
  EXPECT_EQ(rd.deferred_messages[0].message.state, TxnState::kAborted);
  EXPECT_EQ(p.StateOf(unknown), TxnState::kAborted);
  // The answer holds: a late PREPARE gets NO.
  p.OnDurable(rd.records[0].lsn);
  p.TakeReady();
  p.Step(Prepare(unknown, {0, 1, 2}, Protocol::kThreePc, false, {Put("q", "1")}));
  rd = p.TakeReady();
  EXPECT_TRUE(rd.records.empty());
  ASSERT_EQ(rd.messages.size(), 1u);
  EXPECT_EQ(rd.messages[0].vote, Vote::kNo);
  EXPECT_EQ(p.locks_held(), 1u) << "only t_'s lock: the late one-shot ran nothing";
}

TEST_F(ThreePcTest, StateQueryOnActiveTxnAbortsItDurably) {
  ParticipantCore& p = *p_;
  const TxnId active{1, 41};
  EXPECT_TRUE(Exec(active, {Put("y", "1")}).ok);
  EXPECT_EQ(p.locks_held(), 2u);
  p.Step(StateQuery(0, true, active));  // e.g. the coordinator's one-phase query
  const Ready rd = p.TakeReady();
  ASSERT_EQ(rd.records.size(), 1u);
  EXPECT_EQ(rd.records[0].type, RecordType::kAborted);
  ASSERT_EQ(rd.deferred_messages.size(), 1u);
  EXPECT_EQ(rd.deferred_messages[0].message.state, TxnState::kAborted);
  EXPECT_EQ(p.locks_held(), 1u);
}

TEST_F(ThreePcTest, StateQueryWithoutAbortOnUnknownTxnOnlyReports) {
  ParticipantCore& p = *p_;
  p.Step(StateQuery(0, false, TxnId{1, 42}));
  const Ready rd = p.TakeReady();
  EXPECT_TRUE(rd.records.empty());
  ASSERT_EQ(rd.messages.size(), 1u);
  EXPECT_EQ(rd.messages[0].state, TxnState::kUnknown);
}

TEST_F(ThreePcTest, PreCommitForUnknownTxnIsRefused) {
  ParticipantCore& p = *p_;
  Message pc = FromCoord(MsgType::kPreCommit, TxnId{1, 43}, 1, Protocol::kThreePc);
  p.Step(pc);
  const Ready rd = p.TakeReady();
  EXPECT_TRUE(rd.records.empty());
  ASSERT_EQ(rd.messages.size(), 1u);
  EXPECT_FALSE(rd.messages[0].ok);
}

// ---- in doubt ---------------------------------------------------------------------------------

TEST_F(ParticipantStepTest, InDoubtAsksTheCoordinatorAndCommitsOnItsAnswer) {
  ParticipantCore& p = Make({.shard = kShard, .in_doubt_first_ticks = 30, .in_doubt_max_ticks = 240});
  const TxnId t{1, 1};
  PrepareDurably(t, {Put("x", "1")});
  for (int i = 0; i < 14; ++i) p.Tick();  // the first delay is at least 30 / 2
  EXPECT_TRUE(p.TakeReady().messages.empty());
  std::vector<Message> sent;
  for (int i = 14; i < 30; ++i) {  // ... and at most 30
    p.Tick();
    for (const Message& m : p.TakeReady().messages) sent.push_back(m);
  }
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(sent[0].type, MsgType::kStatus);
  EXPECT_TRUE(sent[0].to.is_coordinator());
  EXPECT_EQ(sent[0].from, NodeRef::Shard(kShard));
  EXPECT_EQ(sent[0].txn, t);
  EXPECT_EQ(sent[0].epoch, 1u);
  ASSERT_EQ(p.InDoubt().size(), 1u);
  EXPECT_EQ(p.InDoubt()[0].txn, t);
  EXPECT_EQ(p.InDoubt()[0].queries, 1);
  EXPECT_EQ(p.InDoubt()[0].age_ticks, 30);

  // "Not yet" changes nothing.
  p.Step(FromCoord(MsgType::kStatusReply, t));
  EXPECT_TRUE(p.TakeReady().empty());
  EXPECT_EQ(p.StateOf(t), TxnState::kPrepared);

  Message reply = FromCoord(MsgType::kStatusReply, t);
  reply.outcome = Outcome::kCommitted;
  p.Step(reply);
  Ready rd = p.TakeReady();
  ASSERT_EQ(rd.records.size(), 1u);
  EXPECT_EQ(rd.records[0].type, RecordType::kCommitted);
  EXPECT_EQ(rd.records[0].writes, (std::vector<Write>{{"x", "1"}}));
  ASSERT_EQ(rd.deferred_messages.size(), 1u);
  EXPECT_EQ(rd.deferred_messages[0].message.type, MsgType::kDecisionAck);
  EXPECT_EQ(p.StateOf(t), TxnState::kCommitted);
  EXPECT_TRUE(p.InDoubt().empty());
  p.OnDurable(rd.records[0].lsn);
  p.TakeReady();
  for (int i = 0; i < 500; ++i) p.Tick();
  EXPECT_TRUE(OfType(p.TakeReady().messages, MsgType::kStatus).empty()) << "no longer in doubt";
}

TEST_F(ParticipantStepTest, InDoubtStatusAbortedAborts) {
  ParticipantCore& p = Make();
  const TxnId t{1, 1};
  PrepareDurably(t, {Put("x", "1")});
  Message reply = FromCoord(MsgType::kStatusReply, t);
  reply.outcome = Outcome::kAborted;
  p.Step(reply);
  const Ready rd = p.TakeReady();
  ASSERT_EQ(rd.records.size(), 1u);
  EXPECT_EQ(rd.records[0].type, RecordType::kAborted);
  EXPECT_EQ(p.locks_held(), 0u);
}

TEST_F(ParticipantStepTest, InDoubtQueriesBackOffUpToTheCap) {
  ParticipantCore& p = Make({.shard = kShard, .in_doubt_first_ticks = 4, .in_doubt_max_ticks = 16});
  PrepareDurably({1, 1}, {Put("x", "1")});
  std::vector<int> at;
  for (int i = 1; i <= 200; ++i) {
    p.Tick();
    if (!OfType(p.TakeReady().messages, MsgType::kStatus).empty()) at.push_back(i);
  }
  ASSERT_GE(at.size(), 6u);
  // Gaps: the i-th delay is in [d/2, d] with d = 4, 8, 16, 16, ...
  const std::vector<int> nominal{4, 8, 16, 16, 16, 16};
  int prev = 0;
  for (size_t i = 0; i < nominal.size(); ++i) {
    EXPECT_GE(at[i] - prev, nominal[i] / 2) << "query " << i;
    EXPECT_LE(at[i] - prev, nominal[i]) << "query " << i;
    prev = at[i];
  }
}

// The coordinator group failed over: a transaction in doubt asks its new primary at the next
// tick, not when a backoff grown during the outage ends; a shard group's move changes nothing.
TEST_F(ParticipantStepTest, InDoubtAsksTheCoordinatorsNewPrimaryAtTheNextTick) {
  ParticipantCore& p =
      Make({.shard = kShard, .in_doubt_first_ticks = 1000, .in_doubt_max_ticks = 1000});
  PrepareDurably({1, 1}, {Put("x", "1")});
  p.Tick();
  EXPECT_TRUE(OfType(p.TakeReady().messages, MsgType::kStatus).empty());
  p.OnPeerMoved(NodeRef::Shard(kShard + 1));
  p.Tick();
  EXPECT_TRUE(OfType(p.TakeReady().messages, MsgType::kStatus).empty());
  p.OnPeerMoved(NodeRef::Coordinator());
  EXPECT_TRUE(p.TakeReady().messages.empty()) << "nothing before the tick";
  p.Tick();
  EXPECT_EQ(OfType(p.TakeReady().messages, MsgType::kStatus).size(), 1u);
  p.Tick();
  EXPECT_TRUE(OfType(p.TakeReady().messages, MsgType::kStatus).empty()) << "backoff again";
}

// Many in doubt at once (a new coordinator primary inherits a backlog): they ask
// queries_per_tick a tick, in id order, each once, not all in one tick.
TEST_F(ParticipantStepTest, ABacklogInDoubtAsksTheNewPrimaryAFewATick) {
  ParticipantCore& p = Make({.shard = kShard,
                             .in_doubt_first_ticks = 1000,
                             .in_doubt_max_ticks = 1000,
                             .queries_per_tick = 2});
  for (uint64_t seq = 1; seq <= 5; ++seq) PrepareDurably({1, seq}, {Put("k" + std::to_string(seq), "1")});
  p.OnPeerMoved(NodeRef::Coordinator());
  std::vector<std::vector<uint64_t>> asked;
  for (int i = 0; i < 4; ++i) {
    p.Tick();
    asked.emplace_back();
    for (const Message& m : OfType(p.TakeReady().messages, MsgType::kStatus)) {
      asked.back().push_back(m.txn.seq);
    }
  }
  EXPECT_EQ(asked, (std::vector<std::vector<uint64_t>>{{1, 2}, {3, 4}, {5}, {}}));
}

TEST_F(ParticipantStepTest, ThreePcInDoubtRunsTerminationAfterQueries) {
  ParticipantCore& p =
      Make({.shard = kShard, .termination_after_queries = 2, .retain_finished = 1});
  const TxnId t{1, 1};
  PrepareDurably(t, {Put("x", "1")}, {0, 1, 2}, Protocol::kThreePc);
  int statuses = 0;
  std::vector<Message> round;
  Ready started;
  for (int i = 0; i < 400 && round.empty(); ++i) {
    p.Tick();
    started = p.TakeReady();
    statuses += static_cast<int>(OfType(started.messages, MsgType::kStatus).size());
    EXPECT_TRUE(OfType(started.messages, MsgType::kStateQuery).empty())
        << "no query goes out before the proposer's own promise is durable";
    for (const DeferredMessage& d : started.deferred_messages) {
      if (d.message.type == MsgType::kStateQuery) round.push_back(d.message);
    }
    if (round.empty()) {
      EXPECT_LT(statuses, 2) << "the round starts with the second query";
    }
  }
  EXPECT_EQ(statuses, 2);
  ASSERT_EQ(round.size(), 3u);
  EXPECT_EQ(Targets(round, MsgType::kStateQuery), (std::vector<ShardId>{0, 1, 2}))
      << "every participant, this shard included";
  const Ballot b = round[0].ballot;
  EXPECT_GT(b, 0u);
  EXPECT_EQ(b & 0xFFFF, static_cast<Ballot>(kShard + 1)) << "ballot carries the proposer id";
  for (const Message& q : round) {
    EXPECT_EQ(q.ballot, b);
    EXPECT_EQ(q.from, NodeRef::Shard(kShard));
    EXPECT_TRUE(q.abort_if_unprepared);
    EXPECT_EQ(q.txn, t);
  }
  EXPECT_EQ(p.stats().termination_rounds, 1u);
  // The proposer promised its own ballot in a record, so a restart never reuses the ballot.
  ASSERT_EQ(started.records.size(), 1u);
  EXPECT_EQ(started.records[0].type, RecordType::kPromised);
  EXPECT_EQ(started.records[0].ballot, b);
  p.OnDurable(started.records[0].lsn);
  EXPECT_EQ(Targets(p.TakeReady().messages, MsgType::kStateQuery),
            (std::vector<ShardId>{0, 1, 2}));

  // Drive the round: this shard answers itself (already promised: no new record), shard 2 says
  // PREPARED.
  for (const Message& q : round) {
    if (q.to.shard == kShard) p.Step(q);
  }
  Ready rd = p.TakeReady();
  EXPECT_TRUE(rd.records.empty());
  const std::vector<Message> self_reply = OfType(rd.messages, MsgType::kStateReply);
  ASSERT_EQ(self_reply.size(), 1u);
  EXPECT_TRUE(self_reply[0].ok);
  p.Step(self_reply[0]);
  EXPECT_TRUE(OfType(p.TakeReady().messages, MsgType::kTermAccept).empty()) << "1 of 3";
  Message r2 = FromShard(2, MsgType::kStateReply, t);
  r2.ballot = b;
  r2.state = TxnState::kPrepared;
  r2.promised_ballot = b;
  r2.ok = true;
  p.Step(r2);
  rd = p.TakeReady();
  const std::vector<Message> accepts = OfType(rd.messages, MsgType::kTermAccept);
  EXPECT_EQ(Targets(rd.messages, MsgType::kTermAccept), (std::vector<ShardId>{0, 1, 2}));
  ASSERT_EQ(accepts.size(), 3u);
  for (const Message& a : accepts) {
    EXPECT_EQ(a.ballot, b);
    EXPECT_FALSE(a.commit) << "all merely PREPARED: abort";
  }

  // Two accepts (self and shard 2): the abort is chosen and announced.
  for (const Message& a : accepts) {
    if (a.to.shard == kShard) p.Step(a);
  }
  rd = p.TakeReady();
  ASSERT_EQ(rd.records.size(), 1u);
  EXPECT_EQ(rd.records[0].type, RecordType::kPreAborted);
  p.OnDurable(rd.records[0].lsn);
  rd = p.TakeReady();
  const std::vector<Message> self_ack = OfType(rd.messages, MsgType::kTermAcceptAck);
  ASSERT_EQ(self_ack.size(), 1u);
  p.Step(self_ack[0]);
  Message a2 = FromShard(2, MsgType::kTermAcceptAck, t);
  a2.ballot = b;
  a2.state = TxnState::kPreAborted;
  a2.promised_ballot = b;
  a2.ok = true;
  p.Step(a2);
  rd = p.TakeReady();
  EXPECT_EQ(Targets(rd.messages, MsgType::kAbort), (std::vector<ShardId>{0, 2}));
  EXPECT_TRUE(OfType(rd.messages, MsgType::kCommit).empty());
  ASSERT_EQ(rd.records.size(), 1u);
  EXPECT_EQ(rd.records[0].type, RecordType::kAborted);
  EXPECT_EQ(rd.records[0].ballot, b) << "the outcome record names the round that decided it";
  EXPECT_EQ(p.StateOf(t), TxnState::kAborted);
  EXPECT_EQ(p.locks_held(), 0u);
  // The coordinator learns the decision once the outcome record is durable.
  std::vector<Message> learn;
  for (const DeferredMessage& d : rd.deferred_messages) {
    if (d.message.type != MsgType::kLearnDecision) continue;
    EXPECT_EQ(d.after_lsn, rd.records[0].lsn);
    learn.push_back(d.message);
  }
  ASSERT_EQ(learn.size(), 1u);
  EXPECT_TRUE(learn[0].to.is_coordinator());
  EXPECT_EQ(learn[0].outcome, Outcome::kAborted);
  // Held until the coordinator answers: newer transactions finishing do not make it forgotten.
  p.OnDurable(rd.records[0].lsn);
  p.TakeReady();
  for (uint64_t seq = 2; seq <= 3; ++seq) {
    PrepareDurably({1, seq}, {Put("k" + std::to_string(seq), "1")});
    p.Step(FromCoord(MsgType::kAbort, {1, seq}, 1));
    p.OnDurable(MaxLsn(p.TakeReady()));
  }
  EXPECT_EQ(p.StateOf(t), TxnState::kAborted);
}

// A decision of this shard's own termination round is kept, and told to the coordinator again and
// again, until the coordinator answers with COMMIT or ABORT: a decider that forgot it could leave a
// peer that missed the decision in doubt for good (the coordinator's round needs the decider's
// answer as much as the peer's does). A restart keeps holding it: the outcome record says so.
TEST_F(ParticipantStepTest, ADecisionOfItsOwnRoundIsHeldUntilTheCoordinatorAnswers) {
  ParticipantCore& p = Make({.shard = kShard,
                             .in_doubt_first_ticks = 4,
                             .in_doubt_max_ticks = 8,
                             .retain_finished = 1},
                            /*see_epoch_1=*/false);
  const TxnId t{1, 1};
  p.Restore({{.lsn = 1, .type = RecordType::kPrepared, .txn = t, .epoch = 1,
              .protocol = Protocol::kThreePc, .participants = {0, 1, 2}},
             {.lsn = 2, .type = RecordType::kAborted, .txn = t, .epoch = 1,
              .ballot = MakeBallot(7, kShard + 1)}},
            /*log_end=*/2);
  auto learns_in = [&p](int ticks) {
    size_t n = 0;
    for (int i = 0; i < ticks; ++i) {
      p.Tick();
      const Ready rd = p.TakeReady();
      for (const Message& m : OfType(rd.messages, MsgType::kLearnDecision)) {
        EXPECT_EQ(m.outcome, Outcome::kAborted);
        ++n;
      }
    }
    return n;
  };
  EXPECT_GE(learns_in(40), 4u) << "resent until the coordinator answers";
  auto abort = [&p](TxnId id) {
    p.Step(FromCoord(MsgType::kAbort, id, 1));
    const Lsn lsn = MaxLsn(p.TakeReady());
    if (lsn != 0) p.OnDurable(lsn);
  };
  // Newer transactions finish: the held one is not forgotten.
  for (uint64_t seq = 2; seq <= 4; ++seq) {
    PrepareDurably({1, seq}, {Put("k" + std::to_string(seq), "1")});
    abort({1, seq});
  }
  EXPECT_EQ(p.StateOf(t), TxnState::kAborted);
  EXPECT_TRUE(p.IsLive(t)) << "its log records are still needed (log retention)";
  abort(t);
  EXPECT_FALSE(p.IsLive(t));
  EXPECT_EQ(learns_in(40), 0u) << "answered: nothing more to tell";
  PrepareDurably({1, 5}, {Put("k5", "1")});
  abort({1, 5});
  EXPECT_EQ(p.StateOf(t), TxnState::kForgotten) << "forgotten like any other once released";
}

TEST_F(ParticipantStepTest, TwoPcInDoubtNeverRunsTermination) {
  ParticipantCore& p = Make({.shard = kShard, .termination_after_queries = 1});
  PrepareDurably({1, 1}, {Put("x", "1")});
  int statuses = 0;
  for (int i = 0; i < 1000; ++i) {
    p.Tick();
    const Ready rd = p.TakeReady();
    statuses += static_cast<int>(OfType(rd.messages, MsgType::kStatus).size());
    EXPECT_TRUE(OfType(rd.messages, MsgType::kStateQuery).empty());
  }
  EXPECT_GE(statuses, 4) << "2PC keeps asking the coordinator";
}

// ---- recovery ---------------------------------------------------------------------------------

TEST_F(ParticipantStepTest, RestoreOfPreparedRetakesWriteLocksAndGoesInDoubt) {
  ParticipantCore& p = Make({.shard = kShard}, /*see_epoch_1=*/false);
  const TxnId prepared{2, 3};
  const TxnId committed{2, 1};
  p.Restore({
      {.lsn = 1, .type = RecordType::kEpochSeen, .epoch = 2},
      {.lsn = 2, .type = RecordType::kPrepared, .txn = committed, .epoch = 2,
       .participants = {1, 2}, .writes = {{"c", "1"}}},
      {.lsn = 3, .type = RecordType::kCommitted, .txn = committed, .epoch = 2,
       .writes = {{"c", "1"}}},
      {.lsn = 4, .type = RecordType::kPrepared, .txn = prepared, .epoch = 2,
       .participants = {1, 2}, .writes = {{"x", "1"}, {"y", std::nullopt}}},
  }, /*log_end=*/4);
  EXPECT_TRUE(p.TakeReady().empty()) << "restoring appends nothing";
  EXPECT_EQ(p.max_epoch(), 2u);
  EXPECT_EQ(p.StateOf(prepared), TxnState::kPrepared);
  EXPECT_EQ(p.StateOf(committed), TxnState::kCommitted);
  EXPECT_EQ(p.locks_held(), 2u) << "x and y, not c";

  // A new transaction touching a restored write lock conflicts; an untouched key does not.
  p.Execute(1, TxnId{2, 9}, 2, {Put("y", "2")});
  Ready rd = p.TakeReady();
  ASSERT_EQ(rd.replies.size(), 1u);
  EXPECT_FALSE(rd.replies[0].ok);
  EXPECT_EQ(rd.replies[0].reason, AbortReason::kLockConflict);
  EXPECT_TRUE(Exec(TxnId{2, 10}, {Put("c", "2")}).ok);

  // Fencing survived the restart.
  p.Step(FromCoord(MsgType::kAbort, prepared, 1));
  rd = p.TakeReady();
  ASSERT_EQ(rd.messages.size(), 1u);
  EXPECT_EQ(rd.messages[0].type, MsgType::kStaleEpoch);
  EXPECT_EQ(p.StateOf(prepared), TxnState::kPrepared);

  // In doubt: it asks the coordinator.
  std::vector<Message> statuses;
  for (int i = 0; i < 30; ++i) {
    p.Tick();
    for (const Message& m : OfType(p.TakeReady().messages, MsgType::kStatus)) statuses.push_back(m);
  }
  ASSERT_EQ(statuses.size(), 1u);
  EXPECT_EQ(statuses[0].txn, prepared);
  ASSERT_EQ(p.InDoubt().size(), 1u);

  // ... and the restored write set is what a COMMIT applies.
  Message commit = FromCoord(MsgType::kCommit, prepared, 2);
  p.Step(commit);
  rd = p.TakeReady();
  ASSERT_EQ(rd.records.size(), 1u);
  EXPECT_EQ(rd.records[0].type, RecordType::kCommitted);
  EXPECT_EQ(rd.records[0].writes, (std::vector<Write>{{"x", "1"}, {"y", std::nullopt}}));
}

// A one-shot YES vote carries its reads. Its PREPARED record holds the read keys and results, so
// that after a restart the shard retakes the shared locks and a repeated vote repeats the reads
// (found by txsim seed 17598: a restarted shard re-voted YES without its reads).
TEST_F(ParticipantStepTest, PreparedRecordKeepsReadLocksAndOneShotReadsAcrossRestart) {
  ParticipantCore& p = Make();
  const TxnId t{1, 40};
  p.Step(Prepare(t, {1, 2}, Protocol::kTwoPc, false, {Get("a"), Put("b", "2")}));
  Ready rd = p.TakeReady();
  ASSERT_EQ(rd.records.size(), 1u);
  const Record prepared = rd.records[0];
  EXPECT_EQ(prepared.type, RecordType::kPrepared);
  EXPECT_EQ(prepared.read_keys, (std::vector<std::string>{"a"}));
  ASSERT_EQ(prepared.reads.size(), 1u);
  EXPECT_EQ(prepared.reads[0].key, "a");

  ParticipantCore& restarted = Make({.shard = kShard}, /*see_epoch_1=*/false);  // p is gone
  restarted.Restore({{.lsn = 0, .type = RecordType::kEpochSeen, .epoch = 1}, prepared},
                    prepared.lsn);
  restarted.TakeReady();
  // The shared lock on "a" is back: a writer conflicts, a reader does not.
  restarted.Execute(1, TxnId{1, 41}, 1, {Put("a", "9")});
  rd = restarted.TakeReady();
  ASSERT_EQ(rd.replies.size(), 1u);
  EXPECT_EQ(rd.replies[0].reason, AbortReason::kLockConflict);
  // A duplicate PREPARE gets the same YES with the same reads.
  restarted.Step(Prepare(t, {1, 2}, Protocol::kTwoPc, false, {Get("a"), Put("b", "2")}));
  rd = restarted.TakeReady();
  const std::vector<Message> votes = OfType(rd.messages, MsgType::kVote);
  ASSERT_EQ(votes.size(), 1u);
  EXPECT_EQ(votes[0].vote, Vote::kYes);
  EXPECT_EQ(votes[0].reads, prepared.reads);
}

// A DECISION-ACK answers the COMMIT it acknowledges: it carries that message's epoch, so it
// reaches the coordinator that resent COMMIT after a failover, not the dead one that prepared
// (found by txsim: recovered transactions were never ENDed because their acks went astray).
TEST_F(ParticipantStepTest, DecisionAckEchoesTheEpochOfTheCommitItAnswers) {
  ParticipantCore& p = Make();
  const TxnId t{1, 50};
  PrepareDurably(t, {Put("x", "1")});
  p.Step(FromCoord(MsgType::kCommit, t, /*epoch=*/3));
  Ready rd = p.TakeReady();
  ASSERT_EQ(rd.records.size(), 2u) << "epoch-seen and committed";
  p.OnDurable(MaxLsn(rd));
  std::vector<Message> acks = OfType(p.TakeReady().messages, MsgType::kDecisionAck);
  ASSERT_EQ(acks.size(), 1u);
  EXPECT_EQ(acks[0].epoch, 3u);
  // A duplicate COMMIT from yet another epoch is acknowledged in that epoch.
  p.Step(FromCoord(MsgType::kCommit, t, /*epoch=*/4));
  acks = OfType(p.TakeReady().messages, MsgType::kDecisionAck);  // COMMITTED is durable already
  ASSERT_EQ(acks.size(), 1u);
  EXPECT_EQ(acks[0].epoch, 4u);
}

TEST_F(ParticipantStepTest, RestoreOfAbortedVotesNoOnLatePrepare) {
  ParticipantCore& p = Make({.shard = kShard}, false);
  const TxnId aborted{1, 1};
  p.Restore({{.lsn = 1, .type = RecordType::kAborted, .txn = aborted, .epoch = 1}}, 1);
  EXPECT_EQ(p.StateOf(aborted), TxnState::kAborted);
  EXPECT_EQ(p.locks_held(), 0u);
  p.Step(Prepare(aborted, {1, 2}, Protocol::kThreePc, false, {Put("a", "1")}));
  const Ready rd = p.TakeReady();
  const std::vector<Message> v = OfType(rd.messages, MsgType::kVote);
  ASSERT_EQ(v.size(), 1u);
  EXPECT_EQ(v[0].vote, Vote::kNo);
  EXPECT_EQ(p.locks_held(), 0u);
}

// ---- bounded memory of finished transactions ----------------------------------------------------

// Commits a one-phase one-shot 2PC (or 3PC) transaction writing key=value, durably.
void CommitOnePhase(ParticipantCore& p, TxnId t, const std::string& key,
                    Protocol protocol = Protocol::kTwoPc) {
  p.Step(Prepare(t, {kShard}, protocol, /*one_phase=*/true, {Put(key, "1")}));
  const Ready rd = p.TakeReady();
  ASSERT_EQ(rd.records.size(), 1u);
  p.OnDurable(MaxLsn(rd));
  p.TakeReady();
}

TEST_F(ParticipantStepTest, FinishedTransactionsAreForgottenBeyondRetentionNeverReRun) {
  ParticipantCore& p = Make({.shard = kShard, .retain_finished = 2});
  // Ids in the order they finish, as a coordinator issues them (anything never seen at or below
  // the largest id forgotten counts as forgotten).
  const TxnId t1{1, 1};
  const TxnId three{1, 2};
  const TxnId t2{1, 3};
  const TxnId t3{1, 4};
  const TxnId t4{1, 5};
  CommitOnePhase(p, t1, "a");
  CommitOnePhase(p, three, "c", Protocol::kThreePc);
  EXPECT_EQ(p.StateOf(t1), TxnState::kCommitted) << "within the retention";
  CommitOnePhase(p, t2, "b");
  EXPECT_EQ(p.StateOf(t1), TxnState::kForgotten) << "two newer ones finished";
  EXPECT_EQ(p.StateOf(three), TxnState::kCommitted);
  CommitOnePhase(p, t3, "d");
  // 3PC ones too: kept forever, they grew a shard's memory without bound under 3PC load.
  EXPECT_EQ(p.StateOf(three), TxnState::kForgotten);
  CommitOnePhase(p, t4, "e");
  EXPECT_EQ(p.StateOf(t2), TxnState::kForgotten);
  EXPECT_EQ(p.StateOf(t3), TxnState::kCommitted);
  EXPECT_EQ(p.StateOf(t4), TxnState::kCommitted);
  EXPECT_EQ(p.StateOf({1, 6}), TxnState::kUnknown) << "newer than anything forgotten: never seen";
  // Its coordinator is told FORGOTTEN; a late duplicate of its PREPARE runs nothing.
  p.Step(FromCoord(MsgType::kStateQuery, three));
  p.Step(Prepare(three, {kShard}, Protocol::kThreePc, true, {Put("c", "2")}));
  Ready forgotten = p.TakeReady();
  EXPECT_TRUE(forgotten.records.empty());
  ASSERT_EQ(forgotten.messages.size(), 1u);
  EXPECT_EQ(forgotten.messages[0].type, MsgType::kStateReply);
  EXPECT_EQ(forgotten.messages[0].state, TxnState::kForgotten);

  // A late duplicate of a forgotten one-phase PREPARE must not run its ops again (it would commit
  // twice), nor may anyone be told anything about its outcome: no record, and the coordinator's
  // query is answered FORGOTTEN (never aborted here).
  p.Step(Prepare(t1, {kShard}, Protocol::kTwoPc, true, {Put("a", "1")}));
  Message query = FromCoord(MsgType::kStateQuery, t1);
  query.abort_if_unprepared = true;
  p.Step(query);
  Ready rd = p.TakeReady();
  EXPECT_TRUE(rd.records.empty());
  ASSERT_EQ(rd.messages.size(), 1u);
  EXPECT_EQ(rd.messages[0].type, MsgType::kStateReply);
  EXPECT_EQ(rd.messages[0].state, TxnState::kForgotten);
  EXPECT_TRUE(rd.deferred_messages.empty());
  EXPECT_EQ(p.StateOf(t1), TxnState::kForgotten);
  // A resent COMMIT needs no memory: it is acknowledged.
  p.Step(FromCoord(MsgType::kCommit, t2));
  rd = p.TakeReady();
  ASSERT_EQ(OfType(rd.messages, MsgType::kDecisionAck).size(), 1u);
  // A client's ops for a forgotten id are refused, typed.
  const ClientReply r = Exec(t2, {Put("b", "2")});
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.reason, AbortReason::kUnknownTxn);
  EXPECT_EQ(p.locks_held(), 0u);
}

// A core started after its log was truncated (or from a state transfer) knows nothing of the
// transactions whose records went: about any at or below the largest of them it never says
// "unknown" (one-phase or 3PC, it may have committed here): the coordinator is told FORGOTTEN, a
// peer nothing; and a duplicate PREPARE of one runs nothing. txsim found a coordinator told
// "unknown" by such a shard presume a committed one-phase transaction aborted.
TEST_F(ParticipantStepTest, TransactionsWhoseRecordsWereTruncatedAreNeverUnknown) {
  ParticipantCore& p = Make({.shard = kShard, .truncated_max = {1, 50}});
  for (Protocol protocol : {Protocol::kTwoPc, Protocol::kThreePc}) {
    for (MsgType type : {MsgType::kStateQuery, MsgType::kTermAccept}) {
      Message query = FromCoord(type, {1, 40});
      query.protocol = protocol;
      p.Step(query);
      Ready rd = p.TakeReady();
      ASSERT_EQ(rd.messages.size(), 1u) << ToString(protocol);
      EXPECT_EQ(rd.messages[0].state, TxnState::kForgotten);
      EXPECT_TRUE(rd.records.empty()) << ToString(protocol);
      query.from = NodeRef::Shard(kShard + 1);  // a peer's termination round
      p.Step(query);
      rd = p.TakeReady();
      EXPECT_TRUE(rd.messages.empty());
      EXPECT_TRUE(rd.records.empty());
    }
  }
  EXPECT_EQ(p.StateOf({1, 40}), TxnState::kForgotten);
  p.Step(Prepare({1, 45}, {kShard}, Protocol::kThreePc, /*one_phase=*/true, {Put("a", "1")}));
  EXPECT_TRUE(p.TakeReady().records.empty()) << "a very late duplicate must not run again";
  // Newer than anything truncated: never seen here, said so.
  Message query = FromCoord(MsgType::kStateQuery, {1, 51});
  query.protocol = Protocol::kThreePc;
  p.Step(query);
  const Ready rd = p.TakeReady();
  const std::vector<Message> replies = OfType(rd.messages, MsgType::kStateReply);
  ASSERT_EQ(replies.size(), 1u);
  EXPECT_EQ(replies[0].state, TxnState::kUnknown);
}

}  // namespace
}  // namespace txcoord
