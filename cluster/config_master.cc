#include "cluster/config_master.h"

#include <nlohmann/json.hpp>

#include "cluster/etcd_store.h"

namespace txcoord::cluster {

EtcdClientOptions EtcdOptionsOf(const NodeConfig& config) {
  EtcdClientOptions options;
  options.endpoints = config.etcd_endpoints;
  options.timeout = std::chrono::milliseconds(1000);
  options.attempt_timeout = std::chrono::milliseconds(300);
  return options;
}

std::unique_ptr<ConfigStore> OpenConfigMaster(const NodeConfig& config) {
  if (config.config_master == "etcd") {
    return std::make_unique<EtcdConfigStore>(EtcdOptionsOf(config), config.etcd_prefix);
  }
  return std::make_unique<FileConfigStore>(config.config_store);
}

std::string ClusterLayout(const NodeConfig& config) {
  using Json = nlohmann::json;
  const auto addresses = [](const std::vector<Address>& group) {
    Json out = Json::array();
    for (const Address& a : group) out.push_back(a.ToString());
    return out;
  };
  Json shards = Json::array();
  Json shard_peers = Json::array();
  for (size_t i = 0; i < config.shard_replicas.size(); ++i) {
    shards.push_back(addresses(config.shard_replicas[i]));
    shard_peers.push_back(addresses(config.shard_replica_peers[i]));
  }
  const Json layout = {{"shard_map_version", config.shard_map.version},
                       {"partitioning", ToString(config.shard_map.partitioning)},
                       {"range_split_keys", config.shard_map.split_keys},
                       {"coordinator", addresses(config.coordinators)},
                       {"coordinator_peer", addresses(config.coordinator_peers)},
                       {"shards", std::move(shards)},
                       {"shard_peers", std::move(shard_peers)}};
  return layout.dump();  // nlohmann's objects are sorted by key
}

std::string DescribeEndpoints(const std::vector<Address>& endpoints) {
  std::string out;
  for (const Address& a : endpoints) out += (out.empty() ? "" : ", ") + a.ToString();
  return out;
}

}  // namespace txcoord::cluster
