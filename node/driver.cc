#include "node/driver.h"

#include <unistd.h>

#include <algorithm>
#include <boost/asio/post.hpp>
#include <iostream>

#include "common/check.h"
#include "common/crash_point.h"
#include "idl/wire.h"
#include "rpc/thrift_service.h"

#include "Peer.h"

namespace txcoord::node {

namespace {
// How often (in ticks) finished transactions are swept and the log truncated, and how many
// records a truncation must free to be worth a synced metadata write and a range delete.
constexpr uint64_t kTruncateEveryTicks = 100;
constexpr uint64_t kTruncateMinRecords = 10000;
}  // namespace

NodeDriver::NodeDriver(boost::asio::io_context& io, cluster::NodeConfig config)
    : io_(io),
      config_(std::move(config)),
      peers_(io, config_.coordinator_peer, config_.shard_peers, config_.max_frame_bytes),
      ticker_(io) {}

NodeDriver::~NodeDriver() = default;

Result<std::vector<Record>> NodeDriver::OpenLog() {
  wal::DbOptions options;
  options.sync_mode = config_.wal_sync == "manual_flush" ? wal::DbOptions::SyncMode::kManualFlush
                                                         : wal::DbOptions::SyncMode::kSyncWrite;
  Result<std::shared_ptr<wal::Db>> db = wal::Db::Open(config_.data_dir, options);
  if (!db.ok()) return db.status();
  db_ = std::move(db.value());
  Result<std::unique_ptr<wal::Wal>> opened = wal::Wal::Open(db_);
  if (!opened.ok()) return opened.status();
  wal_ = std::move(opened.value());
  retention_ = std::make_unique<wal::LogRetention>(config_.retain_finished);
  std::vector<Record> records;
  Status s = wal_->Scan(0, [&](uint64_t, const Record& r) {
    retention_->Track(r);
    records.push_back(r);
    return true;
  });
  if (!s.ok()) return s;
  truncated_before_ = records.empty() ? wal_->next_position() : records.front().lsn;
  std::weak_ptr<NodeDriver> weak = weak_from_this();
  wal_->SetOnDurable([weak, &io = io_](uint64_t position) {
    boost::asio::post(io, [weak, position] {
      if (auto self = weak.lock()) self->OnDurablePosition(position);
    });
  });
  return records;
}

// Serves Peer on the peer port. It holds the driver weakly: the server owns it, and the driver
// owns the server.
class NodeDriver::PeerService : public thrift::PeerCobSvIf {
 public:
  explicit PeerService(std::weak_ptr<NodeDriver> driver) : driver_(std::move(driver)) {}
  void deliver(std::function<void()> cob,
               const std::vector<thrift::PeerMessage>& messages) override {
    cob();
    if (auto driver = driver_.lock()) driver->Deliver(messages);
  }
  // The servers do not run replica groups yet (each node is its group's only replica): nothing
  // of this node's is replicated, so replication traffic is not for it. Dropped and counted, with
  // a log line for the first and every 1000th call.
  void replicate(std::function<void()> cob,
                 const std::vector<thrift::ReplicationMessage>& messages) override {
    cob();
    if (dropped_calls_++ % 1000 == 0) {
      std::cerr << "txcoord: this node is in no replica group; dropped " << messages.size()
                << " replication message(s) (" << dropped_calls_ << " call(s) so far)\n";
    }
  }

  void replica_status(std::function<void(const thrift::ReplicaStatus&)> cob) override {
    thrift::ReplicaStatus status;
    if (auto driver = driver_.lock()) {
      const NodeRef self = driver->Self();
      status.__set_group(self.is_coordinator() ? "coordinator"
                                               : "shard" + std::to_string(self.shard));
      status.__set_role("primary");
      status.__set_primary(0);
      status.__set_isr({0});
    }
    cob(status);
  }

 private:
  std::weak_ptr<NodeDriver> driver_;
  uint64_t dropped_calls_ = 0;
};

Status NodeDriver::StartServing(rpc::Handler handler) {
  TXC_CHECK_MSG(runner_ != nullptr, "serve once the core runs");
  rpc::ServerOptions options;
  options.host = config_.listen.host;
  options.port = config_.listen.port;
  options.max_frame_bytes = config_.max_frame_bytes;
  Result<std::unique_ptr<rpc::Server>> server =
      rpc::Server::Start(io_, options, std::move(handler));
  if (!server.ok()) return server.status();
  server_ = std::move(server.value());
  rpc::ServerOptions peer_options = options;
  peer_options.host = config_.peer_listen.host;
  peer_options.port = config_.peer_listen.port;
  auto processor = std::make_shared<thrift::PeerAsyncProcessor>(
      std::make_shared<PeerService>(weak_from_this()));
  Result<std::unique_ptr<rpc::Server>> peer_server =
      rpc::Server::Start(io_, peer_options, rpc::MakeThriftHandler(processor));
  if (!peer_server.ok()) return peer_server.status();
  peer_server_ = std::move(peer_server.value());
  next_tick_ = std::chrono::steady_clock::now();
  ScheduleTick();
  return Status::Ok();
}

void NodeDriver::Deliver(const std::vector<thrift::PeerMessage>& messages) {
  if (stopped_ || dying_) return;
  const NodeRef self = Self();
  for (const thrift::PeerMessage& w : messages) {
    Result<Message> m = wire::FromWire(w);
    if (!m.ok()) {
      std::cerr << "txcoord: dropping a malformed message from node " << w.from_node << ": "
                << m.status().ToString() << "\n";
      continue;
    }
    const bool mine = self.is_coordinator() ? m.value().to.is_coordinator() : m.value().to == self;
    if (!mine) continue;
    runner_->Step(m.value());
  }
}

void NodeDriver::ScheduleTick() {
  next_tick_ += std::chrono::milliseconds(config_.tick_ms);
  ticker_.expires_at(next_tick_);
  std::weak_ptr<NodeDriver> weak = weak_from_this();
  ticker_.async_wait([weak](const boost::system::error_code& ec) {
    if (ec) return;
    if (auto self = weak.lock()) self->OnTick();
  });
}

void NodeDriver::OnTick() {
  if (stopped_) return;
  // A stalled loop does not replay missed ticks in a burst: timeouts count elapsed time roughly,
  // never faster than it passes.
  const auto now = std::chrono::steady_clock::now();
  if (next_tick_ < now - std::chrono::milliseconds(config_.tick_ms)) next_tick_ = now;
  if (!dying_) {
    runner_->Tick();
    AfterTick();
    if (++ticks_ % kTruncateEveryTicks == 0) MaybeTruncate();
  }
  ScheduleTick();
}

void NodeDriver::MaybeTruncate() {
  const uint64_t floor =
      retention_->Floor([this](TxnId t) { return IsLive(t); }, wal_->durable_position());
  if (floor < truncated_before_ + kTruncateMinRecords) return;
  if (Status s = BeforeTruncate(); !s.ok()) {
    std::cerr << "txcoord: not truncating the log: " << s.ToString() << "\n";
  } else if (s = wal_->TruncateBefore(floor); !s.ok()) {
    std::cerr << "txcoord: truncating the log failed: " << s.ToString() << "\n";
  } else {
    truncated_before_ = floor;
  }
}

void NodeDriver::OnDurablePosition(uint64_t position) {
  if (stopped_ || dying_ || runner_ == nullptr) return;
  // One numbering: a durable position is the core's durable lsn.
  runner_->OnDurable(position);
}

void NodeDriver::RunCore(ProtocolCore& core) {
  TXC_CHECK(runner_ == nullptr);
  Effects& effects = *this;  // a private base: the runner is the only one to use it
  runner_ = std::make_unique<CoreRunner>(core, effects, log_end());
  runner_->Drain();
}

uint64_t NodeDriver::NewRequest(std::function<void(const ClientReply&)> on_reply) {
  const uint64_t id = next_request_++;
  waiting_.emplace(id, std::move(on_reply));
  return id;
}

void NodeDriver::Append(const std::vector<Record>& records) {
  BeforeAppend(records);
  if (dying_) return;
  const bool lazy =
      std::all_of(records.begin(), records.end(), [](const Record& r) { return r.lazy; });
  if (Status s = wal_->Append(records, WritesWith(records), lazy); !s.ok()) {
    std::cerr << "txcoord: the log failed, stopping so that nothing undurable is acknowledged: "
              << s.ToString() << "\n";
    ::_exit(2);
  }
  for (const Record& r : records) retention_->Track(r);
}

void NodeDriver::Send(const std::vector<Message>& messages) {
  BeforeSend(messages);
  for (const Message& m : messages) {
    if (dying_) return;
    peers_.Send(m);
    AfterSendOne(m, messages);
  }
  AfterSend(messages);
}

void NodeDriver::Reply(const ClientReply& reply) {
  auto it = waiting_.find(reply.request_id);
  if (it == waiting_.end()) return;  // an internal request (e.g. an abort after a failure)
  auto done = std::move(it->second);
  waiting_.erase(it);
  done(reply);
}

void NodeDriver::CrashSoon(const char* point) {
  if (dying_ || !CrashPoints::Get().Due(point)) return;
  dying_ = true;
  crash_timer_ = std::make_unique<boost::asio::steady_timer>(io_, std::chrono::milliseconds(100));
  crash_timer_->async_wait([point](const boost::system::error_code&) { CrashPoints::Die(point); });
}

void NodeDriver::Stop() {
  if (stopped_) return;
  stopped_ = true;
  if (server_) server_->Stop();
  if (peer_server_) peer_server_->Stop();
  ticker_.cancel();
  if (wal_) {
    // One line for benchmarks (bench/results.sh counts fsyncs per transaction from it); the
    // last sync, at close, is not in it.
    const wal::WalStats stats = wal_->stats();
    wal_.reset();  // syncs what was appended, joins the syncer
    db_.reset();
    std::cerr << "txcoord: wal stats: appends=" << stats.appends << " records=" << stats.records
              << " syncs=" << stats.syncs << "\n";
  }
}

}  // namespace txcoord::node
