// Step tests of recovery's pure decision logic (recovery/core): the log folds that rebuild a
// role's state on restart (DESIGN.md section 6), the capped exponential backoff every retry loop
// uses, and one ballot of the quorum-based 3PC termination protocol (DESIGN.md section 4,
// recovery/core/termination.h). Each test builds an exact input -- a list of records, a seeded
// generator, a sequence of STATE-REPLY / TERM-ACCEPT-ACK messages from named shards -- and
// asserts the exact result: which transactions the fold keeps and with which state, ballots and
// write set; the exact delay range of every backoff attempt; the step, proposal and outcome of a
// termination round after each reply. The termination tests follow the Paxos reading of the
// header: a final state reported by anyone is adopted, a majority of promises is needed before
// proposing, the value accepted at the highest ballot wins, a refused promise preempts the round,
// and neither non-participants nor duplicate replies can make up a quorum. Broken log invariants
// (a final state overwritten, a record of the wrong role) must stop the process: death tests.

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <map>
#include <vector>

#include "common/ids.h"
#include "common/protocol.h"
#include "common/rng.h"
#include "recovery/core/backoff.h"
#include "recovery/core/log_fold.h"
#include "recovery/core/termination.h"

namespace txcoord::recovery {
namespace {

constexpr TxnId kT1{1, 1};
constexpr TxnId kT2{1, 2};
constexpr TxnId kT3{1, 3};
constexpr TxnId kT4{2, 1};

Record CoordRecord(RecordType type, TxnId txn, std::vector<ShardId> participants,
                   Protocol protocol = Protocol::kTwoPc) {
  return {.type = type, .txn = txn, .epoch = txn.epoch, .protocol = protocol,
          .participants = std::move(participants)};
}

Record ShardRecord(RecordType type, TxnId txn, Ballot ballot = 0, std::vector<Write> writes = {}) {
  return {.type = type, .txn = txn, .epoch = txn.epoch, .protocol = Protocol::kThreePc,
          .participants = {0, 1, 2}, .writes = std::move(writes), .ballot = ballot};
}

// ---------------------------------------------------------------------------------------------
// FoldCoordinatorLog

TEST(FoldCoordinatorLogTest, EmptyLogMeansNothingWasDecided) {
  EXPECT_TRUE(FoldCoordinatorLog({}).empty());
}

TEST(FoldCoordinatorLogTest, CommitWithoutEndIsKeptWithItsParticipants) {
  const auto folded = FoldCoordinatorLog({CoordRecord(RecordType::kCoordCommit, kT1, {3, 5})});
  ASSERT_EQ(folded.size(), 1u);
  const CoordinatorTxnLog& t = folded.at(kT1);
  EXPECT_EQ(t.txn, kT1);
  EXPECT_EQ(t.protocol, Protocol::kTwoPc);
  EXPECT_EQ(t.participants, (std::vector<ShardId>{3, 5}));
  EXPECT_TRUE(t.commit);
  EXPECT_FALSE(t.pre_commit);
  EXPECT_FALSE(t.end);
}

TEST(FoldCoordinatorLogTest, EndRemovesTheTransaction) {
  const auto folded = FoldCoordinatorLog({
      CoordRecord(RecordType::kCoordCommit, kT1, {1, 2}),
      CoordRecord(RecordType::kCoordCommit, kT2, {1, 2}),
      CoordRecord(RecordType::kCoordEnd, kT1, {}),
  });
  ASSERT_EQ(folded.size(), 1u);
  EXPECT_EQ(folded.count(kT1), 0u) << "END means nothing is left to do";
  EXPECT_TRUE(folded.at(kT2).commit);
}

TEST(FoldCoordinatorLogTest, PreCommitAndCommitSetTheirFlags) {
  const auto folded = FoldCoordinatorLog({
      CoordRecord(RecordType::kCoordPreCommit, kT1, {1, 2, 3}, Protocol::kThreePc),
      CoordRecord(RecordType::kCoordPreCommit, kT2, {1, 2, 3}, Protocol::kThreePc),
      CoordRecord(RecordType::kCoordCommit, kT2, {1, 2, 3}, Protocol::kThreePc),
      CoordRecord(RecordType::kCoordPreCommit, kT3, {4, 5, 6}, Protocol::kThreePc),
      CoordRecord(RecordType::kCoordCommit, kT3, {4, 5, 6}, Protocol::kThreePc),
      CoordRecord(RecordType::kCoordEnd, kT3, {}, Protocol::kThreePc),
  });
  ASSERT_EQ(folded.size(), 2u);
  const CoordinatorTxnLog& pre_only = folded.at(kT1);
  EXPECT_TRUE(pre_only.pre_commit);
  EXPECT_FALSE(pre_only.commit);
  EXPECT_EQ(pre_only.protocol, Protocol::kThreePc);
  EXPECT_EQ(pre_only.participants, (std::vector<ShardId>{1, 2, 3}));
  const CoordinatorTxnLog& both = folded.at(kT2);
  EXPECT_TRUE(both.pre_commit);
  EXPECT_TRUE(both.commit);
  EXPECT_EQ(folded.count(kT3), 0u);
}

TEST(FoldCoordinatorLogDeathTest, ParticipantRecordStopsTheProcess) {
  EXPECT_DEATH(FoldCoordinatorLog({ShardRecord(RecordType::kPrepared, kT1)}),
               "participant record in a coordinator log");
}

// ---------------------------------------------------------------------------------------------
// FoldParticipantLog

TEST(FoldParticipantLogTest, PreparedKeepsEpochProtocolParticipantsAndWrites) {
  const std::vector<Write> writes{{"a", "1"}, {"b", std::nullopt}};
  const ParticipantLog log = FoldParticipantLog({ShardRecord(RecordType::kPrepared, kT1, 0, writes)});
  EXPECT_EQ(log.max_epoch, 1u);
  ASSERT_EQ(log.txns.size(), 1u);
  const ParticipantTxnLog& t = log.txns.at(kT1);
  EXPECT_EQ(t.txn, kT1);
  EXPECT_EQ(t.epoch, 1u);
  EXPECT_EQ(t.protocol, Protocol::kThreePc);
  EXPECT_EQ(t.participants, (std::vector<ShardId>{0, 1, 2}));
  EXPECT_EQ(t.writes, writes);
  EXPECT_EQ(t.state, TxnState::kPrepared);
  EXPECT_EQ(t.promised, 0u);
  EXPECT_EQ(t.accepted, 0u);
}

TEST(FoldParticipantLogTest, OutcomesAreFoldedWithTheCommittedWriteSet) {
  const std::vector<Write> prepared{{"a", "1"}};
  const std::vector<Write> committed{{"a", "1"}, {"c", "3"}};
  const ParticipantLog log = FoldParticipantLog({
      ShardRecord(RecordType::kPrepared, kT1, 0, prepared),
      ShardRecord(RecordType::kCommitted, kT1, 0, committed),
      ShardRecord(RecordType::kPrepared, kT2, 0, prepared),
      ShardRecord(RecordType::kAborted, kT2),
      ShardRecord(RecordType::kPrepared, kT3, 0, prepared),
      ShardRecord(RecordType::kCommitted, kT3),  // no writes in the outcome: keep PREPARED's
  });
  ASSERT_EQ(log.txns.size(), 3u);
  EXPECT_EQ(log.txns.at(kT1).state, TxnState::kCommitted);
  EXPECT_EQ(log.txns.at(kT1).writes, committed);
  EXPECT_EQ(log.txns.at(kT2).state, TxnState::kAborted);
  EXPECT_EQ(log.txns.at(kT3).state, TxnState::kCommitted);
  EXPECT_EQ(log.txns.at(kT3).writes, prepared);
}

TEST(FoldParticipantLogTest, MaxEpochIsTheNewestSeenAndEpochSeenIsNoTransaction) {
  const ParticipantLog log = FoldParticipantLog({
      ShardRecord(RecordType::kPrepared, kT1),
      {.type = RecordType::kEpochSeen, .epoch = 7},
      {.type = RecordType::kEpochSeen, .epoch = 4},
  });
  EXPECT_EQ(log.max_epoch, 7u);
  ASSERT_EQ(log.txns.size(), 1u) << "an EPOCH-SEEN record must not create a transaction";
  EXPECT_EQ(log.txns.count(kT1), 1u);
}

TEST(FoldParticipantLogTest, PromisesAndAcceptedBallots) {
  const Ballot b1 = MakeBallot(1, 2);
  const Ballot b2 = MakeBallot(2, kCoordinatorProposer);
  const Ballot b3 = MakeBallot(3, 1);
  const ParticipantLog log = FoldParticipantLog({
      ShardRecord(RecordType::kPrepared, kT1),
      ShardRecord(RecordType::kPreCommitted, kT1, 0),  // the coordinator's ballot 0
      ShardRecord(RecordType::kPromised, kT1, b1),
      ShardRecord(RecordType::kPreAborted, kT1, b1),
      ShardRecord(RecordType::kPromised, kT1, b2),
      // T2: a promise that is lower than an earlier one does not lower it.
      ShardRecord(RecordType::kPrepared, kT2),
      ShardRecord(RecordType::kPromised, kT2, b3),
      ShardRecord(RecordType::kPromised, kT2, b1),
      // T3: an accept raises the promise to its ballot.
      ShardRecord(RecordType::kPrepared, kT3),
      ShardRecord(RecordType::kPreCommitted, kT3, b2),
  });
  const ParticipantTxnLog& t1 = log.txns.at(kT1);
  EXPECT_EQ(t1.state, TxnState::kPreAborted);
  EXPECT_EQ(t1.accepted, b1);
  EXPECT_EQ(t1.promised, b2);
  const ParticipantTxnLog& t2 = log.txns.at(kT2);
  EXPECT_EQ(t2.state, TxnState::kPrepared);
  EXPECT_EQ(t2.promised, b3);
  const ParticipantTxnLog& t3 = log.txns.at(kT3);
  EXPECT_EQ(t3.state, TxnState::kPreCommitted);
  EXPECT_EQ(t3.accepted, b2);
  EXPECT_EQ(t3.promised, b2);
}

TEST(FoldParticipantLogTest, PromiseWithoutVoteStaysUnknown) {
  const Ballot b = MakeBallot(1, 1);
  const ParticipantLog log = FoldParticipantLog({ShardRecord(RecordType::kPromised, kT4, b)});
  ASSERT_EQ(log.txns.size(), 1u);
  EXPECT_EQ(log.txns.at(kT4).state, TxnState::kUnknown);
  EXPECT_EQ(log.txns.at(kT4).promised, b);
  EXPECT_EQ(log.max_epoch, 2u);
}

TEST(FoldParticipantLogDeathTest, FinalStateIsNeverOverwritten) {
  EXPECT_DEATH(FoldParticipantLog({ShardRecord(RecordType::kPrepared, kT1),
                                   ShardRecord(RecordType::kAborted, kT1),
                                   ShardRecord(RecordType::kCommitted, kT1)}),
               "COMMITTED after ABORTED");
  EXPECT_DEATH(FoldParticipantLog({ShardRecord(RecordType::kPrepared, kT1),
                                   ShardRecord(RecordType::kCommitted, kT1),
                                   ShardRecord(RecordType::kAborted, kT1)}),
               "ABORTED after COMMITTED");
  EXPECT_DEATH(FoldParticipantLog({ShardRecord(RecordType::kPrepared, kT1),
                                   ShardRecord(RecordType::kCommitted, kT1),
                                   ShardRecord(RecordType::kPreAborted, kT1, 5)}),
               "CHECK failed");
  EXPECT_DEATH(FoldParticipantLog({ShardRecord(RecordType::kAborted, kT1),
                                   ShardRecord(RecordType::kPrepared, kT1)}),
               "CHECK failed");
}

TEST(FoldParticipantLogDeathTest, CoordinatorRecordStopsTheProcess) {
  EXPECT_DEATH(FoldParticipantLog({CoordRecord(RecordType::kCoordCommit, kT1, {1})}),
               "coordinator record in a participant log");
}

// ---------------------------------------------------------------------------------------------
// Backoff

TEST(BackoffTest, DoublesToTheCapWithJitterInTheUpperHalf) {
  const std::vector<Ticks> nominal{8, 16, 32, 64, 64, 64, 64};
  for (uint64_t seed = 1; seed <= 200; ++seed) {
    Rng rng(seed);
    Backoff b(8, 64);
    for (size_t i = 0; i < nominal.size(); ++i) {
      const Ticks d = b.NextDelay(rng);
      EXPECT_GE(d, nominal[i] / 2) << "seed=" << seed << " attempt " << i;
      EXPECT_LE(d, nominal[i]) << "seed=" << seed << " attempt " << i;
      EXPECT_EQ(b.attempts(), static_cast<int>(i) + 1);
    }
  }
}

TEST(BackoffTest, JitterCoversTheWholeRangeAndComesFromTheRng) {
  // Over many seeds the first delay takes every value of [4, 8], and the third every value of
  // [16, 32] at its ends: the jitter is real, not a constant.
  std::map<Ticks, int> first;
  Ticks third_min = 1000;
  Ticks third_max = 0;
  for (uint64_t seed = 1; seed <= 500; ++seed) {
    Rng rng(seed);
    Backoff b(8, 64);
    ++first[b.NextDelay(rng)];
    b.NextDelay(rng);
    const Ticks third = b.NextDelay(rng);
    third_min = std::min(third_min, third);
    third_max = std::max(third_max, third);
  }
  EXPECT_EQ(first.size(), 5u);
  EXPECT_EQ(first.begin()->first, 4);
  EXPECT_EQ(first.rbegin()->first, 8);
  EXPECT_EQ(third_min, 16);
  EXPECT_EQ(third_max, 32);
  // Deterministic: the same seed gives the same sequence.
  Rng a(99);
  Rng b(99);
  Backoff ba(8, 64);
  Backoff bb(8, 64);
  for (int i = 0; i < 10; ++i) EXPECT_EQ(ba.NextDelay(a), bb.NextDelay(b));
}

TEST(BackoffTest, ResetStartsOverAtTheFirstDelay) {
  Rng rng(3);
  Backoff b(10, 1000);
  for (int i = 0; i < 6; ++i) b.NextDelay(rng);  // nominal now 640
  b.Reset();
  EXPECT_EQ(b.attempts(), 0);
  const Ticks d = b.NextDelay(rng);
  EXPECT_GE(d, 5);
  EXPECT_LE(d, 10);
  EXPECT_EQ(b.attempts(), 1);
}

TEST(BackoffTest, CapThatIsNotAPowerOfTwoMultipleIsHonoured) {
  Rng rng(5);
  Backoff b(30, 100);  // 30, 60, 100, 100
  const std::vector<Ticks> nominal{30, 60, 100, 100, 100};
  for (Ticks n : nominal) {
    const Ticks d = b.NextDelay(rng);
    EXPECT_GE(d, n / 2);
    EXPECT_LE(d, n);
  }
}

// ---------------------------------------------------------------------------------------------
// TerminationRound

const Ballot kB = MakeBallot(2, 1);  // round 2, proposed by shard 0

Message StateReply(TxnState state, Ballot accepted = 0, bool ok = true, Ballot promised = kB) {
  Message m;
  m.type = MsgType::kStateReply;
  m.state = state;
  m.accepted_ballot = accepted;
  m.promised_ballot = promised;
  m.ballot = kB;
  m.ok = ok;
  return m;
}

Message AcceptAck(TxnState state, bool ok = true, Ballot promised = kB) {
  Message m;
  m.type = MsgType::kTermAcceptAck;
  m.state = state;
  m.promised_ballot = promised;
  m.ballot = kB;
  m.ok = ok;
  return m;
}

using RoundStep = TerminationRound::Step;

TEST(TerminationRoundTest, QuorumSizes) {
  EXPECT_EQ(Quorum(1), 1u);
  EXPECT_EQ(Quorum(2), 2u);
  EXPECT_EQ(Quorum(3), 2u);
  EXPECT_EQ(Quorum(4), 3u);
  EXPECT_EQ(Quorum(5), 3u);
}

TEST(TerminationRoundTest, StartsCollectingWithItsBallot) {
  TerminationRound r(kB, {0, 1, 2});
  EXPECT_EQ(r.step(), RoundStep::kCollecting);
  EXPECT_EQ(r.ballot(), kB);
  EXPECT_EQ(r.outcome(), Outcome::kUnknown);
  EXPECT_EQ(r.participants(), (std::vector<ShardId>{0, 1, 2}));
}

TEST(TerminationRoundTest, QuorumOfPreparedProposesAbort) {
  TerminationRound r(kB, {0, 1, 2});
  r.OnStateReply(0, StateReply(TxnState::kPrepared));
  EXPECT_EQ(r.step(), RoundStep::kCollecting) << "one reply of three is no majority";
  r.OnStateReply(1, StateReply(TxnState::kPrepared));
  EXPECT_EQ(r.step(), RoundStep::kProposing);
  EXPECT_FALSE(r.propose_commit());
  EXPECT_EQ(r.outcome(), Outcome::kUnknown) << "proposing is not deciding";
}

TEST(TerminationRoundTest, PreCommittedInQuorumProposesCommit) {
  TerminationRound r(kB, {0, 1, 2});
  r.OnStateReply(2, StateReply(TxnState::kPrepared));
  r.OnStateReply(0, StateReply(TxnState::kPreCommitted, /*accepted=*/0));
  ASSERT_EQ(r.step(), RoundStep::kProposing);
  EXPECT_TRUE(r.propose_commit()) << "PRE-COMMIT accepted at ballot 0 may have been chosen";
}

TEST(TerminationRoundTest, HigherBallotPreAbortBeatsLowerPreCommit) {
  TerminationRound r(kB, {0, 1, 2});
  r.OnStateReply(0, StateReply(TxnState::kPreCommitted, 0));
  r.OnStateReply(1, StateReply(TxnState::kPreAborted, MakeBallot(1, 3)));
  ASSERT_EQ(r.step(), RoundStep::kProposing);
  EXPECT_FALSE(r.propose_commit());
}

TEST(TerminationRoundTest, HigherBallotPreCommitBeatsLowerPreAbort) {
  // Same as above with the ballots the other way round, and the replies in the other order.
  TerminationRound r(kB, {0, 1, 2, 3, 4});
  r.OnStateReply(4, StateReply(TxnState::kPreCommitted, MakeBallot(1, 5)));
  r.OnStateReply(3, StateReply(TxnState::kPreAborted, MakeBallot(1, 2)));
  EXPECT_EQ(r.step(), RoundStep::kCollecting) << "2 of 5 is no majority";
  r.OnStateReply(0, StateReply(TxnState::kPrepared));
  ASSERT_EQ(r.step(), RoundStep::kProposing);
  EXPECT_TRUE(r.propose_commit());
}

TEST(TerminationRoundTest, CommittedReplyDecidesCommitAtOnce) {
  TerminationRound r(kB, {0, 1, 2});
  r.OnStateReply(1, StateReply(TxnState::kCommitted));
  EXPECT_EQ(r.step(), RoundStep::kDecided) << "a final state needs no quorum";
  EXPECT_EQ(r.outcome(), Outcome::kCommitted);
}

TEST(TerminationRoundTest, AbortedReplyDecidesAbortAtOnce) {
  TerminationRound r(kB, {0, 1, 2});
  r.OnStateReply(0, StateReply(TxnState::kPreCommitted, 0));
  r.OnStateReply(2, StateReply(TxnState::kAborted));
  EXPECT_EQ(r.step(), RoundStep::kDecided);
  EXPECT_EQ(r.outcome(), Outcome::kAborted);
}

TEST(TerminationRoundTest, FinalStateWinsEvenWithOkFalse) {
  TerminationRound r(kB, {0, 1, 2});
  r.OnStateReply(0, StateReply(TxnState::kCommitted, 0, /*ok=*/false, MakeBallot(9, 9)));
  EXPECT_EQ(r.step(), RoundStep::kDecided);
  EXPECT_EQ(r.outcome(), Outcome::kCommitted);
}

TEST(TerminationRoundTest, RefusedPromisePreemptsAndReportsTheHigherBallot) {
  const Ballot higher = MakeBallot(5, 3);
  TerminationRound r(kB, {0, 1, 2});
  r.OnStateReply(0, StateReply(TxnState::kPrepared));
  r.OnStateReply(1, StateReply(TxnState::kPrepared, 0, /*ok=*/false, higher));
  EXPECT_EQ(r.step(), RoundStep::kPreempted);
  EXPECT_EQ(r.highest_promise_seen(), higher);
  EXPECT_EQ(r.outcome(), Outcome::kUnknown);
  // A preempted round ignores anything later.
  r.OnStateReply(2, StateReply(TxnState::kPrepared));
  EXPECT_EQ(r.step(), RoundStep::kPreempted);
}

TEST(TerminationRoundTest, RepliesFromNonParticipantsAreIgnored) {
  TerminationRound r(kB, {0, 1, 2});
  r.OnStateReply(7, StateReply(TxnState::kPrepared));
  r.OnStateReply(8, StateReply(TxnState::kPrepared));
  r.OnStateReply(9, StateReply(TxnState::kCommitted));
  r.OnStateReply(9, StateReply(TxnState::kPrepared, 0, /*ok=*/false, MakeBallot(9, 9)));
  EXPECT_EQ(r.step(), RoundStep::kCollecting);
  EXPECT_EQ(r.outcome(), Outcome::kUnknown);
  EXPECT_EQ(r.highest_promise_seen(), 0u) << "a stranger's ballot must not count either";
  r.OnStateReply(0, StateReply(TxnState::kPrepared));
  EXPECT_EQ(r.step(), RoundStep::kCollecting) << "only one participant has replied";
}

TEST(TerminationRoundTest, DuplicateRepliesFromOneShardDoNotMakeAQuorum) {
  TerminationRound r(kB, {0, 1, 2});
  r.OnStateReply(1, StateReply(TxnState::kPrepared));
  r.OnStateReply(1, StateReply(TxnState::kPrepared));
  r.OnStateReply(1, StateReply(TxnState::kPreCommitted, 0));
  EXPECT_EQ(r.step(), RoundStep::kCollecting);
  r.OnStateReply(2, StateReply(TxnState::kPrepared));
  EXPECT_EQ(r.step(), RoundStep::kProposing);
}

TEST(TerminationRoundTest, AcceptQuorumDecidesTheProposedValue) {
  for (bool commit : {false, true}) {
    TerminationRound r(kB, {0, 1, 2});
    r.OnStateReply(0, StateReply(commit ? TxnState::kPreCommitted : TxnState::kPrepared, 0));
    r.OnStateReply(1, StateReply(TxnState::kPrepared));
    ASSERT_EQ(r.step(), RoundStep::kProposing);
    ASSERT_EQ(r.propose_commit(), commit);
    // Acks before the proposal is sent do not count.
    r.OnAcceptAck(0, AcceptAck(TxnState::kPreCommitted));
    EXPECT_EQ(r.step(), RoundStep::kProposing);
    r.ProposalSent();
    EXPECT_EQ(r.step(), RoundStep::kAccepting);
    const TxnState accepted = commit ? TxnState::kPreCommitted : TxnState::kPreAborted;
    r.OnAcceptAck(2, AcceptAck(accepted));
    EXPECT_EQ(r.step(), RoundStep::kAccepting);
    r.OnAcceptAck(2, AcceptAck(accepted));  // duplicate
    EXPECT_EQ(r.step(), RoundStep::kAccepting) << "a duplicate ack must not make a quorum";
    r.OnAcceptAck(5, AcceptAck(accepted));  // stranger
    EXPECT_EQ(r.step(), RoundStep::kAccepting) << "a non-participant must not make a quorum";
    r.OnAcceptAck(0, AcceptAck(accepted));
    EXPECT_EQ(r.step(), RoundStep::kDecided);
    EXPECT_EQ(r.outcome(), commit ? Outcome::kCommitted : Outcome::kAborted);
  }
}

TEST(TerminationRoundTest, RefusedAcceptPreempts) {
  const Ballot higher = MakeBallot(3, 2);
  TerminationRound r(kB, {0, 1, 2});
  r.OnStateReply(0, StateReply(TxnState::kPrepared));
  r.OnStateReply(1, StateReply(TxnState::kPrepared));
  r.ProposalSent();
  r.OnAcceptAck(0, AcceptAck(TxnState::kPreAborted));
  r.OnAcceptAck(1, AcceptAck(TxnState::kPrepared, /*ok=*/false, higher));
  EXPECT_EQ(r.step(), RoundStep::kPreempted);
  EXPECT_EQ(r.highest_promise_seen(), higher);
  EXPECT_EQ(r.outcome(), Outcome::kUnknown);
}

TEST(TerminationRoundTest, FinalStateInAcceptPhaseIsAdopted) {
  TerminationRound r(kB, {0, 1, 2});
  r.OnStateReply(0, StateReply(TxnState::kPrepared));
  r.OnStateReply(1, StateReply(TxnState::kPrepared));
  ASSERT_FALSE(r.propose_commit());
  r.ProposalSent();
  r.OnAcceptAck(2, AcceptAck(TxnState::kCommitted));
  EXPECT_EQ(r.step(), RoundStep::kDecided);
  EXPECT_EQ(r.outcome(), Outcome::kCommitted);
}

TEST(TerminationRoundDeathTest, BallotZeroIsTheCoordinatorsAndNeedsNoRound) {
  EXPECT_DEATH(TerminationRound(0, {0, 1}), "ballot_ > 0");
}

}  // namespace
}  // namespace txcoord::recovery
