#include "replication/core/replica_core.h"

#include <algorithm>
#include <set>

#include "common/check.h"

namespace txcoord::replication {

bool GroupConfig::InIsrWith(ReplicaId r, DiskId disk) const {
  auto it = isr.find(r);
  return it != isr.end() && (it->second == disk || it->second == 0);
}

bool GroupConfig::IsMember(ReplicaId r) const {
  return std::find(members.begin(), members.end(), r) != members.end();
}

std::string Describe(const GroupConfig& c) {
  std::string out = "v" + std::to_string(c.version) + " e" + std::to_string(c.epoch) + " primary " +
                    std::to_string(c.primary) + " isr {";
  bool first = true;
  for (const auto& [id, disk] : c.isr) {
    out += (first ? "" : ",") + std::to_string(id);
    first = false;
  }
  return out + "}";
}

const char* ToString(ReplType t) {
  switch (t) {
    case ReplType::kAppend:
      return "APPEND";
    case ReplType::kAppendAck:
      return "APPEND-ACK";
    case ReplType::kStale:
      return "STALE";
    case ReplType::kTransfer:
      return "TRANSFER";
    case ReplType::kTransferAck:
      return "TRANSFER-ACK";
  }
  return "?";
}

ReplicaCore::ReplicaCore(ReplicaOptions options) : options_(options), disk_(options.disk) {
  TXC_CHECK(options_.min_insync >= 1);
  TXC_CHECK(options_.disk != 0);
  TXC_CHECK_MSG(options_.lag_timeout_ticks <= options_.lease_ticks &&
                    options_.lease_ticks < options_.grace_ticks,
                "timeouts must satisfy lag_timeout <= lease < grace");
  TXC_CHECK(options_.max_batch_records >= 1 && options_.max_tail_records >= 1);
}

// ---- the local log --------------------------------------------------------------------------

void ReplicaCore::Restore(const std::vector<Record>& log, Epoch epoch_seen, LogStart start,
                          TransferMark last_transfer) {
  TXC_CHECK(last_ == 0 && tail_.empty() && now_ == 0);
  TXC_CHECK(start.first >= 1);
  TXC_CHECK_MSG(log.empty() || log.front().lsn == start.first, "a log begins at its start");
  first_ = start.first;
  start_epoch_ = first_ == 1 ? 0 : start.epoch_before;
  last_ = first_ - 1;
  tail_start_ = first_;
  commit_ = first_ - 1;  // everything before a log's start is committed
  transfer_mark_ = last_transfer;
  epoch_seen_ = std::max(epoch_seen, start_epoch_);
  for (const Record& r : log) {
    AppendLocal(r);
    epoch_seen_ = std::max(epoch_seen_, r.log_epoch);
  }
  ready_.append.clear();  // already on disk
  durable_ = last_;
  restored_epoch_ = epoch_seen_;
  TrimTail();
}

Epoch ReplicaCore::EpochAt(Lsn position) const {
  if (position == 0 || position > last_) return 0;
  if (position < first_) return position + 1 == first_ ? start_epoch_ : 0;
  for (auto it = history_.rbegin(); it != history_.rend(); ++it) {
    if (it->second <= position) return it->first;
  }
  return 0;
}

Lsn ReplicaCore::EndOfEpoch(Epoch e) const {
  // An epoch older than the record before our log's start ended somewhere before it: which
  // records of it a member holds, this log cannot tell (it gets a state transfer).
  if (first_ > 1 && e < start_epoch_) return first_ - 2;
  auto later = history_.upper_bound(e);  // the first epoch after e
  if (later == history_.end()) return last_;
  return later->second - 1;
}

const Record* ReplicaCore::RecordAt(Lsn position) const {
  if (position < tail_start_ || position > last_) return nullptr;
  return &tail_[position - tail_start_];
}

void ReplicaCore::AppendLocal(const Record& r) {
  TXC_CHECK_MSG(r.lsn == last_ + 1, "replicated records must continue the log");
  TXC_CHECK_MSG(r.log_epoch != 0, "a replicated record names the epoch it was appended in");
  if (history_.empty() || history_.rbegin()->first != r.log_epoch) {
    TXC_CHECK_MSG(history_.empty() || r.log_epoch > history_.rbegin()->first,
                  "a log's epochs never decrease");
    history_[r.log_epoch] = r.lsn;
  }
  last_ = r.lsn;
  if (tail_.empty()) tail_start_ = r.lsn;
  tail_.push_back(r);
  ready_.append.push_back(r);
}

void ReplicaCore::TruncateAfter(Lsn position) {
  TXC_CHECK_MSG(position >= commit_, "truncating a committed record");
  if (position >= last_) return;
  // Records not handed to the driver yet are simply dropped; the rest the driver truncates.
  const Lsn handed = last_ - ready_.append.size();
  while (!ready_.append.empty() && ready_.append.back().lsn > position) ready_.append.pop_back();
  if (position < handed) {
    ready_.truncate_after = std::min(ready_.truncate_after.value_or(position), position);
  }
  last_ = position;
  durable_ = std::min(durable_, position);
  match_ = std::min(match_, position);
  while (!history_.empty() && history_.rbegin()->second > position) {
    history_.erase(std::prev(history_.end()));
  }
  while (!tail_.empty() && tail_.back().lsn > position) tail_.pop_back();
  if (tail_.empty()) tail_start_ = position + 1;
  ++stats_.truncations;
}

void ReplicaCore::TrimTail() {
  while (tail_.size() > options_.max_tail_records) tail_.pop_front();
  tail_start_ = tail_.empty() ? last_ + 1 : tail_.front().lsn;
}

void ReplicaCore::DropBefore(Lsn first) {
  TXC_CHECK_MSG(first <= commit_ + 1 && first <= durable_ + 1,
                "dropping records that are not committed and durable");
  if (first <= first_) return;
  start_epoch_ = EpochAt(first - 1);
  const Epoch at_first = first <= last_ ? EpochAt(first) : 0;
  std::erase_if(history_, [&](const auto& entry) { return entry.second < first; });
  if (at_first != 0) history_.emplace(at_first, first);  // the epoch goes on from first
  while (!tail_.empty() && tail_.front().lsn < first) tail_.pop_front();
  tail_start_ = tail_.empty() ? last_ + 1 : tail_.front().lsn;
  first_ = first;
  ready_.truncate_before = log_start();
}

void ReplicaCore::TruncateBefore(Lsn floor) {
  if (!primary()) return;
  Lsn to = std::min({floor, commit_ + 1, durable_ + 1});
  // Never past what an in-sync member (or one a pending change may add) lacks, nor what a
  // transfer in progress will ship; a lagging member holds the log only within its budget.
  std::set<ReplicaId> holds;
  for (const auto& [id, disk] : config_.isr) holds.insert(id);
  for (const GroupConfig& p : unresolved_) {
    for (const auto& [id, disk] : p.isr) holds.insert(id);
  }
  for (const auto& [id, mem] : members_) {
    const Lsn need = mem.transfer_id != 0 ? mem.transfer_start.first : mem.match + 1;
    if (holds.count(id) || mem.transfer_id != 0 ||
        need + options_.retain_for_lagging_records >= to) {
      to = std::min(to, need);
    }
  }
  if (to > first_) DropBefore(to);
}

void ReplicaCore::OnLocalDurable(Lsn position) {
  position = std::min(position, last_);  // a report from before a truncation
  if (position <= durable_) return;
  durable_ = position;
  if (primary()) {
    PrimaryCommit();
  } else if (role_ == Role::kBackup && primary_id_ >= 0) {
    SendAck(primary_id_, last_sent_at_);
  }
}

// ---- configuration ------------------------------------------------------------------------

void ReplicaCore::SeeEpoch(Epoch e) {
  if (e <= epoch_seen_) return;
  epoch_seen_ = e;
  ready_.persist_epoch = e;
  // Someone holds a newer epoch than the one we are primary in: we are deposed.
  if (primary() && e > config_.epoch) Demote();
}

void ReplicaCore::OnConfig(const GroupConfig& c) {
  if (c.version < config_.version) return;  // an older read
  // A read older than an epoch we have seen on a message (the store has moved on since): it
  // may tell us who the members are, never that we are primary.
  const bool current = c.epoch >= epoch_seen_;
  const bool was_primary = primary();
  const ReplicaId previous_primary = config_.primary;
  config_ = c;
  if (pending_ && pending_->version <= c.version) pending_.reset();
  // A read at or past a proposal's version settles it: the store's value is the truth now.
  std::erase_if(unresolved_, [&](const GroupConfig& p) { return p.version <= c.version; });
  SeeEpoch(c.epoch);
  if (current && c.primary == options_.self && c.InIsrWith(options_.self, disk_)) {
    if (c.epoch <= restored_epoch_) {
      // This incarnation may have lost records it shipped before it restarted: never append in
      // an epoch we held before. Ask for a new one first.
      Propose(Successor());
    } else if (!primary()) {
      BecomePrimary();
    } else {
      // Our own change (the ISR), or a bump: still the same primary. New members start probing.
      for (ReplicaId id : c.members) {
        if (id != options_.self && !members_.count(id)) {
          Member& mem = members_[id] = Member{.next = last_ + 1};
          Ship(id, mem, /*force=*/true);
        }
      }
      for (auto it = members_.begin(); it != members_.end();) {
        it = c.IsMember(it->first) ? std::next(it) : members_.erase(it);
      }
      PrimaryCommit();
    }
  } else if (was_primary) {
    Demote();
  } else if (c.IsMember(options_.self) && role_ == Role::kIdle) {
    BecomeBackup();
  }
  if (role_ == Role::kBackup && c.primary != previous_primary) {
    // A new primary: give it a whole grace period before suspecting it.
    heard_at_ = now_;
  }
}

void ReplicaCore::OnProposed(bool ok, const GroupConfig& current) {
  // The store's answer is definite: applied (ok), or not (and current is its value).
  if (!ok && pending_) {
    const uint64_t version = pending_->version;
    std::erase_if(unresolved_, [&](const GroupConfig& p) { return p.version == version; });
  }
  pending_.reset();
  OnConfig(current);
}

GroupConfig ReplicaCore::Successor() const {
  GroupConfig next = config_;
  ++next.version;
  next.epoch = std::max(config_.epoch, epoch_seen_) + 1;
  // We stay in the ISR on our own disk (this replaces a bootstrap's disk 0).
  if (next.InIsr(options_.self)) next.isr[options_.self] = disk_;
  return next;
}

void ReplicaCore::Propose(GroupConfig next) {
  if (pending_) return;
  TXC_CHECK(next.version == config_.version + 1 && next.epoch > config_.epoch);
  pending_ = next;
  pending_since_ = now_;
  unresolved_.push_back(next);
  ready_.propose = std::move(next);
  ++stats_.proposals;
}

void ReplicaCore::BecomePrimary() {
  role_ = Role::kPrimary;
  primary_epoch_ = config_.epoch;
  activated_ = false;
  // The term's first record. Once it is committed, every ISR member holds exactly our log up to
  // here: whatever a deposed primary left beyond our end on some of them is truncated. Without it
  // such a suffix (an uncommitted COMMIT, say) could outlive this term on a backup and be
  // committed by a later primary, after this one acted on its absence (presumed abort).
  const Lsn start = last_ + 1;
  AppendLocal({.lsn = start, .type = RecordType::kEpochStart, .log_epoch = config_.epoch});
  activation_position_ = last_;
  primary_id_ = options_.self;
  primary_since_ = now_;
  members_.clear();
  // The first probe asks about our log before the term and carries its EPOCH-START: a member that
  // holds the same log takes it in the same round trip.
  for (ReplicaId id : config_.members) {
    if (id != options_.self) members_[id] = Member{.next = start};
  }
  ready_.role_changed = true;
  for (auto& [id, mem] : members_) Ship(id, mem, /*force=*/true);  // probes
  PrimaryCommit();
}

void ReplicaCore::BecomeBackup() {
  role_ = Role::kBackup;
  heard_at_ = now_;
  ready_.role_changed = true;
}

void ReplicaCore::Demote() {
  role_ = config_.IsMember(options_.self) ? Role::kBackup : Role::kIdle;
  activated_ = false;
  members_.clear();
  primary_id_ = -1;
  match_ = 0;
  heard_at_ = now_;
  ready_.role_changed = true;
}

// ---- messages -------------------------------------------------------------------------------

ReplMessage ReplicaCore::To(ReplicaId to, ReplType type) const {
  ReplMessage m;
  m.type = type;
  m.from = options_.self;
  m.to = to;
  m.epoch = primary() ? config_.epoch : epoch_seen_;
  return m;
}

void ReplicaCore::Step(const ReplMessage& m) {
  if (m.to != options_.self) return;
  if (m.type != ReplType::kStale && m.epoch < epoch_seen_) {
    // Fencing: a deposed primary (or a member answering one) changes nothing here.
    ReplMessage stale = To(m.from, ReplType::kStale);
    stale.epoch = epoch_seen_;
    ready_.messages.push_back(stale);
    ++stats_.stale_refused;
    return;
  }
  switch (m.type) {
    case ReplType::kAppend:
      return OnAppend(m);
    case ReplType::kAppendAck:
      return OnAck(m);
    case ReplType::kStale:
      return SeeEpoch(m.epoch);
    case ReplType::kTransfer:
      return OnTransfer(m);
    case ReplType::kTransferAck:
      return OnTransferAck(m);
  }
}

void ReplicaCore::FollowPrimary(const ReplMessage& m) {
  SeeEpoch(m.epoch);
  TXC_CHECK_MSG(!(primary() && m.epoch == config_.epoch),
                "two primaries in one epoch: the configuration store's CAS is broken");
  if (role_ != Role::kBackup) {
    role_ = Role::kBackup;
    ready_.role_changed = true;
  }
  if (primary_id_ != m.from || match_epoch_ != m.epoch) {
    primary_id_ = m.from;
    match_epoch_ = m.epoch;
    match_ = 0;  // to be established with this primary
    last_sent_at_ = 0;
  }
  heard_at_ = now_;
  last_sent_at_ = std::max(last_sent_at_, m.sent_at);
}

void ReplicaCore::OnAppend(const ReplMessage& m) {
  FollowPrimary(m);
  if (transfer_active_) {
    if (m.prev_position != 0) {
      // Half installed, we hold nothing: the primary begins a transfer again (a later mark).
      ReplMessage nack = To(m.from, ReplType::kAppendAck);
      nack.disk = disk_;
      nack.sent_at = m.sent_at;
      ready_.messages.push_back(nack);
      return;
    }
    // A primary whose log starts at 1 ships everything and never transfers: the half-installed
    // state goes (installed as empty), and the log is taken from the start.
    Install& install = ready_.install ? *ready_.install : ready_.install.emplace();
    install = Install{.begin = true, .mark = transfer_mark_, .disk = disk_, .done = LogStart{}};
    transfer_active_ = false;
  }
  Lsn prev = m.prev_position;
  size_t skip = 0;
  bool matches = false;
  if (prev + 1 < first_) {
    // Everything before our log's start is committed, and the primary holds the same committed
    // prefix (a primary holds every committed record): what it sends before our start we hold,
    // and our log equals its up to our start.
    skip = static_cast<size_t>(std::min<Lsn>(m.records.size(), first_ - 1 - prev));
    prev = first_ - 1;
    matches = true;
  } else {
    matches = prev <= last_ && EpochAt(prev) == m.prev_epoch;
  }
  if (!matches) {
    // Our log does not hold the primary's record at prev: say where ours may still match and
    // under which epoch; the primary resends from the end of that epoch in its log.
    ReplMessage nack = To(m.from, ReplType::kAppendAck);
    nack.ok = false;
    nack.disk = disk_;
    nack.last_position = prev > last_ ? last_ : prev - 1;
    nack.last_epoch = EpochAt(nack.last_position);
    nack.sent_at = m.sent_at;
    ready_.messages.push_back(nack);
    return;
  }
  Lsn position = prev;
  for (size_t i = skip; i < m.records.size(); ++i) {
    const Record& r = m.records[i];
    TXC_CHECK_MSG(r.lsn == position + 1, "an append's records are consecutive");
    position = r.lsn;
    if (r.lsn <= last_) {
      if (EpochAt(r.lsn) == r.log_epoch) continue;  // the same record (one primary per epoch)
      TruncateAfter(r.lsn - 1);                     // ours diverges from here
    }
    AppendLocal(r);
  }
  TrimTail();  // a backup keeps the same bounded tail (for when it is promoted)
  match_ = std::max(match_, position);
  const Lsn commit = std::min(m.commit_position, match_);
  if (commit > commit_) AdvanceCommit(commit);
  // The primary dropped its records before log_start: so do we, once they are committed and
  // durable here (every record before a log's start is committed).
  if (m.log_start > first_ && m.log_start <= std::min(commit_, durable_) + 1) {
    DropBefore(m.log_start);
  }
  // A heartbeat, or records already durable here, is answered now; otherwise the answer waits
  // for the local sync (OnLocalDurable).
  if (m.records.empty() || durable_ >= position) SendAck(m.from, m.sent_at);
}

namespace {
// The disk id a replica takes when it installs a state transfer: derived from the old one and
// the transfer's mark (deterministic, as a core must be), below 2^63 (the wire's i64), never 0.
DiskId InstalledDisk(DiskId old, TransferMark mark) {
  uint64_t x = old ^ (mark.epoch * 0x9E3779B97F4A7C15ULL) ^ (mark.id * 0xC2B2AE3D27D4EB4FULL);
  x ^= x >> 31;
  x *= 0xBF58476D1CE4E5B9ULL;
  x ^= x >> 29;
  x &= INT64_MAX;
  return x == 0 || x == old ? (old % INT64_MAX) + 1 : x;
}
}  // namespace

void ReplicaCore::OnTransfer(const ReplMessage& m) {
  FollowPrimary(m);
  ReplMessage ack = To(m.from, ReplType::kTransferAck);
  ack.transfer_id = m.transfer_id;
  ack.transfer_seq = m.transfer_seq;
  ack.last = m.last;
  ack.sent_at = m.sent_at;
  const TransferMark mark{m.epoch, m.transfer_id};
  const bool begins = m.transfer_seq == 0 && mark > transfer_mark_;
  const bool continues =
      transfer_active_ && mark == transfer_mark_ && m.transfer_seq == transfer_next_seq_;
  // An in-sync replica never gives its state away: the ISR may promote it, and the primary
  // counts it for commits. (A primary transfers only to members outside its ISR; one that does
  // not know the configuration yet, or still reads itself in it, waits for the store.) A chunk
  // of an older transfer, or out of order, is refused: the primary begins again.
  if (config_.version == 0 || config_.InIsrWith(options_.self, disk_) || !(begins || continues)) {
    ack.ok = false;
    ack.disk = disk_;
    ready_.messages.push_back(ack);
    return;
  }
  Install& install = ready_.install ? *ready_.install : ready_.install.emplace();
  if (begins) {
    // From here our log and state are being replaced: it is another disk now (what we
    // acknowledged before is void), and no older transfer may start again.
    transfer_mark_ = mark;
    transfer_active_ = true;
    disk_ = InstalledDisk(disk_, mark);
    install.begin = true;
    install.mark = mark;
    install.disk = disk_;
    install.chunks.clear();
    install.done.reset();
    ready_.append.clear();
    ready_.truncate_after.reset();
    ready_.truncate_before.reset();
    first_ = 1;
    start_epoch_ = 0;
    last_ = durable_ = commit_ = match_ = 0;
    history_.clear();
    tail_.clear();
    tail_start_ = 1;
  }
  transfer_next_seq_ = m.transfer_seq + 1;
  install.chunks.push_back(m.payload);
  if (m.last) {
    // The primary's state is ours: our log starts where its did, after prev_position.
    const LogStart start{m.prev_position + 1, m.prev_position == 0 ? 0 : m.prev_epoch};
    first_ = start.first;
    start_epoch_ = start.epoch_before;
    last_ = durable_ = commit_ = match_ = first_ - 1;
    tail_start_ = first_;
    install.done = start;
    transfer_active_ = false;
    ++stats_.transfers_installed;
  }
  ack.ok = true;
  ack.disk = disk_;
  ready_.messages.push_back(ack);
}

void ReplicaCore::SendAck(ReplicaId to, Ticks sent_at) {
  ReplMessage ack = To(to, ReplType::kAppendAck);
  ack.ok = true;
  ack.disk = disk_;
  ack.match_position = std::min(match_, durable_);
  ack.sent_at = sent_at;
  ready_.messages.push_back(ack);
}

ReplicaCore::Member* ReplicaCore::Answering(const ReplMessage& m) {
  if (!primary()) return nullptr;
  SeeEpoch(m.epoch);
  if (!primary()) return nullptr;
  auto it = members_.find(m.from);
  if (it == members_.end()) return nullptr;
  Member& mem = it->second;
  mem.answered_at = now_;
  if (mem.disk != m.disk) {
    // Another disk (a wiped one, or an installed transfer): what it acknowledged before is gone.
    mem.disk = m.disk;
    mem.match = 0;
  }
  return &mem;
}

void ReplicaCore::OnAck(const ReplMessage& m) {
  Member* answering = Answering(m);
  if (answering == nullptr) return;
  Member& mem = *answering;
  mem.acked_sent_at = std::max(mem.acked_sent_at, m.sent_at);
  if (mem.transfer_id != 0) return;  // the transfer decides what it holds
  if (m.ok) {
    mem.match = std::max(mem.match, m.match_position);
    mem.probing = false;
    mem.next = std::max(mem.next, mem.match + 1);
  } else {
    if (m.last_position < mem.match) mem.match = m.last_position;  // it lost records
    mem.next = std::min(m.last_position, EndOfEpoch(m.last_epoch)) + 1;
    mem.probing = true;
    mem.read_pending = false;
  }
  Ship(m.from, mem, !m.ok);
  PrimaryCommit();
  CheckIsr(m.from, m.disk);
}

// ---- primary: shipping, commit, ISR ---------------------------------------------------------

void ReplicaCore::Append(std::vector<Record> records) {
  TXC_CHECK_MSG(activated(), "only an activated primary appends");
  for (Record& r : records) {
    r.log_epoch = config_.epoch;
    AppendLocal(r);
  }
  TrimTail();
  ShipAll();
}

void ReplicaCore::Ship(ReplicaId id, Member& mem, bool force) {
  if (mem.transfer_id != 0) {
    // A chunk (or the read of one) lost: begin again.
    if (!mem.transfer_reading && now_ - mem.transfer_sent > options_.lag_timeout_ticks) {
      StartTransfer(id, mem);
    }
    return;
  }
  if (mem.read_pending) return;
  const bool due = force || now_ - mem.last_sent >= options_.heartbeat_ticks;
  if (mem.next < first_) {
    // It needs records our log no longer holds: a state transfer, never to an in-sync member
    // (the configuration drops it first: its acks name another disk, or it lags).
    if (due && !config_.InIsr(id)) StartTransfer(id, mem);
    return;
  }
  const Lsn in_flight = mem.next - 1 - std::min(mem.match, mem.next - 1);
  const bool with_records =
      mem.next <= last_ && (mem.probing ? due : in_flight < options_.max_in_flight_records);
  if (!with_records && !due) return;
  std::vector<Record> records;
  if (with_records) {
    const Lsn to = std::min(last_, mem.next + options_.max_batch_records - 1);
    if (mem.next < tail_start_) {
      if (mem.probing && (mem.answered_at == kNever ||
                          now_ - mem.answered_at > options_.lag_timeout_ticks)) {
        // Older than what we keep in memory, for a member silent all this term or lately (it
        // may be gone for good): a probe without records. The log is read only once it
        // answers; reading it at every heartbeat for a dead member cost the io thread a
        // scan each time (a scan of RocksDB's vector memtable sorts it: 270 ms at 130,000
        // records).
        SendAppend(id, mem, {});
        return;
      }
      // Older than what we keep in memory: the driver reads it from the log.
      ready_.reads.push_back({id, mem.next, to});
      mem.read_pending = true;
      return;
    }
    for (Lsn p = mem.next; p <= to; ++p) records.push_back(*RecordAt(p));
  }
  SendAppend(id, mem, std::move(records));
}

void ReplicaCore::SendAppend(ReplicaId id, Member& mem, std::vector<Record> records) {
  ReplMessage m = To(id, ReplType::kAppend);
  m.prev_position = mem.next - 1;
  m.prev_epoch = EpochAt(m.prev_position);
  m.commit_position = commit_;
  m.sent_at = now_;
  m.log_start = first_;
  m.records = std::move(records);
  // A probe's records count as sent only once the probe is answered.
  if (!mem.probing) mem.next += m.records.size();
  mem.last_sent = now_;
  ++stats_.appends_shipped;
  stats_.records_shipped += m.records.size();
  ready_.messages.push_back(std::move(m));
}

std::map<ReplicaId, Lsn> ReplicaCore::MemberMatches() const {
  std::map<ReplicaId, Lsn> out;
  if (!primary()) return out;
  for (const auto& [id, mem] : members_) out[id] = mem.match;
  return out;
}

void ReplicaCore::ShipAll() {
  for (auto& [id, mem] : members_) Ship(id, mem, false);
}

void ReplicaCore::OnLogRead(ReplicaId to, std::vector<Record> records) {
  if (!primary()) return;
  auto it = members_.find(to);
  if (it == members_.end() || !it->second.read_pending) return;
  Member& mem = it->second;
  mem.read_pending = false;
  if (records.empty() || records.front().lsn != mem.next) return;  // superseded; ship again
  SendAppend(to, mem, std::move(records));
}

void ReplicaCore::StartTransfer(ReplicaId id, Member& mem) {
  mem.transfer_id = ++next_transfer_id_;
  mem.transfer_seq = 0;
  mem.transfer_start = log_start();
  mem.transfer_reading = true;
  mem.transfer_sent = now_;
  mem.read_pending = false;
  mem.probing = true;
  ready_.transfer_reads.push_back({id, mem.transfer_id, 0, mem.transfer_start});
  ++stats_.transfers_started;
}

void ReplicaCore::OnTransferRead(ReplicaId to, uint64_t id, uint64_t seq,
                                 std::optional<std::string> chunk, bool last) {
  if (!primary()) return;
  auto it = members_.find(to);
  if (it == members_.end()) return;
  Member& mem = it->second;
  if (mem.transfer_id != id || mem.transfer_seq != seq || !mem.transfer_reading) return;
  mem.transfer_reading = false;
  if (!chunk) {
    mem.transfer_id = 0;  // given up: the next heartbeat begins another
    return;
  }
  ReplMessage m = To(to, ReplType::kTransfer);
  m.transfer_id = id;
  m.transfer_seq = seq;
  m.last = last;
  m.payload = std::move(*chunk);
  m.prev_position = mem.transfer_start.first - 1;
  m.prev_epoch = mem.transfer_start.epoch_before;
  m.commit_position = commit_;
  m.sent_at = now_;
  mem.transfer_sent = now_;
  mem.last_sent = now_;
  ready_.messages.push_back(std::move(m));
}

void ReplicaCore::OnTransferAck(const ReplMessage& m) {
  Member* answering = Answering(m);
  if (answering == nullptr) return;
  Member& mem = *answering;
  if (mem.transfer_id == 0 || m.transfer_id != mem.transfer_id ||
      m.transfer_seq != mem.transfer_seq || mem.transfer_reading) {
    return;  // of an older transfer, or a duplicate
  }
  if (!m.ok) {
    // Refused (it reads itself in-sync still, or lost a chunk): begin again later, from a probe.
    mem.transfer_id = 0;
    mem.probing = true;
    mem.next = first_;
    return;
  }
  if (!m.last) {
    ++mem.transfer_seq;
    mem.transfer_reading = true;
    ready_.transfer_reads.push_back({m.from, mem.transfer_id, mem.transfer_seq,
                                     mem.transfer_start});
    return;
  }
  // Installed (durably, before the ack): its log starts where ours did; ship from there.
  mem.transfer_id = 0;
  mem.match = mem.transfer_start.first - 1;
  mem.next = mem.transfer_start.first;
  mem.probing = false;
  mem.acked_sent_at = std::max(mem.acked_sent_at, m.sent_at);
  Ship(m.from, mem, /*force=*/true);
}

void ReplicaCore::AdvanceCommit(Lsn to) {
  TXC_CHECK(to > commit_ && to <= last_);
  commit_ = to;
  ready_.committed = to;
}

void ReplicaCore::PrimaryCommit() {
  if (!primary()) return;
  if (config_.isr.size() < options_.min_insync) return;  // acknowledge nothing
  Lsn c = durable_;
  // A member counts on the disk its entry names (disk 0: the bootstrap's, any).
  auto require = [&](ReplicaId id, DiskId disk) {
    if (id == options_.self) return;
    auto it = members_.find(id);
    const bool counts =
        it != members_.end() && (disk == 0 || it->second.disk == 0 || it->second.disk == disk);
    c = std::min(c, counts ? it->second.match : 0);
  };
  for (const auto& [id, disk] : config_.isr) require(id, disk);
  // A member being added counts from the moment it is proposed until the store's value is known
  // (KIP-497's maximal ISR): if the change took, what was committed meanwhile is held by it too.
  // A proposal given up after its timeout may still have taken: it counts until a read settles
  // it.
  for (const GroupConfig& p : unresolved_) {
    for (const auto& [id, disk] : p.isr) require(id, disk);
  }
  if (c > commit_) AdvanceCommit(c);
  if (!activated_ && commit_ >= activation_position_) {
    activated_ = true;
    ready_.role_changed = true;
  }
}

void ReplicaCore::CheckIsr(ReplicaId id, DiskId disk) {
  if (!primary() || pending_) return;
  const Member& mem = members_.at(id);
  GroupConfig next = Successor();
  if (config_.InIsr(id) && !config_.InIsrWith(id, disk)) {
    next.isr.erase(id);  // it lost its disk: it holds nothing it acknowledged
    return Propose(next);
  }
  if (!config_.InIsr(id) && config_.IsMember(id) && !mem.probing && mem.match >= commit_ &&
      now_ - mem.acked_sent_at < options_.lag_timeout_ticks) {
    next.isr[id] = disk;  // caught up: it holds every committed record
    return Propose(next);
  }
}

void ReplicaCore::CheckLag() {
  if (!primary() || pending_) return;
  for (const auto& [id, disk] : config_.isr) {
    if (id == options_.self) continue;
    // Silent since what it last acknowledged, or since we became primary.
    auto it = members_.find(id);
    const Ticks heard =
        std::max(primary_since_, it == members_.end() ? kNever : it->second.acked_sent_at);
    if (now_ - heard > options_.lag_timeout_ticks) {
      GroupConfig next = Successor();
      next.isr.erase(id);
      return Propose(next);
    }
  }
}

bool ReplicaCore::LeaseHeld() const {
  for (const auto& [id, disk] : config_.isr) {
    if (id == options_.self) continue;
    auto it = members_.find(id);
    if (it == members_.end() || now_ - it->second.acked_sent_at >= options_.lease_ticks) {
      return false;
    }
  }
  return true;
}

// ---- time ---------------------------------------------------------------------------------

void ReplicaCore::Tick(Ticks elapsed) {
  TXC_CHECK(elapsed >= 0);
  const bool was_serving = serving();
  now_ += elapsed;
  if (pending_ && now_ - pending_since_ > options_.proposal_timeout_ticks) pending_.reset();
  if (primary()) {
    ShipAll();
    CheckLag();
  } else if (role_ == Role::kBackup && config_.primary != options_.self &&
             config_.InIsrWith(options_.self, disk_) &&
             now_ - heard_at_ > options_.grace_ticks && !pending_) {
    // The primary is silent past its lease and our grace: propose ourselves.
    GroupConfig next = Successor();
    next.primary = options_.self;
    next.isr.erase(config_.primary);
    Propose(next);
    heard_at_ = now_;  // one proposal per grace period
  }
  if (serving() != was_serving) ready_.role_changed = true;
}

ReplicaReady ReplicaCore::TakeReady() {
  ReplicaReady out;
  std::swap(out, ready_);
  return out;
}

}  // namespace txcoord::replication
