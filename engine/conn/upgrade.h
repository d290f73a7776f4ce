// The client port's decision on one parsed HTTP request, pure: a WebSocket upgrade to go-push
// (ws_path) or Nano/Pomelo (nano_path), a one-way HTTP stream (SSE on sse_path, NDJSON on
// stream_path, with its rooms and resume position read from the query), a CORS preflight of a stream,
// a plain request for the demo, or a refusal with its status.
// The access checks of the upgrade are part of it: the browser Origin against allowed_origins and the
// connect token (its room grant and user come back with the decision). The connection handler
// (http_conn.h) does the bytes and the state.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "engine/broadcast/publish.h"
#include "engine/codec/deflate.h"
#include "engine/codec/http.h"
#include "engine/codec/stream.h"
#include "engine/codec/token.h"

namespace ringcast {

struct UpgradePolicy {
  std::string_view ws_path;
  std::string_view nano_path;                                 // empty: Nano/Pomelo is off
  bool demo = false;                                          // other paths are the demo's
  const std::vector<std::string>* allowed_origins = nullptr;  // empty: any
  std::string_view token_secret;                              // empty: no connect token needed
  size_t user_id_bytes_max = 128;
  bool compression = true;  // permessage-deflate offers are considered
  // The HTTP streams (empty: off) and what their query may ask for.
  std::string_view sse_path;
  std::string_view stream_path;
  uint32_t rooms_per_conn_max = 5;
  size_t room_name_bytes_max = 128;
  RoomCharset room_charset = RoomCharset::utf8;
};

// sse and ndjson: a subscription to answer 200 and stream; preflight: a CORS OPTIONS for a stream path,
// answered 204 and closed.
enum class UpgradeRoute : uint8_t { go_push, nano, sse, ndjson, preflight, demo, refused };

// Why an upgrade was refused; each is counted as the handler says (handshakes_failed, and
// origin_refused or token_refused where they apply).
enum class UpgradeRefusal : uint8_t {
  none,
  body,            // an upgrade request with a body (413)
  not_found,       // neither endpoint (404)
  not_an_upgrade,  // RFC 6455 4.2.1 not met (405, 426, 400)
  bad_stream,      // a stream request that is not a valid subscription (400, 405, 505)
  forbidden_room,  // a stream asks for a room its connect token does not grant (403)
  stopping,        // the node is shutting down (503; not counted as a failed handshake)
  origin,          // Origin not allowed (403)
  token,           // connect token missing, malformed, expired, or not ours (401)
  token_user,      // the token's uid/sub cannot be a user id (401)
};

struct UpgradeDecision {
  UpgradeRoute route = UpgradeRoute::refused;
  UpgradeRefusal refusal = UpgradeRefusal::none;
  int status = 0;        // a refusal's HTTP status
  std::string reason;    // a refusal's text (the JSON error body)
  std::string_view key;  // Sec-WebSocket-Key of an upgrade
  TokenGrant grant;      // the connect token's rooms (empty: any room) and user (empty: none)
  deflate::Agreement deflate;  // permessage-deflate, as agreed from the offers
  stream::Query stream;        // an HTTP stream's rooms and resume position
  std::string_view allow_origin;  // a stream's CORS answer: the request's Origin, when it is allowed
};

// `token_storage` holds a percent-decoded token query parameter (the grant is copied out of it).
// `now_s` is the wall clock the token's exp and nbf are checked against.
UpgradeDecision decide_upgrade(const http::Request& req, const UpgradePolicy& policy, bool stopping,
                               int64_t now_s, std::string& token_storage);

}  // namespace ringcast
