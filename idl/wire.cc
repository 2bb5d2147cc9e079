#include "idl/wire.h"

#include <thrift/Thrift.h>

#include <string>

namespace txcoord::wire {

namespace {

// Ballots are unsigned in the cores and i64 on the wire: bit for bit.
int64_t BallotToWire(Ballot b) { return static_cast<int64_t>(b); }
Ballot BallotFromWire(int64_t b) { return static_cast<Ballot>(b); }

NodeRef NodeFromWire(int32_t node) {
  return node < 0 ? NodeRef::Coordinator() : NodeRef::Shard(node);
}
int32_t NodeToWire(NodeRef n) { return n.is_coordinator() ? -1 : n.shard; }

Status Bad(const std::string& what) { return Status::InvalidArgument(what); }

}  // namespace

Status CheckKey(const std::string& key) {
  if (key.empty()) return Bad("key: empty");
  if (key.size() > kMaxKeyBytes) {
    return Bad("key: " + std::to_string(key.size()) + " bytes, more than the limit of " +
               std::to_string(kMaxKeyBytes));
  }
  return Status::Ok();
}

thrift::TxnId ToWire(TxnId id) {
  thrift::TxnId w;
  w.__set_epoch(static_cast<int64_t>(id.epoch));
  w.__set_seq(static_cast<int64_t>(id.seq));
  return w;
}

Result<TxnId> FromWire(const thrift::TxnId& id) {
  if (id.epoch <= 0) return Bad("txn.epoch: must be positive, found " + std::to_string(id.epoch));
  if (id.seq < 0) return Bad("txn.seq: negative (" + std::to_string(id.seq) + ")");
  return TxnId{static_cast<Epoch>(id.epoch), static_cast<uint64_t>(id.seq)};
}

thrift::Protocol::type ToWire(Protocol p) {
  return p == Protocol::kThreePc ? thrift::Protocol::THREE_PC : thrift::Protocol::TWO_PC;
}

Result<Protocol> FromWire(thrift::Protocol::type p) {
  switch (p) {
    case thrift::Protocol::TWO_PC:
      return Protocol::kTwoPc;
    case thrift::Protocol::THREE_PC:
      return Protocol::kThreePc;
  }
  return Bad("protocol: unknown value " + std::to_string(static_cast<int>(p)));
}

thrift::Outcome::type ToWire(Outcome o) {
  switch (o) {
    case Outcome::kCommitted:
      return thrift::Outcome::COMMITTED;
    case Outcome::kAborted:
      return thrift::Outcome::ABORTED;
    case Outcome::kUnknown:
      break;
  }
  return thrift::Outcome::UNKNOWN;
}

Result<Outcome> FromWire(thrift::Outcome::type o) {
  switch (o) {
    case thrift::Outcome::COMMITTED:
      return Outcome::kCommitted;
    case thrift::Outcome::ABORTED:
      return Outcome::kAborted;
    case thrift::Outcome::UNKNOWN:
      return Outcome::kUnknown;
  }
  return Bad("outcome: unknown value " + std::to_string(static_cast<int>(o)));
}

// The numbers are the same on both sides (idl/txcoord.thrift mirrors common/protocol.h).
thrift::TxnState::type ToWire(TxnState s) {
  return static_cast<thrift::TxnState::type>(static_cast<int>(s));
}

Result<TxnState> FromWire(thrift::TxnState::type s) {
  const int v = static_cast<int>(s);
  if (v < 0 || v > static_cast<int>(TxnState::kForgotten)) {
    return Bad("state: unknown value " + std::to_string(v));
  }
  return static_cast<TxnState>(v);
}

// The numbers are the same on both sides (idl/txcoord.thrift mirrors common/protocol.h).
thrift::AbortReason::type ToWire(AbortReason r) {
  return static_cast<thrift::AbortReason::type>(static_cast<int>(r));
}

Result<AbortReason> FromWire(thrift::AbortReason::type r) {
  const int v = static_cast<int>(r);
  if (v < 0 || v > static_cast<int>(AbortReason::kUnknownTxn)) {
    return Bad("reason: unknown value " + std::to_string(v));
  }
  return static_cast<AbortReason>(v);
}

thrift::Op ToWire(const Op& op) {
  thrift::Op w;
  w.__set_key(op.key);
  switch (op.type) {
    case Op::Type::kGet:
      w.__set_type(thrift::OpType::GET);
      if (op.for_update) w.__set_for_update(true);
      break;
    case Op::Type::kPut:
      w.__set_type(thrift::OpType::PUT);
      w.__set_value(op.value);
      break;
    case Op::Type::kDelete:
      w.__set_type(thrift::OpType::DELETE);
      break;
    case Op::Type::kAdd:
      w.__set_type(thrift::OpType::ADD);
      w.__set_delta(op.delta);
      if (op.min_result != INT64_MIN) w.__set_min_result(op.min_result);
      break;
  }
  return w;
}

Result<Op> FromWire(const thrift::Op& w) {
  Op op;
  if (Status s = CheckKey(w.key); !s.ok()) return Bad("op." + s.message());
  op.key = w.key;
  switch (w.type) {
    case thrift::OpType::GET:
      op.type = Op::Type::kGet;
      op.for_update = w.__isset.for_update && w.for_update;
      return op;
    case thrift::OpType::PUT:
      if (!w.__isset.value) return Bad("op.value: required for PUT");
      op.type = Op::Type::kPut;
      op.value = w.value;
      return op;
    case thrift::OpType::DELETE:
      op.type = Op::Type::kDelete;
      return op;
    case thrift::OpType::ADD:
      if (!w.__isset.delta) return Bad("op.delta: required for ADD");
      op.type = Op::Type::kAdd;
      op.delta = w.delta;
      if (w.__isset.min_result) op.min_result = w.min_result;
      return op;
  }
  return Bad("op.type: unknown value " + std::to_string(static_cast<int>(w.type)));
}

Result<std::vector<Op>> FromWire(const std::vector<thrift::Op>& ops) {
  std::vector<Op> out;
  out.reserve(ops.size());
  for (size_t i = 0; i < ops.size(); ++i) {
    Result<Op> op = FromWire(ops[i]);
    if (!op.ok()) return Bad("ops[" + std::to_string(i) + "]." + op.status().message());
    out.push_back(std::move(op.value()));
  }
  return out;
}

thrift::OpResult ToWire(const OpResult& r) {
  thrift::OpResult w;
  w.__set_key(r.key);
  w.__set_found(r.found);
  if (r.found) w.__set_value(r.value);
  return w;
}

OpResult FromWire(const thrift::OpResult& w) {
  return OpResult{.key = w.key, .found = w.found, .value = w.found ? w.value : std::string()};
}

thrift::PeerMessage ToWire(const Message& m) {
  thrift::PeerMessage w;
  w.__set_type(static_cast<thrift::MessageType::type>(static_cast<int>(m.type)));
  w.__set_from_node(NodeToWire(m.from));
  w.__set_to_node(NodeToWire(m.to));
  w.__set_txn(ToWire(m.txn));
  w.__set_epoch(static_cast<int64_t>(m.epoch));
  // Only what differs from the default goes on the wire: most messages carry three fields.
  if (m.protocol != Protocol::kTwoPc) w.__set_protocol(ToWire(m.protocol));
  if (!m.participants.empty()) w.__set_participants(m.participants);
  if (m.one_phase) w.__set_one_phase(true);
  if (!m.ops.empty()) {
    std::vector<thrift::Op> ops;
    ops.reserve(m.ops.size());
    for (const Op& op : m.ops) ops.push_back(ToWire(op));
    w.__set_ops(std::move(ops));
  }
  if (m.vote != Vote::kNone) {
    w.__set_vote(static_cast<thrift::Vote::type>(static_cast<int>(m.vote)));
  }
  if (m.reason != AbortReason::kNone) w.__set_reason(ToWire(m.reason));
  if (!m.reads.empty()) {
    std::vector<thrift::OpResult> reads;
    reads.reserve(m.reads.size());
    for (const OpResult& r : m.reads) reads.push_back(ToWire(r));
    w.__set_reads(std::move(reads));
  }
  if (m.outcome != Outcome::kUnknown) w.__set_outcome(ToWire(m.outcome));
  if (m.state != TxnState::kUnknown) {
    w.__set_state(static_cast<thrift::TxnState::type>(static_cast<int>(m.state)));
  }
  if (m.ballot != 0) w.__set_ballot(BallotToWire(m.ballot));
  if (m.accepted_ballot != 0) w.__set_accepted_ballot(BallotToWire(m.accepted_ballot));
  if (m.promised_ballot != 0) w.__set_promised_ballot(BallotToWire(m.promised_ballot));
  if (m.commit) w.__set_commit(true);
  if (m.abort_if_unprepared) w.__set_abort_if_unprepared(true);
  if (m.ok) w.__set_ok(true);
  if (m.current_epoch != 0) w.__set_current_epoch(static_cast<int64_t>(m.current_epoch));
  return w;
}

Result<Message> FromWire(const thrift::PeerMessage& w) {
  Message m;
  const int type = static_cast<int>(w.type);
  if (type < static_cast<int>(MsgType::kPrepare) ||
      type > static_cast<int>(MsgType::kLearnDecision)) {
    return Bad("type: unknown message type " + std::to_string(type));
  }
  m.type = static_cast<MsgType>(type);
  m.from = NodeFromWire(w.from_node);
  m.to = NodeFromWire(w.to_node);
  Result<TxnId> txn = FromWire(w.txn);
  if (!txn.ok()) return txn.status();
  m.txn = txn.value();
  if (w.epoch < 0) return Bad("epoch: negative (" + std::to_string(w.epoch) + ")");
  m.epoch = static_cast<Epoch>(w.epoch);
  if (w.__isset.protocol) {
    Result<Protocol> p = FromWire(w.protocol);
    if (!p.ok()) return p.status();
    m.protocol = p.value();
  }
  if (w.__isset.participants) {
    for (int32_t s : w.participants) {
      if (s < 0) return Bad("participants: negative shard id " + std::to_string(s));
    }
    m.participants = w.participants;
  }
  m.one_phase = w.__isset.one_phase && w.one_phase;
  if (w.__isset.ops) {
    Result<std::vector<Op>> ops = FromWire(w.ops);
    if (!ops.ok()) return ops.status();
    m.ops = std::move(ops.value());
  }
  if (w.__isset.vote) {
    const int v = static_cast<int>(w.vote);
    if (v < static_cast<int>(Vote::kYes) || v > static_cast<int>(Vote::kReadOnly)) {
      return Bad("vote: unknown value " + std::to_string(v));
    }
    m.vote = static_cast<Vote>(v);
  }
  if (w.__isset.reason) {
    Result<AbortReason> r = FromWire(w.reason);
    if (!r.ok()) return r.status();
    m.reason = r.value();
  }
  if (w.__isset.reads) {
    m.reads.reserve(w.reads.size());
    for (const thrift::OpResult& r : w.reads) m.reads.push_back(FromWire(r));
  }
  if (w.__isset.outcome) {
    Result<Outcome> o = FromWire(w.outcome);
    if (!o.ok()) return o.status();
    m.outcome = o.value();
  }
  if (w.__isset.state) {
    const int s = static_cast<int>(w.state);
    if (s < 0 || s > static_cast<int>(TxnState::kAborted)) {
      return Bad("state: unknown value " + std::to_string(s));
    }
    m.state = static_cast<TxnState>(s);
  }
  if (w.__isset.ballot) m.ballot = BallotFromWire(w.ballot);
  if (w.__isset.accepted_ballot) m.accepted_ballot = BallotFromWire(w.accepted_ballot);
  if (w.__isset.promised_ballot) m.promised_ballot = BallotFromWire(w.promised_ballot);
  m.commit = w.__isset.commit && w.commit;
  m.abort_if_unprepared = w.__isset.abort_if_unprepared && w.abort_if_unprepared;
  m.ok = w.__isset.ok && w.ok;
  if (w.__isset.current_epoch) {
    if (w.current_epoch < 0) return Bad("current_epoch: negative");
    m.current_epoch = static_cast<Epoch>(w.current_epoch);
  }
  return m;
}

thrift::ShardMap ToWire(const cluster::ShardMap& map) {
  thrift::ShardMap w;
  w.__set_version(static_cast<int64_t>(map.version));
  w.__set_partitioning(cluster::ToString(map.partitioning));
  std::vector<thrift::ShardInfo> shards;
  for (const cluster::ShardEndpoint& e : map.shards) {
    thrift::ShardInfo info;
    info.__set_shard(e.id);
    info.__set_host(e.host);
    info.__set_port(e.port);
    shards.push_back(std::move(info));
  }
  w.__set_shards(std::move(shards));
  w.__set_range_split_keys(map.split_keys);
  return w;
}

Result<cluster::ShardMap> FromWire(const thrift::ShardMap& w) {
  cluster::ShardMap map;
  if (w.version < 0) return Bad("version: negative");
  map.version = static_cast<uint64_t>(w.version);
  Result<cluster::Partitioning> p = cluster::ParsePartitioning(w.partitioning);
  if (!p.ok()) return p.status();
  map.partitioning = p.value();
  for (size_t i = 0; i < w.shards.size(); ++i) {
    const thrift::ShardInfo& info = w.shards[i];
    if (info.port <= 0 || info.port > 65535) {
      return Bad("shards[" + std::to_string(i) + "].port: out of range");
    }
    map.shards.push_back({info.shard, info.host, static_cast<uint16_t>(info.port)});
  }
  map.split_keys = w.range_split_keys;
  if (Status s = cluster::Validate(map); !s.ok()) return s;
  return map;
}

::apache::thrift::TDelayedException* InvalidRequestError(const std::string& message) {
  thrift::InvalidRequest e;
  e.__set_message(message);
  return ::apache::thrift::TDelayedException::delayException(e);
}

::apache::thrift::TDelayedException* NotPrimaryError(const std::string& message,
                                                     const std::string& primary) {
  thrift::NotPrimary e;
  e.__set_message(message);
  e.__set_primary(primary);
  return ::apache::thrift::TDelayedException::delayException(e);
}

::apache::thrift::TDelayedException* TxnErrorOf(TxnId txn, Outcome outcome, AbortReason reason,
                                                const std::string& message) {
  thrift::TxnError e;
  e.__set_outcome(ToWire(outcome));
  e.__set_reason(ToWire(reason));
  e.__set_message(message);
  e.__set_txn(ToWire(txn));
  return ::apache::thrift::TDelayedException::delayException(e);
}

::apache::thrift::TDelayedException* UnknownOutcomeError(const ClientReply& reply) {
  return TxnErrorOf(
      reply.txn, Outcome::kUnknown, AbortReason::kNone,
      "the outcome is not known yet (" + reply.detail + "); do not retry: ask status");
}

thrift::CommitResult ToCommitResult(const ClientReply& reply) {
  thrift::CommitResult r;
  r.__set_outcome(ToWire(reply.outcome));
  r.__set_reason(ToWire(reply.reason));
  r.__set_detail(reply.detail);
  return r;
}

}  // namespace txcoord::wire
