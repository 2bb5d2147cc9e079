// BenchCluster: the local cluster a benchmark of real processes runs on (failover_bench,
// backlog_bench). A cluster directory (tools/local_cluster.h: a coordinator group and `shards`
// shard groups of `replicas` replicas each, `txcoord` processes on 127.0.0.1 with the configs'
// default timeouts), optionally on a local etcd (tools/local_etcd.h) started first and stopped
// last, and the nodes this program started (its children, not detached).
//
// Destroying it is the benchmark's scope guard: it stops every node still running (SIGTERM, then
// SIGKILL), then etcd, and removes the directory unless `keep`. Not thread-safe: one thread
// starts, kills and stops nodes (others may only read group configurations).
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "client/client.h"
#include "common/status.h"
#include "tools/local_cluster.h"
#include "tools/local_etcd.h"

namespace txcoord::bench {

struct BenchClusterSpec {
  std::string name;  // the directory's prefix, "<name>-XXXXXX", and the program in messages
  int shards = 2;
  int replicas = 3;
  std::string config_master = "static";  // or "etcd"
  int etcd_members = 3;
  std::string txcoord;  // the txcoord binary
  bool keep = false;
};

class BenchCluster {
 public:
  // A new cluster in a fresh directory under `parent` (created if missing). `interrupted` is
  // asked while waiting (a SIGINT handler's flag).
  static Result<std::unique_ptr<BenchCluster>> Create(const std::string& parent,
                                                      const BenchClusterSpec& spec,
                                                      const std::atomic<bool>* interrupted);
  ~BenchCluster();
  BenchCluster(const BenchCluster&) = delete;
  BenchCluster& operator=(const BenchCluster&) = delete;

  const local::ClusterDir& dir() const { return dir_; }

  // Starts etcd (if any), then every node (all before any is waited for: a replica may need its
  // group to serve), each with the environment env_of(node) adds (null: none), and waits until
  // each accepts connections and every group has a serving primary.
  using EnvOf = std::function<std::map<std::string, std::string>(local::NodeId)>;
  Status StartAll(const EnvOf& env_of = nullptr);
  // SIGKILL and reap: true once the node is gone.
  bool Kill(local::NodeId node);
  // Starts a node that is not running on its data and waits until it accepts connections.
  Status Start(local::NodeId node);
  // The node the group's configuration names primary; NotFound while it names none.
  Result<local::NodeId> Primary(int group) const;
  // Waits (bounded) until the node is in its group's ISR (`in`) or out of it.
  bool WaitIsr(local::NodeId node, bool in, std::chrono::milliseconds timeout) const;
  // What a client needs: every coordinator replica's client address.
  client::ClientOptions ClientOptions() const;

 private:
  BenchCluster(local::ClusterDir dir, std::optional<local::LocalEtcd> etcd,
               const BenchClusterSpec& spec, const std::atomic<bool>* interrupted);
  // The status with the node's name and the last lines of its log.
  Status Annotate(const Status& s, local::NodeId node) const;
  bool interrupted() const { return interrupted_ != nullptr && interrupted_->load(); }

  local::ClusterDir dir_;
  std::optional<local::LocalEtcd> etcd_;
  BenchClusterSpec spec_;
  const std::atomic<bool>* interrupted_;
  std::map<local::NodeId, local::Process> processes_;  // started and not known to have exited
  std::vector<local::Process> etcd_processes_;
};

}  // namespace txcoord::bench
