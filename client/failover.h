// How the client library follows the primaries of replica groups (client.h): which replica a
// call tries next, when it pauses, and which failures it may retry at all. Pure: no sockets, no
// clocks, so that the policy can be tested step by step (tests/unit/client_failover_test.cc).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace txcoord::client::internal {

// What a failed attempt may lead to.
enum class RetryOn {
  // Only a NotPrimary answer (which changed nothing) is retried. For calls that must not run
  // twice: commit, abort, execute, Participant.run. A lost connection or a deadline is reported
  // as it is (for commit, abort and execute: UNKNOWN).
  kNotPrimary,
  // NotPrimary, and Unavailable (the connection could not be made or was lost: the call may or may
  // not have run, which for these calls is harmless). For begin_txn (an abandoned transaction
  // times out), status, shard_map, Participant.states.
  kNotPrimaryOrUnavailable,
  // Nothing is retried. For Participant.run at a shard the transaction already ran ops at: its
  // earlier ops were buffered at the replica that refuses now, and a new primary never had them
  // (a transaction's reads and writes are not replicated before PREPARE), so running the rest
  // there would prepare a part of the transaction. It fails instead.
  kNever,
};

// Whether an attempt that ended with `status` (the transport's; ok when a reply was decoded) and,
// if a reply came, `not_primary` (it was a NotPrimary) may be retried under `policy`.
bool MayRetry(RetryOn policy, const Status& status, bool not_primary);

// Pauses between rounds of attempts: 20 ms, doubling, at most 200 ms.
class Backoff {
 public:
  static constexpr std::chrono::milliseconds kFirst{20};
  static constexpr std::chrono::milliseconds kMax{200};
  // The pause to take now; the next one is twice as long (capped).
  std::chrono::milliseconds Next();

 private:
  std::chrono::milliseconds next_ = kFirst;
};

// The coordinator replicas one call walks through. Starts at `start` (the replica that answered
// last as primary, or the first in the list); after each failed attempt goes to the primary that
// the NotPrimary named, when it names a valid address other than the one just tried, or else to
// the next replica of the list (wrapping). Every `replicas.size()` failed attempts, hint-following
// ones included, make a round, after which the caller pauses (so that two replicas naming each
// other cannot make it spin).
class ReplicaWalk {
 public:
  // REQUIRES: !replicas.empty(); `replicas` outlives the walk.
  ReplicaWalk(const std::vector<std::string>& replicas, std::string start);

  const std::string& target() const { return target_; }
  // The attempt at target() failed (NotPrimary naming `hint`, which may be empty, or the replica
  // could not be reached: hint empty). Moves on and returns the pause to take before trying the
  // new target(): zero, except at the end of a round.
  std::chrono::milliseconds Advance(const std::string& hint);

 private:
  const std::vector<std::string>* replicas_;
  std::string target_;
  size_t next_ = 0;      // the list entry to try after target_ when there is no hint
  size_t in_round_ = 0;  // failed attempts since the last pause
  Backoff backoff_;
};

// The next replica of the list after `current` (the first if `current` is not in it): where the
// calls that follow go once `current` could not be reached. REQUIRES: !replicas.empty().
const std::string& NextReplica(const std::vector<std::string>& replicas,
                               const std::string& current);

// The shard replica to try after the attempt at `failed` failed (NotPrimary naming `hint`, maybe
// empty, or unreachable) and the shard map was fetched again, naming `mapped` for the shard: the
// map's, if it names another replica; else the hint, if it is a valid address other than
// `failed`; else `failed` again (the caller pauses first).
std::string NextShardTarget(const std::string& failed, const std::string& mapped,
                            const std::string& hint);

}  // namespace txcoord::client::internal
