// LocalCluster: a coordinator and N shards as real `txcoord` processes on 127.0.0.1, for the
// integration tests (label integration), each a group of `replicas` replicas (default 1: one
// process per group, the layout of before replica groups). Each node (NodeId{group, replica};
// an int is replica 0 of that group) gets a config file and a data directory under one fresh
// temporary directory, free ports, and a log file collecting its output (Logs() prints them when
// a test fails); the layout and the processes are those of the launcher library
// (tools/local_cluster.h) that `txcoord local` uses too, but the nodes are this process's
// children, not detached. Nodes can be stopped (SIGTERM, clean), killed (SIGKILL), restarted on
// the same data, and started with environment variables (crash points: common/crash_point.h).
// ReadGroup / Primary read a group's configuration from its configuration store, so that a
// failover test finds the current primary. The destructor kills whatever still runs and removes
// the directory. Every wait is bounded.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "cluster/config.h"
#include "common/status.h"
#include "replication/core/replica_core.h"
#include "tools/local_cluster.h"
#include "tools/local_etcd.h"

namespace txcoord::testing {

struct ClusterOptions {
  int shards = 3;
  int replicas = 1;                   // per group, 1..local::kMaxReplicas
  std::string partitioning = "hash";  // or "range" (split keys from range_split_keys)
  std::vector<std::string> range_split_keys;
  uint32_t tick_ms = 10;
  uint32_t vote_timeout_ms = 2000;
  uint32_t client_timeout_ms = 5000;
  uint32_t idle_timeout_ms = 10000;
  uint32_t retain_finished = 100000;
  uint32_t log_truncate_records = 10000;
  uint32_t log_retain_lagging_records = 100000;
  uint32_t max_frame_bytes = 1 << 20;
  // Replication (cluster/config.h; used when replicas > 1).
  uint32_t min_insync = 2;
  uint32_t heartbeat_ms = 30;
  uint32_t lag_timeout_ms = 300;
  uint32_t lease_ms = 600;
  uint32_t grace_ms = 900;
  // The configuration master: 0, the static file; 1, 3 or 5: a local etcd cluster of that many
  // members (tools/local_etcd.h), started with the nodes, children of this process like them.
  int etcd_members = 0;
};

class LocalCluster {
 public:
  using NodeId = local::NodeId;
  static constexpr int kCoordinator = local::kCoordinator;

  explicit LocalCluster(ClusterOptions options = {});
  ~LocalCluster();
  LocalCluster(const LocalCluster&) = delete;
  LocalCluster& operator=(const LocalCluster&) = delete;

  // Starts every node that is not running, then waits until each accepts connections (all are
  // started before any is waited for: a replica may need the others of its group to serve).
  // `env`: extra environment variables of some nodes (crash points), by node.
  Status StartAll(const std::map<NodeId, std::map<std::string, std::string>>& env = {});
  // Starts one node with extra environment variables, and waits until it accepts connections
  // (or exits: then the status says so). REQUIRES: it is not running.
  Status Start(NodeId node, const std::map<std::string, std::string>& env = {});
  // SIGTERM, then waits (10 s) for the exit; ok only for a clean exit with status 0.
  Status Stop(NodeId node);
  // SIGKILL and reap.
  void Kill(NodeId node);
  // Stop (when it runs; a failed stop is returned and nothing is started), then Start on the same
  // data with `env`.
  Status Restart(NodeId node, const std::map<std::string, std::string>& env = {});
  // Waits for a node to exit by itself: its exit status (or 128 + signal), nullopt on timeout.
  std::optional<int> WaitExit(NodeId node, std::chrono::milliseconds timeout);
  bool Running(NodeId node);
  // The node's pid while it runs (as far as this object knows), else -1.
  pid_t pid(NodeId node) const;

  int shards() const { return cluster_.shards(); }
  int replicas() const { return cluster_.replicas(); }
  std::vector<NodeId> nodes() const { return cluster_.nodes(); }  // in ClusterDir order
  std::vector<NodeId> group_nodes(int group) const { return cluster_.group_nodes(group); }
  std::string name(NodeId node) const { return cluster_.Name(node); }  // "shard1.r2"

  // Replica 0 of the coordinator group (the bootstrap primary; the only one when replicas is 1).
  const std::string& coordinator_host() const {
    return cluster_.config(kCoordinator).coordinator.host;
  }
  uint16_t coordinator_port() const { return port(kCoordinator); }
  const cluster::Address& address(NodeId node) const { return cluster_.address(node); }
  uint16_t port(NodeId node) const { return cluster_.address(node).port; }  // the client port
  uint16_t peer_port(NodeId node) const { return cluster_.config(node).peer_listen.port; }
  const cluster::ShardMap& shard_map() const { return cluster_.config(kCoordinator).shard_map; }
  const cluster::NodeConfig& config(NodeId node) const { return cluster_.config(node); }
  std::string config_path(NodeId node) const { return cluster_.ConfigPath(node); }
  std::string data_dir(NodeId node) const { return cluster_.DataDir(node); }
  std::string log_path(NodeId node) const { return cluster_.LogPath(node); }
  const std::string& dir() const { return cluster_.dir(); }
  const local::ClusterDir& cluster_dir() const { return cluster_; }

  // The group's configuration now, from its configuration store (ClusterDir::ReadGroup):
  // NotFound until its nodes created it.
  Result<replication::GroupConfig> ReadGroup(int group) const { return cluster_.ReadGroup(group); }
  // The node the group's configuration names primary; NotFound when there is none yet.
  Result<NodeId> Primary(int group) const;

  // Every node's output so far, labelled (and each etcd member's last lines).
  std::string Logs() const;

  // The local etcd (REQUIRES: etcd_members > 0). Members are numbered 0..size-1.
  const local::LocalEtcd& etcd() const { return *etcd_; }
  bool on_etcd() const { return etcd_.has_value(); }
  // Starts member i (REQUIRES: not running) and waits until it accepts connections.
  Status StartEtcd(int i);
  // SIGKILL and reap.
  void KillEtcd(int i);
  // Sends a signal to member i (SIGSTOP / SIGCONT); REQUIRES: it runs.
  void SignalEtcd(int i, int signal);
  // The member that leads now (LocalEtcd::Leader).
  Result<int> EtcdLeader() const { return etcd_->Leader(); }

 private:
  std::optional<local::LocalEtcd> etcd_;        // when etcd_members > 0
  local::ClusterDir cluster_;                   // in a fresh temporary directory
  std::map<NodeId, local::Process> processes_;  // the nodes started and not known to have exited
  std::map<int, local::Process> etcd_processes_;  // the etcd members running
};

// The path of the txcoord binary under test (set by CMake).
const char* TxcoordBinary();

}  // namespace txcoord::testing
