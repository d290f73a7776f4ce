// The embedding application's hooks (ringcast::Engine): a check on every JOIN, handlers for client
// message types the engine does not know (Nano's "components with handlers by route"), and lifecycle
// callbacks. Registered before Engine::start() and read-only after it, so the shards read them without
// a lock; handlers run on the shard thread that owns the connection, so they must be quick and
// thread-safe (several shards call them at once), and must not block.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace ringcast {

class Engine;
class SessionHost;

// A client connection as a hook sees it: valid only during the call (do not keep it).
class Session {
 public:
  // Node-unique while the connection lives: the id HELLO and BOUND tell the client (in decimal) and
  // POST /push/conn takes.
  uint64_t id() const { return id_; }
  // The bound user id (connect token or BIND), empty when none.
  std::string_view uid() const;
  // The type (go-push) or route (Nano/Pomelo) of the message being handled; empty in authorize_join.
  std::string_view type() const { return type_; }

  // Queues {"type":"<type>","data":<data_json>} to this connection. data_json must be JSON.
  void send(std::string_view type, std::string_view data_json);
  // Answers the message being handled: go-push, send() with its own type; Nano/Pomelo, the response to
  // the request being handled (its message id), or a push on the route when it was a notify.
  void reply(std::string_view data_json);
  // Queues the engine's ERROR frame {"type":"ERROR","data":{"code":…,"message":…}}.
  void error(std::string_view code, std::string_view message);
  // Joins a room as the client's own JOIN would (every limit applies, not authorize_join). Returns an
  // empty string, or the refusal's code (bad_room, too_many_rooms, forbidden_room).
  std::string_view join(std::string_view room);
  bool leave(std::string_view room);
  bool in_room(std::string_view room) const;
  // Sends a close frame with this code and reason, then closes.
  void close(uint16_t code, std::string_view reason);

 private:
  friend class SessionHost;  // each protocol's connections (engine/conn/session.h) make sessions
  Session(SessionHost& host, uint32_t conn, uint64_t id, std::string_view type)
      : host_(&host), conn_(conn), id_(id), type_(type) {}
  SessionHost* host_;
  uint32_t conn_;
  uint64_t id_;
  std::string_view type_;
};

// A client message the engine does not handle itself.
struct ClientMessage {
  std::string_view type;  // go-push: the "type" field; Nano/Pomelo: the route
  std::string_view data;  // JSON text: go-push's "data" (minified; "null" when absent)
  bool request = false;   // Nano/Pomelo: a request (it waits for Session::reply), not a notify
};

// A Nano/Pomelo client's handshake (docs/nano.md), as parsed: views valid during the call only.
struct NanoHandshake {
  std::string_view type;       // sys.type, e.g. "js-websocket"
  std::string_view version;    // sys.version, e.g. "0.0.1"
  std::string_view user_json;  // the "user" value's JSON text as sent; empty when absent
};

// True allows the JOIN; false refuses it with ERROR forbidden_room and `reason` as its message.
using AuthorizeJoin = std::function<bool(Session& session, std::string_view room, std::string& reason)>;
// True accepts a Nano/Pomelo handshake; false answers it {"code":501}, kicks with `reason` and closes.
// session.uid() is empty here; a handler may bind one later through room.join.
using AuthorizeNanoHandshake =
    std::function<bool(Session& session, const NanoHandshake& handshake, std::string& reason)>;
using MessageHandler = std::function<void(Session& session, const ClientMessage& message)>;

// Nano's component: lifecycle callbacks around the engine's life, in registration order (shutdown in
// reverse). init: before the shards start (register nothing after it); after_init: serving;
// before_shutdown: stop() was called, clients are still connected (a last publish reaches them);
// shutdown: every shard has stopped.
class Component {
 public:
  virtual ~Component() = default;
  virtual void init(Engine&) {}
  virtual void after_init(Engine&) {}
  virtual void before_shutdown(Engine&) {}
  virtual void shutdown(Engine&) {}
};

struct Hooks {
  struct Hash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  AuthorizeJoin authorize_join;
  AuthorizeNanoHandshake authorize_nano_handshake;
  std::unordered_map<std::string, MessageHandler, Hash, std::equal_to<>> handlers;
  std::vector<std::shared_ptr<Component>> components;

  const MessageHandler* handler(std::string_view type) const {
    auto it = handlers.find(type);
    return it == handlers.end() ? nullptr : &it->second;
  }
};

}  // namespace ringcast
