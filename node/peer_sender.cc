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
}  // namespace

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
    if (!queue.deliver.empty()) {
      Result<std::string> call = rpc::EncodeCall<thrift::PeerClient>(
          [&](thrift::PeerClient& c) { c.send_deliver(queue.deliver); });
      TXC_CHECK_MSG(call.ok(), "a protocol message always encodes");
      ++stats_.batches;
      client->Call(std::move(call.value()), deadline, [](Result<std::string>) {});
    }
  }
}

}  // namespace txcoord::node
