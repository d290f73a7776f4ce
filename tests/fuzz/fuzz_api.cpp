// libFuzzer target: the push API — pipelined requests parsed from the input, form fields decoded, and
// every push validated and published into a real (small) broadcast ring, whose entries are then read
// back. Invariants: parsing makes progress and stays inside the input; an accepted push is a committed
// entry holding a complete unmasked text frame whose payload is {"type":"PUSH","data":{"items":[…]}}
// valid JSON; a refused one changes nothing. The same bodies go to a user and a connection id, and
// every path is also parsed as a presence request, whose room must then pass the JOIN rule and whose
// answer (over an empty page) must be valid JSON.
#include <cstddef>
#include <cstdint>
#include <string>

#include "engine/base/check.h"
#include "engine/codec/form.h"
#include "engine/codec/frame.h"
#include "engine/codec/http.h"
#include "engine/node/presence.h"
#include "engine/broadcast/publish.h"
#include "engine/node/shm.h"

namespace {

struct World {
  ringcast::SharedRegion region;
  ringcast::Ring ring;
  ringcast::Publisher publisher{ringcast::PublishRules{128}};
  simdjson::dom::parser checker;
  uint64_t pos = 0, seq = 0;
  World() {
    std::string error;
    RC_ASSERT(region.create(1 << 20, error));
    ring = region.ring();
    ring.attach(0, -1, pos, seq);
  }
  // Reads every new entry and checks its frame; keeps the consumer's held position current.
  void drain() {
    while (const ringcast::RingEntry* e = ring.peek(pos, seq)) {
      const uint8_t* f = e->frame();
      RC_ASSERT(e->frame_len >= 2 && (f[0] & 0x0F) == 1 && (f[0] & 0x80) && !(f[1] & 0x80));
      const size_t header = (f[1] & 0x7F) == 126 ? 4 : (f[1] & 0x7F) == 127 ? 10 : 2;
      RC_ASSERT(e->frame_len > header);
      std::string payload(reinterpret_cast<const char*>(f) + header, e->frame_len - header);
      RC_ASSERT(payload.rfind(R"({"type":"PUSH","data":{"items":[)", 0) == 0);
      simdjson::dom::element doc;
      RC_ASSERT(!checker.parse(payload).get(doc));
      pos += e->size;
      ++seq;
    }
    ring.slot(0).held_pos.store(pos);
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static World world;
  std::string_view input(reinterpret_cast<const char*>(data), size);
  ringcast::http::Limits limits;
  limits.head_bytes_max = 4096;
  limits.body_bytes_max = 64 * 1024;
  std::string scratch;
  for (int i = 0; i < 16 && !input.empty(); ++i) {
    ringcast::http::Request req;
    const auto res = ringcast::http::parse_request(input, limits, req, scratch);
    if (res.status != ringcast::http::ParseStatus::complete) break;
    RC_ASSERT(res.consumed > 0 && res.consumed <= input.size());
    std::string items, room;
    bool malformed = false;
    ringcast::form::field(req.query, "room", room, malformed);
    if (req.content_type == "application/json") {
      world.publisher.publish_json_body(world.ring, ringcast::Target::room, req.body);
    } else if (ringcast::form::field(req.body, "items", items, malformed)) {
      ringcast::form::field(req.body, "room", room, malformed);
      world.publisher.publish(world.ring, room.empty() ? ringcast::Target::all : ringcast::Target::room, room,
                              items);
    }
    std::string uid, conn;
    if (ringcast::form::field(req.body, "uid", uid, malformed))
      world.publisher.publish(world.ring, ringcast::Target::user, uid, items.empty() ? "[1]" : items);
    if (ringcast::form::field(req.body, "conn", conn, malformed))
      world.publisher.publish(world.ring, ringcast::Target::conn, conn, items.empty() ? "[1]" : items);
    world.drain();
    ringcast::PresenceQuery query;
    std::string_view why;
    if (ringcast::parse_presence_request(req.path, req.query, 128, ringcast::RoomCharset::utf8, query, why)) {
      RC_ASSERT(query.kind == ringcast::PresenceKind::rooms || ringcast::room_name_valid(query.room, 128));
      RC_ASSERT(query.limit >= 1 && query.limit <= ringcast::kPresencePageMax);
      ringcast::PresencePage page;
      page.entries.emplace_back(query.cursor, 1);
      page.has_next = true;
      page.next = query.cursor;
      query.users = true;
      simdjson::dom::element presence_doc;
      RC_ASSERT(!world.checker.parse(ringcast::presence_json(query, page)).get(presence_doc));
    }
    // Error bodies carry text from the request (JSON-escaped): they must stay valid JSON.
    std::string answer;
    ringcast::http::append_error(answer, 400, room, req.keep_alive);
    const size_t body_at = answer.find("\r\n\r\n");
    RC_ASSERT(body_at != std::string::npos);
    simdjson::dom::element doc;
    RC_ASSERT(!world.checker.parse(answer.substr(body_at + 4)).get(doc));
    input.remove_prefix(res.consumed);
  }
  return 0;
}
