// Proves that the real txbench binary (bench/txbench.cc) drives a real cluster (a coordinator and
// three shards as txcoord processes, tests/integration/local_cluster.h) and reports what
// bench/results.sh reads: for the bank workload under 2PC, ycsb under 3PC, fanout over two shards
// and an open-loop (--rate) run, each about 2 s long, txbench exits 0, and the JSON it writes
// (--json) has committed > 0, the outcome counts, throughput_tps, latency_ms {p50, p90, p99, p999,
// max} in increasing order, and check.ok true (shards agree with the coordinator; for bank the
// total is unchanged); the bank run also measures the floor. A usage error exits 2 before
// touching any cluster. The JSON is read with regular expressions on its keys, as a script would.
// Every wait is bounded: txbench is killed after kTxbenchTimeout.
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "tests/integration/local_cluster.h"
#include "tests/unit/temp_dir.h"
#include "tools/local_cluster.h"

namespace txcoord {
namespace {

// Warm-up, 2 s measured, loading and checks take about 4 s; this is a hang.
constexpr std::chrono::seconds kTxbenchTimeout{60};

struct Ran {
  int status = -1;     // exit status; -1 when it had to be killed
  std::string output;  // stdout and stderr
};

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// Runs txbench with `args`, its output in `scratch_dir`/txbench.out.
Ran Txbench(const std::vector<std::string>& args, const std::string& scratch_dir) {
  local::SpawnOptions options;
  options.name = "txbench";
  options.argv.push_back(TXCOORD_TXBENCH_BINARY);
  options.argv.insert(options.argv.end(), args.begin(), args.end());
  options.log_path = scratch_dir + "/txbench.out";
  std::filesystem::remove(options.log_path);
  Result<local::Process> spawned = local::Process::Spawn(options);
  Ran ran;
  if (!spawned.ok()) {
    ADD_FAILURE() << spawned.status().ToString();
    return ran;
  }
  std::optional<int> status = spawned.value().WaitExit(kTxbenchTimeout);
  if (status) {
    ran.status = *status;
  } else {
    ADD_FAILURE() << "txbench did not finish within " << kTxbenchTimeout.count() << " s: killed";
    spawned.value().Kill();
  }
  ran.output = ReadFile(options.log_path);
  return ran;
}

// The number after "key": in `json` (the first occurrence), nullopt when there is none. (Plain
// string search: <regex> trips g++ 12's -Wmaybe-uninitialized under the sanitizer presets.)
std::optional<double> Number(const std::string& json, const std::string& key) {
  const std::string tag = "\"" + key + "\": ";
  const size_t at = json.find(tag);
  if (at == std::string::npos) return std::nullopt;
  const size_t begin = at + tag.size();
  const size_t end = json.find_first_not_of("-0123456789.eE+", begin);
  const std::string number = json.substr(begin, end == std::string::npos ? end : end - begin);
  if (number.empty()) return std::nullopt;
  try {
    return std::stod(number);
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

// The object after "key": in `json` (flat: no nested braces), empty when there is none.
std::string Object(const std::string& json, const std::string& key) {
  const std::string tag = "\"" + key + "\": {";
  const size_t at = json.find(tag);
  if (at == std::string::npos) return "";
  const size_t begin = at + tag.size() - 1;
  const size_t end = json.find('}', begin);
  return end == std::string::npos ? "" : json.substr(begin, end - begin + 1);
}

class TxbenchTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(cluster_.StartAll().ok()) << cluster_.Logs(); }
  void TearDown() override {
    if (HasFailure()) std::cerr << cluster_.Logs();
  }

  // Runs txbench against the cluster for 2 s (0.5 s warm-up) with `args` added, checks the exit
  // status and the JSON's common keys, and returns the JSON.
  std::string RunAndCheck(const std::vector<std::string>& args) {
    const std::string json_path = scratch_.path() + "/result.json";
    std::vector<std::string> all = {
        "--coordinator", "127.0.0.1:" + std::to_string(cluster_.coordinator_port()),
        "--duration",    "2",
        "--warmup",      "0.5",
        "--json",        json_path,
        "--data-dir",    scratch_.path()};
    all.insert(all.end(), args.begin(), args.end());
    const Ran ran = Txbench(all, scratch_.path());
    EXPECT_EQ(ran.status, 0) << ran.output;
    const std::string json = ReadFile(json_path);
    EXPECT_FALSE(json.empty()) << "no JSON written\n" << ran.output;

    for (const char* key : {"committed", "committed_all", "aborted", "unknown", "throughput_tps"}) {
      EXPECT_TRUE(Number(json, key).has_value()) << key << " missing\n" << json;
    }
    EXPECT_GT(Number(json, "committed").value_or(0), 0) << json;
    EXPECT_GE(Number(json, "committed_all").value_or(0), Number(json, "committed").value_or(1))
        << "committed_all includes the measured window\n" << json;
    EXPECT_GT(Number(json, "throughput_tps").value_or(0), 0) << json;

    const std::string latency = Object(json, "latency_ms");
    EXPECT_FALSE(latency.empty()) << "latency_ms missing\n" << json;
    double previous = 0;
    for (const char* key : {"p50", "p90", "p99", "p999", "max"}) {
      const std::optional<double> ms = Number(latency, key);
      EXPECT_TRUE(ms.has_value()) << "latency_ms." << key << " missing\n" << json;
      if (!ms) continue;
      EXPECT_GT(*ms, 0) << key;
      EXPECT_GE(*ms, previous) << key << " below the previous percentile\n" << json;
      previous = *ms;
    }
    EXPECT_NE(Object(json, "check").find("\"ok\": true"), std::string::npos)
        << "check.ok is not true\n" << json << "\n" << ran.output;
    return json;
  }

  testing::LocalCluster cluster_;
  testing::TempDir scratch_{"txbench-test"};
};

TEST_F(TxbenchTest, Bank2pcClosedLoop) {
  const std::string json = RunAndCheck({"--workload", "bank", "--protocol", "2pc", "--clients",
                                        "4", "--accounts", "1000"});
  EXPECT_NE(json.find("\"workload\": \"bank\""), std::string::npos) << json;
  EXPECT_NE(json.find("\"protocol\": \"2pc\""), std::string::npos) << json;
  // The bank total held, and the floor was measured.
  const std::string check = Object(json, "check");
  EXPECT_EQ(Number(check, "bank_total"), Number(check, "bank_expected")) << json;
  const std::string floor = Object(json, "floor");
  for (const char* key : {"fsync_us", "rtt_us", "commit_us", "p50_over_floor"}) {
    EXPECT_GT(Number(floor, key).value_or(0), 0) << "floor." << key << "\n" << json;
  }
}

TEST_F(TxbenchTest, Ycsb3pc) {
  const std::string json = RunAndCheck({"--workload", "ycsb", "--protocol", "3pc", "--clients",
                                        "4", "--records", "2000", "--no-floor"});
  EXPECT_NE(json.find("\"protocol\": \"3pc\""), std::string::npos) << json;
}

TEST_F(TxbenchTest, FanoutOverTwoShards) {
  const std::string json = RunAndCheck({"--workload", "fanout", "--participants", "2",
                                        "--clients", "2", "--no-floor"});
  EXPECT_EQ(Number(json, "participants"), 2) << json;
  EXPECT_EQ(Number(json, "shards"), 3) << json;
}

TEST_F(TxbenchTest, OpenLoop) {
  const std::string json = RunAndCheck({"--workload", "bank", "--rate", "200", "--accounts",
                                        "1000", "--no-floor"});
  EXPECT_EQ(Number(json, "rate"), 200) << json;
  // 200/s for 2 s: about 400 started in the window (none dropped at this rate).
  EXPECT_GT(Number(json, "committed").value_or(0) + Number(json, "aborted").value_or(0), 200)
      << json;
  EXPECT_EQ(Number(json, "not_started"), 0) << json;
}

TEST(TxbenchUsageTest, UsageErrorsExit2) {
  testing::TempDir scratch("txbench-usage");
  for (const std::vector<std::string>& args :
       {std::vector<std::string>{"--workload", "bank"},  // no --coordinator
        {"--coordinator", "127.0.0.1:1", "--workload", "tpcc"},
        {"--coordinator", "127.0.0.1:1", "--clients", "0"},
        {"--coordinator", "127.0.0.1:1", "--bogus", "1"}}) {
    const Ran ran = Txbench(args, scratch.path());
    EXPECT_EQ(ran.status, 2) << ran.output;
    EXPECT_NE(ran.output.find("usage: txbench"), std::string::npos) << ran.output;
  }
}

}  // namespace
}  // namespace txcoord
