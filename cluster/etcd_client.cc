#include "cluster/etcd_client.h"

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <nlohmann/json.hpp>

#include <array>
#include <charconv>
#include <optional>
#include <type_traits>

#include "common/check.h"

namespace txcoord::cluster {

namespace beast = boost::beast;
namespace http = boost::beast::http;
using boost::asio::ip::tcp;
using Json = nlohmann::json;
using Clock = std::chrono::steady_clock;

// ---- base64 ----------------------------------------------------------------------------------

namespace {
constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

int Sextet(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}
}  // namespace

std::string EncodeBase64(std::string_view bytes) {
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  for (size_t i = 0; i < bytes.size(); i += 3) {
    const size_t n = std::min<size_t>(3, bytes.size() - i);
    uint32_t v = 0;
    for (size_t j = 0; j < 3; ++j) {
      v = (v << 8) | (j < n ? static_cast<uint8_t>(bytes[i + j]) : 0u);
    }
    for (size_t j = 0; j < 4; ++j) {
      out.push_back(j <= n ? kAlphabet[(v >> (18 - 6 * j)) & 63] : '=');
    }
  }
  return out;
}

Result<std::string> DecodeBase64(std::string_view text) {
  if (text.size() % 4 != 0) return Status::Corruption("base64: length not a multiple of 4");
  std::string out;
  out.reserve(text.size() / 4 * 3);
  for (size_t i = 0; i < text.size(); i += 4) {
    const bool last = i + 4 == text.size();
    size_t pad = 0;
    uint32_t v = 0;
    for (size_t j = 0; j < 4; ++j) {
      const char c = text[i + j];
      if (c == '=') {
        // Padding only at the end of the last quantum, at most two, nothing after it.
        if (!last || j < 2) return Status::Corruption("base64: misplaced padding");
        ++pad;
        v <<= 6;
        continue;
      }
      if (pad != 0) return Status::Corruption("base64: data after padding");
      const int s = Sextet(c);
      if (s < 0) return Status::Corruption("base64: not a base64 character");
      v = (v << 6) | static_cast<uint32_t>(s);
    }
    // Bits the padding leaves over must be zero (one encoding per byte string).
    if ((pad == 1 && (v & 0xff) != 0) || (pad == 2 && (v & 0xffff) != 0)) {
      return Status::Corruption("base64: non-canonical padding bits");
    }
    out.push_back(static_cast<char>((v >> 16) & 0xff));
    if (pad < 2) out.push_back(static_cast<char>((v >> 8) & 0xff));
    if (pad < 1) out.push_back(static_cast<char>(v & 0xff));
  }
  return out;
}

std::string PrefixEnd(std::string_view prefix) {
  std::string end(prefix);
  while (!end.empty() && static_cast<uint8_t>(end.back()) == 0xff) end.pop_back();
  TXC_CHECK_MSG(!end.empty(), "PrefixEnd: an empty or all-0xff prefix has no end");
  end.back() = static_cast<char>(static_cast<uint8_t>(end.back()) + 1);
  return end;
}

// ---- the gateway's JSON ----------------------------------------------------------------------

namespace {

// A 64-bit integer the gateway sends as a string ("12"), or, leniently, as a JSON number of the
// right sign; absent is the default 0. Corruption for anything else (a sign on an unsigned one,
// trailing text, an overflow).
template <typename T>
Result<T> Number(const Json& object, const char* field) {
  const auto it = object.find(field);
  if (it == object.end()) return T{0};
  if (std::is_signed_v<T> ? it->is_number_integer() && !it->is_number_unsigned()
                          : it->is_number_unsigned()) {
    return it->get<T>();
  }
  if (!it->is_string()) return Status::Corruption(std::string("etcd: ") + field + ": not an integer");
  const std::string& text = it->get_ref<const std::string&>();
  T v = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || end != text.data() + text.size() || text.empty()) {
    return Status::Corruption(std::string("etcd: ") + field + ": not an integer: " + text);
  }
  return v;
}
Result<int64_t> Int(const Json& object, const char* field) { return Number<int64_t>(object, field); }
Result<uint64_t> Uint(const Json& object, const char* field) {
  return Number<uint64_t>(object, field);
}

Result<std::string> Bytes(const Json& object, const char* field) {
  const auto it = object.find(field);
  if (it == object.end()) return std::string();
  if (!it->is_string()) return Status::Corruption(std::string("etcd: ") + field + ": not base64");
  return DecodeBase64(it->get_ref<const std::string&>());
}

Result<Json> ParseJson(const std::string& text) {
  Json j = Json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) {
    return Status::Corruption("etcd: the answer is not a JSON object: " + text.substr(0, 200));
  }
  return j;
}

Result<int64_t> HeaderRevision(const Json& answer) {
  const auto header = answer.find("header");
  if (header == answer.end() || !header->is_object()) return int64_t{0};
  return Int(*header, "revision");
}

Result<std::vector<EtcdKv>> Kvs(const Json& range) {
  std::vector<EtcdKv> out;
  const auto kvs = range.find("kvs");
  if (kvs == range.end()) return out;
  if (!kvs->is_array()) return Status::Corruption("etcd: kvs: not an array");
  for (const Json& kv : *kvs) {
    if (!kv.is_object()) return Status::Corruption("etcd: kvs: not an object");
    EtcdKv e;
    Result<std::string> key = Bytes(kv, "key");
    if (!key.ok()) return key.status();
    Result<std::string> value = Bytes(kv, "value");
    if (!value.ok()) return value.status();
    e.key = std::move(key.value());
    e.value = std::move(value.value());
    for (auto [field, out_field] :
         std::array<std::pair<const char*, int64_t*>, 4>{{{"create_revision", &e.create_revision},
                                                          {"mod_revision", &e.mod_revision},
                                                          {"version", &e.version},
                                                          {"lease", &e.lease}}}) {
      Result<int64_t> v = Int(kv, field);
      if (!v.ok()) return v.status();
      *out_field = v.value();
    }
    out.push_back(std::move(e));
  }
  return out;
}

}  // namespace

Result<EtcdWatchMessage> ParseWatchMessage(std::string_view line) {
  Result<Json> parsed = ParseJson(std::string(line));
  if (!parsed.ok()) return parsed.status();
  const auto result = parsed.value().find("result");
  if (result == parsed.value().end() || !result->is_object()) {
    return Status::Corruption("etcd watch: " + std::string(line.substr(0, 200)));
  }
  EtcdWatchMessage m;
  Result<int64_t> revision = HeaderRevision(*result);
  if (!revision.ok()) return revision.status();
  m.revision = revision.value();
  for (auto [field, out] : std::array<std::pair<const char*, bool*>, 2>{
           {{"created", &m.created}, {"canceled", &m.canceled}}}) {
    const auto it = result->find(field);
    if (it == result->end()) continue;
    if (!it->is_boolean()) return Status::Corruption(std::string("etcd watch: ") + field);
    *out = it->get<bool>();
  }
  Result<int64_t> compact = Int(*result, "compact_revision");
  if (!compact.ok()) return compact.status();
  m.compact_revision = compact.value();
  if (auto reason = result->find("cancel_reason");
      reason != result->end() && reason->is_string()) {
    m.cancel_reason = reason->get<std::string>();
  }
  const auto events = result->find("events");
  if (events == result->end()) return m;
  if (!events->is_array()) return Status::Corruption("etcd watch: events: not an array");
  for (const Json& e : *events) {
    if (!e.is_object()) return Status::Corruption("etcd watch: event: not an object");
    if (auto type = e.find("type"); type != e.end() && *type != "PUT") continue;
    const auto kv = e.find("kv");
    if (kv == e.end()) return Status::Corruption("etcd watch: event without kv");
    Json holder = {{"kvs", Json::array({*kv})}};
    Result<std::vector<EtcdKv>> kvs = Kvs(holder);
    if (!kvs.ok()) return kvs.status();
    m.puts.push_back(std::move(kvs.value().front()));
  }
  return m;
}

// ---- the connection --------------------------------------------------------------------------

struct EtcdClient::Connection {
  boost::asio::io_context io;
  beast::tcp_stream stream{io};
  beast::flat_buffer buffer;
  std::optional<size_t> endpoint;  // the endpoint it is connected to, if it is

  void Close() {
    beast::error_code ignored;
    stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
    stream.close();
    buffer.clear();
    endpoint.reset();
  }
  // Runs the io_context until the operation started before it completes (the stream's expiry
  // cancels it at the deadline).
  void Run() {
    io.restart();
    io.run();
  }
};

EtcdClient::EtcdClient(EtcdClientOptions options)
    : options_(std::move(options)), connection_(std::make_unique<Connection>()) {
  TXC_CHECK_MSG(!options_.endpoints.empty(), "EtcdClient: no endpoint");
}

EtcdClient::~EtcdClient() = default;

std::string EtcdClient::current_endpoint() const {
  return options_.endpoints[current_].ToString();
}

Result<std::string> EtcdClient::Call(const std::string& path, const std::string& body, Kind kind) {
  const Clock::time_point deadline = Clock::now() + options_.timeout;
  Connection& c = *connection_;
  std::string failures;
  const size_t n = options_.endpoints.size();
  bool fresh_retry = false;  // this endpoint again, on a new connection (see below)
  for (size_t tried = 0; tried < n; ++tried) {
    const size_t index = (current_ + tried) % n;
    const Address& endpoint = options_.endpoints[index];
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) {
      failures += (failures.empty() ? "" : "; ") + std::string("no time left for ") +
                  endpoint.ToString();
      break;
    }
    const auto attempt = std::min(left, options_.attempt_timeout);
    const auto fail = [&](const std::string& why) {
      failures += (failures.empty() ? "" : "; ") + endpoint.ToString() + ": " + why;
      c.Close();
    };
    // A write goes on a fresh connection: then a connection that fails before the request is
    // written means it was never sent, and only a missing answer is ambiguous (a kept-alive
    // connection the member closed meanwhile would be indistinguishable from a member that
    // applied the write and died).
    if (kind == Kind::kWrite || c.endpoint != index) c.Close();
    const bool reused = c.endpoint.has_value();
    if (!c.endpoint) {
      beast::error_code ec;
      tcp::resolver resolver(c.io);
      const auto addresses = resolver.resolve(endpoint.host, std::to_string(endpoint.port), ec);
      if (ec) {
        fail("cannot resolve: " + ec.message());
        continue;
      }
      c.stream.expires_after(attempt);
      c.stream.async_connect(addresses, [&ec](beast::error_code e, const tcp::endpoint&) { ec = e; });
      c.Run();
      if (ec) {
        fail("cannot connect: " + ec.message());
        continue;  // never sent: any call may go to the next endpoint
      }
      c.stream.socket().set_option(tcp::no_delay(true), ec);
      c.endpoint = index;
    }
    http::request<http::string_body> request{http::verb::post, path, 11};
    request.set(http::field::host, endpoint.ToString());
    request.set(http::field::content_type, "application/json");
    request.keep_alive(true);
    request.body() = body;
    request.prepare_payload();
    beast::error_code ec;
    // A read that gets no answer in its attempt moves on; a write, which never moves on once
    // sent, waits the whole call for its answer (a commit behind a slow etcd fsync is not
    // made unknown for nothing).
    const auto answer_window =
        kind == Kind::kWrite
            ? std::max(std::chrono::milliseconds(1),
                       std::chrono::duration_cast<std::chrono::milliseconds>(deadline -
                                                                             Clock::now()))
            : attempt;
    c.stream.expires_after(answer_window);
    http::async_write(c.stream, request, [&ec](beast::error_code e, size_t) { ec = e; });
    c.Run();
    http::response<http::string_body> response;
    if (!ec) {
      http::async_read(c.stream, c.buffer, response, [&ec](beast::error_code e, size_t) { ec = e; });
      c.Run();
    }
    if (ec) {
      fail("no answer: " + ec.message());
      if (kind == Kind::kWrite) {
        return Status::Unavailable("etcd: outcome unknown: " + failures);
      }
      if (reused && !fresh_retry && ec != beast::error::timeout) {
        // A kept-alive connection the member had closed: the same member again, once, on a new
        // connection, before it counts as failed.
        fresh_retry = true;
        --tried;
      }
      continue;
    }
    if (!response.keep_alive()) c.Close();
    if (response.result() == http::status::ok) {
      current_ = index;
      return std::move(response.body());
    }
    // A refusal: {"error", "message", "code"} with the gRPC code.
    Result<Json> error = ParseJson(response.body());
    int64_t code = 0;
    std::string message = response.body().substr(0, 200);
    if (error.ok()) {
      if (Result<int64_t> v = Int(error.value(), "code"); v.ok()) code = v.value();
      if (auto m = error.value().find("message"); m != error.value().end() && m->is_string()) {
        message = m->get<std::string>();
      }
    }
    constexpr int64_t kNotFound = 5, kInvalidArgument = 3, kDeadlineExceeded = 4,
                      kUnavailable = 14;
    if (code == kUnavailable || code == kDeadlineExceeded || code == 0) {
      // The member cannot serve now (no leader, starting, cut off from its majority).
      fail(message);
      if (kind == Kind::kWrite) {
        return Status::Unavailable("etcd: outcome unknown: " + failures);
      }
      continue;
    }
    current_ = index;
    if (code == kNotFound) return Status::NotFound("etcd: " + message);
    if (code == kInvalidArgument) return Status::InvalidArgument("etcd: " + message);
    return Status::IoError("etcd: " + message + " (code " + std::to_string(code) + ")");
  }
  return Status::Unavailable("etcd unreachable: " + failures);
}

Result<EtcdRange> EtcdClient::Range(const std::string& key, const std::string& range_end) {
  Json request = {{"key", EncodeBase64(key)}};
  if (!range_end.empty()) request["range_end"] = EncodeBase64(range_end);
  Result<std::string> text = Call("/v3/kv/range", request.dump(), Kind::kRead);
  if (!text.ok()) return text.status();
  Result<Json> answer = ParseJson(text.value());
  if (!answer.ok()) return answer.status();
  EtcdRange out;
  Result<int64_t> revision = HeaderRevision(answer.value());
  if (!revision.ok()) return revision.status();
  out.revision = revision.value();
  Result<std::vector<EtcdKv>> kvs = Kvs(answer.value());
  if (!kvs.ok()) return kvs.status();
  out.kvs = std::move(kvs.value());
  return out;
}

Result<EtcdTxnResult> EtcdClient::Txn(const std::vector<EtcdCompare>& compares,
                                      const std::vector<EtcdPut>& puts,
                                      const std::vector<std::string>& failure_reads) {
  Json request = Json::object();
  Json& compare = request["compare"] = Json::array();
  for (const EtcdCompare& c : compares) {
    const bool mod = c.target == EtcdCompare::Target::kMod;
    compare.push_back({{"target", mod ? "MOD" : "CREATE"},
                       {"result", "EQUAL"},
                       {"key", EncodeBase64(c.key)},
                       {mod ? "mod_revision" : "create_revision", std::to_string(c.revision)}});
  }
  Json& success = request["success"] = Json::array();
  for (const EtcdPut& p : puts) {
    Json put = {{"key", EncodeBase64(p.key)}, {"value", EncodeBase64(p.value)}};
    if (p.lease != 0) put["lease"] = std::to_string(p.lease);
    success.push_back({{"request_put", put}});
  }
  Json& failure = request["failure"] = Json::array();
  for (const std::string& key : failure_reads) {
    failure.push_back({{"request_range", {{"key", EncodeBase64(key)}}}});
  }
  Result<std::string> text = Call("/v3/kv/txn", request.dump(), Kind::kWrite);
  if (!text.ok()) return text.status();
  Result<Json> answer = ParseJson(text.value());
  if (!answer.ok()) return answer.status();
  EtcdTxnResult out;
  const auto succeeded = answer.value().find("succeeded");
  if (succeeded != answer.value().end()) {
    if (!succeeded->is_boolean()) return Status::Corruption("etcd: succeeded: not a boolean");
    out.succeeded = succeeded->get<bool>();
  }
  Result<int64_t> revision = HeaderRevision(answer.value());
  if (!revision.ok()) return revision.status();
  out.revision = revision.value();
  if (!out.succeeded) {
    const auto responses = answer.value().find("responses");
    if (responses != answer.value().end()) {
      if (!responses->is_array()) return Status::Corruption("etcd: responses: not an array");
      for (const Json& r : *responses) {
        const auto range = r.find("response_range");
        if (range == r.end()) continue;
        Result<std::vector<EtcdKv>> kvs = Kvs(*range);
        if (!kvs.ok()) return kvs.status();
        for (EtcdKv& kv : kvs.value()) out.failure_kvs.push_back(std::move(kv));
      }
    }
  }
  return out;
}

Result<int64_t> EtcdClient::LeaseGrant(int64_t ttl_seconds) {
  const Json request = {{"TTL", std::to_string(ttl_seconds)}};
  Result<std::string> text = Call("/v3/lease/grant", request.dump(), Kind::kWrite);
  if (!text.ok()) return text.status();
  Result<Json> answer = ParseJson(text.value());
  if (!answer.ok()) return answer.status();
  if (auto e = answer.value().find("error");
      e != answer.value().end() && e->is_string() && !e->get<std::string>().empty()) {
    return Status::IoError("etcd: lease grant: " + e->get<std::string>());
  }
  Result<int64_t> id = Int(answer.value(), "ID");
  if (!id.ok()) return id.status();
  if (id.value() == 0) return Status::Corruption("etcd: lease grant: no lease id");
  return id.value();
}

Result<int64_t> EtcdClient::LeaseKeepAlive(int64_t lease) {
  const Json request = {{"ID", std::to_string(lease)}};
  // A keep-alive is a stream in gRPC; the gateway answers one request object with one
  // {"result": ...} object. Renewing twice is harmless, so it is retried like a read.
  Result<std::string> text = Call("/v3/lease/keepalive", request.dump(), Kind::kRead);
  if (!text.ok()) return text.status();
  Result<Json> answer = ParseJson(text.value());
  if (!answer.ok()) return answer.status();
  const auto result = answer.value().find("result");
  if (result == answer.value().end() || !result->is_object()) {
    return Status::Corruption("etcd: lease keepalive: no result: " + text.value().substr(0, 200));
  }
  return Int(*result, "TTL");  // absent (0): the lease is gone
}

Status EtcdClient::LeaseRevoke(int64_t lease) {
  const Json request = {{"ID", std::to_string(lease)}};
  Result<std::string> text = Call("/v3/lease/revoke", request.dump(), Kind::kWrite);
  return text.ok() ? Status::Ok() : text.status();
}

Result<EtcdMemberStatus> EtcdClient::MemberStatus(const Address& endpoint) {
  EtcdClientOptions one = options_;
  one.endpoints = {endpoint};
  EtcdClient client(one);
  Result<std::string> text = client.Call("/v3/maintenance/status", "{}", Kind::kRead);
  if (!text.ok()) return text.status();
  Result<Json> answer = ParseJson(text.value());
  if (!answer.ok()) return answer.status();
  EtcdMemberStatus out;
  const auto header = answer.value().find("header");
  if (header != answer.value().end() && header->is_object()) {
    Result<uint64_t> id = Uint(*header, "member_id");
    if (!id.ok()) return id.status();
    out.member_id = id.value();
  }
  Result<uint64_t> leader = Uint(answer.value(), "leader");
  if (!leader.ok()) return leader.status();
  out.leader = leader.value();
  Result<int64_t> term = Int(answer.value(), "raftTerm");
  if (!term.ok()) return term.status();
  out.raft_term = term.value();
  if (auto v = answer.value().find("version"); v != answer.value().end() && v->is_string()) {
    out.version = v->get<std::string>();
  }
  return out;
}

}  // namespace txcoord::cluster
