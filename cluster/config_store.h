// The configuration master's interface (DESIGN.md section 5): every replica group's configuration
// {version, epoch, primary, members, isr}, read by anyone and changed only by compare-and-swap on
// its version. The replication core asks for changes (ReplicaReady::propose); a driver carries
// them here and brings the answer back (ReplicaCore::OnProposed / OnConfig).
//
// Two backends behind this one interface: FileConfigStore (`static`, below: one file in the
// cluster directory, CAS under a file lock, one machine) and, in a later issue, etcd (a txn on
// mod_revision). Safety never rests on the store alone: the epoch a change bumps is checked at
// every replica and shard.
//
// Errors are values: an unreachable or unreadable store is IoError (the caller retries later; a
// replica that cannot reach the store simply makes no change), a malformed one Corruption.
#pragma once

#include <map>
#include <string>

#include "common/status.h"
#include "replication/core/replica_core.h"

namespace txcoord::cluster {

struct CasResult {
  bool swapped = false;              // the change was made
  replication::GroupConfig current;  // the stored value after the call, either way
};

class ConfigStore {
 public:
  virtual ~ConfigStore() = default;
  // The configuration of `group`; NotFound when the store has none.
  virtual Result<replication::GroupConfig> Read(const std::string& group) = 0;
  // Every group's configuration, by group name (what a node polls: its own group's and the
  // primaries of the others).
  virtual Result<std::map<std::string, replication::GroupConfig>> ReadAll() = 0;
  // Stores `next` if the stored version is next.version - 1 (to create a group: none is stored
  // and next.version is 1). REQUIRES: next is well formed (see Validate).
  virtual Result<CasResult> CompareAndSwap(const std::string& group,
                                           const replication::GroupConfig& next) = 0;
};

// A configuration the stores accept: version >= 1, epoch >= 1, members sorted and distinct, the
// ISR a non-empty subset of the members holding the primary. InvalidArgument naming the field.
Status Validate(const replication::GroupConfig& config);

// The `static` backend: every group in one YAML file (`path`), changed under an exclusive flock
// on `path` + ".lock" by writing a temporary file, syncing it and renaming it over the old one
// (then syncing the directory), so a reader sees the old file or the new one, never a torn one,
// and a crash loses no change that was answered. Many processes on one machine may share it. A
// compare-and-swap waits at most 1 s for the lock (then IoError): a process stopped while it
// holds the lock blocks every change until it resumes (a limit of this one-machine backend; the
// etcd one has no lock).
class FileConfigStore : public ConfigStore {
 public:
  explicit FileConfigStore(std::string path);
  Result<replication::GroupConfig> Read(const std::string& group) override;
  // Parses the file only when it changed since the last ReadAll (another inode, size or mtime:
  // every change is a rename of a new file), so that nodes polling it parse it only on changes.
  Result<std::map<std::string, replication::GroupConfig>> ReadAll() override;
  Result<CasResult> CompareAndSwap(const std::string& group,
                                   const replication::GroupConfig& next) override;
  const std::string& path() const { return path_; }

 private:
  // Every group in the file (empty when there is no file yet).
  Result<std::map<std::string, replication::GroupConfig>> Load() const;
  Status Store(const std::map<std::string, replication::GroupConfig>& groups) const;

  std::string path_;
  // ReadAll's last parse and the file it came from.
  struct Seen {
    uint64_t inode = 0, size = 0;
    int64_t mtime_ns = -1;
    bool operator==(const Seen&) const = default;
  };
  Seen seen_;
  std::map<std::string, replication::GroupConfig> last_;
};

}  // namespace txcoord::cluster
