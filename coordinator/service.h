// The coordinator service: the pure CoordinatorCore under the production driver (node/driver.h),
// serving the Coordinator Thrift service (idl/txcoord.thrift) to clients; the shards' protocol
// messages arrive on the driver's peer port.
//
// It runs as a replica of the coordinator group (node/driver.h): only the group's serving
// primary hosts a CoordinatorCore and answers clients; the others answer NotPrimary. A term as
// primary runs under the term's epoch (the group epoch it was promoted in: larger than any
// earlier term's), so transaction ids never repeat and shards fence every earlier primary; the
// new primary's core is restored from the replicated decision log (CoordinatorCore::Restore),
// which resends COMMIT for decided, unfinished transactions, aborts undecided ones and runs
// termination for 3PC PRE-COMMITs (recovery/GUARANTEES.md).
//
// Reads and writes that stock clients send here are run at the owning shard (Participant.run) and
// the shard is remembered as a participant; clients that route by themselves name the shards they
// touched in commit/abort.
//
// Crash points (common/crash_point.h): coordinator.after_prepare_sent,
// coordinator.after_decision_durable, coordinator.after_some_commits_sent. Fault:
// coordinator.withhold_outcomes.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <set>
#include <vector>

#include "Coordinator.h"
#include "common/rng.h"
#include "coordinator/core/coordinator_core.h"
#include "node/driver.h"

namespace txcoord::coordinator {

class CoordinatorService : public node::NodeDriver, public thrift::CoordinatorCobSvIf {
 public:
  // Opens the log, restores the core and starts serving on config.listen.
  static Result<std::shared_ptr<CoordinatorService>> Start(boost::asio::io_context& io,
                                                           const cluster::NodeConfig& config);


  // thrift::CoordinatorCobSvIf
  using Exn = std::function<void(::apache::thrift::TDelayedException*)>;
  void begin_txn(std::function<void(const thrift::TxnId&)> cob, Exn exn,
                 thrift::Protocol::type protocol, const std::string& traceparent) override;
  void read(std::function<void(const thrift::OpResult&)> cob, Exn exn, const thrift::TxnId& txn,
            const std::string& key) override;
  void write(std::function<void()> cob, Exn exn, const thrift::TxnId& txn, const std::string& key,
             const std::string& value) override;
  void commit(std::function<void(const thrift::CommitResult&)> cob, Exn exn,
              const thrift::TxnId& txn, const std::vector<int32_t>& touched_shards) override;
  void abort(std::function<void()> cob, Exn exn, const thrift::TxnId& txn,
             const std::vector<int32_t>& touched_shards) override;
  void status(std::function<void(const thrift::TxnStatus&)> cob, Exn exn,
              const thrift::TxnId& txn) override;
  void execute(std::function<void(const thrift::ExecuteResult&)> cob, Exn exn,
               thrift::Protocol::type protocol, const std::vector<thrift::Op>& ops,
               const std::string& traceparent) override;
  void shard_map(std::function<void(const thrift::ShardMap&)> cob) override;

 private:
  CoordinatorService(boost::asio::io_context& io, const cluster::NodeConfig& config);
  Status Init();

  NodeRef Self() const override { return NodeRef::Coordinator(); }
  std::unique_ptr<ProtocolCore> MakeCore(Epoch primary_epoch, const std::vector<Record>& log,
                                         Lsn log_end) override;
  void CoreStopped() override;
  void AfterTick() override;
  bool IsLive(TxnId txn) const override { return core_->IsLive(txn); }
  int64_t LiveCount() const override {
    return static_cast<int64_t>(core_->live_transactions());
  }
  void BeforeSend(const std::vector<Message>& messages) override;
  void AfterSendOne(const Message& m, const std::vector<Message>& messages) override;
  void AfterSend(const std::vector<Message>& messages) override;
  bool Withheld(const Message& m) const override;

  // Runs one op (read/write) of the active transaction wtxn at the shard that owns its key, after
  // checking the id, the key and that the transaction is active (typed errors through exn).
  void RunAtShard(const thrift::TxnId& wtxn, Op op,
                  std::function<void(const std::vector<OpResult>&)> done, Exn exn);
  // The participants of a commit or abort: the shards reached through read/write and those the
  // client names. InvalidArgument for a shard not in the map or a transaction never begun here.
  // Parses the id and forgets what read/write recorded for it (the participants are fixed now).
  Status ParticipantsOf(const thrift::TxnId& wtxn, const std::vector<int32_t>& touched, TxnId* txn,
                        std::vector<ShardId>* out);

  Rng rng_;
  CoordinatorCore* core_ = nullptr;  // while serving (owned by the driver's GroupNode)
  uint64_t ticks_ = 0;
  // Connections to the shard primaries' client ports, for the Participant.run calls made for
  // clients that read and write through this service (made on first use, by address).
  rpc::Client* ShardClient(ShardId shard);
  std::map<std::string, std::unique_ptr<rpc::Client>> shard_clients_;
  std::map<TxnId, std::set<ShardId>> touched_;  // shards reached through read/write
};

}  // namespace txcoord::coordinator
