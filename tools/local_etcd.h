// A local etcd cluster for a local txcoord cluster on etcd (`txcoord local up --config-master
// etcd`, and the integration tests): 1, 3 or 5 etcd members on 127.0.0.1, each a real `etcd`
// process (Debian's etcd-server) with its data under the cluster directory:
//   DIR/etcd.members   one line per member: NAME CLIENT_ADDRESS PEER_ADDRESS (written once)
//   DIR/NAME/          its data directory (NAME: etcd0, etcd1, ...)
//   DIR/NAME.log       its output
//   DIR/NAME.pid       its pid while `txcoord local` runs it
// The members form one cluster from their first start (--initial-cluster of all of them); they
// use etcd's default timing (heartbeat 100 ms, election 1 s), so what the tests and benchmarks
// measure is what a user's etcd would give.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "cluster/address.h"
#include "common/status.h"
#include "tools/local_cluster.h"

namespace txcoord::local {

struct EtcdMember {
  std::string name;        // etcd0, etcd1, ...
  cluster::Address client;  // its client URL's address (the v3 JSON gateway too)
  cluster::Address peer;
};

class LocalEtcd {
 public:
  // Lays out `members` members (1, 3 or 5) in `dir` (created if missing) on `ports` (2 per
  // member: the clients', then the peers'; REQUIRES: ports.size() == 2 * members) and writes
  // DIR/etcd.members. InvalidArgument for another count; IoError when it cannot be written.
  static Result<LocalEtcd> Create(const std::string& dir, int members,
                                  const std::vector<uint16_t>& ports);
  // What Create wrote in `dir`: NotFound when there is no DIR/etcd.members; InvalidArgument when
  // it does not parse.
  static Result<LocalEtcd> Open(const std::string& dir);

  int size() const { return static_cast<int>(members_.size()); }
  const EtcdMember& member(int i) const { return members_.at(static_cast<size_t>(i)); }
  std::vector<cluster::Address> endpoints() const;  // every member's client address
  std::string DataDir(int i) const { return dir_ + "/" + member(i).name; }
  std::string LogPath(int i) const { return dir_ + "/" + member(i).name + ".log"; }
  std::string PidPath(int i) const { return dir_ + "/" + member(i).name + ".pid"; }

  // The etcd program: $TXCOORD_ETCD when set, else `etcd` found on PATH. NotFound saying which
  // Debian package to install otherwise.
  static Result<std::string> Binary();
  // Member i's command-line arguments after the program.
  std::vector<std::string> Args(int i) const;
  // Spawns member i (its log at LogPath). Returns at once; see WaitReady.
  Result<Process> Start(int i, bool detach) const;
  // Member i's process if `pid` still runs it.
  Result<std::optional<Process>> Find(int i, pid_t pid) const;

  // Waits until the cluster answers a linearizable read through any member (it has a leader).
  // Timeout naming the last reason otherwise.
  Status WaitReady(std::chrono::milliseconds timeout) const;
  // The member that leads now, as the members that answer say (a majority of the answers
  // naming one member); NotFound when none is agreed on.
  Result<int> Leader() const;

 private:
  LocalEtcd(std::string dir, std::vector<EtcdMember> members)
      : dir_(std::move(dir)), members_(std::move(members)) {}
  std::string dir_;
  std::vector<EtcdMember> members_;
};

}  // namespace txcoord::local
