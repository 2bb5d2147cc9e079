// Proves cluster/config_store.h's `static` backend on a real file: a group is created at version
// 1 and changed only by a compare-and-swap naming the next version (a stale one changes nothing
// and returns the stored value); values read back field by field, also by another store object
// on the same file; malformed configurations are refused before anything is written, a
// malformed file is Corruption; and many threads racing compare-and-swap loops on one file (each
// with its own descriptor, as separate processes would) lose no update.
#include "cluster/config_store.h"

#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <thread>
#include <vector>

#include "tests/unit/temp_dir.h"

namespace txcoord::cluster {
namespace {

using replication::GroupConfig;
using testing::TempDir;

GroupConfig Config(uint64_t version, Epoch epoch, int primary) {
  GroupConfig c;
  c.version = version;
  c.epoch = epoch;
  c.primary = primary;
  c.members = {0, 1, 2};
  c.isr = {{primary, 7}, {2, 0}};
  if (primary == 2) c.isr = {{2, 9}};
  return c;
}

TEST(FileConfigStoreTest, CreateThenCompareAndSwapOnTheNextVersionOnly) {
  TempDir dir;
  FileConfigStore store(dir.path() + "/groups.yaml");
  EXPECT_EQ(store.Read("shard0").status().code(), Status::Code::kNotFound);
  Result<CasResult> stale_create = store.CompareAndSwap("shard0", Config(2, 2, 0));
  ASSERT_TRUE(stale_create.ok());
  EXPECT_FALSE(stale_create.value().swapped) << "a group is created at version 1";

  Result<CasResult> created = store.CompareAndSwap("shard0", Config(1, 1, 0));
  ASSERT_TRUE(created.ok()) << created.status().ToString();
  EXPECT_TRUE(created.value().swapped);
  ASSERT_TRUE(store.CompareAndSwap("coordinator", Config(1, 1, 1)).value().swapped);

  Result<CasResult> again = store.CompareAndSwap("shard0", Config(1, 5, 2));
  ASSERT_TRUE(again.ok());
  EXPECT_FALSE(again.value().swapped) << "version 1 is taken";
  EXPECT_EQ(again.value().current, Config(1, 1, 0)) << "the stored value comes back";

  ASSERT_TRUE(store.CompareAndSwap("shard0", Config(2, 2, 2)).value().swapped);
  FileConfigStore other(store.path());  // another process's view of the same file
  EXPECT_EQ(other.Read("shard0").value(), Config(2, 2, 2));
  EXPECT_EQ(other.Read("coordinator").value(), Config(1, 1, 1));
}

// A poller (ReadAll) parses the file only when it changed, and never misses a change another
// process made: every change replaces the file.
TEST(FileConfigStoreTest, ReadAllSeesEveryChangeOfAnotherWriter) {
  TempDir dir;
  FileConfigStore poller(dir.path() + "/groups.yaml");
  FileConfigStore writer(poller.path());
  EXPECT_TRUE(poller.ReadAll().value().empty()) << "no file yet";
  ASSERT_TRUE(writer.CompareAndSwap("shard0", Config(1, 1, 0)).value().swapped);
  EXPECT_EQ(poller.ReadAll().value().at("shard0"), Config(1, 1, 0));
  EXPECT_EQ(poller.ReadAll().value().at("shard0"), Config(1, 1, 0)) << "unchanged: the same";
  for (uint64_t v = 2; v <= 5; ++v) {  // changes in quick succession, each seen
    ASSERT_TRUE(writer.CompareAndSwap("shard0", Config(v, v, 1)).value().swapped);
    EXPECT_EQ(poller.ReadAll().value().at("shard0"), Config(v, v, 1));
  }
}

TEST(FileConfigStoreTest, MalformedConfigurationsAreRefusedAndWriteNothing) {
  TempDir dir;
  FileConfigStore store(dir.path() + "/groups.yaml");
  GroupConfig no_primary = Config(1, 1, 0);
  no_primary.isr = {{1, 3}};
  EXPECT_EQ(store.CompareAndSwap("g", no_primary).status().message(),
            "primary: 0 is not in the isr");
  GroupConfig stranger = Config(1, 1, 0);
  stranger.isr[5] = 1;
  EXPECT_EQ(store.CompareAndSwap("g", stranger).status().message(), "isr: 5 is not a member");
  GroupConfig unsorted = Config(1, 1, 0);
  unsorted.members = {2, 0, 1};
  EXPECT_EQ(store.CompareAndSwap("g", unsorted).status().code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(store.Read("g").status().code(), Status::Code::kNotFound);
}

TEST(FileConfigStoreTest, AMalformedFileIsCorruption) {
  TempDir dir;
  const std::string path = dir.path() + "/groups.yaml";
  FileConfigStore store(path);
  ASSERT_TRUE(store.CompareAndSwap("g", Config(1, 1, 0)).value().swapped);
  std::ofstream(path)
      << "groups:\n  g: {version: 1, epoch: 1, primary: 0, members: [0], isr: {0: 1}, "
         "leader: 3}\n";
  EXPECT_EQ(store.Read("g").status().code(), Status::Code::kCorruption);
  std::ofstream(path) << "groups: [\n";
  EXPECT_EQ(store.Read("g").status().code(), Status::Code::kCorruption);
  EXPECT_EQ(store.CompareAndSwap("g", Config(2, 2, 0)).status().code(), Status::Code::kCorruption)
      << "nothing is changed on top of a file it cannot read";
}

TEST(FileConfigStoreTest, RacingCompareAndSwapsLoseNoUpdate) {
  TempDir dir;
  const std::string path = dir.path() + "/groups.yaml";
  ASSERT_TRUE(FileConfigStore(path).CompareAndSwap("g", Config(1, 1, 0)).value().swapped);
  constexpr int kThreads = 4, kEach = 25;
  std::atomic<int> swapped{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      FileConfigStore store(path);
      for (int done = 0; done < kEach;) {
        GroupConfig c = store.Read("g").value();
        ++c.version;
        ++c.epoch;
        Result<CasResult> r = store.CompareAndSwap("g", c);
        ASSERT_TRUE(r.ok()) << r.status().ToString();
        if (r.value().swapped) {
          ++done;
          ++swapped;
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(swapped.load(), kThreads * kEach);
  EXPECT_EQ(FileConfigStore(path).Read("g").value().version,
            static_cast<uint64_t>(1 + kThreads * kEach));
}


// A process stopped while it holds the file lock must not hang the others' store threads: a
// compare-and-swap gives up after about a second (IoError, changing nothing), and works once
// the lock is free.
TEST(FileConfigStoreTest, ACompareAndSwapGivesUpOnALockHeldTooLong) {
  TempDir dir;
  FileConfigStore store(dir.path() + "/groups.yaml");
  ASSERT_TRUE(store.CompareAndSwap("g", Config(1, 1, 0)).value().swapped);
  const int held = ::open((store.path() + ".lock").c_str(), O_RDWR | O_CLOEXEC);
  ASSERT_GE(held, 0);
  ASSERT_EQ(::flock(held, LOCK_EX), 0);  // another open file description: it conflicts
  const auto start = std::chrono::steady_clock::now();
  Result<CasResult> blocked = store.CompareAndSwap("g", Config(2, 2, 0));
  const auto waited = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(blocked.status().code(), Status::Code::kIoError);
  EXPECT_NE(blocked.status().message().find("held by another process"), std::string::npos)
      << blocked.status().ToString();
  EXPECT_GE(waited, std::chrono::milliseconds(900));
  EXPECT_EQ(store.Read("g").value().version, 1u) << "changed while locked";
  ::close(held);
  EXPECT_TRUE(store.CompareAndSwap("g", Config(2, 2, 0)).value().swapped);
}

}  // namespace
}  // namespace txcoord::cluster
