// A node's YAML config reads into exactly the NodeConfig it describes, and anything else is
// refused with one InvalidArgument that says where and what: the source, the 1-based line when the
// fault is in the text, and the field path. The documented examples in config/ load with the
// values their comments promise and describe one cluster; FormatNodeConfig's output reads back
// equal, field by field, for hash and range maps, including strings YAML would otherwise take for
// numbers, nulls or comments. Every error case compares the whole message, so a wrong line, a
// wrong field name or a wrong reason fails the test, not just a missing error.
#include "cluster/config.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>

namespace txcoord::cluster {
namespace {

// A valid shard config; the line numbers of the error cases below refer to it.
constexpr std::string_view kShardYaml =
    "role: shard\n"                  // 1
    "shard: 1\n"                     // 2
    "data_dir: /tmp/txcoord/s1\n"    // 3
    "coordinator: 127.0.0.1:7000\n"  // 4
    "partitioning: hash\n"           // 5
    "shards:\n"                      // 6
    "  - 127.0.0.1:7101\n"           // 7
    "  - 127.0.0.1:7102\n"           // 8
    "  - 127.0.0.1:7103\n"           // 9
    "tick_ms: 10\n"                  // 10
    "wal_sync: sync\n"               // 11
    "vote_timeout_ms: 2000\n"        // 12
    "coordinator_peer: 127.0.0.1:7500\n"  // 13
    "shard_peers:\n"                 // 14
    "  - 127.0.0.1:7601\n"           // 15
    "  - 127.0.0.1:7602\n"           // 16
    "  - 127.0.0.1:7603\n";          // 17

// A valid config with replica groups of 2 (the coordinator), 1 (shard 0) and 3 (shard 1), in
// both sequence styles; the line numbers of the replica error cases refer to it.
constexpr std::string_view kReplicatedYaml =
    "role: shard\n"                                           // 1
    "shard: 1\n"                                              // 2
    "data_dir: /tmp/txcoord/s1r2\n"                           // 3
    "coordinator: [127.0.0.1:7000, 127.0.0.1:7001]\n"         // 4
    "coordinator_peer: [127.0.0.1:7500, 127.0.0.1:7501]\n"    // 5
    "partitioning: hash\n"                                    // 6
    "shards:\n"                                               // 7
    "  - 127.0.0.1:7100\n"                                    // 8
    "  - [127.0.0.1:7110, 127.0.0.1:7111, 127.0.0.1:7112]\n"  // 9
    "shard_peers:\n"                                          // 10
    "  - 127.0.0.1:7600\n"                                    // 11
    "  - - 127.0.0.1:7610\n"                                  // 12
    "    - 127.0.0.1:7611\n"                                  // 13
    "    - 127.0.0.1:7612\n"                                  // 14
    "replica: 2\n"                                            // 15
    "config_store: /tmp/txcoord/groups.yaml\n"                // 16
    "min_insync: 3\n"                                         // 17
    "heartbeat_ms: 20\n"                                      // 18
    "lag_timeout_ms: 200\n"                                   // 19
    "lease_ms: 400\n"                                         // 20
    "grace_ms: 800\n";                                        // 21

using Edits = std::initializer_list<std::pair<std::string_view, std::string_view>>;

// `base` with each `from` replaced by its `to` (each must occur).
std::string EditOf(std::string_view base, Edits edits) {
  std::string text(base);
  for (const auto& [from, to] : edits) {
    const size_t pos = text.find(from);
    if (pos == std::string::npos) {
      ADD_FAILURE() << "no '" << from << "' in the test config";
      continue;
    }
    text.replace(pos, from.size(), to);
  }
  return text;
}

std::string Edit(Edits edits) { return EditOf(kShardYaml, edits); }
std::string EditReplicated(Edits edits) { return EditOf(kReplicatedYaml, edits); }

// The message of the error that parsing `text` must give.
std::string ErrorOf(std::string_view text) {
  const Result<NodeConfig> r = ParseNodeConfig(text, "c.yaml");
  if (r.ok()) {
    ADD_FAILURE() << "parsed without error:\n" << text;
    return "";
  }
  EXPECT_EQ(r.status().code(), Status::Code::kInvalidArgument) << r.status().ToString();
  return r.status().message();
}

std::string ConfigPath(std::string_view name) {
  return std::string(TXCOORD_SOURCE_DIR) + "/config/" + std::string(name);
}

void ExpectSameConfig(const NodeConfig& got, const NodeConfig& want) {
  EXPECT_EQ(got.role, want.role);
  EXPECT_EQ(got.shard, want.shard);
  EXPECT_EQ(got.replica, want.replica);
  EXPECT_EQ(got.data_dir, want.data_dir);
  EXPECT_EQ(got.config_store, want.config_store);
  EXPECT_EQ(got.coordinators, want.coordinators);
  EXPECT_EQ(got.coordinator_peers, want.coordinator_peers);
  EXPECT_EQ(got.shard_replicas, want.shard_replicas);
  EXPECT_EQ(got.shard_replica_peers, want.shard_replica_peers);
  EXPECT_EQ(got.coordinator, want.coordinator);
  EXPECT_EQ(got.coordinator_peer, want.coordinator_peer);
  EXPECT_EQ(got.shard_peers, want.shard_peers);
  EXPECT_EQ(got.peer_listen, want.peer_listen);
  EXPECT_EQ(got.shard_map.version, want.shard_map.version);
  EXPECT_EQ(got.shard_map.partitioning, want.shard_map.partitioning);
  EXPECT_EQ(got.shard_map.shards, want.shard_map.shards);
  EXPECT_EQ(got.shard_map.split_keys, want.shard_map.split_keys);
  EXPECT_EQ(got.listen, want.listen);
  EXPECT_EQ(got.tick_ms, want.tick_ms);
  EXPECT_EQ(got.wal_sync, want.wal_sync);
  EXPECT_EQ(got.vote_timeout_ms, want.vote_timeout_ms);
  EXPECT_EQ(got.client_timeout_ms, want.client_timeout_ms);
  EXPECT_EQ(got.idle_timeout_ms, want.idle_timeout_ms);
  EXPECT_EQ(got.retain_finished, want.retain_finished);
  EXPECT_EQ(got.max_frame_bytes, want.max_frame_bytes);
  EXPECT_EQ(got.min_insync, want.min_insync);
  EXPECT_EQ(got.heartbeat_ms, want.heartbeat_ms);
  EXPECT_EQ(got.lag_timeout_ms, want.lag_timeout_ms);
  EXPECT_EQ(got.lease_ms, want.lease_ms);
  EXPECT_EQ(got.grace_ms, want.grace_ms);
  EXPECT_TRUE(got == want) << "operator== disagrees with the fields";
}

// A hand-built config whose groups all have one replica, written with the derived fields only
// (coordinator, shard_map.shards, ...), completed as ParseNodeConfig completes such a file: each
// group holds its one address, and config_store is derived from data_dir.
NodeConfig WithGroupsOfOne(NodeConfig c) {
  c.coordinators = {c.coordinator};
  c.coordinator_peers = {c.coordinator_peer};
  c.shard_replicas.clear();
  for (const ShardEndpoint& e : c.shard_map.shards) c.shard_replicas.push_back({{e.host, e.port}});
  c.shard_replica_peers.clear();
  for (const Address& a : c.shard_peers) c.shard_replica_peers.push_back({a});
  c.config_store = c.data_dir + "/groups.yaml";
  return c;
}

void ExpectRoundTrip(const NodeConfig& config) {
  const std::string text = FormatNodeConfig(config);
  const Result<NodeConfig> parsed = ParseNodeConfig(text, "formatted");
  ASSERT_TRUE(parsed.ok()) << parsed.status().ToString() << "\n" << text;
  SCOPED_TRACE(text);
  ExpectSameConfig(parsed.value(), config);
}

TEST(ConfigTest, ParseAddress) {
  const Result<Address> a = ParseAddress("127.0.0.1:7000");
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  EXPECT_EQ(a.value(), (Address{"127.0.0.1", 7000}));
  EXPECT_EQ(a.value().ToString(), "127.0.0.1:7000");
  const Result<Address> v6 = ParseAddress("[::1]:65535");
  ASSERT_TRUE(v6.ok()) << v6.status().ToString();
  EXPECT_EQ(v6.value(), (Address{"::1", 65535}));
  EXPECT_EQ(v6.value().ToString(), "[::1]:65535");
  EXPECT_EQ(ParseAddress("db-1.example:1").value(), (Address{"db-1.example", 1}));

  auto error = [](std::string_view text) {
    const Result<Address> r = ParseAddress(text);
    EXPECT_FALSE(r.ok()) << text;
    return r.ok() ? "" : r.status().message();
  };
  EXPECT_EQ(error("127.0.0.1"), "expected host:port, found '127.0.0.1'");
  EXPECT_EQ(error(":7000"), "expected host:port, found ':7000' (empty host)");
  EXPECT_EQ(error("[]:7000"), "expected host:port, found '[]:7000' (empty host)");
  EXPECT_EQ(error("h:0"), "expected host:port, found 'h:0' (port must be 1..65535)");
  EXPECT_EQ(error("h:70000"), "expected host:port, found 'h:70000' (port must be 1..65535)");
  EXPECT_EQ(error("h:"), "expected host:port, found 'h:' (port must be 1..65535)");
  EXPECT_EQ(error("h:-1"), "expected host:port, found 'h:-1' (port must be 1..65535)");
  EXPECT_EQ(error("h:80x"), "expected host:port, found 'h:80x' (port must be 1..65535)");
  EXPECT_EQ(error("::1:7000"),
            "expected host:port, found '::1:7000' (an IPv6 host goes in brackets: [::1]:7000)");
  EXPECT_EQ(error("[::1:7000"), "expected host:port, found '[::1:7000' (unbalanced brackets)");
  EXPECT_EQ(error("a b:7000"), "expected host:port, found 'a b:7000' (whitespace)");
}

TEST(ConfigTest, ExamplesLoadAndDescribeOneCluster) {
  const Result<NodeConfig> coordinator = LoadNodeConfig(ConfigPath("example-coordinator.yaml"));
  ASSERT_TRUE(coordinator.ok()) << coordinator.status().ToString();
  const Result<NodeConfig> shard = LoadNodeConfig(ConfigPath("example-shard.yaml"));
  ASSERT_TRUE(shard.ok()) << shard.status().ToString();

  const NodeConfig& c = coordinator.value();
  EXPECT_EQ(c.role, Role::kCoordinator);
  EXPECT_EQ(c.shard, -1);
  EXPECT_EQ(c.data_dir, "/tmp/txcoord/coordinator");
  EXPECT_EQ(c.coordinator, (Address{"127.0.0.1", 7000}));
  EXPECT_EQ(c.listen, c.coordinator);
  EXPECT_EQ(c.coordinator_peer, (Address{"127.0.0.1", 7500}));
  EXPECT_EQ(c.peer_listen, c.coordinator_peer);
  EXPECT_EQ(c.shard_peers, (std::vector<Address>{
                               {"127.0.0.1", 7601}, {"127.0.0.1", 7602}, {"127.0.0.1", 7603}}));
  EXPECT_EQ(c.shard_map.version, 1u);
  EXPECT_EQ(c.shard_map.partitioning, Partitioning::kHash);
  const std::vector<ShardEndpoint> shards = {
      {0, "127.0.0.1", 7101}, {1, "127.0.0.1", 7102}, {2, "127.0.0.1", 7103}};
  EXPECT_EQ(c.shard_map.shards, shards);
  EXPECT_TRUE(c.shard_map.split_keys.empty());
  EXPECT_EQ(c.tick_ms, 10u);
  EXPECT_EQ(c.wal_sync, "sync");
  EXPECT_EQ(c.vote_timeout_ms, 2000u);
  EXPECT_EQ(c.client_timeout_ms, 5000u);
  EXPECT_EQ(c.idle_timeout_ms, 10000u);
  EXPECT_EQ(c.retain_finished, 100000u);
  EXPECT_EQ(c.max_frame_bytes, 16777216u);
  // Groups of one replica; the store is the node's own.
  EXPECT_EQ(c.replica, 0);
  EXPECT_EQ(c.coordinators, (std::vector<Address>{c.coordinator}));
  EXPECT_EQ(c.coordinator_peers, (std::vector<Address>{c.coordinator_peer}));
  EXPECT_EQ(c.shard_replicas,
            (std::vector<std::vector<Address>>{
                {{"127.0.0.1", 7101}}, {{"127.0.0.1", 7102}}, {{"127.0.0.1", 7103}}}));
  EXPECT_EQ(c.shard_replica_peers,
            (std::vector<std::vector<Address>>{
                {{"127.0.0.1", 7601}}, {{"127.0.0.1", 7602}}, {{"127.0.0.1", 7603}}}));
  EXPECT_EQ(c.config_store, "/tmp/txcoord/coordinator/groups.yaml");
  EXPECT_EQ(c.min_insync, 2u);
  EXPECT_EQ(c.heartbeat_ms, 30u);
  EXPECT_EQ(c.lag_timeout_ms, 300u);
  EXPECT_EQ(c.lease_ms, 450u);
  EXPECT_EQ(c.grace_ms, 650u);

  const NodeConfig& s = shard.value();
  EXPECT_EQ(s.role, Role::kShard);
  EXPECT_EQ(s.shard, 0);
  EXPECT_EQ(s.data_dir, "/tmp/txcoord/s0");
  EXPECT_EQ(s.listen, (Address{"127.0.0.1", 7101}));
  EXPECT_EQ(s.peer_listen, (Address{"127.0.0.1", 7601}));
  EXPECT_EQ(s.config_store, "/tmp/txcoord/s0/groups.yaml");
  // The same cluster: the same coordinator and shard map, and the same tuning.
  EXPECT_EQ(s.coordinator, c.coordinator);
  EXPECT_EQ(s.shard_map, c.shard_map);
  NodeConfig same_tuning = s;
  same_tuning.role = c.role;
  same_tuning.shard = c.shard;
  same_tuning.data_dir = c.data_dir;
  same_tuning.listen = c.listen;
  same_tuning.peer_listen = c.peer_listen;
  same_tuning.config_store = c.config_store;
  ExpectSameConfig(same_tuning, c);

  ExpectRoundTrip(c);
  ExpectRoundTrip(s);
}

TEST(ConfigTest, ReplicatedExampleLoads) {
  const Result<NodeConfig> r = LoadNodeConfig(ConfigPath("example-replicated-shard.yaml"));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  const NodeConfig& c = r.value();
  EXPECT_EQ(c.role, Role::kShard);
  EXPECT_EQ(c.shard, 0);
  EXPECT_EQ(c.replica, 1);
  EXPECT_EQ(c.data_dir, "/tmp/txcoord/s0r1");
  EXPECT_EQ(c.config_store, "/tmp/txcoord/groups.yaml");
  EXPECT_EQ(c.coordinators,
            (std::vector<Address>{{"127.0.0.1", 7000}, {"127.0.0.1", 7001}, {"127.0.0.1", 7002}}));
  EXPECT_EQ(c.coordinator_peers,
            (std::vector<Address>{{"127.0.0.1", 7500}, {"127.0.0.1", 7501}, {"127.0.0.1", 7502}}));
  ASSERT_EQ(c.shard_replicas.size(), 3u);
  ASSERT_EQ(c.shard_replica_peers.size(), 3u);
  for (size_t i = 0; i < 3; ++i) {
    ASSERT_EQ(c.shard_replicas[i].size(), 3u) << i;
    ASSERT_EQ(c.shard_replica_peers[i].size(), 3u) << i;
    for (size_t j = 0; j < 3; ++j) {
      EXPECT_EQ(c.shard_replicas[i][j],
                (Address{"127.0.0.1", static_cast<uint16_t>(7100 + 10 * i + j)}));
      EXPECT_EQ(c.shard_replica_peers[i][j],
                (Address{"127.0.0.1", static_cast<uint16_t>(7600 + 10 * i + j)}));
    }
  }
  EXPECT_EQ(c.listen, (Address{"127.0.0.1", 7101}));
  EXPECT_EQ(c.peer_listen, (Address{"127.0.0.1", 7601}));
  EXPECT_EQ(c.coordinator, (Address{"127.0.0.1", 7000}));
  const std::vector<ShardEndpoint> primaries = {
      {0, "127.0.0.1", 7100}, {1, "127.0.0.1", 7110}, {2, "127.0.0.1", 7120}};
  EXPECT_EQ(c.shard_map.shards, primaries);
  const NodeConfig defaults;
  EXPECT_EQ(c.min_insync, defaults.min_insync);
  EXPECT_EQ(c.heartbeat_ms, defaults.heartbeat_ms);
  EXPECT_EQ(c.lag_timeout_ms, defaults.lag_timeout_ms);
  EXPECT_EQ(c.lease_ms, defaults.lease_ms);
  EXPECT_EQ(c.grace_ms, defaults.grace_ms);
  ExpectRoundTrip(c);
}

TEST(ConfigTest, AbsentOptionalFieldsTakeTheDefaults) {
  const Result<NodeConfig> r = ParseNodeConfig(kShardYaml, "c.yaml");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  const NodeConfig& c = r.value();
  EXPECT_EQ(c.shard, 1);
  EXPECT_EQ(c.listen, (Address{"127.0.0.1", 7102}));
  const NodeConfig defaults;
  EXPECT_EQ(c.client_timeout_ms, defaults.client_timeout_ms);
  EXPECT_EQ(c.idle_timeout_ms, defaults.idle_timeout_ms);
  EXPECT_EQ(c.retain_finished, defaults.retain_finished);
  EXPECT_EQ(c.max_frame_bytes, defaults.max_frame_bytes);
  // The limits themselves are accepted.
  EXPECT_TRUE(ParseNodeConfig(Edit({{"tick_ms: 10", "tick_ms: 1000"},
                                    {"vote_timeout_ms: 2000",
                                     "vote_timeout_ms: 1000\n"
                                     "retain_finished: 4294967295\n"
                                     "max_frame_bytes: 2147483647"}}),
                              "c.yaml")
                  .ok());
}

TEST(ConfigTest, FormatRoundTripsHash) {
  NodeConfig c;
  c.role = Role::kShard;
  c.shard = 2;
  c.data_dir = "/var/lib/txcoord/data dir: #2 'x' \"y\"";  // YAML's comment and quote characters
  c.coordinator = {"::1", 7000};
  c.shard_map.partitioning = Partitioning::kHash;
  c.shard_map.shards = {{0, "db-0.example", 7100}, {1, "db-1.example", 7101}, {2, "fe80::2", 1}};
  c.listen = {"fe80::2", 1};
  c.coordinator_peer = {"::1", 7001};
  c.shard_peers = {{"db-0.example", 7200}, {"db-1.example", 7201}, {"fe80::2", 2}};
  c.peer_listen = {"fe80::2", 2};
  c.tick_ms = 7;
  c.wal_sync = "manual_flush";
  c.vote_timeout_ms = 7;
  c.client_timeout_ms = 86400000;
  c.idle_timeout_ms = 1234;
  c.retain_finished = 0;
  c.max_frame_bytes = 4096;
  ExpectRoundTrip(WithGroupsOfOne(c));
}

TEST(ConfigTest, FormatRoundTripsRange) {
  NodeConfig c;
  c.role = Role::kCoordinator;
  c.data_dir = "null";  // a string YAML would read as null if it were written plain
  c.coordinator = {"10.0.0.1", 9000};
  c.shard_map.partitioning = Partitioning::kRange;
  for (int i = 0; i < 6; ++i) {
    c.shard_map.shards.push_back({i, "10.0.0.2", static_cast<uint16_t>(9001 + i)});
    c.shard_peers.push_back({"10.0.0.2", static_cast<uint16_t>(9101 + i)});
  }
  c.coordinator_peer = {"10.0.0.1", 9100};
  c.peer_listen = c.coordinator_peer;
  // Bytewise ascending, and each one a string that YAML would misread if written plain.
  c.shard_map.split_keys = {"- x", "10", "a b # c", "true", "~"};
  c.listen = c.coordinator;
  c.tick_ms = 1000;
  c.vote_timeout_ms = 1000;
  c.client_timeout_ms = 3000;
  c.idle_timeout_ms = 4000;
  c.retain_finished = 4294967295u;
  c.max_frame_bytes = 2147483647u;
  c.heartbeat_ms = 1000;  // the replication periods are at least a tick too
  c.lag_timeout_ms = 2000;
  c.lease_ms = 3000;
  c.grace_ms = 4000;
  ExpectRoundTrip(WithGroupsOfOne(c));

  c.shard_map.shards.resize(1);  // one range shard owns everything: no split keys
  c.shard_peers.resize(1);
  c.shard_map.split_keys.clear();
  ExpectRoundTrip(WithGroupsOfOne(c));
}

TEST(ConfigTest, FormatStopsOnAConfigThatWouldNotReadBack) {
  NodeConfig c = ParseNodeConfig(kShardYaml, "c.yaml").value();
  c.shard_map.version = 2;  // a config file always describes version 1
  EXPECT_DEATH(FormatNodeConfig(c), "does not read back equal");
  c = ParseNodeConfig(kShardYaml, "c.yaml").value();
  c.tick_ms = 0;
  EXPECT_DEATH(FormatNodeConfig(c), "tick_ms: expected an integer in 1..1000, found '0'");
  // A derived field that disagrees with the groups it is derived from.
  c = ParseNodeConfig(kReplicatedYaml, "c.yaml").value();
  c.listen = c.shard_replicas[1][0];  // not this node's replica (2)
  EXPECT_DEATH(FormatNodeConfig(c), "does not read back equal");
  c = ParseNodeConfig(kReplicatedYaml, "c.yaml").value();
  c.coordinator_peers.pop_back();
  EXPECT_DEATH(FormatNodeConfig(c), "coordinator_peer: 1 address for 2 replicas of coordinator");
}

TEST(ConfigTest, FormatRoundTripsReplicated) {
  const NodeConfig parsed = ParseNodeConfig(kReplicatedYaml, "c.yaml").value();
  ExpectRoundTrip(parsed);
  // A group of one is written as a plain address, a larger one as a sequence.
  const std::string text = FormatNodeConfig(parsed);
  EXPECT_NE(text.find("\n  - 127.0.0.1:7100\n"), std::string::npos) << text;
  EXPECT_NE(text.find("\n  - [127.0.0.1:7110, 127.0.0.1:7111, 127.0.0.1:7112]\n"),
            std::string::npos)
      << text;

  NodeConfig c;
  c.role = Role::kCoordinator;
  c.replica = 2;
  c.data_dir = "/var/lib/txcoord/c2";
  c.config_store = "/shared/txcoord groups: #1.yaml";  // YAML's comment characters
  // Bracketed IPv6 hosts inside a flow sequence.
  c.coordinators = {{"::1", 7000}, {"::1", 7001}, {"fe80::3", 7002}};
  c.coordinator_peers = {{"::1", 7500}, {"::1", 7501}, {"fe80::3", 7502}};
  c.shard_replicas = {{{"db-0.example", 7100}, {"db-0b.example", 7100}},
                      {{"db-1.example", 7100}},
                      {{"10.0.0.1", 1}, {"10.0.0.2", 1}, {"10.0.0.3", 1}, {"10.0.0.4", 1}}};
  c.shard_replica_peers = {{{"db-0.example", 7600}, {"db-0b.example", 7600}},
                           {{"db-1.example", 7600}},
                           {{"10.0.0.1", 2}, {"10.0.0.2", 2}, {"10.0.0.3", 2}, {"10.0.0.4", 2}}};
  c.coordinator = c.coordinators[0];
  c.coordinator_peer = c.coordinator_peers[0];
  c.shard_map.partitioning = Partitioning::kRange;
  c.shard_map.split_keys = {"g", "p"};
  for (size_t i = 0; i < c.shard_replicas.size(); ++i) {
    const Address& a = c.shard_replicas[i][0];
    c.shard_map.shards.push_back({static_cast<ShardId>(i), a.host, a.port});
    c.shard_peers.push_back(c.shard_replica_peers[i][0]);
  }
  c.listen = c.coordinators[2];
  c.peer_listen = c.coordinator_peers[2];
  c.min_insync = 16;
  c.tick_ms = 5;
  c.heartbeat_ms = 5;
  c.lag_timeout_ms = 6;
  c.lease_ms = 7;
  c.grace_ms = 86400000;
  ExpectRoundTrip(c);

  c.role = Role::kShard;  // replica 3 of shard 2
  c.shard = 2;
  c.replica = 3;
  c.listen = c.shard_replicas[2][3];
  c.peer_listen = c.shard_replica_peers[2][3];
  ExpectRoundTrip(c);
}

TEST(ConfigTest, RequiredFields) {
  EXPECT_EQ(ErrorOf(Edit({{"role: shard\n", ""}})), "c.yaml: role: required");
  EXPECT_EQ(ErrorOf(Edit({{"data_dir: /tmp/txcoord/s1\n", ""}})), "c.yaml: data_dir: required");
  EXPECT_EQ(ErrorOf(Edit({{"data_dir: /tmp/txcoord/s1", "data_dir: ''"}})),
            "c.yaml:3: data_dir: empty");
  EXPECT_EQ(ErrorOf(Edit({{"data_dir: /tmp/txcoord/s1", "data_dir:"}})),
            "c.yaml:3: data_dir: expected a string, found nothing");
  EXPECT_EQ(ErrorOf(Edit({{"coordinator: 127.0.0.1:7000\n", ""}})),
            "c.yaml: coordinator: required");
  EXPECT_EQ(ErrorOf(Edit({{"partitioning: hash\n", ""}})), "c.yaml: partitioning: required");
  EXPECT_EQ(ErrorOf(Edit(
                {{"shards:\n  - 127.0.0.1:7101\n  - 127.0.0.1:7102\n  - 127.0.0.1:7103\n", ""}})),
            "c.yaml: shards: required");
  EXPECT_EQ(ErrorOf(Edit({{"coordinator_peer: 127.0.0.1:7500\n", ""}})),
            "c.yaml: coordinator_peer: required");
  EXPECT_EQ(ErrorOf(Edit({{"shard_peers:\n  - 127.0.0.1:7601\n  - 127.0.0.1:7602\n"
                           "  - 127.0.0.1:7603\n",
                           ""}})),
            "c.yaml: shard_peers: required");
}

TEST(ConfigTest, PeerPorts) {
  EXPECT_EQ(ErrorOf(Edit({{"  - 127.0.0.1:7603\n", ""}})),
            "c.yaml:14: shard_peers: expected a sequence of 3 host:port (one per shard, in shard "
            "id order), found 2 of them");
  EXPECT_EQ(ErrorOf(Edit({{"  - 127.0.0.1:7602", "  - 127.0.0.1"}})),
            "c.yaml:16: shard_peers[1]: expected host:port, found '127.0.0.1'");
  // No client port is a peer port: a client must never reach the protocol.
  EXPECT_EQ(ErrorOf(Edit({{"  - 127.0.0.1:7602", "  - 127.0.0.1:7102"}})),
            "c.yaml:16: shard_peers[1]: 127.0.0.1:7102 is also shards[1]'s address");
  EXPECT_EQ(ErrorOf(Edit({{"coordinator_peer: 127.0.0.1:7500", "coordinator_peer: 127.0.0.1:7000"}})),
            "c.yaml:13: coordinator_peer: 127.0.0.1:7000 is also the coordinator's address");
  EXPECT_EQ(ErrorOf(Edit({{"  - 127.0.0.1:7603", "  - 127.0.0.1:7500"}})),
            "c.yaml:17: shard_peers[2]: 127.0.0.1:7500 is also coordinator_peer's address");
  const NodeConfig c = ParseNodeConfig(kShardYaml, "c.yaml").value();
  EXPECT_EQ(c.peer_listen, (Address{"127.0.0.1", 7602})) << "shard 1's peer port";
}

TEST(ConfigTest, ReplicaGroups) {
  const Result<NodeConfig> r = ParseNodeConfig(kReplicatedYaml, "c.yaml");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  const NodeConfig& c = r.value();
  EXPECT_EQ(c.role, Role::kShard);
  EXPECT_EQ(c.shard, 1);
  EXPECT_EQ(c.replica, 2);
  EXPECT_EQ(c.coordinators, (std::vector<Address>{{"127.0.0.1", 7000}, {"127.0.0.1", 7001}}));
  EXPECT_EQ(c.coordinator_peers, (std::vector<Address>{{"127.0.0.1", 7500}, {"127.0.0.1", 7501}}));
  EXPECT_EQ(
      c.shard_replicas,
      (std::vector<std::vector<Address>>{
          {{"127.0.0.1", 7100}}, {{"127.0.0.1", 7110}, {"127.0.0.1", 7111}, {"127.0.0.1", 7112}}}));
  EXPECT_EQ(
      c.shard_replica_peers,
      (std::vector<std::vector<Address>>{
          {{"127.0.0.1", 7600}}, {{"127.0.0.1", 7610}, {"127.0.0.1", 7611}, {"127.0.0.1", 7612}}}));
  // Derived: replica 0 of each group, and this node's own replica.
  EXPECT_EQ(c.coordinator, (Address{"127.0.0.1", 7000}));
  EXPECT_EQ(c.coordinator_peer, (Address{"127.0.0.1", 7500}));
  EXPECT_EQ(c.shard_map.version, 1u);
  EXPECT_EQ(c.shard_map.shards,
            (std::vector<ShardEndpoint>{{0, "127.0.0.1", 7100}, {1, "127.0.0.1", 7110}}));
  EXPECT_EQ(c.shard_peers, (std::vector<Address>{{"127.0.0.1", 7600}, {"127.0.0.1", 7610}}));
  EXPECT_EQ(c.listen, (Address{"127.0.0.1", 7112}));
  EXPECT_EQ(c.peer_listen, (Address{"127.0.0.1", 7612}));
  EXPECT_EQ(c.config_store, "/tmp/txcoord/groups.yaml");
  EXPECT_EQ(c.min_insync, 3u);
  EXPECT_EQ(c.heartbeat_ms, 20u);
  EXPECT_EQ(c.lag_timeout_ms, 200u);
  EXPECT_EQ(c.lease_ms, 400u);
  EXPECT_EQ(c.grace_ms, 800u);

  // A coordinator replica listens at its own entry of `coordinator`; replica defaults to 0.
  const Result<NodeConfig> coordinator = ParseNodeConfig(
      EditReplicated(
          {{"role: shard", "role: coordinator"}, {"shard: 1\n", ""}, {"replica: 2", "replica: 1"}}),
      "c.yaml");
  ASSERT_TRUE(coordinator.ok()) << coordinator.status().ToString();
  EXPECT_EQ(coordinator.value().shard, -1);
  EXPECT_EQ(coordinator.value().replica, 1);
  EXPECT_EQ(coordinator.value().listen, (Address{"127.0.0.1", 7001}));
  EXPECT_EQ(coordinator.value().peer_listen, (Address{"127.0.0.1", 7501}));
  const Result<NodeConfig> first =
      ParseNodeConfig(EditReplicated({{"replica: 2\n", ""}}), "c.yaml");
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  EXPECT_EQ(first.value().replica, 0);
  EXPECT_EQ(first.value().listen, (Address{"127.0.0.1", 7110}));
  EXPECT_EQ(first.value().peer_listen, (Address{"127.0.0.1", 7610}));

  // A sequence of one address is the same group as the plain address.
  const Result<NodeConfig> one =
      ParseNodeConfig(EditReplicated({{"  - 127.0.0.1:7100", "  - [127.0.0.1:7100]"},
                                      {"  - 127.0.0.1:7600", "  -\n    - 127.0.0.1:7600"}}),
                      "c.yaml");
  ASSERT_TRUE(one.ok()) << one.status().ToString();
  ExpectSameConfig(one.value(), c);
}

TEST(ConfigTest, GroupsOfOneReadAsBefore) {
  const Result<NodeConfig> r = ParseNodeConfig(kShardYaml, "c.yaml");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  const NodeConfig& c = r.value();
  EXPECT_EQ(c.replica, 0);
  EXPECT_EQ(c.coordinators, (std::vector<Address>{{"127.0.0.1", 7000}}));
  EXPECT_EQ(c.coordinator_peers, (std::vector<Address>{{"127.0.0.1", 7500}}));
  EXPECT_EQ(c.shard_replicas,
            (std::vector<std::vector<Address>>{
                {{"127.0.0.1", 7101}}, {{"127.0.0.1", 7102}}, {{"127.0.0.1", 7103}}}));
  EXPECT_EQ(c.shard_replica_peers,
            (std::vector<std::vector<Address>>{
                {{"127.0.0.1", 7601}}, {{"127.0.0.1", 7602}}, {{"127.0.0.1", 7603}}}));
  EXPECT_EQ(c.coordinator, (Address{"127.0.0.1", 7000}));
  EXPECT_EQ(c.coordinator_peer, (Address{"127.0.0.1", 7500}));
  EXPECT_EQ(c.listen, (Address{"127.0.0.1", 7102}));
  EXPECT_EQ(c.peer_listen, (Address{"127.0.0.1", 7602}));
  // The store is derived: a lone replica is the only reader of its group's configuration.
  EXPECT_EQ(c.config_store, "/tmp/txcoord/s1/groups.yaml");
  const NodeConfig defaults;
  EXPECT_EQ(c.min_insync, defaults.min_insync);
  EXPECT_EQ(c.heartbeat_ms, defaults.heartbeat_ms);
  EXPECT_EQ(c.lag_timeout_ms, defaults.lag_timeout_ms);
  EXPECT_EQ(c.lease_ms, defaults.lease_ms);
  EXPECT_EQ(c.grace_ms, defaults.grace_ms);
  EXPECT_EQ(defaults.min_insync, 2u);
  EXPECT_EQ(defaults.heartbeat_ms, 30u);
  EXPECT_EQ(defaults.lag_timeout_ms, 300u);
  EXPECT_EQ(defaults.lease_ms, 450u);
  EXPECT_EQ(defaults.grace_ms, 650u);

  // Written out, they mean the same; a store given for groups of one is taken as given.
  const Result<NodeConfig> explicit_defaults =
      ParseNodeConfig(Edit({{"tick_ms: 10",
                             "tick_ms: 10\nreplica: 0\nmin_insync: 2\nheartbeat_ms: 30\n"
                             "lag_timeout_ms: 300\nlease_ms: 450\ngrace_ms: 650\n"
                             "config_store: /tmp/txcoord/s1/groups.yaml"}}),
                      "c.yaml");
  ASSERT_TRUE(explicit_defaults.ok()) << explicit_defaults.status().ToString();
  ExpectSameConfig(explicit_defaults.value(), c);
  const Result<NodeConfig> store = ParseNodeConfig(
      Edit({{"tick_ms: 10", "tick_ms: 10\nconfig_store: /shared/g.yaml"}}), "c.yaml");
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  EXPECT_EQ(store.value().config_store, "/shared/g.yaml");
}

TEST(ConfigTest, ReplicaGroupShapes) {
  // Each group's peer ports match its client ports one to one.
  EXPECT_EQ(ErrorOf(EditReplicated({{"coordinator_peer: [127.0.0.1:7500, 127.0.0.1:7501]",
                                     "coordinator_peer: 127.0.0.1:7500"}})),
            "c.yaml:5: coordinator_peer: 1 address for 2 replicas of coordinator");
  EXPECT_EQ(ErrorOf(EditReplicated({{"coordinator: [127.0.0.1:7000, 127.0.0.1:7001]",
                                     "coordinator: 127.0.0.1:7000"}})),
            "c.yaml:5: coordinator_peer: 2 addresses for 1 replica of coordinator");
  EXPECT_EQ(ErrorOf(EditReplicated({{"    - 127.0.0.1:7612\n", ""}})),
            "c.yaml:12: shard_peers[1]: 2 addresses for 3 replicas of shards[1]");
  EXPECT_EQ(
      ErrorOf(EditReplicated({{"  - 127.0.0.1:7600", "  - [127.0.0.1:7600, 127.0.0.1:7601]"}})),
      "c.yaml:11: shard_peers[0]: 2 addresses for 1 replica of shards[0]");
  // The shard count is checked first, as before.
  EXPECT_EQ(ErrorOf(EditReplicated({{"  - 127.0.0.1:7600\n", ""}})),
            "c.yaml:10: shard_peers: expected a sequence of 2 host:port (one per shard, in shard "
            "id order), found 1 of them");

  // Addresses inside a group, by replica index.
  EXPECT_EQ(ErrorOf(EditReplicated({{"127.0.0.1:7112", "127.0.0.1"}})),
            "c.yaml:9: shards[1][2]: expected host:port, found '127.0.0.1'");
  EXPECT_EQ(ErrorOf(EditReplicated({{"    - 127.0.0.1:7611", "    - 127.0.0.1:0"}})),
            "c.yaml:13: shard_peers[1][1]: expected host:port, found '127.0.0.1:0' (port must be "
            "1..65535)");
  EXPECT_EQ(ErrorOf(EditReplicated({{"127.0.0.1:7001", "h"}})),
            "c.yaml:4: coordinator[1]: expected host:port, found 'h'");
  EXPECT_EQ(ErrorOf(EditReplicated({{"127.0.0.1:7501", "[h, 1]"}})),
            "c.yaml:5: coordinator_peer[1]: expected host:port, found a sequence");
  EXPECT_EQ(ErrorOf(EditReplicated({{"[127.0.0.1:7110,", "[[127.0.0.1:7110],"}})),
            "c.yaml:9: shards[1][0]: expected host:port, found a sequence");

  // A group is never empty, nor anything but an address or a sequence of them.
  EXPECT_EQ(ErrorOf(EditReplicated({{"[127.0.0.1:7110, 127.0.0.1:7111, 127.0.0.1:7112]", "[]"}})),
            "c.yaml:9: shards[1]: expected host:port or a non-empty sequence of host:port, found "
            "an empty sequence");
  EXPECT_EQ(ErrorOf(EditReplicated({{"[127.0.0.1:7000, 127.0.0.1:7001]", "[]"}})),
            "c.yaml:4: coordinator: expected host:port or a non-empty sequence of host:port, "
            "found an empty sequence");
  EXPECT_EQ(ErrorOf(EditReplicated({{"[127.0.0.1:7500, 127.0.0.1:7501]", "[]"}})),
            "c.yaml:5: coordinator_peer: expected host:port or a non-empty sequence of "
            "host:port, found an empty sequence");
  EXPECT_EQ(ErrorOf(EditReplicated({{"  - 127.0.0.1:7600", "  - []"}})),
            "c.yaml:11: shard_peers[0]: expected host:port or a non-empty sequence of host:port, "
            "found an empty sequence");
  EXPECT_EQ(ErrorOf(EditReplicated({{"[127.0.0.1:7000, 127.0.0.1:7001]", "{a: 1}"}})),
            "c.yaml:4: coordinator: expected host:port or a non-empty sequence of host:port, "
            "found a mapping");
  EXPECT_EQ(ErrorOf(EditReplicated({{" [127.0.0.1:7000, 127.0.0.1:7001]", ""}})),
            "c.yaml:4: coordinator: expected host:port or a non-empty sequence of host:port, "
            "found nothing");
}

TEST(ConfigTest, Replica) {
  EXPECT_EQ(ErrorOf(EditReplicated({{"replica: 2", "replica: 3"}})),
            "c.yaml:15: replica: expected an integer in 0..2 (shards[1] has 3 replicas), found "
            "'3'");
  EXPECT_EQ(ErrorOf(EditReplicated({{"replica: 2", "replica: -1"}})),
            "c.yaml:15: replica: expected an integer in 0..2 (shards[1] has 3 replicas), found "
            "'-1'");
  EXPECT_EQ(ErrorOf(EditReplicated({{"shard: 1", "shard: 0"}, {"replica: 2", "replica: 1"}})),
            "c.yaml:15: replica: expected an integer in 0..0 (shards[0] has 1 replica), found '1'");
  // A coordinator's group is the coordinator group.
  EXPECT_EQ(ErrorOf(EditReplicated({{"role: shard", "role: coordinator"}, {"shard: 1\n", ""}})),
            "c.yaml:14: replica: expected an integer in 0..1 (coordinator has 2 replicas), found "
            "'2'");
  EXPECT_EQ(ErrorOf(Edit({{"tick_ms: 10", "replica: 1"}})),
            "c.yaml:10: replica: expected an integer in 0..0 (shards[1] has 1 replica), found '1'");
  EXPECT_EQ(ErrorOf(EditReplicated({{"replica: 2", "replica: \"2\""}})),
            "c.yaml:15: replica: expected an integer in 0..2 (shards[1] has 3 replicas), found the "
            "quoted string '2'");
}

TEST(ConfigTest, ConfigStore) {
  // Required as soon as any group, the coordinator's or a shard's, has more than one replica.
  EXPECT_EQ(ErrorOf(EditReplicated({{"config_store: /tmp/txcoord/groups.yaml\n", ""}})),
            "c.yaml: config_store: required when a group has more than one replica");
  EXPECT_EQ(ErrorOf(EditReplicated({{"config_store: /tmp/txcoord/groups.yaml\n", ""},
                                    {"[127.0.0.1:7000, 127.0.0.1:7001]", "127.0.0.1:7000"},
                                    {"[127.0.0.1:7500, 127.0.0.1:7501]", "127.0.0.1:7500"}})),
            "c.yaml: config_store: required when a group has more than one replica");
  EXPECT_EQ(ErrorOf(Edit({{"  - 127.0.0.1:7101", "  - [127.0.0.1:7101, 127.0.0.1:7111]"},
                          {"  - 127.0.0.1:7601", "  - [127.0.0.1:7601, 127.0.0.1:7611]"}})),
            "c.yaml: config_store: required when a group has more than one replica");
  EXPECT_EQ(
      ErrorOf(EditReplicated({{"config_store: /tmp/txcoord/groups.yaml", "config_store: ''"}})),
      "c.yaml:16: config_store: empty");
  EXPECT_EQ(ErrorOf(Edit({{"tick_ms: 10", "config_store: ''"}})), "c.yaml:10: config_store: empty");
  EXPECT_EQ(ErrorOf(EditReplicated({{"config_store: /tmp/txcoord/groups.yaml", "config_store:"}})),
            "c.yaml:16: config_store: expected a string, found nothing");
  EXPECT_EQ(ErrorOf(EditReplicated(
                {{"config_store: /tmp/txcoord/groups.yaml", "config_store: [/tmp/a]"}})),
            "c.yaml:16: config_store: expected a string, found a sequence");
}

TEST(ConfigTest, ConfigMasterEtcd) {
  const std::string etcd = EditReplicated(
      {{"config_store: /tmp/txcoord/groups.yaml\n",
        "config_master: etcd\netcd_endpoints: [127.0.0.1:2379, 127.0.0.1:2479]\n"}});
  const Result<NodeConfig> parsed = ParseNodeConfig(etcd, "c.yaml");
  ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
  EXPECT_EQ(parsed.value().config_master, "etcd");
  EXPECT_EQ(parsed.value().etcd_endpoints,
            (std::vector<Address>{{"127.0.0.1", 2379}, {"127.0.0.1", 2479}}));
  EXPECT_EQ(parsed.value().etcd_prefix, "/txcoord/");
  EXPECT_EQ(parsed.value().config_store, "");
  ExpectRoundTrip(parsed.value());
  NodeConfig prefixed = parsed.value();
  prefixed.etcd_prefix = "/txcoord/prod/";
  ExpectRoundTrip(prefixed);
  // The default stays static, which needs no etcd field and allows none.
  EXPECT_EQ(ParseNodeConfig(kReplicatedYaml, "c.yaml").value().config_master, "static");
  EXPECT_EQ(ErrorOf(EditReplicated({{"min_insync: 3", "etcd_endpoints: [127.0.0.1:2379]"}})),
            "c.yaml:17: etcd_endpoints: only used with config_master etcd");
  EXPECT_EQ(ErrorOf(EditReplicated({{"min_insync: 3", "etcd_prefix: /a/"}})),
            "c.yaml:17: etcd_prefix: only used with config_master etcd");
  EXPECT_EQ(ErrorOf(EditReplicated({{"min_insync: 3", "config_master: zookeeper"}})),
            "c.yaml:17: config_master: expected static or etcd, found 'zookeeper'");
  // etcd: endpoints required and well formed; no config_store.
  EXPECT_EQ(ErrorOf(EditOf(etcd, {{"etcd_endpoints: [127.0.0.1:2379, 127.0.0.1:2479]\n", ""}})),
            "c.yaml: etcd_endpoints: required with config_master etcd");
  EXPECT_EQ(ErrorOf(EditOf(etcd, {{"[127.0.0.1:2379, 127.0.0.1:2479]", "[]"}})),
            "c.yaml:17: etcd_endpoints: expected a non-empty sequence of host:port, found an "
            "empty one");
  EXPECT_EQ(ErrorOf(EditOf(etcd, {{"[127.0.0.1:2379, 127.0.0.1:2479]", "127.0.0.1:2379"}})),
            "c.yaml:17: etcd_endpoints: expected a non-empty sequence of host:port, found "
            "'127.0.0.1:2379'");
  EXPECT_EQ(ErrorOf(EditOf(etcd, {{"127.0.0.1:2479", "127.0.0.1"}})),
            "c.yaml:17: etcd_endpoints[1]: expected host:port, found '127.0.0.1'");
  EXPECT_EQ(ErrorOf(EditOf(etcd, {{"127.0.0.1:2479", "127.0.0.1:2379"}})),
            "c.yaml:17: etcd_endpoints[1]: 127.0.0.1:2379 given twice");
  EXPECT_EQ(ErrorOf(EditOf(etcd, {{"127.0.0.1:2479", "127.0.0.1:7000"}})),
            "c.yaml:17: etcd_endpoints[1]: 127.0.0.1:7000 is also coordinator[0]'s address");
  EXPECT_EQ(ErrorOf(EditOf(etcd, {{"min_insync: 3", "config_store: /tmp/g.yaml"}})),
            "c.yaml:18: config_store: not used with config_master etcd (the group "
            "configurations are in etcd)");
  for (const char* bad : {"txcoord/", "/txcoord", "/", "''"}) {
    EXPECT_EQ(ErrorOf(EditOf(etcd, {{"min_insync: 3", std::string("etcd_prefix: ") + bad}})),
              std::string("c.yaml:18: etcd_prefix: expected a key prefix that starts and ends "
                          "with '/' (as /txcoord/prod/), found ") +
                  (std::string(bad) == "''" ? "the quoted string ''" : "'" + std::string(bad) + "'"))
        << bad;
  }
}

TEST(ConfigTest, ReplicationNumbers) {
  EXPECT_EQ(ErrorOf(EditReplicated({{"min_insync: 3", "min_insync: 0"}})),
            "c.yaml:17: min_insync: expected an integer in 1..16, found '0'");
  EXPECT_EQ(ErrorOf(EditReplicated({{"min_insync: 3", "min_insync: 17"}})),
            "c.yaml:17: min_insync: expected an integer in 1..16, found '17'");
  for (const std::string_view bound : {"min_insync: 1", "min_insync: 16"}) {
    const Result<NodeConfig> r =
        ParseNodeConfig(EditReplicated({{"min_insync: 3", bound}}), "c.yaml");
    EXPECT_TRUE(r.ok()) << bound << ": " << r.status().ToString();
  }
  // Each period at least a tick and at most a day.
  EXPECT_EQ(ErrorOf(EditReplicated({{"heartbeat_ms: 20", "heartbeat_ms: 9"}})),
            "c.yaml:18: heartbeat_ms: expected an integer in 10..86400000 (at least tick_ms), "
            "found '9'");
  EXPECT_EQ(ErrorOf(EditReplicated({{"lag_timeout_ms: 200", "lag_timeout_ms: 0"}})),
            "c.yaml:19: lag_timeout_ms: expected an integer in 10..86400000 (at least tick_ms), "
            "found '0'");
  EXPECT_EQ(ErrorOf(EditReplicated({{"lease_ms: 400", "lease_ms: 4e2"}})),
            "c.yaml:20: lease_ms: expected an integer in 10..86400000 (at least tick_ms), found "
            "'4e2'");
  EXPECT_EQ(ErrorOf(EditReplicated({{"grace_ms: 800", "grace_ms: 86400001"}})),
            "c.yaml:21: grace_ms: expected an integer in 10..86400000 (at least tick_ms), found "
            "'86400001'");
  const Result<NodeConfig> limits =
      ParseNodeConfig(EditReplicated({{"heartbeat_ms: 20", "heartbeat_ms: 10"},
                                      {"lag_timeout_ms: 200", "lag_timeout_ms: 11"},
                                      {"lease_ms: 400", "lease_ms: 12"},
                                      {"grace_ms: 800", "grace_ms: 86400000"}}),
                      "c.yaml");
  ASSERT_TRUE(limits.ok()) << limits.status().ToString();
  EXPECT_EQ(limits.value().heartbeat_ms, 10u);
  EXPECT_EQ(limits.value().grace_ms, 86400000u);

  // Absent, the periods keep their defaults' ratios but are never shorter than a tick, so a
  // config with a long tick and no replication fields still reads (and writes back).
  for (const auto& [tick, heartbeat] :
       {std::pair{"10", 30u}, {"30", 30u}, {"31", 31u}, {"1000", 1000u}}) {
    const std::string tick_ms = "tick_ms: " + std::string(tick);
    const Result<NodeConfig> r = ParseNodeConfig(Edit({{"tick_ms: 10", tick_ms}}), "c.yaml");
    ASSERT_TRUE(r.ok()) << tick << ": " << r.status().ToString();
    EXPECT_EQ(r.value().heartbeat_ms, heartbeat) << tick;
    EXPECT_EQ(r.value().lag_timeout_ms, 10 * heartbeat) << tick;
    EXPECT_EQ(r.value().lease_ms, 15 * heartbeat) << tick;
    EXPECT_EQ(r.value().grace_ms, 650 * heartbeat / 30) << tick;
    ExpectRoundTrip(r.value());
  }
  const Result<NodeConfig> given =
      ParseNodeConfig(Edit({{"tick_ms: 10", "tick_ms: 100\nlag_timeout_ms: 1400"}}), "c.yaml");
  ASSERT_TRUE(given.ok()) << given.status().ToString();
  EXPECT_EQ(given.value().heartbeat_ms, 100u);
  EXPECT_EQ(given.value().lag_timeout_ms, 1400u);
  EXPECT_EQ(given.value().lease_ms, 1500u);
  EXPECT_EQ(given.value().grace_ms, 2166u);
  // heartbeat_ms < lag_timeout_ms < lease_ms < grace_ms, equal included.
  EXPECT_EQ(ErrorOf(EditReplicated({{"heartbeat_ms: 20", "heartbeat_ms: 200"}})),
            "c.yaml:19: lag_timeout_ms: must be greater than heartbeat_ms (200)");
  EXPECT_EQ(ErrorOf(EditReplicated({{"lease_ms: 400", "lease_ms: 200"}})),
            "c.yaml:20: lease_ms: must be greater than lag_timeout_ms (200)");
  EXPECT_EQ(ErrorOf(EditReplicated({{"grace_ms: 800", "grace_ms: 399"}})),
            "c.yaml:21: grace_ms: must be greater than lease_ms (400)");
  // Against a default, the period that was written is named.
  EXPECT_EQ(ErrorOf(Edit({{"vote_timeout_ms: 2000", "lease_ms: 300"}})),
            "c.yaml:12: lease_ms: must be greater than lag_timeout_ms (300)");
  EXPECT_EQ(ErrorOf(Edit({{"vote_timeout_ms: 2000", "lag_timeout_ms: 450"}})),
            "c.yaml:12: lag_timeout_ms: must be less than lease_ms (450)");
  EXPECT_EQ(ErrorOf(Edit({{"vote_timeout_ms: 2000", "heartbeat_ms: 2000"}})),
            "c.yaml:12: heartbeat_ms: must be less than lag_timeout_ms (300)");
}

TEST(ConfigTest, DistinctAddressesAcrossReplicas) {
  EXPECT_EQ(ErrorOf(EditReplicated({{"127.0.0.1:7112", "127.0.0.1:7001"}})),
            "c.yaml:9: shards[1][2]: 127.0.0.1:7001 is also coordinator[1]'s address");
  EXPECT_EQ(ErrorOf(EditReplicated({{"127.0.0.1:7111,", "127.0.0.1:7110,"}})),
            "c.yaml:9: shards[1][1]: 127.0.0.1:7110 is also shards[1][0]'s address");
  EXPECT_EQ(ErrorOf(EditReplicated({{"127.0.0.1:7110,", "127.0.0.1:7100,"}})),
            "c.yaml:9: shards[1][0]: 127.0.0.1:7100 is also shards[0]'s address");
  EXPECT_EQ(ErrorOf(EditReplicated({{"    - 127.0.0.1:7611", "    - 127.0.0.1:7111"}})),
            "c.yaml:13: shard_peers[1][1]: 127.0.0.1:7111 is also shards[1][1]'s address");
  EXPECT_EQ(ErrorOf(EditReplicated({{"    - 127.0.0.1:7612", "    - 127.0.0.1:7600"}})),
            "c.yaml:14: shard_peers[1][2]: 127.0.0.1:7600 is also shard_peers[0]'s address");
  EXPECT_EQ(ErrorOf(EditReplicated({{"127.0.0.1:7501", "127.0.0.1:7000"}})),
            "c.yaml:5: coordinator_peer[1]: 127.0.0.1:7000 is also coordinator[0]'s address");
  EXPECT_EQ(ErrorOf(EditReplicated({{"127.0.0.1:7001", "127.0.0.1:7000"}})),
            "c.yaml:4: coordinator[1]: 127.0.0.1:7000 is also coordinator[0]'s address");
  EXPECT_EQ(ErrorOf(EditReplicated({{"  - 127.0.0.1:7100", "  - 127.0.0.1:7501"}})),
            "c.yaml:8: shards[0]: 127.0.0.1:7501 is also coordinator_peer[1]'s address");
}

TEST(ConfigTest, UnknownAndRepeatedFields) {
  EXPECT_EQ(ErrorOf(Edit({{"tick_ms: 10", "tick_sm: 10"}})), "c.yaml:10: unknown field 'tick_sm'");
  EXPECT_EQ(ErrorOf(Edit({{"wal_sync: sync\n", "wal_sync: sync\ntick_ms: 20\n"}})),
            "c.yaml:12: tick_ms: given twice (first at line 10)");
  EXPECT_EQ(ErrorOf(Edit({{"wal_sync: sync\n", "wal_sync: sync\n[x]: 1\n"}})),
            "c.yaml:12: expected a field name, found a sequence");
}

TEST(ConfigTest, RoleAndShard) {
  EXPECT_EQ(ErrorOf(Edit({{"role: shard", "role: participant"}})),
            "c.yaml:1: role: expected coordinator or shard, found 'participant'");
  EXPECT_EQ(ErrorOf(Edit({{"role: shard", "role: coordinator"}})),
            "c.yaml:2: shard: only a node with role shard has one (role is coordinator)");
  EXPECT_EQ(ErrorOf(Edit({{"shard: 1\n", ""}})), "c.yaml: shard: required for role shard");
  EXPECT_EQ(ErrorOf(Edit({{"shard: 1", "shard: 3"}})),
            "c.yaml:2: shard: expected an integer in 0..2 (shards lists 3), found '3'");
  EXPECT_EQ(ErrorOf(Edit({{"shard: 1", "shard: -1"}})),
            "c.yaml:2: shard: expected an integer in 0..2 (shards lists 3), found '-1'");
}

TEST(ConfigTest, Addresses) {
  EXPECT_EQ(ErrorOf(Edit({{"  - 127.0.0.1:7102", "  - 127.0.0.1"}})),
            "c.yaml:8: shards[1]: expected host:port, found '127.0.0.1'");
  EXPECT_EQ(ErrorOf(Edit({{"coordinator: 127.0.0.1:7000", "coordinator: 127.0.0.1:0"}})),
            "c.yaml:4: coordinator: expected host:port, found '127.0.0.1:0' (port must be "
            "1..65535)");
  EXPECT_EQ(ErrorOf(Edit({{"  - 127.0.0.1:7103", "  - 127.0.0.1:70000"}})),
            "c.yaml:9: shards[2]: expected host:port, found '127.0.0.1:70000' (port must be "
            "1..65535)");
  EXPECT_EQ(ErrorOf(Edit({{"  - 127.0.0.1:7103", "  - [127.0.0.1, 7103]"}})),
            "c.yaml:9: shards[2][0]: expected host:port, found '127.0.0.1'");
  EXPECT_EQ(ErrorOf(Edit({{"  - 127.0.0.1:7103", "  - {127.0.0.1: 7103}"}})),
            "c.yaml:9: shards[2]: expected host:port or a non-empty sequence of host:port, found "
            "a mapping");
  EXPECT_EQ(ErrorOf(Edit({{"  - 127.0.0.1:7103", "  - 127.0.0.1:7101"}})),
            "c.yaml:9: shards[2]: 127.0.0.1:7101 is also shards[0]'s address");
  EXPECT_EQ(ErrorOf(Edit({{"  - 127.0.0.1:7101", "  - 127.0.0.1:7000"}})),
            "c.yaml:7: shards[0]: 127.0.0.1:7000 is also the coordinator's address");
  EXPECT_EQ(ErrorOf(Edit({{"shards:\n  - 127.0.0.1:7101\n  - 127.0.0.1:7102\n  - 127.0.0.1:7103\n",
                           "shards: []\n"}})),
            "c.yaml:6: shards: expected a non-empty sequence of host:port, found an empty one");
  EXPECT_EQ(ErrorOf(Edit({{"shards:\n  - 127.0.0.1:7101\n  - 127.0.0.1:7102\n  - 127.0.0.1:7103\n",
                           "shards: 127.0.0.1:7101\n"}})),
            "c.yaml:6: shards: expected a non-empty sequence of host:port, found "
            "'127.0.0.1:7101'");
}

TEST(ConfigTest, Partitioning) {
  EXPECT_EQ(ErrorOf(Edit({{"partitioning: hash", "partitioning: consistent"}})),
            "c.yaml:5: partitioning: expected \"hash\" or \"range\", found \"consistent\"");
  EXPECT_EQ(ErrorOf(Edit({{"partitioning: hash", "partitioning: range"}})),
            "c.yaml: range_split_keys: range partitioning over 3 shards needs 2, found 0");
  EXPECT_EQ(ErrorOf(Edit({{"partitioning: hash", "partitioning: range"},
                          {"tick_ms: 10", "range_split_keys: [m]\ntick_ms: 10"}})),
            "c.yaml:10: range_split_keys: range partitioning over 3 shards needs 2, found 1");
  EXPECT_EQ(ErrorOf(Edit({{"partitioning: hash", "partitioning: range"},
                          {"tick_ms: 10", "range_split_keys:\n  - p\n  - g\ntick_ms: 10"}})),
            "c.yaml:12: range_split_keys[1]: not greater than range_split_keys[0]");
  EXPECT_EQ(ErrorOf(Edit({{"partitioning: hash", "partitioning: range"},
                          {"tick_ms: 10", "range_split_keys: [g, [p]]\ntick_ms: 10"}})),
            "c.yaml:10: range_split_keys[1]: expected a string, found a sequence");
  EXPECT_EQ(ErrorOf(Edit({{"partitioning: hash", "partitioning: range"},
                          {"tick_ms: 10", "range_split_keys: g\ntick_ms: 10"}})),
            "c.yaml:10: range_split_keys: expected a sequence of strings, found 'g'");
  EXPECT_EQ(ErrorOf(Edit({{"tick_ms: 10", "range_split_keys: [m]\ntick_ms: 10"}})),
            "c.yaml:10: range_split_keys: hash partitioning takes none, found 1");
  // A valid range map, for contrast.
  const Result<NodeConfig> range =
      ParseNodeConfig(Edit({{"partitioning: hash", "partitioning: range"},
                            {"tick_ms: 10", "range_split_keys: [g, p]\ntick_ms: 10"}}),
                      "c.yaml");
  ASSERT_TRUE(range.ok()) << range.status().ToString();
  EXPECT_EQ(range.value().shard_map.split_keys, (std::vector<std::string>{"g", "p"}));
}

TEST(ConfigTest, Numbers) {
  EXPECT_EQ(ErrorOf(Edit({{"tick_ms: 10", "tick_ms: 0"}})),
            "c.yaml:10: tick_ms: expected an integer in 1..1000, found '0'");
  EXPECT_EQ(ErrorOf(Edit({{"tick_ms: 10", "tick_ms: 1001"}})),
            "c.yaml:10: tick_ms: expected an integer in 1..1000, found '1001'");
  EXPECT_EQ(ErrorOf(Edit({{"tick_ms: 10", "tick_ms: 1.5"}})),
            "c.yaml:10: tick_ms: expected an integer in 1..1000, found '1.5'");
  EXPECT_EQ(ErrorOf(Edit({{"tick_ms: 10", "tick_ms: -1"}})),
            "c.yaml:10: tick_ms: expected an integer in 1..1000, found '-1'");
  EXPECT_EQ(ErrorOf(Edit({{"tick_ms: 10", "tick_ms: 1e2"}})),
            "c.yaml:10: tick_ms: expected an integer in 1..1000, found '1e2'");
  EXPECT_EQ(ErrorOf(Edit({{"tick_ms: 10", "tick_ms: 0x10"}})),
            "c.yaml:10: tick_ms: expected an integer in 1..1000, found '0x10'");
  EXPECT_EQ(ErrorOf(Edit({{"tick_ms: 10", "tick_ms: ten"}})),
            "c.yaml:10: tick_ms: expected an integer in 1..1000, found 'ten'");
  EXPECT_EQ(ErrorOf(Edit({{"tick_ms: 10", "tick_ms: \"10\""}})),
            "c.yaml:10: tick_ms: expected an integer in 1..1000, found the quoted string '10'");
  EXPECT_EQ(ErrorOf(Edit({{"tick_ms: 10", "tick_ms: [10]"}})),
            "c.yaml:10: tick_ms: expected an integer in 1..1000, found a sequence");
  EXPECT_EQ(ErrorOf(Edit({{"tick_ms: 10", "tick_ms:"}})),
            "c.yaml:10: tick_ms: expected an integer in 1..1000, found nothing");
  EXPECT_EQ(ErrorOf(Edit({{"vote_timeout_ms: 2000", "vote_timeout_ms: 99999999999999999999999"}})),
            "c.yaml:12: vote_timeout_ms: expected an integer in 10..86400000 (at least tick_ms), "
            "found '99999999999999999999999'");
  EXPECT_EQ(ErrorOf(Edit({{"vote_timeout_ms: 2000", "vote_timeout_ms: 5"}})),
            "c.yaml:12: vote_timeout_ms: expected an integer in 10..86400000 (at least tick_ms), "
            "found '5'");
  EXPECT_EQ(ErrorOf(Edit({{"vote_timeout_ms: 2000", "client_timeout_ms: 86400001"}})),
            "c.yaml:12: client_timeout_ms: expected an integer in 10..86400000 (at least "
            "tick_ms), found '86400001'");
  EXPECT_EQ(ErrorOf(Edit({{"vote_timeout_ms: 2000", "idle_timeout_ms: 0"}})),
            "c.yaml:12: idle_timeout_ms: expected an integer in 10..86400000 (at least tick_ms), "
            "found '0'");
  EXPECT_EQ(ErrorOf(Edit({{"vote_timeout_ms: 2000", "retain_finished: 4294967296"}})),
            "c.yaml:12: retain_finished: expected an integer in 0..4294967295, found "
            "'4294967296'");
  EXPECT_EQ(ErrorOf(Edit({{"vote_timeout_ms: 2000", "max_frame_bytes: 16"}})),
            "c.yaml:12: max_frame_bytes: expected an integer in 4096..2147483647, found '16'");
  EXPECT_EQ(ErrorOf(Edit({{"vote_timeout_ms: 2000", "max_frame_bytes: 2147483648"}})),
            "c.yaml:12: max_frame_bytes: expected an integer in 4096..2147483647, found "
            "'2147483648'");
}

TEST(ConfigTest, WalSync) {
  EXPECT_EQ(ErrorOf(Edit({{"wal_sync: sync", "wal_sync: bogus"}})),
            "c.yaml:11: wal_sync: expected sync or manual_flush, found 'bogus'");
  const Result<NodeConfig> r =
      ParseNodeConfig(Edit({{"wal_sync: sync", "wal_sync: manual_flush"}}), "c.yaml");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r.value().wal_sync, "manual_flush");
}

TEST(ConfigTest, DocumentShape) {
  const std::string syntax = ErrorOf(Edit({{"tick_ms: 10", "tick_ms: [10"}}));
  EXPECT_EQ(syntax.rfind("c.yaml:11: YAML syntax error: ", 0), 0u) << syntax;
  EXPECT_NE(syntax.find("end of sequence flow not found (column "), std::string::npos) << syntax;
  const std::string indent = ErrorOf(Edit({{"tick_ms: 10", " tick_ms: 10"}}));
  EXPECT_EQ(indent.rfind("c.yaml:10: YAML syntax error: ", 0), 0u) << indent;

  EXPECT_EQ(ErrorOf(""), "c.yaml: empty document (expected a mapping of fields)");
  EXPECT_EQ(ErrorOf("# nothing here\n"), "c.yaml: empty document (expected a mapping of fields)");
  EXPECT_EQ(ErrorOf("---\n"), "c.yaml: empty document (expected a mapping of fields)");
  EXPECT_EQ(ErrorOf("- role: shard\n"), "c.yaml:1: expected a mapping of fields, found a sequence");
  EXPECT_EQ(ErrorOf("shard\n"), "c.yaml:1: expected a mapping of fields, found 'shard'");
  EXPECT_EQ(ErrorOf(std::string(kShardYaml) + "---\nrole: shard\n"),
            "c.yaml:19: a second YAML document (a config is one document)");
}

TEST(ConfigTest, Files) {
  EXPECT_EQ(LoadNodeConfig("/nonexistent-txcoord/c.yaml").status().message(),
            "/nonexistent-txcoord/c.yaml: cannot read: No such file or directory");
  EXPECT_EQ(LoadNodeConfig(ConfigPath("")).status().message(),
            ConfigPath("") + ": cannot read: Is a directory");
  // A file's errors name the file.
  const std::string path = ::testing::TempDir() + "config_test_bad.yaml";
  {
    std::ofstream out(path);
    out << Edit({{"tick_ms: 10", "tick_ms: 0"}});
  }
  EXPECT_EQ(LoadNodeConfig(path).status().message(),
            path + ":10: tick_ms: expected an integer in 1..1000, found '0'");
  std::remove(path.c_str());
}

}  // namespace
}  // namespace txcoord::cluster
