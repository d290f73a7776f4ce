// The default handlers of the routes of Nano's chat example (docs/nano.md): room.join and
// room.message, dispatched like the application's handlers and written over the session API; what
// they need beyond it (joining as the client, naming the connection, this shard's member list,
// publishing into the ring) comes from NanoChat.
#include <string>
#include <string_view>

#include "engine/base/log.h"
#include "engine/codec/json_writer.h"
#include "engine/codec/nano.h"
#include "engine/conn/nano.h"

namespace ringcast {
namespace {

int join_refusal_status(JoinRefusal refusal) {
  switch (refusal) {
    case JoinRefusal::bad_room:
      return 400;
    case JoinRefusal::forbidden_room:
      return 403;
    case JoinRefusal::too_many_rooms:
      return 429;
    case JoinRefusal::none:
    case JoinRefusal::closed:
      break;
  }
  return 500;
}

// Answers a request with {"code":code,"error":...,"message":...}; a notify, which has no answer, is
// counted as dropped.
void refuse(Session& session, const ClientMessage& message, NanoChat& chat, int code, std::string_view error,
            std::string_view text) {
  if (!message.request) {
    chat.conns.notify_dropped(message.type, error);
    return;
  }
  std::string body;
  append_nano_error_json(body, code, error, text);
  session.reply(body);
}

}  // namespace

// room.join, payload {"room":"r","uid":"ann"} (both optional; "nickname" or "name" stand for "uid";
// numbers are taken as their text): joins the room as a JOIN would, names the connection by the uid,
// pushes onMembers (this shard's Pomelo members of the room, before the joiner) to the joiner,
// publishes onNewUser to the room through the ring and answers {"code":0,"result":"success"}.
void nano_room_join(Session& session, const ClientMessage& message, NanoChat& chat) {
  NanoConns& nano = chat.conns;
  const uint32_t conn = chat.conn;
  std::string room(NanoConns::kDefaultRoom);
  std::string uid;
  const std::string_view payload = chat.message.payload;
  if (!payload.empty()) {
    simdjson::dom::element doc;
    simdjson::dom::object obj;
    if (nano.parser().parse(payload.data(), payload.size()).get(doc) || doc.get_object().get(obj)) {
      refuse(session, message, chat, 400, "bad_payload",
             "room.join takes a JSON object {\"room\":...,\"uid\":...}");
      return;
    }
    std::string_view text;
    if (obj["room"].get_string().get(text) == simdjson::SUCCESS) room.assign(text);
    for (const char* key : {"uid", "nickname", "name"}) {
      simdjson::dom::element value;
      if (obj[key].get(value) != simdjson::SUCCESS) continue;
      if (value.get_string().get(text) == simdjson::SUCCESS) {
        uid.assign(text);
      } else if (value.is_int64() || value.is_uint64()) {
        uid = simdjson::minify(value);
      }
      if (!uid.empty()) break;
    }
  }
  if (uid.empty()) uid = session.uid().empty() ? std::to_string(session.id()) : std::string(session.uid());
  if (uid.size() > NanoConns::kUidBytesMax) {
    refuse(session, message, chat, 400, "bad_uid", "uid over 128 bytes");
    return;
  }
  // The members before the joiner, as Nano's chat example lists them (docs/nano.md: what "members"
  // means).
  const std::string members = nano.members_json(conn, room);
  const JoinRefusal refused = nano.join_as_client(session, conn, room);
  if (refused != JoinRefusal::none) {
    refuse(session, message, chat, join_refusal_status(refused), join_refusal_code(refused),
           "room.join refused");
    return;
  }
  nano.name(conn, uid, room);
  session.send(NanoConns::kMembersRoute, members);
  // Everyone in the room (every shard, worker and node; go-push members too) hears of the newcomer
  // through the ring, in order with every other push to the room.
  std::string item;
  JsonWriter json(item);
  json.begin_array().begin_object().key("route").string(NanoConns::kNewUserRoute).key("data").begin_object();
  json.key("content").string("New user: " + uid).key("uid").string(uid);
  json.end_object().end_object().end_array();
  const PublishOutcome published = nano.publish(room, item);
  if (published.error != PublishError::none)
    LOG_DEBUG("shard %u: onNewUser not published: %s", nano.shard_index(),
              std::string(publish_error_text(published.error)).c_str());
  if (message.request) session.reply(R"({"code":0,"result":"success"})");
}

// room.message (notify, or a request answered {"code":0}): the payload, any JSON, is published to the
// room room.join put the session in as one item {"route":"onMessage","data":<payload>}; Pomelo members
// get it as an onMessage push, go-push members as that item in a PUSH.
void nano_room_message(Session& session, const ClientMessage& message, NanoChat& chat) {
  const std::string room(chat.conns.chat_room(chat.conn));
  if (room.empty() || !session.in_room(room)) {
    refuse(session, message, chat, 400, "not_in_room", "room.join first");
    return;
  }
  std::string item;
  JsonWriter json(item);
  json.begin_array().begin_object().key("route").string(NanoConns::kChatRoute);
  json.key("data").raw(chat.message.payload.empty() ? std::string_view("null") : chat.message.payload);
  json.end_object().end_array();
  const PublishOutcome published = chat.conns.publish(room, item);
  if (published.error != PublishError::none) {
    refuse(session, message, chat, publish_error_status(published.error), publish_error_text(published.error),
           "room.message not published");
    return;
  }
  if (message.request) session.reply(R"({"code":0})");
}

}  // namespace ringcast
