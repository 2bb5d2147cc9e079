// The simulated network of txsim: moves opaque protocol messages between integer endpoints with
// random delay (hence reordering), loss, duplication and partitions, all drawn from one injected
// Rng so that a seed replays bit for bit (STYLE.md 3 and 8).
//
// Endpoints are int32_t node ids chosen by the caller; the caller maps a NodeRef and an
// incarnation to an id and back. A packet is a protocol Message or a replication message; the
// network never looks inside either.
//
// Determinism: every container is ordered, every random draw comes from the Rng passed to the
// constructor, and the sequence of draws depends only on the sequence of calls.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "common/ids.h"
#include "common/protocol.h"
#include "common/rng.h"
#include "replication/core/replica_core.h"

namespace txcoord::sim {

// Fault parameters of a Network. Probabilities are per million.
struct NetworkFaults {
  int64_t min_delay_ticks = 1;  // REQUIRES: 0 <= min_delay_ticks <= max_delay_ticks
  int64_t max_delay_ticks = 5;
  uint32_t drop_per_million = 0;       // each Send is lost with this chance
  uint32_t duplicate_per_million = 0;  // each surviving Send gets a second copy with this chance
  bool partitions = false;             // whether Tick may start partitions
  int64_t partition_min_ticks = 20;    // REQUIRES: 1 <= partition_min_ticks <= partition_max_ticks
  int64_t partition_max_ticks = 200;
  uint32_t partition_start_per_million = 1500;  // chance per Tick a partition starts (none active)
};

using Packet = std::variant<Message, replication::ReplMessage>;

// One message in flight. seq is unique per Network and increases with every copy enqueued, so
// (deliver_at, seq) is a total order and ties in deliver_at are broken by send order.
struct Envelope {
  int32_t from = 0;
  int32_t to = 0;
  Ticks deliver_at = 0;
  uint64_t seq = 0;
  Packet msg;
  // The protocol message (REQUIRES: it is one).
  const Message& message() const { return std::get<Message>(msg); }
};

// What Network::Tick did, for the caller's trace.
enum class NetworkEvent : uint8_t { kNone = 0, kPartitionStarted = 1, kPartitionHealed = 2 };

class Network {
 public:
  // rng must outlive the Network.
  Network(Rng& rng, NetworkFaults faults);

  Network(const Network&) = delete;
  Network& operator=(const Network&) = delete;

  // Sends m from `from` to `to` at time now. Counted in sent(). The message is dropped (counted
  // in dropped()) when the two ends are on different sides of an active partition, or, while
  // faults are enabled, with chance drop_per_million. Otherwise it is delivered after a random
  // delay in [min_delay_ticks, max_delay_ticks]; while faults are enabled, with chance
  // duplicate_per_million a second copy with its own random delay is enqueued too (counted in
  // duplicated()). A node may send to itself; it is always connected to itself.
  void Send(Ticks now, int32_t from, int32_t to, Packet m);

  // Removes and returns every envelope with deliver_at <= now, ordered by (deliver_at, seq).
  // Envelopes whose ends are on different sides of a partition active now are dropped instead
  // (counted in dropped()); the rest are counted in delivered().
  std::vector<Envelope> DeliverDue(Ticks now);

  // Advances the partition schedule to time now. If a partition is active and its end time has
  // come, it heals (kPartitionHealed). Otherwise, if none is active, faults are enabled,
  // partitions are on and `nodes` holds at least two distinct ids, then with chance
  // partition_start_per_million a partition starts (kPartitionStarted): the distinct ids of
  // `nodes` are split at random into two non-empty sides for a random duration in
  // [partition_min_ticks, partition_max_ticks]. Ids not in side A (including ids that appear only
  // later) are on side B. The result does not depend on the order of `nodes`.
  NetworkEvent Tick(Ticks now, const std::vector<int32_t>& nodes);

  // Ends any partition and disables further drops, duplicates and partitions. Delays (and so
  // reordering) remain. Used at the end of a run so that liveness can be checked.
  void HealAll();

  // Turns drop, duplicate and new partitions on or off. Does not heal an active partition.
  void SetFaultsEnabled(bool enabled) { faults_enabled_ = enabled; }
  bool faults_enabled() const { return faults_enabled_; }

  // True unless a and b are on different sides of the active partition.
  bool Connected(int32_t a, int32_t b) const;
  bool partitioned() const { return partition_active_; }
  // Side A of the active partition (empty when none) and when it heals.
  const std::set<int32_t>& partition_side_a() const { return side_a_; }
  Ticks partition_heals_at() const { return heal_at_; }
  // "{1,4} | rest until t=230", or "none".
  std::string DescribePartition() const;

  // Drops every in-flight envelope addressed to node (a crashed node's inbound messages are
  // lost). Counted in dropped().
  void DropAllTo(int32_t node);

  size_t in_flight() const { return in_flight_.size(); }
  const NetworkFaults& faults() const { return faults_; }

  // Counters since construction.
  uint64_t sent() const { return sent_; }
  uint64_t delivered() const { return delivered_; }
  uint64_t dropped() const { return dropped_; }
  uint64_t duplicated() const { return duplicated_; }
  uint64_t partitions_started() const { return partitions_started_; }

 private:
  void Enqueue(Ticks now, int32_t from, int32_t to, const Packet& m);
  bool OnSideA(int32_t node) const { return side_a_.count(node) != 0; }

  Rng& rng_;
  const NetworkFaults faults_;
  bool faults_enabled_ = true;

  // Keyed by (deliver_at, seq): iteration order is delivery order.
  std::map<std::pair<Ticks, uint64_t>, Envelope> in_flight_;
  uint64_t next_seq_ = 1;

  bool partition_active_ = false;
  std::set<int32_t> side_a_;
  Ticks heal_at_ = 0;

  uint64_t sent_ = 0;
  uint64_t delivered_ = 0;
  uint64_t dropped_ = 0;
  uint64_t duplicated_ = 0;
  uint64_t partitions_started_ = 0;
};

const char* ToString(NetworkEvent e);

}  // namespace txcoord::sim
