// The client port's decision on a request (see upgrade.h), in the order the checks were always made:
// the demo's paths, the request's shape, the endpoint, RFC 6455, the node's state, then access. The
// HTTP stream paths come first (they are neither the demo's nor upgrades) and have their own order:
// shape, the node's state, access, then the query.
#include "engine/conn/upgrade.h"

#include "engine/broadcast/publish.h"
#include "engine/codec/handshake.h"
#include "engine/conn/access.h"

namespace ringcast {
namespace {

UpgradeDecision refuse(UpgradeRefusal refusal, int status, std::string reason) {
  UpgradeDecision d;
  d.refusal = refusal;
  d.status = status;
  d.reason = std::move(reason);
  return d;
}

bool check_access(const http::Request& req, const UpgradePolicy& policy, int64_t now_s,
                  std::string& token_storage, UpgradeDecision& d);
UpgradeDecision decide_stream(const http::Request& req, const UpgradePolicy& policy, bool sse, bool stopping,
                              int64_t now_s, std::string& token_storage);

}  // namespace

UpgradeDecision decide_upgrade(const http::Request& req, const UpgradePolicy& policy, bool stopping,
                               int64_t now_s, std::string& token_storage) {
  const bool nano = !policy.nano_path.empty() && req.path == policy.nano_path;
  const bool go_push = req.path == policy.ws_path;
  const bool sse = !policy.sse_path.empty() && req.path == policy.sse_path;
  const bool ndjson = !policy.stream_path.empty() && req.path == policy.stream_path;
  if (sse || ndjson) return decide_stream(req, policy, sse, stopping, now_s, token_storage);
  if (!go_push && !nano && policy.demo) {
    UpgradeDecision d;
    d.route = UpgradeRoute::demo;
    return d;
  }
  // (Only with --demo may a client-port request have a body; otherwise the parser refused it already.)
  if (!req.body.empty()) return refuse(UpgradeRefusal::body, 413, "body too large");
  if (!go_push && !nano)
    return refuse(UpgradeRefusal::not_found, 404,
                  "not found: the WebSocket endpoint is " + std::string(policy.ws_path));
  const handshake::UpgradeCheck check = handshake::check_upgrade(req);
  if (!check.ok) return refuse(UpgradeRefusal::not_an_upgrade, check.http_status, std::string(check.reason));
  if (stopping) return refuse(UpgradeRefusal::stopping, 503, "server is shutting down");
  UpgradeDecision d;
  if (!check_access(req, policy, now_s, token_storage, d)) return d;
  d.route = nano ? UpgradeRoute::nano : UpgradeRoute::go_push;
  d.key = check.key;
  if (policy.compression) d.deflate = deflate::negotiate(req);
  return d;
}

namespace {

// Access (docs/security.md), the same for every transport: the browser Origin, then the connect
// token. False with `d` the refusal.
bool check_access(const http::Request& req, const UpgradePolicy& policy, int64_t now_s,
                  std::string& token_storage, UpgradeDecision& d) {
  // Only browsers send Origin, and a page cannot forge it; other clients are not asked for one.
  if (policy.allowed_origins && !policy.allowed_origins->empty()) {
    const std::string_view origin = req.header("origin");
    if (!origin.empty() && !origin_allowed(origin, *policy.allowed_origins)) {
      d = refuse(UpgradeRefusal::origin, 403, "origin not allowed (allowed_origins)");
      return false;
    }
  }
  if (!policy.token_secret.empty()) {
    bool malformed = false;
    const std::string_view token = connect_token(req, token_storage, malformed);
    TokenError error = TokenError::malformed;
    if (!token.empty()) error = verify_token(token, policy.token_secret, now_s, d.grant);
    if (error != TokenError::none) {
      d = refuse(UpgradeRefusal::token, 401,
                 std::string(token.empty() ? std::string_view("connect token required: ?token= or "
                                                              "Authorization: Bearer")
                                           : token_error_text(error)));
      return false;
    }
    // The token's user ("uid", else "sub") binds the connection (per-user push); one that could not
    // be a user id is refused like a bad token, rather than silently not bound.
    if (!d.grant.user.empty() &&
        !room_name_valid(d.grant.user, policy.user_id_bytes_max, RoomCharset::utf8)) {
      d = refuse(UpgradeRefusal::token_user, 401,
                 "connect token's uid/sub is not a valid user id (user_id_bytes_max, no control characters)");
      return false;
    }
  }
  return true;
}

// A subscription on an HTTP stream path: GET over HTTP/1.1 (chunked), access as for an upgrade, then
// the query: rooms (valid names, at most rooms_per_conn_max, granted by the token) and the position
// to resume from.
UpgradeDecision decide_stream(const http::Request& req, const UpgradePolicy& policy, bool sse, bool stopping,
                              int64_t now_s, std::string& token_storage) {
  if (!req.body.empty()) return refuse(UpgradeRefusal::body, 413, "body too large");
  const bool preflight = req.method == http::Method::options;
  if (!preflight && req.method != http::Method::get)
    return refuse(UpgradeRefusal::bad_stream, 405, "method not allowed: subscribe with GET");
  if (req.version_minor < 1)
    return refuse(UpgradeRefusal::bad_stream, 505, "HTTP/1.1 only: the stream is sent in chunks");
  if (stopping) return refuse(UpgradeRefusal::stopping, 503, "server is shutting down");
  const std::string_view origin = req.header("origin");
  UpgradeDecision d;
  if (preflight) {
    // A preflight carries no credentials: only the Origin is checked.
    if (policy.allowed_origins && !policy.allowed_origins->empty() && !origin.empty() &&
        !origin_allowed(origin, *policy.allowed_origins))
      return refuse(UpgradeRefusal::origin, 403, "origin not allowed (allowed_origins)");
    d.route = UpgradeRoute::preflight;
    d.allow_origin = origin;
    return d;
  }
  if (!check_access(req, policy, now_s, token_storage, d)) return d;
  const std::string_view problem =
      stream::parse_query(req.query, req.header("last-event-id"), policy.rooms_per_conn_max, d.stream);
  if (!problem.empty()) return refuse(UpgradeRefusal::bad_stream, 400, std::string(problem));
  if (d.stream.rooms.empty() && d.grant.user.empty())
    return refuse(UpgradeRefusal::bad_stream, 400, "no room: subscribe with ?room=r (repeat for more rooms)");
  for (const std::string& room : d.stream.rooms) {
    if (!room_name_valid(room, policy.room_name_bytes_max, policy.room_charset))
      return refuse(UpgradeRefusal::bad_stream, 400, std::string(room_name_rule_text(policy.room_charset)));
    if (!policy.token_secret.empty() && !d.grant.allows(room))
      return refuse(UpgradeRefusal::forbidden_room, 403, "the connect token does not grant this room");
  }
  d.route = sse ? UpgradeRoute::sse : UpgradeRoute::ndjson;
  d.allow_origin = origin;
  return d;
}

}  // namespace

}  // namespace ringcast
