// libFuzzer target: append_nano_pushes (engine/codec/nano.h), the PUSH data object -> Pomelo push
// packets step of the fan-out, on arbitrary text as the data object. Whatever it writes must be whole
// data packets, each a push message the codec decodes (with the same dictionary) to a route of
// 1..255 bytes; an input without a routed item, or that is not JSON, must come out as exactly one push
// on the push route whose payload is the input byte for byte.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "engine/base/check.h"
#include "engine/base/json.h"
#include "engine/codec/nano.h"
#include "engine/codec/pomelo.h"

namespace {

using namespace ringcast;

const pomelo::RouteDict& fuzz_dict() {
  static const pomelo::RouteDict dict = [] {
    const std::string_view routes[] = {"room.join", "room.message", "onMembers",
                                       "onNewUser", "onMessage",    "onPush"};
    pomelo::RouteDict d;
    RC_ASSERT(pomelo::RouteDict::build(routes, d) == pomelo::RouteDictError::none);
    return d;
  }();
  return dict;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static simdjson::dom::parser parser;
  static std::string out;
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const std::string_view push_route = "onPush";
  out.clear();
  const bool complete = ringcast::append_nano_pushes(out, input, push_route, fuzz_dict(), parser);
  // Every push route here is valid UTF-8 or the item was skipped as no route, so nothing is left out
  // unless the payload made the packet too large (impossible at fuzz sizes).
  RC_ASSERT(complete);
  size_t pushes = 0;
  std::string_view first_payload;
  std::string_view first_route;
  const pomelo::DecodeResult result = pomelo::decode_packets(
      std::string_view(out), pomelo::kPacketBodyBytesLimit, [&](const pomelo::Packet& p) {
        RC_ASSERT(p.type == pomelo::PacketType::data);
        pomelo::Message msg;
        RC_ASSERT(pomelo::decode_message(p.body, fuzz_dict(), msg) == pomelo::MessageError::none);
        RC_ASSERT(msg.type == pomelo::MessageType::push);
        RC_ASSERT(!msg.route.empty() && msg.route.size() <= pomelo::kRouteBytesMax);
        if (pushes++ == 0) {
          first_payload = msg.payload;
          first_route = msg.route;
        }
        return true;
      });
  RC_ASSERT(result.status == pomelo::DecodeStatus::ok);
  simdjson::dom::element doc;
  const bool routed_marker = input.find(R"({"route":")") != std::string_view::npos;
  if (!routed_marker || parser.parse(input.data(), input.size()).get(doc)) {
    RC_ASSERT(pushes == 1);
    RC_ASSERT(first_route == push_route);
    RC_ASSERT(first_payload == input);
  }
  return 0;
}
