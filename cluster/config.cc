#include "cluster/config.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <iterator>
#include <map>
#include <memory>
#include <system_error>
#include <utility>
#include <vector>

#include "common/check.h"

namespace txcoord::cluster {
namespace {

constexpr std::string_view kFieldNames[] = {"role",
                                            "shard",
                                            "replica",
                                            "data_dir",
                                            "config_store",
                                            "config_master",
                                            "etcd_endpoints",
                                            "etcd_prefix",
                                            "coordinator",
                                            "coordinator_peer",
                                            "partitioning",
                                            "shards",
                                            "shard_peers",
                                            "range_split_keys",
                                            "tick_ms",
                                            "wal_sync",
                                            "vote_timeout_ms",
                                            "client_timeout_ms",
                                            "idle_timeout_ms",
                                            "retain_finished",
                                            "log_truncate_records",
                                            "log_retain_lagging_records",
                                            "max_frame_bytes",
                                            "min_insync",
                                            "heartbeat_ms",
                                            "lag_timeout_ms",
                                            "lease_ms",
                                            "grace_ms"};

// The bounds of config.h's schema comment, which gives their reasons.
constexpr uint32_t kMaxTickMs = 1000;
constexpr uint32_t kMaxTimeoutMs = 86'400'000;  // a day
constexpr uint32_t kMinFrameBytes = 4096;
constexpr uint32_t kMaxFrameBytes = 0x7fffffff;  // rpc/server.h: REQUIRES <= INT32_MAX
constexpr uint32_t kMaxInsync = 16;

constexpr std::string_view kIntTag = "tag:yaml.org,2002:int";

std::string Quoted(std::string_view s) { return "'" + std::string(s) + "'"; }

// What a node holds, for the "found ..." part of an error.
std::string Describe(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Scalar:
      if (node.Tag() == "?") return Quoted(node.Scalar());  // plain
      if (node.Tag() == "!") return "the quoted string " + Quoted(node.Scalar());
      return Quoted(node.Scalar()) + " tagged " + node.Tag();
    case YAML::NodeType::Sequence:
      return "a sequence";
    case YAML::NodeType::Map:
      return "a mapping";
    case YAML::NodeType::Null:
    case YAML::NodeType::Undefined:
      break;
  }
  return "nothing";
}

// "[3]" -> 3 for the first index in a field path like "shards[3].id"; -1 if there is none.
int64_t IndexIn(std::string_view path) {
  const size_t open = path.find('[');
  if (open == std::string_view::npos) return -1;
  int64_t index = -1;
  std::from_chars(path.data() + open + 1, path.data() + path.size(), index);
  return index;
}

void ReplaceAll(std::string* s, std::string_view from, std::string_view to) {
  for (size_t pos = s->find(from); pos != std::string::npos; pos = s->find(from, pos + to.size())) {
    s->replace(pos, from.size(), to);
  }
}

// A group of one replica as a plain address, a larger one as a flow sequence (replica r at r).
void EmitGroup(YAML::Emitter& out, const std::vector<Address>& group) {
  if (group.size() == 1) {
    out << group[0].ToString();
    return;
  }
  out << YAML::Flow << YAML::BeginSeq;
  for (const Address& a : group) out << a.ToString();
  out << YAML::EndSeq;
}

// "1 address", "3 addresses".
std::string Count(size_t n, std::string_view one, std::string_view many) {
  return std::to_string(n) + " " + std::string(n == 1 ? one : many);
}

// A group's peer addresses must match its client addresses one to one (replica r at index r).
std::string PeersFor(size_t peers, size_t replicas, std::string_view group) {
  return Count(peers, "address", "addresses") + " for " + Count(replicas, "replica", "replicas") +
         " of " + std::string(group);
}

// One address some replica listens at, for the distinct-address check.
struct Listener {
  std::string field;  // the YAML path: "coordinator", "coordinator[1]", "shards[0][2]", ...
  std::string whose;  // for the message
  Address address;
  YAML::Mark mark;
};

// One top-level field as written: the key (whose line errors cite) and the value.
struct Field {
  YAML::Node key;
  YAML::Node value;
};

// Parses one document's root mapping. Every method returns the first error it finds, already
// prefixed with the source and the line.
class Parser {
 public:
  explicit Parser(std::string_view source) : source_(source) {}

  // "source:line: what", or "source: what" when the mark is null (the thing is not in the text).
  Status Error(const YAML::Mark& mark, std::string_view what) const {
    std::string message = source_;
    if (!mark.is_null()) message += ":" + std::to_string(mark.line + 1);
    message += ": ";
    message += what;
    return Status::InvalidArgument(std::move(message));
  }
  Status Error(const YAML::Mark& mark, std::string_view field, std::string_view what) const {
    return Error(mark, std::string(field) + ": " + std::string(what));
  }

  Result<NodeConfig> Parse(const YAML::Node& root);

 private:
  // Fills fields_; unknown and duplicate fields are errors.
  Status Collect(const YAML::Node& root);
  const Field* Find(std::string_view name) const {
    const auto it = fields_.find(name);
    return it == fields_.end() ? nullptr : &it->second;
  }
  // Any scalar, as written. A required field that is absent is an error; an optional one leaves
  // *out as it is.
  Status ReadString(std::string_view name, bool required, std::string* out) const;
  // A plain decimal integer in min..max; `note` qualifies the range in the error.
  Status ReadInteger(const YAML::Node& value, const YAML::Mark& mark, std::string_view field,
                     uint32_t min, uint32_t max, std::string_view note, uint32_t* out) const;
  // An optional top-level integer field: absent leaves *out (the default) as it is.
  Status ReadOptionalInteger(std::string_view name, uint32_t min, uint32_t max,
                             std::string_view note, uint32_t* out) const;
  Status ReadAddress(const YAML::Node& value, const YAML::Mark& mark, std::string_view field,
                     Address* out) const;
  // One replica group's addresses (`coordinator`, `shards[i]`, ...): host:port for a group of one
  // replica, or a non-empty sequence of host:port (replica r at index r). `mark` is cited for the
  // group as a whole and for a plain address; a sequence's elements cite their own. Every address
  // is also appended to *listeners under its YAML path.
  Status ReadGroup(const YAML::Node& value, const YAML::Mark& mark, const std::string& field,
                   std::vector<Address>* out, std::vector<Listener>* listeners) const;
  // A required top-level group: `coordinator` or `coordinator_peer`.
  Status ReadRequiredGroup(const std::string& field, std::vector<Address>* out,
                           std::vector<Listener>* listeners) const;
  // shard_replicas, and shard_map.shards from each group's replica 0.
  Status ReadShards(NodeConfig* c, std::vector<Listener>* listeners) const;
  // shard_replica_peers, one group per shard and one address per replica of it, and shard_peers.
  Status ReadShardPeers(NodeConfig* c, std::vector<Listener>* listeners) const;
  Status ReadSplitKeys(ShardMap* map) const;
  // config_master, and with etcd its endpoints (also appended to *listeners) and prefix.
  Status ReadConfigMaster(NodeConfig* c, std::vector<Listener>* listeners) const;
  // Validate(map)'s error under the YAML names (split_keys is range_split_keys), at the line of
  // the field or element it names.
  Status ShardMapError(const Status& status) const;

  std::string source_;
  std::map<std::string, Field, std::less<>> fields_;
};

Status Parser::Collect(const YAML::Node& root) {
  // yaml-cpp's iterators yield temporaries: copy the nodes (they share the document's memory).
  for (const auto& field : root) {
    const YAML::Node key = field.first;
    if (!key.IsScalar()) return Error(key.Mark(), "expected a field name, found " + Describe(key));
    const std::string& name = key.Scalar();
    if (std::find(std::begin(kFieldNames), std::end(kFieldNames), name) == std::end(kFieldNames)) {
      return Error(key.Mark(), "unknown field " + Quoted(name));
    }
    const auto [pos, inserted] = fields_.try_emplace(name, Field{key, field.second});
    if (!inserted) {
      return Error(
          key.Mark(), name,
          "given twice (first at line " + std::to_string(pos->second.key.Mark().line + 1) + ")");
    }
  }
  return Status::Ok();
}

Status Parser::ReadString(std::string_view name, bool required, std::string* out) const {
  const Field* f = Find(name);
  if (f == nullptr) return required ? Error(YAML::Mark::null_mark(), name, "required") : Status();
  if (!f->value.IsScalar()) {
    return Error(f->key.Mark(), name, "expected a string, found " + Describe(f->value));
  }
  *out = f->value.Scalar();
  return Status::Ok();
}

Status Parser::ReadInteger(const YAML::Node& value, const YAML::Mark& mark, std::string_view field,
                           uint32_t min, uint32_t max, std::string_view note, uint32_t* out) const {
  const auto error = [&] {
    return Error(mark, field,
                 "expected an integer in " + std::to_string(min) + ".." + std::to_string(max) +
                     std::string(note) + ", found " + Describe(value));
  };
  if (!value.IsScalar() || (value.Tag() != "?" && value.Tag() != kIntTag)) return error();
  const std::string& text = value.Scalar();
  if (text.empty()) return error();
  uint64_t n = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return error();
    n = n * 10 + static_cast<uint64_t>(c - '0');
    if (n > max) return error();  // stops before n * 10 could overflow
  }
  if (n < min) return error();
  *out = static_cast<uint32_t>(n);
  return Status::Ok();
}

Status Parser::ReadOptionalInteger(std::string_view name, uint32_t min, uint32_t max,
                                   std::string_view note, uint32_t* out) const {
  const Field* f = Find(name);
  if (f == nullptr) return Status::Ok();
  return ReadInteger(f->value, f->key.Mark(), name, min, max, note, out);
}

Status Parser::ReadAddress(const YAML::Node& value, const YAML::Mark& mark, std::string_view field,
                           Address* out) const {
  if (!value.IsScalar()) {
    return Error(mark, field, "expected host:port, found " + Describe(value));
  }
  Result<Address> address = ParseAddress(value.Scalar());
  if (!address.ok()) return Error(mark, field, address.status().message());
  *out = std::move(address.value());
  return Status::Ok();
}

Status Parser::ReadGroup(const YAML::Node& value, const YAML::Mark& mark, const std::string& field,
                         std::vector<Address>* out, std::vector<Listener>* listeners) const {
  if (value.IsScalar()) {
    Address address;
    if (Status s = ReadAddress(value, mark, field, &address); !s.ok()) return s;
    listeners->push_back({field, field == "coordinator" ? "the coordinator's" : field + "'s",
                          address, value.Mark()});
    out->push_back(std::move(address));
    return Status::Ok();
  }
  if (!value.IsSequence() || value.size() == 0) {
    return Error(mark, field,
                 "expected host:port or a non-empty sequence of host:port, found " +
                     (value.IsSequence() ? std::string("an empty sequence") : Describe(value)));
  }
  for (size_t r = 0; r < value.size(); ++r) {
    const YAML::Node element = value[r];
    const std::string path = field + "[" + std::to_string(r) + "]";
    Address address;
    if (Status s = ReadAddress(element, element.Mark(), path, &address); !s.ok()) return s;
    listeners->push_back({path, path + "'s", address, element.Mark()});
    out->push_back(std::move(address));
  }
  return Status::Ok();
}

Status Parser::ReadRequiredGroup(const std::string& field, std::vector<Address>* out,
                                 std::vector<Listener>* listeners) const {
  const Field* f = Find(field);
  if (f == nullptr) return Error(YAML::Mark::null_mark(), field, "required");
  return ReadGroup(f->value, f->key.Mark(), field, out, listeners);
}

Status Parser::ReadShards(NodeConfig* c, std::vector<Listener>* listeners) const {
  const Field* f = Find("shards");
  if (f == nullptr) return Error(YAML::Mark::null_mark(), "shards", "required");
  if (!f->value.IsSequence() || f->value.size() == 0) {
    return Error(f->key.Mark(), "shards",
                 "expected a non-empty sequence of host:port, found " +
                     (f->value.IsSequence() ? std::string("an empty one") : Describe(f->value)));
  }
  for (size_t i = 0; i < f->value.size(); ++i) {
    const YAML::Node element = f->value[i];
    std::vector<Address> replicas;
    const Status s = ReadGroup(element, element.Mark(), "shards[" + std::to_string(i) + "]",
                               &replicas, listeners);
    if (!s.ok()) return s;
    c->shard_map.shards.push_back({static_cast<ShardId>(i), replicas[0].host, replicas[0].port});
    c->shard_replicas.push_back(std::move(replicas));
  }
  return Status::Ok();
}

Status Parser::ReadShardPeers(NodeConfig* c, std::vector<Listener>* listeners) const {
  const size_t shards = c->shard_replicas.size();
  const Field* f = Find("shard_peers");
  if (f == nullptr) return Error(YAML::Mark::null_mark(), "shard_peers", "required");
  if (!f->value.IsSequence() || f->value.size() != shards) {
    return Error(f->key.Mark(), "shard_peers",
                 "expected a sequence of " + std::to_string(shards) +
                     " host:port (one per shard, in shard id order), found " +
                     (f->value.IsSequence() ? std::to_string(f->value.size()) + " of them"
                                            : Describe(f->value)));
  }
  for (size_t i = 0; i < f->value.size(); ++i) {
    const YAML::Node element = f->value[i];
    const std::string field = "shard_peers[" + std::to_string(i) + "]";
    std::vector<Address> peers;
    const Status s = ReadGroup(element, element.Mark(), field, &peers, listeners);
    if (!s.ok()) return s;
    if (peers.size() != c->shard_replicas[i].size()) {
      return Error(
          element.Mark(), field,
          PeersFor(peers.size(), c->shard_replicas[i].size(), "shards[" + std::to_string(i) + "]"));
    }
    c->shard_peers.push_back(peers[0]);
    c->shard_replica_peers.push_back(std::move(peers));
  }
  return Status::Ok();
}

Status Parser::ReadSplitKeys(ShardMap* map) const {
  const Field* f = Find("range_split_keys");
  if (f == nullptr) return Status::Ok();  // none; Validate() decides whether that is right
  if (!f->value.IsSequence()) {
    return Error(f->key.Mark(), "range_split_keys",
                 "expected a sequence of strings, found " + Describe(f->value));
  }
  for (size_t i = 0; i < f->value.size(); ++i) {
    const YAML::Node element = f->value[i];
    if (!element.IsScalar()) {
      return Error(element.Mark(), "range_split_keys[" + std::to_string(i) + "]",
                   "expected a string, found " + Describe(element));
    }
    map->split_keys.push_back(element.Scalar());
  }
  return Status::Ok();
}

Status Parser::ReadConfigMaster(NodeConfig* c, std::vector<Listener>* listeners) const {
  if (Status s = ReadString("config_master", false, &c->config_master); !s.ok()) return s;
  if (c->config_master != "static" && c->config_master != "etcd") {
    return Error(Find("config_master")->key.Mark(), "config_master",
                 "expected static or etcd, found " + Describe(Find("config_master")->value));
  }
  const Field* endpoints = Find("etcd_endpoints");
  const Field* prefix = Find("etcd_prefix");
  if (c->config_master == "static") {
    for (const Field* f : {endpoints, prefix}) {
      if (f != nullptr) {
        return Error(f->key.Mark(), f->key.Scalar(), "only used with config_master etcd");
      }
    }
    return Status::Ok();
  }
  if (endpoints == nullptr) {
    return Error(YAML::Mark::null_mark(), "etcd_endpoints", "required with config_master etcd");
  }
  if (!endpoints->value.IsSequence() || endpoints->value.size() == 0) {
    return Error(endpoints->key.Mark(), "etcd_endpoints",
                 "expected a non-empty sequence of host:port, found " +
                     (endpoints->value.IsSequence() ? std::string("an empty one")
                                                    : Describe(endpoints->value)));
  }
  for (size_t i = 0; i < endpoints->value.size(); ++i) {
    const YAML::Node element = endpoints->value[i];
    const std::string path = "etcd_endpoints[" + std::to_string(i) + "]";
    Address address;
    if (Status s = ReadAddress(element, element.Mark(), path, &address); !s.ok()) return s;
    for (const Address& other : c->etcd_endpoints) {
      if (other == address) return Error(element.Mark(), path, address.ToString() + " given twice");
    }
    listeners->push_back({path, path + "'s", address, element.Mark()});
    c->etcd_endpoints.push_back(std::move(address));
  }
  if (prefix != nullptr) {
    if (Status s = ReadString("etcd_prefix", false, &c->etcd_prefix); !s.ok()) return s;
    if (c->etcd_prefix.size() < 2 || c->etcd_prefix.front() != '/' ||
        c->etcd_prefix.back() != '/') {
      return Error(prefix->key.Mark(), "etcd_prefix",
                   "expected a key prefix that starts and ends with '/' (as /txcoord/prod/), "
                   "found " + Describe(prefix->value));
    }
  }
  return Status::Ok();
}

Status Parser::ShardMapError(const Status& status) const {
  std::string message = status.message();
  const std::string_view path = std::string_view(message).substr(0, message.find(':'));
  const Field* f = nullptr;
  if (path.starts_with("split_keys")) f = Find("range_split_keys");
  if (path.starts_with("shards")) f = Find("shards");
  YAML::Mark mark = YAML::Mark::null_mark();
  if (f != nullptr) {
    mark = f->key.Mark();
    const int64_t index = IndexIn(path);
    if (f->value.IsSequence() && index >= 0 && static_cast<size_t>(index) < f->value.size()) {
      mark = f->value[static_cast<size_t>(index)].Mark();
    }
  }
  ReplaceAll(&message, "split_keys", "range_split_keys");
  return Error(mark, message);
}

Result<NodeConfig> Parser::Parse(const YAML::Node& root) {
  Status s = Collect(root);
  if (!s.ok()) return s;
  NodeConfig c;

  std::string role;
  if (s = ReadString("role", true, &role); !s.ok()) return s;
  if (role == "coordinator") {
    c.role = Role::kCoordinator;
  } else if (role == "shard") {
    c.role = Role::kShard;
  } else {
    return Error(Find("role")->key.Mark(), "role",
                 "expected coordinator or shard, found " + Describe(Find("role")->value));
  }
  const Field* shard = Find("shard");
  if (c.role == Role::kCoordinator && shard != nullptr) {
    return Error(shard->key.Mark(), "shard",
                 "only a node with role shard has one (role is coordinator)");
  }
  if (c.role == Role::kShard && shard == nullptr) {
    return Error(YAML::Mark::null_mark(), "shard", "required for role shard");
  }

  if (s = ReadString("data_dir", true, &c.data_dir); !s.ok()) return s;
  if (c.data_dir.empty()) return Error(Find("data_dir")->key.Mark(), "data_dir", "empty");

  // Every replica's client and peer address, in the order the distinct-address check reports
  // them: the coordinator group's, then the shards', then their peer ports.
  std::vector<Listener> listeners;
  if (s = ReadRequiredGroup("coordinator", &c.coordinators, &listeners); !s.ok()) return s;
  if (s = ReadRequiredGroup("coordinator_peer", &c.coordinator_peers, &listeners); !s.ok()) {
    return s;
  }
  if (c.coordinator_peers.size() != c.coordinators.size()) {
    return Error(Find("coordinator_peer")->key.Mark(), "coordinator_peer",
                 PeersFor(c.coordinator_peers.size(), c.coordinators.size(), "coordinator"));
  }
  c.coordinator = c.coordinators[0];
  c.coordinator_peer = c.coordinator_peers[0];

  std::string partitioning;
  if (s = ReadString("partitioning", true, &partitioning); !s.ok()) return s;
  const Result<Partitioning> p = ParsePartitioning(partitioning);
  if (!p.ok()) return Error(Find("partitioning")->key.Mark(), p.status().message());
  c.shard_map.version = 1;
  c.shard_map.partitioning = p.value();
  if (s = ReadShards(&c, &listeners); !s.ok()) return s;
  if (s = ReadSplitKeys(&c.shard_map); !s.ok()) return s;
  if (s = Validate(c.shard_map); !s.ok()) return ShardMapError(s);

  if (s = ReadShardPeers(&c, &listeners); !s.ok()) return s;
  if (s = ReadConfigMaster(&c, &listeners); !s.ok()) return s;

  // No two ports (client or peer, of any replica of any group) may be one address; a copy-paste
  // slip would otherwise route one shard's keys to another, or clients to the protocol.
  for (size_t i = 0; i < listeners.size(); ++i) {
    for (size_t j = 0; j < i; ++j) {
      if (listeners[i].address == listeners[j].address) {
        return Error(listeners[i].mark, listeners[i].field,
                     listeners[i].address.ToString() + " is also " + listeners[j].whose +
                         " address");
      }
    }
  }

  // This node's own group: the coordinator group, or shard `shard`'s.
  const std::vector<Address>* group = &c.coordinators;
  const std::vector<Address>* group_peers = &c.coordinator_peers;
  std::string group_name = "coordinator";
  if (c.role == Role::kShard) {
    uint32_t id = 0;
    const uint32_t last = static_cast<uint32_t>(c.shard_map.shards.size() - 1);
    s = ReadInteger(shard->value, shard->key.Mark(), "shard", 0, last,
                    " (shards lists " + std::to_string(last + 1) + ")", &id);
    if (!s.ok()) return s;
    c.shard = static_cast<ShardId>(id);
    group = &c.shard_replicas[id];
    group_peers = &c.shard_replica_peers[id];
    group_name = "shards[" + std::to_string(id) + "]";
  } else {
    c.shard = -1;
  }
  uint32_t replica = 0;
  s = ReadOptionalInteger(
      "replica", 0, static_cast<uint32_t>(group->size() - 1),
      " (" + group_name + " has " + Count(group->size(), "replica", "replicas") + ")", &replica);
  if (!s.ok()) return s;
  c.replica = static_cast<int32_t>(replica);
  c.listen = (*group)[replica];
  c.peer_listen = (*group_peers)[replica];

  // The configuration store: required as soon as some group's configuration can change, which
  // every node of the cluster must then read from the one shared file.
  const bool replicated =
      c.coordinators.size() > 1 ||
      std::any_of(c.shard_replicas.begin(), c.shard_replicas.end(),
                  [](const std::vector<Address>& replicas) { return replicas.size() > 1; });
  if (c.config_master == "etcd") {
    if (const Field* f = Find("config_store"); f != nullptr) {
      return Error(f->key.Mark(), "config_store",
                   "not used with config_master etcd (the group configurations are in etcd)");
    }
  } else if (const Field* f = Find("config_store"); f != nullptr) {
    if (s = ReadString("config_store", false, &c.config_store); !s.ok()) return s;
    if (c.config_store.empty()) return Error(f->key.Mark(), "config_store", "empty");
  } else if (replicated) {
    return Error(YAML::Mark::null_mark(), "config_store",
                 "required when a group has more than one replica");
  } else {
    c.config_store = c.data_dir + "/groups.yaml";
  }

  if (s = ReadOptionalInteger("tick_ms", 1, kMaxTickMs, "", &c.tick_ms); !s.ok()) return s;
  if (s = ReadString("wal_sync", false, &c.wal_sync); !s.ok()) return s;
  if (c.wal_sync != "sync" && c.wal_sync != "manual_flush") {
    return Error(Find("wal_sync")->key.Mark(), "wal_sync",
                 "expected sync or manual_flush, found " + Describe(Find("wal_sync")->value));
  }
  const std::string at_least_a_tick = " (at least tick_ms)";
  s = ReadOptionalInteger("vote_timeout_ms", c.tick_ms, kMaxTimeoutMs, at_least_a_tick,
                          &c.vote_timeout_ms);
  if (!s.ok()) return s;
  s = ReadOptionalInteger("client_timeout_ms", c.tick_ms, kMaxTimeoutMs, at_least_a_tick,
                          &c.client_timeout_ms);
  if (!s.ok()) return s;
  s = ReadOptionalInteger("idle_timeout_ms", c.tick_ms, kMaxTimeoutMs, at_least_a_tick,
                          &c.idle_timeout_ms);
  if (!s.ok()) return s;
  s = ReadOptionalInteger("retain_finished", 0, UINT32_MAX, "", &c.retain_finished);
  if (!s.ok()) return s;
  s = ReadOptionalInteger("log_truncate_records", 1, UINT32_MAX, "", &c.log_truncate_records);
  if (!s.ok()) return s;
  s = ReadOptionalInteger("log_retain_lagging_records", 0, UINT32_MAX, "",
                          &c.log_retain_lagging_records);
  if (!s.ok()) return s;
  s = ReadOptionalInteger("max_frame_bytes", kMinFrameBytes, kMaxFrameBytes, "",
                          &c.max_frame_bytes);
  if (!s.ok()) return s;

  s = ReadOptionalInteger("min_insync", 1, kMaxInsync, "", &c.min_insync);
  if (!s.ok()) return s;
  // Each replication period at least a tick, and each longer than the one before it: an idle
  // primary's heartbeats keep its backups in the ISR, a primary drops a silent backup before its
  // lease runs out for want of that backup's acks, and a deposed primary has stopped serving
  // before a backup proposes itself (replication/PROTOCOL.md, rule 4).
  const std::pair<std::string, uint32_t*> periods[] = {{"heartbeat_ms", &c.heartbeat_ms},
                                                       {"lag_timeout_ms", &c.lag_timeout_ms},
                                                       {"lease_ms", &c.lease_ms},
                                                       {"grace_ms", &c.grace_ms}};
  // An absent period is its default, stretched with the defaults' ratios when a heartbeat of the
  // default would be shorter than a tick (tick_ms above 30: 1, 10, 15 and 21.7 ticks), so a config
  // with a long tick and no replication fields, valid before they existed, stays valid.
  const NodeConfig defaults;
  const uint64_t stretch = std::max(c.tick_ms, defaults.heartbeat_ms);
  for (const auto& [name, value] : periods) {
    *value = static_cast<uint32_t>(*value * stretch / defaults.heartbeat_ms);
    s = ReadOptionalInteger(name, c.tick_ms, kMaxTimeoutMs, at_least_a_tick, value);
    if (!s.ok()) return s;
  }
  for (size_t i = 1; i < std::size(periods); ++i) {
    const auto& [shorter, low] = periods[i - 1];
    const auto& [longer, high] = periods[i];
    if (*high > *low) continue;
    // Blame the longer period where it is written; if it is the default, the shorter one (which
    // then was written: the defaults are in order).
    if (const Field* f = Find(longer); f != nullptr) {
      return Error(f->key.Mark(), longer,
                   "must be greater than " + shorter + " (" + std::to_string(*low) + ")");
    }
    const Field* f = Find(shorter);
    return Error(f == nullptr ? YAML::Mark::null_mark() : f->key.Mark(), shorter,
                 "must be less than " + longer + " (" + std::to_string(*high) + ")");
  }
  return c;
}

}  // namespace

const char* ToString(Role r) { return r == Role::kShard ? "shard" : "coordinator"; }

Result<NodeConfig> ParseNodeConfig(std::string_view yaml_text, std::string_view source) {
  Parser parser(source);
  std::vector<YAML::Node> documents;
  try {
    documents = YAML::LoadAll(std::string(yaml_text));
  } catch (const YAML::Exception& e) {
    return parser.Error(e.mark, "YAML syntax error: " + e.msg + " (column " +
                                    std::to_string(e.mark.column + 1) + ")");
  }
  if (documents.empty() || documents[0].IsNull()) {
    return parser.Error(YAML::Mark::null_mark(), "empty document (expected a mapping of fields)");
  }
  if (documents.size() > 1) {
    return parser.Error(documents[1].Mark(), "a second YAML document (a config is one document)");
  }
  if (!documents[0].IsMap()) {
    return parser.Error(documents[0].Mark(),
                        "expected a mapping of fields, found " + Describe(documents[0]));
  }
  return parser.Parse(documents[0]);
}

Result<NodeConfig> LoadNodeConfig(const std::string& path) {
  const auto error = [&path](int err) {
    return Status::InvalidArgument(path + ": cannot read: " + std::generic_category().message(err));
  };
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> file(std::fopen(path.c_str(), "rb"),
                                                       &std::fclose);
  if (file == nullptr) return error(errno);
  std::string text;
  char buffer[4096];
  size_t n;
  while ((n = std::fread(buffer, 1, sizeof(buffer), file.get())) > 0) text.append(buffer, n);
  if (std::ferror(file.get())) return error(errno);
  return ParseNodeConfig(text, path);
}

std::string FormatNodeConfig(const NodeConfig& config) {
  YAML::Emitter out;
  out << YAML::Comment("txcoord node config; the schema is in cluster/config.h");
  out << YAML::BeginMap;
  out << YAML::Key << "role" << YAML::Value << ToString(config.role);
  if (config.role == Role::kShard) out << YAML::Key << "shard" << YAML::Value << config.shard;
  out << YAML::Key << "replica" << YAML::Value << config.replica;
  out << YAML::Key << "data_dir" << YAML::Value << config.data_dir;
  out << YAML::Key << "config_master" << YAML::Value << config.config_master;
  if (config.config_master == "etcd") {
    out << YAML::Key << "etcd_endpoints" << YAML::Value << YAML::Flow << YAML::BeginSeq;
    for (const Address& a : config.etcd_endpoints) out << a.ToString();
    out << YAML::EndSeq;
    out << YAML::Key << "etcd_prefix" << YAML::Value << config.etcd_prefix;
  } else {
    // Written also when it was derived from data_dir: it reads back as the same path.
    out << YAML::Key << "config_store" << YAML::Value << config.config_store;
  }
  out << YAML::Key << "coordinator" << YAML::Value;
  EmitGroup(out, config.coordinators);
  out << YAML::Key << "coordinator_peer" << YAML::Value;
  EmitGroup(out, config.coordinator_peers);
  out << YAML::Key << "partitioning" << YAML::Value << ToString(config.shard_map.partitioning);
  out << YAML::Key << "shards" << YAML::Value << YAML::BeginSeq;
  for (const std::vector<Address>& group : config.shard_replicas) EmitGroup(out, group);
  out << YAML::EndSeq;
  out << YAML::Key << "shard_peers" << YAML::Value << YAML::BeginSeq;
  for (const std::vector<Address>& group : config.shard_replica_peers) EmitGroup(out, group);
  out << YAML::EndSeq;
  if (config.shard_map.partitioning == Partitioning::kRange) {
    out << YAML::Key << "range_split_keys" << YAML::Value << YAML::Flow << YAML::BeginSeq;
    for (const std::string& key : config.shard_map.split_keys) out << key;
    out << YAML::EndSeq;
  }
  out << YAML::Key << "tick_ms" << YAML::Value << config.tick_ms;
  out << YAML::Key << "wal_sync" << YAML::Value << config.wal_sync;
  out << YAML::Key << "vote_timeout_ms" << YAML::Value << config.vote_timeout_ms;
  out << YAML::Key << "client_timeout_ms" << YAML::Value << config.client_timeout_ms;
  out << YAML::Key << "idle_timeout_ms" << YAML::Value << config.idle_timeout_ms;
  out << YAML::Key << "retain_finished" << YAML::Value << config.retain_finished;
  out << YAML::Key << "log_truncate_records" << YAML::Value << config.log_truncate_records;
  out << YAML::Key << "log_retain_lagging_records" << YAML::Value
      << config.log_retain_lagging_records;
  out << YAML::Key << "max_frame_bytes" << YAML::Value << config.max_frame_bytes;
  out << YAML::Key << "min_insync" << YAML::Value << config.min_insync;
  out << YAML::Key << "heartbeat_ms" << YAML::Value << config.heartbeat_ms;
  out << YAML::Key << "lag_timeout_ms" << YAML::Value << config.lag_timeout_ms;
  out << YAML::Key << "lease_ms" << YAML::Value << config.lease_ms;
  out << YAML::Key << "grace_ms" << YAML::Value << config.grace_ms;
  out << YAML::EndMap;
  TXC_CHECK_MSG(out.good(), out.GetLastError().c_str());
  std::string text = std::string(out.c_str()) + "\n";

  const Result<NodeConfig> parsed = ParseNodeConfig(text, "FormatNodeConfig");
  TXC_CHECK_MSG(parsed.ok(), parsed.status().message().c_str());
  TXC_CHECK_MSG(parsed.value() == config, "the config does not read back equal (see REQUIRES)");
  return text;
}

}  // namespace txcoord::cluster
