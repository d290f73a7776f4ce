// The client port's decision on a request (see upgrade.h), in the order the checks were always made:
// the demo's paths, the request's shape, the endpoint, RFC 6455, the node's state, then access.
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

}  // namespace

UpgradeDecision decide_upgrade(const http::Request& req, const UpgradePolicy& policy, bool stopping,
                               int64_t now_s, std::string& token_storage) {
  const bool nano = !policy.nano_path.empty() && req.path == policy.nano_path;
  const bool go_push = req.path == policy.ws_path;
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
  // Access (docs/security.md). Only browsers send Origin, and a page cannot forge it; other clients
  // are not asked for one.
  if (policy.allowed_origins && !policy.allowed_origins->empty()) {
    const std::string_view origin = req.header("origin");
    if (!origin.empty() && !origin_allowed(origin, *policy.allowed_origins))
      return refuse(UpgradeRefusal::origin, 403, "origin not allowed (allowed_origins)");
  }
  UpgradeDecision d;
  if (!policy.token_secret.empty()) {
    bool malformed = false;
    const std::string_view token = connect_token(req, token_storage, malformed);
    TokenError error = TokenError::malformed;
    if (!token.empty()) error = verify_token(token, policy.token_secret, now_s, d.grant);
    if (error != TokenError::none)
      return refuse(UpgradeRefusal::token, 401,
                    std::string(token.empty() ? std::string_view("connect token required: ?token= or "
                                                                 "Authorization: Bearer")
                                              : token_error_text(error)));
    // The token's user ("uid", else "sub") binds the connection (per-user push); one that could not
    // be a user id is refused like a bad token, rather than silently not bound.
    if (!d.grant.user.empty() && !room_name_valid(d.grant.user, policy.user_id_bytes_max, RoomCharset::utf8))
      return refuse(
          UpgradeRefusal::token_user, 401,
          "connect token's uid/sub is not a valid user id (user_id_bytes_max, no control characters)");
  }
  d.route = nano ? UpgradeRoute::nano : UpgradeRoute::go_push;
  d.key = check.key;
  if (policy.compression) d.deflate = deflate::negotiate(req);
  return d;
}

}  // namespace ringcast
