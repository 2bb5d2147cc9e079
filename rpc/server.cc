#include "rpc/server.h"

#include <atomic>
#include <condition_variable>
#include <exception>
#include <mutex>
#include <unordered_map>
#include <utility>
#include <vector>

#include <boost/asio/bind_executor.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/write.hpp>

#include "rpc/frame_io.h"

namespace txcoord::rpc {

namespace asio = boost::asio;
using asio::ip::tcp;
using Strand = asio::strand<asio::io_context::executor_type>;

namespace {
class Connection;
// The server whose handlers this thread is running (Stop() from inside a handler must not wait
// for itself).
thread_local const void* tls_dispatching_server = nullptr;
}  // namespace

// Shared by the Server object and every connection, so a connection may outlive the Server.
struct Server::State : std::enable_shared_from_this<Server::State> {
  State(asio::io_context& io_in, ServerOptions options_in, Handler handler_in)
      : io(io_in), options(std::move(options_in)), handler(std::move(handler_in)), acceptor(io_in) {}

  void Accept();
  // Called around each batch of handler calls: false once stopped (then call no handler).
  bool EnterDispatch();
  void ExitDispatch();
  void Forget(const Connection* connection) {
    std::lock_guard<std::mutex> lock(mu);
    connections.erase(connection);
  }

  asio::io_context& io;
  const ServerOptions options;
  const Handler handler;

  // Guards the acceptor's calls (Accept on an io thread, close in Stop on any thread) and the
  // fields below.
  std::mutex mu;
  std::condition_variable dispatch_done;
  tcp::acceptor acceptor;
  bool stopped = false;
  int dispatching = 0;  // connections inside a batch of handler calls
  std::unordered_map<const Connection*, std::weak_ptr<Connection>> connections;
  std::atomic<uint64_t> writes{0};       // gather writes issued, every connection's
  std::atomic<uint64_t> frames_sent{0};  // reply frames in them
};

namespace {

// One accepted connection. Everything but Enqueue and CloseAsync runs on strand_.
class Connection : public std::enable_shared_from_this<Connection> {
 public:
  Connection(std::shared_ptr<Server::State> server, tcp::socket socket, std::string peer)
      : server_(std::move(server)),
        socket_(std::move(socket)),
        strand_(asio::make_strand(server_->io)),
        peer_(std::move(peer)),
        reader_(server_->options.max_frame_bytes) {}

  void Start() { asio::dispatch(strand_, [self = shared_from_this()] { self->Read(); }); }

  // Any thread: closes the connection on its strand. `reason` empty: not logged.
  void CloseAsync(std::string reason) {
    asio::post(strand_, [self = shared_from_this(), reason = std::move(reason)] {
      self->Close(reason);
    });
  }

  // Any thread: queues a reply frame.
  void Enqueue(std::string reply) {
    // A handler that answers inline (on this strand, inside a batch) is flushed by the batch.
    const bool in_batch = strand_.running_in_this_thread() && in_batch_;
    bool post_flush = false;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (closed_) return;
      pending_.emplace_back(std::move(reply));
      if (!in_batch && !flush_posted_) {
        flush_posted_ = true;
        post_flush = true;
      }
    }
    if (post_flush) asio::post(strand_, [self = shared_from_this()] { self->Flush(); });
  }

 private:
  void Read() {
    socket_.async_read_some(
        reader_.Prepare(),
        asio::bind_executor(strand_, [self = shared_from_this()](boost::system::error_code ec,
                                                                 size_t n) { self->OnRead(ec, n); }));
  }

  void OnRead(boost::system::error_code ec, size_t n) {
    if (ec) {
      Close(ec == asio::error::eof || ec == asio::error::operation_aborted ? std::string()
                                                                          : ec.message());
      return;
    }
    reader_.Commit(n);
    if (!server_->EnterDispatch()) {
      Close("");
      return;
    }
    in_batch_ = true;
    std::string problem = DispatchFrames();
    in_batch_ = false;
    server_->ExitDispatch();
    if (!problem.empty()) {
      Close(problem);
      return;
    }
    Flush();
    Read();
  }

  // Hands every complete frame to the handler. Returns why the connection must close, or "".
  std::string DispatchFrames() {
    for (;;) {
      std::string message;
      uint32_t declared = 0;
      switch (reader_.Pop(&message, &declared)) {
        case internal::FrameReader::Next::kNeedMore:
          return "";
        case internal::FrameReader::Next::kOversized:
          return "frame length " + std::to_string(static_cast<int32_t>(declared)) +
                 (static_cast<int32_t>(declared) < 0 ? " is negative" : " exceeds the maximum ") +
                 (static_cast<int32_t>(declared) < 0
                      ? std::string()
                      : std::to_string(server_->options.max_frame_bytes));
        case internal::FrameReader::Next::kMessage:
          break;
      }
      Result<MessageHeader> header = ParseMessageHeader(message);
      if (!header.ok()) return "bad frame: " + header.status().message();
      const MessageType type = header.value().type;
      if (type != MessageType::kCall && type != MessageType::kOneway) {
        return "bad frame: message type " + std::to_string(static_cast<int>(type)) +
               " is not a call";
      }
      std::weak_ptr<Connection> weak = weak_from_this();
      ReplyFn reply = [weak](Result<std::string> result) {
        std::shared_ptr<Connection> self = weak.lock();
        if (self == nullptr) return;
        if (!result.ok()) {
          self->CloseAsync("cannot serve a call: " + result.status().ToString());
        } else if (!result.value().empty()) {
          self->Enqueue(std::move(result.value()));
        }
      };
      try {
        server_->handler(std::move(message), std::move(reply));
      } catch (const std::exception& e) {
        return std::string("handler threw: ") + e.what();
      } catch (...) {
        return "handler threw";
      }
    }
  }

  // Starts one gather write of every queued reply, unless a write is in flight (its completion
  // flushes again).
  void Flush() {
    if (writing_) return;
    {
      std::lock_guard<std::mutex> lock(mu_);
      flush_posted_ = false;
      if (closed_ || pending_.empty()) return;
      writing_frames_.swap(pending_);
    }
    writing_ = true;
    buffers_.clear();
    internal::AppendBuffers(writing_frames_, &buffers_);
    server_->writes.fetch_add(1, std::memory_order_relaxed);
    server_->frames_sent.fetch_add(writing_frames_.size(), std::memory_order_relaxed);
    asio::async_write(socket_, buffers_,
                      asio::bind_executor(strand_, [self = shared_from_this()](
                                                       boost::system::error_code ec, size_t) {
                        self->writing_ = false;
                        self->writing_frames_.clear();
                        if (ec) {
                          self->Close(ec == asio::error::operation_aborted ? "" : ec.message());
                          return;
                        }
                        self->Flush();
                      }));
  }

  void Close(const std::string& reason) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (closed_) return;
      closed_ = true;
      pending_.clear();
    }
    if (!reason.empty()) internal::LogConnectionClosed("server", peer_, reason);
    boost::system::error_code ignored;
    socket_.shutdown(tcp::socket::shutdown_both, ignored);
    socket_.close(ignored);
    server_->Forget(this);
  }

  const std::shared_ptr<Server::State> server_;
  tcp::socket socket_;
  Strand strand_;
  const std::string peer_;

  // On strand_ only.
  internal::FrameReader reader_;
  bool in_batch_ = false;
  bool writing_ = false;
  std::vector<internal::OutFrame> writing_frames_;
  std::vector<asio::const_buffer> buffers_;

  std::mutex mu_;  // guards the fields below (Enqueue runs on any thread)
  bool closed_ = false;
  bool flush_posted_ = false;
  std::vector<internal::OutFrame> pending_;
};

}  // namespace

void Server::State::Accept() {
  std::lock_guard<std::mutex> lock(mu);
  if (stopped) return;
  acceptor.async_accept(
      [self = shared_from_this()](boost::system::error_code ec, tcp::socket socket) {
        if (ec) {
          if (ec == asio::error::operation_aborted) return;
          internal::LogConnectionClosed("server", "(accept)", ec.message());
        } else {
          boost::system::error_code ignored;
          socket.set_option(tcp::no_delay(true), ignored);
          const tcp::endpoint remote = socket.remote_endpoint(ignored);
          auto connection = std::make_shared<Connection>(
              self, std::move(socket), remote.address().to_string() + ":" +
                                           std::to_string(remote.port()));
          bool start = false;
          {
            std::lock_guard<std::mutex> guard(self->mu);
            if (!self->stopped) {
              self->connections.emplace(connection.get(), connection);
              start = true;
            }
          }
          if (start) connection->Start();
        }
        self->Accept();
      });
}

bool Server::State::EnterDispatch() {
  std::lock_guard<std::mutex> lock(mu);
  if (stopped) return false;
  ++dispatching;
  tls_dispatching_server = this;
  return true;
}

void Server::State::ExitDispatch() {
  std::lock_guard<std::mutex> lock(mu);
  tls_dispatching_server = nullptr;
  --dispatching;
  if (stopped) dispatch_done.notify_all();
}

Result<std::unique_ptr<Server>> Server::Start(asio::io_context& io, ServerOptions options,
                                              Handler handler) {
  TXC_CHECK(options.max_frame_bytes <= 0x7fffffffu);
  auto state = std::make_shared<State>(io, std::move(options), std::move(handler));
  boost::system::error_code ec;
  const asio::ip::address address = asio::ip::make_address(state->options.host, ec);
  if (ec) return Status::InvalidArgument("bad host " + state->options.host + ": " + ec.message());
  const tcp::endpoint endpoint(address, state->options.port);
  const auto fail = [&](const char* what) {
    return Status::Unavailable(std::string(what) + " " + state->options.host + ":" +
                               std::to_string(state->options.port) + ": " + ec.message());
  };
  if (state->acceptor.open(endpoint.protocol(), ec)) return fail("open");
  if (state->acceptor.set_option(tcp::acceptor::reuse_address(true), ec)) return fail("reuse");
  if (state->acceptor.bind(endpoint, ec)) return fail("bind");
  if (state->acceptor.listen(asio::socket_base::max_listen_connections, ec)) return fail("listen");
  const uint16_t port = state->acceptor.local_endpoint(ec).port();
  if (ec) return fail("local_endpoint");
  state->Accept();
  return std::unique_ptr<Server>(new Server(std::move(state), port));
}

Server::~Server() { Stop(); }

Server::Stats Server::stats() const {
  Stats s;
  s.writes = state_->writes.load(std::memory_order_relaxed);
  s.frames_sent = state_->frames_sent.load(std::memory_order_relaxed);
  return s;
}

void Server::Stop() {
  std::vector<std::shared_ptr<Connection>> to_close;
  {
    std::unique_lock<std::mutex> lock(state_->mu);
    if (!state_->stopped) {
      state_->stopped = true;
      boost::system::error_code ignored;
      state_->acceptor.close(ignored);
      for (auto& [ptr, weak] : state_->connections) {
        if (std::shared_ptr<Connection> connection = weak.lock()) to_close.push_back(connection);
      }
      state_->connections.clear();
    }
    // Wait out handler batches in progress (not our own, when called from a handler).
    const int self = tls_dispatching_server == state_.get() ? 1 : 0;
    state_->dispatch_done.wait(lock, [&] { return state_->dispatching <= self; });
  }
  for (const auto& connection : to_close) connection->CloseAsync("");
}

}  // namespace txcoord::rpc
