#include "cluster/config.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <map>
#include <memory>
#include <system_error>
#include <vector>

#include "common/check.h"

namespace txcoord::cluster {
namespace {

constexpr std::string_view kFieldNames[] = {"role",
                                            "shard",
                                            "data_dir",
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
                                            "max_frame_bytes"};

// The bounds of config.h's schema comment, which gives their reasons.
constexpr uint32_t kMaxTickMs = 1000;
constexpr uint32_t kMaxTimeoutMs = 86'400'000;  // a day
constexpr uint32_t kMinFrameBytes = 4096;
constexpr uint32_t kMaxFrameBytes = 0x7fffffff;  // rpc/server.h: REQUIRES <= INT32_MAX

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

Address AddressOf(const ShardEndpoint& e) { return Address{e.host, e.port}; }

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
  Status ReadShards(ShardMap* map) const;
  Status ReadShardPeers(size_t shards, std::vector<Address>* out) const;
  Status ReadRequiredAddress(std::string_view field, Address* out) const;
  Status ReadSplitKeys(ShardMap* map) const;
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

Status Parser::ReadShards(ShardMap* map) const {
  const Field* f = Find("shards");
  if (f == nullptr) return Error(YAML::Mark::null_mark(), "shards", "required");
  if (!f->value.IsSequence() || f->value.size() == 0) {
    return Error(f->key.Mark(), "shards",
                 "expected a non-empty sequence of host:port, found " +
                     (f->value.IsSequence() ? std::string("an empty one") : Describe(f->value)));
  }
  for (size_t i = 0; i < f->value.size(); ++i) {
    const YAML::Node element = f->value[i];
    Address address;
    const Status s =
        ReadAddress(element, element.Mark(), "shards[" + std::to_string(i) + "]", &address);
    if (!s.ok()) return s;
    map->shards.push_back({static_cast<ShardId>(i), std::move(address.host), address.port});
  }
  return Status::Ok();
}

Status Parser::ReadShardPeers(size_t shards, std::vector<Address>* out) const {
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
    Address address;
    const Status s =
        ReadAddress(element, element.Mark(), "shard_peers[" + std::to_string(i) + "]", &address);
    if (!s.ok()) return s;
    out->push_back(std::move(address));
  }
  return Status::Ok();
}

Status Parser::ReadRequiredAddress(std::string_view field, Address* out) const {
  const Field* f = Find(field);
  if (f == nullptr) return Error(YAML::Mark::null_mark(), field, "required");
  return ReadAddress(f->value, f->key.Mark(), field, out);
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

  if (s = ReadRequiredAddress("coordinator", &c.coordinator); !s.ok()) return s;
  if (s = ReadRequiredAddress("coordinator_peer", &c.coordinator_peer); !s.ok()) return s;

  std::string partitioning;
  if (s = ReadString("partitioning", true, &partitioning); !s.ok()) return s;
  const Result<Partitioning> p = ParsePartitioning(partitioning);
  if (!p.ok()) return Error(Find("partitioning")->key.Mark(), p.status().message());
  c.shard_map.version = 1;
  c.shard_map.partitioning = p.value();
  if (s = ReadShards(&c.shard_map); !s.ok()) return s;
  if (s = ReadSplitKeys(&c.shard_map); !s.ok()) return s;
  if (s = Validate(c.shard_map); !s.ok()) return ShardMapError(s);

  if (s = ReadShardPeers(c.shard_map.shards.size(), &c.shard_peers); !s.ok()) return s;

  // No two ports (client or peer, of any node) may be one address; a copy-paste slip would
  // otherwise route one shard's keys to another, or clients to the protocol.
  struct Listener {
    std::string field;  // the YAML path
    std::string whose;  // for the message
    Address address;
    YAML::Mark mark;
  };
  std::vector<Listener> listeners = {
      {"coordinator", "the coordinator's", c.coordinator, Find("coordinator")->value.Mark()},
      {"coordinator_peer", "coordinator_peer's", c.coordinator_peer,
       Find("coordinator_peer")->value.Mark()},
  };
  for (size_t i = 0; i < c.shard_map.shards.size(); ++i) {
    const std::string field = "shards[" + std::to_string(i) + "]";
    listeners.push_back({field, field + "'s", AddressOf(c.shard_map.shards[i]),
                         Find("shards")->value[i].Mark()});
  }
  for (size_t i = 0; i < c.shard_peers.size(); ++i) {
    const std::string field = "shard_peers[" + std::to_string(i) + "]";
    listeners.push_back({field, field + "'s", c.shard_peers[i], Find("shard_peers")->value[i].Mark()});
  }
  for (size_t i = 0; i < listeners.size(); ++i) {
    for (size_t j = 0; j < i; ++j) {
      if (listeners[i].address == listeners[j].address) {
        return Error(listeners[i].mark, listeners[i].field,
                     listeners[i].address.ToString() + " is also " + listeners[j].whose +
                         " address");
      }
    }
  }

  if (c.role == Role::kShard) {
    uint32_t id = 0;
    const uint32_t last = static_cast<uint32_t>(c.shard_map.shards.size() - 1);
    s = ReadInteger(shard->value, shard->key.Mark(), "shard", 0, last,
                    " (shards lists " + std::to_string(last + 1) + ")", &id);
    if (!s.ok()) return s;
    c.shard = static_cast<ShardId>(id);
    c.listen = AddressOf(c.shard_map.shards[id]);
    c.peer_listen = c.shard_peers[id];
  } else {
    c.shard = -1;
    c.listen = c.coordinator;
    c.peer_listen = c.coordinator_peer;
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
  s = ReadOptionalInteger("max_frame_bytes", kMinFrameBytes, kMaxFrameBytes, "",
                          &c.max_frame_bytes);
  if (!s.ok()) return s;
  return c;
}

}  // namespace

std::string Address::ToString() const {
  const std::string p = std::to_string(port);
  return host.find(':') == std::string::npos ? host + ":" + p : "[" + host + "]:" + p;
}

Result<Address> ParseAddress(std::string_view text) {
  const auto error = [text](std::string_view why) {
    std::string message = "expected host:port, found " + Quoted(text);
    if (!why.empty()) message += " (" + std::string(why) + ")";
    return Status::InvalidArgument(std::move(message));
  };
  const size_t colon = text.rfind(':');
  if (colon == std::string_view::npos) return error("");
  std::string_view host = text.substr(0, colon);
  const std::string_view port = text.substr(colon + 1);
  if (text.find_first_of(" \t\r\n\f\v") != std::string_view::npos) return error("whitespace");
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  } else if (host.find_first_of("[]") != std::string_view::npos) {
    return error("unbalanced brackets");
  } else if (host.find(':') != std::string_view::npos) {
    return error("an IPv6 host goes in brackets: [::1]:7000");
  }
  if (host.empty()) return error("empty host");
  uint32_t number = 0;
  const auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), number);
  if (port.empty() || ec != std::errc() || end != port.data() + port.size() || number == 0 ||
      number > 65535) {
    return error("port must be 1..65535");
  }
  return Address{std::string(host), static_cast<uint16_t>(number)};
}

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
  out << YAML::Key << "data_dir" << YAML::Value << config.data_dir;
  out << YAML::Key << "coordinator" << YAML::Value << config.coordinator.ToString();
  out << YAML::Key << "coordinator_peer" << YAML::Value << config.coordinator_peer.ToString();
  out << YAML::Key << "partitioning" << YAML::Value << ToString(config.shard_map.partitioning);
  out << YAML::Key << "shards" << YAML::Value << YAML::BeginSeq;
  for (const ShardEndpoint& e : config.shard_map.shards) out << AddressOf(e).ToString();
  out << YAML::EndSeq;
  out << YAML::Key << "shard_peers" << YAML::Value << YAML::BeginSeq;
  for (const Address& a : config.shard_peers) out << a.ToString();
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
  out << YAML::Key << "max_frame_bytes" << YAML::Value << config.max_frame_bytes;
  out << YAML::EndMap;
  TXC_CHECK_MSG(out.good(), out.GetLastError().c_str());
  std::string text = std::string(out.c_str()) + "\n";

  const Result<NodeConfig> parsed = ParseNodeConfig(text, "FormatNodeConfig");
  TXC_CHECK_MSG(parsed.ok(), parsed.status().message().c_str());
  TXC_CHECK_MSG(parsed.value() == config, "the config does not read back equal (see REQUIRES)");
  return text;
}

}  // namespace txcoord::cluster
