// Proves that `scripts/demo.sh --no-build --seconds 3`, run against the build under test
// (TXCOORD_BUILD_DIR), succeeds and leaves nothing behind: exit status 0 (txbench's checks held on
// a real three-shard cluster started by `txcoord local up`), every node stopped cleanly by
// `txcoord local down` (exit status 0), no process left running from the cluster's directory, and
// that directory removed.
//
// The script runs with TMPDIR set to a fresh directory, so the cluster's directory (mktemp) is
// known to be below it, and this test makes itself a child subreaper, so the detached nodes,
// orphaned when `local up` exits, become its children: it reaps them and sees how they ended.
// Bounded: the script gets 90 s.

#include <gtest/gtest.h>
#include <sys/prctl.h>
#include <sys/wait.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "tests/unit/temp_dir.h"
#include "tools/local_cluster.h"

namespace txcoord {
namespace {

constexpr std::chrono::seconds kScriptTimeout{90};  // below ctest's 120 s: this test reports it

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// The processes (zombies aside) whose command line mentions `text`: pid and arguments after
// argv[0].
std::vector<std::pair<pid_t, std::vector<std::string>>> ProcessesMentioning(
    const std::string& text) {
  std::vector<std::pair<pid_t, std::vector<std::string>>> found;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator("/proc", ec)) {
    const std::string name = entry.path().filename();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    const std::string cmdline = ReadFile(entry.path() / "cmdline");  // empty for a zombie
    if (cmdline.find(text) == std::string::npos) continue;
    std::vector<std::string> args;
    std::istringstream in(cmdline);
    for (std::string arg; std::getline(in, arg, '\0');) args.push_back(arg);
    args.erase(args.begin());
    found.emplace_back(std::stoi(name), std::move(args));
  }
  return found;
}

TEST(DemoScriptTest, RunsTheBankWorkloadAndLeavesNothingBehind) {
  ASSERT_EQ(::prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
  testing::TempDir tmp("txcoord-demo-test");
  const std::string output = tmp.path() + "/demo.out";

  local::SpawnOptions options;
  options.name = "demo.sh";
  options.argv = {"/bin/bash", TXCOORD_SOURCE_DIR "/scripts/demo.sh", "--no-build", "--seconds",
                  "3"};
  options.log_path = output;
  options.env = {{"TXCOORD_BUILD_DIR", TXCOORD_BUILD_DIR}, {"TMPDIR", tmp.path()}};
  Result<local::Process> demo = local::Process::Spawn(options);
  ASSERT_TRUE(demo.ok()) << demo.status().ToString();
  const std::optional<int> status = demo.value().WaitExit(kScriptTimeout);
  if (!status) demo.value().Kill();
  ASSERT_TRUE(status.has_value()) << "demo.sh did not finish within 90 s\n" << ReadFile(output);
  EXPECT_EQ(*status, 0) << ReadFile(output);

  // The nodes: orphaned to this process, each exited 0 (a clean stop on SIGTERM).
  std::vector<int> nodes;
  for (int i = 0; i < 100; ++i) {  // bounded: one per exited child
    int wait_status = 0;
    if (::waitpid(-1, &wait_status, WNOHANG) <= 0) break;
    nodes.push_back(WIFEXITED(wait_status) ? WEXITSTATUS(wait_status)
                                           : 128 + WTERMSIG(wait_status));
  }
  EXPECT_EQ(nodes, std::vector<int>(4, 0)) << "a coordinator and 3 shards, each stopped cleanly\n"
                                           << ReadFile(output);
  for (const auto& [pid, args] : ProcessesMentioning(tmp.path())) {
    std::string command;
    for (const std::string& arg : args) command += " " + arg;
    ADD_FAILURE() << "still running from " << tmp.path() << ": pid " << pid << ":" << command;
    Result<std::optional<local::Process>> p = local::Process::Find(pid, args, "leftover");
    if (p.ok() && p.value()) p.value()->Kill();
  }
  // What is left of TMPDIR: the script's output only (the cluster's directory was removed).
  std::vector<std::string> entries;
  for (const auto& entry : std::filesystem::directory_iterator(tmp.path())) {
    entries.push_back(entry.path().filename());
  }
  EXPECT_EQ(entries, std::vector<std::string>{"demo.out"}) << ReadFile(output);
}

}  // namespace
}  // namespace txcoord
