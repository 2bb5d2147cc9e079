#include "coordinator/service.h"

#include <thrift/TApplicationException.h>
#include <thrift/async/TAsyncProcessor.h>

#include <iostream>

#include "Participant.h"
#include "common/crash_point.h"
#include "idl/wire.h"
#include "rpc/thrift_call.h"
#include "rpc/thrift_service.h"

namespace txcoord::coordinator {

namespace {

using ::apache::thrift::TDelayedException;

constexpr char kEpochKey[] = "coordinator.epoch";
// Sweeps of touched_ for transactions that are no longer active (begun and abandoned).
constexpr uint64_t kSweepEveryTicks = 500;
// Transactions to finish named one by one in the log when a term begins.
constexpr size_t kRecoveredListed = 10;

// What Participant.run answered: results, or one of its declared exceptions.
using RunReply = wire::Reply<std::vector<thrift::OpResult>>;

}  // namespace

CoordinatorService::CoordinatorService(boost::asio::io_context& io,
                                       const cluster::NodeConfig& config)
    : NodeDriver(io, config), rng_(static_cast<uint64_t>(::getpid()) * 0x9E3779B97F4A7C15ull) {}

Result<std::shared_ptr<CoordinatorService>> CoordinatorService::Start(
    boost::asio::io_context& io, const cluster::NodeConfig& config) {
  std::shared_ptr<CoordinatorService> service(new CoordinatorService(io, config));
  if (Status s = service->Init(); !s.ok()) return s;
  return service;
}

Status CoordinatorService::Init() {
  auto self = std::static_pointer_cast<CoordinatorService>(shared_from_this());
  auto processor = std::make_shared<thrift::CoordinatorAsyncProcessor>(
      std::shared_ptr<thrift::CoordinatorCobSvIf>(self, self.get()));
  return Serve(rpc::MakeThriftHandler(processor));
}

std::unique_ptr<ProtocolCore> CoordinatorService::MakeCore(Epoch primary_epoch,
                                                           const std::vector<Record>& log,
                                                           Lsn log_end) {
  CoordinatorOptions options;
  options.epoch = primary_epoch;
  options.vote_timeout_ticks = MsToTicks(config_.vote_timeout_ms, config_.tick_ms);
  options.pre_commit_timeout_ticks = options.vote_timeout_ticks;
  options.client_timeout_ticks = MsToTicks(config_.client_timeout_ms, config_.tick_ms);
  options.active_timeout_ticks = MsToTicks(config_.idle_timeout_ms, config_.tick_ms);
  options.resend_first_ticks = MsToTicks(80, config_.tick_ms);
  options.resend_max_ticks = MsToTicks(1000, config_.tick_ms);
  options.shards = static_cast<int32_t>(config_.shard_map.shards.size());
  auto core = std::make_unique<CoordinatorCore>(options, &rng_);
  core->Restore(log, log_end);
  std::cerr << "txcoord coordinator: epoch " << primary_epoch << ", " << log.size()
            << " log record(s), " << core->live_transactions() << " transaction(s) to finish\n";
  // The first few by id (a backlog of 100,000 must not cost 100,000 lines before it is resolved).
  size_t listed = 0;
  for (const LiveTxn& t : core->LiveTransactions()) {
    if (listed++ == kRecoveredListed) {
      std::cerr << "txcoord coordinator: and " << core->live_transactions() - kRecoveredListed
                << " more to finish\n";
      break;
    }
    std::cerr << "txcoord coordinator: recovering " << t.txn.ToString() << " (" << t.phase << ", "
              << t.participants << " participant(s))\n";
  }
  core_ = core.get();
  return core;
}

void CoordinatorService::CoreStopped() {
  core_ = nullptr;
  touched_.clear();
}

// ---- driving the core ----------------------------------------------------------------------

void CoordinatorService::AfterTick() {
  if (++ticks_ % kSweepEveryTicks == 0) {
    for (auto it = touched_.begin(); it != touched_.end();) {
      it = core_->IsActive(it->first) ? std::next(it) : touched_.erase(it);
    }
  }
}

void CoordinatorService::BeforeSend(const std::vector<Message>& messages) {
  for (const Message& m : messages) {
    if (m.type == MsgType::kCommit || m.type == MsgType::kPreCommit) {
      // The decision's record is durable (the gate released these) and nothing has left yet.
      CrashPoint("coordinator.after_decision_durable");
    }
  }
}

void CoordinatorService::AfterSendOne(const Message& m, const std::vector<Message>& messages) {
  // Inert unless armed: the search below looks through the batch for every COMMIT, which a new
  // primary resending a backlog of decisions (tens of thousands in one batch) cannot afford.
  if (m.type != MsgType::kCommit ||
      !CrashPoints::Get().Armed("coordinator.after_some_commits_sent")) {
    return;
  }
  // The first COMMIT of a transaction whose other participants' COMMITs have not left yet.
  for (const Message& o : messages) {
    if (&o == &m) break;
    if (o.type == MsgType::kCommit && o.txn == m.txn) return;  // not the first
  }
  const bool more = std::any_of(messages.begin(), messages.end(), [&](const Message& o) {
    return o.type == MsgType::kCommit && o.txn == m.txn && o.to != m.to;
  });
  if (more) CrashSoon("coordinator.after_some_commits_sent");
}

bool CoordinatorService::Withheld(const Message& m) const {
  static const bool withhold = Faults::Get().Armed("coordinator.withhold_outcomes");
  return withhold && !m.to.is_coordinator() &&
         (m.type == MsgType::kCommit || m.type == MsgType::kAbort ||
          m.type == MsgType::kStatusReply);
}

void CoordinatorService::AfterSend(const std::vector<Message>& messages) {
  const bool prepare_sent = std::any_of(messages.begin(), messages.end(), [](const Message& m) {
    return m.type == MsgType::kPrepare;
  });
  if (prepare_sent) CrashSoon("coordinator.after_prepare_sent");
}

rpc::Client* CoordinatorService::ShardClient(ShardId shard) {
  const replication::ReplicaId primary = std::max(0, PrimaryOf(NodeRef::Shard(shard)));
  const cluster::Address& address =
      config_.shard_replicas[static_cast<size_t>(shard)][static_cast<size_t>(primary)];
  const std::string key = address.ToString();
  auto it = shard_clients_.find(key);
  if (it != shard_clients_.end()) return it->second.get();
  rpc::ClientOptions options;
  options.host = address.host;
  options.port = address.port;
  options.max_frame_bytes = config_.max_frame_bytes;
  options.reconnect_max_delay = std::chrono::milliseconds(500);
  auto client = std::make_unique<rpc::Client>(io_, options);
  rpc::Client* raw = client.get();
  shard_clients_.emplace(key, std::move(client));
  return raw;
}

// ---- Coordinator -----------------------------------------------------------------------------

void CoordinatorService::begin_txn(std::function<void(const thrift::TxnId&)> cob, Exn exn,
                                   thrift::Protocol::type protocol,
                                   const std::string& /*traceparent*/) {
  if (!serving()) return exn(NotPrimaryError());
  Result<Protocol> p = wire::FromWire(protocol);
  if (!p.ok()) return exn(wire::InvalidRequestError(p.status().message()));
  if (core_->deposed())
    return exn(wire::InvalidRequestError("this coordinator's epoch is superseded"));
  const TxnId txn = core_->Begin(p.value());
  DrainCore();
  cob(wire::ToWire(txn));
}

namespace {

// Why reads and writes cannot join txn any more, as the typed error the IDL promises.
TDelayedException* NotActive(const CoordinatorCore& core, TxnId txn) {
  AbortReason reason = AbortReason::kNone;
  const Outcome outcome = core.ClientOutcome(txn, &reason);
  if (reason == AbortReason::kUnknownTxn) {
    return wire::InvalidRequestError("unknown transaction " + txn.ToString() +
                                     ": never begun here");
  }
  if (outcome == Outcome::kAborted) {
    return wire::TxnErrorOf(txn, Outcome::kAborted, reason,
                            "transaction " + txn.ToString() + " is aborted");
  }
  if (outcome == Outcome::kCommitted) {
    return wire::InvalidRequestError("transaction " + txn.ToString() +
                                     " is committed: no more reads or writes");
  }
  return wire::InvalidRequestError(
      "transaction " + txn.ToString() +
      " is not active here (committing, or begun under another coordinator epoch)");
}

}  // namespace

void CoordinatorService::RunAtShard(const thrift::TxnId& wtxn, Op op,
                                    std::function<void(const std::vector<OpResult>&)> done,
                                    Exn exn) {
  if (!serving()) return exn(NotPrimaryError());
  Result<TxnId> parsed = wire::FromWire(wtxn);
  if (!parsed.ok()) return exn(wire::InvalidRequestError(parsed.status().message()));
  if (Status s = wire::CheckKey(op.key); !s.ok()) {
    return exn(wire::InvalidRequestError(s.message()));
  }
  const TxnId txn = parsed.value();
  if (!core_->IsActive(txn)) return exn(NotActive(*core_, txn));
  const ShardId shard = cluster::ShardFor(config_.shard_map, op.key);
  rpc::Client* client = ShardClient(shard);
  touched_[txn].insert(shard);
  const std::vector<thrift::Op> wire_ops = {wire::ToWire(op)};
  const auto deadline = rpc::Clock::now() + std::chrono::milliseconds(config_.client_timeout_ms);
  rpc::CallMethod<thrift::ParticipantClient>(
      *client, deadline,
      [&](thrift::ParticipantClient& c) { c.send_run(wire::ToWire(txn), wire_ops); },
      [](thrift::ParticipantClient& c) {
        return wire::Catching<std::vector<thrift::OpResult>>(
            c, [](thrift::ParticipantClient& t, std::vector<thrift::OpResult>& out) {
              t.recv_run(out);
            });
      },
      [txn, shard, done = std::move(done), exn = std::move(exn)](Result<RunReply> reply) {
        if (!reply.ok()) {
          // The shard may or may not have run the ops: the transaction cannot go on safely,
          // but nothing is committed. The client should abort it.
          return exn(wire::TxnErrorOf(txn, Outcome::kAborted, AbortReason::kParticipantFailed,
                                      "shard " + std::to_string(shard) + " did not answer: " +
                                          reply.status().ToString() + "; abort the transaction"));
        }
        RunReply& r = reply.value();
        if (r.error) return exn(TDelayedException::delayException(*r.error));
        if (r.invalid) return exn(TDelayedException::delayException(*r.invalid));
        if (r.stale) {
          return exn(wire::TxnErrorOf(txn, Outcome::kAborted, AbortReason::kStaleEpoch,
                                      "the transaction's coordinator epoch is superseded"));
        }
        if (r.not_primary) {
          // The op changed nothing, but the transaction cannot go on where it ran before.
          return exn(wire::TxnErrorOf(txn, Outcome::kAborted, AbortReason::kParticipantFailed,
                                      "shard " + std::to_string(shard) +
                                          " is failing over: " + r.not_primary->message +
                                          "; abort the transaction"));
        }
        std::vector<OpResult> results;
        for (const thrift::OpResult& w : r.value) results.push_back(wire::FromWire(w));
        done(results);
      });
}


void CoordinatorService::read(std::function<void(const thrift::OpResult&)> cob, Exn exn,
                              const thrift::TxnId& wtxn, const std::string& key) {
  RunAtShard(
      wtxn, Op{.type = Op::Type::kGet, .key = key},
      [cob = std::move(cob)](const std::vector<OpResult>& results) {
        cob(results.empty() ? thrift::OpResult() : wire::ToWire(results.front()));
      },
      std::move(exn));
}

void CoordinatorService::write(std::function<void()> cob, Exn exn, const thrift::TxnId& wtxn,
                               const std::string& key, const std::string& value) {
  RunAtShard(
      wtxn, Op{.type = Op::Type::kPut, .key = key, .value = value},
      [cob = std::move(cob)](const std::vector<OpResult>&) { cob(); }, std::move(exn));
}

Status CoordinatorService::ParticipantsOf(const thrift::TxnId& wtxn,
                                          const std::vector<int32_t>& touched, TxnId* txn_out,
                                          std::vector<ShardId>* out) {
  Result<TxnId> parsed = wire::FromWire(wtxn);
  if (!parsed.ok()) return parsed.status();
  const TxnId txn = parsed.value();
  AbortReason reason = AbortReason::kNone;
  if (!core_->IsLive(txn) && core_->ClientOutcome(txn, &reason) == Outcome::kAborted &&
      reason == AbortReason::kUnknownTxn) {
    return Status::InvalidArgument("unknown transaction " + txn.ToString() + ": never begun here");
  }
  std::set<ShardId> shards;
  if (auto it = touched_.find(txn); it != touched_.end()) shards = it->second;
  for (int32_t s : touched) {
    if (s < 0 || static_cast<size_t>(s) >= config_.shard_map.shards.size()) {
      return Status::InvalidArgument("touched_shards: no shard " + std::to_string(s) +
                                     " in the shard map");
    }
    shards.insert(s);
  }
  out->assign(shards.begin(), shards.end());
  *txn_out = txn;
  touched_.erase(txn);  // the decision's participants are fixed now
  return Status::Ok();
}

void CoordinatorService::commit(std::function<void(const thrift::CommitResult&)> cob, Exn exn,
                                const thrift::TxnId& wtxn,
                                const std::vector<int32_t>& touched_shards) {
  if (!serving()) return exn(NotPrimaryError());
  TxnId txn;
  std::vector<ShardId> participants;
  Status s = ParticipantsOf(wtxn, touched_shards, &txn, &participants);
  if (!s.ok()) return exn(wire::InvalidRequestError(s.message()));
  const uint64_t request =
      NewRequest([cob = std::move(cob), exn = std::move(exn)](const ClientReply& r) {
        if (r.outcome == Outcome::kUnknown) return exn(wire::UnknownOutcomeError(r));
        cob(wire::ToCommitResult(r));
      });
  core_->Commit(request, txn, std::move(participants));
  DrainCore();
}

void CoordinatorService::abort(std::function<void()> cob, Exn exn, const thrift::TxnId& wtxn,
                               const std::vector<int32_t>& touched_shards) {
  if (!serving()) return exn(NotPrimaryError());
  TxnId txn;
  std::vector<ShardId> participants;
  Status s = ParticipantsOf(wtxn, touched_shards, &txn, &participants);
  if (!s.ok()) return exn(wire::InvalidRequestError(s.message()));
  const uint64_t request = NewRequest([cob = std::move(cob),
                                       exn = std::move(exn)](const ClientReply& r) {
    if (r.outcome == Outcome::kAborted) return cob();
    exn(wire::TxnErrorOf(r.txn, r.outcome, AbortReason::kNone,
                         r.outcome == Outcome::kCommitted
                             ? "the transaction is already committed"
                             : "a commit is in flight; its outcome is not known yet: ask status"));
  });
  core_->Abort(request, txn, std::move(participants));
  DrainCore();
}

void CoordinatorService::status(std::function<void(const thrift::TxnStatus&)> cob, Exn exn,
                                const thrift::TxnId& wtxn) {
  if (!serving()) return exn(NotPrimaryError());
  Result<TxnId> txn = wire::FromWire(wtxn);
  if (!txn.ok()) return exn(wire::InvalidRequestError(txn.status().message()));
  const uint64_t request = NewRequest([cob = std::move(cob)](const ClientReply& r) {
    thrift::TxnStatus s;
    s.__set_txn(wire::ToWire(r.txn));
    s.__set_outcome(wire::ToWire(r.outcome));
    s.__set_reason(wire::ToWire(r.reason));
    s.__set_detail(r.detail);
    cob(s);
  });
  core_->Status(request, txn.value());
  DrainCore();
}

void CoordinatorService::execute(std::function<void(const thrift::ExecuteResult&)> cob, Exn exn,
                                 thrift::Protocol::type wprotocol,
                                 const std::vector<thrift::Op>& wops,
                                 const std::string& /*traceparent*/) {
  if (!serving()) return exn(NotPrimaryError());
  Result<Protocol> protocol = wire::FromWire(wprotocol);
  if (!protocol.ok()) return exn(wire::InvalidRequestError(protocol.status().message()));
  Result<std::vector<Op>> ops = wire::FromWire(wops);
  if (!ops.ok()) return exn(wire::InvalidRequestError(ops.status().message()));
  if (ops.value().empty()) return exn(wire::InvalidRequestError("ops: empty"));
  if (core_->deposed())
    return exn(wire::InvalidRequestError("this coordinator's epoch is superseded"));
  std::map<ShardId, std::vector<Op>> by_shard;
  // Where each GET's result will be: its shard and its index among that shard's GETs.
  std::vector<std::pair<ShardId, size_t>> gets;
  std::map<ShardId, size_t> gets_per_shard;
  for (Op& op : ops.value()) {
    const ShardId shard = cluster::ShardFor(config_.shard_map, op.key);
    if (op.type == Op::Type::kGet) gets.emplace_back(shard, gets_per_shard[shard]++);
    by_shard[shard].push_back(std::move(op));
  }
  auto reply = [cob = std::move(cob), exn = std::move(exn), gets = std::move(gets),
                gets_per_shard](const ClientReply& r) {
    if (r.outcome == Outcome::kUnknown) return exn(wire::UnknownOutcomeError(r));
    thrift::ExecuteResult result;
    result.__set_txn(wire::ToWire(r.txn));
    result.__set_result(wire::ToCommitResult(r));
    if (r.outcome == Outcome::kCommitted) {
      // The core concatenates each shard's reads in shard order; the client wants request order.
      std::map<ShardId, size_t> start;
      size_t at = 0;
      for (const auto& [shard, n] : gets_per_shard) {
        start[shard] = at;
        at += n;
      }
      std::vector<thrift::OpResult> reads;
      if (at == r.reads.size()) {
        for (const auto& [shard, index] : gets) {
          reads.push_back(wire::ToWire(r.reads[start[shard] + index]));
        }
      } else {
        // Shards answered a different number of reads than GETs were sent (a shard bug or a
        // corrupt message): hand over what came, in shard order, and say so.
        std::cerr << "txcoord coordinator: " << r.reads.size() << " read(s) for " << at
                  << " GET(s) in " << r.txn.ToString() << "\n";
        for (const OpResult& read : r.reads) reads.push_back(wire::ToWire(read));
      }
      result.__set_reads(std::move(reads));
    }
    cob(result);
  };
  const uint64_t request = NewRequest(std::move(reply));
  core_->Execute(request, protocol.value(), std::move(by_shard));
  DrainCore();
}

void CoordinatorService::shard_map(std::function<void(const thrift::ShardMap&)> cob) {
  // Each shard's current primary as this replica last read the store. The version is the same
  // on every replica that read the same configurations, and grows with every change of any.
  cluster::ShardMap map = config_.shard_map;
  uint64_t version = 1;
  for (cluster::ShardEndpoint& e : map.shards) {
    const replication::GroupConfig* c = GroupConfigOf(NodeRef::Shard(e.id));
    if (c == nullptr) continue;
    version += c->version - 1;
    const auto& replicas = config_.shard_replicas[static_cast<size_t>(e.id)];
    if (c->primary >= 0 && static_cast<size_t>(c->primary) < replicas.size()) {
      e.host = replicas[static_cast<size_t>(c->primary)].host;
      e.port = replicas[static_cast<size_t>(c->primary)].port;
    }
  }
  map.version = version;
  cob(wire::ToWire(map));
}

}  // namespace txcoord::coordinator
