#include "bench/workload.h"

#include <algorithm>
#include <cmath>

#include "common/check.h"

namespace txcoord::bench {

Result<WorkloadKind> ParseWorkloadKind(const std::string& name) {
  if (name == "bank") return WorkloadKind::kBank;
  if (name == "ycsb") return WorkloadKind::kYcsb;
  if (name == "fanout") return WorkloadKind::kFanout;
  return Status::InvalidArgument("--workload: '" + name + "' is not bank, ycsb or fanout");
}

const char* ToString(WorkloadKind kind) {
  switch (kind) {
    case WorkloadKind::kBank: return "bank";
    case WorkloadKind::kYcsb: return "ycsb";
    case WorkloadKind::kFanout: return "fanout";
  }
  return "?";
}

namespace {

double Zeta(uint64_t n, double theta) {
  double sum = 0;
  for (uint64_t i = 1; i <= n; ++i) sum += 1.0 / std::pow(static_cast<double>(i), theta);
  return sum;
}

uint64_t Fnv1a64(uint64_t v) {
  uint64_t h = 0xCBF29CE484222325ull;
  for (int i = 0; i < 8; ++i) {
    h ^= (v >> (8 * i)) & 0xFF;
    h *= 0x100000001B3ull;
  }
  return h;
}

double Unit(Rng& rng) { return static_cast<double>(rng.Next() >> 11) * 0x1.0p-53; }

}  // namespace

ScrambledZipfian::ScrambledZipfian(uint64_t n, double theta)
    : n_(n), theta_(theta), zeta_n_(Zeta(n, theta)) {
  TXC_CHECK(n_ >= 2 && theta_ > 0 && theta_ < 1);
  alpha_ = 1.0 / (1.0 - theta_);
  const double zeta2 = Zeta(2, theta_);
  eta_ = (1.0 - std::pow(2.0 / static_cast<double>(n_), 1.0 - theta_)) / (1.0 - zeta2 / zeta_n_);
  half_pow_theta_ = 1.0 + std::pow(0.5, theta_);
}

uint64_t ScrambledZipfian::NextRank(Rng& rng) const {
  const double u = Unit(rng);
  const double uz = u * zeta_n_;
  if (uz < 1.0) return 0;
  if (uz < half_pow_theta_) return 1;
  const auto rank = static_cast<uint64_t>(static_cast<double>(n_) *
                                          std::pow(eta_ * u - eta_ + 1.0, alpha_));
  return std::min(rank, n_ - 1);
}

uint64_t ScrambledZipfian::Next(Rng& rng) const { return Fnv1a64(NextRank(rng)) % n_; }

Workload::Workload(const WorkloadOptions& options, const cluster::ShardMap& map)
    : options_(options), map_(map) {}

Result<std::unique_ptr<Workload>> Workload::Make(const WorkloadOptions& o,
                                                 const cluster::ShardMap& map) {
  const size_t shards = map.shards.size();
  if (shards == 0) return Status::InvalidArgument("the shard map has no shards");
  std::unique_ptr<Workload> w(new Workload(o, map));
  switch (o.kind) {
    case WorkloadKind::kBank: {
      if (o.accounts < 2) return Status::InvalidArgument("--accounts: at least 2");
      w->accounts_by_shard_.resize(shards);
      for (int64_t i = 0; i < o.accounts; ++i) {
        const ShardId s = cluster::ShardFor(map, AccountKey(i));
        w->accounts_by_shard_[static_cast<size_t>(s)].push_back(i);
      }
      for (size_t s = 0; s < shards; ++s) {
        if (!w->accounts_by_shard_[s].empty()) w->bank_shards_.push_back(static_cast<ShardId>(s));
      }
      break;
    }
    case WorkloadKind::kYcsb:
      if (o.records < 2) return Status::InvalidArgument("--records: at least 2");
      if (o.ops_per_txn < 1 || o.ops_per_txn > 1000) {
        return Status::InvalidArgument("--ops-per-txn: 1 to 1000");
      }
      if (o.read_fraction < 0 || o.read_fraction > 1) {
        return Status::InvalidArgument("--read-fraction: 0 to 1");
      }
      w->zipf_ = std::make_unique<ScrambledZipfian>(static_cast<uint64_t>(o.records), o.zipf_theta);
      w->value_ = std::string(100, 'v');
      break;
    case WorkloadKind::kFanout: {
      if (o.participants < 1 || static_cast<size_t>(o.participants) > shards) {
        return Status::InvalidArgument("--participants: 1 to the number of shards (" +
                                       std::to_string(shards) + "); start more shards");
      }
      // Keys "fan/<n>" bucketed by the shard that owns them, until every shard has its share.
      w->fanout_keys_.resize(shards);
      size_t full = 0;
      const auto per_shard = static_cast<size_t>(o.keys_per_shard);
      for (uint64_t n = 0; full < shards; ++n) {
        if (n > per_shard * shards * 1000) {
          return Status::InvalidArgument("fanout: some shard owns none of the keys (range map?)");
        }
        std::string key = "fan/" + std::to_string(n);
        auto& bucket = w->fanout_keys_[static_cast<size_t>(cluster::ShardFor(map, key))];
        if (bucket.size() < per_shard) {
          bucket.push_back(std::move(key));
          if (bucket.size() == per_shard) ++full;
        }
      }
      w->value_ = std::string(16, 'f');
      break;
    }
  }
  return w;
}

std::vector<std::vector<Op>> Workload::LoadBatches(size_t ops_per_batch) const {
  std::vector<Op> all;
  switch (options_.kind) {
    case WorkloadKind::kBank:
      for (int64_t i = 0; i < options_.accounts; ++i) {
        all.push_back({.type = Op::Type::kPut, .key = AccountKey(i),
                       .value = std::to_string(options_.initial_balance)});
      }
      break;
    case WorkloadKind::kYcsb:
      for (int64_t i = 0; i < options_.records; ++i) {
        all.push_back({.type = Op::Type::kPut, .key = RecordKey(static_cast<uint64_t>(i)),
                       .value = value_});
      }
      break;
    case WorkloadKind::kFanout:
      break;  // blind writes: nothing to load
  }
  std::vector<std::vector<Op>> batches;
  for (size_t at = 0; at < all.size(); at += ops_per_batch) {
    const size_t end = std::min(all.size(), at + ops_per_batch);
    batches.emplace_back(std::make_move_iterator(all.begin() + static_cast<std::ptrdiff_t>(at)),
                         std::make_move_iterator(all.begin() + static_cast<std::ptrdiff_t>(end)));
  }
  return batches;
}

std::vector<Op> Workload::Next(Rng& rng) const {
  std::vector<Op> ops;
  switch (options_.kind) {
    case WorkloadKind::kBank: {
      // From any account to an account on another shard (any other account if one shard).
      const ShardId from_shard = bank_shards_[rng.Uniform(bank_shards_.size())];
      ShardId to_shard = from_shard;
      if (bank_shards_.size() > 1) {
        while (to_shard == from_shard) to_shard = bank_shards_[rng.Uniform(bank_shards_.size())];
      }
      const auto& from_accounts = accounts_by_shard_[static_cast<size_t>(from_shard)];
      const auto& to_accounts = accounts_by_shard_[static_cast<size_t>(to_shard)];
      const int64_t from = from_accounts[rng.Uniform(from_accounts.size())];
      int64_t to = from;
      while (to == from) to = to_accounts[rng.Uniform(to_accounts.size())];
      const int64_t amount = rng.Range(1, 10);
      ops.push_back({.type = Op::Type::kAdd, .key = AccountKey(from), .delta = -amount,
                     .min_result = 0});
      ops.push_back({.type = Op::Type::kAdd, .key = AccountKey(to), .delta = amount});
      break;
    }
    case WorkloadKind::kYcsb:
      for (int i = 0; i < options_.ops_per_txn; ++i) {
        std::string key = RecordKey(zipf_->Next(rng));
        if (Unit(rng) < options_.read_fraction) {
          ops.push_back({.type = Op::Type::kGet, .key = std::move(key)});
        } else {
          ops.push_back({.type = Op::Type::kPut, .key = std::move(key), .value = value_});
        }
      }
      break;
    case WorkloadKind::kFanout: {
      // `participants` distinct shards: a partial Fisher-Yates shuffle.
      std::vector<ShardId> shards(fanout_keys_.size());
      for (size_t i = 0; i < shards.size(); ++i) shards[i] = static_cast<ShardId>(i);
      for (int i = 0; i < options_.participants; ++i) {
        const size_t j = static_cast<size_t>(i) + rng.Uniform(shards.size() - static_cast<size_t>(i));
        std::swap(shards[static_cast<size_t>(i)], shards[j]);
        const auto& keys = fanout_keys_[static_cast<size_t>(shards[static_cast<size_t>(i)])];
        ops.push_back({.type = Op::Type::kPut, .key = keys[rng.Uniform(keys.size())],
                       .value = value_});
      }
      break;
    }
  }
  return ops;
}

std::vector<Op> Workload::AuditOps() const {
  std::vector<Op> ops;
  for (int64_t i = 0; i < options_.accounts; ++i) {
    ops.push_back({.type = Op::Type::kGet, .key = AccountKey(i)});
  }
  return ops;
}

}  // namespace txcoord::bench
