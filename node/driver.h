// NodeDriver: the production driver's plumbing shared by the coordinator and shard services
// (DESIGN.md section 3: the same pure core runs under the simulator and under this driver).
//
// It owns the node's database and log (a Db, its Wal and the log's retention), its outgoing
// protocol traffic (PeerSender), its RPC server and a tick timer, and it drives a core through
// the one CoreRunner (core_runner.h), being the runner's Effects:
//   - Tick() every config.tick_ms on a steady timer;
//   - OnDurable(lsn) when the Wal's syncer reports a durable position (posted to the io thread);
//   - the records of each Ready go to the log in one group-commit batch, its messages to the
//     peers, its replies to the callers waiting for them (NewRequest).
// A derived service supplies the core-specific parts (the virtual methods) and the Thrift methods.
//
// Threads: one io thread runs everything that touches a core (handlers, timers, posted durability
// reports). The Wal's syncer thread only posts. Nothing here blocks the io thread except the
// rare synced metadata write before a truncation.
//
// Shutdown: Stop() closes the server, stops the ticker and peers, and closes the Wal (which makes
// everything appended durable). Handlers posted earlier hold only weak references.
//
// A failed log (Wal::status not ok) ends the process: continuing could acknowledge what is not
// durable. Restart recovers from what is.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "cluster/config.h"
#include "common/protocol.h"
#include "common/status.h"
#include "node/core_runner.h"
#include "node/peer_sender.h"
#include "rpc/server.h"
#include "wal/db.h"
#include "wal/retention.h"
#include "wal/wal.h"

namespace txcoord::thrift {
class PeerMessage;
}  // namespace txcoord::thrift

namespace txcoord::node {

class NodeDriver : public std::enable_shared_from_this<NodeDriver>, private Effects {
 public:
  virtual ~NodeDriver();
  NodeDriver(const NodeDriver&) = delete;
  NodeDriver& operator=(const NodeDriver&) = delete;

  // Stops serving and closes the log. Idempotent. On the io thread.
  void Stop();
  uint16_t port() const { return server_ ? server_->port() : 0; }
  uint16_t peer_port() const { return peer_server_ ? peer_server_->port() : 0; }
  const cluster::NodeConfig& config() const { return config_; }

 protected:
  NodeDriver(boost::asio::io_context& io, cluster::NodeConfig config);

  // Opens the database and its log in config.data_dir and returns every record in it (for the
  // core's Restore), tracking them for truncation.
  Result<std::vector<Record>> OpenLog();
  // The position of the log's last record: what the core is restored with (its records continue
  // the log from the next position).
  Lsn log_end() const { return wal_->next_position() - 1; }
  // Starts the tick timer, the client service (`handler`) on config.listen and the Peer service
  // on config.peer_listen. Call once the core runs (RunCore).
  Status StartServing(rpc::Handler handler);

  // Drives core from now on (call once, after its Restore): ticks, durability, peer messages
  // through runner(). REQUIRES: core outlives this driver's io work.
  void RunCore(ProtocolCore& core);
  CoreRunner& runner() { return *runner_; }
  // A caller waiting for the client reply with the returned request id.
  uint64_t NewRequest(std::function<void(const ClientReply&)> on_reply);

  // A planned crash that must happen after some messages have left (crash_point.h): the process
  // stops handling anything (no appends, no sends, no deliveries) and dies shortly after, once the
  // io thread has had time to write what was already queued.
  void CrashSoon(const char* point);
  bool dying() const { return dying_; }

  // Core-specific parts.
  // Which node this is: protocol messages for any other are dropped.
  virtual NodeRef Self() const = 0;
  // Each tick, after the core's own (a service's periodic chores).
  virtual void AfterTick() {}
  virtual bool IsLive(TxnId txn) const = 0;
  // Crash points (common/crash_point.h) look at the output as it is applied.
  virtual void BeforeAppend(const std::vector<Record>& /*records*/) {}
  virtual void BeforeSend(const std::vector<Message>& /*messages*/) {}
  virtual void AfterSendOne(const Message& /*sent*/, const std::vector<Message>& /*messages*/) {}
  virtual void AfterSend(const std::vector<Message>& /*messages*/) {}
  // Called before records are deleted: keep elsewhere what the deleted records said that is not
  // about a transaction (a shard's newest seen epoch).
  virtual Status BeforeTruncate() { return Status::Ok(); }
  // Writes of other column families to make durable with these records (a shard's store).
  virtual std::vector<wal::DbWrite> WritesWith(const std::vector<Record>&) { return {}; }

  static Ticks MsToTicks(uint32_t ms, uint32_t tick_ms) {
    return std::max<Ticks>(1, static_cast<Ticks>((ms + tick_ms - 1) / tick_ms));
  }

  boost::asio::io_context& io_;
  cluster::NodeConfig config_;
  std::shared_ptr<wal::Db> db_;
  std::unique_ptr<wal::Wal> wal_;
  PeerSender peers_;

 private:
  // Effects: how the runner applies the core's output. A failed log ends the process.
  void Append(const std::vector<Record>& records) override;
  void Send(const std::vector<Message>& messages) override;
  void Reply(const ClientReply& reply) override;
  bool halted() const override { return dying_; }

  class PeerService;
  // Peer.deliver: protocol messages from other nodes, checked at the edge, into the core.
  void Deliver(const std::vector<thrift::PeerMessage>& messages);

  void ScheduleTick();
  void OnTick();
  void OnDurablePosition(uint64_t position);
  // Deletes the records no transaction needs any more, when that frees enough of them.
  void MaybeTruncate();

  std::unique_ptr<rpc::Server> server_;       // the client service
  std::unique_ptr<rpc::Server> peer_server_;  // the Peer service
  boost::asio::steady_timer ticker_;
  std::unique_ptr<boost::asio::steady_timer> crash_timer_;
  std::unique_ptr<wal::LogRetention> retention_;
  uint64_t truncated_before_ = 0;  // the first position the log may still hold
  std::chrono::steady_clock::time_point next_tick_;
  uint64_t ticks_ = 0;
  std::unique_ptr<CoreRunner> runner_;
  uint64_t next_request_ = 1;
  std::map<uint64_t, std::function<void(const ClientReply&)>> waiting_;
  bool stopped_ = false;
  bool dying_ = false;
};

}  // namespace txcoord::node
