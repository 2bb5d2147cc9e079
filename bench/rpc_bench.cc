// rpc_bench: calls/s and latency of rpc/ against the stock Thrift C++ server, in one run.
//
//   rpc_bench [--seconds S] [--window W] [--connections C]
//
// The method is Coordinator.status, answered at once with a small TxnStatus (a trivial method:
// the cost measured is the RPC layer's). All three cases run in this process on loopback,
// framed transport + binary protocol, each for S seconds (default 3):
//   (a) ours, pipelined: one rpc::Client, W calls in flight (default 128); every reply's callback
//       issues the next call (closed loop). The server's io_context runs on one thread, the
//       client's on another.
//   (b) ours, C connections (default 8): C rpc::Clients on the same client thread, W/C calls in
//       flight on each (the same total window as (a)).
//   (c) the reference: apache::thrift::server::TThreadedServer with the generated synchronous
//       CoordinatorProcessor, and C stock client threads (TSocket + TFramedTransport +
//       TBinaryProtocol + CoordinatorClient), one call at a time each (TOOLCHAIN.md: 84k calls/s).
// Prints calls/s, the p50 and p99 of call latency (from the call to its reply) and (a)/(c).
// Calls in (a) and (b) go through CallMethod: send_status encodes, recv_status decodes.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <thrift/protocol/TBinaryProtocol.h>
#include <thrift/server/TThreadedServer.h>
#include <thrift/transport/TBufferTransports.h>
#include <thrift/transport/TServerSocket.h>
#include <thrift/transport/TSocket.h>

#include "Coordinator.h"
#include "rpc/client.h"
#include "rpc/server.h"
#include "rpc/thrift_call.h"
#include "rpc/thrift_service.h"

namespace {

using Clock = std::chrono::steady_clock;
using txcoord::Result;
using txcoord::thrift::CoordinatorClient;
using txcoord::thrift::TxnId;
using txcoord::thrift::TxnStatus;

TxnStatus Answer(const TxnId& txn) {
  TxnStatus status;
  status.txn = txn;
  status.outcome = txcoord::thrift::Outcome::COMMITTED;
  return status;
}

class CobCoordinator : public txcoord::thrift::CoordinatorCobSvNull {
 public:
  void status(std::function<void(const TxnStatus&)> cob,
              std::function<void(apache::thrift::TDelayedException*)> /*exn_cob*/,
              const TxnId& txn) override {
    cob(Answer(txn));
  }
};

class SyncCoordinator : public txcoord::thrift::CoordinatorNull {
 public:
  void status(TxnStatus& _return, const TxnId& txn) override { _return = Answer(txn); }
};

struct Figures {
  double calls_per_s = 0;
  double p50_us = 0;
  double p99_us = 0;
  uint64_t writes = 0;  // (a)/(b): client gather writes
  uint64_t frames = 0;
};

Figures Summarize(std::vector<double>* latencies_us, double seconds) {
  Figures f;
  f.calls_per_s = static_cast<double>(latencies_us->size()) / seconds;
  if (!latencies_us->empty()) {
    std::sort(latencies_us->begin(), latencies_us->end());
    const auto at = [&](double p) {
      return (*latencies_us)[static_cast<size_t>(p * static_cast<double>(latencies_us->size() - 1))];
    };
    f.p50_us = at(0.50);
    f.p99_us = at(0.99);
  }
  return f;
}

double Micros(Clock::duration d) { return std::chrono::duration<double, std::micro>(d).count(); }

// One pipelined closed loop on a Client: keeps `window` calls in flight until `end`. Runs on the
// client io thread only, so `latencies` needs no lock.
class Loop : public std::enable_shared_from_this<Loop> {
 public:
  Loop(txcoord::rpc::Client* client, Clock::time_point end, std::vector<double>* latencies,
       std::atomic<int>* running)
      : client_(client), end_(end), latencies_(latencies), running_(running) {}

  void Start(int window) {
    for (int i = 0; i < window; ++i) Issue();
  }

 private:
  void Issue() {
    const auto start = Clock::now();
    if (start >= end_) return;
    running_->fetch_add(1);
    const int64_t seq = next_seq_++;
    txcoord::rpc::CallMethod<CoordinatorClient>(
        *client_, start + std::chrono::seconds(10),
        [seq](CoordinatorClient& c) {
          TxnId txn;
          txn.epoch = 1;
          txn.seq = seq;
          c.send_status(txn);
        },
        [](CoordinatorClient& c) {
          TxnStatus s;
          c.recv_status(s);
          return s;
        },
        [self = shared_from_this(), start, seq](Result<TxnStatus> reply) {
          if (!reply.ok() || reply.value().txn.seq != seq) {
            std::fprintf(stderr, "rpc_bench: bad reply: %s\n",
                         reply.ok() ? "wrong seq" : reply.status().ToString().c_str());
            std::exit(1);
          }
          self->latencies_->push_back(Micros(Clock::now() - start));
          self->running_->fetch_sub(1);
          self->Issue();
        });
  }

  txcoord::rpc::Client* client_;
  const Clock::time_point end_;
  std::vector<double>* latencies_;
  std::atomic<int>* running_;
  int64_t next_seq_ = 0;
};

Figures RunOurs(uint16_t port, int connections, int window_per_connection, double seconds) {
  boost::asio::io_context io;
  auto work = boost::asio::make_work_guard(io);
  std::thread thread([&] { io.run(); });
  std::vector<std::unique_ptr<txcoord::rpc::Client>> clients;
  txcoord::rpc::ClientOptions options;
  options.port = port;
  for (int i = 0; i < connections; ++i) {
    clients.push_back(std::make_unique<txcoord::rpc::Client>(io, options));
  }
  // Warm up: one call per connection so every connection is established.
  for (auto& client : clients) {
    std::atomic<bool> done{false};
    txcoord::rpc::CallMethod<CoordinatorClient>(
        *client, Clock::now() + std::chrono::seconds(5),
        [](CoordinatorClient& c) { c.send_status(TxnId()); },
        [](CoordinatorClient& c) {
          TxnStatus s;
          c.recv_status(s);
          return s;
        },
        [&](Result<TxnStatus> r) {
          if (!r.ok()) {
            std::fprintf(stderr, "rpc_bench: warm-up failed: %s\n", r.status().ToString().c_str());
            std::exit(1);
          }
          done = true;
        });
    while (!done) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  uint64_t writes_before = 0;
  uint64_t frames_before = 0;
  for (auto& client : clients) {
    writes_before += client->stats().writes;
    frames_before += client->stats().frames_sent;
  }
  std::vector<double> latencies;
  latencies.reserve(4 << 20);
  std::atomic<int> running{0};
  const auto start = Clock::now();
  const auto end = start + std::chrono::duration_cast<Clock::duration>(
                               std::chrono::duration<double>(seconds));
  boost::asio::post(io, [&] {
    for (auto& client : clients) {
      std::make_shared<Loop>(client.get(), end, &latencies, &running)->Start(window_per_connection);
    }
  });
  std::this_thread::sleep_until(end);
  while (running.load() > 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
  Figures f;
  for (auto& client : clients) {
    f.writes += client->stats().writes;
    f.frames += client->stats().frames_sent;
  }
  f.writes -= writes_before;
  f.frames -= frames_before;
  clients.clear();
  work.reset();
  thread.join();  // every Loop has finished: `latencies` is ours now
  const uint64_t writes = f.writes;
  const uint64_t frames = f.frames;
  f = Summarize(&latencies, elapsed);
  f.writes = writes;
  f.frames = frames;
  return f;
}

Figures RunStock(int threads, double seconds) {
  using apache::thrift::protocol::TBinaryProtocol;
  using apache::thrift::protocol::TBinaryProtocolFactory;
  using apache::thrift::transport::TFramedTransport;
  using apache::thrift::transport::TFramedTransportFactory;
  auto server_socket = std::make_shared<apache::thrift::transport::TServerSocket>("127.0.0.1", 0);
  apache::thrift::server::TThreadedServer server(
      std::make_shared<txcoord::thrift::CoordinatorProcessor>(std::make_shared<SyncCoordinator>()),
      server_socket, std::make_shared<TFramedTransportFactory>(),
      std::make_shared<TBinaryProtocolFactory>());
  std::thread serve([&] { server.serve(); });
  for (int i = 0; i < 1000 && server_socket->getPort() == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  const int port = server_socket->getPort();
  const auto start = Clock::now();
  const auto end = start + std::chrono::duration_cast<Clock::duration>(
                               std::chrono::duration<double>(seconds));
  std::vector<std::vector<double>> latencies(threads);
  std::vector<std::thread> clients;
  for (int t = 0; t < threads; ++t) {
    clients.emplace_back([&, t] {
      auto socket = std::make_shared<apache::thrift::transport::TSocket>("127.0.0.1", port);
      socket->setNoDelay(true);
      auto transport = std::make_shared<TFramedTransport>(socket);
      CoordinatorClient client(std::make_shared<TBinaryProtocol>(transport));
      transport->open();
      latencies[t].reserve(1 << 20);
      TxnId txn;
      for (int64_t seq = 0;; ++seq) {
        const auto call_start = Clock::now();
        if (call_start >= end) break;
        txn.seq = seq;
        TxnStatus status;
        client.status(status, txn);
        latencies[t].push_back(Micros(Clock::now() - call_start));
      }
      transport->close();
    });
  }
  for (std::thread& t : clients) t.join();
  const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
  server.stop();
  serve.join();
  std::vector<double> all;
  for (auto& v : latencies) all.insert(all.end(), v.begin(), v.end());
  return Summarize(&all, elapsed);
}

void Print(const char* name, const Figures& f) {
  std::printf("%-52s %10.0f %8.1f %8.1f", name, f.calls_per_s, f.p50_us, f.p99_us);
  if (f.writes > 0) {
    std::printf("   (client: %.1f calls per write)",
                static_cast<double>(f.frames) / static_cast<double>(f.writes));
  }
  std::printf("\n");
}

}  // namespace

int main(int argc, char** argv) {
  double seconds = 3;
  int window = 128;
  int connections = 8;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--seconds" && i + 1 < argc) {
      seconds = std::atof(argv[++i]);
    } else if (arg == "--window" && i + 1 < argc) {
      window = std::atoi(argv[++i]);
    } else if (arg == "--connections" && i + 1 < argc) {
      connections = std::atoi(argv[++i]);
    } else {
      std::fprintf(stderr, "usage: rpc_bench [--seconds S] [--window W] [--connections C]\n");
      return 2;
    }
  }
  if (seconds <= 0 || window < connections || connections < 1) {
    std::fprintf(stderr, "rpc_bench: need seconds > 0 and window >= connections >= 1\n");
    return 2;
  }

  boost::asio::io_context server_io;
  auto work = boost::asio::make_work_guard(server_io);
  Result<std::unique_ptr<txcoord::rpc::Server>> server = txcoord::rpc::Server::Start(
      server_io, txcoord::rpc::ServerOptions{},
      txcoord::rpc::MakeThriftHandler(std::make_shared<txcoord::thrift::CoordinatorAsyncProcessor>(
          std::make_shared<CobCoordinator>())));
  if (!server.ok()) {
    std::fprintf(stderr, "rpc_bench: %s\n", server.status().ToString().c_str());
    return 1;
  }
  std::thread server_thread([&] { server_io.run(); });
  const uint16_t port = server.value()->port();

  std::printf("rpc_bench: %.1f s per case, Coordinator.status, framed + binary, loopback\n",
              seconds);
  std::printf("%-52s %10s %8s %8s\n", "case", "calls/s", "p50 us", "p99 us");
  char name[128];
  std::snprintf(name, sizeof(name), "(a) ours, 1 connection, window %d", window);
  const Figures a = RunOurs(port, 1, window, seconds);
  Print(name, a);
  std::snprintf(name, sizeof(name), "(b) ours, %d connections, window %d each", connections,
                window / connections);
  const Figures b = RunOurs(port, connections, window / connections, seconds);
  Print(name, b);
  server.value()->Stop();
  work.reset();
  server_thread.join();
  std::snprintf(name, sizeof(name), "(c) stock TThreadedServer, %d client threads", connections);
  const Figures c = RunStock(connections, seconds);
  Print(name, c);
  std::printf("ratio (a)/(c) = %.2f   (b)/(c) = %.2f\n", a.calls_per_s / c.calls_per_s,
              b.calls_per_s / c.calls_per_s);
  return 0;
}
