// The client library's replica-following policy (client/failover.h), step by step: which replica
// a call tries next after a NotPrimary or an unreachable replica, when it pauses (after every full
// round of the list, hints included, so that replicas naming each other cannot make it spin), and
// which failures may be retried at all: a commit that may have been sent never is.
#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <vector>

#include "client/failover.h"

namespace txcoord::client::internal {
namespace {

using std::chrono::milliseconds;

TEST(ClientFailoverTest, OnlyNotPrimaryIsRetriedForCallsThatMustNotRunTwice) {
  const Status ok = Status::Ok();
  const Status unavailable = Status::Unavailable("connection lost");
  // commit, abort, execute, Participant.run: NotPrimary only.
  EXPECT_TRUE(MayRetry(RetryOn::kNotPrimary, ok, /*not_primary=*/true));
  EXPECT_FALSE(MayRetry(RetryOn::kNotPrimary, ok, /*not_primary=*/false));
  EXPECT_FALSE(MayRetry(RetryOn::kNotPrimary, unavailable, false));
  EXPECT_FALSE(MayRetry(RetryOn::kNotPrimary, Status::Timeout("deadline"), false));
  // begin, status, shard_map, Participant.states: also Unavailable, never a deadline or a bad
  // reply.
  EXPECT_TRUE(MayRetry(RetryOn::kNotPrimaryOrUnavailable, ok, true));
  EXPECT_FALSE(MayRetry(RetryOn::kNotPrimaryOrUnavailable, ok, false));
  EXPECT_TRUE(MayRetry(RetryOn::kNotPrimaryOrUnavailable, unavailable, false));
  for (const Status& s : {Status::Timeout("deadline"), Status::Corruption("bad reply"),
                          Status::IoError("internal error"), Status::InvalidArgument("bad")}) {
    EXPECT_FALSE(MayRetry(RetryOn::kNotPrimaryOrUnavailable, s, false)) << s.ToString();
  }
  // Participant.run at a shard the transaction already ran ops at: nothing, not even NotPrimary
  // (the new primary never had the earlier ops).
  EXPECT_FALSE(MayRetry(RetryOn::kNever, ok, /*not_primary=*/true));
  EXPECT_FALSE(MayRetry(RetryOn::kNever, unavailable, false));
}

TEST(ClientFailoverTest, BackoffDoublesUpTo200Ms) {
  Backoff b;
  std::vector<milliseconds> got;
  for (int i = 0; i < 6; ++i) got.push_back(b.Next());
  EXPECT_EQ(got,
            (std::vector<milliseconds>{milliseconds(20), milliseconds(40), milliseconds(80),
                                       milliseconds(160), milliseconds(200), milliseconds(200)}));
}

const std::vector<std::string> kReplicas = {"10.0.0.1:7000", "10.0.0.2:7000", "10.0.0.3:7000"};

TEST(ClientFailoverTest, WalksTheListAndPausesAfterEachRound) {
  ReplicaWalk walk(kReplicas, kReplicas[1]);
  EXPECT_EQ(walk.target(), kReplicas[1]);
  EXPECT_EQ(walk.Advance(""), milliseconds(0));
  EXPECT_EQ(walk.target(), kReplicas[2]);
  EXPECT_EQ(walk.Advance(""), milliseconds(0));
  EXPECT_EQ(walk.target(), kReplicas[0]);
  EXPECT_EQ(walk.Advance(""), milliseconds(20));  // a full round
  EXPECT_EQ(walk.target(), kReplicas[1]);
  EXPECT_EQ(walk.Advance(""), milliseconds(0));
  EXPECT_EQ(walk.Advance(""), milliseconds(0));
  EXPECT_EQ(walk.Advance(""), milliseconds(40));
}

TEST(ClientFailoverTest, FollowsTheNamedPrimaryThenGoesOnFromIt) {
  ReplicaWalk walk(kReplicas, kReplicas[0]);
  EXPECT_EQ(walk.Advance(kReplicas[2]), milliseconds(0));
  EXPECT_EQ(walk.target(), kReplicas[2]);
  // The named one refuses too, naming nobody: the list goes on after it.
  EXPECT_EQ(walk.Advance(""), milliseconds(0));
  EXPECT_EQ(walk.target(), kReplicas[0]);
}

TEST(ClientFailoverTest, IgnoresAHintNamingItselfOrMalformed) {
  ReplicaWalk walk(kReplicas, kReplicas[0]);
  walk.Advance(kReplicas[0]);  // "the primary is me", but it is not serving
  EXPECT_EQ(walk.target(), kReplicas[1]);
  walk.Advance("not an address");
  EXPECT_EQ(walk.target(), kReplicas[2]);
}

TEST(ClientFailoverTest, FollowsAPrimaryOutsideTheList) {
  ReplicaWalk walk(kReplicas, kReplicas[1]);
  walk.Advance("10.0.0.9:7000");
  EXPECT_EQ(walk.target(), "10.0.0.9:7000");
  walk.Advance("");
  EXPECT_EQ(walk.target(), kReplicas[2]);  // the list goes on where it was
  // A walk that starts outside the list goes to the list's first.
  ReplicaWalk outside(kReplicas, "10.0.0.9:7000");
  outside.Advance("");
  EXPECT_EQ(outside.target(), kReplicas[0]);
}

TEST(ClientFailoverTest, TwoReplicasNamingEachOtherStillPause) {
  ReplicaWalk walk(kReplicas, kReplicas[0]);
  milliseconds paused(0);
  for (int i = 0; i < 6; ++i) {
    const std::string other = walk.target() == kReplicas[0] ? kReplicas[1] : kReplicas[0];
    paused += walk.Advance(other);
  }
  EXPECT_EQ(paused, milliseconds(20 + 40));  // one pause per 3 attempts
}

TEST(ClientFailoverTest, OneReplicaPausesBeforeEveryRetry) {
  const std::vector<std::string> one = {kReplicas[0]};
  ReplicaWalk walk(one, one[0]);
  EXPECT_EQ(walk.Advance(""), milliseconds(20));
  EXPECT_EQ(walk.target(), one[0]);
  EXPECT_EQ(walk.Advance(""), milliseconds(40));
}

TEST(ClientFailoverTest, LaterCallsStartAfterAnUnreachableReplica) {
  EXPECT_EQ(NextReplica(kReplicas, kReplicas[0]), kReplicas[1]);
  EXPECT_EQ(NextReplica(kReplicas, kReplicas[2]), kReplicas[0]);
  EXPECT_EQ(NextReplica(kReplicas, "10.0.0.9:7000"), kReplicas[0]);
}

TEST(ClientFailoverTest, ShardTargetPrefersTheNewMapThenTheHint) {
  const std::string a = "10.0.1.1:7001";
  const std::string b = "10.0.1.2:7001";
  const std::string c = "10.0.1.3:7001";
  EXPECT_EQ(NextShardTarget(a, b, c), b);   // the map moved: it wins
  EXPECT_EQ(NextShardTarget(a, a, c), c);   // the map did not move yet: the refusing one's hint
  EXPECT_EQ(NextShardTarget(a, a, ""), a);  // nobody knows: the same again (after a pause)
  EXPECT_EQ(NextShardTarget(a, a, a), a);
  EXPECT_EQ(NextShardTarget(a, a, "bogus"), a);
  EXPECT_EQ(NextShardTarget(c, a, ""), a);  // a redirect failed: back to the map's
}

}  // namespace
}  // namespace txcoord::client::internal
