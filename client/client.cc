#include "client/client.h"

#include <future>

#include "Coordinator.h"
#include "Participant.h"
#include "idl/wire.h"
#include "rpc/thrift_call.h"

namespace txcoord::client {

namespace {

namespace thrift = ::txcoord::thrift;

using wire::Catching;
using wire::Reply;

// One call, waited for. REQUIRES: not on the client's io thread.
template <typename ThriftClient, typename T, typename Send, typename Recv>
Result<Reply<T>> Blocking(rpc::Client& client, rpc::Deadline deadline, Send send, Recv recv) {
  std::promise<Result<Reply<T>>> promise;
  std::future<Result<Reply<T>>> future = promise.get_future();
  rpc::CallMethod<ThriftClient>(
      client, deadline, std::move(send),
      [recv = std::move(recv)](ThriftClient& c) { return Catching<T>(c, recv); },
      [&promise](Result<Reply<T>> r) { promise.set_value(std::move(r)); });
  return future.get();
}

CommitOutcome FromWire(const thrift::CommitResult& r) {
  // A value this build does not know is reported as what it cannot be sure of: UNKNOWN.
  Result<Outcome> outcome = wire::FromWire(r.outcome);
  Result<AbortReason> reason = wire::FromWire(r.reason);
  return {outcome.ok() ? outcome.value() : Outcome::kUnknown,
          reason.ok() ? reason.value() : AbortReason::kNone, r.detail};
}

CommitOutcome FromError(const thrift::TxnError& e) {
  thrift::CommitResult r;
  r.outcome = e.outcome;
  r.reason = e.reason;
  r.detail = e.message;
  return FromWire(r);
}

// A call whose reply never came: for a commit, the outcome is unknown.
CommitOutcome Ambiguous(const txcoord::Status& s) {
  return {Outcome::kUnknown, AbortReason::kNone,
          "no reply (" + s.ToString() + "): the outcome is unknown; ask StatusOf, do not retry"};
}

Result<ExecuteOutcome> ExecuteOutcomeOf(const Result<Reply<thrift::ExecuteResult>>& r) {
  ExecuteOutcome out;
  if (!r.ok()) {
    out.result = Ambiguous(r.status());
    return out;
  }
  if (r.value().invalid) return txcoord::Status::InvalidArgument(r.value().invalid->message);
  if (r.value().error) {
    out.result = FromError(*r.value().error);
    if (r.value().error->__isset.txn) {
      Result<TxnId> id = wire::FromWire(r.value().error->txn);
      if (id.ok()) out.txn = id.value();
    }
    return out;
  }
  const thrift::ExecuteResult& e = r.value().value;
  Result<TxnId> id = wire::FromWire(e.txn);
  if (id.ok()) out.txn = id.value();
  out.result = FromWire(e.result);
  for (const thrift::OpResult& w : e.reads) out.reads.push_back(wire::FromWire(w));
  return out;
}

}  // namespace

Client::Client(ClientOptions options)
    : options_(std::move(options)), work_(boost::asio::make_work_guard(io_)) {}

Client::~Client() {
  if (coordinator_) coordinator_->Close();
  for (auto& s : shards_) s->Close();
  work_.reset();
  io_.stop();
  if (io_thread_.joinable()) io_thread_.join();
}

Result<std::unique_ptr<Client>> Client::Connect(ClientOptions options) {
  std::unique_ptr<Client> c(new Client(options));
  c->io_thread_ = std::thread([io = &c->io_] { io->run(); });
  rpc::ClientOptions co;
  co.host = options.host;
  co.port = options.port;
  c->coordinator_ = std::make_unique<rpc::Client>(c->io_, co);
  Result<Reply<thrift::ShardMap>> map = Blocking<thrift::CoordinatorClient, thrift::ShardMap>(
      *c->coordinator_, c->NextDeadline(), [](thrift::CoordinatorClient& t) { t.send_shard_map(); },
      [](thrift::CoordinatorClient& t, thrift::ShardMap& out) { t.recv_shard_map(out); });
  if (!map.ok()) {
    return txcoord::Status::Unavailable("cannot get the shard map from " + options.host + ":" +
                                        std::to_string(options.port) + ": " +
                                        map.status().ToString());
  }
  Result<cluster::ShardMap> parsed = wire::FromWire(map.value().value);
  if (!parsed.ok()) return parsed.status();
  c->map_ = std::move(parsed.value());
  for (const cluster::ShardEndpoint& e : c->map_.shards) {
    rpc::ClientOptions so;
    so.host = e.host;
    so.port = e.port;
    c->shards_.push_back(std::make_unique<rpc::Client>(c->io_, so));
  }
  return c;
}

Result<Transaction> Client::Begin(Protocol protocol) {
  Result<Reply<thrift::TxnId>> r = Blocking<thrift::CoordinatorClient, thrift::TxnId>(
      *coordinator_, NextDeadline(),
      [&](thrift::CoordinatorClient& t) { t.send_begin_txn(wire::ToWire(protocol), ""); },
      [](thrift::CoordinatorClient& t, thrift::TxnId& out) { t.recv_begin_txn(out); });
  if (!r.ok()) return r.status();
  if (r.value().invalid) return txcoord::Status::InvalidArgument(r.value().invalid->message);
  Result<TxnId> id = wire::FromWire(r.value().value);
  if (!id.ok()) return id.status();
  Transaction txn;
  txn.id_ = id.value();
  txn.protocol_ = protocol;
  return txn;
}

void Client::Fail(Transaction& txn, AbortReason reason, const std::string& detail) {
  if (!txn.failed_) {
    txn.failed_ = reason;
    txn.failed_detail_ = detail;
  }
}

Result<std::vector<OpResult>> Client::Run(Transaction& txn, std::vector<Op> ops) {
  if (txn.finished_) return txcoord::Status::InvalidArgument("transaction is finished");
  if (ops.empty()) return std::vector<OpResult>();
  const ShardId shard = ShardOf(ops.front().key);
  for (const Op& op : ops) {
    if (txcoord::Status s = wire::CheckKey(op.key); !s.ok()) return s;
    if (ShardOf(op.key) != shard) {
      return txcoord::Status::InvalidArgument("Run: keys of more than one shard");
    }
  }
  if (txn.failed_) {
    return txcoord::Status::Aborted(std::string("transaction is aborted: ") +
                                    ToString(*txn.failed_) + ": " + txn.failed_detail_);
  }
  // Touched before the call: if the reply is lost, the shard may hold locks for it, and the
  // commit or abort must reach it.
  txn.touched_.insert(shard);
  std::vector<thrift::Op> wire_ops;
  for (const Op& op : ops) wire_ops.push_back(wire::ToWire(op));
  Result<Reply<std::vector<thrift::OpResult>>> r =
      Blocking<thrift::ParticipantClient, std::vector<thrift::OpResult>>(
          *shards_[static_cast<size_t>(shard)], NextDeadline(),
          [&](thrift::ParticipantClient& t) { t.send_run(wire::ToWire(txn.id_), wire_ops); },
          [](thrift::ParticipantClient& t, std::vector<thrift::OpResult>& out) {
            t.recv_run(out);
          });
  if (!r.ok()) {
    Fail(txn, AbortReason::kParticipantFailed,
         "shard " + std::to_string(shard) + ": " + r.status().ToString());
    return txcoord::Status::Aborted("shard " + std::to_string(shard) +
                                    " did not answer: " + r.status().ToString());
  }
  Reply<std::vector<thrift::OpResult>>& reply = r.value();
  if (reply.invalid) return txcoord::Status::InvalidArgument(reply.invalid->message);
  if (reply.stale) {
    Fail(txn, AbortReason::kStaleEpoch, "shard has seen a newer coordinator epoch");
    return txcoord::Status::Aborted("transaction's coordinator epoch is superseded");
  }
  if (reply.error) {
    const CommitOutcome o = FromError(*reply.error);
    Fail(txn, o.reason, o.detail);
    return txcoord::Status::Aborted(std::string("transaction aborted: ") + ToString(o.reason) +
                                    ": " + o.detail);
  }
  std::vector<OpResult> results;
  for (const thrift::OpResult& w : reply.value) results.push_back(wire::FromWire(w));
  return results;
}

Result<std::optional<std::string>> Client::Read(Transaction& txn, const std::string& key,
                                                bool for_update) {
  Result<std::vector<OpResult>> r =
      Run(txn, {Op{.type = Op::Type::kGet, .key = key, .for_update = for_update}});
  if (!r.ok()) return r.status();
  if (r.value().size() != 1) return txcoord::Status::Corruption("one read expected");
  const OpResult& read = r.value().front();
  return read.found ? std::optional<std::string>(read.value) : std::nullopt;
}

txcoord::Status Client::Write(Transaction& txn, const std::string& key, const std::string& value) {
  return Run(txn, {Op{.type = Op::Type::kPut, .key = key, .value = value}}).status();
}

txcoord::Status Client::Delete(Transaction& txn, const std::string& key) {
  return Run(txn, {Op{.type = Op::Type::kDelete, .key = key}}).status();
}

Result<CommitOutcome> Client::Commit(Transaction& txn) {
  if (txn.finished_) return txcoord::Status::InvalidArgument("transaction is finished");
  if (txn.failed_) {
    // Aborted at a shard already: abort it everywhere, and report why.
    const AbortReason reason = *txn.failed_;
    const std::string detail = txn.failed_detail_;
    Result<CommitOutcome> aborted = Abort(txn);
    if (!aborted.ok()) return aborted;
    if (aborted.value().outcome == Outcome::kAborted)
      return CommitOutcome{Outcome::kAborted, reason, detail};
    return aborted;
  }
  const std::vector<int32_t> touched(txn.touched_.begin(), txn.touched_.end());
  Result<Reply<thrift::CommitResult>> r = Blocking<thrift::CoordinatorClient, thrift::CommitResult>(
      *coordinator_, NextDeadline(),
      [&](thrift::CoordinatorClient& t) { t.send_commit(wire::ToWire(txn.id_), touched); },
      [](thrift::CoordinatorClient& t, thrift::CommitResult& out) { t.recv_commit(out); });
  txn.finished_ = true;
  if (!r.ok()) return Ambiguous(r.status());  // the request may have been applied: never retried
  if (r.value().invalid) {
    txn.finished_ = false;
    return txcoord::Status::InvalidArgument(r.value().invalid->message);
  }
  if (r.value().error) return FromError(*r.value().error);
  return FromWire(r.value().value);
}

Result<CommitOutcome> Client::Abort(Transaction& txn) {
  const std::vector<int32_t> touched(txn.touched_.begin(), txn.touched_.end());
  Result<Reply<bool>> r = Blocking<thrift::CoordinatorClient, bool>(
      *coordinator_, NextDeadline(),
      [&](thrift::CoordinatorClient& t) { t.send_abort(wire::ToWire(txn.id_), touched); },
      [](thrift::CoordinatorClient& t, bool& out) {
        t.recv_abort();
        out = true;
      });
  txn.finished_ = true;
  if (!r.ok()) return Ambiguous(r.status());
  if (r.value().invalid) return txcoord::Status::InvalidArgument(r.value().invalid->message);
  if (r.value().error) return FromError(*r.value().error);
  return CommitOutcome{Outcome::kAborted, AbortReason::kClientAbort, ""};
}

Result<ExecuteOutcome> Client::Execute(Protocol protocol, std::vector<Op> ops) {
  std::promise<Result<ExecuteOutcome>> promise;
  std::future<Result<ExecuteOutcome>> future = promise.get_future();
  ExecuteAsync(protocol, std::move(ops),
               [&promise](Result<ExecuteOutcome> r) { promise.set_value(std::move(r)); });
  return future.get();
}

void Client::ExecuteAsync(Protocol protocol, std::vector<Op> ops, ExecuteCallback done) {
  std::vector<thrift::Op> wire_ops;
  wire_ops.reserve(ops.size());
  for (const Op& op : ops) wire_ops.push_back(wire::ToWire(op));
  rpc::CallMethod<thrift::CoordinatorClient>(
      *coordinator_, NextDeadline(),
      [wire_ops = std::move(wire_ops), protocol](thrift::CoordinatorClient& t) {
        t.send_execute(wire::ToWire(protocol), wire_ops, "");
      },
      [](thrift::CoordinatorClient& c) {
        return Catching<thrift::ExecuteResult>(
            c, [](thrift::CoordinatorClient& t, thrift::ExecuteResult& out) {
              t.recv_execute(out);
            });
      },
      [done = std::move(done)](Result<Reply<thrift::ExecuteResult>> r) {
        done(ExecuteOutcomeOf(r));
      });
}


Result<CommitOutcome> Client::StatusOf(TxnId txn) {
  Result<Reply<thrift::TxnStatus>> r = Blocking<thrift::CoordinatorClient, thrift::TxnStatus>(
      *coordinator_, NextDeadline(),
      [&](thrift::CoordinatorClient& t) { t.send_status(wire::ToWire(txn)); },
      [](thrift::CoordinatorClient& t, thrift::TxnStatus& out) { t.recv_status(out); });
  if (!r.ok()) return r.status();
  if (r.value().invalid) return txcoord::Status::InvalidArgument(r.value().invalid->message);
  thrift::CommitResult c;
  c.outcome = r.value().value.outcome;
  c.reason = r.value().value.reason;
  c.detail = r.value().value.detail;
  return FromWire(c);
}

Result<std::vector<TxnState>> Client::StatesAt(ShardId shard, const std::vector<TxnId>& txns) {
  if (shard < 0 || static_cast<size_t>(shard) >= shards_.size()) {
    return txcoord::Status::InvalidArgument("no shard " + std::to_string(shard));
  }
  std::vector<thrift::TxnId> ids;
  ids.reserve(txns.size());
  for (TxnId t : txns) ids.push_back(wire::ToWire(t));
  Result<Reply<std::vector<thrift::TxnState::type>>> r =
      Blocking<thrift::ParticipantClient, std::vector<thrift::TxnState::type>>(
          *shards_[static_cast<size_t>(shard)], NextDeadline(),
          [&](thrift::ParticipantClient& t) { t.send_states(ids); },
          [](thrift::ParticipantClient& t, std::vector<thrift::TxnState::type>& out) {
            t.recv_states(out);
          });
  if (!r.ok()) return r.status();
  if (r.value().invalid) return txcoord::Status::InvalidArgument(r.value().invalid->message);
  if (r.value().value.size() != txns.size()) {
    return txcoord::Status::Corruption("states: " + std::to_string(r.value().value.size()) +
                                       " answers for " + std::to_string(txns.size()) + " ids");
  }
  std::vector<TxnState> out;
  out.reserve(txns.size());
  for (thrift::TxnState::type s : r.value().value) {
    Result<TxnState> state = wire::FromWire(s);
    if (!state.ok()) return state.status();
    out.push_back(state.value());
  }
  return out;
}

}  // namespace txcoord::client
