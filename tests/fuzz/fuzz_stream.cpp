// libFuzzer target: the HTTP streams' untrusted input and output — a subscription request decided by
// the client port (http::parse_request, then decide_upgrade with the SSE and NDJSON paths on and a
// token secret set: the query's rooms, since, epoch and Last-Event-ID), and any bytes taken as a PUSH
// message and encoded as an SSE event and an NDJSON line. Invariants: an accepted subscription has
// 1..rooms_max valid rooms (or a token user, which made-up input never has), every refusal is a 4xx/5xx
// with a well-formed answer, and an encoded event is one whole chunk whose body has no line break
// inside its data.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "engine/base/check.h"
#include "engine/broadcast/publish.h"
#include "engine/codec/handshake.h"
#include "engine/codec/http.h"
#include "engine/codec/stream.h"
#include "engine/conn/upgrade.h"

namespace {

// The body of one whole chunk, checking its framing.
std::string_view chunk_body(std::string_view chunk) {
  const size_t eol = chunk.find("\r\n");
  RC_ASSERT(eol != std::string_view::npos && eol > 0);
  size_t size = 0;
  for (size_t i = 0; i < eol; ++i) {
    const char c = chunk[i];
    RC_ASSERT((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'));
    size = size * 16 + static_cast<size_t>(c <= '9' ? c - '0' : c - 'a' + 10);
  }
  RC_ASSERT(chunk.size() == eol + 2 + size + 2 && chunk.substr(eol + 2 + size) == "\r\n");
  return chunk.substr(eol + 2, size);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);

  // As a PUSH message: both encodings, or neither.
  std::string sse, ndjson;
  const bool a = ringcast::stream::append_push_chunk(sse, ringcast::stream::Kind::sse, input);
  const bool b = ringcast::stream::append_push_chunk(ndjson, ringcast::stream::Kind::ndjson, input);
  RC_ASSERT(a == b);
  if (a) {
    const std::string_view body = chunk_body(sse);
    RC_ASSERT(body.size() >= 2 && body.substr(body.size() - 2) == "\n\n");
    const std::string_view fields = body.substr(0, body.size() - 2);
    const size_t data_at = fields.find("data: ");
    RC_ASSERT(data_at != std::string_view::npos);
    RC_ASSERT(fields.substr(data_at).find('\n') == std::string_view::npos);  // one data line, whole
    RC_ASSERT(fields.find('\r') == std::string_view::npos);
    const std::string_view line = chunk_body(ndjson);
    RC_ASSERT(line.find('\n') == line.size() - 1);
  }

  // As a request on the client port.
  ringcast::http::Request req;
  ringcast::http::Limits limits;
  limits.head_bytes_max = 8192;
  limits.body_bytes_max = 0;
  std::string scratch;
  const auto res = ringcast::http::parse_request(input, limits, req, scratch);
  if (res.status != ringcast::http::ParseStatus::complete) return 0;
  static const std::vector<std::string> origins = {"https://example.com"};
  ringcast::UpgradePolicy policy;
  policy.ws_path = "/connect";
  policy.sse_path = "/sse";
  policy.stream_path = "/stream";
  policy.allowed_origins = &origins;
  policy.rooms_per_conn_max = 3;
  policy.room_name_bytes_max = 16;
  // Half the inputs with a token secret (every made-up token fails), half without.
  if (size % 2) policy.token_secret = "fuzz-secret-0123456789abcdef0123456789";
  std::string storage;
  const ringcast::UpgradeDecision d = ringcast::decide_upgrade(req, policy, false, 1700000000, storage);
  switch (d.route) {
    case ringcast::UpgradeRoute::sse:
    case ringcast::UpgradeRoute::ndjson:
      RC_ASSERT(policy.token_secret.empty());
      RC_ASSERT(!d.stream.rooms.empty() && d.stream.rooms.size() <= policy.rooms_per_conn_max);
      for (const std::string& room : d.stream.rooms)
        RC_ASSERT(ringcast::room_name_valid(room, policy.room_name_bytes_max));
      (void)ringcast::stream::response_head(ringcast::stream::Kind::sse, d.allow_origin);
      break;
    case ringcast::UpgradeRoute::preflight:
      RC_ASSERT(ringcast::stream::preflight_response(d.allow_origin).rfind("HTTP/1.1 204 ", 0) == 0);
      break;
    case ringcast::UpgradeRoute::refused: {
      RC_ASSERT(d.status >= 400 && d.status < 600);
      const std::string answer = ringcast::handshake::build_error_response(d.status, d.reason);
      RC_ASSERT(answer.rfind("HTTP/1.1 ", 0) == 0 && answer.find("\r\n\r\n") != std::string::npos);
      break;
    }
    case ringcast::UpgradeRoute::go_push:
    case ringcast::UpgradeRoute::nano:
    case ringcast::UpgradeRoute::demo:
      break;
  }
  return 0;
}
