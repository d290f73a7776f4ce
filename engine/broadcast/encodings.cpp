// The encodings of an emitted frame (see encodings.h): the Pomelo one is the PUSH's data object as the
// payload of Pomelo push packets (codec/nano.h), in one binary WebSocket frame.
#include "engine/broadcast/encodings.h"

#include <cstring>

#include "engine/base/log.h"
#include "engine/codec/frame.h"
#include "engine/codec/nano.h"

namespace ringcast {
namespace {

// The go-push PUSH frame's envelope around its data object (codec/push.h's kPushPrefix starts with it).
constexpr std::string_view kPushEnvelope = R"({"type":"PUSH","data":)";

}  // namespace

Encodings::Encodings(Frames& frames, const pomelo::RouteDict& routes, std::string_view push_route)
    : frames_(frames), routes_(routes), push_route_(push_route) {}

void Encodings::start(FrameId push) {
  end_fanout();
  source_ = push;
  frames_.ref(push);
}

void Encodings::end_fanout() {
  if (source_ == kNil) return;
  for (size_t e = 0; e < kEncodings; ++e) {
    if (built_[e] && encoded_[e] != kNil) frames_.unref(encoded_[e]);
    encoded_[e] = kNil;
    built_[e] = false;
  }
  frames_.unref(source_);
  source_ = kNil;
}

FrameId Encodings::build(FrameId push, Encoding encoding) {
  // (Copied out: building a frame may grow the frame table.)
  const Frame f = frames_.frame(push);
  switch (encoding) {
    case Encoding::pomelo:
      return build_pomelo(f);
    case Encoding::none:
    case Encoding::ws_text:
      break;
  }
  return kNil;
}

FrameId Encodings::build_pomelo(const Frame& f) {
  if (f.len < 2 || (f.data[0] & 0x0F) != static_cast<uint8_t>(ws::Opcode::text)) return kNil;
  const uint8_t len7 = f.data[1] & 0x7F;
  const size_t header = len7 < 126 ? 2 : len7 == 126 ? 4 : 10;
  if (f.len < header) return kNil;
  const std::string_view payload(reinterpret_cast<const char*>(f.data) + header, f.len - header);
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

}  // namespace ringcast
