// The C++ client library (DESIGN.md section 7): begin / read / write / commit / abort / execute /
// status against a txcoord coordinator, with reads and writes routed straight to the owning shard
// by the shard map the coordinator serves.
//
//   auto client = txcoord::client::Client::Connect({.host = "127.0.0.1", .port = 7000});
//   auto txn = client.value()->Begin(Protocol::kTwoPc);
//   client.value()->Write(txn.value(), "acct/1", "90");
//   Result<CommitOutcome> outcome = client.value()->Commit(txn.value());
//
// Outcomes are typed and never guessed:
//   - COMMITTED, or ABORTED with a reason, once the coordinator has decided;
//   - UNKNOWN when the outcome is ambiguous: the commit's reply was lost, its deadline passed, or
//     the coordinator could not tell in time. An UNKNOWN commit is NEVER retried by this library
//     (a retry could apply the writes twice): call StatusOf() until it says COMMITTED or ABORTED.
// A Status (not an outcome) is returned only when a request could not be made at all: an invalid
// argument, an unknown transaction, a client not connected.
//
// Reads and writes: a failed one (lock conflict under no-wait, a failed ADD constraint, an
// unreachable shard) leaves the transaction aborted at that shard: the call returns
// Status::Aborted naming the reason, and the Transaction remembers it; Commit() then aborts it
// everywhere and reports ABORTED with that reason. Nothing is retried behind the caller's back.
//
// Threads: a Client may be used by many threads at once (calls are pipelined on one connection
// per node); a Transaction by one thread at a time. Every call has a deadline (options.timeout).
#pragma once

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "cluster/shard_map.h"
#include "common/protocol.h"
#include "common/status.h"
#include "rpc/client.h"

namespace txcoord::client {

struct ClientOptions {
  std::string host = "127.0.0.1";
  uint16_t port = 0;
  // Deadline of every call. Keep it above the coordinator's client_timeout_ms, so that a slow
  // commit is answered by the coordinator (which may still know the outcome) before it passes.
  std::chrono::milliseconds timeout{10000};
};

// What is known about a transaction's fate.
struct CommitOutcome {
  Outcome outcome = Outcome::kUnknown;
  AbortReason reason = AbortReason::kNone;
  std::string detail;
};

struct ExecuteOutcome {
  TxnId txn;  // set whenever the coordinator assigned one (also for UNKNOWN)
  CommitOutcome result;
  std::vector<OpResult> reads;  // one per GET, in request order; COMMITTED only
};

// A transaction in progress. Begin() makes one; the client records which shards it touched.
class Transaction {
 public:
  TxnId id() const { return id_; }
  Protocol protocol() const { return protocol_; }
  const std::set<ShardId>& touched() const { return touched_; }
  // Set once a read or write failed: the transaction is aborted at some shard.
  std::optional<AbortReason> failed() const { return failed_; }
  bool finished() const { return finished_; }

 private:
  friend class Client;
  TxnId id_;
  Protocol protocol_ = Protocol::kTwoPc;
  std::set<ShardId> touched_;
  std::optional<AbortReason> failed_;
  std::string failed_detail_;
  bool finished_ = false;
};

class Client {
 public:
  // Connects to the coordinator and fetches the shard map.
  static Result<std::unique_ptr<Client>> Connect(ClientOptions options);
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  const cluster::ShardMap& shard_map() const { return map_; }
  ShardId ShardOf(const std::string& key) const { return cluster::ShardFor(map_, key); }

  Result<Transaction> Begin(Protocol protocol);

  // Runs ops at the shard that owns their keys (all must belong to one shard) and returns one
  // result per GET. The general form of Read/Write/Add.
  Result<std::vector<OpResult>> Run(Transaction& txn, std::vector<Op> ops);
  Result<std::optional<std::string>> Read(Transaction& txn, const std::string& key,
                                          bool for_update = false);
  txcoord::Status Write(Transaction& txn, const std::string& key, const std::string& value);
  txcoord::Status Delete(Transaction& txn, const std::string& key);

  // Commits (see the top of this file). InvalidArgument if the coordinator does not know the
  // transaction or the transaction is finished.
  Result<CommitOutcome> Commit(Transaction& txn);
  // Aborts: ABORTED, or COMMITTED if it already was, or UNKNOWN if a commit is in flight.
  Result<CommitOutcome> Abort(Transaction& txn);
  // One-shot: begin + ops (any shards) + commit in one coordinator call.
  Result<ExecuteOutcome> Execute(Protocol protocol, std::vector<Op> ops);
  // The same without waiting: `done` runs on the client's io thread (it must not block, nor call
  // this client's blocking methods) once the outcome is known. Many may be in flight at once;
  // they share one connection (pipelined).
  using ExecuteCallback = std::function<void(Result<ExecuteOutcome>)>;
  void ExecuteAsync(Protocol protocol, std::vector<Op> ops, ExecuteCallback done);
  // What the coordinator knows now (UNKNOWN while undecided).
  Result<CommitOutcome> StatusOf(TxnId txn);
  // What shard `shard` knows of each transaction now (Participant.states), in order; at most
  // 100,000 ids per call.
  Result<std::vector<TxnState>> StatesAt(ShardId shard, const std::vector<TxnId>& txns);

 private:
  class Impl;
  explicit Client(ClientOptions options);
  rpc::Deadline NextDeadline() const { return rpc::Clock::now() + options_.timeout; }
  void Fail(Transaction& txn, AbortReason reason, const std::string& detail);

  ClientOptions options_;
  boost::asio::io_context io_;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_;
  std::thread io_thread_;
  std::unique_ptr<rpc::Client> coordinator_;
  std::vector<std::unique_ptr<rpc::Client>> shards_;
  cluster::ShardMap map_;
};

}  // namespace txcoord::client
