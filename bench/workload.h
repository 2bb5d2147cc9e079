// txbench's workloads: what data each loads, and the ops of each one-shot transaction.
//
//   bank    accounts "bank/<i>" holding a balance; a transaction moves 1..10 from one account to
//           an account on another shard (ADD -amount with min_result 0, ADD +amount): two-shard
//           transactions whose invariant is the constant total (serializability).
//   ycsb    records "ycsb/<i>" of 100-byte values; a transaction runs `ops_per_txn` reads or
//           writes (read_fraction of them reads) on zipfian-distributed keys (YCSB's scrambled
//           zipfian, theta 0.99: hot keys spread over the shards).
//   fanout  a transaction writes one key on each of `participants` distinct shards, chosen at
//           random: how commit latency grows with the number of participants.
//
// A Workload is immutable after Make(); Next() takes the caller's Rng, so any thread may use it.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "cluster/shard_map.h"
#include "common/protocol.h"
#include "common/rng.h"
#include "common/status.h"

namespace txcoord::bench {

enum class WorkloadKind : uint8_t { kBank, kYcsb, kFanout };
Result<WorkloadKind> ParseWorkloadKind(const std::string& name);
const char* ToString(WorkloadKind kind);

struct WorkloadOptions {
  WorkloadKind kind = WorkloadKind::kBank;
  int64_t accounts = 10000;        // bank
  int64_t initial_balance = 1000;  // bank
  int64_t records = 100000;        // ycsb
  int ops_per_txn = 4;             // ycsb
  double read_fraction = 0.5;      // ycsb
  double zipf_theta = 0.99;        // ycsb
  int participants = 2;            // fanout: shards per transaction
  int keys_per_shard = 1000;       // fanout
};

// YCSB's zipfian generator over [0, n) (Gray et al., "Quickly generating billion-record synthetic
// databases"), with the rank scrambled by a hash so that the hottest items are not neighbours.
class ScrambledZipfian {
 public:
  ScrambledZipfian(uint64_t n, double theta);
  uint64_t Next(Rng& rng) const;
  // The unscrambled rank (0 = the most popular), for tests.
  uint64_t NextRank(Rng& rng) const;

 private:
  uint64_t n_;
  double theta_;
  double alpha_;
  double zeta_n_;
  double eta_;
  double half_pow_theta_;
};

class Workload {
 public:
  static Result<std::unique_ptr<Workload>> Make(const WorkloadOptions& options,
                                                const cluster::ShardMap& map);

  const WorkloadOptions& options() const { return options_; }
  // The transactions that load the initial data (each a batch of PUTs), to run before the load.
  std::vector<std::vector<Op>> LoadBatches(size_t ops_per_batch) const;
  // The next transaction's ops.
  std::vector<Op> Next(Rng& rng) const;
  // bank: one GET of every account, and the total they must sum to.
  std::vector<Op> AuditOps() const;
  int64_t ExpectedTotal() const { return options_.accounts * options_.initial_balance; }

  static std::string AccountKey(int64_t i) { return "bank/" + std::to_string(i); }
  static std::string RecordKey(uint64_t i) { return "ycsb/" + std::to_string(i); }

 private:
  Workload(const WorkloadOptions& options, const cluster::ShardMap& map);

  WorkloadOptions options_;
  cluster::ShardMap map_;
  std::vector<std::vector<int64_t>> accounts_by_shard_;  // bank
  std::vector<ShardId> bank_shards_;                     // shards holding some account
  std::unique_ptr<ScrambledZipfian> zipf_;               // ycsb
  std::vector<std::vector<std::string>> fanout_keys_;    // fanout: keys of each shard
  std::string value_;                                    // ycsb and fanout: the written value
};

}  // namespace txcoord::bench
