// libFuzzer target: a whole client byte stream as the server sees it — the upgrade request head, then
// WebSocket frames fed to the frame parser in pieces (the first input byte chooses the piece size, so
// every split point gets explored), then every complete text message through the go-push command
// parser. Invariants: the parser's assembly buffer never exceeds the message limit (plus one frame
// header), nothing is delivered after a close or an error, delivered text is valid UTF-8, and the
// callbacks are the same when the frames are fed whole as when they are fed in pieces (so UTF-8 checked
// piece by piece, across fragments and feeds, decides as the whole message would).
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "engine/base/check.h"
#include "engine/codec/command.h"
#include "engine/codec/deflate.h"
#include "engine/codec/frame.h"
#include "engine/codec/handshake.h"
#include "engine/codec/http.h"
#include "engine/codec/utf8.h"

namespace {

constexpr size_t kMaxMessage = 4096;

struct Sink {
  simdjson::dom::parser* parser;
  std::string* trace;  // every callback, appended: what two parses of the same bytes must agree on
  bool ended = false;
  void record(char kind, uint16_t code, std::span<const uint8_t> bytes) {
    *trace += kind;
    trace->append(reinterpret_cast<const char*>(&code), sizeof code);
    const uint32_t n = static_cast<uint32_t>(bytes.size());
    trace->append(reinterpret_cast<const char*>(&n), sizeof n);
    trace->append(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  }
  void on_message(ringcast::ws::Opcode op, std::span<uint8_t> payload) {
    RC_ASSERT(!ended);
    record('m', static_cast<uint16_t>(op), payload);
    RC_ASSERT(payload.size() <= kMaxMessage);
    if (op == ringcast::ws::Opcode::text) {
      RC_ASSERT(ringcast::utf8_valid(payload.data(), payload.size()));
      ringcast::Command cmd;
      ringcast::parse_command(*parser, payload.data(), payload.size(), cmd);
    }
  }
  // Only reached with permessage-deflate allowed; the inflate path has its own target (fuzz_deflate).
  void on_compressed(ringcast::ws::Opcode op, std::span<uint8_t> payload) {
    RC_ASSERT(!ended);
    record('z', static_cast<uint16_t>(op), payload);
    RC_ASSERT(payload.size() <= kMaxMessage + kMaxMessage / 256 + 64);
  }
  void on_control(ringcast::ws::Opcode op, std::span<uint8_t> payload) {
    RC_ASSERT(!ended);
    record('c', static_cast<uint16_t>(op), payload);
    RC_ASSERT(payload.size() <= ringcast::ws::kMaxControlPayloadBytes);
    if (op == ringcast::ws::Opcode::close) ended = true;
  }
  void on_error(uint16_t code, std::string_view reason) {
    RC_ASSERT(!ended);
    record('e', code, std::span(reinterpret_cast<const uint8_t*>(reason.data()), reason.size()));
    RC_ASSERT(code == 1002 || code == 1007 || code == 1009 || code == 1011);
    ended = true;
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static simdjson::dom::parser parser;
  if (size < 1) return 0;
  const size_t piece = 1 + data[0] % 64;
  std::string_view input(reinterpret_cast<const char*>(data + 1), size - 1);
  ringcast::http::Request req;
  ringcast::http::Limits limits;
  limits.head_bytes_max = 8192;
  limits.body_bytes_max = 0;
  std::string scratch;
  size_t offset = 0;
  bool compressed = false;  // the head agreed on permessage-deflate: RSV1 marks compressed messages
  const auto res = ringcast::http::parse_request(input, limits, req, scratch);
  if (res.status == ringcast::http::ParseStatus::complete) {
    if (!ringcast::handshake::check_upgrade(req).ok) return 0;
    offset = res.consumed;
    compressed = ringcast::deflate::negotiate(req).on;
    RC_ASSERT(compressed == !ringcast::deflate::response_header(ringcast::deflate::negotiate(req)).empty());
  }
  // Without a valid head the rest is still parsed as frames: the parser must cope with anything.
  std::vector<uint8_t> bytes(input.begin() + static_cast<std::ptrdiff_t>(offset), input.end());
  std::vector<uint8_t> whole = bytes;  // parsing unmasks in place: a second copy for the second parse
  std::string in_pieces;
  ringcast::ws::FrameParser frames;
  Sink sink{&parser, &in_pieces};
  if (compressed) frames.allow_compressed();
  for (size_t at = 0; at < bytes.size(); at += piece) {
    const size_t n = std::min(piece, bytes.size() - at);
    const auto status = frames.feed(bytes.data() + at, n, kMaxMessage, sink);
    RC_ASSERT(frames.buffered_bytes() <= kMaxMessage + 2 * ringcast::ws::kMaxControlPayloadBytes + 64);
    if (status != ringcast::ws::ParseStatus::ok) break;
  }
  std::string at_once;
  ringcast::ws::FrameParser frames_at_once;
  Sink sink_at_once{&parser, &at_once};
  if (compressed) frames_at_once.allow_compressed();
  frames_at_once.feed(whole.data(), whole.size(), kMaxMessage, sink_at_once);
  RC_ASSERT(in_pieces == at_once);
  return 0;
}
