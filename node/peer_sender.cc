#include "node/peer_sender.h"

#include <boost/asio/post.hpp>
#include <iostream>

#include "Peer.h"
#include "idl/replication_wire.h"
#include "idl/wire.h"
#include "rpc/thrift_call.h"

namespace txcoord::node {

namespace {
// A one-way batch waits at most this long for a connection before it is dropped (the protocol
// resends).
constexpr std::chrono::seconds kDeliverDeadline{2};

// At least as many bytes as `m` takes in Thrift's binary protocol: every field header, scalar,
// list header and string length counted at its largest. Keys and values are the only parts
// without a bound of their own.
size_t EncodedBytesAtMost(const thrift::PeerMessage& m) {
  size_t bytes = 21 * 11 + 2 * 11 + 2;  // 21 fields, the TxnId's 2, two struct stops
  bytes += 5 + 4 * m.participants.size();
  bytes += 5;
  for (const thrift::Op& op : m.ops) bytes += 6 * 11 + 1 + op.key.size() + op.value.size();
  bytes += 5;
  for (const thrift::OpResult& r : m.reads) bytes += 3 * 11 + 1 + r.key.size() + r.value.size();
  return bytes;
}

}  // namespace

std::vector<std::pair<size_t, size_t>> SplitDeliver(const std::vector<thrift::PeerMessage>& messages,
                                                    size_t max_bytes) {
  std::vector<std::pair<size_t, size_t>> parts;
  size_t begin = 0;
  size_t bytes = 0;
  for (size_t i = 0; i < messages.size(); ++i) {
    const size_t m = EncodedBytesAtMost(messages[i]);
    if (i > begin && bytes + m > max_bytes) {
      parts.emplace_back(begin, i);
      begin = i;
      bytes = 0;
    }
    bytes += m;
  }
  if (begin < messages.size()) parts.emplace_back(begin, messages.size());
  return parts;
}

std::string GroupName(NodeRef group) {
  return group.is_coordinator() ? "coordinator" : "shard" + std::to_string(group.shard);
}

PeerSender::PeerSender(boost::asio::io_context& io,
                       std::vector<cluster::Address> coordinator_peers,
                       std::vector<std::vector<cluster::Address>> shard_peers,
                       uint32_t max_frame_bytes)
    : io_(io),
      coordinator_peers_(std::move(coordinator_peers)),
      shard_peers_(std::move(shard_peers)),
      max_frame_bytes_(max_frame_bytes) {}

PeerSender::~PeerSender() {
  for (auto& [address, client] : clients_) client->Close();
}

void PeerSender::SetPrimary(NodeRef group, replication::ReplicaId replica) {
  primaries_[group] = replica;
}

const cluster::Address* PeerSender::AddressOf(NodeRef group,
                                              replication::ReplicaId replica) const {
  const std::vector<cluster::Address>* replicas = nullptr;
  if (group.is_coordinator()) {
    replicas = &coordinator_peers_;
  } else if (group.shard >= 0 && static_cast<size_t>(group.shard) < shard_peers_.size()) {
    replicas = &shard_peers_[static_cast<size_t>(group.shard)];
  }
  if (replicas == nullptr || replica < 0 || static_cast<size_t>(replica) >= replicas->size()) {
    return nullptr;
  }
  return &(*replicas)[static_cast<size_t>(replica)];
}

PeerSender::Stats PeerSender::stats() const {
  Stats s = stats_;
  for (const auto& [address, client] : clients_) s.writes += client->stats().writes;
  return s;
}

rpc::Client* PeerSender::ClientFor(const cluster::Address& address) {
  const std::string key = address.ToString();
  auto it = clients_.find(key);
  if (it != clients_.end()) return it->second.get();
  rpc::ClientOptions options;
  options.host = address.host;
  options.port = address.port;
  options.max_frame_bytes = max_frame_bytes_;
  options.reconnect_max_delay = std::chrono::milliseconds(200);
  auto client = std::make_unique<rpc::Client>(io_, options);
  rpc::Client* raw = client.get();
  clients_.emplace(key, std::move(client));
  return raw;
}

void PeerSender::Post() {
  if (flush_posted_) return;
  flush_posted_ = true;
  boost::asio::post(io_, [this] { Flush(); });
}

void PeerSender::Send(const Message& m) {
  auto it = primaries_.find(m.to);
  const cluster::Address* address = AddressOf(m.to, it == primaries_.end() ? 0 : it->second);
  if (address == nullptr) {
    if (dropped_++ % 1000 == 0) {
      std::cerr << "txcoord: dropping a message for " << GroupName(m.to)
                << ", which is not in the cluster (" << dropped_ << " dropped so far)\n";
    }
    return;
  }
  const std::string key = address->ToString();
  queued_[key].deliver.push_back(wire::ToWire(m));
  queued_address_.emplace(key, *address);
  ++stats_.messages;
  Post();
}

void PeerSender::SendReplication(NodeRef group, const replication::ReplMessage& m) {
  const cluster::Address* address = AddressOf(group, m.to);
  if (address == nullptr) {
    if (dropped_++ % 1000 == 0) {
      std::cerr << "txcoord: dropping a replication message for replica " << m.to << " of "
                << GroupName(group) << ", which has no such replica\n";
    }
    return;
  }
  const std::string key = address->ToString();
  queued_[key].replicate.push_back(wire::ToWire(GroupName(group), m));
  queued_address_.emplace(key, *address);
  ++stats_.replication_messages;
  Post();
}

void PeerSender::Flush() {
  flush_posted_ = false;
  std::map<std::string, Queue> queued;
  queued.swap(queued_);
  for (auto& [key, queue] : queued) {
    rpc::Client* client = ClientFor(queued_address_.at(key));
    const rpc::Deadline deadline = rpc::Clock::now() + kDeliverDeadline;
    if (!queue.replicate.empty()) {
      Result<std::string> call = rpc::EncodeCall<thrift::PeerClient>(
          [&](thrift::PeerClient& c) { c.send_replicate(queue.replicate); });
      TXC_CHECK_MSG(call.ok(), "a replication message always encodes");
      ++stats_.replication_batches;
      client->Call(std::move(call.value()), deadline, [](Result<std::string>) {});
    }
    // A backlog (a new primary's resends for 100,000 transactions) leaves in several calls,
    // each within half a frame: one above the receiver's frame limit would be refused whole, and
    // resent whole, for good.
    const std::vector<std::pair<size_t, size_t>> parts =
        SplitDeliver(queue.deliver, max_frame_bytes_ / 2);
    for (const auto& [begin, end] : parts) {
      std::vector<thrift::PeerMessage> part;
      if (parts.size() == 1) {
        part.swap(queue.deliver);
      } else {
        part.assign(std::make_move_iterator(queue.deliver.begin() + static_cast<std::ptrdiff_t>(begin)),
                    std::make_move_iterator(queue.deliver.begin() + static_cast<std::ptrdiff_t>(end)));
      }
      Result<std::string> call = rpc::EncodeCall<thrift::PeerClient>(
          [&](thrift::PeerClient& c) { c.send_deliver(part); });
      TXC_CHECK_MSG(call.ok(), "a protocol message always encodes");
      ++stats_.batches;
      client->Call(std::move(call.value()), deadline, [](Result<std::string>) {});
    }
  }
}

}  // namespace txcoord::node
