#include "cluster/config_store.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/file.h>
#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <chrono>
#include <thread>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "common/fd.h"

namespace txcoord::cluster {
namespace {

using replication::DiskId;
using replication::GroupConfig;
using replication::ReplicaId;

std::string Errno(int e) { return std::strerror(e); }

// How long a compare-and-swap waits for the file lock before it fails (IoError: the caller
// tries again later, as when any store cannot answer).
constexpr std::chrono::milliseconds kLockWait{1000};

Status WriteAll(int fd, const std::string& bytes) {
  size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return Status::IoError("write: " + Errno(errno));
    done += static_cast<size_t>(n);
  }
  return Status::Ok();
}

std::string Format(const std::map<std::string, GroupConfig>& groups) {
  YAML::Emitter out;
  out << YAML::Comment(
      "txcoord replica-group configurations (cluster/config_store.h): changed only by\n"
      "compare-and-swap on `version`; do not edit while the cluster runs");
  out << YAML::BeginMap << YAML::Key << "groups" << YAML::Value << YAML::BeginMap;
  for (const auto& [name, c] : groups) {
    out << YAML::Key << name << YAML::Value << YAML::BeginMap;
    out << YAML::Key << "version" << YAML::Value << c.version;
    out << YAML::Key << "epoch" << YAML::Value << c.epoch;
    out << YAML::Key << "primary" << YAML::Value << c.primary;
    out << YAML::Key << "members" << YAML::Value << YAML::Flow << c.members;
    out << YAML::Key << "isr" << YAML::Value << YAML::Flow << YAML::BeginMap;
    for (const auto& [id, disk] : c.isr) out << YAML::Key << id << YAML::Value << disk;
    out << YAML::EndMap;
    out << YAML::EndMap;
  }
  out << YAML::EndMap << YAML::EndMap;
  return std::string(out.c_str()) + "\n";
}

template <typename T>
Status Get(const YAML::Node& node, const std::string& where, T* out) {
  try {
    *out = node.as<T>();
    return Status::Ok();
  } catch (const YAML::Exception&) {
    return Status::Corruption(where + ": expected an integer");
  }
}

Result<GroupConfig> ParseGroup(const YAML::Node& node, const std::string& where) {
  if (!node.IsMap()) return Status::Corruption(where + ": expected a mapping");
  GroupConfig c;
  for (const auto& field : node) {
    const std::string key = field.first.as<std::string>();
    const std::string at = where + "." + key;
    Status s;
    if (key == "version") {
      s = Get(field.second, at, &c.version);
    } else if (key == "epoch") {
      s = Get(field.second, at, &c.epoch);
    } else if (key == "primary") {
      s = Get(field.second, at, &c.primary);
    } else if (key == "members") {
      if (!field.second.IsSequence()) return Status::Corruption(at + ": expected a sequence");
      for (const auto& m : field.second) {
        ReplicaId id = 0;
        if (s = Get(m, at, &id); !s.ok()) return s;
        c.members.push_back(id);
      }
    } else if (key == "isr") {
      if (!field.second.IsMap()) return Status::Corruption(at + ": expected a mapping");
      for (const auto& e : field.second) {
        ReplicaId id = 0;
        DiskId disk = 0;
        if (s = Get(e.first, at, &id); !s.ok()) return s;
        if (s = Get(e.second, at, &disk); !s.ok()) return s;
        c.isr[id] = disk;
      }
    } else {
      return Status::Corruption(at + ": unknown field");
    }
    if (!s.ok()) return s;
  }
  if (Status s = Validate(c); !s.ok()) return Status::Corruption(where + ": " + s.message());
  return c;
}

}  // namespace

Status Validate(const GroupConfig& c) {
  if (c.version < 1) return Status::InvalidArgument("version: must be at least 1");
  if (c.epoch < 1) return Status::InvalidArgument("epoch: must be at least 1");
  if (c.members.empty()) return Status::InvalidArgument("members: empty");
  for (size_t i = 1; i < c.members.size(); ++i) {
    if (c.members[i] <= c.members[i - 1]) {
      return Status::InvalidArgument("members: not sorted and distinct");
    }
  }
  if (c.isr.empty()) return Status::InvalidArgument("isr: empty");
  for (const auto& [id, disk] : c.isr) {
    if (!c.IsMember(id)) {
      return Status::InvalidArgument("isr: " + std::to_string(id) + " is not a member");
    }
  }
  if (!c.InIsr(c.primary)) {
    return Status::InvalidArgument("primary: " + std::to_string(c.primary) + " is not in the isr");
  }
  return Status::Ok();
}

FileConfigStore::FileConfigStore(std::string path) : path_(std::move(path)) {}

Result<std::map<std::string, GroupConfig>> FileConfigStore::Load() const {
  std::map<std::string, GroupConfig> groups;
  std::error_code ec;
  if (!std::filesystem::exists(path_, ec)) {
    if (ec) return Status::IoError(path_ + ": " + ec.message());
    return groups;  // no group configured yet
  }
  std::ifstream in(path_);
  if (!in) return Status::IoError(path_ + ": cannot read: " + Errno(errno));
  std::stringstream text;
  text << in.rdbuf();
  YAML::Node root;
  try {
    root = YAML::Load(text.str());
  } catch (const YAML::Exception& e) {
    return Status::Corruption(path_ + ": " + e.what());
  }
  if (!root.IsMap() || !root["groups"] || !root["groups"].IsMap()) {
    return Status::Corruption(path_ + ": expected a mapping with `groups`");
  }
  for (const auto& g : root["groups"]) {
    const std::string name = g.first.as<std::string>();
    Result<GroupConfig> c = ParseGroup(g.second, path_ + ": groups." + name);
    if (!c.ok()) return c.status();
    groups[name] = c.value();
  }
  return groups;
}

Status FileConfigStore::Store(const std::map<std::string, GroupConfig>& groups) const {
  const std::string tmp = path_ + ".tmp";
  {
    const Fd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
    if (fd.get() < 0) return Status::IoError(tmp + ": cannot create: " + Errno(errno));
    if (Status s = WriteAll(fd.get(), Format(groups)); !s.ok()) return s;
    if (::fsync(fd.get()) != 0) return Status::IoError(tmp + ": fsync: " + Errno(errno));
  }
  if (::rename(tmp.c_str(), path_.c_str()) != 0) {
    return Status::IoError(path_ + ": rename: " + Errno(errno));
  }
  const std::string dir = std::filesystem::path(path_).parent_path().string();
  const Fd dfd(::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (dfd.get() < 0 || ::fsync(dfd.get()) != 0) {
    return Status::IoError(dir + ": fsync: " + Errno(errno));
  }
  return Status::Ok();
}

Result<std::map<std::string, GroupConfig>> FileConfigStore::ReadAll() {
  struct stat st {};
  if (::stat(path_.c_str(), &st) != 0) {
    if (errno != ENOENT) return Status::IoError(path_ + ": stat: " + Errno(errno));
    seen_ = Seen{};
    last_.clear();
    return last_;  // no group configured yet
  }
  const Seen now{static_cast<uint64_t>(st.st_ino), static_cast<uint64_t>(st.st_size),
                 static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec};
  if (now == seen_) return last_;
  Result<std::map<std::string, GroupConfig>> groups = Load();
  if (!groups.ok()) return groups.status();
  seen_ = now;
  last_ = groups.value();
  return groups;
}

Result<GroupConfig> FileConfigStore::Read(const std::string& group) {
  // The file is replaced by rename: a read sees a whole old or a whole new file, no lock needed.
  Result<std::map<std::string, GroupConfig>> groups = Load();
  if (!groups.ok()) return groups.status();
  auto it = groups.value().find(group);
  if (it == groups.value().end()) return Status::NotFound("no configuration for " + group);
  return it->second;
}

Result<CasResult> FileConfigStore::CompareAndSwap(const std::string& group,
                                                  const GroupConfig& next) {
  if (Status s = Validate(next); !s.ok()) return s;
  const std::string lock_path = path_ + ".lock";
  const Fd lock(::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644));
  if (lock.get() < 0) return Status::IoError(lock_path + ": cannot open: " + Errno(errno));
  // Bounded: a process stopped (SIGSTOP, a debugger) while it holds the lock would otherwise
  // hang every other node's store thread, reads included, until it resumes.
  const auto give_up = std::chrono::steady_clock::now() + kLockWait;
  while (::flock(lock.get(), LOCK_EX | LOCK_NB) != 0) {
    if (errno != EWOULDBLOCK && errno != EINTR) {
      return Status::IoError(lock_path + ": flock: " + Errno(errno));
    }
    if (std::chrono::steady_clock::now() >= give_up) {
      return Status::IoError(lock_path + ": held by another process for " +
                             std::to_string(kLockWait.count()) +
                             " ms (a node stopped while changing a configuration?)");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  // Released when `lock` closes.
  Result<std::map<std::string, GroupConfig>> loaded = Load();
  if (!loaded.ok()) return loaded.status();
  std::map<std::string, GroupConfig>& groups = loaded.value();
  auto it = groups.find(group);
  const uint64_t stored = it == groups.end() ? 0 : it->second.version;
  CasResult result;
  if (stored + 1 != next.version) {
    if (it != groups.end()) result.current = it->second;
    return result;
  }
  groups[group] = next;
  if (Status s = Store(groups); !s.ok()) return s;
  result.swapped = true;
  result.current = next;
  return result;
}

}  // namespace txcoord::cluster
