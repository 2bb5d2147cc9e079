// The edge between replication messages on the wire (idl/txcoord.thrift: ReplicationMessage) and
// the replication core's own (replication/core/replica_core.h), like idl/wire.h for protocol
// messages. ToWire never fails; FromWire checks everything that arrives from the network and
// returns InvalidArgument naming the field: an unknown type, a negative number, a record whose
// encoding does not decode (a torn or forged payload: its checksum), records that are not
// consecutive after prev_position, a group name that is neither "coordinator" nor "shard<N>".
#pragma once

#include <string>

#include "common/status.h"
#include "replication/core/replica_core.h"
#include "txcoord_types.h"

namespace txcoord::wire {

// A replication message with the group it belongs to.
struct GroupMessage {
  std::string group;
  replication::ReplMessage message;
};

thrift::ReplicationMessage ToWire(const std::string& group, const replication::ReplMessage& m);
Result<GroupMessage> FromWire(const thrift::ReplicationMessage& m);

}  // namespace txcoord::wire
