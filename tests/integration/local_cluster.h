// LocalCluster: a coordinator and N shards as real `txcoord` processes on 127.0.0.1, for the
// integration tests (label integration). Each node gets a config file and a data directory under
// one fresh temporary directory, free ports, and a log file collecting its stderr (Logs() prints
// them when a test fails). Nodes can be stopped (SIGTERM, clean), killed (SIGKILL), restarted on
// the same data, and started with environment variables (crash points: common/crash_point.h).
// The destructor kills whatever still runs and removes the directory. Every wait is bounded.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "cluster/config.h"
#include "common/status.h"

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
  static constexpr int kCoordinator = -1;

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

  const std::string& coordinator_host() const { return config_.coordinator.host; }
  uint16_t coordinator_port() const { return config_.coordinator.port; }
  uint16_t port(int node) const;
  const cluster::ShardMap& shard_map() const { return config_.shard_map; }
  std::string data_dir(int node) const;
  const std::string& dir() const { return dir_; }
  // Every node's stderr so far, labelled.
  std::string Logs() const;

 private:
  cluster::NodeConfig ConfigOf(int node) const;
  std::string Name(int node) const;

  ClusterOptions options_;
  std::string dir_;
  cluster::NodeConfig config_;  // the coordinator's; shards differ in role/shard/listen/data_dir
  std::map<int, pid_t> pids_;
};

// The path of the txcoord binary under test (set by CMake).
const char* TxcoordBinary();

}  // namespace txcoord::testing
