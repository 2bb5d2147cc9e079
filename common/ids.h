// Identifiers shared by every role. A transaction id carries the coordinator epoch that issued
// it, so ids are unique across coordinator restarts and failovers without a persisted counter:
// every coordinator incarnation runs under an epoch no earlier incarnation had.
#pragma once

#include <compare>
#include <cstdint>
#include <string>

namespace txcoord {

using Epoch = uint64_t;    // coordinator epoch; 0 is "none"
using ShardId = int32_t;   // a participant shard (replica group)
using Lsn = uint64_t;      // a core's log position; records are durable up to OnDurable(lsn)
using Ticks = int64_t;     // abstract time, counted by Tick() calls
using Ballot = uint64_t;   // 3PC termination ballot; 0 is the coordinator's own PRE-COMMIT round

struct TxnId {
  Epoch epoch = 0;
  uint64_t seq = 0;
  auto operator<=>(const TxnId&) const = default;
  bool valid() const { return epoch != 0; }
  std::string ToString() const { return std::to_string(epoch) + "." + std::to_string(seq); }
};

// Ballots are (round, proposer) packed so that two proposers never share a ballot.
// Proposer ids: a shard's id + 1, or kCoordinatorProposer for a (recovering) coordinator.
inline constexpr uint32_t kCoordinatorProposer = 0xFFFF;
inline Ballot MakeBallot(uint64_t round, uint32_t proposer) { return (round << 16) | proposer; }
inline uint64_t BallotRound(Ballot b) { return b >> 16; }

}  // namespace txcoord
