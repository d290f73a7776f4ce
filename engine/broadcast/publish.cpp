// Publishing: validate once with simdjson, minify the items (keeping the publisher's own number and
// string spellings, unlike a re-serialisation), encode the PUSH frame straight into the claimed ring
// entry, commit.
#include "engine/broadcast/publish.h"

#include <cstdio>
#include <cstring>

#include "engine/base/clock.h"
#include "engine/node/cluster_state.h"
#include "engine/codec/frame.h"
#include "engine/codec/http.h"
#include "engine/broadcast/users.h"
#include "engine/codec/utf8.h"

namespace ringcast {

int publish_error_status(PublishError error) {
  switch (error) {
    case PublishError::none:
      return 200;
    case PublishError::too_large:
      return 413;
    case PublishError::ring_full:
    case PublishError::cluster_down:
    case PublishError::history_down:
      return 503;
    default:
      return 400;
  }
}

std::string_view publish_error_text(PublishError error) {
  switch (error) {
    case PublishError::none:
      return "ok";
    case PublishError::bad_json:
      return "body is not valid JSON";
    case PublishError::not_an_object:
      return "JSON body must be an object with room and items";
    case PublishError::items_missing:
      return "items is missing";
    case PublishError::items_not_array:
      return "items must be a JSON array";
    case PublishError::items_empty:
      return "items must not be empty";
    case PublishError::room_missing:
      return "room is missing";
    case PublishError::room_invalid:
      return "room must be 1..room_name_bytes_max bytes of UTF-8 without control characters";
    case PublishError::too_large:
      return "push too large for the broadcast ring";
    case PublishError::ring_full:
      return "broadcast ring full: consumers are behind, retry later";
    case PublishError::cluster_down:
      return "cluster unreachable: this node has no NATS connection, retry later";
    case PublishError::history_down:
      return "cluster history unreachable: the JetStream stream does not answer, retry later";
    case PublishError::uid_missing:
      return "uid is missing";
    case PublishError::uid_invalid:
      return "uid must be 1..user_id_bytes_max bytes of UTF-8 without control characters";
    case PublishError::conn_missing:
      return "conn is missing";
    case PublishError::conn_invalid:
      return "conn must be a connection id as BOUND or HELLO gives it (decimal digits)";
  }
  return "error";
}


PublishError Publisher::validate_items(std::string_view items_json, uint32_t& item_count) {
  simdjson::dom::element doc;
  if (dom_.parse(items_json.data(), items_json.size(), true).get(doc)) return PublishError::bad_json;
  simdjson::dom::array array;
  if (doc.get_array().get(array)) return PublishError::items_not_array;
  item_count = static_cast<uint32_t>(array.size());
  if (item_count == 0) return PublishError::items_empty;
  // simdjson's minify does not validate; the DOM parse above did.
  minified_.resize(items_json.size());
  size_t len = 0;
  if (simdjson::minify(items_json.data(), items_json.size(), minified_.data(), len)) return PublishError::bad_json;
  minified_.resize(len);
  return PublishError::none;
}


PublishError Publisher::check_address(Target target, std::string_view room) {
  address_.clear();
  switch (target) {
    case Target::room:
      if (!room_name_valid(room, rules_.room_name_bytes_max, rules_.room_charset)) return PublishError::room_invalid;
      address_.assign(room);
      return PublishError::none;
    case Target::user:
      if (!room_name_valid(room, rules_.user_id_bytes_max, RoomCharset::utf8)) return PublishError::uid_invalid;
      address_ = user_room_name(room);
      return PublishError::none;
    case Target::replay:
      address_.assign(room);
      return PublishError::none;
    case Target::conn: {
      ConnId id;
      if (!parse_conn_id(room, id)) return PublishError::conn_invalid;
      address_.assign(room);
      return PublishError::none;
    }
    default:
      return PublishError::none;
  }
}

PublishOutcome Publisher::publish(Ring& ring, Target target, std::string_view room, std::string_view items_json,
                                  uint32_t origin) {
  PublishOutcome out;
  if ((out.error = check_address(target, room)) != PublishError::none) return out;
  uint32_t count = 0;
  if ((out.error = validate_items(items_json, count)) != PublishError::none) return out;
  return encode_and_commit(ring, target, address_, minified_, count, origin);
}

PublishOutcome Publisher::publish_at(Ring& ring, Target target, std::string_view room,
                                     std::string_view items_json, uint32_t origin, uint64_t position) {
  PublishOutcome out;
  if ((out.error = check_address(target, room)) != PublishError::none) return out;
  uint32_t count = 0;
  if ((out.error = validate_items(items_json, count)) != PublishError::none) return out;
  return encode_and_commit(ring, target, address_, minified_, count, origin, position);
}

PublishOutcome Publisher::publish_json_body(Ring& ring, Target target, std::string_view body) {
  PublishOutcome out;
  simdjson::dom::element doc;
  if (dom_.parse(body.data(), body.size(), true).get(doc)) {
    out.error = PublishError::bad_json;
    return out;
  }
  simdjson::dom::object object;
  if (doc.get_object().get(object)) {
    out.error = PublishError::not_an_object;
    return out;
  }
  std::string room;
  if (target == Target::room || target == Target::user || target == Target::conn) {
    const char* key = target == Target::room ? "room" : target == Target::user ? "uid" : "conn";
    const PublishError missing = target == Target::room   ? PublishError::room_missing
                                 : target == Target::user ? PublishError::uid_missing
                                                          : PublishError::conn_missing;
    const PublishError invalid = target == Target::room   ? PublishError::room_invalid
                                 : target == Target::user ? PublishError::uid_invalid
                                                          : PublishError::conn_invalid;
    std::string_view r;
    uint64_t number = 0;
    auto field = object[key];
    if (field.error() == simdjson::NO_SUCH_FIELD) {
      out.error = missing;
      return out;
    }
    if (target == Target::conn && !field.get_uint64().get(number)) {
      room = std::to_string(number);  // a connection id given as a JSON number
    } else if (field.get_string().get(r)) {
      out.error = invalid;
      return out;
    } else {
      room.assign(r);
    }
    if ((out.error = check_address(target, room)) != PublishError::none) return out;
    room = address_;
  }
  simdjson::dom::element items;
  if (object["items"].get(items)) {
    out.error = PublishError::items_missing;
    return out;
  }
  if (!items.is_array()) {
    out.error = PublishError::items_not_array;
    return out;
  }
  // The DOM has no source positions; the on-demand parser hands back the raw text of the array.
  padded_.assign(body);
  padded_.append(simdjson::SIMDJSON_PADDING, ' ');
  simdjson::ondemand::document od;
  simdjson::ondemand::array array;
  std::string_view raw;
  if (ondemand_.iterate(padded_.data(), body.size(), padded_.size()).get(od) ||
      od["items"].get_array().get(array) || array.raw_json().get(raw)) {
    out.error = PublishError::bad_json;
    return out;
  }
  uint32_t count = 0;
  if ((out.error = validate_items(raw, count)) != PublishError::none) return out;
  return encode_and_commit(ring, target, room, minified_, count, 0);
}

PublishOutcome Publisher::encode_and_commit(Ring& ring, Target target, std::string_view room,
                                            std::string_view minified, uint32_t item_count, uint32_t origin,
                                            uint64_t position) {
  PublishOutcome out;
  RC_ASSERT(minified.size() >= 2 && minified.front() == '[' && minified.back() == ']');
  const std::string_view inner = minified.substr(1, minified.size() - 2);
  // The suffix holds the sequence number, known only once claimed: size the entry for the longest one.
  suffix_.clear();
  append_push_suffix_head(suffix_, target == Target::replay ? Target::room : target, room);
  const size_t suffix_head = suffix_.size();
  const uint64_t suffix_max = suffix_head + 20 + 2;  // at most 20 digits, then "}}"
  const uint64_t payload_max = kPushPrefix.size() + inner.size() + suffix_max;
  const uint64_t frame_max = ws::server_header_bytes(payload_max) + payload_max;
  if (frame_max > ring.capacity() / 4) {
    out.error = PublishError::too_large;
    return out;
  }
  // With JetStream a room push is staged: the stream gives it its position and every node (this one
  // too) delivers the copy the stream republishes. So it also needs the stream to answer.
  bool staged = false;
  if (cluster_gate_ && cluster_gate_->enabled.load(std::memory_order_relaxed)) {
    staged = target == Target::room && cluster_gate_->jetstream.load(std::memory_order_relaxed);
    if (!cluster_gate_->connected.load(std::memory_order_acquire)) {
      out.error = PublishError::cluster_down;
      return out;
    }
    if (staged && !cluster_gate_->history_ok.load(std::memory_order_acquire)) {
      out.error = PublishError::history_down;
      return out;
    }
  }
  const uint32_t size = Ring::entry_bytes(room.size(), frame_max);
  RingClaim claim;
  if (!ring.try_claim(size, claim, record_)) {
    out.error = PublishError::ring_full;
    return out;
  }
  suffix_.resize(suffix_head);
  append_push_suffix_tail(suffix_, position ? position : claim.seq);
  const uint64_t payload_len = kPushPrefix.size() + inner.size() + suffix_.size();
  const size_t header_len = ws::server_header_bytes(payload_len);
  RingEntry* e = claim.entry;
  e->frame_offset = Ring::frame_offset_for(room.size());
  e->frame_len = static_cast<uint32_t>(header_len + payload_len);
  e->items_offset = static_cast<uint32_t>(header_len + kPushPrefix.size());
  e->items_len = static_cast<uint32_t>(inner.size());
  e->item_count = item_count;
  e->publish_ns = clock::monotonic_ns();
  e->room_len = static_cast<uint16_t>(room.size());
  e->target = target;
  e->flags = staged ? kEntryStaged : 0;
  e->origin = origin;
  if (!room.empty()) std::memcpy(e + 1, room.data(), room.size());  // push/all: no room, maybe a null data()
  uint8_t* frame = reinterpret_cast<uint8_t*>(e) + e->frame_offset;
  size_t at = ws::encode_server_header(frame, ws::Opcode::text, payload_len);
  std::memcpy(frame + at, kPushPrefix.data(), kPushPrefix.size());
  at += kPushPrefix.size();
  std::memcpy(frame + at, inner.data(), inner.size());
  at += inner.size();
  std::memcpy(frame + at, suffix_.data(), suffix_.size());
  ring.commit(claim, record_);
  out.seq = claim.seq;
  out.item_count = item_count;
  out.staged = staged;
  return out;
}

}  // namespace ringcast
