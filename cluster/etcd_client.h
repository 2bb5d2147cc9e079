// A small client of etcd's v3 API through its JSON gateway (HTTP/1.1 POSTs of JSON to
// /v3/kv/range, /v3/kv/txn, /v3/lease/..., on each member's client port), written on
// Boost.Beast and nlohmann-json: Debian has no C++ etcd client. It does what the `etcd`
// configuration master (cluster/etcd_store.h) needs and nothing more.
//
// The gateway's conventions: keys and values are base64, 64-bit integers are JSON strings, a
// field at its default value is left out (a range that finds nothing has no `kvs`, a failed
// txn has no `succeeded`), and a refused call answers {"error", "message", "code"} with the
// gRPC code.
//
// Calls are synchronous and bounded: each has a deadline (the client's timeout), and each try
// of one endpoint at most `attempt_timeout` (a write, once sent, waits for its answer until the
// deadline). Several endpoints: the client keeps one
// connection (keep-alive) to the endpoint that last answered and moves to the next one when it
// cannot connect, when a read gets no answer in time, or when the member answers that it cannot
// serve now (no leader, not yet started, timed out: gRPC Unavailable / DeadlineExceeded). So a
// dead or cut-off member is skipped. What is retried on another endpoint:
//   - a read (Range, Status), always: it changes nothing;
//   - a write (Txn, Put, lease calls) only when it was never sent (no connection). A write that
//     was sent and got no answer may have been applied: the call fails with Unavailable
//     "outcome unknown", and the caller reads to find out. Never guessed.
// Reads are linearizable (etcd's default): a member cut off from its cluster's majority cannot
// answer one, so the client never sees a stale configuration from a minority.
//
// Errors: Unavailable when no endpoint answered (each endpoint's reason in the message);
// Unavailable "outcome unknown" for a write as above; InvalidArgument for a call etcd refused
// as malformed; Corruption for an answer that is not what the gateway sends.
// Not thread-safe: one caller at a time (the node's configuration-store thread).
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "cluster/address.h"
#include "common/status.h"

namespace txcoord::cluster {

// Standard base64 (RFC 4648, with padding). Decoding is strict: nullopt-like failure for a
// length not a multiple of 4, a character outside the alphabet or misplaced padding.
std::string EncodeBase64(std::string_view bytes);
Result<std::string> DecodeBase64(std::string_view text);

// The smallest key greater than every key that starts with `prefix` (etcd's range_end for a
// prefix): the prefix with its last byte below 0xff incremented and what follows dropped.
// REQUIRES: prefix is not empty and not all 0xff bytes.
std::string PrefixEnd(std::string_view prefix);

struct EtcdKv {
  std::string key;
  std::string value;
  int64_t create_revision = 0;
  int64_t mod_revision = 0;
  int64_t version = 0;
  int64_t lease = 0;
};

struct EtcdRange {
  int64_t revision = 0;  // the store's revision the answer was read at
  std::vector<EtcdKv> kvs;
};

// One comparison of a txn: the key's mod_revision (or its create_revision: 0 means the key does
// not exist) equal to `revision`.
struct EtcdCompare {
  enum class Target : uint8_t { kMod, kCreate };
  Target target = Target::kMod;
  std::string key;
  int64_t revision = 0;
};

struct EtcdPut {
  std::string key;
  std::string value;
  int64_t lease = 0;  // 0: none
};

struct EtcdTxnResult {
  bool succeeded = false;
  int64_t revision = 0;
  // On failure: what each of the txn's failure ranges read (the current values, in one trip).
  std::vector<EtcdKv> failure_kvs;
};

struct EtcdMemberStatus {
  uint64_t member_id = 0;
  uint64_t leader = 0;  // 0: the member knows no leader
  int64_t raft_term = 0;
  std::string version;
};

// One message of a /v3/watch stream (a line {"result": {...}}): the revision of its header, the
// puts among its events (a DELETE event is left out), and whether etcd created or canceled the
// watch (canceled with compact_revision > 0: the start revision was compacted away). A line that
// is an error ({"error": ...}) or not such a message is Corruption carrying its text.
struct EtcdWatchMessage {
  int64_t revision = 0;
  bool created = false;
  bool canceled = false;
  int64_t compact_revision = 0;
  std::string cancel_reason;
  std::vector<EtcdKv> puts;
};
Result<EtcdWatchMessage> ParseWatchMessage(std::string_view line);

struct EtcdClientOptions {
  std::vector<Address> endpoints;                      // REQUIRES: non-empty
  std::chrono::milliseconds timeout{1000};             // a whole call, every endpoint tried
  std::chrono::milliseconds attempt_timeout{300};      // one endpoint: connect, send, answer
};

class EtcdClient {
 public:
  explicit EtcdClient(EtcdClientOptions options);
  ~EtcdClient();
  EtcdClient(const EtcdClient&) = delete;
  EtcdClient& operator=(const EtcdClient&) = delete;

  // The keys in [key, range_end) (range_end empty: the one key).
  Result<EtcdRange> Range(const std::string& key, const std::string& range_end = "");
  // If every comparison holds, the puts; else the failure ranges (each the one key given) read.
  Result<EtcdTxnResult> Txn(const std::vector<EtcdCompare>& compares,
                            const std::vector<EtcdPut>& puts,
                            const std::vector<std::string>& failure_reads);
  // A lease of `ttl_seconds`: its id.
  Result<int64_t> LeaseGrant(int64_t ttl_seconds);
  // Renews the lease: its remaining TTL in seconds, 0 when it has expired (or never existed).
  Result<int64_t> LeaseKeepAlive(int64_t lease);
  Status LeaseRevoke(int64_t lease);
  // One member's own status (no other endpoint is tried): who it thinks leads.
  Result<EtcdMemberStatus> MemberStatus(const Address& endpoint);

  // The endpoint the last call was answered by (for messages).
  std::string current_endpoint() const;

 private:
  struct Connection;
  enum class Kind : uint8_t { kRead, kWrite };
  // POSTs `body` to `path` as described at the top: the answer's JSON text.
  Result<std::string> Call(const std::string& path, const std::string& body, Kind kind);

  EtcdClientOptions options_;
  size_t current_ = 0;  // index in options_.endpoints
  std::unique_ptr<Connection> connection_;
};

}  // namespace txcoord::cluster
