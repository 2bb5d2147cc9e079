#include "tests/sim/network.h"

#include <algorithm>

#include "common/check.h"

namespace txcoord::sim {

Network::Network(Rng& rng, NetworkFaults faults) : rng_(rng), faults_(faults) {
  TXC_CHECK(faults_.min_delay_ticks >= 0);
  TXC_CHECK(faults_.min_delay_ticks <= faults_.max_delay_ticks);
  TXC_CHECK(faults_.drop_per_million <= 1000000);
  TXC_CHECK(faults_.duplicate_per_million <= 1000000);
  TXC_CHECK(faults_.partition_start_per_million <= 1000000);
  TXC_CHECK(faults_.partition_min_ticks >= 1);
  TXC_CHECK(faults_.partition_min_ticks <= faults_.partition_max_ticks);
}

void Network::Send(Ticks now, int32_t from, int32_t to, Packet m) {
  ++sent_;
  if (!Connected(from, to)) {
    ++dropped_;
    return;
  }
  if (faults_enabled_ && faults_.drop_per_million > 0 && rng_.Chance(faults_.drop_per_million)) {
    ++dropped_;
    return;
  }
  const bool duplicate = faults_enabled_ && faults_.duplicate_per_million > 0 &&
                         rng_.Chance(faults_.duplicate_per_million);
  Enqueue(now, from, to, m);
  if (duplicate) {
    ++duplicated_;
    Enqueue(now, from, to, m);
  }
}

void Network::Enqueue(Ticks now, int32_t from, int32_t to, const Packet& m) {
  const Ticks at = now + rng_.Range(faults_.min_delay_ticks, faults_.max_delay_ticks);
  const uint64_t seq = next_seq_++;
  in_flight_.emplace(std::make_pair(at, seq), Envelope{from, to, at, seq, m});
}

std::vector<Envelope> Network::DeliverDue(Ticks now) {
  std::vector<Envelope> due;
  auto it = in_flight_.begin();
  while (it != in_flight_.end() && it->first.first <= now) {
    Envelope& e = it->second;
    if (Connected(e.from, e.to)) {
      ++delivered_;
      due.push_back(std::move(e));
    } else {
      ++dropped_;
    }
    it = in_flight_.erase(it);
  }
  return due;
}

NetworkEvent Network::Tick(Ticks now, const std::vector<int32_t>& nodes) {
  if (partition_active_) {
    if (now < heal_at_) return NetworkEvent::kNone;
    partition_active_ = false;
    side_a_.clear();
    return NetworkEvent::kPartitionHealed;
  }
  if (!faults_enabled_ || !faults_.partitions || faults_.partition_start_per_million == 0) {
    return NetworkEvent::kNone;
  }
  // Sorted and distinct, so the split depends on the set of ids only.
  std::vector<int32_t> ids(nodes);
  std::sort(ids.begin(), ids.end());
  ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
  if (ids.size() < 2) return NetworkEvent::kNone;
  if (!rng_.Chance(faults_.partition_start_per_million)) return NetworkEvent::kNone;

  // Fisher-Yates with our own Rng (std::shuffle's algorithm is implementation-defined).
  for (size_t i = ids.size() - 1; i > 0; --i) {
    const size_t j = static_cast<size_t>(rng_.Uniform(i + 1));
    std::swap(ids[i], ids[j]);
  }
  const size_t side_a_size =
      static_cast<size_t>(rng_.Range(1, static_cast<int64_t>(ids.size()) - 1));
  side_a_ = std::set<int32_t>(ids.begin(), ids.begin() + static_cast<std::ptrdiff_t>(side_a_size));
  heal_at_ = now + rng_.Range(faults_.partition_min_ticks, faults_.partition_max_ticks);
  partition_active_ = true;
  ++partitions_started_;
  return NetworkEvent::kPartitionStarted;
}

void Network::HealAll() {
  partition_active_ = false;
  side_a_.clear();
  faults_enabled_ = false;
}

bool Network::Connected(int32_t a, int32_t b) const {
  if (!partition_active_ || a == b) return true;
  return OnSideA(a) == OnSideA(b);
}

std::string Network::DescribePartition() const {
  if (!partition_active_) return "none";
  std::string s = "{";
  bool first = true;
  for (int32_t id : side_a_) {
    if (!first) s += ",";
    first = false;
    s += std::to_string(id);
  }
  s += "} | rest until t=" + std::to_string(heal_at_);
  return s;
}

void Network::DropAllTo(int32_t node) {
  for (auto it = in_flight_.begin(); it != in_flight_.end();) {
    if (it->second.to == node) {
      ++dropped_;
      it = in_flight_.erase(it);
    } else {
      ++it;
    }
  }
}

const char* ToString(NetworkEvent e) {
  switch (e) {
    case NetworkEvent::kNone:
      return "none";
    case NetworkEvent::kPartitionStarted:
      return "partition-started";
    case NetworkEvent::kPartitionHealed:
      return "partition-healed";
  }
  return "?";
}

}  // namespace txcoord::sim
