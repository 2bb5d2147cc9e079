// The `etcd` configuration master (DESIGN.md section 5): ConfigStore on an etcd cluster, for
// clusters across machines. Consensus lives in etcd; data never flows through it, and nothing on
// the commit path waits for it.
//
// Everything is under one key prefix (`etcd_prefix` of the node config, "/txcoord/" by default),
// so several txcoord clusters can share one etcd:
//   PREFIX layout                 the cluster's layout (ClusterLayout in config_master.h): the
//                                 shard map with its version and every replica's addresses,
//                                 created by the first node to start; a node whose config
//                                 describes another cluster refuses to join
//   PREFIX groups/GROUP           a group's configuration {version, epoch, primary, members,
//                                 isr} as JSON; every change is one etcd txn comparing the key's
//                                 mod_revision (create_revision 0 to create it)
//   PREFIX members/GROUP/REPLICA  a live node's registration (its addresses, disk, pid) under a
//                                 lease: it disappears a TTL after the node stops renewing it
//
// Safety never rests on etcd alone, and never on an etcd lock or lease (Jepsen's etcd 3.4.3
// analysis): the epoch a change bumps is checked at every replica and shard. Leases only say
// who is alive, for operators; failure detection is the group's own heartbeats.
//
// Errors as ConfigStore's: an unreachable etcd is Unavailable (the caller retries later), a write
// whose answer was lost is Unavailable "outcome unknown" (a later read tells), a stored value
// that does not parse is Corruption naming the key.
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include "cluster/config_store.h"
#include "cluster/etcd_client.h"

namespace txcoord::cluster {

// A group configuration as the JSON the store keeps, and back (strict: exactly the fields,
// integers of the right range, then Validate). Corruption naming `where` otherwise.
std::string GroupConfigToJson(const replication::GroupConfig& config);
Result<replication::GroupConfig> GroupConfigFromJson(const std::string& text,
                                                     const std::string& where);

class EtcdConfigStore : public ConfigStore {
 public:
  // REQUIRES: prefix non-empty, ending in '/'.
  EtcdConfigStore(EtcdClientOptions client, std::string prefix);

  Result<replication::GroupConfig> Read(const std::string& group) override;
  Result<std::map<std::string, replication::GroupConfig>> ReadAll() override;
  Result<CasResult> CompareAndSwap(const std::string& group,
                                   const replication::GroupConfig& next) override;

  // Stores `layout` as the cluster's if none is stored yet; either way the stored one.
  Result<std::string> CreateOrReadLayout(const std::string& layout);

  // Keeps `value` registered under members/`member` with a lease of `ttl_seconds`: the first
  // call (and any after the lease expired or the value changed) grants a lease and puts the key;
  // the others renew the lease. Call it more often than the TTL.
  Status KeepRegistered(const std::string& member, const std::string& value,
                        int64_t ttl_seconds);
  // Gives the lease up (the registration goes at once). Best effort.
  void Deregister();
  // Every live registration: member (GROUP/REPLICA) -> value.
  Result<std::map<std::string, std::string>> Members();

  const std::string& prefix() const { return prefix_; }
  EtcdClient& client() { return client_; }

 private:
  std::string GroupKey(const std::string& group) const { return prefix_ + "groups/" + group; }
  // Parses a stored group and remembers its version and mod_revision (the next CAS's compare).
  Result<replication::GroupConfig> Parse(const EtcdKv& kv, const std::string& group);

  EtcdClient client_;
  std::string prefix_;
  struct Seen {
    uint64_t version = 0;      // 0: no configuration stored
    int64_t mod_revision = 0;  // the key's, when version > 0
  };
  std::map<std::string, Seen> seen_;  // by group, from the last read or write of it
  int64_t lease_ = 0;                 // the registration's lease; 0: none
  std::string registered_;            // the key and value it was put with
};

}  // namespace txcoord::cluster
