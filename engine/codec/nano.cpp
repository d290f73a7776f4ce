// The Nano endpoint's pure parts (see nano.h).
#include "engine/codec/nano.h"

#include "engine/codec/json_writer.h"

namespace ringcast {
namespace {

// An item published for Pomelo routes starts like this (see append_nano_pushes).
constexpr std::string_view kRoutedItem = R"({"route":")";

}  // namespace

void append_nano_error_json(std::string& out, int code, std::string_view error, std::string_view message) {
  JsonWriter json(out);
  json.begin_object().key("code").number(code).key("error").string(error);
  if (!message.empty()) json.key("message").string(message);
  json.end_object();
}

// sys.type: printable ASCII, no space; sys.version: starts with a digit, then digits, letters, . + -.
bool nano_client_supported(std::string_view type, std::string_view version) {
  if (type.empty() || type.size() > 64 || version.empty() || version.size() > 32) return false;
  for (unsigned char ch : type)
    if (ch <= 0x20 || ch >= 0x7f) return false;
  if (version[0] < '0' || version[0] > '9') return false;
  for (unsigned char ch : version)
    if (!((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || ch == '.' ||
          ch == '+' || ch == '-'))
      return false;
  return true;
}

// A PUSH's data object {"items":[...],"room":"r","seq":N} becomes Pomelo push packets:
// - usually one push on nano_push_route whose payload is the data object as it is (no parsing);
// - when items have the form {"route":R,"data":D} (what room.join and room.message publish, and what
//   the push API may publish for Pomelo routes), each such item is its own push on route R with payload
//   D, and the other items, in runs, pushes on nano_push_route with {"items":[run],"room":..,"seq":N}.
// Several packets travel in one binary message, which Pomelo clients decode one after the other.
bool append_nano_pushes(std::string& out, std::string_view data_object, std::string_view push_route,
                        const pomelo::RouteDict& dict, simdjson::dom::parser& parser) {
  bool complete = true;
  auto append_push = [&](std::string_view route, std::string_view payload) {
    pomelo::Message msg;
    msg.type = pomelo::MessageType::push;
    msg.route = route;
    msg.payload = payload;
    if (pomelo::append_data_packet(out, msg, dict) != pomelo::MessageError::none) complete = false;
  };
  simdjson::dom::element doc;
  simdjson::dom::array items;
  if (data_object.find(kRoutedItem) == std::string_view::npos ||
      parser.parse(data_object.data(), data_object.size()).get(doc) || doc["items"].get_array().get(items)) {
    append_push(push_route, data_object);
    return complete;
  }
  std::string_view room;
  const bool has_room = doc["room"].get_string().get(room) == simdjson::SUCCESS;
  uint64_t seq = 0;
  const bool has_seq = doc["seq"].get_uint64().get(seq) == simdjson::SUCCESS;
  std::string run;  // the other items since the last routed one, comma-separated
  auto flush_run = [&] {
    if (run.empty()) return;
    std::string payload;
    JsonWriter json(payload);
    json.begin_object().key("items").begin_array().raw(run).end_array();
    if (has_room) json.key("room").string(room);
    if (has_seq) json.key("seq").number(seq);
    json.end_object();
    append_push(push_route, payload);
    run.clear();
  };
  for (simdjson::dom::element item : items) {
    simdjson::dom::object obj;
    std::string_view route;
    simdjson::dom::element data;
    if (item.get_object().get(obj) == simdjson::SUCCESS && obj.size() == 2 &&
        obj["route"].get_string().get(route) == simdjson::SUCCESS &&
        obj["data"].get(data) == simdjson::SUCCESS && !route.empty() &&
        route.size() <= pomelo::kRouteBytesMax) {
      flush_run();
      append_push(route, simdjson::minify(data));
      continue;
    }
    if (!run.empty()) run += ',';
    run += simdjson::minify(item);
  }
  flush_run();
  return complete;
}

}  // namespace ringcast
