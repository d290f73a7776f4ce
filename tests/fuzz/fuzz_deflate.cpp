// libFuzzer target: permessage-deflate. The first input byte picks what the rest is: (0) the values of
// Sec-WebSocket-Extensions headers, one per line, through the offer negotiation; (1) a compressed
// message payload through the inflater, with a small limit; (2) a message through the deflater and
// back. Invariants: negotiation answers one of its two headers or none; inflating never passes the
// limit (a bomb stops there) and what inflates compresses and inflates back to itself; a round trip
// is the identity.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "engine/base/check.h"
#include "engine/codec/deflate.h"
#include "engine/codec/http.h"

namespace {

constexpr size_t kLimit = 4096;

void negotiate(std::string_view headers) {
  std::string text = "GET /connect HTTP/1.1\r\nHost: x\r\n";
  size_t at = 0;
  while (at <= headers.size()) {
    const size_t end = std::min(headers.find('\n', at), headers.size());
    text += "Sec-WebSocket-Extensions: ";
    text.append(headers.substr(at, end - at));
    text += "\r\n";
    at = end + 1;
  }
  text += "\r\n";
  ringcast::http::Request req;
  ringcast::http::Limits limits;
  limits.body_bytes_max = 0;
  std::string scratch;
  if (ringcast::http::parse_request(text, limits, req, scratch).status !=
      ringcast::http::ParseStatus::complete)
    return;
  const ringcast::deflate::Agreement a = ringcast::deflate::negotiate(req);
  const std::string_view answer = ringcast::deflate::response_header(a);
  RC_ASSERT(a.on == !answer.empty());
  RC_ASSERT(!a.echo_server_window_bits || a.on);
  if (a.on)
    RC_ASSERT(answer.find("server_no_context_takeover; client_no_context_takeover") !=
              std::string_view::npos);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static ringcast::deflate::Inflater inflater;
  static ringcast::deflate::Inflater check;
  static ringcast::deflate::Deflater deflater(6);
  if (size < 1) return 0;
  const uint8_t* in = data + 1;
  const size_t len = size - 1;
  std::string compressed;
  switch (data[0] % 3) {
    case 0:
      negotiate({reinterpret_cast<const char*>(in), len});
      break;
    case 1: {
      const auto r = inflater.inflate(in, len, kLimit);
      RC_ASSERT(inflater.output_size() <= kLimit + 1);
      if (r != ringcast::deflate::InflateResult::ok) break;
      RC_ASSERT(inflater.output_size() <= kLimit);
      const std::string_view plain(reinterpret_cast<const char*>(inflater.output()), inflater.output_size());
      RC_ASSERT(deflater.compress(plain, compressed));
      RC_ASSERT(check.inflate(reinterpret_cast<const uint8_t*>(compressed.data()), compressed.size(),
                              kLimit) == ringcast::deflate::InflateResult::ok);
      RC_ASSERT(std::string_view(reinterpret_cast<const char*>(check.output()), check.output_size()) ==
                plain);
      break;
    }
    default: {
      const std::string_view plain(reinterpret_cast<const char*>(in), len);
      RC_ASSERT(deflater.compress(plain, compressed));
      RC_ASSERT(check.inflate(reinterpret_cast<const uint8_t*>(compressed.data()), compressed.size(), len) ==
                ringcast::deflate::InflateResult::ok);
      RC_ASSERT(std::string_view(reinterpret_cast<const char*>(check.output()), check.output_size()) ==
                plain);
      break;
    }
  }
  return 0;
}
