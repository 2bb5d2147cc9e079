#include "client/client.h"

#include <algorithm>
#include <atomic>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <future>
#include <mutex>

#include "Coordinator.h"
#include "Participant.h"
#include "client/failover.h"
#include "cluster/address.h"
#include "idl/wire.h"
#include "rpc/thrift_call.h"

namespace txcoord::client {

namespace thrift = ::txcoord::thrift;

using internal::RetryOn;
using wire::Catching;
using wire::Reply;

namespace internal {

// What the client shares between its calls: the connections (one per address, made on first use,
// kept until the client goes), which coordinator replica is primary as far as the client knows,
// the shard map and the replica each shard's calls go to. Thread-safe: calls from any thread and
// from the io thread.
class ClientCore {
 public:
  ClientCore(boost::asio::io_context& io, std::chrono::milliseconds timeout,
             std::vector<std::string> coordinators)
      : io_(io),
        timeout_(timeout),
        coordinators_(std::move(coordinators)),
        current_coordinator_(coordinators_.front()) {}

  boost::asio::io_context& io() { return io_; }
  rpc::Deadline NextDeadline() const { return rpc::Clock::now() + timeout_; }
  bool closing() const { return closing_.load(std::memory_order_acquire); }

  // Later calls fail at once; outstanding ones fail Unavailable (rpc::Client::Close).
  void Close() {
    closing_.store(true, std::memory_order_release);
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& [address, connection] : connections_) connection->Close();
  }

  // The connection to `address` ("host:port"), nullptr if it does not parse. Never destroyed
  // before the core: callers may keep the pointer.
  rpc::Client* Connection(const std::string& address) {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = connections_.find(address);
    if (it != connections_.end()) return it->second.get();
    Result<cluster::Address> parsed = cluster::ParseAddress(address);
    if (!parsed.ok()) return nullptr;
    rpc::ClientOptions options;
    options.host = parsed.value().host;
    options.port = parsed.value().port;
    auto made = std::make_unique<rpc::Client>(io_, options);
    rpc::Client* raw = made.get();
    connections_.emplace(address, std::move(made));
    if (closing()) raw->Close();
    return raw;
  }

  const std::vector<std::string>& coordinators() const { return coordinators_; }
  std::string CurrentCoordinator() {
    std::lock_guard<std::mutex> lock(mu_);
    return current_coordinator_;
  }
  // Whether `replica` is where calls start and has answered since it became so (so that a
  // request that must not be sent twice may go there without a probe first).
  bool CoordinatorReachable(const std::string& replica) {
    std::lock_guard<std::mutex> lock(mu_);
    return current_reachable_ && current_coordinator_ == replica;
  }
  // `replica` answered (anything, NotPrimary included).
  void CoordinatorHeard(const std::string& replica) {
    std::lock_guard<std::mutex> lock(mu_);
    if (current_coordinator_ == replica) current_reachable_ = true;
  }
  // `replica` answered a call that only the primary answers: the calls that follow start there.
  void CoordinatorAnswered(const std::string& replica) {
    std::lock_guard<std::mutex> lock(mu_);
    current_coordinator_ = replica;
    current_reachable_ = true;
  }
  // `replica` could not be reached: the calls that follow start at the next one (unless another
  // call moved on already).
  void CoordinatorUnreachable(const std::string& replica) {
    std::lock_guard<std::mutex> lock(mu_);
    if (current_coordinator_ == replica) {
      current_coordinator_ = NextReplica(coordinators_, replica);
      current_reachable_ = false;
    }
  }

  cluster::ShardMap Map() {
    std::lock_guard<std::mutex> lock(mu_);
    return map_;
  }
  size_t ShardCount() {
    std::lock_guard<std::mutex> lock(mu_);
    return map_.shards.size();
  }
  ShardId ShardOf(const std::string& key) {
    std::lock_guard<std::mutex> lock(mu_);
    return cluster::ShardFor(map_, key);
  }
  // The replica the calls to `shard` go to ("" if there is no such shard).
  std::string ShardTarget(ShardId shard) {
    std::lock_guard<std::mutex> lock(mu_);
    if (shard < 0 || static_cast<size_t>(shard) >= shard_targets_.size()) return "";
    return shard_targets_[static_cast<size_t>(shard)];
  }
  // The calls to `shard` go to `to` instead of `from` (if they still went to `from`), until a
  // newer shard map names the shard's primary.
  void RedirectShard(ShardId shard, const std::string& from, const std::string& to) {
    std::lock_guard<std::mutex> lock(mu_);
    if (shard < 0 || static_cast<size_t>(shard) >= shard_targets_.size()) return;
    std::string& target = shard_targets_[static_cast<size_t>(shard)];
    if (target == from) target = to;
  }

  // Takes `map` if it is newer than the one held (or `first`: the one from Connect).
  void Install(cluster::ShardMap map, bool first) {
    std::lock_guard<std::mutex> lock(mu_);
    if (!first && map.version <= map_.version) return;
    map_ = std::move(map);
    shard_targets_.clear();
    for (const cluster::ShardEndpoint& e : map_.shards) {
      shard_targets_.push_back(cluster::Address{e.host, e.port}.ToString());
    }
  }

  // Fetches the shard map (from any coordinator replica, by `deadline`) and Install()s it; then
  // runs `then` on the io thread, whatever happened.
  void RefreshMap(rpc::Deadline deadline, std::function<void()> then);
  // The same, without waiting for it; at most one at a time.
  void RefreshMapInBackground() {
    if (refreshing_.exchange(true)) return;
    RefreshMap(NextDeadline(), [this] { refreshing_.store(false); });
  }

 private:
  boost::asio::io_context& io_;
  const std::chrono::milliseconds timeout_;
  const std::vector<std::string> coordinators_;  // never empty
  std::atomic<bool> closing_{false};
  std::atomic<bool> refreshing_{false};

  std::mutex mu_;  // guards what follows
  std::map<std::string, std::unique_ptr<rpc::Client>> connections_;
  std::string current_coordinator_;
  bool current_reachable_ = false;
  cluster::ShardMap map_;
  std::vector<std::string> shard_targets_;  // by shard id: "host:port"
};

namespace {

template <typename ThriftClient, typename T>
using RecvFn = void (*)(ThriftClient&, T&);

template <typename T>
using DoneFn = std::function<void(Result<Reply<T>>)>;

template <typename ThriftClient, typename T>
Result<Reply<T>> Decode(const Result<std::string>& reply, RecvFn<ThriftClient, T> recv) {
  if (!reply.ok()) return reply.status();
  return rpc::DecodeReply<ThriftClient>(reply.value(),
                                        [recv](ThriftClient& c) { return Catching<T>(c, recv); });
}

// What a call that was never sent to `replica` (its probe failed) leaves: like a NotPrimary, it
// changed nothing.
template <typename T>
Reply<T> NotSent(const std::string& replica, const txcoord::Status& why) {
  Reply<T> r;
  thrift::NotPrimary e;
  e.message = "cannot reach " + replica + " (" + why.ToString() + "), the request was not sent";
  r.not_primary = e;
  return r;
}

// A probe waits at most this long (within the call's deadline): any replica answers one at once,
// so one that does not is treated as unreachable and the call moves on (the request it guards
// was not sent). A replica cut off by the network would otherwise hold the call until its
// deadline.
constexpr std::chrono::milliseconds kProbeTimeout{1000};
rpc::Deadline ProbeDeadline(rpc::Deadline call) {
  return std::min(call, rpc::Clock::now() + kProbeTimeout);
}

// The probes: read-only calls that every replica answers (a shard's backups with NotPrimary).
// They are sent before a request that must not run twice goes to a replica not yet heard from:
// if the probe cannot reach it, the request was certainly not delivered there, so moving on is
// safe (rpc::Client cannot tell that apart for the request itself).
const std::string& CoordinatorProbe() {
  static const std::string probe =
      rpc::EncodeCall<thrift::CoordinatorClient>([](thrift::CoordinatorClient& t) {
        t.send_shard_map();
      }).value();
  return probe;
}
const std::string& ShardProbe() {
  static const std::string probe =
      rpc::EncodeCall<thrift::ParticipantClient>([](thrift::ParticipantClient& t) {
        t.send_states(std::vector<thrift::TxnId>());
      }).value();
  return probe;
}

// One coordinator call, following the primary (client.h): the encoded request is sent to one
// replica after another until one answers other than NotPrimary, the failure is not to be retried
// under `retry`, or the deadline passes (then the last answer is the result). Under
// RetryOn::kNotPrimary, a replica the call moves to is probed first (see CoordinatorProbe), and
// so is the first one unless it has answered since the calls started there. `done` runs once, on
// the io thread.
template <typename T>
class CoordinatorCall : public std::enable_shared_from_this<CoordinatorCall<T>> {
 public:
  using Recv = RecvFn<thrift::CoordinatorClient, T>;

  // `answer_proves_primary`: an answer comes only from the primary (not so for shard_map), so the
  // calls that follow start at the replica that gave it.
  static void Start(ClientCore* core, rpc::Deadline deadline, RetryOn retry,
                    bool answer_proves_primary, std::string start, Result<std::string> request,
                    Recv recv, DoneFn<T> done) {
    if (!request.ok()) {
      boost::asio::post(core->io(), [done = std::move(done), s = request.status()] { done(s); });
      return;
    }
    std::shared_ptr<CoordinatorCall> call(
        new CoordinatorCall(core, deadline, retry, answer_proves_primary, std::move(start),
                            std::move(request.value()), recv, std::move(done)));
    call->Attempt(/*in_start=*/true);
  }

 private:
  CoordinatorCall(ClientCore* core, rpc::Deadline deadline, RetryOn retry, bool proves_primary,
                  std::string start, std::string request, Recv recv, DoneFn<T> done)
      : core_(core),
        deadline_(deadline),
        retry_(retry),
        proves_primary_(proves_primary),
        request_(std::move(request)),
        recv_(recv),
        done_(std::move(done)),
        walk_(core->coordinators(), std::move(start)) {}

  // `in_start`: called by Start(), on the caller's thread.
  void Attempt(bool in_start = false) {
    for (;;) {
      if (core_->closing()) {
        return Finish(txcoord::Status::Unavailable("client closed"), in_start);
      }
      if (last_ && rpc::Clock::now() >= deadline_) return Finish(std::move(*last_), in_start);
      const std::string& target = walk_.target();
      rpc::Client* connection = core_->Connection(target);
      if (connection != nullptr) {
        const bool probe = retry_ == RetryOn::kNotPrimary && heard_.count(target) == 0 &&
                           (moved_ || !core_->CoordinatorReachable(target));
        if (probe) {
          connection->Call(CoordinatorProbe(), ProbeDeadline(deadline_),
                           [self = this->shared_from_this(), connection](Result<std::string> r) {
                             self->OnProbe(connection, r.ok() ? txcoord::Status::Ok() : r.status());
                           });
        } else {
          Send(connection);
        }
        return;
      }
      // Cannot happen (the walk only takes valid addresses); nothing was sent: move on.
      moved_ = true;
      if (Wait(walk_.Advance(""))) return;
    }
  }

  void Send(rpc::Client* connection) {
    connection->Call(request_, deadline_,
                     [self = this->shared_from_this()](Result<std::string> reply) {
                       self->OnReply(Decode<thrift::CoordinatorClient, T>(reply, self->recv_));
                     });
  }

  void OnProbe(rpc::Client* connection, const txcoord::Status& probe) {
    const std::string& target = walk_.target();
    if (probe.ok()) {
      heard_.insert(target);
      core_->CoordinatorHeard(target);
      return Send(connection);
    }
    // The request was not sent to `target`: going on is safe.
    if (probe.code() == txcoord::Status::Code::kUnavailable ||
        probe.code() == txcoord::Status::Code::kTimeout) {
      core_->CoordinatorUnreachable(target);
    }
    last_ = NotSent<T>(target, probe);
    moved_ = true;
    if (!Wait(walk_.Advance(""))) Attempt();
  }

  void OnReply(Result<Reply<T>> r) {
    const std::string& target = walk_.target();
    const bool not_primary = r.ok() && r.value().not_primary.has_value();
    if (r.ok() && !not_primary) {
      if (proves_primary_) {
        core_->CoordinatorAnswered(target);
      } else {
        core_->CoordinatorHeard(target);
      }
      return Finish(std::move(r));
    }
    if (not_primary) {
      heard_.insert(target);
      core_->CoordinatorHeard(target);
    }
    // Refused, lost, or silent until the deadline (a node cut off by the network answers
    // nothing and resets nothing): the calls that follow start at the next replica, probing it.
    if (!r.ok() && (r.status().code() == txcoord::Status::Code::kUnavailable ||
                    r.status().code() == txcoord::Status::Code::kTimeout)) {
      core_->CoordinatorUnreachable(target);
    }
    if (!MayRetry(retry_, r.ok() ? txcoord::Status::Ok() : r.status(), not_primary)) {
      return Finish(std::move(r));
    }
    const std::string hint = not_primary ? r.value().not_primary->primary : std::string();
    last_ = std::move(r);
    moved_ = true;
    if (!Wait(walk_.Advance(hint))) Attempt();
  }

  // Pauses for `pause` (at most until the deadline), then Attempt()s. False (and no pause) if
  // `pause` is zero.
  bool Wait(std::chrono::milliseconds pause) {
    if (pause.count() == 0) return false;
    const auto left = deadline_ - rpc::Clock::now();
    if (!timer_) timer_ = std::make_unique<boost::asio::steady_timer>(core_->io());
    timer_->expires_after(std::max(std::chrono::steady_clock::duration::zero(),
                                   std::min<std::chrono::steady_clock::duration>(pause, left)));
    timer_->async_wait(
        [self = this->shared_from_this()](boost::system::error_code) { self->Attempt(); });
    return true;
  }

  // Runs `done`, on the io thread: posted there if still in Start().
  void Finish(Result<Reply<T>> r, bool in_start = false) {
    if (!in_start) {
      done_(std::move(r));
      return;
    }
    boost::asio::post(
        core_->io(), [done = std::move(done_), r = std::move(r)]() mutable { done(std::move(r)); });
  }

  ClientCore* const core_;
  const rpc::Deadline deadline_;
  const RetryOn retry_;
  const bool proves_primary_;
  const std::string request_;
  const Recv recv_;
  DoneFn<T> done_;
  ReplicaWalk walk_;
  bool moved_ = false;                    // past the first replica
  std::set<std::string> heard_;           // replicas that answered this call (or its probe)
  std::optional<Result<Reply<T>>> last_;  // the last retried answer
  std::unique_ptr<boost::asio::steady_timer> timer_;
};

// One shard call, following the shard's primary (client.h): on a failure retried under `retry`,
// the shard map is fetched again and the call goes to the replica it (or the refusing replica)
// names, until an answer, a failure not to be retried, or the deadline (then the last answer).
// Under RetryOn::kNotPrimary, a replica the call moves to is probed first (ShardProbe). `done`
// runs once, on the io thread.
template <typename T>
class ShardCall : public std::enable_shared_from_this<ShardCall<T>> {
 public:
  using Recv = RecvFn<thrift::ParticipantClient, T>;

  static void Start(ClientCore* core, ShardId shard, rpc::Deadline deadline, RetryOn retry,
                    Result<std::string> request, Recv recv, DoneFn<T> done) {
    if (!request.ok()) {
      boost::asio::post(core->io(), [done = std::move(done), s = request.status()] { done(s); });
      return;
    }
    std::shared_ptr<ShardCall> call(new ShardCall(
        core, shard, deadline, retry, std::move(request.value()), recv, std::move(done)));
    call->Attempt(/*in_start=*/true);
  }

 private:
  ShardCall(ClientCore* core, ShardId shard, rpc::Deadline deadline, RetryOn retry,
            std::string request, Recv recv, DoneFn<T> done)
      : core_(core),
        shard_(shard),
        deadline_(deadline),
        retry_(retry),
        request_(std::move(request)),
        recv_(recv),
        done_(std::move(done)) {}

  // `in_start`: called by Start(), on the caller's thread.
  void Attempt(bool in_start = false) {
    if (core_->closing()) return Finish(txcoord::Status::Unavailable("client closed"), in_start);
    if (last_ && rpc::Clock::now() >= deadline_) return Finish(std::move(*last_), in_start);
    target_ = core_->ShardTarget(shard_);
    rpc::Client* connection = target_.empty() ? nullptr : core_->Connection(target_);
    if (connection == nullptr) {
      // Only if a newer map has fewer shards: nothing was sent.
      return Finish(txcoord::Status::InvalidArgument("no shard " + std::to_string(shard_) +
                                                     " in the shard map"),
                    in_start);
    }
    tried_.insert(target_);
    if (retry_ == RetryOn::kNotPrimary && moved_ && heard_.count(target_) == 0) {
      connection->Call(ShardProbe(), ProbeDeadline(deadline_),
                       [self = this->shared_from_this(), connection](Result<std::string> reply) {
                         self->OnProbe(connection, reply);
                       });
      return;
    }
    Send(connection);
  }

  void Send(rpc::Client* connection) {
    connection->Call(request_, deadline_,
                     [self = this->shared_from_this()](Result<std::string> reply) {
                       self->OnReply(Decode<thrift::ParticipantClient, T>(reply, self->recv_));
                     });
  }

  void OnProbe(rpc::Client* connection, const Result<std::string>& reply) {
    if (!reply.ok()) {
      // The request was not sent to target_: going on is safe.
      return Retry(NotSent<T>(target_, reply.status()), "");
    }
    heard_.insert(target_);
    Result<Reply<std::vector<thrift::TxnState::type>>> probe =
        Decode<thrift::ParticipantClient, std::vector<thrift::TxnState::type>>(
            reply, [](thrift::ParticipantClient& t, std::vector<thrift::TxnState::type>& out) {
              t.recv_states(out);
            });
    if (probe.ok() && probe.value().not_primary) {
      // Not the primary: as if the request had been refused (it was not sent).
      Reply<T> refused;
      refused.not_primary = probe.value().not_primary;
      return OnReply(std::move(refused));
    }
    Send(connection);
  }

  void OnReply(Result<Reply<T>> r) {
    const bool not_primary = r.ok() && r.value().not_primary.has_value();
    if (r.ok()) heard_.insert(target_);
    if (r.ok() && !not_primary) return Finish(std::move(r));
    const bool unavailable = !r.ok() && (r.status().code() == txcoord::Status::Code::kUnavailable ||
                                         r.status().code() == txcoord::Status::Code::kTimeout);
    if (!MayRetry(retry_, r.ok() ? txcoord::Status::Ok() : r.status(), not_primary)) {
      // Not retried; but the calls that follow may find the shard's new primary.
      if (unavailable) core_->RefreshMapInBackground();
      return Finish(std::move(r));
    }
    std::string hint = not_primary ? r.value().not_primary->primary : std::string();
    Retry(std::move(r), std::move(hint));
  }

  // After a failure that changed nothing (or that is harmless to repeat): fetch the map again,
  // then go on (AfterRefresh).
  void Retry(Result<Reply<T>> failed, std::string hint) {
    last_ = std::move(failed);
    moved_ = true;
    if (rpc::Clock::now() >= deadline_) return Finish(std::move(*last_));
    core_->RefreshMap(deadline_, [self = this->shared_from_this(), hint = std::move(hint)] {
      self->AfterRefresh(hint);
    });
  }

  void AfterRefresh(const std::string& hint) {
    const std::string mapped = core_->ShardTarget(shard_);
    const std::string next = NextShardTarget(target_, mapped, hint);
    if (next != mapped) core_->RedirectShard(shard_, mapped, next);
    if (tried_.count(next) == 0) return Attempt();
    // Back to a replica tried already in this call: pause first.
    const auto left = deadline_ - rpc::Clock::now();
    if (!timer_) timer_ = std::make_unique<boost::asio::steady_timer>(core_->io());
    timer_->expires_after(
        std::max(std::chrono::steady_clock::duration::zero(),
                 std::min<std::chrono::steady_clock::duration>(backoff_.Next(), left)));
    timer_->async_wait(
        [self = this->shared_from_this()](boost::system::error_code) { self->Attempt(); });
  }

  // Runs `done`, on the io thread: posted there if still in Start().
  void Finish(Result<Reply<T>> r, bool in_start = false) {
    if (!in_start) {
      done_(std::move(r));
      return;
    }
    boost::asio::post(
        core_->io(), [done = std::move(done_), r = std::move(r)]() mutable { done(std::move(r)); });
  }

  ClientCore* const core_;
  const ShardId shard_;
  const rpc::Deadline deadline_;
  const RetryOn retry_;
  const std::string request_;
  const Recv recv_;
  DoneFn<T> done_;
  std::string target_;           // the replica of the current attempt
  bool moved_ = false;           // past the first attempt
  std::set<std::string> tried_;  // replicas tried in this call
  std::set<std::string> heard_;  // replicas that answered this call (or its probe)
  Backoff backoff_;
  std::optional<Result<Reply<T>>> last_;
  std::unique_ptr<boost::asio::steady_timer> timer_;
};

}  // namespace

void ClientCore::RefreshMap(rpc::Deadline deadline, std::function<void()> then) {
  CoordinatorCall<thrift::ShardMap>::Start(
      this, deadline, RetryOn::kNotPrimaryOrUnavailable, /*answer_proves_primary=*/false,
      CurrentCoordinator(), CoordinatorProbe(),
      [](thrift::CoordinatorClient& t, thrift::ShardMap& out) { t.recv_shard_map(out); },
      [this, then = std::move(then)](Result<Reply<thrift::ShardMap>> r) {
        if (r.ok() && !r.value().not_primary) {
          Result<cluster::ShardMap> parsed = wire::FromWire(r.value().value);
          if (parsed.ok()) Install(std::move(parsed.value()), /*first=*/false);
        }
        then();
      });
}

}  // namespace internal

namespace {

using internal::ClientCore;
using internal::CoordinatorCall;
using internal::ShardCall;

// One coordinator call (following the primary), waited for. REQUIRES: not on the io thread.
template <typename T, typename Send>
Result<Reply<T>> CallCoordinator(ClientCore& core, RetryOn retry, Send send,
                                 internal::RecvFn<thrift::CoordinatorClient, T> recv) {
  std::promise<Result<Reply<T>>> promise;
  std::future<Result<Reply<T>>> future = promise.get_future();
  CoordinatorCall<T>::Start(&core, core.NextDeadline(), retry, /*answer_proves_primary=*/true,
                            core.CurrentCoordinator(),
                            rpc::EncodeCall<thrift::CoordinatorClient>(std::move(send)), recv,
                            [&promise](Result<Reply<T>> r) { promise.set_value(std::move(r)); });
  return future.get();
}

// One shard call (following the shard's primary), waited for. REQUIRES: not on the io thread.
template <typename T, typename Send>
Result<Reply<T>> CallShard(ClientCore& core, ShardId shard, RetryOn retry, Send send,
                           internal::RecvFn<thrift::ParticipantClient, T> recv) {
  std::promise<Result<Reply<T>>> promise;
  std::future<Result<Reply<T>>> future = promise.get_future();
  ShardCall<T>::Start(&core, shard, core.NextDeadline(), retry,
                      rpc::EncodeCall<thrift::ParticipantClient>(std::move(send)), recv,
                      [&promise](Result<Reply<T>> r) { promise.set_value(std::move(r)); });
  return future.get();
}

// The deadline passed while every replica asked said NotPrimary: nothing was done.
txcoord::Status NoPrimary(const std::string& group, const thrift::NotPrimary& e) {
  return txcoord::Status::Unavailable(
      "no primary of " + group + " answered before the deadline (last: " + e.message +
      (e.primary.empty() ? "" : "; primary named: " + e.primary) + "); nothing was done");
}

CommitOutcome FromWire(const thrift::CommitResult& r) {
  // A value this build does not know is reported as what it cannot be sure of: UNKNOWN.
  Result<Outcome> outcome = wire::FromWire(r.outcome);
  Result<AbortReason> reason = wire::FromWire(r.reason);
  return {outcome.ok() ? outcome.value() : Outcome::kUnknown,
          reason.ok() ? reason.value() : AbortReason::kNone, r.detail};
}

CommitOutcome FromError(const thrift::TxnError& e) {
  thrift::CommitResult r;
  r.outcome = e.outcome;
  r.reason = e.reason;
  r.detail = e.message;
  return FromWire(r);
}

// A call whose reply never came: for a commit, the outcome is unknown.
CommitOutcome Ambiguous(const txcoord::Status& s) {
  return {Outcome::kUnknown, AbortReason::kNone,
          "no reply (" + s.ToString() + "): the outcome is unknown; ask StatusOf, do not retry"};
}

Result<ExecuteOutcome> ExecuteOutcomeOf(const Result<Reply<thrift::ExecuteResult>>& r) {
  ExecuteOutcome out;
  if (!r.ok()) {
    out.result = Ambiguous(r.status());
    return out;
  }
  if (r.value().not_primary) return NoPrimary("the coordinator", *r.value().not_primary);
  if (r.value().invalid) return txcoord::Status::InvalidArgument(r.value().invalid->message);
  if (r.value().error) {
    out.result = FromError(*r.value().error);
    if (r.value().error->__isset.txn) {
      Result<TxnId> id = wire::FromWire(r.value().error->txn);
      if (id.ok()) out.txn = id.value();
    }
    return out;
  }
  const thrift::ExecuteResult& e = r.value().value;
  Result<TxnId> id = wire::FromWire(e.txn);
  if (id.ok()) out.txn = id.value();
  out.result = FromWire(e.result);
  for (const thrift::OpResult& w : e.reads) out.reads.push_back(wire::FromWire(w));
  return out;
}

}  // namespace

Client::Client(ClientOptions options)
    : options_(std::move(options)), work_(boost::asio::make_work_guard(io_)) {}

Client::~Client() {
  if (core_) core_->Close();
  work_.reset();
  io_.stop();
  if (io_thread_.joinable()) io_thread_.join();
}

Result<std::unique_ptr<Client>> Client::Connect(ClientOptions options) {
  std::vector<std::string> coordinators = options.coordinators;
  if (coordinators.empty()) {
    coordinators.push_back(cluster::Address{options.host, options.port}.ToString());
  }
  std::string names;
  for (const std::string& a : coordinators) {
    if (Result<cluster::Address> parsed = cluster::ParseAddress(a); !parsed.ok()) {
      return txcoord::Status::InvalidArgument("coordinators: " + parsed.status().message());
    }
    names += (names.empty() ? "" : ", ") + a;
  }
  std::unique_ptr<Client> c(new Client(options));
  c->core_ = std::make_unique<ClientCore>(c->io_, options.timeout, coordinators);
  c->io_thread_ = std::thread([io = &c->io_] { io->run(); });
  // Any replica answers shard_map; the one that does is where the calls start.
  std::promise<Result<Reply<thrift::ShardMap>>> promise;
  std::future<Result<Reply<thrift::ShardMap>>> future = promise.get_future();
  CoordinatorCall<thrift::ShardMap>::Start(
      c->core_.get(), c->core_->NextDeadline(), RetryOn::kNotPrimaryOrUnavailable,
      /*answer_proves_primary=*/true, coordinators.front(),
      rpc::EncodeCall<thrift::CoordinatorClient>(
          [](thrift::CoordinatorClient& t) { t.send_shard_map(); }),
      [](thrift::CoordinatorClient& t, thrift::ShardMap& out) { t.recv_shard_map(out); },
      [&promise](Result<Reply<thrift::ShardMap>> r) { promise.set_value(std::move(r)); });
  Result<Reply<thrift::ShardMap>> map = future.get();
  if (!map.ok()) {  // (shard_map never answers NotPrimary)
    return txcoord::Status::Unavailable("cannot get the shard map from " + names + ": " +
                                        map.status().ToString());
  }
  Result<cluster::ShardMap> parsed = wire::FromWire(map.value().value);
  if (!parsed.ok()) return parsed.status();
  c->core_->Install(std::move(parsed.value()), /*first=*/true);
  return c;
}

cluster::ShardMap Client::shard_map() const { return core_->Map(); }

ShardId Client::ShardOf(const std::string& key) const { return core_->ShardOf(key); }

Result<Transaction> Client::Begin(Protocol protocol) {
  // An answer lost after begin_txn ran leaves a transaction nobody uses: it times out. So a
  // connection error is retried too.
  Result<Reply<thrift::TxnId>> r = CallCoordinator<thrift::TxnId>(
      *core_, RetryOn::kNotPrimaryOrUnavailable,
      [&](thrift::CoordinatorClient& t) { t.send_begin_txn(wire::ToWire(protocol), ""); },
      [](thrift::CoordinatorClient& t, thrift::TxnId& out) { t.recv_begin_txn(out); });
  if (!r.ok()) return r.status();
  if (r.value().not_primary) return NoPrimary("the coordinator", *r.value().not_primary);
  if (r.value().invalid) return txcoord::Status::InvalidArgument(r.value().invalid->message);
  Result<TxnId> id = wire::FromWire(r.value().value);
  if (!id.ok()) return id.status();
  Transaction txn;
  txn.id_ = id.value();
  txn.protocol_ = protocol;
  return txn;
}

void Client::Fail(Transaction& txn, AbortReason reason, const std::string& detail) {
  if (!txn.failed_) {
    txn.failed_ = reason;
    txn.failed_detail_ = detail;
  }
}

Result<std::vector<OpResult>> Client::Run(Transaction& txn, std::vector<Op> ops) {
  if (txn.finished_) return txcoord::Status::InvalidArgument("transaction is finished");
  if (ops.empty()) return std::vector<OpResult>();
  const ShardId shard = ShardOf(ops.front().key);
  for (const Op& op : ops) {
    if (txcoord::Status s = wire::CheckKey(op.key); !s.ok()) return s;
    if (ShardOf(op.key) != shard) {
      return txcoord::Status::InvalidArgument("Run: keys of more than one shard");
    }
  }
  if (txn.failed_) {
    return txcoord::Status::Aborted(std::string("transaction is aborted: ") +
                                    ToString(*txn.failed_) + ": " + txn.failed_detail_);
  }
  // Touched before the call: if the reply is lost, the shard may hold locks for it, and the
  // commit or abort must reach it.
  const bool first_at_shard = txn.touched_.insert(shard).second;
  std::vector<thrift::Op> wire_ops;
  for (const Op& op : ops) wire_ops.push_back(wire::ToWire(op));
  // Retried on NotPrimary only (it changed nothing), and only for the transaction's first ops
  // at this shard (see RetryOn::kNever); a run that may have happened is not.
  Result<Reply<std::vector<thrift::OpResult>>> r = CallShard<std::vector<thrift::OpResult>>(
      *core_, shard, first_at_shard ? RetryOn::kNotPrimary : RetryOn::kNever,
      [&](thrift::ParticipantClient& t) { t.send_run(wire::ToWire(txn.id_), wire_ops); },
      [](thrift::ParticipantClient& t, std::vector<thrift::OpResult>& out) { t.recv_run(out); });
  if (!r.ok()) {
    Fail(txn, AbortReason::kParticipantFailed,
         "shard " + std::to_string(shard) + ": " + r.status().ToString());
    return txcoord::Status::Aborted("shard " + std::to_string(shard) +
                                    " did not answer: " + r.status().ToString());
  }
  Reply<std::vector<thrift::OpResult>>& reply = r.value();
  if (reply.not_primary) {
    // Nothing was done by this call, but the ops that ran before may be at a replica that is no
    // longer primary: the transaction fails, as when the shard cannot be reached.
    const txcoord::Status s = NoPrimary("shard " + std::to_string(shard), *reply.not_primary);
    Fail(txn, AbortReason::kParticipantFailed, s.message());
    return txcoord::Status::Aborted(s.message());
  }
  if (reply.invalid) return txcoord::Status::InvalidArgument(reply.invalid->message);
  if (reply.stale) {
    Fail(txn, AbortReason::kStaleEpoch, "shard has seen a newer coordinator epoch");
    return txcoord::Status::Aborted("transaction's coordinator epoch is superseded");
  }
  if (reply.error) {
    const CommitOutcome o = FromError(*reply.error);
    Fail(txn, o.reason, o.detail);
    return txcoord::Status::Aborted(std::string("transaction aborted: ") + ToString(o.reason) +
                                    ": " + o.detail);
  }
  std::vector<OpResult> results;
  for (const thrift::OpResult& w : reply.value) results.push_back(wire::FromWire(w));
  return results;
}

Result<std::optional<std::string>> Client::Read(Transaction& txn, const std::string& key,
                                                bool for_update) {
  Result<std::vector<OpResult>> r =
      Run(txn, {Op{.type = Op::Type::kGet, .key = key, .for_update = for_update}});
  if (!r.ok()) return r.status();
  if (r.value().size() != 1) return txcoord::Status::Corruption("one read expected");
  const OpResult& read = r.value().front();
  return read.found ? std::optional<std::string>(read.value) : std::nullopt;
}

txcoord::Status Client::Write(Transaction& txn, const std::string& key, const std::string& value) {
  return Run(txn, {Op{.type = Op::Type::kPut, .key = key, .value = value}}).status();
}

txcoord::Status Client::Delete(Transaction& txn, const std::string& key) {
  return Run(txn, {Op{.type = Op::Type::kDelete, .key = key}}).status();
}

Result<CommitOutcome> Client::Commit(Transaction& txn) {
  if (txn.finished_) return txcoord::Status::InvalidArgument("transaction is finished");
  if (txn.failed_) {
    // Aborted at a shard already: abort it everywhere, and report why.
    const AbortReason reason = *txn.failed_;
    const std::string detail = txn.failed_detail_;
    Result<CommitOutcome> aborted = Abort(txn);
    if (!aborted.ok()) return aborted;
    if (aborted.value().outcome == Outcome::kAborted)
      return CommitOutcome{Outcome::kAborted, reason, detail};
    return aborted;
  }
  const std::vector<int32_t> touched(txn.touched_.begin(), txn.touched_.end());
  // Retried on NotPrimary only: a commit that may have been sent is never sent again.
  Result<Reply<thrift::CommitResult>> r = CallCoordinator<thrift::CommitResult>(
      *core_, RetryOn::kNotPrimary,
      [&](thrift::CoordinatorClient& t) { t.send_commit(wire::ToWire(txn.id_), touched); },
      [](thrift::CoordinatorClient& t, thrift::CommitResult& out) { t.recv_commit(out); });
  if (!r.ok()) {
    txn.finished_ = true;
    return Ambiguous(r.status());  // the request may have been applied: never retried
  }
  // Only NotPrimary answers: nothing was done, the transaction is as it was.
  if (r.value().not_primary) return NoPrimary("the coordinator", *r.value().not_primary);
  if (r.value().invalid) return txcoord::Status::InvalidArgument(r.value().invalid->message);
  txn.finished_ = true;
  if (r.value().error) return FromError(*r.value().error);
  return FromWire(r.value().value);
}

Result<CommitOutcome> Client::Abort(Transaction& txn) {
  const std::vector<int32_t> touched(txn.touched_.begin(), txn.touched_.end());
  Result<Reply<bool>> r = CallCoordinator<bool>(
      *core_, RetryOn::kNotPrimary,
      [&](thrift::CoordinatorClient& t) { t.send_abort(wire::ToWire(txn.id_), touched); },
      [](thrift::CoordinatorClient& t, bool& out) {
        t.recv_abort();
        out = true;
      });
  if (r.ok() && r.value().not_primary) {
    return NoPrimary("the coordinator", *r.value().not_primary);  // nothing was done
  }
  txn.finished_ = true;
  if (!r.ok()) return Ambiguous(r.status());
  if (r.value().invalid) return txcoord::Status::InvalidArgument(r.value().invalid->message);
  if (r.value().error) return FromError(*r.value().error);
  return CommitOutcome{Outcome::kAborted, AbortReason::kClientAbort, ""};
}

Result<ExecuteOutcome> Client::Execute(Protocol protocol, std::vector<Op> ops) {
  std::promise<Result<ExecuteOutcome>> promise;
  std::future<Result<ExecuteOutcome>> future = promise.get_future();
  ExecuteAsync(protocol, std::move(ops),
               [&promise](Result<ExecuteOutcome> r) { promise.set_value(std::move(r)); });
  return future.get();
}

void Client::ExecuteAsync(Protocol protocol, std::vector<Op> ops, ExecuteCallback done) {
  std::vector<thrift::Op> wire_ops;
  wire_ops.reserve(ops.size());
  for (const Op& op : ops) wire_ops.push_back(wire::ToWire(op));
  // Retried on NotPrimary only, like commit.
  CoordinatorCall<thrift::ExecuteResult>::Start(
      core_.get(), NextDeadline(), RetryOn::kNotPrimary, /*answer_proves_primary=*/true,
      core_->CurrentCoordinator(),
      rpc::EncodeCall<thrift::CoordinatorClient>([&](thrift::CoordinatorClient& t) {
        t.send_execute(wire::ToWire(protocol), wire_ops, "");
      }),
      [](thrift::CoordinatorClient& t, thrift::ExecuteResult& out) { t.recv_execute(out); },
      [done = std::move(done)](Result<Reply<thrift::ExecuteResult>> r) {
        done(ExecuteOutcomeOf(r));
      });
}

Result<CommitOutcome> Client::StatusOf(TxnId txn) {
  Result<Reply<thrift::TxnStatus>> r = CallCoordinator<thrift::TxnStatus>(
      *core_, RetryOn::kNotPrimaryOrUnavailable,
      [&](thrift::CoordinatorClient& t) { t.send_status(wire::ToWire(txn)); },
      [](thrift::CoordinatorClient& t, thrift::TxnStatus& out) { t.recv_status(out); });
  if (!r.ok()) return r.status();
  if (r.value().not_primary) return NoPrimary("the coordinator", *r.value().not_primary);
  if (r.value().invalid) return txcoord::Status::InvalidArgument(r.value().invalid->message);
  thrift::CommitResult c;
  c.outcome = r.value().value.outcome;
  c.reason = r.value().value.reason;
  c.detail = r.value().value.detail;
  return FromWire(c);
}

Result<std::vector<TxnState>> Client::StatesAt(ShardId shard, const std::vector<TxnId>& txns) {
  if (shard < 0 || static_cast<size_t>(shard) >= core_->ShardCount()) {
    return txcoord::Status::InvalidArgument("no shard " + std::to_string(shard));
  }
  std::vector<thrift::TxnId> ids;
  ids.reserve(txns.size());
  for (TxnId t : txns) ids.push_back(wire::ToWire(t));
  // Read-only: retried on NotPrimary and on connection errors alike.
  Result<Reply<std::vector<thrift::TxnState::type>>> r =
      CallShard<std::vector<thrift::TxnState::type>>(
          *core_, shard, RetryOn::kNotPrimaryOrUnavailable,
          [&](thrift::ParticipantClient& t) { t.send_states(ids); },
          [](thrift::ParticipantClient& t, std::vector<thrift::TxnState::type>& out) {
            t.recv_states(out);
          });
  if (!r.ok()) return r.status();
  if (r.value().not_primary) {
    return NoPrimary("shard " + std::to_string(shard), *r.value().not_primary);
  }
  if (r.value().invalid) return txcoord::Status::InvalidArgument(r.value().invalid->message);
  if (r.value().value.size() != txns.size()) {
    return txcoord::Status::Corruption("states: " + std::to_string(r.value().value.size()) +
                                       " answers for " + std::to_string(txns.size()) + " ids");
  }
  std::vector<TxnState> out;
  out.reserve(txns.size());
  for (thrift::TxnState::type s : r.value().value) {
    Result<TxnState> state = wire::FromWire(s);
    if (!state.ok()) return state.status();
    out.push_back(state.value());
  }
  return out;
}

}  // namespace txcoord::client
