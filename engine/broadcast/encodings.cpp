// The encodings of an emitted frame (see encodings.h): the Pomelo one is the PUSH's data object as the
// payload of Pomelo push packets (codec/nano.h), in one binary WebSocket frame; the deflate ones are
// either of those with the payload compressed (RFC 7692 7.2.1) and RSV1 set.
#include "engine/broadcast/encodings.h"

#include <cstdlib>
#include <cstring>

#include "engine/base/log.h"
#include "engine/codec/frame.h"
#include "engine/codec/nano.h"
#include "engine/codec/stream.h"
#include "engine/node/stats.h"

namespace ringcast {
namespace {

// The go-push PUSH frame's envelope around its data object (codec/push.h's kPushPrefix starts with it).
constexpr std::string_view kPushEnvelope = R"({"type":"PUSH","data":)";

// The payload of a whole unmasked server frame, or an empty view when it is not one.
std::string_view server_payload(const Frame& f) {
  if (f.len < 2) return {};
  const uint8_t len7 = f.data[1] & 0x7F;
  const size_t header = len7 < 126 ? 2 : len7 == 126 ? 4 : 10;
  if (f.len < header) return {};
  return {reinterpret_cast<const char*>(f.data) + header, f.len - header};
}

}  // namespace

Encodings::Encodings(Frames& frames, const pomelo::RouteDict& routes, std::string_view push_route,
                     CompressionOptions compression, ShardStats* stats)
    : frames_(frames),
      routes_(routes),
      push_route_(push_route),
      compression_(compression),
      stats_(stats),
      deflater_(static_cast<int>(compression.level)) {}

void Encodings::start(FrameId push) {
  if (push >= forms_.size()) forms_.resize(static_cast<size_t>(push) + 1);
  forms_[push].started = true;
  started_.push_back(push);
  frames_.ref(push);
}

void Encodings::end_fanout() {
  for (const FrameId push : started_) {
    Forms& f = forms_[push];
    for (size_t e = 0; e < kEncodings; ++e)
      if ((f.built & (1u << e)) && f.encoded[e] != kNil) frames_.unref(f.encoded[e]);
    f = Forms{};
    frames_.unref(push);
  }
  started_.clear();
}

FrameId Encodings::build(FrameId push, Encoding encoding) {
  // (Copied out: building a frame may grow the frame table.)
  const Frame f = frames_.frame(push);
  switch (encoding) {
    case Encoding::pomelo:
      return build_pomelo(f);
    case Encoding::ws_deflate:
      return build_deflate(push);
    case Encoding::pomelo_deflate: {
      const FrameId pomelo = encode(push, Encoding::pomelo);  // built once, shared with plain members
      return pomelo == kNil ? kNil : build_deflate(pomelo);
    }
    case Encoding::sse:
    case Encoding::ndjson:
      return build_stream(f, encoding);
    case Encoding::none:
    case Encoding::ws_text:
      break;
  }
  return kNil;
}

FrameId Encodings::build_stream(const Frame& f, Encoding encoding) {
  if (f.len < 2 || (f.data[0] & 0x0F) != static_cast<uint8_t>(ws::Opcode::text)) return kNil;
  out_.clear();
  const stream::Kind kind = encoding == Encoding::sse ? stream::Kind::sse : stream::Kind::ndjson;
  if (!stream::append_push_chunk(out_, kind, server_payload(f))) {
    LOG_DEBUG("a push could not be encoded for HTTP stream clients");
    return kNil;
  }
  auto* bytes = static_cast<uint8_t*>(std::malloc(out_.size()));
  RC_ASSERT(bytes != nullptr);
  std::memcpy(bytes, out_.data(), out_.size());
  return frames_.owned_frame(bytes, static_cast<uint32_t>(out_.size()), f.items, true, f.publish_ns);
}

FrameId Encodings::build_pomelo(const Frame& f) {
  if (f.len < 2 || (f.data[0] & 0x0F) != static_cast<uint8_t>(ws::Opcode::text)) return kNil;
  const std::string_view payload = server_payload(f);
  if (payload.size() <= kPushEnvelope.size() || payload.substr(0, kPushEnvelope.size()) != kPushEnvelope ||
      payload.back() != '}')
    return kNil;
  out_.clear();
  const std::string_view data_object =
      payload.substr(kPushEnvelope.size(), payload.size() - kPushEnvelope.size() - 1);
  if (!append_nano_pushes(out_, data_object, push_route_, routes_, parser_))
    LOG_DEBUG("a push could not be encoded for Pomelo clients");
  if (out_.empty()) return kNil;
  const ws::FrameBuffer b = ws::copy_server_frame(ws::Opcode::binary, out_);
  return frames_.owned_frame(b.bytes, b.len, f.items, true, f.publish_ns);
}

FrameId Encodings::build_deflate(FrameId plain) {
  const Frame f = frames_.frame(plain);
  const std::string_view payload = server_payload(f);
  const auto op = static_cast<ws::Opcode>(f.data[0] & 0x0F);
  // Only whole data messages: RSV1 goes on a message's first frame, and a fragment is not one.
  const bool whole_message = f.len >= 2 && (f.data[0] & 0x80) != 0 && (f.data[0] & 0x70) == 0 &&
                             (op == ws::Opcode::text || op == ws::Opcode::binary);
  if (!whole_message || payload.size() < compression_.min_bytes ||
      !deflater_.compress(payload, compressed_) || compressed_.size() >= payload.size()) {
    if (stats_ != nullptr) stats_->add(Counter::deflate_skipped);
    return plain;
  }
  if (stats_ != nullptr) {
    stats_->add(Counter::deflate_frames);
    stats_->add(Counter::deflate_bytes_in, static_cast<int64_t>(payload.size()));
    stats_->add(Counter::deflate_bytes_out, static_cast<int64_t>(compressed_.size()));
  }
  const ws::FrameBuffer b = ws::copy_server_frame(op, compressed_);
  b.bytes[0] |= 0x40;  // RSV1: "this message is compressed" (RFC 7692 6)
  return frames_.owned_frame(b.bytes, b.len, f.items, f.push, f.publish_ns);
}

}  // namespace ringcast
