#include "bench/bench_cluster.h"

#include <stdlib.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <thread>
#include <utility>

#include "common/check.h"

namespace txcoord::bench {

using local::NodeId;

Result<std::unique_ptr<BenchCluster>> BenchCluster::Create(const std::string& parent,
                                                           const BenchClusterSpec& spec,
                                                           const std::atomic<bool>* interrupted) {
  std::error_code ec;
  std::filesystem::create_directories(parent, ec);
  std::string dir = (std::filesystem::path(parent) / (spec.name + "-XXXXXX")).string();
  if (::mkdtemp(dir.data()) == nullptr) {
    return Status::IoError("cannot make a directory under " + parent + ": " +
                           std::strerror(errno));
  }
  cluster::NodeConfig tunables;
  std::optional<local::LocalEtcd> etcd;
  std::vector<uint16_t> etcd_ports;  // the nodes' ports must not be these
  if (spec.config_master == "etcd") {
    Result<std::vector<uint16_t>> ports = local::PickFreePorts(2 * spec.etcd_members);
    if (!ports.ok()) return ports.status();
    etcd_ports = ports.value();
    Result<local::LocalEtcd> made = local::LocalEtcd::Create(dir, spec.etcd_members, etcd_ports);
    if (!made.ok()) return made.status();
    etcd.emplace(std::move(made.value()));
    tunables.config_master = "etcd";
    tunables.etcd_endpoints = etcd->endpoints();
  }
  Result<local::ClusterDir> created = local::ClusterDir::Create(
      dir, spec.shards, /*base_port=*/0, tunables, spec.replicas, etcd_ports);
  if (!created.ok()) {
    std::filesystem::remove_all(dir, ec);
    return created.status();
  }
  return std::unique_ptr<BenchCluster>(
      new BenchCluster(std::move(created.value()), std::move(etcd), spec, interrupted));
}

BenchCluster::BenchCluster(local::ClusterDir dir, std::optional<local::LocalEtcd> etcd,
                           const BenchClusterSpec& spec, const std::atomic<bool>* interrupted)
    : dir_(std::move(dir)), etcd_(std::move(etcd)), spec_(spec), interrupted_(interrupted) {}

BenchCluster::~BenchCluster() {
  std::vector<local::Process*> running;
  for (auto& [node, process] : processes_) running.push_back(&process);
  std::vector<Result<int>> stopped = local::StopAll(running, local::kStopTimeout);
  std::vector<local::Process*> etcd_running;
  for (local::Process& p : etcd_processes_) etcd_running.push_back(&p);
  for (Result<int>& r : local::StopAll(etcd_running, local::kStopTimeout)) {
    stopped.push_back(std::move(r));
  }
  for (const Result<int>& r : stopped) {
    if (!r.ok()) std::cerr << spec_.name << ": stopping: " << r.status().ToString() << "\n";
  }
  processes_.clear();
  etcd_processes_.clear();
  if (spec_.keep) {
    std::cout << "kept " << dir_.dir() << "\n";
  } else {
    std::error_code ec;
    std::filesystem::remove_all(dir_.dir(), ec);
  }
}

Status BenchCluster::StartAll(const EnvOf& env_of) {
  const auto cancelled = [this] { return interrupted(); };
  if (etcd_) {
    for (int i = 0; i < etcd_->size(); ++i) {
      Result<local::Process> spawned = etcd_->Start(i, /*detach=*/false);
      if (!spawned.ok()) return spawned.status();
      etcd_processes_.push_back(std::move(spawned.value()));
    }
    if (Status s = etcd_->WaitReady(local::kStartTimeout); !s.ok()) return s;
  }
  for (const NodeId node : dir_.nodes()) {
    const std::map<std::string, std::string> env =
        env_of ? env_of(node) : std::map<std::string, std::string>{};
    Result<local::Process> spawned = dir_.StartNode(node, spec_.txcoord, env, /*detach=*/false);
    if (!spawned.ok()) return spawned.status();
    processes_.emplace(node, std::move(spawned.value()));
  }
  for (const NodeId node : dir_.nodes()) {
    Status s = local::WaitServing(processes_.at(node), dir_.address(node), local::kStartTimeout,
                                  cancelled);
    if (!s.ok()) return Annotate(s, node);
  }
  return local::WaitGroupsServing(dir_, dir_.groups(), local::kStartTimeout, cancelled);
}

bool BenchCluster::Kill(NodeId node) {
  auto it = processes_.find(node);
  if (it == processes_.end()) return true;
  if (!it->second.Kill()) return false;
  processes_.erase(it);
  return true;
}

Status BenchCluster::Start(NodeId node) {
  TXC_CHECK(!processes_.count(node));
  Result<local::Process> spawned = dir_.StartNode(node, spec_.txcoord, {}, /*detach=*/false);
  if (!spawned.ok()) return spawned.status();
  local::Process& process = processes_.emplace(node, std::move(spawned.value())).first->second;
  Status s = local::WaitServing(process, dir_.address(node), local::kStartTimeout,
                                [this] { return interrupted(); });
  if (!process.Running()) processes_.erase(node);
  return s.ok() ? s : Annotate(s, node);
}

Result<NodeId> BenchCluster::Primary(int group) const {
  Result<replication::GroupConfig> config = dir_.ReadGroup(group);
  if (!config.ok()) return config.status();
  const int primary = config.value().primary;
  if (primary < 0 || primary >= dir_.replicas()) {
    return Status::NotFound(local::GroupName(group) + " has no primary (" +
                            replication::Describe(config.value()) + ")");
  }
  return NodeId(group, primary);
}

bool BenchCluster::WaitIsr(NodeId node, bool in, std::chrono::milliseconds timeout) const {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline && !interrupted()) {
    Result<replication::GroupConfig> g = dir_.ReadGroup(node.group);
    if (g.ok() && g.value().InIsr(node.replica) == in) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

client::ClientOptions BenchCluster::ClientOptions() const {
  client::ClientOptions options;
  for (const cluster::Address& a : dir_.config(local::kCoordinator).coordinators) {
    options.coordinators.push_back(a.ToString());
  }
  return options;
}

Status BenchCluster::Annotate(const Status& s, NodeId node) const {
  return Status::Unavailable(dir_.Name(node) + ": " + s.ToString() + "\n" +
                             local::LogTail(dir_.LogPath(node), 0, 20));
}

}  // namespace txcoord::bench
