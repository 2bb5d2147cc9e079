#include "node/driver.h"

#include <unistd.h>

#include <algorithm>
#include <boost/asio/post.hpp>
#include <iostream>
#include <random>
#include <sstream>

#include "cluster/config_master.h"
#include "common/check.h"
#include "common/crash_point.h"
#include "idl/replication_wire.h"
#include "idl/wire.h"
#include "rpc/thrift_service.h"

#include "Peer.h"

namespace txcoord::node {

namespace {

// How often (in ticks) the log is considered for truncation (a truncation must free
// config.log_truncate_records to be worth a synced metadata write and a range delete).
constexpr uint64_t kTruncateEveryTicks = 100;
// A state transfer's chunks: about this large, and never more than a quarter of a frame.
constexpr size_t kTransferChunkBytes = size_t{1} << 20;
// A snapshot no chunk was read from for this long belongs to a transfer given up.
constexpr std::chrono::seconds kTransferIdle{10};
// The replica's own metadata (wal/FORMAT.md).
constexpr char kDiskKey[] = "replica.disk";
constexpr char kEpochSeenKey[] = "replica.epoch_seen";
constexpr char kTransferMarkKey[] = "replica.transfer_mark";  // "<epoch>:<id>"

// The coordinator's state is its log: its snapshot is one empty chunk.
class EmptyState : public NodeDriver::StateReader {
 public:
  std::string Next(size_t /*max_bytes*/, bool* last) override {
    *last = true;
    return "";
  }
};

[[noreturn]] void DieOnDisk(const std::string& what, const Status& s) {
  std::cerr << "txcoord: " << what << " failed, stopping so that nothing undurable is "
            << "acknowledged: " << s.ToString() << "\n";
  ::_exit(2);
}

}  // namespace

NodeDriver::NodeDriver(boost::asio::io_context& io, cluster::NodeConfig config)
    : io_(io),
      config_(std::move(config)),
      peers_(io, config_.coordinator_peers, config_.shard_replica_peers, config_.max_frame_bytes),
      ticker_(io) {}

NodeDriver::~NodeDriver() {
  if (store_thread_.joinable()) {
    store_io_.stop();
    store_thread_.join();
  }
  if (watch_) watch_->Stop();  // made on the store thread: read only once it is joined
  wal_.reset();  // its syncer reads log_generation_ until it is joined
  db_.reset();
}

std::unique_ptr<NodeDriver::StateReader> NodeDriver::SnapshotState(Lsn /*first*/) {
  return std::make_unique<EmptyState>();
}

Status NodeDriver::CheckStateChunk(const std::string& chunk) const {
  if (!chunk.empty()) {
    return Status::InvalidArgument("a state chunk for " + GroupName(Self()) +
                                   ", which has no state besides its log");
  }
  return Status::Ok();
}

Status NodeDriver::OpenLog(std::vector<Record>* log, replication::LogStart* start,
                           Epoch* epoch_seen, replication::TransferMark* mark) {
  wal::DbOptions options;
  options.sync_mode = config_.wal_sync == "manual_flush" ? wal::DbOptions::SyncMode::kManualFlush
                                                         : wal::DbOptions::SyncMode::kSyncWrite;
  Result<std::shared_ptr<wal::Db>> db = wal::Db::Open(config_.data_dir, options);
  if (!db.ok()) return db.status();
  db_ = std::move(db.value());
  // The disk's identity: made once, when the directory is new (a wiped one gets a new one).
  Result<std::optional<uint64_t>> disk = db_->GetMetaNumber(kDiskKey);
  if (!disk.ok()) return disk.status();
  if (disk.value()) {
    disk_ = *disk.value();
  } else {
    std::random_device device;
    // Below 2^63: the wire carries it in an i64 (idl/txcoord.thrift) and refuses negatives.
    while (disk_ == 0) disk_ = ((uint64_t{device()} << 32) ^ device()) & INT64_MAX;
    if (Status s = db_->PutMeta(kDiskKey, std::to_string(disk_)); !s.ok()) return s;
  }
  Result<std::optional<uint64_t>> epoch = db_->GetMetaNumber(kEpochSeenKey);
  if (!epoch.ok()) return epoch.status();
  persisted_epoch_ = epoch.value().value_or(0);
  *epoch_seen = persisted_epoch_;
  Result<std::optional<std::pair<uint64_t, uint64_t>>> marked = db_->GetMetaPair(kTransferMarkKey);
  if (!marked.ok()) return marked.status();
  if (marked.value()) {
    mark->epoch = marked.value()->first;
    mark->id = marked.value()->second;
  }

  Result<std::unique_ptr<wal::Wal>> opened = wal::Wal::Open(db_);
  if (!opened.ok()) return opened.status();
  wal_ = std::move(opened.value());
  Status s = wal_->Scan(0, [&](uint64_t, const Record& r) {
    log->push_back(r);
    return true;
  });
  if (!s.ok()) return s;
  Result<wal::Wal::Start> begins = wal_->start();
  if (!begins.ok()) return begins.status();
  start->first = begins.value().first;
  start->epoch_before = begins.value().epoch_before;
  truncated_before_ = start->first;
  std::weak_ptr<NodeDriver> weak = weak_from_this();
  wal_->SetOnDurable([weak, this, &io = io_](uint64_t position) {
    // Read here, on the syncer thread: a report made before a suffix truncation carries the
    // generation it was made in (TruncateAfter waits for every report of the old log).
    const uint64_t generation = log_generation_.load();
    boost::asio::post(io, [weak, generation, position] {
      if (auto self = weak.lock()) self->OnDurablePosition(generation, position);
    });
  });
  return Status::Ok();
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
  void replicate(std::function<void()> cob,
                 const std::vector<thrift::ReplicationMessage>& messages) override {
    cob();
    if (auto driver = driver_.lock()) driver->Replicate(messages);
  }
  void replica_status(std::function<void(const thrift::ReplicaStatus&)> cob) override {
    thrift::ReplicaStatus status;
    if (auto driver = driver_.lock()) status = driver->StatusNow();
    cob(status);
  }

 private:
  std::weak_ptr<NodeDriver> driver_;
};

Status NodeDriver::Serve(rpc::Handler handler) {
  TXC_CHECK(group_ == nullptr);
  std::vector<Record> log;
  replication::LogStart start;
  Epoch epoch_seen = 0;
  replication::TransferMark mark;
  if (Status s = OpenLog(&log, &start, &epoch_seen, &mark); !s.ok()) return s;
  if (Status s = Opened(); !s.ok()) return s;
  applied_ = AppliedPosition();
  for (const Record& r : log) {
    if (r.lsn > applied_) unapplied_.push_back(r);
  }

  const size_t replicas = Self().is_coordinator()
                              ? config_.coordinators.size()
                              : config_.shard_replicas[static_cast<size_t>(config_.shard)].size();
  replication::ReplicaOptions options;
  options.self = config_.replica;
  options.disk = disk_;
  options.min_insync = std::min<size_t>(config_.min_insync, replicas);
  options.heartbeat_ticks = MsToTicks(config_.heartbeat_ms, config_.tick_ms);
  options.lag_timeout_ticks = MsToTicks(config_.lag_timeout_ms, config_.tick_ms);
  options.lease_ticks = MsToTicks(config_.lease_ms, config_.tick_ms);
  options.grace_ticks = MsToTicks(config_.grace_ms, config_.tick_ms);
  options.proposal_timeout_ticks = MsToTicks(2000, config_.tick_ms);
  options.retain_for_lagging_records = config_.log_retain_lagging_records;
  // A group of one ships nothing: it keeps no tail of records in memory for its members.
  if (replicas == 1) options.max_tail_records = 1;
  group_ = std::make_unique<GroupNode>(options, static_cast<GroupNodeIo&>(*this));

  StartStoreThread();
  std::cerr << "txcoord " << GroupName(Self()) << " replica " << config_.replica << ": "
            << log.size() << " log record(s) from position " << start.first
            << ", newest epoch seen " << epoch_seen << ", disk " << disk_ << "\n";
  group_->Restore(log, epoch_seen, start, mark);
  log.clear();

  rpc::ServerOptions server_options;
  server_options.host = config_.listen.host;
  server_options.port = config_.listen.port;
  server_options.max_frame_bytes = config_.max_frame_bytes;
  Result<std::unique_ptr<rpc::Server>> server =
      rpc::Server::Start(io_, server_options, std::move(handler));
  if (!server.ok()) return server.status();
  server_ = std::move(server.value());
  rpc::ServerOptions peer_options = server_options;
  peer_options.host = config_.peer_listen.host;
  peer_options.port = config_.peer_listen.port;
  auto processor = std::make_shared<thrift::PeerAsyncProcessor>(
      std::make_shared<PeerService>(weak_from_this()));
  Result<std::unique_ptr<rpc::Server>> peer_server =
      rpc::Server::Start(io_, peer_options, rpc::MakeThriftHandler(processor));
  if (!peer_server.ok()) return peer_server.status();
  peer_server_ = std::move(peer_server.value());
  last_tick_ = std::chrono::steady_clock::now();
  ScheduleTick();
  return Status::Ok();
}

// ---- the configuration store (its own thread) -----------------------------------------------

void NodeDriver::StartStoreThread() {
  store_ = cluster::OpenConfigMaster(config_);
  etcd_ = dynamic_cast<cluster::EtcdConfigStore*>(store_.get());
  store_work_ = std::make_unique<
      boost::asio::executor_work_guard<boost::asio::io_context::executor_type>>(
      store_io_.get_executor());
  store_timer_ = std::make_unique<boost::asio::steady_timer>(store_io_);
  boost::asio::post(store_io_, [this] { PollStore(); });
  store_thread_ = std::thread([this] { store_io_.run(); });
}

bool NodeDriver::PollEtcd() {
  const std::string where = "etcd (" + cluster::DescribeEndpoints(config_.etcd_endpoints) +
                            ", prefix " + config_.etcd_prefix + ")";
  if (!layout_checked_) {
    // Joining: the prefix must hold this cluster's layout (or none yet, and then this node's
    // becomes it), never another cluster's.
    const std::string mine = cluster::ClusterLayout(config_);
    Result<std::string> stored = etcd_->CreateOrReadLayout(mine);
    if (!stored.ok()) {
      if (store_failures_++ % 100 == 0) {
        std::cerr << "txcoord: cannot reach " << where << " to join the cluster: "
                  << stored.status().ToString() << "\n";
      }
      store_reachable_ = false;
      return false;
    }
    if (stored.value() != mine) {
      std::cerr << "txcoord: " << where << " holds another cluster's layout:\n  stored: "
                << stored.value() << "\n  this node's config: " << mine
                << "\ngive each cluster its own etcd_prefix; this node does not join\n";
      ::_exit(2);
    }
    layout_checked_ = true;
    std::cerr << "txcoord: joined the cluster in " << where << "\n";
    // Every group's configuration as etcd changes it, to the io thread at once.
    const std::string groups_prefix = config_.etcd_prefix + "groups/";
    std::weak_ptr<NodeDriver> weak = weak_from_this();
    watch_ = std::make_unique<cluster::EtcdWatch>(
        cluster::EtcdOptionsOf(config_), groups_prefix,
        [this, weak, groups_prefix](const cluster::EtcdKv& kv) {
          const std::string group = kv.key.substr(groups_prefix.size());
          Result<replication::GroupConfig> c =
              cluster::GroupConfigFromJson(kv.value, "etcd key " + kv.key);
          if (!c.ok()) {
            std::cerr << "txcoord: ignoring a configuration from etcd's watch: "
                      << c.status().ToString() << "\n";
            return;
          }
          std::map<std::string, replication::GroupConfig> changed{{group, c.value()}};
          boost::asio::post(io_, [weak, changed = std::move(changed)] {
            if (auto self = weak.lock()) self->OnStoreRead(changed);
          });
        });
    watch_->Start();
  }
  const auto now = std::chrono::steady_clock::now();
  if (now - registered_at_ >= std::chrono::milliseconds(kRegisterRenewMs)) {
    registered_at_ = now;
    std::ostringstream info;
    info << "{\"group\":\"" << GroupName(Self()) << "\",\"replica\":" << config_.replica
         << ",\"client\":\"" << config_.listen.ToString() << "\",\"peer\":\""
         << config_.peer_listen.ToString() << "\",\"pid\":" << ::getpid() << "}";
    const Status s = etcd_->KeepRegistered(GroupName(Self()) + "/" + std::to_string(config_.replica),
                                           info.str(), kRegisterTtlSeconds);
    if (!s.ok() && store_failures_ % 100 == 0) {
      std::cerr << "txcoord: renewing this node's registration in " << where
                << " failed: " << s.ToString() << "\n";
    }
  }
  return true;
}

void NodeDriver::SchedulePoll() {
  store_timer_->expires_after(
      std::chrono::milliseconds(etcd_ != nullptr && layout_checked_ ? kEtcdPollMs : kStorePollMs));
  store_timer_->async_wait([this](const boost::system::error_code& ec) {
    if (!ec) PollStore();
  });
}

void NodeDriver::PollStore() {
  // On the store thread: touches only store_, etcd_, created_group_, layout_checked_,
  // registered_at_, store_failures_, the atomics, the timer and (const) config_.
  if (etcd_ != nullptr && !PollEtcd()) {
    SchedulePoll();
    return;
  }
  Result<std::map<std::string, replication::GroupConfig>> groups = store_->ReadAll();
  const std::string own = GroupName(Self());
  if (groups.ok() && groups.value().count(own) == 0 && !created_group_) {
    // The first replica to start creates its group: replica 0 primary on the disk it starts
    // with (disk 0: any), every replica a member. Tried again at the next poll only when the
    // store could not say (a create that did happen fails its compare the second time).
    replication::GroupConfig first;
    first.version = 1;
    first.epoch = 1;
    first.primary = 0;
    const size_t replicas = Self().is_coordinator()
                                ? config_.coordinators.size()
                                : config_.shard_replicas[static_cast<size_t>(config_.shard)].size();
    for (size_t r = 0; r < replicas; ++r) first.members.push_back(static_cast<int32_t>(r));
    first.isr = {{0, 0}};
    Result<cluster::CasResult> created = store_->CompareAndSwap(own, first);
    created_group_ = created.ok();
    if (!created.ok()) {
      std::cerr << "txcoord: creating " << own << "'s configuration in "
                << (etcd_ != nullptr ? "etcd" : config_.config_store)
                << " failed (tried again at the next poll): " << created.status().ToString()
                << "\n";
    }
    groups = store_->ReadAll();
  }
  if (groups.ok()) {
    if (store_failures_ != 0) {
      std::cerr << "txcoord: the configuration store answers again after " << store_failures_
                << " failed read(s)\n";
    }
    store_failures_ = 0;
    store_reachable_ = true;
    store_read_ms_ = std::chrono::duration_cast<std::chrono::milliseconds>(
                         std::chrono::steady_clock::now().time_since_epoch())
                         .count();
    std::weak_ptr<NodeDriver> weak = weak_from_this();
    boost::asio::post(io_, [weak, groups = std::move(groups.value())] {
      if (auto self = weak.lock()) self->OnStoreRead(groups);
    });
  } else {
    store_reachable_ = false;
    if (store_failures_++ % 100 == 0) {
      std::cerr << "txcoord: reading the configuration store failed (no configuration change "
                << "happens until it answers; a serving primary goes on): "
                << groups.status().ToString() << "\n";
    }
  }
  SchedulePoll();
}

void NodeDriver::OnStoreRead(const std::map<std::string, replication::GroupConfig>& groups) {
  if (stopped_ || dying_) return;
  std::vector<NodeRef> all = {NodeRef::Coordinator()};
  for (size_t i = 0; i < config_.shard_replicas.size(); ++i) {
    all.push_back(NodeRef::Shard(static_cast<ShardId>(i)));
  }
  for (NodeRef g : all) {
    auto it = groups.find(GroupName(g));
    if (it == groups.end()) continue;
    const replication::GroupConfig& c = it->second;
    auto known = groups_.find(g);
    if (known != groups_.end() && known->second.version >= c.version) continue;
    const bool moved = known == groups_.end() || known->second.primary != c.primary;
    groups_[g] = c;
    if (g == Self()) {
      group_->OnConfig(c);
      continue;
    }
    if (moved) {
      peers_.SetPrimary(g, c.primary);
      if (known != groups_.end()) group_->PeerMoved(g);
    }
  }
}

void NodeDriver::Propose(const replication::GroupConfig& next) {
  std::weak_ptr<NodeDriver> weak = weak_from_this();
  boost::asio::post(store_io_, [this, weak, next] {
    Result<cluster::CasResult> r = store_->CompareAndSwap(GroupName(Self()), next);
    if (!r.ok()) {
      // The answer is unknown: the replica's proposal times out, and a later read tells.
      std::cerr << "txcoord: proposing " << replication::Describe(next) << " failed: "
                << r.status().ToString() << "\n";
      return;
    }
    boost::asio::post(io_, [weak, result = r.value()] {
      if (auto self = weak.lock()) {
        if (self->stopped_ || self->dying_) return;
        if (result.swapped && result.current.primary == self->config_.replica &&
            !self->group_->replica().primary()) {
          // It won the election in the store; no replica has heard of its term yet.
          CrashPoint("replica.promoted_before_reconciled");
        }
        self->groups_[self->Self()] = result.current;
        self->group_->OnProposed(result.swapped, result.current);
      }
    });
  });
}

const replication::GroupConfig* NodeDriver::GroupConfigOf(NodeRef group) const {
  auto it = groups_.find(group);
  return it == groups_.end() ? nullptr : &it->second;
}

replication::ReplicaId NodeDriver::PrimaryOf(NodeRef group) const {
  const replication::GroupConfig* c = GroupConfigOf(group);
  return c == nullptr ? -1 : c->primary;
}

std::string NodeDriver::ClientAddressOf(NodeRef group, replication::ReplicaId replica) const {
  const std::vector<cluster::Address>* replicas = nullptr;
  if (group.is_coordinator()) {
    replicas = &config_.coordinators;
  } else if (group.shard >= 0 && static_cast<size_t>(group.shard) < config_.shard_replicas.size()) {
    replicas = &config_.shard_replicas[static_cast<size_t>(group.shard)];
  }
  if (replicas == nullptr || replica < 0 || static_cast<size_t>(replica) >= replicas->size()) {
    return "";
  }
  return (*replicas)[static_cast<size_t>(replica)].ToString();
}

::apache::thrift::TDelayedException* NodeDriver::NotPrimaryError() const {
  const replication::ReplicaId primary = group_ == nullptr ? -1 : group_->replica().config().primary;
  const std::string address =
      primary == config_.replica ? "" : ClientAddressOf(Self(), primary);
  return wire::NotPrimaryError(
      GroupName(Self()) + " replica " + std::to_string(config_.replica) +
          " is not serving as its group's primary" +
          (address.empty() ? " (no other primary known yet: retry shortly)"
                           : "; the primary is " + address),
      address);
}

// ---- inputs ---------------------------------------------------------------------------------

void NodeDriver::Replicate(const std::vector<thrift::ReplicationMessage>& messages) {
  if (stopped_ || dying_) return;
  const std::string own = GroupName(Self());
  const size_t replicas = Self().is_coordinator()
                              ? config_.coordinators.size()
                              : config_.shard_replicas[static_cast<size_t>(config_.shard)].size();
  for (const thrift::ReplicationMessage& w : messages) {
    Result<wire::GroupMessage> m = wire::FromWire(w);
    if (!m.ok()) {
      if (malformed_++ % 1000 == 0) {
        std::cerr << "txcoord: dropping a malformed replication message (" << malformed_
                  << " so far): " << m.status().ToString() << "\n";
      }
      continue;
    }
    const replication::ReplMessage& rm = m.value().message;
    if (m.value().group != own || rm.to != config_.replica || rm.from < 0 ||
        static_cast<size_t>(rm.from) >= replicas || rm.from == config_.replica) {
      continue;  // not for this replica
    }
    if (rm.type == replication::ReplType::kTransfer) {
      if (Status c = CheckStateChunk(rm.payload); !c.ok()) {
        if (malformed_chunks_++ % 100 == 0) {
          std::cerr << "txcoord: dropping a malformed state transfer chunk from replica "
                    << rm.from << " (" << malformed_chunks_ << " so far): " << c.ToString()
                    << "\n";
        }
        continue;  // unanswered: the primary begins the transfer again
      }
    }
    group_->StepReplication(rm);
  }
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
    group_->StepProtocol(m.value());
  }
}

void NodeDriver::ScheduleTick() {
  ticker_.expires_at(last_tick_ + std::chrono::milliseconds(config_.tick_ms));
  std::weak_ptr<NodeDriver> weak = weak_from_this();
  ticker_.async_wait([weak](const boost::system::error_code& ec) {
    if (ec) return;
    if (auto self = weak.lock()) self->OnTick();
  });
}

void NodeDriver::OnTick() {
  if (stopped_) return;
  // The real elapsed time: a process that was paused (SIGSTOP) or starved sees its lease expire
  // the moment it runs again.
  const auto now = std::chrono::steady_clock::now();
  const auto tick = std::chrono::milliseconds(config_.tick_ms);
  const Ticks elapsed = std::max<Ticks>(1, (now - last_tick_) / tick);
  last_tick_ += elapsed * tick;
  if (last_tick_ + tick < now) last_tick_ = now;  // never replay missed ticks in a burst
  // Snapshots of transfers given up (a deposed primary's, a member that stopped answering).
  std::erase_if(transfers_, [&](const auto& t) {
    return !group_->replica().primary() || now - t.second.read_at > kTransferIdle;
  });
  if (!dying_) {
    group_->Tick(elapsed);
    if (serving()) {
      AfterTick();
      if (++ticks_ % kTruncateEveryTicks == 0) MaybeTruncate();
    }
  }
  ScheduleTick();
}

void NodeDriver::OnDurablePosition(uint64_t generation, uint64_t position) {
  if (stopped_ || dying_ || generation != log_generation_.load()) return;
  if (group_->replica().primary() && position > group_->replica().commit_position()) {
    // Durable here, not yet acknowledged by the group: nothing of it was answered.
    CrashPoint("replica.primary_durable_before_commit");
  }
  group_->OnLocalDurable(position);
}

// ---- GroupNodeIo -----------------------------------------------------------------------------

void NodeDriver::PersistEpoch(Epoch epoch) {
  if (epoch <= persisted_epoch_) return;
  if (Status s = db_->PutMeta(kEpochSeenKey, std::to_string(epoch)); !s.ok()) {
    DieOnDisk("keeping the newest epoch", s);
  }
  persisted_epoch_ = epoch;
}

void NodeDriver::TruncateAfter(Lsn position) {
  TXC_CHECK_MSG(applied_ == UINT64_MAX || position >= applied_, "truncating applied records");
  if (Status s = wal_->TruncateAfter(position); !s.ok()) DieOnDisk("truncating the log", s);
  log_generation_.fetch_add(1);
  while (!unapplied_.empty() && unapplied_.back().lsn > position) unapplied_.pop_back();
}

void NodeDriver::Append(const std::vector<Record>& records) {
  BeforeAppend(records);
  if (dying_) return;
  const bool lazy =
      std::all_of(records.begin(), records.end(), [](const Record& r) { return r.lazy; });
  if (Status s = wal_->Append(records, lazy); !s.ok()) DieOnDisk("the log", s);
  for (const Record& r : records) {
    if (applied_ != UINT64_MAX && r.lsn > applied_) unapplied_.push_back(r);
    if (retention_) retention_->Track(r);
  }
}

void NodeDriver::TruncateBefore(const replication::LogStart& start) {
  if (Status s = BeforeTruncate(truncated_before_, start.first); !s.ok()) {
    DieOnDisk("keeping what truncated records said", s);
  }
  if (Status s = wal_->TruncateBefore(start.first, start.epoch_before); !s.ok()) {
    DieOnDisk("truncating the log", s);
  }
  truncated_before_ = start.first;
}

std::optional<GroupNodeIo::Chunk> NodeDriver::ReadTransfer(const replication::TransferRead& read) {
  if (read.seq == 0) {
    std::unique_ptr<StateReader> snapshot = SnapshotState(read.start.first);
    if (snapshot == nullptr) return std::nullopt;
    std::cerr << "txcoord " << GroupName(Self()) << " replica " << config_.replica
              << ": state transfer " << read.id << " to replica " << read.to
              << " (its log will start at " << read.start.first << ")\n";
    transfers_[read.to] = {read.id, std::move(snapshot), {}};
  }
  auto it = transfers_.find(read.to);
  if (it == transfers_.end() || it->second.id != read.id) return std::nullopt;
  Chunk chunk;
  const size_t max_bytes = std::min<size_t>(kTransferChunkBytes, config_.max_frame_bytes / 4);
  chunk.payload = it->second.snapshot->Next(max_bytes, &chunk.last);
  it->second.read_at = std::chrono::steady_clock::now();
  if (chunk.last) transfers_.erase(it);
  return chunk;
}

void NodeDriver::Install(const replication::Install& install) {
  if (install.begin) {
    // The replica's identity changes first (a crash from here on restarts it as the new disk,
    // with nothing), then its log and state go.
    disk_ = install.disk;
    Status s = db_->PutMeta(kDiskKey, std::to_string(disk_));
    if (s.ok()) {
      s = db_->PutMeta(kTransferMarkKey, std::to_string(install.mark.epoch) + ":" +
                                             std::to_string(install.mark.id));
    }
    if (s.ok()) s = wal_->Reset(1, 0);
    if (!s.ok()) DieOnDisk("beginning a state transfer", s);
    log_generation_.fetch_add(1);
    unapplied_.clear();
    InstallBegin();
    applied_ = AppliedPosition();
    std::cerr << "txcoord " << GroupName(Self()) << " replica " << config_.replica
              << ": installing state transfer " << install.mark.id << " of epoch "
              << install.mark.epoch << " as disk " << disk_ << "\n";
  }
  for (const std::string& chunk : install.chunks) InstallChunk(chunk);
  if (install.done) {
    InstallDone();
    if (Status s = wal_->Reset(install.done->first, install.done->epoch_before); !s.ok()) {
      DieOnDisk("installing a state transfer", s);
    }
    log_generation_.fetch_add(1);
    unapplied_.clear();
    applied_ = AppliedPosition();
    truncated_before_ = install.done->first;
    std::cerr << "txcoord " << GroupName(Self()) << " replica " << config_.replica
              << ": state transfer installed; the log starts at " << install.done->first << "\n";
  }
}

std::vector<Record> NodeDriver::Read(Lsn from, Lsn to) {
  std::vector<Record> out;
  Status s = wal_->Scan(from, [&](uint64_t position, const Record& r) {
    if (position > to) return false;
    out.push_back(r);
    return true;
  });
  if (!s.ok()) DieOnDisk("reading the log", s);
  // (A member that needs positions truncated meanwhile gets a state transfer: the replica sees
  // that the records do not start at `from`.)
  return out;
}

void NodeDriver::Committed(Lsn position) {
  if (applied_ == UINT64_MAX || position <= applied_) return;
  std::vector<Record> records;
  while (!unapplied_.empty() && unapplied_.front().lsn <= position) {
    records.push_back(std::move(unapplied_.front()));
    unapplied_.pop_front();
  }
  ApplyCommitted(records, position);
  applied_ = position;
}

void NodeDriver::Send(const replication::ReplMessage& m) {
  if (dying_) return;
  if (m.type == replication::ReplType::kAppendAck && m.ok && m.match_position > acked_) {
    // A backup holds new records durably; its primary does not know yet.
    CrashPoint("replica.backup_durable_before_ack");
    acked_ = m.match_position;
  }
  peers_.SendReplication(Self(), m);
}

void NodeDriver::SendProtocol(const std::vector<Message>& messages) {
  BeforeSend(messages);
  for (const Message& m : messages) {
    if (dying_) return;
    if (Withheld(m)) continue;
    peers_.Send(m);
    AfterSendOne(m, messages);
  }
  AfterSend(messages);
}

void NodeDriver::Reply(const ClientReply& reply) {
  auto it = waiting_.find(reply.request_id);
  if (it == waiting_.end()) return;  // an internal request (e.g. an abort after a failure)
  auto done = std::move(it->second.on_reply);
  waiting_.erase(it);
  done(reply);
}

std::unique_ptr<ProtocolCore> NodeDriver::StartCore(Epoch primary_epoch,
                                                    const std::vector<Record>& log, Lsn log_end) {
  retention_ = std::make_unique<wal::LogRetention>(config_.retain_finished);
  for (const Record& r : log) retention_->Track(r);
  truncated_before_ = log.empty() ? log_end + 1 : log.front().lsn;
  std::cerr << "txcoord " << GroupName(Self()) << " replica " << config_.replica
            << ": primary of epoch " << primary_epoch << ", restoring from " << log.size()
            << " record(s) up to position " << log_end << "\n";
  return MakeCore(primary_epoch, log, log_end);
}

void NodeDriver::StopCore() {
  std::cerr << "txcoord " << GroupName(Self()) << " replica " << config_.replica
            << ": no longer primary (epoch " << group_->replica().epoch_seen() << ")\n";
  CoreStopped();
  retention_.reset();
  FailWaiting();
}

void NodeDriver::FailWaiting() {
  std::map<uint64_t, Waiting> waiting;
  waiting.swap(waiting_);
  for (auto& [id, w] : waiting) {
    if (w.on_deposed) {
      w.on_deposed();
      continue;
    }
    ClientReply r;
    r.request_id = id;
    r.outcome = Outcome::kUnknown;
    r.ok = false;
    r.detail = "this coordinator replica stopped being its group's primary before the outcome "
               "was known; ask the new primary for the status";
    w.on_reply(r);
  }
}

void NodeDriver::ServingChanged(bool serving) {
  std::cerr << "txcoord " << GroupName(Self()) << " replica " << config_.replica
            << (serving ? ": serving" : ": not serving") << " (epoch "
            << group_->replica().config().epoch << ", isr of "
            << group_->replica().config().isr.size() << ")\n";
}

// ---- requests, crash points, truncation, status ----------------------------------------------

void NodeDriver::DrainCore() { group_->DrainCore(); }

uint64_t NodeDriver::NewRequest(std::function<void(const ClientReply&)> on_reply,
                                std::function<void()> on_deposed) {
  const uint64_t id = next_request_++;
  waiting_.emplace(id, Waiting{std::move(on_reply), std::move(on_deposed)});
  return id;
}

void NodeDriver::CrashSoon(const char* point) {
  if (dying_ || !CrashPoints::Get().Due(point)) return;
  dying_ = true;
  crash_timer_ = std::make_unique<boost::asio::steady_timer>(io_, std::chrono::milliseconds(100));
  crash_timer_->async_wait([point](const boost::system::error_code&) { CrashPoints::Die(point); });
}

void NodeDriver::MaybeTruncate() {
  if (retention_ == nullptr) return;
  const replication::ReplicaCore& replica = group_->replica();
  const uint64_t floor = retention_->Floor([this](TxnId t) { return IsLive(t); },
                                           replica.commit_position());
  if (floor < truncated_before_ + config_.log_truncate_records) return;
  group_->TruncateBefore(floor);  // as far as the group allows: TruncateBefore above
}

thrift::ReplicaStatus NodeDriver::StatusNow() const {
  thrift::ReplicaStatus s;
  s.__set_group(GroupName(Self()));
  s.__set_replica(config_.replica);
  if (group_ == nullptr) return s;
  const replication::ReplicaCore& r = group_->replica();
  std::string role = "idle";
  if (serving()) {
    role = "primary";
  } else if (r.activated()) {
    role = "primary-unleased";
  } else if (r.primary()) {
    role = "primary-reconciling";
  } else if (r.config().version != 0 && r.config().primary != config_.replica) {
    role = "backup";
  }
  s.__set_role(role);
  s.__set_epoch(static_cast<int64_t>(r.epoch_seen()));
  s.__set_primary(r.config().primary);
  std::vector<int32_t> isr;
  for (const auto& [id, disk] : r.config().isr) isr.push_back(id);
  s.__set_isr(isr);
  s.__set_last_position(static_cast<int64_t>(r.last_position()));
  s.__set_durable_position(static_cast<int64_t>(r.durable_position()));
  s.__set_commit_position(static_cast<int64_t>(r.commit_position()));
  s.__set_log_start(static_cast<int64_t>(r.log_start().first));
  std::map<int32_t, int64_t> matches;
  for (const auto& [id, match] : r.MemberMatches()) matches[id] = static_cast<int64_t>(match);
  s.__set_member_match(matches);
  s.__set_config_master(config_.config_master);
  s.__set_config_master_reachable(store_reachable_.load());
  const int64_t read_ms = store_read_ms_.load();
  s.__set_config_master_read_age_ms(
      read_ms < 0 ? -1
                  : std::chrono::duration_cast<std::chrono::milliseconds>(
                        std::chrono::steady_clock::now().time_since_epoch())
                            .count() -
                        read_ms);
  const bool hosting = serving();  // the core exists (GroupNode::serving)
  s.__set_in_doubt(hosting ? InDoubtCount() : -1);
  s.__set_live_transactions(hosting ? LiveCount() : -1);
  return s;
}

void NodeDriver::Release() {
  TXC_CHECK_MSG(stopped_, "release a driver after stopping it");
  server_.reset();
  peer_server_.reset();
}

void NodeDriver::Stop() {
  if (stopped_) return;
  stopped_ = true;
  {
    // Network writes, for benchmarks (bench/results.sh counts them per transaction): the gather
    // writes of this node's peer connections (protocol and replication messages it sent) and of
    // its two servers' replies.
    const uint64_t peer = peers_.stats().writes;
    const uint64_t replies = (server_ ? server_->stats().writes : 0) +
                             (peer_server_ ? peer_server_->stats().writes : 0);
    std::cerr << "txcoord: net stats: writes=" << peer + replies << " peer_writes=" << peer
              << " reply_writes=" << replies << "\n";
  }
  if (server_) server_->Stop();
  if (peer_server_) peer_server_->Stop();
  ticker_.cancel();
  if (store_thread_.joinable()) {
    store_work_.reset();
    store_io_.stop();
    store_thread_.join();
  }
  if (watch_) watch_->Stop();  // posts nothing after this
  if (etcd_ != nullptr) etcd_->Deregister();  // the store thread is gone: store_ is ours
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
