#include "tests/integration/local_cluster.h"

#include <signal.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "common/check.h"

namespace txcoord::testing {

namespace {

// A new cluster directory under a fresh temporary directory, with free ports, and with
// options.etcd_members > 0 a local etcd laid out in it (*etcd).
local::ClusterDir MakeClusterDir(const ClusterOptions& options,
                                 std::optional<local::LocalEtcd>* etcd) {
  std::string dir = (std::filesystem::temp_directory_path() / "txcoord-it-XXXXXX").string();
  TXC_CHECK(::mkdtemp(dir.data()) != nullptr);
  cluster::NodeConfig tunables;
  std::vector<uint16_t> etcd_ports;  // the nodes' ports must not be these
  if (options.etcd_members > 0) {
    Result<std::vector<uint16_t>> ports = local::PickFreePorts(2 * options.etcd_members);
    TXC_CHECK_MSG(ports.ok(), ports.status().ToString().c_str());
    etcd_ports = ports.value();
    Result<local::LocalEtcd> created = local::LocalEtcd::Create(dir, options.etcd_members,
                                                                ports.value());
    TXC_CHECK_MSG(created.ok(), created.status().ToString().c_str());
    etcd->emplace(std::move(created.value()));
    tunables.config_master = "etcd";
    tunables.etcd_endpoints = (*etcd)->endpoints();
  }
  tunables.shard_map.partitioning = options.partitioning == "range" ? cluster::Partitioning::kRange
                                                                    : cluster::Partitioning::kHash;
  tunables.shard_map.split_keys = options.range_split_keys;
  tunables.tick_ms = options.tick_ms;
  tunables.vote_timeout_ms = options.vote_timeout_ms;
  tunables.client_timeout_ms = options.client_timeout_ms;
  tunables.idle_timeout_ms = options.idle_timeout_ms;
  tunables.retain_finished = options.retain_finished;
  tunables.log_truncate_records = options.log_truncate_records;
  tunables.log_retain_lagging_records = options.log_retain_lagging_records;
  tunables.max_frame_bytes = options.max_frame_bytes;
  tunables.min_insync = options.min_insync;
  tunables.heartbeat_ms = options.heartbeat_ms;
  tunables.lag_timeout_ms = options.lag_timeout_ms;
  tunables.lease_ms = options.lease_ms;
  tunables.grace_ms = options.grace_ms;
  Result<local::ClusterDir> created =
      local::ClusterDir::Create(dir, options.shards, /*base_port=*/0, tunables, options.replicas,
                                etcd_ports);
  TXC_CHECK_MSG(created.ok(), created.status().ToString().c_str());
  return std::move(created.value());
}

}  // namespace

const char* TxcoordBinary() { return TXCOORD_BINARY; }

LocalCluster::LocalCluster(ClusterOptions options) : cluster_(MakeClusterDir(options, &etcd_)) {}

LocalCluster::~LocalCluster() {
  for (auto& [node, process] : processes_) process.Kill();
  for (auto& [i, process] : etcd_processes_) {
    (void)process.Signal(SIGCONT);  // a stopped member dies of SIGKILL too, but say it
    process.Kill();
  }
  std::error_code ec;
  if (std::getenv("TXCOORD_KEEP_TEST_DIRS") == nullptr) std::filesystem::remove_all(dir(), ec);
}

Status LocalCluster::StartAll(const std::map<NodeId, std::map<std::string, std::string>>& env) {
  if (etcd_) {
    for (int i = 0; i < etcd_->size(); ++i) {
      if (etcd_processes_.count(i)) continue;
      Result<local::Process> spawned = etcd_->Start(i, /*detach=*/false);
      if (!spawned.ok()) return spawned.status();
      etcd_processes_.emplace(i, std::move(spawned.value()));
    }
    if (Status s = etcd_->WaitReady(local::kStartTimeout); !s.ok()) return s;
  }
  std::vector<NodeId> started;
  for (const NodeId node : cluster_.nodes()) {
    if (processes_.count(node)) continue;
    auto node_env = env.find(node);
    Result<local::Process> spawned = cluster_.StartNode(
        node, TxcoordBinary(), node_env == env.end() ? std::map<std::string, std::string>{}
                                                     : node_env->second,
        false);
    if (!spawned.ok()) return spawned.status();
    processes_.emplace(node, std::move(spawned.value()));
    started.push_back(node);
  }
  Status result = Status::Ok();
  for (const NodeId node : started) {
    local::Process& process = processes_.at(node);
    Status serving = local::WaitServing(process, cluster_.address(node), local::kStartTimeout);
    if (!process.Running()) processes_.erase(node);
    if (result.ok() && !serving.ok()) result = serving;
  }
  if (!result.ok()) return result;
  // Accepting connections is not serving: each group elects (or re-confirms) its primary first.
  return local::WaitGroupsServing(cluster_, cluster_.groups(), local::kStartTimeout);
}

Status LocalCluster::Start(NodeId node, const std::map<std::string, std::string>& env) {
  TXC_CHECK(!processes_.count(node));
  Result<local::Process> started = cluster_.StartNode(node, TxcoordBinary(), env, false);
  if (!started.ok()) return started.status();
  local::Process& process = processes_.emplace(node, std::move(started.value())).first->second;
  Status serving = local::WaitServing(process, cluster_.address(node), local::kStartTimeout);
  if (serving.ok()) {
    // Its group serves again (a lone replica is its group: it serves once it is primary).
    serving = local::WaitGroupsServing(cluster_, {node.group}, local::kStartTimeout,
                                       [&process] { return !process.Running(); });
  }
  if (!process.Running()) processes_.erase(node);
  return serving;
}

Status LocalCluster::Stop(NodeId node) {
  auto it = processes_.find(node);
  if (it == processes_.end()) return Status::NotFound(cluster_.Name(node) + " is not running");
  local::Process* process = &it->second;
  Result<int> stopped = local::StopAll({&process, 1}, local::kStopTimeout).front();
  processes_.erase(it);
  if (!stopped.ok()) return stopped.status();
  if (stopped.value() != 0) {
    return Status::Aborted(cluster_.Name(node) + " exited with " + std::to_string(stopped.value()));
  }
  return Status::Ok();
}

void LocalCluster::Kill(NodeId node) {
  auto it = processes_.find(node);
  if (it == processes_.end()) return;
  TXC_CHECK_MSG(it->second.Kill(), "a node still runs 5 s after SIGKILL");
  processes_.erase(it);
}

Status LocalCluster::Restart(NodeId node, const std::map<std::string, std::string>& env) {
  if (Running(node)) {
    if (Status s = Stop(node); !s.ok()) return s;
  }
  return Start(node, env);
}

std::optional<int> LocalCluster::WaitExit(NodeId node, std::chrono::milliseconds timeout) {
  auto it = processes_.find(node);
  if (it == processes_.end()) return std::nullopt;
  std::optional<int> status = it->second.WaitExit(timeout);
  if (status) processes_.erase(it);
  return status;
}

bool LocalCluster::Running(NodeId node) {
  auto it = processes_.find(node);
  if (it == processes_.end()) return false;
  if (it->second.Running()) return true;
  processes_.erase(it);
  return false;
}

pid_t LocalCluster::pid(NodeId node) const {
  auto it = processes_.find(node);
  return it == processes_.end() ? -1 : it->second.pid();
}

Result<LocalCluster::NodeId> LocalCluster::Primary(int group) const {
  Result<replication::GroupConfig> config = ReadGroup(group);
  if (!config.ok()) return config.status();
  const int primary = config.value().primary;
  if (primary < 0 || primary >= replicas()) {
    return Status::NotFound(local::GroupName(group) + " has no primary (" +
                            replication::Describe(config.value()) + ")");
  }
  return NodeId(group, primary);
}

std::string LocalCluster::Logs() const {
  std::ostringstream out;
  for (const NodeId node : cluster_.nodes()) {
    std::ifstream in(cluster_.LogPath(node));
    out << "---- " << cluster_.Name(node) << " ----\n" << in.rdbuf() << "\n";
  }
  for (int i = 0; etcd_ && i < etcd_->size(); ++i) {
    out << "---- " << etcd_->member(i).name << " (last lines) ----\n"
        << local::LogTail(etcd_->LogPath(i), 0, 20) << "\n";
  }
  return out.str();
}

Status LocalCluster::StartEtcd(int i) {
  TXC_CHECK(etcd_ && !etcd_processes_.count(i));
  Result<local::Process> spawned = etcd_->Start(i, /*detach=*/false);
  if (!spawned.ok()) return spawned.status();
  local::Process& process = etcd_processes_.emplace(i, std::move(spawned.value())).first->second;
  Status serving = local::WaitServing(process, etcd_->member(i).client, local::kStartTimeout);
  if (!process.Running()) etcd_processes_.erase(i);
  return serving;
}

void LocalCluster::KillEtcd(int i) {
  auto it = etcd_processes_.find(i);
  if (it == etcd_processes_.end()) return;
  TXC_CHECK_MSG(it->second.Kill(), "an etcd member still runs 5 s after SIGKILL");
  etcd_processes_.erase(it);
}

void LocalCluster::SignalEtcd(int i, int signal) {
  auto it = etcd_processes_.find(i);
  TXC_CHECK_MSG(it != etcd_processes_.end(), "signalling an etcd member that does not run");
  TXC_CHECK(it->second.Signal(signal).ok());
}

}  // namespace txcoord::testing
