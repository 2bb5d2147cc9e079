#include "participant/service.h"

#include <thrift/async/TAsyncProcessor.h>
#include <unistd.h>

#include <algorithm>
#include <iostream>

#include "common/crash_point.h"
#include "idl/wire.h"
#include "rpc/thrift_service.h"

namespace txcoord::participant {

namespace {

using ::apache::thrift::TDelayedException;

constexpr char kMaxEpochKey[] = "shard.max_epoch_seen";
constexpr char kTruncatedTxnKey[] = "shard.truncated_max_txn";  // "<epoch>:<seq>"
// How often (in ticks) the in-doubt transactions are listed on stderr while there are any.
constexpr uint64_t kInDoubtReportTicks = 500;
// Transactions in doubt named one by one in the log at recovery and in each report.
constexpr size_t kInDoubtListed = 10;

}  // namespace

ShardService::ShardService(boost::asio::io_context& io, const cluster::NodeConfig& config)
    : NodeDriver(io, config),
      rng_(static_cast<uint64_t>(::getpid()) * 0x9E3779B97F4A7C15ull + config.shard) {}

Result<std::shared_ptr<ShardService>> ShardService::Start(boost::asio::io_context& io,
                                                          const cluster::NodeConfig& config) {
  std::shared_ptr<ShardService> service(new ShardService(io, config));
  if (Status s = service->Init(); !s.ok()) return s;
  return service;
}

Status ShardService::Init() {
  auto self = std::static_pointer_cast<ShardService>(shared_from_this());
  auto processor = std::make_shared<thrift::ParticipantAsyncProcessor>(
      std::shared_ptr<thrift::ParticipantCobSvIf>(self, self.get()));
  return Serve(rpc::MakeThriftHandler(processor));
}

Status ShardService::Opened() {
  Result<std::unique_ptr<ShardStore>> store = ShardStore::Open(db_, wal_.get());
  if (!store.ok()) return store.status();
  store_ = std::move(store.value());
  return Status::Ok();
}

std::unique_ptr<ProtocolCore> ShardService::MakeCore(Epoch /*primary_epoch*/,
                                                     const std::vector<Record>& log,
                                                     Lsn log_end) {
  // What truncated EPOCH-SEEN records said, first: fencing survives truncation.
  std::vector<Record> records;
  Result<std::optional<uint64_t>> epoch = db_->GetMetaNumber(kMaxEpochKey);
  TXC_CHECK_MSG(epoch.ok(), epoch.status().ToString().c_str());
  if (epoch.value()) records.push_back({.type = RecordType::kEpochSeen, .epoch = *epoch.value()});
  records.insert(records.end(), log.begin(), log.end());

  ParticipantOptions options;
  options.shard = config_.shard;
  options.idle_timeout_ticks = MsToTicks(config_.idle_timeout_ms, config_.tick_ms);
  options.in_doubt_first_ticks = MsToTicks(300, config_.tick_ms);
  options.in_doubt_max_ticks = MsToTicks(2400, config_.tick_ms);
  options.retain_finished = config_.retain_finished;
  options.truncated_max = TruncatedMax();
  auto core = std::make_unique<ParticipantCore>(options, store_.get(), &rng_);
  core->Restore(records, log_end);
  const std::vector<InDoubtTxn> in_doubt = core->InDoubt();
  std::cerr << "txcoord shard " << config_.shard << ": " << log.size()
            << " log record(s), newest coordinator epoch " << core->max_epoch() << ", "
            << in_doubt.size() << " transaction(s) in doubt\n";
  // The first few (a backlog of 100,000 must not cost 100,000 lines before it is resolved).
  for (size_t i = 0; i < in_doubt.size() && i < kInDoubtListed; ++i) {
    std::cerr << "txcoord shard " << config_.shard << ": in doubt " << in_doubt[i].txn.ToString()
              << " (" << ToString(in_doubt[i].state) << "): asking for its outcome\n";
  }
  if (in_doubt.size() > kInDoubtListed) {
    std::cerr << "txcoord shard " << config_.shard << ": and " << in_doubt.size() - kInDoubtListed
              << " more in doubt\n";
  }
  core_ = core.get();
  return core;
}

void ShardService::AfterTick() {
  if (++ticks_ % kInDoubtReportTicks == 0) {
    // The oldest few of those in doubt for a report period, then how many there are.
    std::vector<InDoubtTxn> old;
    for (const InDoubtTxn& t : core_->InDoubt()) {
      if (t.age_ticks >= static_cast<Ticks>(kInDoubtReportTicks)) old.push_back(t);
    }
    const size_t listed = std::min(old.size(), kInDoubtListed);
    std::partial_sort(old.begin(), old.begin() + static_cast<std::ptrdiff_t>(listed), old.end(),
                      [](const InDoubtTxn& a, const InDoubtTxn& b) {
                        return a.age_ticks > b.age_ticks;
                      });
    for (size_t i = 0; i < listed; ++i) {
      const InDoubtTxn& t = old[i];
      std::cerr << "txcoord shard " << config_.shard << ": " << t.txn.ToString() << " in doubt ("
                << ToString(t.state) << ") for " << t.age_ticks * config_.tick_ms << " ms, "
                << t.queries << " queries\n";
    }
    if (old.size() > listed) {
      std::cerr << "txcoord shard " << config_.shard << ": and " << old.size() - listed
                << " more in doubt for over " << kInDoubtReportTicks * config_.tick_ms
                << " ms\n";
    }
  }
}

Status ShardService::BeforeTruncate(Lsn from, Lsn before) {
  // What the store holds is written before the (synced) truncation: the log is never truncated
  // below the store (store.h). On a backup too (it has no core): the dropped records themselves
  // say what must outlive them.
  store_->Flush();
  Epoch epoch = MaxEpoch();
  TxnId truncated = TruncatedMax();
  const std::vector<Record> dropped =
      before > from ? LogRecords(from, before - 1) : std::vector<Record>{};
  for (const Record& r : dropped) {
    if (r.type == RecordType::kEpochSeen) epoch = std::max(epoch, r.epoch);
    if (r.txn.valid()) truncated = std::max(truncated, r.txn);
  }
  return KeepTruncated(epoch, truncated);
}

Epoch ShardService::MaxEpoch() const {
  Epoch e = core_ != nullptr ? core_->max_epoch() : 0;
  Result<std::optional<uint64_t>> kept = db_->GetMetaNumber(kMaxEpochKey);
  TXC_CHECK_MSG(kept.ok(), kept.status().ToString().c_str());
  if (kept.value()) e = std::max<Epoch>(e, *kept.value());
  return e;
}

TxnId ShardService::TruncatedMax() const {
  Result<std::optional<std::pair<uint64_t, uint64_t>>> kept = db_->GetMetaPair(kTruncatedTxnKey);
  TXC_CHECK_MSG(kept.ok(), kept.status().ToString().c_str());
  TxnId t;
  if (kept.value()) t = {kept.value()->first, kept.value()->second};
  return t;
}

Status ShardService::KeepTruncated(Epoch max_epoch, TxnId truncated_max) {
  Status s = db_->PutMeta(kMaxEpochKey, std::to_string(max_epoch));
  if (s.ok()) {
    s = db_->PutMeta(kTruncatedTxnKey, std::to_string(truncated_max.epoch) + ":" +
                                           std::to_string(truncated_max.seq));
  }
  return s;
}

namespace {
class StoreState : public node::NodeDriver::StateReader {
 public:
  explicit StoreState(std::unique_ptr<ShardStore::Snapshot> snapshot)
      : snapshot_(std::move(snapshot)) {}
  std::string Next(size_t max_bytes, bool* last) override {
    return snapshot_->Next(max_bytes, last);
  }

 private:
  std::unique_ptr<ShardStore::Snapshot> snapshot_;
};
}  // namespace

std::unique_ptr<node::NodeDriver::StateReader> ShardService::SnapshotState(Lsn first) {
  std::unique_ptr<ShardStore::Snapshot> snapshot =
      store_->TakeSnapshot({.max_epoch = MaxEpoch(), .truncated_max = TruncatedMax()});
  // The log after the transfer starts at `first`: the store must hold everything before it
  // (it does: the log is truncated only below what the store holds; a store behind that is a
  // broken invariant, and no snapshot is sent).
  if (snapshot->applied() + 1 < first) {
    std::cerr << "txcoord shard " << config_.shard << ": no state transfer: the store is applied "
              << "to " << snapshot->applied() << ", the log starts at " << first << "\n";
    return nullptr;
  }
  return std::make_unique<StoreState>(std::move(snapshot));
}

void ShardService::InstallDone() {
  const ShardStore::Kept kept = store_->FinishInstall();
  if (Status s = KeepTruncated(std::max(kept.max_epoch, MaxEpoch()),
                               std::max(kept.truncated_max, TruncatedMax()));
      !s.ok()) {
    std::cerr << "txcoord shard " << config_.shard << ": keeping the fencing epoch failed: "
              << s.ToString() << "\n";
    ::_exit(2);
  }
}

void ShardService::BeforeAppend(const std::vector<Record>& records) {
  for (const Record& r : records) {
    if (r.type == RecordType::kPrepared) CrashPoint("shard.before_prepared_durable");
  }
}

void ShardService::BeforeSend(const std::vector<Message>& messages) {
  for (const Message& m : messages) {
    if (m.type == MsgType::kVote && m.vote == Vote::kYes) {
      CrashPoint("shard.after_prepared_durable");
    }
    if (m.type == MsgType::kDecisionAck && m.state == TxnState::kCommitted) {
      CrashPoint("shard.after_commit_applied");
    }
  }
}

void ShardService::run(std::function<void(const std::vector<thrift::OpResult>&)> cob, Exn exn,
                       const thrift::TxnId& wtxn, const std::vector<thrift::Op>& wops) {
  if (!serving()) return exn(NotPrimaryError());
  Result<TxnId> txn = wire::FromWire(wtxn);
  if (!txn.ok()) return exn(wire::InvalidRequestError(txn.status().message()));
  Result<std::vector<Op>> ops = wire::FromWire(wops);
  if (!ops.ok()) return exn(wire::InvalidRequestError(ops.status().message()));
  for (const Op& op : ops.value()) {
    const ShardId owner = cluster::ShardFor(config_.shard_map, op.key);
    if (owner != config_.shard) {
      return exn(wire::InvalidRequestError("key belongs to shard " + std::to_string(owner) +
                                           ", not shard " + std::to_string(config_.shard)));
    }
  }
  if (dying()) return exn(wire::InvalidRequestError("shard is stopping"));
  std::shared_ptr<Exn> shared_exn = std::make_shared<Exn>(std::move(exn));
  auto deposed = [this, shared_exn] { (*shared_exn)(NotPrimaryError()); };
  const uint64_t request =
      NewRequest([this, cob = std::move(cob), exn = shared_exn](const ClientReply& r) {
                     if (r.ok) {
                       std::vector<thrift::OpResult> results;
                       for (const OpResult& read : r.reads) results.push_back(wire::ToWire(read));
                       return cob(results);
                     }
                     if (r.reason == AbortReason::kStaleEpoch) {
                       thrift::StaleEpoch e;
                       e.__set_current_epoch(static_cast<int64_t>(core_->max_epoch()));
                       return (*exn)(TDelayedException::delayException(e));
                     }
                     if (r.reason == AbortReason::kNone && r.outcome != Outcome::kAborted) {
                       // Not active here any more (committed, or voted): no reads or writes may
                       // join it.
                       return (*exn)(wire::InvalidRequestError(r.detail));
                     }
                     (*exn)(wire::TxnErrorOf(r.txn, Outcome::kAborted, r.reason, r.detail));
                   },
                 std::move(deposed));
  core_->Execute(request, txn.value(), txn.value().epoch, std::move(ops.value()));
  DrainCore();
}

void ShardService::states(std::function<void(const std::vector<thrift::TxnState::type>&)> cob,
                          Exn exn, const std::vector<thrift::TxnId>& wtxns) {
  if (!serving()) return exn(NotPrimaryError());
  constexpr size_t kMaxIds = 100000;
  if (wtxns.size() > kMaxIds) {
    return exn(wire::InvalidRequestError("states: " + std::to_string(wtxns.size()) +
                                         " ids, at most " + std::to_string(kMaxIds)));
  }
  std::vector<thrift::TxnState::type> out;
  out.reserve(wtxns.size());
  for (const thrift::TxnId& w : wtxns) {
    Result<TxnId> txn = wire::FromWire(w);
    if (!txn.ok()) return exn(wire::InvalidRequestError("states: " + txn.status().message()));
    out.push_back(wire::ToWire(core_->StateOf(txn.value())));
  }
  cob(out);
}

}  // namespace txcoord::participant
