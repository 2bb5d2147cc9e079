// NodeDriver: the production driver of one replica of a replica group (DESIGN.md section 5),
// shared by the coordinator and shard services. It is the GroupNodeIo of a GroupNode
// (group_node.h, pure, the same the simulator drives): the replica's disk (a Db with its Wal),
// its network (PeerSender for protocol and replication traffic, a Peer server), its clock (a tick
// timer that reports the real elapsed time) and the configuration store (a thread of its own
// for the file's reads and compare-and-swaps).
//
// A group of one replica is the same machinery with min_insync 1: the replica commits what is
// durable on its own disk, and a restart is a new term (a new epoch) like a failover.
//
// What each input becomes:
//   - the replica's log is restored from the Wal at start, with the newest epoch it had seen
//     (metadata, synced before anything was sent after it);
//   - Wal durability reports (the syncer thread) are posted to the io thread as OnLocalDurable;
//   - Peer.replicate from the peer port: checked at the edge (idl/replication_wire.h), for this
//     group and replica only, then StepReplication; Peer.deliver: protocol messages, stepped into
//     the hosted core only while serving;
//   - the configuration store is read every kStorePollMs (own group: OnConfig; other groups:
//     where their primaries are), and proposals are CAS'd there (OnProposed).
// A derived service makes the protocol core when the GroupNode activates this replica
// (MakeCore) and forgets it when it is demoted (CoreStopped); client handlers check serving()
// first and answer NotPrimaryError() otherwise.
//
// Threads: one io thread runs everything that touches a core. The Wal's syncer and the store
// thread only post to it. Nothing blocks the io thread except the rare synced writes (a newer
// epoch, a suffix truncation, a prefix truncation's metadata), a shard's read of the records a
// truncation drops, and a state transfer's chunks (read or installed, about 1 MiB each).
//
// Shutdown: Stop() closes the servers, stops the ticker, the store thread and the peers, and
// closes the Wal (which makes everything appended durable). Posted handlers hold only weak
// references.
//
// A failed log (Wal::status not ok) ends the process: continuing could acknowledge what is not
// durable. Restart recovers from what is.
#pragma once

#include <atomic>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "cluster/config.h"
#include "cluster/config_store.h"
#include "cluster/etcd_store.h"
#include "cluster/etcd_watch.h"
#include "common/protocol.h"
#include "common/status.h"
#include "node/group_node.h"
#include "node/peer_sender.h"
#include "rpc/server.h"
#include "wal/db.h"
#include "wal/retention.h"
#include "wal/wal.h"

namespace apache::thrift {
class TDelayedException;
}  // namespace apache::thrift

namespace txcoord::thrift {
class PeerMessage;
class ReplicationMessage;
class ReplicaStatus;
}  // namespace txcoord::thrift

namespace txcoord::node {

// How often a node reads the configuration store.
inline constexpr uint32_t kStorePollMs = 50;
// With config_master etcd, changes arrive by a watch (cluster/etcd_watch.h) as they happen, and
// the reads are a backstop this often (polling etcd every 50 ms from every node cost 15% of the
// cluster's throughput on this machine).
inline constexpr uint32_t kEtcdPollMs = 1000;
// With config_master etcd: a node's registration (members/GROUP/REPLICA) lives under a lease of
// this TTL, renewed this often.
inline constexpr int64_t kRegisterTtlSeconds = 3;
inline constexpr uint32_t kRegisterRenewMs = 1000;

class NodeDriver : public std::enable_shared_from_this<NodeDriver>, private GroupNodeIo {
 public:
  // A snapshot of a replica's state for a state transfer (SnapshotState below).
  class StateReader {
   public:
    virtual ~StateReader() = default;
    // The next chunk of about max_bytes; *last is set on the final one.
    virtual std::string Next(size_t max_bytes, bool* last) = 0;
  };

  ~NodeDriver() override;
  NodeDriver(const NodeDriver&) = delete;
  NodeDriver& operator=(const NodeDriver&) = delete;

  // Stops serving and closes the log. Idempotent. On the io thread.
  void Stop();
  // After Stop, once the io_context has stopped running: destroys the servers. They hold the
  // services (the Thrift processors keep the service they call), so until then the driver and
  // the servers keep each other alive.
  void Release();
  uint16_t port() const { return server_ ? server_->port() : 0; }
  uint16_t peer_port() const { return peer_server_ ? peer_server_->port() : 0; }
  const cluster::NodeConfig& config() const { return config_; }
  // This replica is its group's activated primary within its lease: it hosts the protocol core.
  bool serving() const { return group_ != nullptr && group_->serving() && !dying_; }

 protected:
  NodeDriver(boost::asio::io_context& io, cluster::NodeConfig config);

  // Opens the database and the log in config.data_dir, restores the replica from them, and
  // serves: the client service (`handler`) on config.listen, Peer on config.peer_listen, the
  // tick timer and the store thread.
  Status Serve(rpc::Handler handler);

  // The typed answer of a replica that is not serving: NotPrimary naming the primary's client
  // address as this replica last read it from the store (empty during a failover).
  ::apache::thrift::TDelayedException* NotPrimaryError() const;
  // The client address of replica `replica` of `group` (empty when there is none).
  std::string ClientAddressOf(NodeRef group, replication::ReplicaId replica) const;
  // After a client request made on the hosted core: applies its output.
  void DrainCore();
  // A caller waiting for the client reply with the returned request id. If the core is stopped
  // first (this replica was demoted), `on_deposed` runs instead (or, when null, on_reply with an
  // UNKNOWN outcome: what the caller asked may or may not happen under the next primary).
  uint64_t NewRequest(std::function<void(const ClientReply&)> on_reply,
                      std::function<void()> on_deposed = nullptr);

  // A planned crash that must happen after some messages have left (crash_point.h): the process
  // stops handling anything (no appends, no sends, no deliveries) and dies shortly after, once the
  // io thread has had time to write what was already queued.
  void CrashSoon(const char* point);
  bool dying() const { return dying_; }
  // The primary of `group` as last read from the configuration store (-1: not known yet).
  replication::ReplicaId PrimaryOf(NodeRef group) const;

  // Core-specific parts.
  // Which node this is: protocol messages for any other are dropped.
  virtual NodeRef Self() const = 0;
  // The protocol core of this replica's new term as primary, restored from `log` (every record
  // up to log_end, all committed in the group). primary_epoch is the term's epoch.
  virtual std::unique_ptr<ProtocolCore> MakeCore(Epoch primary_epoch,
                                                 const std::vector<Record>& log, Lsn log_end) = 0;
  // The core made last is about to be destroyed: forget every pointer to it.
  virtual void CoreStopped() = 0;
  // Each tick while serving, after the core's own (a service's periodic chores).
  virtual void AfterTick() {}
  // While serving: whether the core still drives txn (log retention).
  virtual bool IsLive(TxnId txn) const = 0;
  // While serving, for ReplicaStatus: transactions voted and undecided here (-1: not a shard),
  // and the transactions the core still drives.
  virtual int64_t InDoubtCount() const { return -1; }
  virtual int64_t LiveCount() const = 0;
  // Crash points (common/crash_point.h) look at the output as it is applied.
  virtual void BeforeAppend(const std::vector<Record>& /*records*/) {}
  virtual void BeforeSend(const std::vector<Message>& /*messages*/) {}
  virtual void AfterSendOne(const Message& /*sent*/, const std::vector<Message>& /*messages*/) {}
  virtual void AfterSend(const std::vector<Message>& /*messages*/) {}
  // A named fault (common/crash_point.h) keeps this protocol message from leaving.
  virtual bool Withheld(const Message& /*m*/) const { return false; }
  // Called before the records at positions from..before-1 are deleted from the front of the log
  // (on any replica): keep elsewhere what they said that outlives them (a shard's newest seen
  // epoch, the largest transaction it may have forgotten; LogRecords reads them).
  virtual Status BeforeTruncate(Lsn /*from*/, Lsn /*before*/) { return Status::Ok(); }
  // Records from..to (inclusive) of the local log, as far as it holds them.
  std::vector<Record> LogRecords(Lsn from, Lsn to) { return Read(from, to); }
  // A shard applies the writes of committed records to its store: every record from
  // AppliedPosition() + 1 on is handed to ApplyCommitted once the group committed it, in order.
  // A service that applies nothing leaves AppliedPosition at its default (everything applied).
  virtual Lsn AppliedPosition() const { return UINT64_MAX; }
  virtual void ApplyCommitted(const std::vector<Record>& /*records*/, Lsn /*position*/) {}

  // State transfer (replication/core/replica_core.h): the state besides the log that a member
  // behind the primary's log start needs, as chunks. A service whose state is its log alone
  // (the coordinator) keeps the defaults: one empty chunk, nothing to install.
  // A snapshot holding the effect of every record before `first` (null: none can be made now).
  virtual std::unique_ptr<StateReader> SnapshotState(Lsn first);
  // A chunk from the network, before the replica sees it: InvalidArgument if malformed.
  virtual Status CheckStateChunk(const std::string& chunk) const;
  // Installing one, in this order (each durable when it returns; a failure stops the process):
  // drop the state, write each chunk, make it this replica's (AppliedPosition follows).
  virtual void InstallBegin() {}
  virtual void InstallChunk(const std::string& /*chunk*/) {}
  virtual void InstallDone() {}

  static Ticks MsToTicks(uint32_t ms, uint32_t tick_ms) {
    return std::max<Ticks>(1, static_cast<Ticks>((ms + tick_ms - 1) / tick_ms));
  }

  boost::asio::io_context& io_;
  cluster::NodeConfig config_;
  std::shared_ptr<wal::Db> db_;
  std::unique_ptr<wal::Wal> wal_;

 private:
  class PeerService;

  // GroupNodeIo: the replica's disk, network and store.
  void PersistEpoch(Epoch epoch) override;
  void TruncateAfter(Lsn position) override;
  void TruncateBefore(const replication::LogStart& start) override;
  std::optional<Chunk> ReadTransfer(const replication::TransferRead& read) override;
  void Install(const replication::Install& install) override;
  void Append(const std::vector<Record>& records) override;
  std::vector<Record> Read(Lsn from, Lsn to) override;
  void Committed(Lsn position) override;
  void Send(const replication::ReplMessage& m) override;
  void Propose(const replication::GroupConfig& next) override;
  void SendProtocol(const std::vector<Message>& messages) override;
  void Reply(const ClientReply& reply) override;
  std::unique_ptr<ProtocolCore> StartCore(Epoch primary_epoch, const std::vector<Record>& log,
                                          Lsn log_end) override;
  void StopCore() override;
  void ServingChanged(bool serving) override;

  // Opens the Db and the Wal; returns the log, where it starts, the newest epoch seen and the
  // newest state transfer begun here.
  Status OpenLog(std::vector<Record>* log, replication::LogStart* start, Epoch* epoch_seen,
                 replication::TransferMark* mark);
 protected:
  // After the database opened, before the replica is restored: a shard opens its store here.
  virtual Status Opened() { return Status::Ok(); }
  // The configuration of another group as last read (null before the first read).
  const replication::GroupConfig* GroupConfigOf(NodeRef group) const;
 private:
  void StartStoreThread();
  void PollStore();
  // The etcd backend's part of a poll: the layout check (once), the registration's renewal.
  // False while the node may not go on (no layout check yet).
  bool PollEtcd();
  void SchedulePoll();
  void OnStoreRead(const std::map<std::string, replication::GroupConfig>& groups);
  // Peer.replicate / Peer.deliver, checked at the edge.
  void Replicate(const std::vector<thrift::ReplicationMessage>& messages);
  void Deliver(const std::vector<thrift::PeerMessage>& messages);
  thrift::ReplicaStatus StatusNow() const;

  void ScheduleTick();
  void OnTick();
  void OnDurablePosition(uint64_t generation, uint64_t position);
  // Asks the replica to drop the records no transaction needs any more, when that frees enough
  // of them (it drops only what the group allows).
  void MaybeTruncate();
  void FailWaiting();

  PeerSender peers_;
  std::unique_ptr<GroupNode> group_;
  replication::DiskId disk_ = 0;
  Epoch persisted_epoch_ = 0;
  // Records after the applied position, in position order (a shard applies them once committed).
  std::deque<Record> unapplied_;
  Lsn applied_ = 0;
  Lsn acked_ = 0;  // the highest position this replica acknowledged (a crash point's)
  // Bumped by every suffix truncation: a durability report made before it is stale.
  std::atomic<uint64_t> log_generation_{0};

  std::unique_ptr<rpc::Server> server_;       // the client service
  std::unique_ptr<rpc::Server> peer_server_;  // the Peer service
  boost::asio::steady_timer ticker_;
  std::chrono::steady_clock::time_point last_tick_;
  uint64_t ticks_ = 0;
  std::unique_ptr<boost::asio::steady_timer> crash_timer_;
  std::unique_ptr<wal::LogRetention> retention_;  // while serving
  uint64_t truncated_before_ = 0;  // the first position the log may still hold
  // State transfers this replica is sending, by member: the transfer id, its snapshot (which
  // pins what RocksDB may compact away: dropped once not primary, or unread for a while) and
  // when it was last read.
  struct Sending {
    uint64_t id = 0;
    std::unique_ptr<StateReader> snapshot;
    std::chrono::steady_clock::time_point read_at;
  };
  std::map<replication::ReplicaId, Sending> transfers_;

  // The configuration store, used only on the store thread.
  std::unique_ptr<cluster::ConfigStore> store_;
  boost::asio::io_context store_io_;
  std::unique_ptr<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>>
      store_work_;
  std::unique_ptr<boost::asio::steady_timer> store_timer_;
  std::thread store_thread_;
  bool created_group_ = false;  // this replica created its group's configuration, or saw it there
  // With config_master etcd: store_ as its type (membership, the layout check), whether this
  // node found its cluster's layout in etcd, and when it last renewed its registration.
  cluster::EtcdConfigStore* etcd_ = nullptr;
  std::unique_ptr<cluster::EtcdWatch> watch_;  // started once the layout is checked
  bool layout_checked_ = false;
  std::chrono::steady_clock::time_point registered_at_{};
  uint64_t store_failures_ = 0;  // consecutive failed reads (logged at the first, every 100th)
  // For the health call, written by the store thread: whether the last read of the store
  // succeeded, and when the last successful one was (steady clock, ms; -1: never).
  std::atomic<bool> store_reachable_{false};
  std::atomic<int64_t> store_read_ms_{-1};

  std::map<NodeRef, replication::GroupConfig> groups_;  // every group's, as last read

  uint64_t next_request_ = 1;
  struct Waiting {
    std::function<void(const ClientReply&)> on_reply;
    std::function<void()> on_deposed;
  };
  std::map<uint64_t, Waiting> waiting_;
  uint64_t malformed_ = 0;   // replication messages dropped at the edge
  uint64_t malformed_chunks_ = 0;  // state transfer chunks dropped at the edge
  bool stopped_ = false;
  bool dying_ = false;
};

}  // namespace txcoord::node
