// go-push client commands: parsed with simdjson's DOM parser, which validates the whole document, so
// a malformed message is caught here rather than half-acted upon.
#include "engine/codec/command.h"

#include "engine/codec/json_writer.h"

namespace ringcast {

CommandError parse_command(simdjson::dom::parser& parser, const uint8_t* data, size_t len, Command& out) {
  out = Command{};
  simdjson::dom::element doc;
  // parse() copies into the parser's padded buffer, so the input needs no padding of its own.
  if (parser.parse(reinterpret_cast<const char*>(data), len, true).get(doc))
    return CommandError::malformed_json;
  simdjson::dom::object object;
  if (doc.get_object().get(object)) return CommandError::not_an_object;
  std::string_view type;
  if (object["type"].get_string().get(type)) return CommandError::none;  // no type: ignored like go-push
  if (type == "PING") {
    out.type = CommandType::ping;
    return CommandError::none;
  }
  if (type == "HELLO") {
    out.type = CommandType::hello;
    return CommandError::none;
  }
  if (type == "BIND") {
    out.type = CommandType::bind;
    std::string_view uid;
    if (object.at_pointer("/data/uid").get_string().get(uid) || uid.empty()) return CommandError::bad_uid;
    out.uid = uid;
    return CommandError::none;
  }
  if (type == "JOIN") {
    out.type = CommandType::join;
  } else if (type == "LEAVE") {
    out.type = CommandType::leave;
  } else {
    out.type_name = type;
    out.has_data = !object["data"].get(out.data);
    return CommandError::none;
  }
  std::string_view room;
  if (object.at_pointer("/data/room").get_string().get(room) || room.empty()) return CommandError::bad_room;
  out.room = room;
  if (out.type != CommandType::join) return CommandError::none;
  simdjson::dom::element since;
  if (!object.at_pointer("/data/since").get(since)) {
    // JSON numbers: a non-negative integer, whether simdjson stored it as int64 or uint64.
    uint64_t value = 0;
    int64_t signed_value = 0;
    if (since.is_null()) {
      out.since_now = true;
    } else if (!since.get_uint64().get(value)) {
      out.since = value;
    } else if (!since.get_int64().get(signed_value) && signed_value >= 0) {
      out.since = static_cast<uint64_t>(signed_value);
    } else {
      return CommandError::bad_since;
    }
    out.has_since = true;
  }
  simdjson::dom::element epoch;
  if (!object.at_pointer("/data/epoch").get(epoch)) {
    if (epoch.get_string().get(out.epoch)) return CommandError::bad_since;
  }
  return CommandError::none;
}

std::string_view command_error_text(CommandError error) {
  switch (error) {
    case CommandError::none:
      return "ok";
    case CommandError::malformed_json:
      return "malformed JSON command";
    case CommandError::not_an_object:
      return "command must be a JSON object";
    case CommandError::bad_room:
      return "data.room must be a non-empty string";
    case CommandError::bad_since:
      return "data.since must be a non-negative integer (or null) and data.epoch a string";
    case CommandError::bad_uid:
      return "data.uid must be a non-empty string";
  }
  return "bad command";
}

namespace {

// {"type":"<type>","data":{<members>}}, where members(json) writes the data object's members.
template <class Members>
std::string command_json(std::string_view type, Members&& members) {
  std::string out;
  JsonWriter json(out);
  json.begin_object().key("type").string(type).key("data").begin_object();
  members(json);
  json.end_object().end_object();
  return out;
}

}  // namespace

std::string joined_command_json(std::string_view room, uint64_t seq, std::string_view epoch, bool recovered) {
  return command_json("JOINED", [&](JsonWriter& json) {
    json.key("room").string(room).key("seq").number(seq).key("epoch").string(epoch);
    json.key("recovered").boolean(recovered);
  });
}

std::string bound_command_json(std::string_view uid, std::string_view conn) {
  return command_json("BOUND",
                      [&](JsonWriter& json) { json.key("uid").string(uid).key("conn").string(conn); });
}

std::string hello_command_json(std::string_view conn, std::string_view uid) {
  return command_json(
      "HELLO", [&](JsonWriter& json) { json.key("conn").string(conn).key("uid").string_or_null(uid); });
}

std::string message_command_json(std::string_view type, std::string_view data_json) {
  std::string out;
  JsonWriter json(out);
  json.begin_object().key("type").string(type).key("data").raw(data_json.empty() ? "null" : data_json);
  json.end_object();
  return out;
}

std::string_view pong_command_json() {
  return R"({"type":"PONG","data":{}})";
}

std::string error_command_json(std::string_view code, std::string_view message, std::string_view room) {
  return command_json("ERROR", [&](JsonWriter& json) {
    json.key("code").string(code).key("message").string(message);
    if (!room.empty()) json.key("room").string(room);
  });
}

}  // namespace ringcast
