#include "cluster/etcd_store.h"

#include <nlohmann/json.hpp>

#include <limits>

#include "common/check.h"

namespace txcoord::cluster {

using Json = nlohmann::json;
using replication::DiskId;
using replication::GroupConfig;
using replication::ReplicaId;

namespace {

Result<uint64_t> Unsigned(const Json& j, const std::string& where, uint64_t max) {
  if (!j.is_number_unsigned() && !(j.is_number_integer() && j.get<int64_t>() >= 0)) {
    return Status::Corruption(where + ": expected a non-negative integer");
  }
  const uint64_t v = j.get<uint64_t>();
  if (v > max) return Status::Corruption(where + ": out of range");
  return v;
}

Result<ReplicaId> Replica(const Json& j, const std::string& where) {
  Result<uint64_t> v = Unsigned(j, where, static_cast<uint64_t>(std::numeric_limits<int32_t>::max()));
  if (!v.ok()) return v.status();
  return static_cast<ReplicaId>(v.value());
}

// A replica id written as a JSON object key ("2"): plain decimal digits, no sign, no leading 0.
Result<ReplicaId> ReplicaKey(const std::string& text, const std::string& where) {
  if (text.empty() || text.size() > 10 || (text.size() > 1 && text[0] == '0')) {
    return Status::Corruption(where + ": expected a replica id, found '" + text + "'");
  }
  uint64_t v = 0;
  for (char c : text) {
    if (c < '0' || c > '9') {
      return Status::Corruption(where + ": expected a replica id, found '" + text + "'");
    }
    v = v * 10 + static_cast<uint64_t>(c - '0');
  }
  if (v > static_cast<uint64_t>(std::numeric_limits<int32_t>::max())) {
    return Status::Corruption(where + ": replica id out of range: " + text);
  }
  return static_cast<ReplicaId>(v);
}

}  // namespace

std::string GroupConfigToJson(const GroupConfig& c) {
  Json isr = Json::object();
  for (const auto& [id, disk] : c.isr) isr[std::to_string(id)] = disk;
  const Json j = {{"version", c.version}, {"epoch", c.epoch},     {"primary", c.primary},
                  {"members", c.members}, {"isr", std::move(isr)}};
  return j.dump();
}

Result<GroupConfig> GroupConfigFromJson(const std::string& text, const std::string& where) {
  const Json j = Json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) {
    return Status::Corruption(where + ": not a JSON object");
  }
  GroupConfig c;
  bool seen[5] = {};
  for (const auto& [field, value] : j.items()) {
    const std::string at = where + "." + field;
    if (field == "version" || field == "epoch") {
      Result<uint64_t> v = Unsigned(value, at, std::numeric_limits<uint64_t>::max());
      if (!v.ok()) return v.status();
      (field == "version" ? c.version : c.epoch) = v.value();
      seen[field == "version" ? 0 : 1] = true;
    } else if (field == "primary") {
      Result<ReplicaId> v = Replica(value, at);
      if (!v.ok()) return v.status();
      c.primary = v.value();
      seen[2] = true;
    } else if (field == "members") {
      if (!value.is_array()) return Status::Corruption(at + ": expected an array");
      for (const Json& m : value) {
        Result<ReplicaId> v = Replica(m, at);
        if (!v.ok()) return v.status();
        c.members.push_back(v.value());
      }
      seen[3] = true;
    } else if (field == "isr") {
      if (!value.is_object()) return Status::Corruption(at + ": expected an object");
      for (const auto& [id, disk] : value.items()) {
        Result<ReplicaId> r = ReplicaKey(id, at);
        if (!r.ok()) return r.status();
        Result<uint64_t> d = Unsigned(disk, at + "." + id, std::numeric_limits<DiskId>::max());
        if (!d.ok()) return d.status();
        c.isr[r.value()] = d.value();
      }
      seen[4] = true;
    } else {
      return Status::Corruption(at + ": unknown field");
    }
  }
  const char* names[] = {"version", "epoch", "primary", "members", "isr"};
  for (size_t i = 0; i < std::size(seen); ++i) {
    if (!seen[i]) return Status::Corruption(where + "." + names[i] + ": missing");
  }
  if (Status s = Validate(c); !s.ok()) return Status::Corruption(where + ": " + s.message());
  return c;
}

EtcdConfigStore::EtcdConfigStore(EtcdClientOptions client, std::string prefix)
    : client_(std::move(client)), prefix_(std::move(prefix)) {
  TXC_CHECK_MSG(!prefix_.empty() && prefix_.back() == '/', "etcd prefix must end in '/'");
}

Result<GroupConfig> EtcdConfigStore::Parse(const EtcdKv& kv, const std::string& group) {
  Result<GroupConfig> c = GroupConfigFromJson(kv.value, "etcd key " + kv.key);
  if (!c.ok()) return c.status();
  seen_[group] = Seen{c.value().version, kv.mod_revision};
  return c;
}

Result<GroupConfig> EtcdConfigStore::Read(const std::string& group) {
  Result<EtcdRange> r = client_.Range(GroupKey(group));
  if (!r.ok()) return r.status();
  if (r.value().kvs.empty()) {
    seen_[group] = Seen{};
    return Status::NotFound("no configuration for " + group + " in etcd");
  }
  return Parse(r.value().kvs.front(), group);
}

Result<std::map<std::string, GroupConfig>> EtcdConfigStore::ReadAll() {
  const std::string from = prefix_ + "groups/";
  Result<EtcdRange> r = client_.Range(from, PrefixEnd(from));
  if (!r.ok()) return r.status();
  std::map<std::string, GroupConfig> groups;
  for (const EtcdKv& kv : r.value().kvs) {
    const std::string group = kv.key.substr(from.size());
    Result<GroupConfig> c = Parse(kv, group);
    if (!c.ok()) return c.status();
    groups[group] = std::move(c.value());
  }
  return groups;
}

Result<CasResult> EtcdConfigStore::CompareAndSwap(const std::string& group,
                                                  const GroupConfig& next) {
  if (Status s = Validate(next); !s.ok()) return s;
  CasResult result;
  auto seen = seen_.find(group);
  if (seen == seen_.end() || seen->second.version + 1 != next.version) {
    // What is stored now decides whether the swap can be tried at all.
    Result<GroupConfig> current = Read(group);
    if (!current.ok() && current.status().code() != Status::Code::kNotFound) {
      return current.status();
    }
    if (current.ok()) result.current = current.value();
    seen = seen_.find(group);
    if (seen->second.version + 1 != next.version) return result;
  }
  const std::string key = GroupKey(group);
  EtcdCompare compare;
  compare.key = key;
  if (next.version == 1) {
    compare.target = EtcdCompare::Target::kCreate;
    compare.revision = 0;  // the key does not exist
  } else {
    compare.target = EtcdCompare::Target::kMod;
    compare.revision = seen->second.mod_revision;
  }
  Result<EtcdTxnResult> txn =
      client_.Txn({compare}, {EtcdPut{key, GroupConfigToJson(next), 0}}, {key});
  if (!txn.ok()) {
    seen_.erase(group);  // whether it was applied is unknown: read before the next try
    return txn.status();
  }
  if (txn.value().succeeded) {
    // The txn's revision is the mod_revision of the put it made.
    seen_[group] = Seen{next.version, txn.value().revision};
    result.swapped = true;
    result.current = next;
    return result;
  }
  result.current = GroupConfig{};
  seen_[group] = Seen{};
  if (!txn.value().failure_kvs.empty()) {
    Result<GroupConfig> current = Parse(txn.value().failure_kvs.front(), group);
    if (!current.ok()) return current.status();
    result.current = current.value();
  }
  return result;
}

Result<std::string> EtcdConfigStore::CreateOrReadLayout(const std::string& layout) {
  const std::string key = prefix_ + "layout";
  EtcdCompare absent;
  absent.target = EtcdCompare::Target::kCreate;
  absent.key = key;
  absent.revision = 0;
  Result<EtcdTxnResult> txn = client_.Txn({absent}, {EtcdPut{key, layout, 0}}, {key});
  if (!txn.ok()) return txn.status();
  if (txn.value().succeeded) return layout;
  if (txn.value().failure_kvs.empty()) {
    return Status::Corruption("etcd: " + key + " neither absent nor present");
  }
  return txn.value().failure_kvs.front().value;
}

Status EtcdConfigStore::KeepRegistered(const std::string& member, const std::string& value,
                                       int64_t ttl_seconds) {
  const std::string key = prefix_ + "members/" + member;
  const std::string what = key + "\n" + value;
  if (lease_ != 0 && registered_ == what) {
    Result<int64_t> left = client_.LeaseKeepAlive(lease_);
    if (!left.ok()) return left.status();
    if (left.value() > 0) return Status::Ok();
    lease_ = 0;  // expired (etcd was away longer than the TTL): register anew
  }
  if (lease_ != 0) (void)client_.LeaseRevoke(lease_);  // the value changed
  lease_ = 0;
  registered_.clear();
  Result<int64_t> lease = client_.LeaseGrant(ttl_seconds);
  if (!lease.ok()) return lease.status();
  Result<EtcdTxnResult> put = client_.Txn({}, {EtcdPut{key, value, lease.value()}}, {});
  if (!put.ok()) {
    (void)client_.LeaseRevoke(lease.value());
    return put.status();
  }
  lease_ = lease.value();
  registered_ = what;
  return Status::Ok();
}

void EtcdConfigStore::Deregister() {
  if (lease_ != 0) (void)client_.LeaseRevoke(lease_);
  lease_ = 0;
  registered_.clear();
}

Result<std::map<std::string, std::string>> EtcdConfigStore::Members() {
  const std::string from = prefix_ + "members/";
  Result<EtcdRange> r = client_.Range(from, PrefixEnd(from));
  if (!r.ok()) return r.status();
  std::map<std::string, std::string> members;
  for (EtcdKv& kv : r.value().kvs) members[kv.key.substr(from.size())] = std::move(kv.value);
  return members;
}

}  // namespace txcoord::cluster
