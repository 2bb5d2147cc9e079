// Conversions between the wire types generated from idl/txcoord.thrift (namespace
// txcoord::thrift) and the cores' own types (common/protocol.h, cluster/shard_map.h). This is the
// edge of STYLE.md rule 4: Thrift types never reach a core, and whatever arrives from the network
// is checked here before it is turned into a core type.
//
// ToWire never fails. FromWire returns InvalidArgument naming the field when the value cannot be a
// valid core value: an enum number the contract does not define, a missing required field, a
// transaction id of epoch 0, an empty or oversized key, a PUT without a value, an ADD without a
// delta. Optional wire fields that are unset take the core's default.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "cluster/shard_map.h"
#include "common/protocol.h"
#include "common/status.h"
#include "txcoord_types.h"

namespace apache::thrift {
class TDelayedException;
}  // namespace apache::thrift

namespace txcoord::wire {

namespace thrift = ::txcoord::thrift;

// Keys longer than this are refused (InvalidRequest at the services): RocksDB would take them,
// but a key that large is a client bug, and a bound keeps lock tables and messages small.
inline constexpr size_t kMaxKeyBytes = 64 * 1024;

thrift::TxnId ToWire(TxnId id);
Result<TxnId> FromWire(const thrift::TxnId& id);

thrift::Protocol::type ToWire(Protocol p);
Result<Protocol> FromWire(thrift::Protocol::type p);

// Outcome::kUnknown <-> thrift::Outcome::UNKNOWN.
thrift::Outcome::type ToWire(Outcome o);
Result<Outcome> FromWire(thrift::Outcome::type o);

thrift::TxnState::type ToWire(TxnState s);
Result<TxnState> FromWire(thrift::TxnState::type s);

thrift::AbortReason::type ToWire(AbortReason r);
Result<AbortReason> FromWire(thrift::AbortReason::type r);

thrift::Op ToWire(const Op& op);
Result<Op> FromWire(const thrift::Op& op);
Result<std::vector<Op>> FromWire(const std::vector<thrift::Op>& ops);

thrift::OpResult ToWire(const OpResult& r);
OpResult FromWire(const thrift::OpResult& r);

// A protocol message. NodeRef: a shard id, or -1 for the coordinator.
thrift::PeerMessage ToWire(const Message& m);
Result<Message> FromWire(const thrift::PeerMessage& m);

thrift::ShardMap ToWire(const cluster::ShardMap& map);
// Also Validate()s the map.
Result<cluster::ShardMap> FromWire(const thrift::ShardMap& map);

// A key is valid when it is non-empty and at most kMaxKeyBytes.
Status CheckKey(const std::string& key);

// The services' answers, built once for both: declared IDL exceptions ready for a cob-style
// method's exception callback, and the result of a decided commit.
::apache::thrift::TDelayedException* InvalidRequestError(const std::string& message);
::apache::thrift::TDelayedException* TxnErrorOf(TxnId txn, Outcome outcome, AbortReason reason,
                                                const std::string& message);
// UNKNOWN for a reply whose outcome is not known: never guessed, never to be retried.
::apache::thrift::TDelayedException* UnknownOutcomeError(const ClientReply& reply);
thrift::CommitResult ToCommitResult(const ClientReply& reply);
// This replica is not its group's serving primary; `primary` is the client address of the one it
// knows ("host:port"), or empty.
::apache::thrift::TDelayedException* NotPrimaryError(const std::string& message,
                                                     const std::string& primary);

// The callers' side: a reply with the IDL exceptions our methods declare caught as values (they
// carry data a Status cannot: TxnError's outcome, StaleEpoch's epoch).
template <typename T>
struct Reply {
  T value{};
  std::optional<thrift::TxnError> error;
  std::optional<thrift::InvalidRequest> invalid;
  std::optional<thrift::StaleEpoch> stale;
  std::optional<thrift::NotPrimary> not_primary;
};

// Calls `recv(c, reply.value)` (a generated recv_X) and folds the declared exceptions into the
// Reply; anything else propagates (rpc::CallMethod turns it into a Status).
template <typename T, typename ThriftClient, typename Recv>
Reply<T> Catching(ThriftClient& c, Recv&& recv) {
  Reply<T> r;
  try {
    recv(c, r.value);
  } catch (const thrift::TxnError& e) {
    r.error = e;
  } catch (const thrift::InvalidRequest& e) {
    r.invalid = e;
  } catch (const thrift::StaleEpoch& e) {
    r.stale = e;
  } catch (const thrift::NotPrimary& e) {
    r.not_primary = e;
  }
  return r;
}

}  // namespace txcoord::wire
