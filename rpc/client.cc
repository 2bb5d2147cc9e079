#include "rpc/client.h"

#include <algorithm>
#include <atomic>
#include <mutex>
#include <set>
#include <unordered_map>
#include <utility>
#include <vector>

#include <boost/asio/bind_executor.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/write.hpp>

#include "rpc/frame_io.h"

namespace txcoord::rpc {

namespace asio = boost::asio;
using asio::ip::tcp;

// All state below mu_ lives on strand_; handlers capture generation_ so that completions of a
// connection that was replaced are recognized.
class Client::Impl : public std::enable_shared_from_this<Client::Impl> {
 public:
  Impl(asio::io_context& io, ClientOptions options)
      : options_(std::move(options)),
        peer_(options_.host + ":" + std::to_string(options_.port)),
        strand_(asio::make_strand(io)),
        socket_(strand_),
        deadline_timer_(strand_),
        backoff_timer_(strand_),
        reader_(options_.max_frame_bytes),
        delay_(options_.reconnect_first_delay) {}

  void Start() {
    asio::post(strand_, [self = shared_from_this()] { self->Connect(); });
  }

  void Call(std::string request, Deadline deadline, ReplyCallback done) {
    Result<MessageHeader> header = ParseMessageHeader(request);
    Status invalid;
    if (!header.ok()) {
      invalid = Status::InvalidArgument("request is not a Thrift message: " +
                                        header.status().message());
    } else if (header.value().type != MessageType::kCall &&
               header.value().type != MessageType::kOneway) {
      invalid = Status::InvalidArgument("request is not a CALL or ONEWAY message");
    } else if (request.size() > options_.max_frame_bytes) {
      invalid = Status::InvalidArgument("request of " + std::to_string(request.size()) +
                                        " bytes exceeds max_frame_bytes");
    }
    if (!invalid.ok()) {
      asio::post(strand_, [done = std::move(done), invalid] { done(invalid); });
      return;
    }
    Incoming call{std::move(request), header.value().seqid,
                  header.value().type == MessageType::kOneway, deadline, std::move(done)};
    bool post_drain = false;
    {
      std::lock_guard<std::mutex> lock(mu_);
      incoming_.push_back(std::move(call));
      if (!drain_posted_) {
        drain_posted_ = true;
        post_drain = true;
      }
    }
    if (post_drain) asio::post(strand_, [self = shared_from_this()] { self->Drain(); });
  }

  void Close() {
    asio::post(strand_, [self = shared_from_this()] { self->DoClose(); });
  }

  Stats stats() const {
    Stats s;
    s.connects = connects_.load(std::memory_order_relaxed);
    s.writes = writes_.load(std::memory_order_relaxed);
    s.frames_sent = frames_sent_.load(std::memory_order_relaxed);
    return s;
  }

 private:
  enum class State { kConnecting, kConnected, kBackoff, kClosed };

  struct Incoming {
    std::string request;
    int32_t caller_seqid;
    bool oneway;
    Deadline deadline;
    ReplyCallback done;
  };
  struct Pending {
    ReplyCallback done;
    int32_t caller_seqid;
    Deadline deadline;
  };

  void Connect() {
    if (state_ == State::kClosed) return;
    state_ = State::kConnecting;
    const uint64_t generation = ++generation_;
    boost::system::error_code ec;
    const asio::ip::address address = asio::ip::make_address(options_.host, ec);
    if (ec) {
      ConnectFailed("bad host: " + ec.message());
      return;
    }
    socket_ = tcp::socket(strand_);
    socket_.async_connect(
        tcp::endpoint(address, options_.port),
        asio::bind_executor(strand_, [self = shared_from_this(), generation](
                                         boost::system::error_code connect_ec) {
          if (generation != self->generation_ || self->state_ != State::kConnecting) return;
          if (connect_ec) {
            self->ConnectFailed(connect_ec.message());
            return;
          }
          self->Connected();
        }));
  }

  void Connected() {
    boost::system::error_code ignored;
    socket_.set_option(tcp::no_delay(true), ignored);
    state_ = State::kConnected;
    delay_ = options_.reconnect_first_delay;
    connects_.fetch_add(1, std::memory_order_relaxed);
    reader_.Reset();
    Read();
    Flush();
  }

  void ConnectFailed(const std::string& reason) {
    FailAll(Status::Unavailable("cannot connect to " + peer_ + ": " + reason));
    Backoff();
  }

  // The connection broke (or the server sent something that is not a reply): outstanding calls
  // fail, and the client reconnects after a delay.
  void ConnectionLost(const std::string& reason) {
    if (state_ != State::kConnected) return;
    internal::LogConnectionClosed("client", peer_, reason);
    boost::system::error_code ignored;
    socket_.shutdown(tcp::socket::shutdown_both, ignored);
    socket_.close(ignored);
    ++generation_;
    FailAll(Status::Unavailable("connection to " + peer_ + " lost: " + reason));
    Backoff();
  }

  void Backoff() {
    state_ = State::kBackoff;
    const uint64_t generation = generation_;
    backoff_timer_.expires_after(delay_);
    delay_ = std::min(delay_ * 2, options_.reconnect_max_delay);
    backoff_timer_.async_wait([self = shared_from_this(), generation](boost::system::error_code ec) {
      if (ec || generation != self->generation_ || self->state_ != State::kBackoff) return;
      self->Connect();
    });
  }

  void DoClose() {
    if (state_ == State::kClosed) return;
    state_ = State::kClosed;
    ++generation_;
    boost::system::error_code ignored;
    socket_.close(ignored);
    backoff_timer_.cancel();
    deadline_timer_.cancel();
    FailAll(Status::Unavailable("client closed"));
  }

  // Fails every outstanding call and drops frames not yet written.
  void FailAll(const Status& status) {
    out_.clear();
    std::unordered_map<int32_t, Pending> failed;
    failed.swap(pending_);
    deadlines_.clear();
    for (auto& [seqid, call] : failed) call.done(status);
  }

  void Drain() {
    std::vector<Incoming> calls;
    {
      std::lock_guard<std::mutex> lock(mu_);
      calls.swap(incoming_);
      drain_posted_ = false;
    }
    const Deadline now = Clock::now();
    for (Incoming& call : calls) {
      if (state_ == State::kBackoff || state_ == State::kClosed) {
        call.done(Status::Unavailable(state_ == State::kClosed
                                          ? "client closed"
                                          : "not connected to " + peer_ + " (reconnecting)"));
        continue;
      }
      if (call.deadline <= now) {
        call.done(Status::Timeout("deadline passed before the call was sent"));
        continue;
      }
      if (call.oneway) {
        out_.emplace_back(std::move(call.request));
        call.done(std::string());
        continue;
      }
      const int32_t seqid = NextSeqid();
      Status patched = SetSeqid(&call.request, seqid);
      TXC_CHECK(patched.ok());  // Call() parsed it
      out_.emplace_back(std::move(call.request));
      deadlines_.emplace(call.deadline, seqid);
      pending_.emplace(seqid, Pending{std::move(call.done), call.caller_seqid, call.deadline});
    }
    ArmDeadlineTimer();
    Flush();
  }

  int32_t NextSeqid() {
    for (;;) {
      const int32_t seqid = next_seqid_;
      next_seqid_ = next_seqid_ == INT32_MAX ? 1 : next_seqid_ + 1;
      if (pending_.count(seqid) == 0) return seqid;
    }
  }

  // One gather write of every queued frame, unless a write is in flight (its completion flushes
  // again).
  void Flush() {
    if (writing_ || out_.empty() || state_ != State::kConnected) return;
    writing_ = true;
    writing_frames_.swap(out_);
    buffers_.clear();
    internal::AppendBuffers(writing_frames_, &buffers_);
    writes_.fetch_add(1, std::memory_order_relaxed);
    frames_sent_.fetch_add(writing_frames_.size(), std::memory_order_relaxed);
    const uint64_t generation = generation_;
    asio::async_write(socket_, buffers_,
                      asio::bind_executor(strand_, [self = shared_from_this(), generation](
                                                       boost::system::error_code ec, size_t) {
                        self->writing_ = false;
                        self->writing_frames_.clear();
                        if (generation == self->generation_ && ec) {
                          self->ConnectionLost("write failed: " + ec.message());
                          return;
                        }
                        self->Flush();
                      }));
  }

  void Read() {
    const uint64_t generation = generation_;
    socket_.async_read_some(
        reader_.Prepare(),
        asio::bind_executor(strand_, [self = shared_from_this(), generation](
                                         boost::system::error_code ec, size_t n) {
          if (generation != self->generation_) return;
          self->OnRead(ec, n);
        }));
  }

  void OnRead(boost::system::error_code ec, size_t n) {
    if (ec) {
      ConnectionLost(ec == asio::error::eof ? "the server closed the connection" : ec.message());
      return;
    }
    reader_.Commit(n);
    for (;;) {
      std::string message;
      uint32_t declared = 0;
      const internal::FrameReader::Next next = reader_.Pop(&message, &declared);
      if (next == internal::FrameReader::Next::kNeedMore) break;
      if (next == internal::FrameReader::Next::kOversized) {
        ConnectionLost("reply frame length " + std::to_string(declared) +
                       " exceeds max_frame_bytes");
        return;
      }
      Result<MessageHeader> header = ParseMessageHeader(message);
      if (!header.ok()) {
        ConnectionLost("bad reply frame: " + header.status().message());
        return;
      }
      const MessageType type = header.value().type;
      if (type != MessageType::kReply && type != MessageType::kException) {
        ConnectionLost("bad reply frame: message type " + std::to_string(static_cast<int>(type)));
        return;
      }
      const int32_t seqid = header.value().seqid;
      auto it = pending_.find(seqid);
      if (it == pending_.end()) continue;  // its deadline passed: dropped
      Pending call = std::move(it->second);
      pending_.erase(it);
      deadlines_.erase({call.deadline, seqid});
      if (call.caller_seqid != seqid) {
        Status patched = SetSeqid(&message, call.caller_seqid);
        TXC_CHECK(patched.ok());  // parsed above
      }
      call.done(std::move(message));
    }
    ArmDeadlineTimer();
    Read();
  }

  void ArmDeadlineTimer() {
    if (deadlines_.empty()) return;
    const Deadline earliest = deadlines_.begin()->first;
    if (timer_armed_ && armed_at_ <= earliest) return;
    timer_armed_ = true;
    armed_at_ = earliest;
    const uint64_t arm = ++timer_arms_;
    deadline_timer_.expires_at(earliest);
    deadline_timer_.async_wait([self = shared_from_this(), arm](boost::system::error_code ec) {
      if (ec || arm != self->timer_arms_) return;
      self->timer_armed_ = false;
      self->ExpireDeadlines();
    });
  }

  void ExpireDeadlines() {
    const Deadline now = Clock::now();
    while (!deadlines_.empty() && deadlines_.begin()->first <= now) {
      const int32_t seqid = deadlines_.begin()->second;
      deadlines_.erase(deadlines_.begin());
      auto it = pending_.find(seqid);
      if (it == pending_.end()) continue;
      ReplyCallback done = std::move(it->second.done);
      pending_.erase(it);
      done(Status::Timeout("deadline passed waiting for the reply from " + peer_));
    }
    ArmDeadlineTimer();
  }

  const ClientOptions options_;
  const std::string peer_;
  asio::strand<asio::io_context::executor_type> strand_;

  // On strand_ only.
  tcp::socket socket_;
  asio::steady_timer deadline_timer_;
  asio::steady_timer backoff_timer_;
  internal::FrameReader reader_;
  std::chrono::milliseconds delay_;
  State state_ = State::kConnecting;
  uint64_t generation_ = 0;
  int32_t next_seqid_ = 1;
  std::unordered_map<int32_t, Pending> pending_;
  std::set<std::pair<Deadline, int32_t>> deadlines_;
  bool timer_armed_ = false;
  Deadline armed_at_;
  uint64_t timer_arms_ = 0;
  std::vector<internal::OutFrame> out_;  // frames waiting for the next write
  bool writing_ = false;
  std::vector<internal::OutFrame> writing_frames_;
  std::vector<asio::const_buffer> buffers_;

  std::mutex mu_;  // guards incoming_ and drain_posted_ (Call runs on any thread)
  std::vector<Incoming> incoming_;
  bool drain_posted_ = false;

  std::atomic<uint64_t> connects_{0};
  std::atomic<uint64_t> writes_{0};
  std::atomic<uint64_t> frames_sent_{0};
};

Client::Client(asio::io_context& io, ClientOptions options)
    : impl_(std::make_shared<Impl>(io, std::move(options))) {
  impl_->Start();
}

Client::~Client() { Close(); }

void Client::Call(std::string request, Deadline deadline, ReplyCallback done) {
  impl_->Call(std::move(request), deadline, std::move(done));
}

void Client::Close() { impl_->Close(); }

Client::Stats Client::stats() const { return impl_->stats(); }

}  // namespace txcoord::rpc
