// PeerSender: a node's outgoing protocol messages, batched per destination (DESIGN.md section 7:
// node-to-node traffic batches many transactions' messages into one call).
//
// Send() queues a core message; the first Send after a flush posts one flush to the io_context,
// so everything a node emits while handling one batch of inputs (one io turn) leaves as ONE
// one-way Peer.deliver call per destination. Messages are one-way: a lost batch costs a protocol
// resend, never safety (the cores retry with backoff).
//
// Destinations: NodeRef::Coordinator() is the coordinator's peer port; NodeRef::Shard(i) is
// shard i's peer port (config shard_peers[i]). A message for a shard not in the map is dropped
// with a log line.
//
// Threads: every method runs on the io_context's (single) thread that owns the node.
#pragma once

#include <boost/asio/io_context.hpp>
#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "cluster/config.h"
#include "common/protocol.h"
#include "rpc/client.h"

namespace txcoord::node {

class PeerSender {
 public:
  PeerSender(boost::asio::io_context& io, cluster::Address coordinator,
             std::vector<cluster::Address> shards, uint32_t max_frame_bytes);
  ~PeerSender();

  void Send(const Message& m);

  struct Stats {
    uint64_t messages = 0;  // protocol messages sent
    uint64_t batches = 0;   // Peer.deliver calls made
  };
  const Stats& stats() const { return stats_; }

 private:
  void Flush();
  // The connection to a node's peer port (made on first use). Null for a shard not in the map.
  rpc::Client* ClientFor(NodeRef node);

  boost::asio::io_context& io_;
  cluster::Address coordinator_;
  std::vector<cluster::Address> shards_;
  uint32_t max_frame_bytes_;
  std::map<NodeRef, std::unique_ptr<rpc::Client>> clients_;
  std::map<NodeRef, std::vector<Message>> queued_;
  bool flush_posted_ = false;
  Stats stats_;
};

}  // namespace txcoord::node
