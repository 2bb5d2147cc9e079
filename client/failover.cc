#include "client/failover.h"

#include <algorithm>

namespace txcoord::client::internal {

Result<Address> ParseAddress(std::string_view text) {
  const auto bad = [&](const std::string& why) {
    return Status::InvalidArgument("address '" + std::string(text) + "': " + why +
                                   " (expected host:port)");
  };
  const size_t colon = text.rfind(':');
  if (colon == std::string_view::npos) return bad("no port");
  std::string_view host = text.substr(0, colon);
  const std::string_view port = text.substr(colon + 1);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  } else if (host.find(':') != std::string_view::npos) {
    return bad("an IPv6 host needs brackets");
  }
  if (host.empty()) return bad("empty host");
  if (port.empty() || port.size() > 5 ||
      !std::all_of(port.begin(), port.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return bad("port is not a number");
  }
  const int number = std::stoi(std::string(port));
  if (number < 1 || number > 65535) return bad("port out of range");
  return Address{std::string(host), static_cast<uint16_t>(number)};
}

std::string FormatAddress(const std::string& host, uint16_t port) {
  const bool v6 = host.find(':') != std::string::npos;
  return (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

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
  if (!hint.empty() && hint != target_ && ParseAddress(hint).ok()) {
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
  if (!hint.empty() && hint != failed && ParseAddress(hint).ok()) return hint;
  return failed;
}

}  // namespace txcoord::client::internal
