// LocalCluster: a coordinator and N shards as real `txcoord` processes on 127.0.0.1, for the
// integration tests (label integration). Each node gets a config file and a data directory under
// one fresh temporary directory, free ports, and a log file collecting its output (Logs() prints
// them when a test fails); the layout and the processes are those of the launcher library
// (tools/local_cluster.h) that `txcoord local` uses too, but the nodes are this process's
// children, not detached. Nodes can be stopped (SIGTERM, clean), killed (SIGKILL), restarted on
// the same data, and started with environment variables (crash points: common/crash_point.h).
// The destructor kills whatever still runs and removes the directory. Every wait is bounded.
#pragma once

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "cluster/config.h"
#include "common/status.h"
#include "tools/local_cluster.h"

namespace txcoord::testing {

struct ClusterOptions {
  int shards = 3;
  std::string partitioning = "hash";  // or "range" (split keys from range_split_keys)
  std::vector<std::string> range_split_keys;
  uint32_t tick_ms = 10;
  uint32_t vote_timeout_ms = 2000;
  uint32_t client_timeout_ms = 5000;
  uint32_t idle_timeout_ms = 10000;
  uint32_t retain_finished = 100000;
  uint32_t max_frame_bytes = 1 << 20;
};

class LocalCluster {
 public:
  static constexpr int kCoordinator = local::kCoordinator;

  explicit LocalCluster(ClusterOptions options = {});
  ~LocalCluster();
  LocalCluster(const LocalCluster&) = delete;
  LocalCluster& operator=(const LocalCluster&) = delete;

  // Starts every node and waits until each accepts connections.
  Status StartAll();
  // Starts one node (kCoordinator or a shard id) with extra environment variables, and waits
  // until it accepts connections (or exits: then the status says so).
  Status Start(int node, const std::map<std::string, std::string>& env = {});
  // SIGTERM, then waits (10 s) for the exit; ok only for a clean exit with status 0.
  Status Stop(int node);
  // SIGKILL and reap.
  void Kill(int node);
  // Waits for a node to exit by itself: its exit status (or 128 + signal), nullopt on timeout.
  std::optional<int> WaitExit(int node, std::chrono::milliseconds timeout);
  bool Running(int node);

  const std::string& coordinator_host() const {
    return cluster_.config(kCoordinator).coordinator.host;
  }
  uint16_t coordinator_port() const { return port(kCoordinator); }
  uint16_t port(int node) const { return cluster_.address(node).port; }  // the client port
  uint16_t peer_port(int node) const { return cluster_.config(node).peer_listen.port; }
  const cluster::ShardMap& shard_map() const { return cluster_.config(kCoordinator).shard_map; }
  std::string data_dir(int node) const { return cluster_.DataDir(node); }
  const std::string& dir() const { return cluster_.dir(); }
  // Every node's output so far, labelled.
  std::string Logs() const;

 private:
  local::ClusterDir cluster_;                // in a fresh temporary directory
  std::map<int, local::Process> processes_;  // the nodes started and not known to have exited
};

// The path of the txcoord binary under test (set by CMake).
const char* TxcoordBinary();

}  // namespace txcoord::testing
