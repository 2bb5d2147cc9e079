// GroupNode: the pure half of one replica of a replica group (DESIGN.md section 5): its
// replication core, and the protocol core (coordinator or participant) it runs while it is the
// group's activated primary. Both the simulator and the servers drive a replica through it; what
// differs is only the GroupNodeIo, the driver's hands (simulated or RocksDB disk, simulated or
// Thrift network, simulated or file/etcd configuration store). Pure: no I/O, no threads, no clock.
//
// How the two cores meet:
//  - The protocol core's records go to the replication core (ReplicaCore::Append), which ships
//    them; "durable" for the protocol core means committed in the group: the runner's OnDurable
//    is fed the group's commit position, after GroupNodeIo::Committed (a shard applies the
//    committed writes to its store there, so a lock is never released before its write is in the
//    store).
//  - On activation (the promoted log is committed) the protocol core is started from the log
//    (GroupNodeIo::StartCore: Restore from every record, recovery resolves what is in doubt); on
//    demotion it is stopped and its waiting callers never hear from it (they time out: UNKNOWN).
//  - The hosted core is heard only while serving (activated and within the lease): a replica
//    that is not serving drops protocol messages in both directions (their senders resend) and
//    its core's replies, so a primary that was deposed while it was paused says nothing.
//
// Output order within one input, as ReplicaReady says: the newest epoch is persisted, a state
// transfer's part installed, the log truncated, records appended, then messages sent; committed
// positions are acted on next, and the log's front is dropped last (after a shard applied).
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/protocol.h"
#include "node/core_runner.h"
#include "replication/core/replica_core.h"

namespace txcoord::node {

class GroupNodeIo {
 public:
  virtual ~GroupNodeIo() = default;
  // The replica's disk.
  virtual void PersistEpoch(Epoch epoch) = 0;
  virtual void TruncateAfter(Lsn position) = 0;
  // Drops every record before start.first and keeps `start` durably (the log's new start).
  // REQUIRES: what those records did is kept elsewhere (a shard's store holds their writes).
  virtual void TruncateBefore(const replication::LogStart& start) = 0;
  virtual void Append(const std::vector<Record>& records) = 0;
  // Records from..to (inclusive) of the local log, for catch-up and for starting the core.
  virtual std::vector<Record> Read(Lsn from, Lsn to) = 0;
  // Every record up to position is committed in the group (a shard applies their writes).
  virtual void Committed(Lsn position) = 0;
  // State transfer, as the primary: chunk read.seq of a snapshot of this replica's state (seq
  // 0 takes the snapshot, holding the effect of every record before read.start.first). nullopt
  // when none can be made (the transfer is begun again later).
  struct Chunk {
    std::string payload;
    bool last = false;
  };
  virtual std::optional<Chunk> ReadTransfer(const replication::TransferRead& read) = 0;
  // As the member: a transfer's part, durably when it says so (replication::Install).
  virtual void Install(const replication::Install& install) = 0;
  // Replication traffic and the configuration store.
  virtual void Send(const replication::ReplMessage& m) = 0;
  virtual void Propose(const replication::GroupConfig& next) = 0;
  // The hosted protocol core's output.
  virtual void SendProtocol(const std::vector<Message>& messages) = 0;
  virtual void Reply(const ClientReply& reply) = 0;
  virtual void Held(const std::vector<DeferredMessage>& /*waiting*/) {}
  // A protocol core for this replica's new term as primary, restored from `log` (its records up
  // to log_end, all committed). primary_epoch is the term's epoch (a coordinator's epoch).
  virtual std::unique_ptr<ProtocolCore> StartCore(Epoch primary_epoch,
                                                  const std::vector<Record>& log, Lsn log_end) = 0;
  // The hosted core is about to be destroyed (this replica is no longer an activated primary).
  virtual void StopCore() {}
  // serving() changed (reported after the input that changed it).
  virtual void ServingChanged(bool /*serving*/) {}
};

class GroupNode : private Effects {
 public:
  // REQUIRES: io outlives this.
  GroupNode(replication::ReplicaOptions options, GroupNodeIo& io);
  ~GroupNode() override;
  GroupNode(const GroupNode&) = delete;
  GroupNode& operator=(const GroupNode&) = delete;

  // The durable log and the newest epoch seen, at start. Call once, before any input.
  void Restore(const std::vector<Record>& log, Epoch epoch_seen, replication::LogStart start = {},
               replication::TransferMark last_transfer = {});

  // Replication inputs.
  void OnConfig(const replication::GroupConfig& config);
  void OnProposed(bool ok, const replication::GroupConfig& current);
  void StepReplication(const replication::ReplMessage& m);
  void OnLocalDurable(Lsn position);
  void OnLogRead(replication::ReplicaId to, std::vector<Record> records);
  // The driver would drop the log before `floor` (no transaction needs it): the replication
  // core truncates as far as the group allows.
  void TruncateBefore(Lsn floor);
  // Time for both cores: `elapsed` ticks since the last call (a paused process reports the whole
  // pause, so its lease is seen expired at once).
  void Tick(Ticks elapsed = 1);

  // Protocol inputs: a message for the hosted core, dropped unless serving.
  void StepProtocol(const Message& m);
  // Another group has a new primary (ProtocolCore::OnPeerMoved); ignored unless serving.
  void PeerMoved(NodeRef group);
  // The hosted protocol core (null unless activated), for client requests; call DrainCore after
  // each request made on it.
  ProtocolCore* core() { return core_.get(); }
  void DrainCore();

  bool serving() const { return replica_.serving() && core_ != nullptr; }
  const replication::ReplicaCore& replica() const { return replica_; }

 private:
  // Effects of the hosted core, through its runner.
  void Append(const std::vector<Record>& records) override;
  void Send(const std::vector<Message>& messages) override {
    if (serving()) io_.SendProtocol(messages);
  }
  void Held(const std::vector<DeferredMessage>& waiting) override {
    if (serving()) io_.Held(waiting);
  }
  void Reply(const ClientReply& reply) override {
    if (serving()) io_.Reply(reply);
  }

  // Moves the replication core's output to the driver, starts or stops the protocol core, and
  // feeds it the commit position; loops until nothing more comes out.
  void Drain();
  void StartOrStopCore();

  replication::ReplicaCore replica_;
  GroupNodeIo& io_;
  std::unique_ptr<ProtocolCore> core_;
  std::unique_ptr<CoreRunner> runner_;
  bool draining_ = false;
  bool was_serving_ = false;
};

}  // namespace txcoord::node
