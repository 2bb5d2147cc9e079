#include "node/peer_sender.h"

#include <boost/asio/post.hpp>
#include <iostream>

#include "Peer.h"
#include "idl/wire.h"
#include "rpc/thrift_call.h"

namespace txcoord::node {

namespace {
// A one-way batch waits at most this long for a connection before it is dropped (the protocol
// resends).
constexpr std::chrono::seconds kDeliverDeadline{2};
}  // namespace

PeerSender::PeerSender(boost::asio::io_context& io, cluster::Address coordinator,
                       std::vector<cluster::Address> shards, uint32_t max_frame_bytes)
    : io_(io),
      coordinator_(std::move(coordinator)),
      shards_(std::move(shards)),
      max_frame_bytes_(max_frame_bytes) {}

PeerSender::~PeerSender() {
  for (auto& [node, client] : clients_) client->Close();
}

rpc::Client* PeerSender::ClientFor(NodeRef node) {
  auto it = clients_.find(node);
  if (it != clients_.end()) return it->second.get();
  rpc::ClientOptions options;
  options.max_frame_bytes = max_frame_bytes_;
  options.reconnect_max_delay = std::chrono::milliseconds(500);
  if (node.is_coordinator()) {
    options.host = coordinator_.host;
    options.port = coordinator_.port;
  } else {
    if (node.shard < 0 || static_cast<size_t>(node.shard) >= shards_.size()) return nullptr;
    options.host = shards_[static_cast<size_t>(node.shard)].host;
    options.port = shards_[static_cast<size_t>(node.shard)].port;
  }
  auto client = std::make_unique<rpc::Client>(io_, options);
  rpc::Client* raw = client.get();
  clients_.emplace(node, std::move(client));
  return raw;
}

void PeerSender::Send(const Message& m) {
  queued_[m.to].push_back(m);
  if (!flush_posted_) {
    flush_posted_ = true;
    boost::asio::post(io_, [this] { Flush(); });
  }
}

void PeerSender::Flush() {
  flush_posted_ = false;
  std::map<NodeRef, std::vector<Message>> queued;
  queued.swap(queued_);
  for (auto& [node, messages] : queued) {
    rpc::Client* client = ClientFor(node);
    if (client == nullptr) {
      std::cerr << "txcoord: dropping " << messages.size() << " message(s) for shard " << node.shard
                << ", which is not in the shard map\n";
      continue;
    }
    std::vector<thrift::PeerMessage> batch;
    batch.reserve(messages.size());
    for (const Message& m : messages) batch.push_back(wire::ToWire(m));
    Result<std::string> call =
        rpc::EncodeCall<thrift::PeerClient>([&](thrift::PeerClient& c) { c.send_deliver(batch); });
    TXC_CHECK_MSG(call.ok(), "a protocol message always encodes");
    stats_.messages += messages.size();
    ++stats_.batches;
    client->Call(std::move(call.value()), rpc::Clock::now() + kDeliverDeadline,
                 [](Result<std::string>) {});
  }
}

}  // namespace txcoord::node
