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

// kShardYaml with each `from` replaced by its `to` (each must occur).
std::string Edit(std::initializer_list<std::pair<std::string_view, std::string_view>> edits) {
  std::string text(kShardYaml);
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
  EXPECT_EQ(got.data_dir, want.data_dir);
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
  EXPECT_TRUE(got == want) << "operator== disagrees with the fields";
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

  const NodeConfig& s = shard.value();
  EXPECT_EQ(s.role, Role::kShard);
  EXPECT_EQ(s.shard, 0);
  EXPECT_EQ(s.data_dir, "/tmp/txcoord/s0");
  EXPECT_EQ(s.listen, (Address{"127.0.0.1", 7101}));
  EXPECT_EQ(s.peer_listen, (Address{"127.0.0.1", 7601}));
  // The same cluster: the same coordinator and shard map, and the same tuning.
  EXPECT_EQ(s.coordinator, c.coordinator);
  EXPECT_EQ(s.shard_map, c.shard_map);
  NodeConfig same_tuning = s;
  same_tuning.role = c.role;
  same_tuning.shard = c.shard;
  same_tuning.data_dir = c.data_dir;
  same_tuning.listen = c.listen;
  same_tuning.peer_listen = c.peer_listen;
  ExpectSameConfig(same_tuning, c);

  ExpectRoundTrip(c);
  ExpectRoundTrip(s);
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
  ExpectRoundTrip(c);
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
  ExpectRoundTrip(c);

  c.shard_map.shards.resize(1);  // one range shard owns everything: no split keys
  c.shard_peers.resize(1);
  c.shard_map.split_keys.clear();
  ExpectRoundTrip(c);
}

TEST(ConfigTest, FormatStopsOnAConfigThatWouldNotReadBack) {
  NodeConfig c = ParseNodeConfig(kShardYaml, "c.yaml").value();
  c.shard_map.version = 2;  // a config file always describes version 1
  EXPECT_DEATH(FormatNodeConfig(c), "does not read back equal");
  c = ParseNodeConfig(kShardYaml, "c.yaml").value();
  c.tick_ms = 0;
  EXPECT_DEATH(FormatNodeConfig(c), "tick_ms: expected an integer in 1..1000, found '0'");
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
            "c.yaml:9: shards[2]: expected host:port, found a sequence");
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
