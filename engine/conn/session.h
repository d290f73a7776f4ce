// The session API: what a connection can be asked to do whatever its protocol, as the application's
// hooks and handlers see it (ringcast::Session, hooks.h) and as the protocols' own default handlers
// use it. Each protocol's connections are a SessionHost and say how a message, a reply and an error
// look on their wire; joining, leaving, the user and closing are the same for all (SessionBase).
// Called from hooks, never per pushed message, so the calls through it may be virtual.
#pragma once

#include <cstdint>
#include <string_view>

#include "engine/conn/conns.h"
#include "engine/conn/membership.h"
#include "engine/hooks.h"

namespace ringcast {

class SessionHost {
 public:
  virtual std::string_view session_uid(uint32_t conn) const = 0;
  // {"type":type,"data":data_json} in the protocol's form (a Pomelo push on route `type`).
  virtual void session_send(uint32_t conn, std::string_view type, std::string_view data_json) = 0;
  // The answer to the message being handled (go-push: a message of its own type; Pomelo: the response
  // to the request, or a push on its route when it was a notify).
  virtual void session_reply(uint32_t conn, std::string_view type, std::string_view data_json) = 0;
  virtual void session_error(uint32_t conn, std::string_view code, std::string_view message) = 0;
  virtual JoinRefusal session_join(uint32_t conn, std::string_view room) = 0;
  virtual bool session_leave(uint32_t conn, std::string_view room) = 0;
  virtual bool session_in_room(uint32_t conn, std::string_view room) const = 0;
  virtual void session_close(uint32_t conn, uint16_t code, std::string_view reason) = 0;

 protected:
  ~SessionHost() = default;
  // A session for a hook or handler call about connection `conn` (public id `id`).
  Session make_session(uint32_t conn, uint64_t id, std::string_view type) {
    return Session(*this, conn, id, type);
  }
};

// What every protocol's sessions share.
class SessionBase : public SessionHost {
 public:
  std::string_view session_uid(uint32_t conn) const override { return membership_.uid(conn); }
  JoinRefusal session_join(uint32_t conn, std::string_view room) override;
  bool session_leave(uint32_t conn, std::string_view room) override;
  bool session_in_room(uint32_t conn, std::string_view room) const override {
    return membership_.in_room(conn, room);
  }
  void session_close(uint32_t conn, uint16_t code, std::string_view reason) override;

 protected:
  SessionBase(Conns& conns, Membership& membership) : conns_(conns), membership_(membership) {}
  ~SessionBase() = default;
  // The connection is an open WebSocket or HTTP stream that is not closing.
  bool usable(uint32_t conn) const {
    const Conn& c = conns_[conn];
    return is_subscriber(c.protocol) && c.phase == Phase::open && !c.close_sent;
  }
  Session session(const Conn& c, uint32_t conn, std::string_view type) {
    return make_session(conn, conns_.public_id(c, conn), type);
  }
  // A JOIN refused: answered in the protocol's form (go-push: an ERROR frame).
  virtual void join_refused(Conn& c, uint32_t conn, std::string_view room, const JoinOutcome& outcome) = 0;

  Conns& conns_;
  Membership& membership_;
};

}  // namespace ringcast
