// The configuration master a node's config names (`config_master`: static or etcd), opened
// behind the one ConfigStore interface, and the cluster layout the etcd backend checks.
#pragma once

#include <memory>
#include <string>

#include "cluster/config.h"
#include "cluster/config_store.h"
#include "cluster/etcd_client.h"

namespace txcoord::cluster {

// The static file store at config.config_store, or an EtcdConfigStore on config.etcd_endpoints
// under config.etcd_prefix. Opening connects to nothing: the first call does.
std::unique_ptr<ConfigStore> OpenConfigMaster(const NodeConfig& config);

// The etcd client options of an etcd config (timeouts suited to the store thread's polls: a
// call never blocks it past about a second).
EtcdClientOptions EtcdOptionsOf(const NodeConfig& config);

// What every node of one cluster agrees on, as JSON with sorted keys: the shard map (its
// version, partitioning, split keys) and every replica's client and peer addresses. Nodes of the
// same cluster, whatever their role or replica, give the same text; the etcd backend stores the
// first and refuses a node that gives another (a second cluster pointed at the same prefix).
std::string ClusterLayout(const NodeConfig& config);

// "a, b, c": addresses for messages.
std::string DescribeEndpoints(const std::vector<Address>& endpoints);

}  // namespace txcoord::cluster
