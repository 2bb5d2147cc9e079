// The C++ client library (DESIGN.md section 7): begin / read / write / commit / abort / execute /
// status against a txcoord coordinator, with reads and writes routed straight to the owning shard
// by the shard map the coordinator serves.
//
//   auto client = txcoord::client::Client::Connect(
//       {.coordinators = {"127.0.0.1:7000", "127.0.0.1:7100", "127.0.0.1:7200"}});
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
// argument, an unknown transaction, a client not connected, no primary found before the deadline
// (see below: then nothing was done).
//
// Reads and writes: a failed one (lock conflict under no-wait, a failed ADD constraint, an
// unreachable shard) leaves the transaction aborted at that shard: the call returns
// Status::Aborted naming the reason, and the Transaction remembers it; Commit() then aborts it
// everywhere and reports ABORTED with that reason. Nothing that may have run is retried behind
// the caller's back.
//
// Replica groups. The coordinator and every shard are groups of replicas, one of them the
// primary; a replica that is not the serving primary answers NotPrimary, which means the request
// changed nothing, and names the primary it knows ("host:port", or empty). The client follows
// primaries, within each call's one deadline (options.timeout):
//   - Coordinator calls start at the replica that last answered as primary. On NotPrimary they go
//     to the replica it names (when it names another), else to the next of options.coordinators,
//     and try again; after every full round of the list they pause (20 ms, doubling up to
//     200 ms).
//   - Begin, StatusOf and the shard-map fetch also move on, the same way, when a replica cannot
//     be reached (Unavailable: refused, lost, being re-made): for them a repeat is harmless (a
//     begun transaction nobody uses times out).
//   - Commit, Abort and Execute must not run twice, and rpc::Client cannot tell a request that
//     never left from one that was sent and got no answer (rpc/client.h). So they move on only
//     on NotPrimary, and before sending to a replica not heard from in this call (one moved to,
//     or the first one if it has not answered since the calls started there) they send a probe
//     (shard_map) first: if the probe cannot reach it, the request was certainly not sent there,
//     and the call moves on. A request that was sent and got no answer (connection lost, or a
//     connection error after the probe succeeded, or the deadline) is UNKNOWN as always, never
//     retried; after a connection error, or a call that got no answer by its deadline (a replica
//     cut off by the network answers nothing and resets nothing), the calls that follow start at
//     the next replica. A probe waits at most 1 s: one unanswered by then counts as unreachable.
//   - Reads and writes (Run) go to the shard's primary as the shard map names it. On NotPrimary
//     from the shard, the client fetches the shard map again (from any coordinator replica) and
//     runs the ops again (NotPrimary changed nothing) at the primary the new map names, or, if
//     the map still names the replica that refused, at the one that replica named; a replica
//     moved to is probed first (Participant.states of no ids), as for Commit. A shard that
//     cannot be reached at the first attempt is not retried (the transaction fails as above);
//     the map is fetched again in the background so that later calls find the new primary.
//     This holds only for the transaction's first ops at that shard: once ops ran there, a
//     NotPrimary fails the transaction (its earlier ops were buffered at the replica that
//     refuses now; a new primary never had them, and running the rest there would prepare a
//     part of the transaction).
//     StatesAt (read-only) retries on NotPrimary and on unreachable shards alike.
//   - When the deadline passes with nothing but NotPrimary answers and failed probes, the call
//     returns Status::Unavailable ("no primary ...; nothing was done"): Commit and Abort leave
//     the Transaction unfinished (they may be called again), Execute started nothing, and Run
//     fails the transaction (its earlier ops may be at a replica that is no longer primary).
//   - The shard map is replaced only by one with a higher version.
// Addresses are "host:port" with a numeric host (IPv4, or [IPv6]), as rpc::Client needs.
//
// Threads: a Client may be used by many threads at once (calls are pipelined on one connection
// per node); a Transaction by one thread at a time. Every call has a deadline (options.timeout).
// The blocking calls must not be made on the client's io thread (e.g. from ExecuteAsync's
// callback).
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

namespace internal {
class ClientCore;
}  // namespace internal

struct ClientOptions {
  // The coordinator replicas, each "host:port" (every replica of the coordinator group, in the
  // order to try them). When empty: the one coordinator at host:port below.
  std::vector<std::string> coordinators;
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
  // Fetches the shard map from the first coordinator replica that answers, trying them in turn
  // (in rounds, with pauses, until options.timeout). InvalidArgument if an address is malformed;
  // Unavailable if none answered.
  static Result<std::unique_ptr<Client>> Connect(ClientOptions options);
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // The newest shard map the client has (a copy: the client replaces it when a primary moves).
  cluster::ShardMap shard_map() const;
  ShardId ShardOf(const std::string& key) const;

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
  // What shard `shard` knows of each transaction now (Participant.states, asked of the shard's
  // primary), in order; at most 100,000 ids per call.
  Result<std::vector<TxnState>> StatesAt(ShardId shard, const std::vector<TxnId>& txns);

 private:
  explicit Client(ClientOptions options);
  rpc::Deadline NextDeadline() const { return rpc::Clock::now() + options_.timeout; }
  void Fail(Transaction& txn, AbortReason reason, const std::string& detail);

  ClientOptions options_;
  boost::asio::io_context io_;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_;
  std::thread io_thread_;
  // The connections, the shard map and who is primary (declared after io_: destroyed before it).
  std::unique_ptr<internal::ClientCore> core_;
};

}  // namespace txcoord::client
