// A node's configuration: one YAML file per process, the `static` membership of DESIGN.md
// section 5 (the shard map is fixed for the life of the process). Every node of a cluster is
// given the same `coordinator`, `coordinator_peer`, `partitioning`, `shards`, `shard_peers`,
// `range_split_keys` and (when it is given) `config_store`; `role`, `shard`, `replica` and
// `data_dir` say which node this file is for. The coordinator and each shard are replica groups:
// a group of one replica is written as one address, a larger one as a sequence of addresses,
// replica r at index r. The schema (config/example-*.yaml are documented examples of it):
//
//   role: shard                  # required: coordinator | shard
//   shard: 0                     # role shard: required, the shard this node serves, 0..N-1;
//                                #   role coordinator: must be absent
//   replica: 0                   # optional, default 0: which replica of its own group this node
//                                #   is, 0..R-1 (R: the coordinator group's size for role
//                                #   coordinator, shards[shard]'s for role shard)
//   data_dir: /tmp/txcoord/s0    # required, non-empty: the node's RocksDB directory
//   config_store: /tmp/txcoord/groups.yaml  # the static configuration store
//                                #   (cluster/config_store.h), non-empty; with config_master
//                                #   static, required when any group has more than one
//                                #   replica, absent otherwise derived as data_dir +
//                                #   "/groups.yaml"; with etcd, forbidden
//   config_master: static        # optional: static (the default: config_store, one machine)
//                                #   | etcd (cluster/etcd_store.h; config_store must be absent)
//   etcd_endpoints: [127.0.0.1:2379, 127.0.0.1:2479]  # config_master etcd: required, a
//                                #   non-empty sequence of its members' client addresses;
//                                #   forbidden otherwise
//   etcd_prefix: /txcoord/       # config_master etcd: optional, the default shown; starts and
//                                #   ends with '/' (one prefix per txcoord cluster)
//   coordinator: 127.0.0.1:7000  # required: where the coordinator serves clients: one address,
//                                #   or a non-empty sequence of one per replica
//                                #   ([127.0.0.1:7000, 127.0.0.1:7001])
//   coordinator_peer: 127.0.0.1:7500  # required: the coordinator's peer port (protocol
//                                #   messages between nodes; keep it from clients); the same
//                                #   shape, as many addresses as `coordinator`
//   partitioning: hash           # required: hash | range
//   shards:                      # required, non-empty: shard i's client address, in id order;
//     - 127.0.0.1:7101           #   each entry one address or a non-empty sequence of one per
//     - [127.0.0.1:7102, 127.0.0.1:7112]  # replica of shard i
//   shard_peers:                 # required: shard i's peer port, one entry per shard, in id
//     - 127.0.0.1:7601           #   order, each with as many addresses as shards[i]
//     - [127.0.0.1:7602, 127.0.0.1:7612]
//   range_split_keys: [m]        # range: N-1 strictly increasing, non-empty strings (may be
//                                #   omitted only for N = 1); hash: absent or []
//   tick_ms: 10                  # optional, 1..1000
//   wal_sync: sync               # optional: sync | manual_flush
//   vote_timeout_ms: 2000        # optional, tick_ms..86400000
//   client_timeout_ms: 5000      # optional, tick_ms..86400000
//   idle_timeout_ms: 10000       # optional, tick_ms..86400000
//   retain_finished: 100000      # optional, 0..4294967295
//   log_truncate_records: 10000  # optional, 1..4294967295
//   log_retain_lagging_records: 100000  # optional, 0..4294967295
//   max_frame_bytes: 16777216    # optional, 4096..2147483647
//   min_insync: 2                # optional, 1..16
//   heartbeat_ms: 30             # optional, tick_ms..86400000; and
//   lag_timeout_ms: 300          #   heartbeat_ms < lag_timeout_ms < lease_ms < grace_ms. Absent,
//   lease_ms: 450                #   each is the default shown, or for tick_ms above 30 that
//   grace_ms: 650                #   default stretched to keep its ratio (1, 10, 15, 21.7 ticks)
//
// Derived: coordinators / coordinator_peers / shard_replicas / shard_replica_peers hold every
// replica's addresses; coordinator, coordinator_peer, shard_map.shards[i] and shard_peers[i] are
// replica 0's (the bootstrap primary); listen and peer_listen are this node's own replica's. A
// YAML path names the replica when its group is a sequence: "coordinator[1]", "shards[2][0]".
//
// Addresses are "host:port" with port 1..65535; an IPv6 host goes in brackets ("[::1]:7000").
// No two ports (the client and peer ports of every replica of the coordinator and the shards)
// may share an address. Numbers are plain decimal integers: a quoted string, a sign, a fraction,
// an exponent or an overflow is an error. The bounds reject unit mistakes, not tuning: a timeout
// below one tick would round to zero ticks, a frame limit below 4096 bytes is a limit written in
// KiB or MiB, and 2147483647 is the most a Thrift frame header can carry. The replication periods
// are ordered so an idle group keeps its ISR, a primary drops a silent backup before its lease
// runs out, and a deposed primary has stopped serving before a backup proposes itself
// (replication/PROTOCOL.md, rule 4). Unknown and duplicate fields are errors, so a typo never
// falls back to a default silently.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "cluster/address.h"
#include "cluster/shard_map.h"
#include "common/ids.h"
#include "common/status.h"

namespace txcoord::cluster {

enum class Role : uint8_t { kCoordinator = 1, kShard = 2 };
const char* ToString(Role r);  // "coordinator" / "shard"

struct NodeConfig {
  Role role = Role::kCoordinator;
  ShardId shard = -1;    // role shard: the shard this node serves (0..N-1); -1 for the coordinator
  int32_t replica = 0;   // which replica of its group this node is (0..R-1 of its group)
  std::string data_dir;  // required: the node's RocksDB directory
  // Every replica of every group, by replica id. The coordinator group's client and peer
  // addresses; shard i's, in shard_replicas[i] / shard_replica_peers[i]. A group of one replica
  // is written as a plain address in YAML, a larger one as a sequence.
  std::vector<Address> coordinators;
  std::vector<Address> coordinator_peers;
  std::vector<std::vector<Address>> shard_replicas;
  std::vector<std::vector<Address>> shard_replica_peers;
  // Derived: replica 0 of each group (the bootstrap primary).
  Address coordinator;               // coordinators[0]
  Address coordinator_peer;          // coordinator_peers[0]
  ShardMap shard_map;                // version 1; shards[i] = shard_replicas[i][0]; partitioning;
                                     // split keys
  std::vector<Address> shard_peers;  // shard_replica_peers[i][0]
  Address listen;         // derived: this replica's client address (coordinators[replica], or
                          // shard_replicas[shard][replica])
  Address peer_listen;    // derived: this replica's peer address
  // The static configuration store (cluster/config_store.h): one file shared by every node of
  // the cluster. Required when any group has more than one replica; otherwise it defaults to
  // data_dir + "/groups.yaml" (a lone replica is the only reader of its group's configuration).
  std::string config_store;
  // The configuration master (DESIGN.md section 5): "static" (config_store: one machine) or
  // "etcd" (cluster/etcd_store.h: every node of the cluster names the same etcd cluster and
  // prefix; config_store is then empty).
  std::string config_master = "static";
  std::vector<Address> etcd_endpoints;  // etcd: its members' client addresses
  std::string etcd_prefix = "/txcoord/";
  // Replication (DESIGN.md section 5). A group commits nothing with fewer than
  // min(min_insync, its replica count) in-sync replicas.
  uint32_t min_insync = 2;           // 1..16
  uint32_t heartbeat_ms = 30;        // an idle primary's heartbeat period
  uint32_t lag_timeout_ms = 300;     // a backup silent this long leaves the ISR
  uint32_t lease_ms = 450;           // a primary not heard by its ISR this long stops serving
  uint32_t grace_ms = 650;           // a backup not hearing its primary this long proposes itself
                                     // (heartbeat < lag_timeout < lease < grace, each >= tick_ms)
  uint32_t tick_ms = 10;  // the cores' abstract tick, 1..1000
  std::string wal_sync = "sync";        // "sync" (RocksDB sync writes) or "manual_flush"
  uint32_t vote_timeout_ms = 2000;      // coordinator: undecided this long -> abort
  uint32_t client_timeout_ms = 5000;    // coordinator: a waiting client gets UNKNOWN (or the
                                        // outcome) then
  uint32_t idle_timeout_ms = 10000;     // shard: an ACTIVE transaction idle this long is aborted
  uint32_t retain_finished = 100000;    // finished transactions whose log records are kept before
                                        // truncation
  uint32_t log_truncate_records = 10000;  // a primary truncates its log when that frees this many
  // A replica out of the ISR keeps its primary's log from being truncated while it lags by less
  // than this many records; beyond, it gets a state transfer when it returns.
  uint32_t log_retain_lagging_records = 100000;
  uint32_t max_frame_bytes = 16 << 20;  // RPC frame limit
  bool operator==(const NodeConfig&) const = default;
};

// Parses a node's YAML config. `source` names the text in errors (a file name).
// Every error is InvalidArgument and names the source, the line (1-based, from yaml-cpp's Mark)
// and the field path, e.g. "c.yaml:7: shards[1]: expected host:port, found '127.0.0.1'" or
// "c.yaml: data_dir: required" (a missing field has no line). Unknown keys are errors
// ("c.yaml:3: unknown field 'tick_sm'") so typos never pass silently.
// The result is checked: role-specific fields (shard is required for role shard and must be in
// range; forbidden for role coordinator), Validate(shard_map) (its errors are reported under the
// YAML names, e.g. "range_split_keys[1]: ..."), the replica groups' shapes (e.g.
// "shard_peers[1]: 2 addresses for 3 replicas of shards[1]"), `replica` against its group,
// config_store, distinct addresses, ranges and order of the numbers, wal_sync values. The
// derived fields are set as in the schema comment, shard_map.version is 1 and shard ids 0..N-1.
// A YAML syntax error is InvalidArgument with yaml-cpp's message and line. The first error found
// is the one reported.
Result<NodeConfig> ParseNodeConfig(std::string_view yaml_text, std::string_view source);

// Reads and parses a file; a missing/unreadable file is InvalidArgument naming the path and
// errno text ("/etc/c.yaml: cannot read: No such file or directory").
Result<NodeConfig> LoadNodeConfig(const std::string& path);

// Writes a config as YAML that ParseNodeConfig reads back equal (used by the local-cluster
// launcher). Optional fields are always written.
// A group of one replica is written as a plain address, a larger one as a flow sequence;
// config_store is written also when it was derived.
// REQUIRES: config is one ParseNodeConfig accepts (in particular the derived fields, `listen`
// among them, agree with the replica groups as above, config_store is set, and
// shard_map.version == 1). Checked: the output is parsed back and compared, and a mismatch stops
// the process, because a launcher bug must not start a node with a config it did not mean.
std::string FormatNodeConfig(const NodeConfig& config);

}  // namespace txcoord::cluster
