#include "idl/replication_wire.h"

#include <charconv>

#include "wal/record_codec.h"

namespace txcoord::wire {
namespace {

int64_t Signed(uint64_t v) { return static_cast<int64_t>(v); }

Status Unsigned(int64_t v, const char* field, uint64_t* out) {
  if (v < 0)
    return Status::InvalidArgument(std::string(field) + ": negative (" + std::to_string(v) + ")");
  *out = static_cast<uint64_t>(v);
  return Status::Ok();
}

bool ValidGroup(const std::string& g) {
  if (g == "coordinator") return true;
  if (g.size() <= 5 || g.compare(0, 5, "shard") != 0) return false;
  int n = -1;
  const char* end = g.data() + g.size();
  auto [ptr, ec] = std::from_chars(g.data() + 5, end, n);
  return ec == std::errc() && ptr == end && n >= 0 && std::to_string(n) == g.substr(5);
}

}  // namespace

thrift::ReplicationMessage ToWire(const std::string& group, const replication::ReplMessage& m) {
  thrift::ReplicationMessage w;
  w.__set_type(static_cast<int32_t>(m.type));
  w.__set_group(group);
  w.__set_from_replica(m.from);
  w.__set_to_replica(m.to);
  w.__set_epoch(Signed(m.epoch));
  switch (m.type) {
    case replication::ReplType::kAppend: {
      w.__set_prev_position(Signed(m.prev_position));
      w.__set_prev_epoch(Signed(m.prev_epoch));
      w.__set_commit_position(Signed(m.commit_position));
      w.__set_sent_at(m.sent_at);
      w.__set_log_start(Signed(m.log_start));
      std::vector<thrift::LogRecord> records;
      records.reserve(m.records.size());
      for (const Record& r : m.records) {
        thrift::LogRecord lr;
        lr.__set_position(Signed(r.lsn));
        lr.__set_payload(wal::EncodeRecord(r));
        if (r.lazy) lr.__set_lazy(true);
        records.push_back(std::move(lr));
      }
      w.__set_records(std::move(records));
      break;
    }
    case replication::ReplType::kAppendAck:
      w.__set_ok(m.ok);
      w.__set_disk(Signed(m.disk));
      w.__set_sent_at(m.sent_at);
      w.__set_match_position(Signed(m.match_position));
      w.__set_last_position(Signed(m.last_position));
      w.__set_last_epoch(Signed(m.last_epoch));
      break;
    case replication::ReplType::kStale:
      break;
    case replication::ReplType::kTransfer:
      w.__set_prev_position(Signed(m.prev_position));
      w.__set_prev_epoch(Signed(m.prev_epoch));
      w.__set_commit_position(Signed(m.commit_position));
      w.__set_sent_at(m.sent_at);
      w.__set_transfer_id(Signed(m.transfer_id));
      w.__set_transfer_seq(Signed(m.transfer_seq));
      w.__set_last(m.last);
      w.__set_payload(m.payload);
      break;
    case replication::ReplType::kTransferAck:
      w.__set_ok(m.ok);
      w.__set_disk(Signed(m.disk));
      w.__set_sent_at(m.sent_at);
      w.__set_transfer_id(Signed(m.transfer_id));
      w.__set_transfer_seq(Signed(m.transfer_seq));
      w.__set_last(m.last);
      break;
  }
  return w;
}

Result<GroupMessage> FromWire(const thrift::ReplicationMessage& w) {
  GroupMessage out;
  replication::ReplMessage& m = out.message;
  if (w.type < 1 || w.type > 5) {
    return Status::InvalidArgument("type: " + std::to_string(w.type) + " is not 1 to 5");
  }
  m.type = static_cast<replication::ReplType>(w.type);
  if (!ValidGroup(w.group)) {
    return Status::InvalidArgument("group: '" + w.group + "' is not coordinator or shard<N>");
  }
  out.group = w.group;
  if (w.from_replica < 0 || w.to_replica < 0) {
    return Status::InvalidArgument("from_replica/to_replica: negative");
  }
  m.from = w.from_replica;
  m.to = w.to_replica;
  Status s = Unsigned(w.epoch, "epoch", &m.epoch);
  if (s.ok()) s = Unsigned(w.prev_position, "prev_position", &m.prev_position);
  if (s.ok()) s = Unsigned(w.prev_epoch, "prev_epoch", &m.prev_epoch);
  if (s.ok()) s = Unsigned(w.commit_position, "commit_position", &m.commit_position);
  if (s.ok()) s = Unsigned(w.disk, "disk", &m.disk);
  if (s.ok()) s = Unsigned(w.match_position, "match_position", &m.match_position);
  if (s.ok()) s = Unsigned(w.last_position, "last_position", &m.last_position);
  if (s.ok()) s = Unsigned(w.last_epoch, "last_epoch", &m.last_epoch);
  if (s.ok()) s = Unsigned(w.log_start, "log_start", &m.log_start);
  if (s.ok()) s = Unsigned(w.transfer_id, "transfer_id", &m.transfer_id);
  if (s.ok()) s = Unsigned(w.transfer_seq, "transfer_seq", &m.transfer_seq);
  if (!s.ok()) return s;
  m.sent_at = w.sent_at;
  m.ok = w.ok;
  m.last = w.last;
  m.payload = w.payload;
  if (m.type == replication::ReplType::kTransfer && m.transfer_id == 0) {
    return Status::InvalidArgument("transfer_id: 0 names no transfer");
  }
  Lsn next = m.prev_position + 1;
  for (size_t i = 0; i < w.records.size(); ++i) {
    const std::string field = "records[" + std::to_string(i) + "]";
    const thrift::LogRecord& lr = w.records[i];
    if (lr.position < 0 || static_cast<Lsn>(lr.position) != next) {
      return Status::InvalidArgument(field + ".position: " + std::to_string(lr.position) +
                                     ", expected " + std::to_string(next));
    }
    Result<Record> r = wal::DecodeRecord(lr.payload);
    if (!r.ok()) return Status::InvalidArgument(field + ".payload: " + r.status().message());
    if (r.value().log_epoch == 0) {
      return Status::InvalidArgument(field + ".payload: no log epoch");
    }
    r.value().lsn = next++;
    r.value().lazy = lr.__isset.lazy && lr.lazy;
    m.records.push_back(std::move(r.value()));
  }
  return out;
}

}  // namespace txcoord::wire
