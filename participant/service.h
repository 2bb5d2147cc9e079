// The shard service: the pure ParticipantCore under the production driver (node/driver.h), with
// the shard's committed data (store.h) in the same RocksDB database as its log (wal/: a COMMITTED
// record and its writes are one atomic batch). Serves Participant.run to clients and the
// coordinator; protocol messages from the coordinator and the other shards arrive on the
// driver's peer port.
//
// It runs as a replica of its shard's group (node/driver.h): every replica applies the committed
// writes of its group's log to its own store (store.h), and only the group's serving primary
// hosts a ParticipantCore and answers run/states (the others answer NotPrimary). A new primary's
// core is restored from the replicated log (ParticipantCore::Restore): PREPARED transactions get
// their locks back and ask the coordinator for their outcome (under 3PC they run termination when
// it stays silent), with capped backoff, each logged with its transaction id.
//
// Truncation keeps the newest coordinator epoch seen in the log's metadata (EPOCH-SEEN records are
// about no transaction), so fencing survives the records that said it.
//
// Crash points (common/crash_point.h): shard.before_prepared_durable,
// shard.after_prepared_durable, shard.after_commit_applied.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "Participant.h"
#include "common/rng.h"
#include "node/driver.h"
#include "participant/core/participant_core.h"
#include "participant/store.h"

namespace txcoord::participant {

class ShardService : public node::NodeDriver, public thrift::ParticipantCobSvIf {
 public:
  static Result<std::shared_ptr<ShardService>> Start(boost::asio::io_context& io,
                                                     const cluster::NodeConfig& config);

  using Exn = std::function<void(::apache::thrift::TDelayedException*)>;
  void run(std::function<void(const std::vector<thrift::OpResult>&)> cob, Exn exn,
           const thrift::TxnId& txn, const std::vector<thrift::Op>& ops) override;
  void states(std::function<void(const std::vector<thrift::TxnState::type>&)> cob, Exn exn,
              const std::vector<thrift::TxnId>& txns) override;

 private:
  ShardService(boost::asio::io_context& io, const cluster::NodeConfig& config);
  Status Init();

  NodeRef Self() const override { return NodeRef::Shard(config_.shard); }
  Status Opened() override;
  std::unique_ptr<ProtocolCore> MakeCore(Epoch primary_epoch, const std::vector<Record>& log,
                                         Lsn log_end) override;
  void CoreStopped() override { core_ = nullptr; }
  void AfterTick() override;
  bool IsLive(TxnId txn) const override { return core_->IsLive(txn); }
  int64_t InDoubtCount() const override { return static_cast<int64_t>(core_->in_doubt()); }
  int64_t LiveCount() const override {
    return static_cast<int64_t>(core_->live_transactions());
  }
  Status BeforeTruncate(Lsn from, Lsn before) override;
  Lsn AppliedPosition() const override { return store_->applied_position(); }
  void ApplyCommitted(const std::vector<Record>& records, Lsn position) override {
    store_->Apply(records, position);
  }
  void BeforeAppend(const std::vector<Record>& records) override;
  void BeforeSend(const std::vector<Message>& messages) override;
  // State transfer: the store, with the shard's fencing epoch.
  std::unique_ptr<StateReader> SnapshotState(Lsn first) override;
  Status CheckStateChunk(const std::string& chunk) const override {
    return ShardStore::CheckChunk(chunk);
  }
  void InstallBegin() override { store_->BeginInstall(); }
  void InstallChunk(const std::string& chunk) override { store_->InstallChunk(chunk); }
  void InstallDone() override;
  // What truncated records said, as kept in metadata (with what its core knows on top): the
  // newest coordinator epoch this shard fences with, and the largest transaction id it may
  // have forgotten.
  Epoch MaxEpoch() const;
  TxnId TruncatedMax() const;
  Status KeepTruncated(Epoch max_epoch, TxnId truncated_max);

  Rng rng_;
  std::unique_ptr<ShardStore> store_;
  ParticipantCore* core_ = nullptr;  // while serving (owned by the driver's GroupNode)
  uint64_t ticks_ = 0;
};

}  // namespace txcoord::participant
