#include "tools/local_etcd.h"

#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <thread>

#include <unistd.h>

#include "cluster/etcd_client.h"

namespace txcoord::local {

namespace {
constexpr char kMembersFile[] = "/etcd.members";

std::string Url(const cluster::Address& a) { return "http://" + a.ToString(); }
}  // namespace

Result<LocalEtcd> LocalEtcd::Create(const std::string& dir, int members,
                                    const std::vector<uint16_t>& ports) {
  if (members != 1 && members != 3 && members != 5) {
    return Status::InvalidArgument("an etcd cluster here has 1, 3 or 5 members, not " +
                                   std::to_string(members));
  }
  if (ports.size() != static_cast<size_t>(2 * members)) {
    return Status::InvalidArgument("etcd: " + std::to_string(ports.size()) + " ports for " +
                                   std::to_string(members) + " members");
  }
  const std::string abs = std::filesystem::absolute(dir).lexically_normal().string();
  std::error_code ec;
  std::filesystem::create_directories(abs, ec);
  if (ec) return Status::IoError(abs + ": cannot create: " + ec.message());
  std::vector<EtcdMember> list;
  for (int i = 0; i < members; ++i) {
    list.push_back({"etcd" + std::to_string(i),
                    {"127.0.0.1", ports[static_cast<size_t>(i)]},
                    {"127.0.0.1", ports[static_cast<size_t>(members + i)]}});
  }
  const std::string path = abs + kMembersFile;
  std::ofstream out(path);
  for (const EtcdMember& m : list) {
    out << m.name << " " << m.client.ToString() << " " << m.peer.ToString() << "\n";
  }
  out.close();
  if (!out) return Status::IoError(path + ": cannot write");
  return LocalEtcd(abs, std::move(list));
}

Result<LocalEtcd> LocalEtcd::Open(const std::string& dir) {
  const std::string abs = std::filesystem::absolute(dir).lexically_normal().string();
  const std::string path = abs + kMembersFile;
  std::ifstream in(path);
  if (!in) return Status::NotFound(path + ": no local etcd in this cluster");
  std::vector<EtcdMember> list;
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::string name, client, peer, extra;
    if (!(fields >> name >> client >> peer) || (fields >> extra) ||
        name != "etcd" + std::to_string(list.size())) {
      return Status::InvalidArgument(path + ": not a member line: '" + line + "'");
    }
    Result<cluster::Address> c = cluster::ParseAddress(client);
    Result<cluster::Address> p = cluster::ParseAddress(peer);
    if (!c.ok() || !p.ok()) return Status::InvalidArgument(path + ": bad address in '" + line + "'");
    list.push_back({name, c.value(), p.value()});
  }
  if (list.size() != 1 && list.size() != 3 && list.size() != 5) {
    return Status::InvalidArgument(path + ": " + std::to_string(list.size()) + " members");
  }
  return LocalEtcd(abs, std::move(list));
}

std::vector<cluster::Address> LocalEtcd::endpoints() const {
  std::vector<cluster::Address> out;
  for (const EtcdMember& m : members_) out.push_back(m.client);
  return out;
}

Result<std::string> LocalEtcd::Binary() {
  if (const char* env = std::getenv("TXCOORD_ETCD"); env != nullptr && *env != '\0') return std::string(env);
  const char* path = std::getenv("PATH");
  std::istringstream dirs(path == nullptr ? "/usr/bin:/bin" : path);
  std::string d;
  while (std::getline(dirs, d, ':')) {
    const std::filesystem::path candidate = std::filesystem::path(d.empty() ? "." : d) / "etcd";
    std::error_code ec;
    if (std::filesystem::is_regular_file(candidate, ec) && ::access(candidate.c_str(), X_OK) == 0) {
      return candidate.string();
    }
  }
  return Status::NotFound("etcd not found on PATH (Debian: apt-get install etcd-server)");
}

std::vector<std::string> LocalEtcd::Args(int i) const {
  std::string initial;
  for (const EtcdMember& m : members_) {
    initial += (initial.empty() ? "" : ",") + m.name + "=" + Url(m.peer);
  }
  const EtcdMember& m = member(i);
  return {"--name", m.name,
          "--data-dir", DataDir(i),
          "--listen-client-urls", Url(m.client),
          "--advertise-client-urls", Url(m.client),
          "--listen-peer-urls", Url(m.peer),
          "--initial-advertise-peer-urls", Url(m.peer),
          "--initial-cluster", initial,
          "--initial-cluster-state", "new",
          // One token per cluster directory: members of two local clusters never join up.
          "--initial-cluster-token", "txcoord-" + std::to_string(std::hash<std::string>{}(dir_)),
          "--logger", "zap",
          "--log-level", "warn"};
}

Result<Process> LocalEtcd::Start(int i, bool detach) const {
  Result<std::string> binary = Binary();
  if (!binary.ok()) return binary.status();
  SpawnOptions options;
  options.name = member(i).name;
  options.argv = {binary.value()};
  for (std::string& a : Args(i)) options.argv.push_back(std::move(a));
  options.log_path = LogPath(i);
  options.detach = detach;
  return Process::Spawn(options);
}

Result<std::optional<Process>> LocalEtcd::Find(int i, pid_t pid) const {
  return Process::Find(pid, Args(i), member(i).name);
}

Status LocalEtcd::WaitReady(std::chrono::milliseconds timeout) const {
  cluster::EtcdClientOptions options;
  options.endpoints = endpoints();
  cluster::EtcdClient client(options);
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  std::string last = "not asked";
  while (std::chrono::steady_clock::now() < deadline) {
    Result<cluster::EtcdRange> r = client.Range("/txcoord-ready-probe");
    if (r.ok()) return Status::Ok();
    last = r.status().ToString();
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return Status::Timeout("etcd at " + dir_ + " not ready: " + last);
}

Result<int> LocalEtcd::Leader() const {
  cluster::EtcdClientOptions options;
  options.endpoints = endpoints();
  cluster::EtcdClient client(options);
  std::map<uint64_t, int> member_index;  // etcd member id -> our index
  std::map<uint64_t, int> votes;         // leader id -> members naming it
  int answered = 0;
  for (int i = 0; i < size(); ++i) {
    Result<cluster::EtcdMemberStatus> s = client.MemberStatus(member(i).client);
    if (!s.ok()) continue;
    ++answered;
    member_index[s.value().member_id] = i;
    if (s.value().leader != 0) ++votes[s.value().leader];
  }
  for (const auto& [leader, count] : votes) {
    if (2 * count > answered && member_index.count(leader) != 0) return member_index[leader];
  }
  return Status::NotFound("no etcd leader agreed on (" + std::to_string(answered) + " of " +
                          std::to_string(size()) + " members answered)");
}

}  // namespace txcoord::local
