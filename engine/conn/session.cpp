// ringcast::Session (hooks.h) over its connection's SessionHost, and what every protocol's sessions
// share (see session.h).
#include "engine/conn/session.h"

namespace ringcast {

std::string_view Session::uid() const {
  return host_->session_uid(conn_);
}

void Session::send(std::string_view type, std::string_view data_json) {
  host_->session_send(conn_, type, data_json);
}

void Session::reply(std::string_view data_json) {
  host_->session_reply(conn_, type_, data_json);
}

void Session::error(std::string_view code, std::string_view message) {
  host_->session_error(conn_, code, message);
}

std::string_view Session::join(std::string_view room) {
  return join_refusal_code(host_->session_join(conn_, room));
}

bool Session::leave(std::string_view room) {
  return host_->session_leave(conn_, room);
}

bool Session::in_room(std::string_view room) const {
  return host_->session_in_room(conn_, room);
}

void Session::close(uint16_t code, std::string_view reason) {
  host_->session_close(conn_, code, reason);
}

JoinRefusal SessionBase::session_join(uint32_t conn, std::string_view room) {
  if (!usable(conn)) return JoinRefusal::closed;
  Conn& c = conns_[conn];
  const JoinOutcome outcome = membership_.join(c, conn, room, nullptr, nullptr);
  if (outcome.refusal != JoinRefusal::none && outcome.refusal != JoinRefusal::closed)
    join_refused(c, conn, room, outcome);
  return outcome.refusal;
}

bool SessionBase::session_leave(uint32_t conn, std::string_view room) {
  if (!usable(conn)) return false;
  return membership_.leave(conns_[conn], conn, room, /*announce=*/false);
}

void SessionBase::session_close(uint32_t conn, uint16_t code, std::string_view reason) {
  if (!usable(conn)) return;
  conns_.close_ws(conns_[conn], conn, code, reason);
}

}  // namespace ringcast
