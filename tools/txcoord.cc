// txcoord: the server daemon, and a launcher of local clusters made of it.
//
//   txcoord coordinator --config FILE   the coordinator (core + decision log + RPC)
//   txcoord shard --config FILE         a shard (core + RocksDB store + lock manager + RPC)
//   txcoord local up|status|down ...    a coordinator and N shards of this binary on 127.0.0.1,
//                                       each a group of R replicas (--replicas, default 1), in
//                                       the background, all files in one directory
//                                       (tools/local_command.h)
//
// A node serves on the address its config names until SIGTERM or SIGINT, then stops cleanly: the
// listening socket closes, every record appended is synced, exit status 0. A config or start-up
// error exits 2 with one line naming the problem (the field, for a bad config). Usage errors of
// any subcommand exit 2; `txcoord --help` prints the usage and exits 0.
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <csignal>
#include <cstring>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "cluster/config.h"
#include "common/crash_point.h"
#include "coordinator/service.h"
#include "participant/service.h"
#include "tools/local_command.h"

namespace txcoord {
namespace {

void PrintUsage(std::ostream& out) {
  out << "usage: txcoord coordinator --config FILE\n"
         "       txcoord shard --config FILE\n"
      << local::kLocalUsage;
}

int Usage() {
  PrintUsage(std::cerr);
  return 2;
}

int Serve(const std::string& role, const std::string& config_path) {
  Result<cluster::NodeConfig> config = cluster::LoadNodeConfig(config_path);
  if (!config.ok()) {
    std::cerr << "txcoord: " << config.status().message() << "\n";
    return 2;
  }
  const cluster::Role want =
      role == "coordinator" ? cluster::Role::kCoordinator : cluster::Role::kShard;
  if (config.value().role != want) {
    std::cerr << "txcoord: " << config_path << ": role: is "
              << cluster::ToString(config.value().role) << ", but `txcoord " << role
              << "` was run\n";
    return 2;
  }
  if (!Faults::Get().Announce()) return 2;
  boost::asio::io_context io(1);
  std::shared_ptr<node::NodeDriver> node;
  if (want == cluster::Role::kCoordinator) {
    auto started = coordinator::CoordinatorService::Start(io, config.value());
    if (!started.ok()) {
      std::cerr << "txcoord coordinator: cannot start: " << started.status().ToString() << "\n";
      return 2;
    }
    node = started.value();
  } else {
    auto started = participant::ShardService::Start(io, config.value());
    if (!started.ok()) {
      std::cerr << "txcoord shard: cannot start: " << started.status().ToString() << "\n";
      return 2;
    }
    node = started.value();
  }
  std::cerr << "txcoord " << role << ": serving on " << config.value().listen.ToString() << "\n";
  boost::asio::signal_set signals(io, SIGTERM, SIGINT);
  signals.async_wait([&](const boost::system::error_code& ec, int signal) {
    if (ec) return;
    std::cerr << "txcoord " << role << ": " << ::strsignal(signal) << ", stopping\n";
    node->Stop();
    io.stop();
  });
  std::signal(SIGPIPE, SIG_IGN);
  io.run();
  node->Stop();
  node->Release();
  node.reset();
  std::cerr << "txcoord " << role << ": stopped\n";
  return 0;
}

}  // namespace
}  // namespace txcoord

int main(int argc, char** argv) {
  if (argc == 2 && (std::strcmp(argv[1], "--help") == 0 || std::strcmp(argv[1], "-h") == 0)) {
    txcoord::PrintUsage(std::cout);
    return 0;
  }
  if (argc >= 2 && std::strcmp(argv[1], "local") == 0) {
    return txcoord::local::RunLocalCommand(std::vector<std::string>(argv + 2, argv + argc));
  }
  if (argc != 4 || std::strcmp(argv[2], "--config") != 0) return txcoord::Usage();
  const std::string role = argv[1];
  if (role != "coordinator" && role != "shard") return txcoord::Usage();
  return txcoord::Serve(role, argv[3]);
}
