// Client-port connections before their upgrade (see http_conn.h).
#include "engine/conn/http_conn.h"

#include "engine/base/clock.h"
#include "engine/codec/handshake.h"
#include "engine/codec/http.h"
#include "engine/limits.h"

namespace ringcast {

HttpConns::HttpConns(const HttpConnSetup& setup)
    : config_(*setup.config),
      stats_(*setup.stats),
      conns_(*setup.conns),
      sender_(*setup.sender),
      membership_(*setup.membership),
      streams_(*setup.streams) {
  policy_.ws_path = config_.ws_path;
  if (path_enabled(config_.sse_path)) policy_.sse_path = config_.sse_path;
  if (path_enabled(config_.stream_path)) policy_.stream_path = config_.stream_path;
  policy_.rooms_per_conn_max = config_.rooms_per_conn_max;
  policy_.room_name_bytes_max = config_.room_name_bytes_max;
  policy_.room_charset = setup.settings->publish.room_charset;
  if (setup.settings->nano) policy_.nano_path = config_.nano_path;
  policy_.demo = config_.demo;
  policy_.allowed_origins = &setup.settings->allowed_origins;
  policy_.token_secret = config_.token_secret;
  policy_.user_id_bytes_max = config_.user_id_bytes_max;
  policy_.compression = config_.compression;
  demo_.ring = setup.ring;
  demo_.publisher = setup.publisher;
  demo_.stats = setup.stats;
  demo_.all_stats = setup.all_stats;
  demo_.shard_count = setup.shard_count;
  demo_.config = setup.config;
  demo_.api_port = setup.api_port;
  demo_.parser = &demo_parser_;
}

void HttpConns::refuse(Conn& c, uint32_t id, int status, std::string_view reason) {
  conns_.answer_and_close(c, id, handshake::build_error_response(status, reason));
}

Upgraded HttpConns::on_bytes(Conn& c, uint32_t id, uint8_t* data, size_t len) {
  std::string_view buf(reinterpret_cast<const char*>(data), len);
  if (c.inbuf) {
    c.inbuf->append(buf);
    buf = *c.inbuf;
  }
  http::Request req;
  http::Limits limits;
  limits.head_bytes_max = config_.handshake_bytes_max;
  // Only the demo's POST /demo/publish has a body; without --demo any body is refused (413).
  limits.body_bytes_max = config_.demo ? demo_body_bytes_max(config_) : 0;
  const http::ParseResult res = http::parse_request(buf, limits, req, scratch_);
  if (res.status == http::ParseStatus::incomplete) {
    if (!c.inbuf) c.inbuf = new std::string(buf);
    return {};
  }
  if (res.status == http::ParseStatus::error) {
    stats_.add(Counter::handshakes_failed);
    refuse(c, id, res.http_status, res.reason);
    return {};
  }
  UpgradeDecision decision = decide_upgrade(req, policy_, conns_.stopping(), clock::wall_s(), token_storage_);
  switch (decision.route) {
    case UpgradeRoute::demo:
      return serve_demo(c, id, req, buf.substr(res.consumed));
    case UpgradeRoute::go_push:
    case UpgradeRoute::nano:
      return upgrade(c, id, decision, res.consumed, data, len);
    case UpgradeRoute::sse:
    case UpgradeRoute::ndjson:
      subscribe(c, id, decision);
      return {};
    case UpgradeRoute::preflight:
      conns_.answer_and_close(c, id, stream::preflight_response(decision.allow_origin));
      return {};
    case UpgradeRoute::refused:
      break;
  }
  switch (decision.refusal) {
    case UpgradeRefusal::stopping:
      break;  // not a failed handshake
    case UpgradeRefusal::origin:
      stats_.add(Counter::handshakes_failed);
      stats_.add(Counter::origin_refused);
      break;
    case UpgradeRefusal::token:
    case UpgradeRefusal::token_user:
      stats_.add(Counter::handshakes_failed);
      stats_.add(Counter::token_refused);
      break;
    case UpgradeRefusal::forbidden_room:
      stats_.add(Counter::handshakes_failed);
      stats_.add(Counter::joins_refused);
      stats_.add(Counter::joins_forbidden);
      break;
    case UpgradeRefusal::none:
    case UpgradeRefusal::bad_stream:
    case UpgradeRefusal::body:
    case UpgradeRefusal::not_found:
    case UpgradeRefusal::not_an_upgrade:
      stats_.add(Counter::handshakes_failed);
      break;
  }
  refuse(c, id, decision.status, decision.reason);
  return {};
}

Upgraded HttpConns::upgrade(Conn& c, uint32_t id, UpgradeDecision& decision, size_t consumed, uint8_t* data,
                            size_t len) {
  if (!policy_.token_secret.empty()) {
    // The token's room grant is kept by index in the connection's record (released with it).
    const uint32_t grant = membership_.acquire_grant(decision.grant);
    if (grant == GrantTable::kFull) {
      stats_.add(Counter::handshakes_failed);
      stats_.add(Counter::conns_refused);
      refuse(c, id, 503, "server full: too many distinct room grants");
      return {};
    }
    c.grant = grant;
  }
  if (!sender_.write_now(
          c, id,
          handshake::build_switching_protocols(decision.key, deflate::response_header(decision.deflate)))) {
    conns_.terminate(c, id);
    return {};
  }
  if (decision.deflate.on) {
    // The parser accepts RSV1 from now on; the protocol picks the deflate encoding for pushes.
    c.parser.allow_compressed();
    stats_.add(Counter::deflate_negotiated);
  }
  c.phase = Phase::open;
  c.protocol = decision.route == UpgradeRoute::nano ? Protocol::nano : Protocol::go_push;
  membership_.open(c, id, decision.grant.user);
  // Frames the client sent right behind its request are not lost: the new protocol reads them.
  Upgraded up;
  up.upgraded = true;
  up.held = c.inbuf;
  c.inbuf = nullptr;
  if (up.held) {
    if (consumed < up.held->size())
      up.rest = {reinterpret_cast<uint8_t*>(up.held->data()) + consumed, up.held->size() - consumed};
  } else if (consumed < len) {
    up.rest = {data + consumed, len - consumed};
  }
  return up;
}

// A subscription to an HTTP stream: the connection keeps the token's room grant (as an upgraded one
// does) and becomes the stream's. Bytes the client sent behind its request are dropped: it has
// nothing to say on a one-way stream.
void HttpConns::subscribe(Conn& c, uint32_t id, const UpgradeDecision& decision) {
  if (!policy_.token_secret.empty()) {
    const uint32_t grant = membership_.acquire_grant(decision.grant);
    if (grant == GrantTable::kFull) {
      stats_.add(Counter::handshakes_failed);
      stats_.add(Counter::conns_refused);
      refuse(c, id, 503, "server full: too many distinct room grants");
      return;
    }
    c.grant = grant;
  }
  // (The decision's views point into the request, which may be in inbuf: it goes after the open.)
  std::string* held = c.inbuf;
  c.inbuf = nullptr;
  streams_.open(c, id, decision);
  delete held;
}

// --demo: a plain HTTP request on the client port (the page, its files, /demo/*). The connection stays
// on the client port's HTTP side, kept alive for the browser's next request, which may still be the
// upgrade.
Upgraded HttpConns::serve_demo(Conn& c, uint32_t id, const http::Request& req, std::string_view rest) {
  demo_.stopping = conns_.stopping();
  std::string out;
  bool keep = handle_demo_request(req, demo_, demo_buckets_[id], conns_.now_ns(), out);
  if (c.out.bytes > limits::kDemoOutBytesMax) keep = false;
  if (!keep) {
    conns_.answer_and_close(c, id, out);
    return {};
  }
  // What follows this request in the buffer (a pipelined request) is kept; `rest` may point into inbuf.
  std::string* next = rest.empty() ? nullptr : new std::string(rest);
  delete c.inbuf;
  c.inbuf = next;
  sender_.queue_copy(c, id, out);
  c.protocol = Protocol::demo;
  conns_.arm_ms(id, config_.handshake_timeout_ms);
  if (c.inbuf) return on_bytes(c, id, nullptr, 0);
  return {};
}

void HttpConns::on_timer(Conn& c, uint32_t id) {
  if (c.protocol == Protocol::demo && (!c.inbuf || c.inbuf->empty())) {
    // --demo: an idle kept-alive HTTP connection, not a slow upgrade: closed without a word.
    conns_.end(c, id);
    return;
  }
  if (conns_.unread_input(c, id)) {
    // The request (or more of it) has arrived and waits for us: in a connect storm the shard falls
    // behind (every provided buffer taken, turns far apart), and its own backlog must not turn into
    // 408s. The deadline moves on; a client that really trickles its request has nothing unread.
    stats_.add(Counter::handshake_deadlines_deferred);
    conns_.arm_ms(id, config_.handshake_timeout_ms);
    return;
  }
  stats_.add(Counter::handshake_timeouts);
  refuse(c, id, 408, "upgrade request not complete in time");
}

}  // namespace ringcast
