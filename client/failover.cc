#include "client/failover.h"

#include "cluster/address.h"

#include <algorithm>

namespace txcoord::client::internal {

bool MayRetry(RetryOn policy, const Status& status, bool not_primary) {
  if (policy == RetryOn::kNever) return false;
  if (status.ok()) return not_primary;
  return policy == RetryOn::kNotPrimaryOrUnavailable && status.code() == Status::Code::kUnavailable;
}

std::chrono::milliseconds Backoff::Next() {
  const std::chrono::milliseconds now = next_;
  next_ = std::min(next_ * 2, kMax);
  return now;
}

namespace {

size_t IndexOf(const std::vector<std::string>& replicas, const std::string& r) {
  return static_cast<size_t>(std::find(replicas.begin(), replicas.end(), r) - replicas.begin());
}

}  // namespace

ReplicaWalk::ReplicaWalk(const std::vector<std::string>& replicas, std::string start)
    : replicas_(&replicas), target_(std::move(start)) {
  const size_t at = IndexOf(replicas, target_);
  next_ = at < replicas.size() ? (at + 1) % replicas.size() : 0;
}

std::chrono::milliseconds ReplicaWalk::Advance(const std::string& hint) {
  const std::vector<std::string>& replicas = *replicas_;
  if (!hint.empty() && hint != target_ && cluster::ParseAddress(hint).ok()) {
    target_ = hint;
    const size_t at = IndexOf(replicas, hint);
    if (at < replicas.size()) next_ = (at + 1) % replicas.size();
  } else {
    target_ = replicas[next_];
    next_ = (next_ + 1) % replicas.size();
  }
  if (++in_round_ < replicas.size()) return std::chrono::milliseconds(0);
  in_round_ = 0;
  return backoff_.Next();
}

const std::string& NextReplica(const std::vector<std::string>& replicas,
                               const std::string& current) {
  const size_t at = IndexOf(replicas, current);
  return replicas[at < replicas.size() ? (at + 1) % replicas.size() : 0];
}

std::string NextShardTarget(const std::string& failed, const std::string& mapped,
                            const std::string& hint) {
  if (!mapped.empty() && mapped != failed) return mapped;
  if (!hint.empty() && hint != failed && cluster::ParseAddress(hint).ok()) return hint;
  return failed;
}

}  // namespace txcoord::client::internal
