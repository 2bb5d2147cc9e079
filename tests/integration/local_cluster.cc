#include "tests/integration/local_cluster.h"

#include <signal.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "common/check.h"

namespace txcoord::testing {

namespace {

// A new cluster directory under a fresh temporary directory, with free ports.
local::ClusterDir MakeClusterDir(const ClusterOptions& options) {
  std::string dir = (std::filesystem::temp_directory_path() / "txcoord-it-XXXXXX").string();
  TXC_CHECK(::mkdtemp(dir.data()) != nullptr);
  cluster::NodeConfig tunables;
  tunables.shard_map.partitioning = options.partitioning == "range" ? cluster::Partitioning::kRange
                                                                    : cluster::Partitioning::kHash;
  tunables.shard_map.split_keys = options.range_split_keys;
  tunables.tick_ms = options.tick_ms;
  tunables.vote_timeout_ms = options.vote_timeout_ms;
  tunables.client_timeout_ms = options.client_timeout_ms;
  tunables.idle_timeout_ms = options.idle_timeout_ms;
  tunables.retain_finished = options.retain_finished;
  tunables.max_frame_bytes = options.max_frame_bytes;
  Result<local::ClusterDir> created =
      local::ClusterDir::Create(dir, options.shards, /*base_port=*/0, tunables);
  TXC_CHECK_MSG(created.ok(), created.status().ToString().c_str());
  return std::move(created.value());
}

}  // namespace

const char* TxcoordBinary() { return TXCOORD_BINARY; }

LocalCluster::LocalCluster(ClusterOptions options) : cluster_(MakeClusterDir(options)) {}

LocalCluster::~LocalCluster() {
  for (auto& [node, process] : processes_) process.Kill();
  std::error_code ec;
  if (std::getenv("TXCOORD_KEEP_TEST_DIRS") == nullptr) std::filesystem::remove_all(dir(), ec);
}

Status LocalCluster::StartAll() {
  for (int node : cluster_.nodes()) {
    if (Status s = Start(node); !s.ok()) return s;
  }
  return Status::Ok();
}

Status LocalCluster::Start(int node, const std::map<std::string, std::string>& env) {
  TXC_CHECK(!processes_.count(node));
  Result<local::Process> started = cluster_.StartNode(node, TxcoordBinary(), env, false);
  if (!started.ok()) return started.status();
  local::Process& process = processes_.emplace(node, std::move(started.value())).first->second;
  Status serving = local::WaitServing(process, cluster_.address(node), local::kStartTimeout);
  if (!process.Running()) processes_.erase(node);
  return serving;
}

Status LocalCluster::Stop(int node) {
  auto it = processes_.find(node);
  if (it == processes_.end()) return Status::NotFound(local::NodeName(node) + " is not running");
  local::Process* process = &it->second;
  Result<int> stopped = local::StopAll({&process, 1}, local::kStopTimeout).front();
  processes_.erase(it);
  if (!stopped.ok()) return stopped.status();
  if (stopped.value() != 0) {
    return Status::Aborted(local::NodeName(node) + " exited with " +
                           std::to_string(stopped.value()));
  }
  return Status::Ok();
}

void LocalCluster::Kill(int node) {
  auto it = processes_.find(node);
  if (it == processes_.end()) return;
  TXC_CHECK_MSG(it->second.Kill(), "a node still runs 5 s after SIGKILL");
  processes_.erase(it);
}

std::optional<int> LocalCluster::WaitExit(int node, std::chrono::milliseconds timeout) {
  auto it = processes_.find(node);
  if (it == processes_.end()) return std::nullopt;
  std::optional<int> status = it->second.WaitExit(timeout);
  if (status) processes_.erase(it);
  return status;
}

bool LocalCluster::Running(int node) {
  auto it = processes_.find(node);
  if (it == processes_.end()) return false;
  if (it->second.Running()) return true;
  processes_.erase(it);
  return false;
}

std::string LocalCluster::Logs() const {
  std::ostringstream out;
  for (int node : cluster_.nodes()) {
    std::ifstream in(cluster_.LogPath(node));
    out << "---- " << local::NodeName(node) << " ----\n" << in.rdbuf() << "\n";
  }
  return out.str();
}

}  // namespace txcoord::testing
