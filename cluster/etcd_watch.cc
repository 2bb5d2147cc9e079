#include "cluster/etcd_watch.h"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <nlohmann/json.hpp>

#include <chrono>
#include <iostream>

#include "common/check.h"

namespace txcoord::cluster {

namespace beast = boost::beast;
namespace http = boost::beast::http;
using boost::asio::ip::tcp;

namespace {
// Between a failed watch and the next one: a member that refuses is not hammered.
constexpr std::chrono::milliseconds kRetryPause{200};
// A watch line longer than this is not etcd's (a configuration is a few hundred bytes).
constexpr size_t kMaxLine = 4 << 20;
}  // namespace

// The thread's io_context and the stream it reads, reachable from Stop() on another thread.
struct EtcdWatch::Loop {
  boost::asio::io_context io;
  std::mutex mu;                    // guards stream while Stop closes it
  std::unique_ptr<beast::tcp_stream> stream;
};

EtcdWatch::EtcdWatch(EtcdClientOptions options, std::string prefix, OnPut on_put)
    : options_(std::move(options)),
      prefix_(std::move(prefix)),
      on_put_(std::move(on_put)),
      loop_(std::make_unique<Loop>()) {
  TXC_CHECK_MSG(!options_.endpoints.empty() && !prefix_.empty(), "EtcdWatch: bad options");
}

EtcdWatch::~EtcdWatch() { Stop(); }

void EtcdWatch::Start() {
  if (thread_.joinable()) return;
  thread_ = std::thread([this] { Run(); });
}

void EtcdWatch::Stop() {
  {
    std::lock_guard<std::mutex> lock(loop_->mu);
    stopping_ = true;
    loop_->io.stop();  // the blocking run() in Run returns; no on_put is called after
  }
  if (thread_.joinable()) thread_.join();
}

void EtcdWatch::Run() {
  Loop& loop = *loop_;
  size_t endpoint = 0;
  int64_t next_revision = 0;  // 0: from now
  // Runs the io_context until what was started completes. Restarted under the lock and only
  // while not stopping, so that a Stop() at any point makes this run return.
  const auto run = [&loop, this] {
    {
      std::lock_guard<std::mutex> lock(loop.mu);
      if (stopping_) return;
      loop.io.restart();
    }
    loop.io.run();
  };
  const auto pause = [&] {
    boost::asio::steady_timer timer(loop.io, kRetryPause);
    timer.async_wait([](const beast::error_code&) {});
    run();
  };
  while (!stopping_) {
    const Address& at = options_.endpoints[endpoint];
    endpoint = (endpoint + 1) % options_.endpoints.size();
    {
      std::lock_guard<std::mutex> lock(loop.mu);
      if (stopping_) return;
      loop.stream = std::make_unique<beast::tcp_stream>(loop.io);
    }
    beast::tcp_stream& stream = *loop.stream;
    beast::error_code ec;
    tcp::resolver resolver(loop.io);
    const auto addresses = resolver.resolve(at.host, std::to_string(at.port), ec);
    if (!ec) {
      stream.expires_after(options_.attempt_timeout);
      stream.async_connect(addresses, [&ec](beast::error_code e, const tcp::endpoint&) { ec = e; });
      run();
    }
    if (stopping_) return;
    nlohmann::json create = {{"key", EncodeBase64(prefix_)},
                             {"range_end", EncodeBase64(PrefixEnd(prefix_))}};
    if (next_revision > 0) create["start_revision"] = std::to_string(next_revision);
    http::request<http::string_body> request{http::verb::post, "/v3/watch", 11};
    request.set(http::field::host, at.ToString());
    request.set(http::field::content_type, "application/json");
    request.body() = nlohmann::json{{"create_request", create}}.dump();
    request.prepare_payload();
    if (!ec) {
      stream.expires_after(options_.attempt_timeout);
      http::async_write(stream, request, [&ec](beast::error_code e, size_t) { ec = e; });
      run();
    }
    beast::flat_buffer buffer;
    http::response_parser<http::buffer_body> parser;
    parser.body_limit(boost::none);  // a stream: as long as the watch lasts
    if (!ec) {
      stream.expires_after(options_.attempt_timeout);
      http::async_read_header(stream, buffer, parser, [&ec](beast::error_code e, size_t) { ec = e; });
      run();
    }
    if (stopping_) return;
    if (!ec && parser.get().result() != http::status::ok) ec = http::error::bad_status;
    if (!ec) {
      ++watches_;
    } else if (failures_++ % 50 == 0) {
      // Visible, not loud: the backstop reads keep the node right meanwhile.
      std::cerr << "txcoord: watching etcd at " << at.ToString() << " failed (" << ec.message()
                << "); trying the next endpoint\n";
    }
    // The events: no deadline (a quiet cluster sends nothing for hours).
    stream.expires_never();
    std::string lines;
    char chunk[16384];
    bool failed = static_cast<bool>(ec);
    while (!failed && !stopping_ && !parser.is_done()) {
      parser.get().body().data = chunk;
      parser.get().body().size = sizeof(chunk);
      http::async_read_some(stream, buffer, parser,
                            [&ec](beast::error_code e, size_t) { ec = e; });
      run();
      if (stopping_) return;
      if (ec == http::error::need_buffer) ec = {};
      if (ec) break;
      lines.append(chunk, sizeof(chunk) - parser.get().body().size);
      if (lines.size() > kMaxLine) break;
      for (size_t eol; (eol = lines.find('\n')) != std::string::npos;) {
        const std::string line = lines.substr(0, eol);
        lines.erase(0, eol + 1);
        if (line.empty()) continue;
        Result<EtcdWatchMessage> m = ParseWatchMessage(line);
        if (!m.ok()) {
          failed = true;
          break;
        }
        if (m.value().canceled) {
          // Its start revision was compacted away: from now on (the backstop read covers the
          // gap).
          if (m.value().compact_revision > 0) next_revision = 0;
          failed = true;
          break;
        }
        for (const EtcdKv& kv : m.value().puts) {
          next_revision = std::max(next_revision, kv.mod_revision + 1);
          ++puts_;
          on_put_(kv);
        }
      }
    }
    {
      std::lock_guard<std::mutex> lock(loop.mu);
      beast::error_code ignored;
      loop.stream->socket().shutdown(tcp::socket::shutdown_both, ignored);
      loop.stream->close();
    }
    if (stopping_) return;
    pause();
  }
}

}  // namespace txcoord::cluster
