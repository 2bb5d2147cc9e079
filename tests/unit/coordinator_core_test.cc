// Step tests of the coordinator core (coordinator/core/coordinator_core.h), in the style of etcd
// raft's raft_paper_test.go: one or more tests per protocol rule of the header and of DESIGN.md
// sections 4 and 6. Each test drives a CoordinatorCore directly -- client requests, Step(message)
// with hand-built votes and acks from named shards, Tick() and OnDurable(lsn) -- then drains
// TakeReady() and asserts the exact output: the records appended (type, lsn, participants), the
// messages sent now, the messages and client replies that wait in the durability gate until
// their record is durable ("persist before send", STYLE.md 2), and the client replies. Where a
// rule is about something *not* happening (no record for an abort, no COMMIT before the record
// is durable, no COMMIT straight out of a recovered PRE-COMMIT) the test first puts the core in
// the state where it could happen and then asserts that it does not. Randomness (resend
// jitter) comes from a seeded Rng, and the tests only rely on the documented jitter bounds.

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <map>
#include <vector>

#include "common/ids.h"
#include "common/protocol.h"
#include "tests/unit/core_test_util.h"
#include "common/rng.h"
#include "coordinator/core/coordinator_core.h"

namespace txcoord {
namespace {

using testing_util::OfType;
using testing_util::Targets;

// ---- helpers ------------------------------------------------------------------------------------

std::vector<Message> DeferredOfType(const Ready& rd, MsgType type, Lsn* after = nullptr) {
  std::vector<Message> out;
  for (const DeferredMessage& d : rd.deferred_messages) {
    if (d.message.type != type) continue;
    if (after != nullptr) *after = d.after_lsn;
    out.push_back(d.message);
  }
  return out;
}

Message FromShard(ShardId s, MsgType type, TxnId txn, Epoch epoch = 1) {
  Message m;
  m.type = type;
  m.from = NodeRef::Shard(s);
  m.to = NodeRef::Coordinator();
  m.txn = txn;
  m.epoch = epoch;
  return m;
}

Message VoteFrom(ShardId s, TxnId txn, Vote v, AbortReason reason = AbortReason::kNone) {
  Message m = FromShard(s, MsgType::kVote, txn);
  m.vote = v;
  m.reason = reason;
  return m;
}

Message PreCommitAck(ShardId s, TxnId txn, bool ok, TxnState state = TxnState::kPreCommitted) {
  Message m = FromShard(s, MsgType::kPreCommitAck, txn);
  m.ok = ok;
  m.state = state;
  return m;
}

Message DecisionAck(ShardId s, TxnId txn) {
  Message m = FromShard(s, MsgType::kDecisionAck, txn);
  m.ok = true;
  m.state = TxnState::kCommitted;
  return m;
}

Message StatusQuery(ShardId s, TxnId txn) { return FromShard(s, MsgType::kStatus, txn); }

class CoordinatorStepTest : public ::testing::Test {
 protected:
  CoordinatorCore& Make(CoordinatorOptions o = {}) {
    core_ = std::make_unique<CoordinatorCore>(o, &rng_);
    return *core_;
  }
  // Begins a transaction and asks to commit it over `participants`; returns its id and drops
  // the PREPAREs (tests about PREPARE look at them themselves).
  TxnId BeginAndCommit(CoordinatorCore& c, Protocol p, std::vector<ShardId> participants,
                       uint64_t request_id = 7) {
    const TxnId id = c.Begin(p);
    c.Commit(request_id, id, std::move(participants));
    const Ready rd = c.TakeReady();
    EXPECT_FALSE(OfType(rd.messages, MsgType::kPrepare).empty());
    return id;
  }
  // 3PC with three participants that all voted YES, PRE-COMMIT record durable and sent.
  TxnId PreCommitted3(CoordinatorCore& c) {
    const TxnId id = BeginAndCommit(c, Protocol::kThreePc, {1, 2, 3});
    for (ShardId s : {1, 2, 3}) c.Step(VoteFrom(s, id, Vote::kYes));
    const Ready rd = c.TakeReady();
    EXPECT_EQ(rd.records.size(), 1u);
    c.OnDurable(rd.records.empty() ? 0 : rd.records[0].lsn);
    EXPECT_EQ(Targets(c.TakeReady().messages, MsgType::kPreCommit), (std::vector<ShardId>{1, 2, 3}));
    return id;
  }

  Rng rng_{42};
  std::unique_ptr<CoordinatorCore> core_;
};

// ---- Begin ------------------------------------------------------------------------------------

TEST_F(CoordinatorStepTest, BeginIssuesIdsWithTheEpochAndIncreasingSeq) {
  CoordinatorCore& c = Make({.epoch = 7});
  const TxnId a = c.Begin(Protocol::kTwoPc);
  const TxnId b = c.Begin(Protocol::kThreePc);
  const TxnId d = c.Begin(Protocol::kTwoPc);
  EXPECT_EQ(a.epoch, 7u);
  EXPECT_EQ(b.epoch, 7u);
  EXPECT_EQ(d.epoch, 7u);
  EXPECT_LT(a.seq, b.seq);
  EXPECT_LT(b.seq, d.seq);
  EXPECT_TRUE(a.valid());
  EXPECT_EQ(c.live_transactions(), 3u);
  EXPECT_TRUE(c.TakeReady().empty()) << "Begin alone sends and logs nothing";
}

// ---- PREPARE ----------------------------------------------------------------------------------

TEST_F(CoordinatorStepTest, CommitSendsPrepareToEachParticipant) {
  CoordinatorCore& c = Make({.epoch = 3});
  const TxnId id = c.Begin(Protocol::kTwoPc);
  c.Commit(11, id, {5, 2, 5, 9});  // duplicates and any order
  const Ready rd = c.TakeReady();
  EXPECT_TRUE(rd.records.empty());
  EXPECT_TRUE(rd.replies.empty());
  EXPECT_TRUE(rd.deferred_messages.empty());
  ASSERT_EQ(rd.messages.size(), 3u);
  EXPECT_EQ(Targets(rd.messages, MsgType::kPrepare), (std::vector<ShardId>{2, 5, 9}));
  for (const Message& m : rd.messages) {
    EXPECT_EQ(m.type, MsgType::kPrepare);
    EXPECT_TRUE(m.from.is_coordinator());
    EXPECT_EQ(m.txn, id);
    EXPECT_EQ(m.epoch, 3u);
    EXPECT_EQ(m.protocol, Protocol::kTwoPc);
    EXPECT_EQ(m.participants, (std::vector<ShardId>{2, 5, 9}));
    EXPECT_FALSE(m.one_phase);
    EXPECT_TRUE(m.ops.empty());
  }
  EXPECT_EQ(c.KnownOutcome(id), Outcome::kUnknown);
}

TEST_F(CoordinatorStepTest, ThreePcPrepareCarriesTheProtocol) {
  CoordinatorCore& c = Make();
  const TxnId id = c.Begin(Protocol::kThreePc);
  c.Commit(1, id, {1, 2});
  const Ready rd = c.TakeReady();
  ASSERT_EQ(OfType(rd.messages, MsgType::kPrepare).size(), 2u);
  for (const Message& m : rd.messages) EXPECT_EQ(m.protocol, Protocol::kThreePc);
}

TEST_F(CoordinatorStepTest, ExecuteSendsEachShardItsOwnOps) {
  CoordinatorCore& c = Make();
  const Op get{.type = Op::Type::kGet, .key = "a"};
  const Op put{.type = Op::Type::kPut, .key = "b", .value = "v"};
  const TxnId id = c.Execute(4, Protocol::kTwoPc, {{1, {get}}, {2, {put}}});
  const Ready rd = c.TakeReady();
  const std::vector<Message> prepares = OfType(rd.messages, MsgType::kPrepare);
  ASSERT_EQ(prepares.size(), 2u);
  for (const Message& m : prepares) {
    EXPECT_EQ(m.txn, id);
    EXPECT_FALSE(m.one_phase);
    EXPECT_EQ(m.participants, (std::vector<ShardId>{1, 2}));
    EXPECT_EQ(m.ops, m.to.shard == 1 ? std::vector<Op>{get} : std::vector<Op>{put});
  }
}

TEST_F(CoordinatorStepTest, CommitWithNoParticipantsCommitsAtOnce) {
  CoordinatorCore& c = Make();
  const TxnId id = c.Begin(Protocol::kTwoPc);
  c.Commit(5, id, {});
  const Ready rd = c.TakeReady();
  EXPECT_TRUE(rd.records.empty());
  EXPECT_TRUE(rd.messages.empty());
  ASSERT_EQ(rd.replies.size(), 1u);
  EXPECT_EQ(rd.replies[0].request_id, 5u);
  EXPECT_EQ(rd.replies[0].outcome, Outcome::kCommitted);
  EXPECT_EQ(c.live_transactions(), 0u);
}

TEST_F(CoordinatorStepTest, CommitOfUnknownTxnIsAborted) {
  CoordinatorCore& c = Make();
  c.Commit(5, TxnId{1, 99}, {1, 2});
  const Ready rd = c.TakeReady();
  EXPECT_TRUE(rd.messages.empty());
  ASSERT_EQ(rd.replies.size(), 1u);
  EXPECT_EQ(rd.replies[0].outcome, Outcome::kAborted);
  EXPECT_EQ(rd.replies[0].reason, AbortReason::kUnknownTxn);
  EXPECT_FALSE(rd.replies[0].ok);
}

// ---- 2PC: all YES --------------------------------------------------------------------------

TEST_F(CoordinatorStepTest, AllYesLogsOneCommitAndHoldsCommitAndReplyUntilDurable) {
  CoordinatorCore& c = Make({.epoch = 2});
  const TxnId id = BeginAndCommit(c, Protocol::kTwoPc, {1, 2, 3}, /*request_id=*/21);
  c.Step(VoteFrom(1, id, Vote::kYes));
  c.Step(VoteFrom(2, id, Vote::kYes));
  EXPECT_TRUE(c.TakeReady().empty()) << "no decision before the last vote";
  c.Step(VoteFrom(3, id, Vote::kYes));
  Ready rd = c.TakeReady();

  ASSERT_EQ(rd.records.size(), 1u);
  const Record r = rd.records[0];
  EXPECT_EQ(r.type, RecordType::kCoordCommit);
  EXPECT_EQ(r.txn, id);
  EXPECT_EQ(r.epoch, 2u);
  EXPECT_EQ(r.protocol, Protocol::kTwoPc);
  EXPECT_EQ(r.participants, (std::vector<ShardId>{1, 2, 3}));
  EXPECT_GT(r.lsn, 0u);

  EXPECT_TRUE(rd.messages.empty()) << "COMMIT must not leave before its record is durable";
  EXPECT_TRUE(rd.replies.empty()) << "COMMITTED must not be said before the record is durable";
  ASSERT_EQ(rd.deferred_messages.size(), 3u);
  for (const DeferredMessage& d : rd.deferred_messages) {
    EXPECT_EQ(d.after_lsn, r.lsn);
    EXPECT_EQ(d.message.type, MsgType::kCommit);
    EXPECT_EQ(d.message.epoch, 2u);
    EXPECT_EQ(d.message.txn, id);
  }
  ASSERT_EQ(rd.deferred_replies.size(), 1u);
  EXPECT_EQ(rd.deferred_replies[0].after_lsn, r.lsn);
  EXPECT_EQ(rd.deferred_replies[0].reply.request_id, 21u);
  EXPECT_EQ(rd.deferred_replies[0].reply.outcome, Outcome::kCommitted);
  EXPECT_EQ(c.KnownOutcome(id), Outcome::kUnknown) << "not committed until durable";

  // Time passes, the disk is slow: still nothing leaves.
  for (int i = 0; i < 100; ++i) c.Tick();
  rd = c.TakeReady();
  EXPECT_TRUE(rd.messages.empty());
  EXPECT_TRUE(rd.replies.empty());
  EXPECT_TRUE(rd.records.empty());

  c.OnDurable(r.lsn);
  rd = c.TakeReady();
  EXPECT_TRUE(rd.records.empty());
  EXPECT_TRUE(rd.deferred_messages.empty());
  EXPECT_EQ(Targets(rd.messages, MsgType::kCommit), (std::vector<ShardId>{1, 2, 3}));
  EXPECT_EQ(rd.messages.size(), 3u);
  ASSERT_EQ(rd.replies.size(), 1u);
  EXPECT_EQ(rd.replies[0].request_id, 21u);
  EXPECT_EQ(rd.replies[0].txn, id);
  EXPECT_EQ(rd.replies[0].outcome, Outcome::kCommitted);
  EXPECT_TRUE(rd.replies[0].ok);
  EXPECT_EQ(c.KnownOutcome(id), Outcome::kCommitted);
  EXPECT_TRUE(c.TakeReady().empty()) << "released exactly once";
}

TEST_F(CoordinatorStepTest, DuplicateVotesDoNotDecideEarly) {
  CoordinatorCore& c = Make();
  const TxnId id = BeginAndCommit(c, Protocol::kTwoPc, {1, 2, 3});
  c.Step(VoteFrom(1, id, Vote::kYes));
  c.Step(VoteFrom(1, id, Vote::kYes));
  c.Step(VoteFrom(1, id, Vote::kYes));
  c.Step(VoteFrom(9, id, Vote::kYes));  // not a participant
  EXPECT_TRUE(c.TakeReady().records.empty());
  c.Step(VoteFrom(2, id, Vote::kYes));
  EXPECT_TRUE(c.TakeReady().records.empty());
  c.Step(VoteFrom(3, id, Vote::kYes));
  EXPECT_EQ(c.TakeReady().records.size(), 1u);
}

TEST_F(CoordinatorStepTest, CommitIsResentToUnackedAfterDurable) {
  CoordinatorCore& c = Make();
  const TxnId id = BeginAndCommit(c, Protocol::kTwoPc, {1, 2});
  c.Step(VoteFrom(1, id, Vote::kYes));
  c.Step(VoteFrom(2, id, Vote::kYes));
  c.OnDurable(c.TakeReady().records.at(0).lsn);
  ASSERT_EQ(OfType(c.TakeReady().messages, MsgType::kCommit).size(), 2u);
  c.Step(DecisionAck(1, id));
  EXPECT_TRUE(c.TakeReady().records.empty());
  std::vector<Message> resent;
  for (int i = 0; i < 8; ++i) {  // the first resend delay is at most resend_first_ticks
    c.Tick();
    for (const Message& m : c.TakeReady().messages) resent.push_back(m);
  }
  EXPECT_EQ(Targets(resent, MsgType::kCommit), (std::vector<ShardId>{2}));
}

// A shard group that failed over: the COMMIT it still owes an ack for goes to its new primary at
// the next tick, not when a resend timer grown during the outage fires; other shards' and other
// transactions' resends keep their timers.
TEST_F(CoordinatorStepTest, APeersNewPrimaryGetsWhatWaitsOnItAtTheNextTick) {
  CoordinatorCore& c = Make({.resend_first_ticks = 1000, .resend_max_ticks = 1000});
  const TxnId id = BeginAndCommit(c, Protocol::kTwoPc, {1, 2});
  c.Step(VoteFrom(1, id, Vote::kYes));
  c.Step(VoteFrom(2, id, Vote::kYes));
  c.OnDurable(c.TakeReady().records.at(0).lsn);
  ASSERT_EQ(OfType(c.TakeReady().messages, MsgType::kCommit).size(), 2u);
  c.Step(DecisionAck(1, id));
  const TxnId other = BeginAndCommit(c, Protocol::kTwoPc, {3, 4});  // PREPAREs sent, no vote
  c.TakeReady();
  c.Tick();
  EXPECT_TRUE(c.TakeReady().messages.empty());
  c.OnPeerMoved(NodeRef::Shard(3));  // the other transaction's PREPARE is resent to 3 and 4
  c.OnPeerMoved(NodeRef::Shard(2));
  c.OnPeerMoved(NodeRef::Coordinator());  // its own group: nothing
  EXPECT_TRUE(c.TakeReady().messages.empty()) << "nothing before the tick";
  c.Tick();
  const std::vector<Message> sent = c.TakeReady().messages;
  EXPECT_EQ(Targets(sent, MsgType::kCommit), (std::vector<ShardId>{2}));
  EXPECT_EQ(Targets(sent, MsgType::kPrepare), (std::vector<ShardId>{3, 4}));
  for (const Message& m : OfType(sent, MsgType::kPrepare)) EXPECT_EQ(m.txn, other);
  c.Tick();
  EXPECT_TRUE(c.TakeReady().messages.empty()) << "the backoff begins again after the resend";
}

TEST_F(CoordinatorStepTest, DecisionAckFromAllLogsEndAndForgets) {
  CoordinatorCore& c = Make();
  const TxnId id = BeginAndCommit(c, Protocol::kTwoPc, {1, 2, 3});
  for (ShardId s : {1, 2, 3}) c.Step(VoteFrom(s, id, Vote::kYes));
  const Lsn commit_lsn = c.TakeReady().records.at(0).lsn;
  c.OnDurable(commit_lsn);
  c.TakeReady();

  c.Step(DecisionAck(1, id));
  c.Step(DecisionAck(1, id));  // a duplicate ack counts once
  c.Step(DecisionAck(2, id));
  c.Step(DecisionAck(8, id));  // not a participant
  Ready rd = c.TakeReady();
  EXPECT_TRUE(rd.records.empty()) << "shard 3 has not acked";
  EXPECT_EQ(c.live_transactions(), 1u);
  EXPECT_EQ(c.KnownOutcome(id), Outcome::kCommitted);

  c.Step(DecisionAck(3, id));
  rd = c.TakeReady();
  ASSERT_EQ(rd.records.size(), 1u);
  EXPECT_EQ(rd.records[0].type, RecordType::kCoordEnd);
  EXPECT_EQ(rd.records[0].txn, id);
  EXPECT_EQ(rd.records[0].lsn, commit_lsn + 1);
  EXPECT_TRUE(rd.messages.empty());
  EXPECT_TRUE(rd.deferred_messages.empty()) << "END is lazy: nothing waits on it";
  EXPECT_EQ(c.live_transactions(), 0u);
  // No longer live, but the outcome is remembered for clients (and late queries) that ask.
  EXPECT_EQ(c.KnownOutcome(id), Outcome::kCommitted);
  c.Status(77, id);
  rd = c.TakeReady();
  ASSERT_EQ(rd.replies.size(), 1u);
  EXPECT_EQ(rd.replies[0].outcome, Outcome::kCommitted);
  for (int i = 0; i < 200; ++i) c.Tick();
  EXPECT_TRUE(OfType(c.TakeReady().messages, MsgType::kCommit).empty());
}

TEST_F(CoordinatorStepTest, ForgottenOutcomeIsUnknownToClientsButPresumedAbortForShards) {
  CoordinatorOptions o;
  o.remembered_outcomes = 0;  // remember nothing once a transaction ends
  CoordinatorCore& c = Make(o);
  const TxnId id = BeginAndCommit(c, Protocol::kTwoPc, {1, 2});
  for (ShardId s : {1, 2}) c.Step(VoteFrom(s, id, Vote::kYes));
  c.OnDurable(c.TakeReady().records.at(0).lsn);
  c.TakeReady();
  for (ShardId s : {1, 2}) c.Step(DecisionAck(s, id));
  c.TakeReady();
  ASSERT_EQ(c.live_transactions(), 0u);
  // A shard can only ask before END (every participant applied COMMIT before acking), so
  // presumed abort misleads no one...
  EXPECT_EQ(c.KnownOutcome(id), Outcome::kAborted);
  // ...but a client may ask at any time: it is told UNKNOWN, never a guess.
  c.Status(78, id);
  Ready rd = c.TakeReady();
  ASSERT_EQ(rd.replies.size(), 1u);
  EXPECT_EQ(rd.replies[0].outcome, Outcome::kUnknown);
  // A transaction id this coordinator never issued is known not to have committed.
  c.Status(79, TxnId{id.epoch, id.seq + 1000});
  rd = c.TakeReady();
  ASSERT_EQ(rd.replies.size(), 1u);
  EXPECT_EQ(rd.replies[0].outcome, Outcome::kAborted);
}

// ---- 2PC: NO, READ-ONLY --------------------------------------------------------------------

TEST_F(CoordinatorStepTest, NoVoteAbortsTheOthersWithoutARecord) {
  CoordinatorCore& c = Make();
  const TxnId id = BeginAndCommit(c, Protocol::kTwoPc, {1, 2, 3}, 31);
  c.Step(VoteFrom(1, id, Vote::kYes));
  c.Step(VoteFrom(2, id, Vote::kNo, AbortReason::kLockConflict));
  const Ready rd = c.TakeReady();
  EXPECT_TRUE(rd.records.empty()) << "presumed abort: no forced write";
  EXPECT_TRUE(rd.deferred_messages.empty());
  EXPECT_TRUE(rd.deferred_replies.empty());
  EXPECT_EQ(Targets(rd.messages, MsgType::kAbort), (std::vector<ShardId>{1, 3}))
      << "ABORT to the YES voter and to the one that has not voted, not to the NO voter";
  EXPECT_EQ(rd.messages.size(), 2u);
  for (const Message& m : rd.messages) EXPECT_EQ(m.txn, id);
  ASSERT_EQ(rd.replies.size(), 1u);
  EXPECT_EQ(rd.replies[0].request_id, 31u);
  EXPECT_EQ(rd.replies[0].outcome, Outcome::kAborted);
  EXPECT_EQ(rd.replies[0].reason, AbortReason::kLockConflict);
  EXPECT_FALSE(rd.replies[0].ok);
  EXPECT_EQ(c.KnownOutcome(id), Outcome::kAborted);
  EXPECT_EQ(c.live_transactions(), 0u);
}

TEST_F(CoordinatorStepTest, NoVoteWithoutReasonIsReportedAsVoteNo) {
  CoordinatorCore& c = Make();
  const TxnId id = BeginAndCommit(c, Protocol::kTwoPc, {1, 2});
  c.Step(VoteFrom(2, id, Vote::kNo));
  const Ready rd = c.TakeReady();
  ASSERT_EQ(rd.replies.size(), 1u);
  EXPECT_EQ(rd.replies[0].reason, AbortReason::kVoteNo);
}

TEST_F(CoordinatorStepTest, LateYesAfterAbortIsAnsweredWithAbort) {
  CoordinatorCore& c = Make();
  const TxnId id = BeginAndCommit(c, Protocol::kTwoPc, {1, 2});
  c.Step(VoteFrom(2, id, Vote::kNo));
  c.TakeReady();
  c.Step(VoteFrom(1, id, Vote::kYes));
  const Ready rd = c.TakeReady();
  EXPECT_TRUE(rd.records.empty());
  EXPECT_EQ(Targets(rd.messages, MsgType::kAbort), (std::vector<ShardId>{1}));
}

TEST_F(CoordinatorStepTest, AllReadOnlyCommitsWithoutRecordOrPhaseTwo) {
  CoordinatorCore& c = Make();
  const TxnId id = BeginAndCommit(c, Protocol::kTwoPc, {1, 2}, 41);
  Message v1 = VoteFrom(1, id, Vote::kReadOnly);
  v1.reads = {{"a", true, "1"}};
  c.Step(v1);
  c.Step(VoteFrom(2, id, Vote::kReadOnly));
  Ready rd = c.TakeReady();
  EXPECT_TRUE(rd.records.empty());
  EXPECT_TRUE(rd.messages.empty());
  EXPECT_TRUE(rd.deferred_messages.empty());
  ASSERT_EQ(rd.replies.size(), 1u);
  EXPECT_EQ(rd.replies[0].request_id, 41u);
  EXPECT_EQ(rd.replies[0].outcome, Outcome::kCommitted);
  EXPECT_EQ(rd.replies[0].reads, (std::vector<OpResult>{{"a", true, "1"}}));
  EXPECT_EQ(c.live_transactions(), 0u);
  for (int i = 0; i < 100; ++i) c.Tick();
  rd = c.TakeReady();
  EXPECT_TRUE(rd.messages.empty()) << "read-only voters left the transaction";
}

TEST_F(CoordinatorStepTest, MixedReadOnlyAndYesCommitsOnlyAtYesVoters) {
  CoordinatorCore& c = Make();
  const TxnId id = BeginAndCommit(c, Protocol::kTwoPc, {1, 2, 3});
  c.Step(VoteFrom(1, id, Vote::kReadOnly));
  c.Step(VoteFrom(2, id, Vote::kYes));
  c.Step(VoteFrom(3, id, Vote::kReadOnly));
  Ready rd = c.TakeReady();
  ASSERT_EQ(rd.records.size(), 1u);
  EXPECT_EQ(rd.records[0].type, RecordType::kCoordCommit);
  EXPECT_EQ(DeferredOfType(rd, MsgType::kCommit).size(), 1u);
  EXPECT_EQ(DeferredOfType(rd, MsgType::kCommit).at(0).to, NodeRef::Shard(2));
  c.OnDurable(rd.records[0].lsn);
  rd = c.TakeReady();
  EXPECT_EQ(Targets(rd.messages, MsgType::kCommit), (std::vector<ShardId>{2}));
  ASSERT_EQ(rd.replies.size(), 1u);
  EXPECT_EQ(rd.replies[0].outcome, Outcome::kCommitted);
  // Only the YES voter's ack is needed for END.
  c.Step(DecisionAck(2, id));
  rd = c.TakeReady();
  ASSERT_EQ(rd.records.size(), 1u);
  EXPECT_EQ(rd.records[0].type, RecordType::kCoordEnd);
  EXPECT_EQ(c.live_transactions(), 0u);
}

// ---- one phase ------------------------------------------------------------------------------

TEST_F(CoordinatorStepTest, SingleParticipantPreparesInOnePhase) {
  CoordinatorCore& c = Make();
  const TxnId id = c.Begin(Protocol::kTwoPc);
  c.Commit(51, id, {4});
  Ready rd = c.TakeReady();
  ASSERT_EQ(rd.messages.size(), 1u);
  EXPECT_EQ(rd.messages[0].type, MsgType::kPrepare);
  EXPECT_TRUE(rd.messages[0].one_phase);
  EXPECT_EQ(rd.messages[0].participants, (std::vector<ShardId>{4}));

  Message v = VoteFrom(4, id, Vote::kYes);
  v.outcome = Outcome::kCommitted;
  c.Step(v);
  rd = c.TakeReady();
  EXPECT_TRUE(rd.records.empty()) << "one phase: no coordinator record";
  EXPECT_TRUE(rd.messages.empty()) << "one phase: no phase 2";
  EXPECT_TRUE(rd.deferred_replies.empty()) << "the shard's own record made it durable";
  ASSERT_EQ(rd.replies.size(), 1u);
  EXPECT_EQ(rd.replies[0].request_id, 51u);
  EXPECT_EQ(rd.replies[0].outcome, Outcome::kCommitted);
  EXPECT_EQ(c.live_transactions(), 0u);
}

TEST_F(CoordinatorStepTest, SingleParticipantNoAbortsWithItsReason) {
  CoordinatorCore& c = Make();
  const TxnId id = BeginAndCommit(c, Protocol::kTwoPc, {4}, 52);
  Message v = VoteFrom(4, id, Vote::kNo, AbortReason::kConstraint);
  v.outcome = Outcome::kAborted;
  c.Step(v);
  const Ready rd = c.TakeReady();
  EXPECT_TRUE(rd.records.empty());
  EXPECT_TRUE(rd.messages.empty()) << "the single participant decided: nothing to tell it";
  ASSERT_EQ(rd.replies.size(), 1u);
  EXPECT_EQ(rd.replies[0].outcome, Outcome::kAborted);
  EXPECT_EQ(rd.replies[0].reason, AbortReason::kConstraint);
}

// When a one-phase vote is lost, the shard's state reply is the answer, reads included.
TEST_F(CoordinatorStepTest, OnePhaseOutcomeFromAStateReplyCarriesItsReads) {
  CoordinatorCore& c = Make({.vote_timeout_ticks = 5, .resend_first_ticks = 1,
                             .resend_max_ticks = 1});
  const TxnId id = c.Execute(7, Protocol::kTwoPc, {{4, {{.type = Op::Type::kGet, .key = "a"}}}});
  c.TakeReady();
  for (int i = 0; i < 10; ++i) c.Tick();
  ASSERT_FALSE(OfType(c.TakeReady().messages, MsgType::kStateQuery).empty());
  Message reply = FromShard(4, MsgType::kStateReply, id);
  reply.state = TxnState::kCommitted;
  reply.ok = true;
  reply.reads = {{"a", true, "1"}};
  c.Step(reply);
  const Ready rd = c.TakeReady();
  ASSERT_EQ(rd.replies.size(), 1u);
  EXPECT_EQ(rd.replies[0].outcome, Outcome::kCommitted);
  EXPECT_EQ(rd.replies[0].reads, reply.reads);
}

TEST_F(CoordinatorStepTest, SingleParticipantVoteTimeoutAsksForTheOutcome) {
  CoordinatorCore& c = Make({.vote_timeout_ticks = 10, .resend_first_ticks = 1000,
                             .resend_max_ticks = 1000});
  const TxnId id = BeginAndCommit(c, Protocol::kTwoPc, {4}, 53);
  for (int i = 0; i < 9; ++i) c.Tick();
  EXPECT_TRUE(c.TakeReady().empty());
  c.Tick();
  Ready rd = c.TakeReady();
  EXPECT_TRUE(OfType(rd.messages, MsgType::kAbort).empty())
      << "the single participant decides: the coordinator may not abort it blindly";
  const std::vector<Message> q = OfType(rd.messages, MsgType::kStateQuery);
  ASSERT_EQ(q.size(), 1u);
  EXPECT_TRUE(q[0].abort_if_unprepared);
  EXPECT_TRUE(rd.replies.empty());
  Message reply = FromShard(4, MsgType::kStateReply, id);
  reply.state = TxnState::kCommitted;
  reply.ok = true;
  c.Step(reply);
  rd = c.TakeReady();
  ASSERT_EQ(rd.replies.size(), 1u);
  EXPECT_EQ(rd.replies[0].outcome, Outcome::kCommitted);
  EXPECT_EQ(c.live_transactions(), 0u);
}

// Regression: when the bounded one-phase outcome queries ran out before the client deadline, the
// transaction was forgotten without answering the waiting commit request.
TEST_F(CoordinatorStepTest, SingleParticipantGivenUpStillAnswersTheClient) {
  CoordinatorCore& c = Make({.vote_timeout_ticks = 10, .resend_first_ticks = 2,
                             .resend_max_ticks = 2, .client_timeout_ticks = 500,
                             .one_phase_query_attempts = 2});
  const TxnId id = BeginAndCommit(c, Protocol::kTwoPc, {4}, 54);
  std::vector<ClientReply> replies;
  int queries = 0;
  for (int i = 0; i < 100 && c.live_transactions() > 0; ++i) {
    c.Tick();
    const Ready rd = c.TakeReady();
    queries += static_cast<int>(OfType(rd.messages, MsgType::kStateQuery).size());
    replies.insert(replies.end(), rd.replies.begin(), rd.replies.end());
  }
  EXPECT_EQ(queries, 2) << "the queries are bounded";
  EXPECT_EQ(c.live_transactions(), 0u);
  ASSERT_EQ(replies.size(), 1u) << "the waiting commit request must get an answer";
  EXPECT_EQ(replies[0].request_id, 54u);
  EXPECT_EQ(replies[0].txn, id);
  EXPECT_EQ(replies[0].outcome, Outcome::kUnknown) << "the shard decides; never guessed";
}

// ---- timeouts and resends -------------------------------------------------------------------

TEST_F(CoordinatorStepTest, VoteTimeoutAborts) {
  CoordinatorCore& c = Make({.vote_timeout_ticks = 60, .resend_first_ticks = 1000,
                             .resend_max_ticks = 1000});
  const TxnId id = BeginAndCommit(c, Protocol::kTwoPc, {1, 2, 3}, 61);
  c.Step(VoteFrom(1, id, Vote::kYes));
  for (int i = 0; i < 59; ++i) c.Tick();
  Ready rd = c.TakeReady();
  EXPECT_TRUE(rd.empty()) << "tick 59 of 60: still waiting";
  c.Tick();
  rd = c.TakeReady();
  EXPECT_TRUE(rd.records.empty());
  EXPECT_EQ(Targets(rd.messages, MsgType::kAbort), (std::vector<ShardId>{1, 2, 3}));
  ASSERT_EQ(rd.replies.size(), 1u);
  EXPECT_EQ(rd.replies[0].request_id, 61u);
  EXPECT_EQ(rd.replies[0].outcome, Outcome::kAborted);
  EXPECT_EQ(rd.replies[0].reason, AbortReason::kTimeout);
  EXPECT_EQ(c.KnownOutcome(id), Outcome::kAborted);
}

TEST_F(CoordinatorStepTest, PrepareIsResentOnlyToNonVoters) {
  CoordinatorCore& c = Make({.resend_first_ticks = 8, .resend_max_ticks = 64});
  const TxnId id = BeginAndCommit(c, Protocol::kTwoPc, {1, 2, 3});
  c.Step(VoteFrom(2, id, Vote::kYes));
  c.TakeReady();
  for (int i = 0; i < 3; ++i) c.Tick();  // the first delay is at least 8 / 2
  EXPECT_TRUE(c.TakeReady().messages.empty());
  std::vector<Message> resent;
  for (int i = 3; i < 8; ++i) {  // ... and at most 8; the second is at least 8 more
    c.Tick();
    for (const Message& m : c.TakeReady().messages) resent.push_back(m);
  }
  EXPECT_EQ(Targets(resent, MsgType::kPrepare), (std::vector<ShardId>{1, 3}));
  ASSERT_EQ(resent.size(), 2u);
  for (const Message& m : resent) {
    EXPECT_EQ(m.participants, (std::vector<ShardId>{1, 2, 3}));
    EXPECT_FALSE(m.one_phase);
  }
}

// ---- 3PC --------------------------------------------------------------------------------------

TEST_F(CoordinatorStepTest, ThreePcAllYesLogsPreCommitAndHoldsPreCommit) {
  CoordinatorCore& c = Make();
  const TxnId id = BeginAndCommit(c, Protocol::kThreePc, {1, 2, 3}, 71);
  for (ShardId s : {1, 2, 3}) c.Step(VoteFrom(s, id, Vote::kYes));
  Ready rd = c.TakeReady();
  ASSERT_EQ(rd.records.size(), 1u);
  EXPECT_EQ(rd.records[0].type, RecordType::kCoordPreCommit);
  EXPECT_EQ(rd.records[0].protocol, Protocol::kThreePc);
  EXPECT_EQ(rd.records[0].participants, (std::vector<ShardId>{1, 2, 3}));
  EXPECT_TRUE(rd.messages.empty());
  EXPECT_TRUE(rd.replies.empty());
  EXPECT_TRUE(rd.deferred_replies.empty()) << "3PC: the client waits for a PRE-COMMIT majority";
  Lsn after = 0;
  const std::vector<Message> held = DeferredOfType(rd, MsgType::kPreCommit, &after);
  EXPECT_EQ(held.size(), 3u);
  EXPECT_EQ(after, rd.records[0].lsn);
  EXPECT_EQ(rd.deferred_messages.size(), 3u);
  for (const Message& m : held) {
    EXPECT_EQ(m.ballot, 0u);
    EXPECT_TRUE(m.commit);
  }
  EXPECT_EQ(c.KnownOutcome(id), Outcome::kUnknown);

  c.OnDurable(rd.records[0].lsn);
  rd = c.TakeReady();
  EXPECT_EQ(Targets(rd.messages, MsgType::kPreCommit), (std::vector<ShardId>{1, 2, 3}));
  EXPECT_TRUE(rd.replies.empty());
  EXPECT_EQ(c.KnownOutcome(id), Outcome::kUnknown) << "PRE-COMMIT is not yet a decision";
}

TEST_F(CoordinatorStepTest, ThreePcPreCommitMajorityCommitsAtOnceAndLogsCommitLazily) {
  CoordinatorCore& c = Make();
  const TxnId id = PreCommitted3(c);
  c.Step(PreCommitAck(2, id, true));
  c.Step(PreCommitAck(2, id, true));  // a duplicate is not a majority
  EXPECT_TRUE(c.TakeReady().empty());
  c.Step(PreCommitAck(3, id, true));
  const Ready rd = c.TakeReady();
  EXPECT_EQ(Targets(rd.messages, MsgType::kCommit), (std::vector<ShardId>{1, 2, 3}));
  ASSERT_EQ(rd.replies.size(), 1u);
  EXPECT_EQ(rd.replies[0].request_id, 7u);
  EXPECT_EQ(rd.replies[0].outcome, Outcome::kCommitted);
  EXPECT_TRUE(rd.replies[0].ok);
  ASSERT_EQ(rd.records.size(), 1u);
  EXPECT_EQ(rd.records[0].type, RecordType::kCoordCommit);
  EXPECT_EQ(rd.records[0].txn, id);
  EXPECT_TRUE(rd.deferred_messages.empty()) << "the commit is chosen; nothing waits";
  EXPECT_TRUE(rd.deferred_replies.empty());
  EXPECT_EQ(c.KnownOutcome(id), Outcome::kCommitted);
}

// Regression: a PRE-COMMIT-ACK from a shard that is not a participant was counted toward the
// majority, unlike the termination round and the DECISION-ACK count, which ignore strangers.
TEST_F(CoordinatorStepTest, ThreePcPreCommitAckFromNonParticipantDoesNotCount) {
  CoordinatorCore& c = Make();
  const TxnId id = PreCommitted3(c);
  c.Step(PreCommitAck(1, id, true));
  c.Step(PreCommitAck(42, id, true));  // not a participant of {1, 2, 3}
  const Ready rd = c.TakeReady();
  EXPECT_TRUE(OfType(rd.messages, MsgType::kCommit).empty())
      << "one participant's PRE-COMMIT is no majority of three";
  EXPECT_TRUE(rd.replies.empty());
  EXPECT_EQ(c.KnownOutcome(id), Outcome::kUnknown);
}

TEST_F(CoordinatorStepTest, ThreePcRefusedPreCommitStartsTermination) {
  CoordinatorCore& c = Make({.epoch = 4});
  const TxnId id = PreCommitted3(c);
  c.Step(PreCommitAck(1, id, true));
  c.Step(PreCommitAck(2, id, false, TxnState::kPrepared));  // promised a higher ballot
  const Ready rd = c.TakeReady();
  EXPECT_TRUE(OfType(rd.messages, MsgType::kCommit).empty());
  EXPECT_TRUE(rd.replies.empty());
  const std::vector<Message> q = OfType(rd.messages, MsgType::kStateQuery);
  EXPECT_EQ(Targets(rd.messages, MsgType::kStateQuery), (std::vector<ShardId>{1, 2, 3}));
  ASSERT_EQ(q.size(), 3u);
  for (const Message& m : q) {
    EXPECT_GT(m.ballot, 0u);
    EXPECT_EQ(m.ballot, q[0].ballot);
    EXPECT_EQ(m.epoch, 4u);
    EXPECT_TRUE(m.abort_if_unprepared);
  }
  EXPECT_EQ(c.stats().termination_rounds, 1u);
  EXPECT_EQ(c.KnownOutcome(id), Outcome::kUnknown);
  // A late ok ack for ballot 0 no longer counts: the coordinator is terminating now.
  c.Step(PreCommitAck(3, id, true));
  EXPECT_TRUE(OfType(c.TakeReady().messages, MsgType::kCommit).empty());
}

TEST_F(CoordinatorStepTest, ThreePcTerminationRoundDrivenToAbort) {
  CoordinatorCore& c = Make();
  const TxnId id = PreCommitted3(c);
  c.Step(PreCommitAck(1, id, false, TxnState::kPrepared));
  const std::vector<Message> q = OfType(c.TakeReady().messages, MsgType::kStateQuery);
  ASSERT_EQ(q.size(), 3u);
  const Ballot b = q[0].ballot;
  for (ShardId s : {1, 2}) {
    Message r = FromShard(s, MsgType::kStateReply, id);
    r.ballot = b;
    r.state = s == 1 ? TxnState::kPreAborted : TxnState::kPrepared;
    r.accepted_ballot = s == 1 ? MakeBallot(1, 2) : 0;
    r.promised_ballot = b;
    r.ok = true;
    c.Step(r);
  }
  Ready rd = c.TakeReady();
  const std::vector<Message> acc = OfType(rd.messages, MsgType::kTermAccept);
  ASSERT_EQ(acc.size(), 3u);
  for (const Message& m : acc) {
    EXPECT_EQ(m.ballot, b);
    EXPECT_FALSE(m.commit) << "PRE-ABORT accepted at a higher ballot than any PRE-COMMIT";
  }
  for (ShardId s : {2, 3}) {
    Message a = FromShard(s, MsgType::kTermAcceptAck, id);
    a.ballot = b;
    a.state = TxnState::kPreAborted;
    a.promised_ballot = b;
    a.ok = true;
    c.Step(a);
  }
  rd = c.TakeReady();
  // After a PRE-COMMIT record the abort is logged (a restore must not terminate it again), and
  // ABORT waits for that record.
  ASSERT_EQ(rd.records.size(), 1u);
  EXPECT_EQ(rd.records[0].type, RecordType::kCoordAbort);
  EXPECT_EQ(rd.records[0].participants, (std::vector<ShardId>{1, 2, 3}));
  EXPECT_TRUE(OfType(rd.messages, MsgType::kAbort).empty());
  Lsn after = 0;
  EXPECT_EQ(Targets(DeferredOfType(rd, MsgType::kAbort, &after), MsgType::kAbort),
            (std::vector<ShardId>{1, 2, 3}));
  EXPECT_EQ(after, rd.records[0].lsn);
  EXPECT_TRUE(OfType(rd.messages, MsgType::kCommit).empty());
  ASSERT_EQ(rd.replies.size(), 1u);
  EXPECT_EQ(rd.replies[0].outcome, Outcome::kAborted);
  EXPECT_EQ(rd.replies[0].reason, AbortReason::kTermination);
  EXPECT_EQ(c.KnownOutcome(id), Outcome::kAborted);

  // A new primary restoring this log does not run termination again: aborted, and said so.
  CoordinatorCore next({.epoch = 2}, &rng_);
  next.Restore({{.lsn = 1, .type = RecordType::kCoordPreCommit, .txn = id, .epoch = 1,
                 .protocol = Protocol::kThreePc, .participants = {1, 2, 3}},
                {.lsn = 2, .type = RecordType::kCoordAbort, .txn = id, .epoch = 1,
                 .protocol = Protocol::kThreePc, .participants = {1, 2, 3}}},
               /*log_end=*/2);
  EXPECT_TRUE(next.TakeReady().messages.empty());
  EXPECT_EQ(next.live_transactions(), 0u);
  AbortReason reason = AbortReason::kNone;
  EXPECT_EQ(next.ClientOutcome(id, &reason), Outcome::kAborted);
  EXPECT_EQ(reason, AbortReason::kTermination);
}

TEST_F(CoordinatorStepTest, ThreePcClientGetsUnknownWhenAcksAreMissing) {
  CoordinatorCore& c = Make({.client_timeout_ticks = 20, .pre_commit_timeout_ticks = 1000});
  const TxnId id = PreCommitted3(c);
  c.Step(PreCommitAck(1, id, true));  // one of three: no majority
  for (int i = 0; i < 19; ++i) c.Tick();
  Ready rd = c.TakeReady();
  EXPECT_TRUE(rd.replies.empty());
  EXPECT_TRUE(OfType(rd.messages, MsgType::kCommit).empty());
  c.Tick();
  rd = c.TakeReady();
  ASSERT_EQ(rd.replies.size(), 1u);
  EXPECT_EQ(rd.replies[0].request_id, 7u);
  EXPECT_EQ(rd.replies[0].outcome, Outcome::kUnknown) << "ambiguous: never guessed";
  EXPECT_FALSE(rd.replies[0].ok);
  EXPECT_EQ(c.stats().unknown_replies, 1u);
  EXPECT_EQ(c.live_transactions(), 1u) << "the transaction is still being decided";
  // Once the majority comes, the commit goes out; the client was already answered.
  c.Step(PreCommitAck(2, id, true));
  rd = c.TakeReady();
  EXPECT_EQ(Targets(rd.messages, MsgType::kCommit), (std::vector<ShardId>{1, 2, 3}));
  EXPECT_TRUE(rd.replies.empty());
}

TEST_F(CoordinatorStepTest, ThreePcStalledPreCommitTurnsIntoTermination) {
  CoordinatorCore& c = Make({.resend_first_ticks = 1000, .resend_max_ticks = 1000,
                             .pre_commit_timeout_ticks = 30});
  const TxnId id = PreCommitted3(c);
  for (int i = 0; i < 29; ++i) c.Tick();
  EXPECT_TRUE(OfType(c.TakeReady().messages, MsgType::kStateQuery).empty());
  c.Tick();
  const std::vector<Message> q = OfType(c.TakeReady().messages, MsgType::kStateQuery);
  ASSERT_EQ(q.size(), 3u);
  EXPECT_GT(q[0].ballot, 0u);
  EXPECT_EQ(c.KnownOutcome(id), Outcome::kUnknown);
}

// ---- status queries -----------------------------------------------------------------------

TEST_F(CoordinatorStepTest, StatusOfUnknownTxnIsPresumedAbort) {
  CoordinatorCore& c = Make({.epoch = 3});
  c.Step(StatusQuery(6, TxnId{2, 17}));
  const Ready rd = c.TakeReady();
  ASSERT_EQ(rd.messages.size(), 1u);
  const Message& r = rd.messages[0];
  EXPECT_EQ(r.type, MsgType::kStatusReply);
  EXPECT_EQ(r.to, NodeRef::Shard(6));
  EXPECT_EQ(r.txn, (TxnId{2, 17}));
  EXPECT_EQ(r.epoch, 3u);
  EXPECT_EQ(r.outcome, Outcome::kAborted);
  EXPECT_TRUE(rd.records.empty());
}

TEST_F(CoordinatorStepTest, StatusOfUndecidedTxnIsNotYet) {
  CoordinatorCore& c = Make();
  const TxnId id = BeginAndCommit(c, Protocol::kTwoPc, {1, 2});
  c.Step(VoteFrom(1, id, Vote::kYes));
  c.Step(StatusQuery(1, id));
  const Ready rd = c.TakeReady();
  ASSERT_EQ(OfType(rd.messages, MsgType::kStatusReply).size(), 1u);
  EXPECT_EQ(OfType(rd.messages, MsgType::kStatusReply)[0].outcome, Outcome::kUnknown);
  EXPECT_TRUE(OfType(rd.messages, MsgType::kAbort).empty());
  // ... and the transaction can still commit afterwards.
  c.Step(VoteFrom(2, id, Vote::kYes));
  EXPECT_EQ(c.TakeReady().records.size(), 1u);
}

TEST_F(CoordinatorStepTest, StatusOfThreePcPreCommittingTxnIsNotYet) {
  CoordinatorCore& c = Make();
  const TxnId id = PreCommitted3(c);
  c.Step(StatusQuery(2, id));
  const std::vector<Message> r = OfType(c.TakeReady().messages, MsgType::kStatusReply);
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].outcome, Outcome::kUnknown);
}

// Regression: the deferred STATUS-REPLY was built when the query came (outcome "not yet") and so
// said "not yet" even after the COMMIT record it waited for was durable.
TEST_F(CoordinatorStepTest, StatusOfDecidedButNotDurableTxnWaitsForTheRecord) {
  CoordinatorCore& c = Make();
  const TxnId id = BeginAndCommit(c, Protocol::kTwoPc, {1, 2});
  c.Step(VoteFrom(1, id, Vote::kYes));
  c.Step(VoteFrom(2, id, Vote::kYes));
  const Lsn lsn = c.TakeReady().records.at(0).lsn;
  c.Step(StatusQuery(2, id));
  Ready rd = c.TakeReady();
  EXPECT_TRUE(OfType(rd.messages, MsgType::kStatusReply).empty())
      << "the decision is not durable yet: the reply must wait";
  Lsn after = 0;
  ASSERT_EQ(DeferredOfType(rd, MsgType::kStatusReply, &after).size(), 1u);
  EXPECT_EQ(after, lsn);
  c.OnDurable(lsn);
  rd = c.TakeReady();
  const std::vector<Message> r = OfType(rd.messages, MsgType::kStatusReply);
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].to, NodeRef::Shard(2));
  EXPECT_EQ(r[0].outcome, Outcome::kCommitted)
      << "released once the COMMIT record is durable, the reply should say COMMITTED";
}

TEST_F(CoordinatorStepTest, StatusOfDurableCommitIsCommittedAtOnce) {
  CoordinatorCore& c = Make();
  const TxnId id = BeginAndCommit(c, Protocol::kTwoPc, {1, 2});
  c.Step(VoteFrom(1, id, Vote::kYes));
  c.Step(VoteFrom(2, id, Vote::kYes));
  c.OnDurable(c.TakeReady().records.at(0).lsn);
  c.TakeReady();
  c.Step(StatusQuery(1, id));
  const Ready rd = c.TakeReady();
  EXPECT_TRUE(rd.deferred_messages.empty());
  const std::vector<Message> r = OfType(rd.messages, MsgType::kStatusReply);
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].outcome, Outcome::kCommitted);
}

TEST_F(CoordinatorStepTest, StatusOfNewerEpochTxnIsNeverPresumedAborted) {
  CoordinatorCore& c = Make({.epoch = 2});
  c.Step(StatusQuery(1, TxnId{3, 1}));
  const std::vector<Message> r = OfType(c.TakeReady().messages, MsgType::kStatusReply);
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].outcome, Outcome::kUnknown)
      << "a deposed coordinator must not presume abort for its successor's transaction";
  EXPECT_EQ(c.KnownOutcome(TxnId{3, 1}), Outcome::kUnknown);
  EXPECT_EQ(c.KnownOutcome(TxnId{1, 1}), Outcome::kAborted);
}

TEST_F(CoordinatorStepTest, ClientStatusReportsKnownOutcome) {
  CoordinatorCore& c = Make();
  const TxnId id = BeginAndCommit(c, Protocol::kTwoPc, {1, 2});
  c.Status(90, id);
  Ready rd = c.TakeReady();
  ASSERT_EQ(rd.replies.size(), 1u);
  EXPECT_EQ(rd.replies[0].request_id, 90u);
  EXPECT_EQ(rd.replies[0].outcome, Outcome::kUnknown);
  c.Step(VoteFrom(1, id, Vote::kYes));
  c.Step(VoteFrom(2, id, Vote::kYes));
  c.OnDurable(c.TakeReady().records.at(0).lsn);
  c.TakeReady();
  c.Status(91, id);
  rd = c.TakeReady();
  ASSERT_EQ(rd.replies.size(), 1u);
  EXPECT_EQ(rd.replies[0].outcome, Outcome::kCommitted);
}

// ---- fencing ----------------------------------------------------------------------------------

TEST_F(CoordinatorStepTest, StaleEpochFromNewerEpochDeposes) {
  CoordinatorCore& c = Make({.epoch = 2});
  // The reply echoes the refused message's epoch; current_epoch is the newest the shard saw.
  Message m = FromShard(1, MsgType::kStaleEpoch, TxnId{2, 1}, 2);
  m.current_epoch = 2;
  c.Step(m);
  EXPECT_FALSE(c.deposed()) << "the same epoch is not newer";
  m.current_epoch = 1;
  c.Step(m);
  EXPECT_FALSE(c.deposed());
  m.current_epoch = 3;
  c.Step(m);
  EXPECT_TRUE(c.deposed());
  EXPECT_TRUE(c.TakeReady().empty());
}

// Deposed, a coordinator aborts what only it could have decided (its COMMIT could never become
// durable past the fence), but not a one-phase transaction: its shard decides and may have
// committed (found by txsim: a zombie told a client ABORTED for a shard-committed transaction).
TEST_F(CoordinatorStepTest, DeposedAbortsMultiShardPreparesButNotOnePhase) {
  CoordinatorCore& c = Make({.epoch = 2});
  const TxnId multi = BeginAndCommit(c, Protocol::kTwoPc, {1, 2}, /*request_id=*/7);
  const TxnId single = BeginAndCommit(c, Protocol::kTwoPc, {3}, /*request_id=*/8);
  const TxnId active = c.Begin(Protocol::kTwoPc);
  Message stale = FromShard(1, MsgType::kStaleEpoch, multi, 2);
  stale.current_epoch = 3;
  c.Step(stale);
  ASSERT_TRUE(c.deposed());
  Ready rd = c.TakeReady();
  ASSERT_EQ(rd.replies.size(), 1u) << "only the multi-shard commit is answered";
  EXPECT_EQ(rd.replies[0].request_id, 7u);
  EXPECT_EQ(rd.replies[0].outcome, Outcome::kAborted);
  EXPECT_EQ(rd.replies[0].reason, AbortReason::kStaleEpoch);
  EXPECT_EQ(Targets(rd.messages, MsgType::kAbort), (std::vector<ShardId>{1, 2}));
  EXPECT_EQ(c.KnownOutcome(single), Outcome::kUnknown);
  // The shard's one-phase verdict still reaches the client.
  Message v = VoteFrom(3, single, Vote::kYes);
  v.outcome = Outcome::kCommitted;
  c.Step(v);
  rd = c.TakeReady();
  ASSERT_EQ(rd.replies.size(), 1u);
  EXPECT_EQ(rd.replies[0].request_id, 8u);
  EXPECT_EQ(rd.replies[0].outcome, Outcome::kCommitted);
  // An active transaction cannot commit any more.
  c.Commit(9, active, {1});
  rd = c.TakeReady();
  ASSERT_EQ(rd.replies.size(), 1u);
  EXPECT_EQ(rd.replies[0].outcome, Outcome::kAborted);
  // Nor can one begun after the coordinator was deposed; a client asking later hears the same.
  const TxnId later = c.Begin(Protocol::kTwoPc);
  c.Commit(10, later, {1});
  c.Status(11, later);
  rd = c.TakeReady();
  ASSERT_EQ(rd.replies.size(), 2u);
  EXPECT_EQ(rd.replies[0].outcome, Outcome::kAborted);
  EXPECT_EQ(rd.replies[0].reason, AbortReason::kStaleEpoch);
  EXPECT_EQ(rd.replies[1].outcome, Outcome::kAborted) << "remembered as it was answered";
}

// A client asking about a finished transaction hears the outcome it was given, for every way a
// transaction finishes (each remembers its own outcome).
TEST_F(CoordinatorStepTest, StatusRepeatsTheOutcomeTheClientWasGiven) {
  CoordinatorCore& c = Make();
  std::vector<ClientReply> told;
  auto take = [&] {
    for (const ClientReply& r : c.TakeReady().replies) told.push_back(r);
  };
  const TxnId empty = c.Begin(Protocol::kTwoPc);
  c.Commit(1, empty, {});
  take();
  const TxnId read_only = BeginAndCommit(c, Protocol::kTwoPc, {1, 2}, 2);
  for (ShardId s : {1, 2}) c.Step(VoteFrom(s, read_only, Vote::kReadOnly));
  take();
  const TxnId voted_no = BeginAndCommit(c, Protocol::kTwoPc, {1, 2}, 3);
  c.Step(VoteFrom(1, voted_no, Vote::kNo));
  take();
  const TxnId client_aborted = c.Begin(Protocol::kTwoPc);
  c.Abort(4, client_aborted, {1});
  take();
  ASSERT_EQ(told.size(), 4u);
  EXPECT_EQ(told[0].outcome, Outcome::kCommitted);
  EXPECT_EQ(told[1].outcome, Outcome::kCommitted);
  EXPECT_EQ(told[2].outcome, Outcome::kAborted);
  EXPECT_EQ(told[3].outcome, Outcome::kAborted);
  Ready rd;
  const std::vector<std::pair<TxnId, Outcome>> expected = {
      {empty, Outcome::kCommitted}, {read_only, Outcome::kCommitted},
      {voted_no, Outcome::kAborted}, {client_aborted, Outcome::kAborted}};
  uint64_t request = 10;
  for (const auto& [txn, outcome] : expected) c.Status(request++, txn);
  rd = c.TakeReady();
  ASSERT_EQ(rd.replies.size(), expected.size());
  for (size_t i = 0; i < expected.size(); ++i) {
    EXPECT_EQ(rd.replies[i].outcome, expected[i].second) << expected[i].first.ToString();
  }
}

TEST_F(CoordinatorStepTest, LateYesForASuccessorsTxnIsNotAborted) {
  CoordinatorCore& c = Make({.epoch = 2});
  c.Step(VoteFrom(1, TxnId{3, 1}, Vote::kYes));
  EXPECT_TRUE(c.TakeReady().empty()) << "epoch 3's transaction is not ours to abort";
  c.Step(VoteFrom(1, TxnId{1, 1}, Vote::kYes));
  EXPECT_EQ(Targets(c.TakeReady().messages, MsgType::kAbort), (std::vector<ShardId>{1}));
}

// ---- 3PC: a termination leader's decision ----------------------------------------------------

TEST_F(CoordinatorStepTest, LearnedCommitIsAdoptedWhilePreCommitting) {
  CoordinatorCore& c = Make();
  const TxnId id = PreCommitted3(c);
  Message learn = FromShard(2, MsgType::kLearnDecision, id);
  learn.outcome = Outcome::kCommitted;
  c.Step(learn);
  const Ready rd = c.TakeReady();
  EXPECT_EQ(Targets(rd.messages, MsgType::kCommit), (std::vector<ShardId>{1, 2, 3}));
  ASSERT_EQ(rd.replies.size(), 1u);
  EXPECT_EQ(rd.replies[0].outcome, Outcome::kCommitted);
  ASSERT_EQ(rd.records.size(), 1u);
  EXPECT_EQ(rd.records[0].type, RecordType::kCoordCommit);
}

TEST_F(CoordinatorStepTest, LearnedAbortIsAdoptedWhilePreCommitting) {
  CoordinatorCore& c = Make();
  const TxnId id = PreCommitted3(c);
  Message learn = FromShard(2, MsgType::kLearnDecision, id);
  learn.outcome = Outcome::kAborted;
  c.Step(learn);
  const Ready rd = c.TakeReady();
  ASSERT_EQ(rd.records.size(), 1u);
  EXPECT_EQ(rd.records[0].type, RecordType::kCoordAbort);
  EXPECT_EQ(Targets(DeferredOfType(rd, MsgType::kAbort), MsgType::kAbort),
            (std::vector<ShardId>{1, 2, 3}));
  ASSERT_EQ(rd.replies.size(), 1u);
  EXPECT_EQ(rd.replies[0].outcome, Outcome::kAborted);
  EXPECT_EQ(rd.replies[0].reason, AbortReason::kTermination);
}

TEST_F(CoordinatorStepTest, LearnedDecisionIsIgnoredAfterCommitIsChosen) {
  CoordinatorCore& c = Make();
  const TxnId id = PreCommitted3(c);
  c.Step(PreCommitAck(1, id, true));
  c.Step(PreCommitAck(2, id, true));
  c.TakeReady();
  Message learn = FromShard(3, MsgType::kLearnDecision, id);
  learn.outcome = Outcome::kAborted;
  c.Step(learn);
  const Ready rd = c.TakeReady();
  EXPECT_TRUE(rd.messages.empty()) << "a decision once made never changes";
  EXPECT_EQ(c.KnownOutcome(id), Outcome::kCommitted);
}

// ---- recovery ---------------------------------------------------------------------------------

// A client asking about a transaction of an earlier term (its reply was lost in a failover):
// an ENDed one is committed; one the log never decided is not guessed (it may have been a
// one-phase transaction its shard committed alone).
TEST_F(CoordinatorStepTest, AnEarlierTermsTransactionIsAnsweredFromTheLogOrNotAtAll) {
  const TxnId ended{4, 3}, undecided{4, 7};
  CoordinatorCore& c = Make({.epoch = 5});
  c.Restore({{.lsn = 1, .type = RecordType::kCoordCommit, .txn = ended, .epoch = 4,
              .participants = {1}},
             {.lsn = 2, .type = RecordType::kCoordEnd, .txn = ended, .epoch = 4}},
            2);
  AbortReason reason;
  EXPECT_EQ(c.ClientOutcome(ended, &reason), Outcome::kCommitted) << "ENDed: committed";
  EXPECT_EQ(c.ClientOutcome(undecided, &reason), Outcome::kUnknown);
  // END alone (truncation took the COMMIT before it) still says committed.
  CoordinatorCore& d = Make({.epoch = 5});
  d.Restore({{.lsn = 9, .type = RecordType::kCoordEnd, .txn = ended, .epoch = 4}}, 9);
  EXPECT_EQ(d.ClientOutcome(ended, &reason), Outcome::kCommitted);
}

// With the shard count known, it asks every shard: committed if one says so (a one-phase
// transaction), aborted once all answered otherwise, without a message to the shards; and only
// so many at once, so made-up ids cannot make it flood the shards.
TEST_F(CoordinatorStepTest, AnEarlierTermsUndecidedTransactionIsResolvedByAskingEveryShard) {
  CoordinatorOptions o{.epoch = 5};
  o.shards = 2;
  CoordinatorCore& c = Make(o);
  c.Restore({}, 0);
  auto state = [](ShardId s, TxnId t, TxnState st) {
    Message m = FromShard(s, MsgType::kStateReply, t, 5);
    m.state = st;
    m.ok = true;
    return m;
  };
  const TxnId aborted{4, 7}, one_phase{4, 8};
  c.Status(41, aborted);
  Ready rd = c.TakeReady();
  EXPECT_TRUE(rd.replies.empty()) << "not answered before the shards are";
  EXPECT_EQ(Targets(rd.messages, MsgType::kStateQuery), (std::vector<ShardId>{0, 1}));
  c.Step(state(0, aborted, TxnState::kUnknown));
  EXPECT_TRUE(c.TakeReady().replies.empty()) << "one shard has not answered";
  c.Step(state(1, aborted, TxnState::kPrepared));
  rd = c.TakeReady();
  ASSERT_EQ(rd.replies.size(), 1u);
  EXPECT_EQ(rd.replies[0].outcome, Outcome::kAborted);
  EXPECT_EQ(rd.replies[0].reason, AbortReason::kStaleEpoch);
  EXPECT_TRUE(rd.messages.empty()) << "nothing sent to the shards";
  EXPECT_EQ(c.KnownOutcome(aborted), Outcome::kAborted) << "the prepared shard is told so";

  c.Status(42, one_phase);
  c.TakeReady();
  // The shards answer after a few ticks (their fence must be durable first): the client waits.
  for (int i = 0; i < 20; ++i) c.Tick();
  EXPECT_TRUE(c.TakeReady().replies.empty()) << "the client waits for the shards' answers";
  c.Step(state(1, one_phase, TxnState::kCommitted));
  rd = c.TakeReady();
  ASSERT_EQ(rd.replies.size(), 1u);
  EXPECT_EQ(rd.replies[0].outcome, Outcome::kCommitted);

  for (uint64_t seq = 100; seq < 100 + 1024; ++seq) c.Status(seq, TxnId{4, seq});
  c.TakeReady();
  c.Status(9, TxnId{4, 5000});
  rd = c.TakeReady();
  ASSERT_EQ(rd.replies.size(), 1u) << "past the bound: answered at once";
  EXPECT_EQ(rd.replies[0].outcome, Outcome::kUnknown);
  EXPECT_TRUE(rd.messages.empty());
}

TEST_F(CoordinatorStepTest, RestoreOfCommitWithoutEndResendsCommit) {
  CoordinatorCore& c = Make({.epoch = 5});
  const TxnId old{4, 9};
  c.Restore({{.lsn = 1, .type = RecordType::kCoordCommit, .txn = old, .epoch = 4,
              .protocol = Protocol::kTwoPc, .participants = {1, 3}},
             {.lsn = 2, .type = RecordType::kCoordCommit, .txn = TxnId{4, 10}, .epoch = 4,
              .protocol = Protocol::kTwoPc, .participants = {2}},
             {.lsn = 3, .type = RecordType::kCoordEnd, .txn = TxnId{4, 10}, .epoch = 4}},
            /*log_end=*/3);
  Ready rd = c.TakeReady();
  EXPECT_TRUE(rd.records.empty()) << "the decision is already durable";
  EXPECT_TRUE(rd.deferred_messages.empty());
  EXPECT_EQ(Targets(rd.messages, MsgType::kCommit), (std::vector<ShardId>{1, 3}));
  for (const Message& m : rd.messages) {
    EXPECT_EQ(m.txn, old);
    EXPECT_EQ(m.epoch, 5u) << "sent under the new epoch";
  }
  EXPECT_EQ(c.live_transactions(), 1u);
  EXPECT_EQ(c.KnownOutcome(old), Outcome::kCommitted);
  EXPECT_EQ(c.KnownOutcome(TxnId{4, 10}), Outcome::kCommitted) << "ENDed: remembered";

  // Resent until acked, then END.
  c.Step(DecisionAck(1, old));
  std::vector<Message> resent;
  for (int i = 0; i < 8; ++i) {
    c.Tick();
    for (const Message& m : c.TakeReady().messages) resent.push_back(m);
  }
  EXPECT_EQ(Targets(resent, MsgType::kCommit), (std::vector<ShardId>{3}));
  c.Step(DecisionAck(3, old));
  rd = c.TakeReady();
  ASSERT_EQ(rd.records.size(), 1u);
  EXPECT_EQ(rd.records[0].type, RecordType::kCoordEnd);
  EXPECT_EQ(rd.records[0].txn, old);
  EXPECT_EQ(rd.records[0].lsn, 4u) << "one numbering: the record continues the restored log";
  EXPECT_EQ(c.live_transactions(), 0u);
}

// A new primary with a backlog of decisions drives restore_window of them at once, in log order;
// each one that ends starts the next. Those waiting are answered as decided meanwhile (COMMITTED,
// or "not yet" for a PRE-COMMIT), and run nothing before their turn, whatever arrives.
TEST_F(CoordinatorStepTest, ARestoredBacklogRunsAWindowAtATime) {
  CoordinatorOptions o{.epoch = 5};
  o.restore_window = 2;
  CoordinatorCore& c = Make(o);
  std::vector<Record> log;
  for (uint64_t seq = 1; seq <= 4; ++seq) {
    log.push_back({.lsn = seq, .type = RecordType::kCoordCommit, .txn = TxnId{4, seq}, .epoch = 4,
                   .protocol = Protocol::kTwoPc, .participants = {1, 2}});
  }
  const TxnId pre_commit{4, 5};
  log.push_back({.lsn = 5, .type = RecordType::kCoordPreCommit, .txn = pre_commit, .epoch = 4,
                 .protocol = Protocol::kThreePc, .participants = {1, 2, 3}});
  c.Restore(log, /*log_end=*/5);
  auto txns_of = [](const std::vector<Message>& ms, MsgType type) {
    std::vector<uint64_t> seqs;
    for (const Message& m : OfType(ms, type)) seqs.push_back(m.txn.seq);
    return seqs;
  };
  Ready rd = c.TakeReady();
  EXPECT_EQ(txns_of(rd.messages, MsgType::kCommit), (std::vector<uint64_t>{1, 1, 2, 2}));
  EXPECT_EQ(c.live_transactions(), 5u);
  EXPECT_EQ(c.KnownOutcome(TxnId{4, 4}), Outcome::kCommitted) << "decided while it waits";
  EXPECT_EQ(c.KnownOutcome(pre_commit), Outcome::kUnknown) << "not yet, never presumed abort";

  // Time passes: the two started resend, the others wait; an ack for a waiting PRE-COMMIT
  // changes nothing.
  c.Step(PreCommitAck(1, pre_commit, true));
  c.Step(PreCommitAck(2, pre_commit, true));
  std::vector<Message> sent;
  for (int i = 0; i < 100; ++i) {
    c.Tick();
    for (Message& m : c.TakeReady().messages) sent.push_back(std::move(m));
  }
  for (uint64_t seq : txns_of(sent, MsgType::kCommit)) EXPECT_LE(seq, 2u);
  EXPECT_TRUE(OfType(sent, MsgType::kStateQuery).empty());
  EXPECT_EQ(c.live_transactions(), 5u);

  // Acks of both participants end the first; the third starts.
  c.Step(DecisionAck(1, TxnId{4, 1}));
  c.Step(DecisionAck(2, TxnId{4, 1}));
  rd = c.TakeReady();
  ASSERT_EQ(rd.records.size(), 1u);
  EXPECT_EQ(rd.records[0].type, RecordType::kCoordEnd);
  EXPECT_EQ(txns_of(rd.messages, MsgType::kCommit), (std::vector<uint64_t>{3, 3}));
  // A waiting one the previous primary's COMMITs already reached ends before its turn, and
  // takes no place in the window; the PRE-COMMIT starts its termination in the next free place.
  c.Step(DecisionAck(1, TxnId{4, 4}));
  c.Step(DecisionAck(2, TxnId{4, 4}));
  EXPECT_TRUE(OfType(c.TakeReady().messages, MsgType::kStateQuery).empty());
  for (uint64_t seq : {2, 3}) {
    c.Step(DecisionAck(1, TxnId{4, seq}));
    c.Step(DecisionAck(2, TxnId{4, seq}));
  }
  rd = c.TakeReady();
  EXPECT_EQ(Targets(rd.messages, MsgType::kStateQuery), (std::vector<ShardId>{1, 2, 3}));
  EXPECT_EQ(c.live_transactions(), 1u);
}

// A shard whose termination round decided tells the coordinator (LEARN-DECISION) until the
// coordinator answers with COMMIT or ABORT (participant_core.h). A restored PRE-COMMIT waiting its
// turn adopts the decision; a transaction finished or never decided here is answered with what
// this log knows (COMMITTED as remembered; otherwise presumed abort), to that shard only.
TEST_F(CoordinatorStepTest, ALearnedDecisionIsAdoptedOrAnswered) {
  CoordinatorOptions o{.epoch = 5};
  o.restore_window = 1;
  CoordinatorCore& c = Make(o);
  const TxnId first{4, 1}, waiting{4, 2}, ended{4, 3};
  c.Restore({{.lsn = 1, .type = RecordType::kCoordPreCommit, .txn = first, .epoch = 4,
              .protocol = Protocol::kThreePc, .participants = {1, 2}},
             {.lsn = 2, .type = RecordType::kCoordPreCommit, .txn = waiting, .epoch = 4,
              .protocol = Protocol::kThreePc, .participants = {1, 2}},
             {.lsn = 3, .type = RecordType::kCoordCommit, .txn = ended, .epoch = 4,
              .protocol = Protocol::kThreePc, .participants = {1, 2}},
             {.lsn = 4, .type = RecordType::kCoordEnd, .txn = ended, .epoch = 4}},
            /*log_end=*/4);
  c.TakeReady();
  auto learn = [](ShardId s, TxnId t, Outcome outcome) {
    Message m = FromShard(s, MsgType::kLearnDecision, t, 4);
    m.protocol = Protocol::kThreePc;
    m.outcome = outcome;
    return m;
  };
  c.Step(learn(2, waiting, Outcome::kAborted));
  Ready rd = c.TakeReady();
  EXPECT_EQ(Targets(DeferredOfType(rd, MsgType::kAbort), MsgType::kAbort),
            (std::vector<ShardId>{1, 2}))
      << "after its COORD-ABORT record";
  EXPECT_EQ(c.live_transactions(), 1u) << "the waiting one is decided; the first still runs";

  c.Step(learn(1, ended, Outcome::kCommitted));
  rd = c.TakeReady();
  EXPECT_EQ(Targets(rd.messages, MsgType::kCommit), (std::vector<ShardId>{1}));
  c.Step(learn(2, waiting, Outcome::kAborted));  // again: its ABORT was lost
  rd = c.TakeReady();
  EXPECT_EQ(Targets(rd.messages, MsgType::kAbort), (std::vector<ShardId>{2}));
  EXPECT_TRUE(rd.records.empty());
}

TEST_F(CoordinatorStepTest, RestoreContinuesTheLogPastATruncatedEnd) {
  // Everything before position 41 was truncated away: no record, but the log goes on at 41.
  CoordinatorCore& c = Make({.epoch = 5});
  c.Restore({}, /*log_end=*/40);
  const TxnId t = c.Begin(Protocol::kTwoPc);
  uint64_t req = 1;
  c.Commit(req, t, {1, 2});
  c.TakeReady();
  c.Step(VoteFrom(1, t, Vote::kYes));
  c.Step(VoteFrom(2, t, Vote::kYes));
  Ready rd = c.TakeReady();
  ASSERT_EQ(rd.records.size(), 1u);
  EXPECT_EQ(rd.records[0].lsn, 41u);
  c.OnDurable(41);
  EXPECT_EQ(Targets(c.TakeReady().messages, MsgType::kCommit), (std::vector<ShardId>{1, 2}));
}

TEST_F(CoordinatorStepTest, DurablePositionGoingBackwardsStopsTheProcess) {
  CoordinatorCore& c = Make({.epoch = 5});
  c.Restore({}, /*log_end=*/10);
  EXPECT_DEATH(c.OnDurable(9), "durable position went backwards");
  EXPECT_DEATH(c.OnDurable(11), "past the last appended record");
}

TEST_F(CoordinatorStepTest, RestoreOfPreCommitRunsTerminationNeverCommitDirectly) {
  CoordinatorCore& c = Make({.epoch = 5});
  const TxnId old{4, 2};
  c.Restore({{.lsn = 1, .type = RecordType::kCoordPreCommit, .txn = old, .epoch = 4,
              .protocol = Protocol::kThreePc, .participants = {1, 2, 3}}},
            /*log_end=*/1);
  Ready rd = c.TakeReady();
  EXPECT_TRUE(OfType(rd.messages, MsgType::kCommit).empty());
  EXPECT_TRUE(OfType(rd.messages, MsgType::kPreCommit).empty());
  EXPECT_TRUE(rd.records.empty());
  const std::vector<Message> q = OfType(rd.messages, MsgType::kStateQuery);
  EXPECT_EQ(Targets(rd.messages, MsgType::kStateQuery), (std::vector<ShardId>{1, 2, 3}));
  ASSERT_EQ(q.size(), 3u);
  for (const Message& m : q) {
    EXPECT_GT(m.ballot, 0u);
    EXPECT_EQ(m.protocol, Protocol::kThreePc);
    EXPECT_EQ(m.epoch, 5u);
  }
  EXPECT_EQ(c.KnownOutcome(old), Outcome::kUnknown) << "not presumed aborted while terminating";
  // Time passes with no answer: still no COMMIT.
  for (int i = 0; i < 300; ++i) c.Tick();
  rd = c.TakeReady();
  EXPECT_TRUE(OfType(rd.messages, MsgType::kCommit).empty());
  EXPECT_FALSE(OfType(rd.messages, MsgType::kStateQuery).empty()) << "termination retries";
  // A shard reports COMMITTED: commit is adopted.
  const std::vector<Message> latest = OfType(rd.messages, MsgType::kStateQuery);
  Message r = FromShard(2, MsgType::kStateReply, old);
  r.ballot = latest.back().ballot;
  r.state = TxnState::kCommitted;
  r.ok = true;
  c.Step(r);
  rd = c.TakeReady();
  EXPECT_EQ(Targets(rd.messages, MsgType::kCommit), (std::vector<ShardId>{1, 2, 3}));
  EXPECT_EQ(c.KnownOutcome(old), Outcome::kCommitted);
}

// Participants that finished a transaction and forgot it (their records truncated) answer
// FORGOTTEN: a termination ends once every participant did, with the outcome unknown (no COMMIT,
// no abort, no END: END would say committed); a resolving status is UNKNOWN at once. txsim found
// a recovered PRE-COMMIT terminating forever once every shard had forgotten it.
TEST_F(CoordinatorStepTest, ForgottenAnswersEndATerminationAndAStatusAsUnknown) {
  CoordinatorOptions o{.epoch = 5};
  o.shards = 2;
  CoordinatorCore& c = Make(o);
  const TxnId old{4, 2};
  c.Restore({{.lsn = 1, .type = RecordType::kCoordPreCommit, .txn = old, .epoch = 4,
              .protocol = Protocol::kThreePc, .participants = {0, 1}}},
            /*log_end=*/1);
  Ready rd = c.TakeReady();
  const std::vector<Message> q = OfType(rd.messages, MsgType::kStateQuery);
  ASSERT_EQ(q.size(), 2u);
  auto forgotten = [&](ShardId s, TxnId t) {
    Message r = FromShard(s, MsgType::kStateReply, t, 5);
    r.ballot = q[0].ballot;
    r.state = TxnState::kForgotten;
    r.ok = true;
    return r;
  };
  c.Step(forgotten(0, old));
  rd = c.TakeReady();
  EXPECT_EQ(c.live_transactions(), 1u) << "one participant has not finished";
  c.Step(forgotten(1, old));
  rd = c.TakeReady();
  EXPECT_EQ(c.live_transactions(), 0u);
  EXPECT_TRUE(rd.records.empty()) << "no END: that would say committed";
  EXPECT_TRUE(OfType(rd.messages, MsgType::kCommit).empty());
  EXPECT_TRUE(OfType(rd.messages, MsgType::kAbort).empty());
  c.Status(41, old);  // asks the shards again, and is told the same
  c.TakeReady();
  c.Step(forgotten(0, old));
  c.Step(forgotten(1, old));
  rd = c.TakeReady();
  ASSERT_EQ(rd.replies.size(), 1u);
  EXPECT_EQ(rd.replies[0].outcome, Outcome::kUnknown) << "a client is never told a guess";

  const TxnId one_phase{4, 8};
  c.Status(42, one_phase);
  c.TakeReady();
  c.Step(forgotten(1, one_phase));
  EXPECT_TRUE(c.TakeReady().replies.empty()) << "the other shard may still say COMMITTED";
  Message unknown = forgotten(0, one_phase);
  unknown.state = TxnState::kUnknown;
  c.Step(unknown);
  rd = c.TakeReady();
  ASSERT_EQ(rd.replies.size(), 1u);
  EXPECT_EQ(rd.replies[0].outcome, Outcome::kUnknown) << "never presumed aborted";
  // Forgotten at one shard, committed at the other: committed.
  const TxnId committed{4, 9};
  c.Status(43, committed);
  c.TakeReady();
  c.Step(forgotten(0, committed));
  Message yes = forgotten(1, committed);
  yes.state = TxnState::kCommitted;
  c.Step(yes);
  rd = c.TakeReady();
  ASSERT_EQ(rd.replies.size(), 1u);
  EXPECT_EQ(rd.replies[0].outcome, Outcome::kCommitted);
}

// ---- duplicates and client abort -------------------------------------------------------------

TEST_F(CoordinatorStepTest, DuplicateCommitDoesNotStartASecondDecision) {
  CoordinatorCore& c = Make();
  const TxnId id = BeginAndCommit(c, Protocol::kTwoPc, {1, 2}, 7);
  c.Commit(8, id, {1, 2});
  Ready rd = c.TakeReady();
  EXPECT_TRUE(rd.messages.empty()) << "no second round of PREPARE";
  EXPECT_TRUE(rd.records.empty());
  ASSERT_EQ(rd.replies.size(), 1u);
  EXPECT_EQ(rd.replies[0].request_id, 8u);
  EXPECT_EQ(rd.replies[0].outcome, Outcome::kUnknown);
  EXPECT_FALSE(rd.replies[0].ok);
  // The first request still gets the real outcome.
  c.Step(VoteFrom(1, id, Vote::kYes));
  c.Step(VoteFrom(2, id, Vote::kYes));
  rd = c.TakeReady();
  EXPECT_EQ(rd.records.size(), 1u);
  c.OnDurable(rd.records.at(0).lsn);
  rd = c.TakeReady();
  ASSERT_EQ(rd.replies.size(), 1u);
  EXPECT_EQ(rd.replies[0].request_id, 7u);
  EXPECT_EQ(rd.replies[0].outcome, Outcome::kCommitted);
  // A commit retried after the durable decision is told COMMITTED.
  c.Commit(9, id, {1, 2});
  rd = c.TakeReady();
  ASSERT_EQ(rd.replies.size(), 1u);
  EXPECT_EQ(rd.replies[0].outcome, Outcome::kCommitted);
  EXPECT_TRUE(rd.records.empty());
}

TEST_F(CoordinatorStepTest, AbortOfActiveTxnSendsAbortToTheGivenParticipants) {
  CoordinatorCore& c = Make();
  const TxnId id = c.Begin(Protocol::kTwoPc);
  c.Abort(81, id, {4, 6});
  const Ready rd = c.TakeReady();
  EXPECT_TRUE(rd.records.empty());
  EXPECT_EQ(Targets(rd.messages, MsgType::kAbort), (std::vector<ShardId>{4, 6}));
  EXPECT_EQ(rd.messages.size(), 2u);
  for (const Message& m : rd.messages) EXPECT_EQ(m.txn, id);
  ASSERT_EQ(rd.replies.size(), 1u);
  EXPECT_EQ(rd.replies[0].request_id, 81u);
  EXPECT_EQ(rd.replies[0].outcome, Outcome::kAborted);
  EXPECT_EQ(rd.replies[0].reason, AbortReason::kClientAbort);
  EXPECT_EQ(c.live_transactions(), 0u);
  // A commit after the abort cannot commit it.
  c.Commit(82, id, {4, 6});
  const Ready rd2 = c.TakeReady();
  EXPECT_TRUE(rd2.messages.empty());
  ASSERT_EQ(rd2.replies.size(), 1u);
  EXPECT_EQ(rd2.replies[0].outcome, Outcome::kAborted);
}

TEST_F(CoordinatorStepTest, AbortDuringCommitDoesNotAbort) {
  CoordinatorCore& c = Make();
  const TxnId id = BeginAndCommit(c, Protocol::kTwoPc, {1, 2});
  c.Abort(83, id, {1, 2});
  const Ready rd = c.TakeReady();
  EXPECT_TRUE(rd.messages.empty()) << "the commit decision is under way: no ABORT";
  ASSERT_EQ(rd.replies.size(), 1u);
  EXPECT_FALSE(rd.replies[0].ok);
  EXPECT_EQ(rd.replies[0].outcome, Outcome::kUnknown);
  EXPECT_EQ(c.live_transactions(), 1u);
}

TEST_F(CoordinatorStepTest, IdleActiveTxnIsForgotten) {
  CoordinatorCore& c = Make({.active_timeout_ticks = 50});
  const TxnId id = c.Begin(Protocol::kTwoPc);
  for (int i = 0; i < 49; ++i) c.Tick();
  EXPECT_EQ(c.live_transactions(), 1u);
  c.Tick();
  EXPECT_EQ(c.live_transactions(), 0u);
  EXPECT_EQ(c.KnownOutcome(id), Outcome::kAborted);
}

}  // namespace
}  // namespace txcoord
