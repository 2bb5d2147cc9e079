// PeerSender: a node's outgoing peer traffic, batched per destination (DESIGN.md section 7:
// node-to-node traffic batches many transactions' messages into one call): protocol messages
// (Peer.deliver) to the primary of the group they are for, and replication messages
// (Peer.replicate) to one replica of this node's own group.
//
// Send()/SendReplication() queue; the first one after a flush posts one flush to the io_context,
// so everything a node emits while handling one batch of inputs (one io turn) leaves as at most
// one call of each kind per destination. Every call is one-way: a lost batch costs a resend
// (the protocol cores and the replication core retry), never safety.
//
// Destinations: every replica's peer address, from the node's config (coordinator_peers,
// shard_replica_peers). A protocol message for group G goes to the replica SetPrimary last named
// for G (replica 0 until then); a message for a shard not in the map, or a replica that does not
// exist, is dropped with a log line. One connection per destination address carries both kinds.
//
// Threads: every method runs on the io_context's (single) thread that owns the node.
#pragma once

#include <boost/asio/io_context.hpp>
#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "cluster/config.h"
#include "common/protocol.h"
#include "replication/core/replica_core.h"
#include "rpc/client.h"

namespace txcoord::thrift {
class PeerMessage;
class ReplicationMessage;
}  // namespace txcoord::thrift

namespace txcoord::node {

// The replication group name of a node ("coordinator", "shard<N>"): what the configuration store
// and replication messages call it.
std::string GroupName(NodeRef group);

// How a queue of protocol messages is split into Peer.deliver calls: [begin, end) ranges, in
// order, each encoding within max_bytes (an upper bound of each message's encoding is summed),
// but for a single message larger than that alone.
std::vector<std::pair<size_t, size_t>> SplitDeliver(const std::vector<thrift::PeerMessage>& messages,
                                                    size_t max_bytes);

class PeerSender {
 public:
  PeerSender(boost::asio::io_context& io, std::vector<cluster::Address> coordinator_peers,
             std::vector<std::vector<cluster::Address>> shard_peers, uint32_t max_frame_bytes);
  ~PeerSender();

  // Protocol messages for `group` go to its replica `replica` from now on.
  void SetPrimary(NodeRef group, replication::ReplicaId replica);
  // A protocol message, to the primary of m.to's group.
  void Send(const Message& m);
  // A replication message of `group` (this node's own), to its replica m.to.
  void SendReplication(NodeRef group, const replication::ReplMessage& m);

  struct Stats {
    uint64_t messages = 0;              // protocol messages sent
    uint64_t batches = 0;               // Peer.deliver calls made
    uint64_t replication_messages = 0;  // replication messages sent
    uint64_t replication_batches = 0;   // Peer.replicate calls made
    uint64_t writes = 0;                // gather writes issued on the peer connections
  };
  Stats stats() const;

 private:
  struct Queue {
    std::vector<thrift::PeerMessage> deliver;
    std::vector<thrift::ReplicationMessage> replicate;
  };
  void Post();
  void Flush();
  // The peer address of replica `replica` of `group`; null when there is none.
  const cluster::Address* AddressOf(NodeRef group, replication::ReplicaId replica) const;
  rpc::Client* ClientFor(const cluster::Address& address);

  boost::asio::io_context& io_;
  std::vector<cluster::Address> coordinator_peers_;
  std::vector<std::vector<cluster::Address>> shard_peers_;
  uint32_t max_frame_bytes_;
  std::map<NodeRef, replication::ReplicaId> primaries_;
  std::map<std::string, std::unique_ptr<rpc::Client>> clients_;  // by "host:port"
  std::map<std::string, Queue> queued_;
  std::map<std::string, cluster::Address> queued_address_;
  bool flush_posted_ = false;
  uint64_t dropped_ = 0;
  Stats stats_;
};

}  // namespace txcoord::node
