// One-way HTTP stream connections (see stream.h).
#include "engine/conn/stream.h"

#include <cstdlib>
#include <cstring>

#include "engine/base/check.h"
#include "engine/codec/command.h"
#include "engine/codec/handshake.h"
#include "engine/codec/json_writer.h"
#include "engine/limits.h"

namespace ringcast {
namespace {

// The payload of a whole unmasked server frame (recovery's replay frames are go-push PUSH frames).
std::string_view server_payload(std::string_view frame) {
  if (frame.size() < 2) return {};
  const uint8_t len7 = static_cast<uint8_t>(frame[1]) & 0x7F;
  const size_t header = len7 < 126 ? 2 : len7 == 126 ? 4 : 10;
  return frame.size() < header ? std::string_view() : frame.substr(header);
}

}  // namespace

StreamConns::StreamConns(const Config& config, ShardStats& stats, Conns& conns, Sender& sender,
                         Frames& frames, Membership& membership)
    : SessionBase(conns, membership), config_(config), stats_(stats), sender_(sender), frames_(frames) {
  for (stream::Kind k : {stream::Kind::sse, stream::Kind::ndjson}) {
    const size_t i = static_cast<size_t>(k);
    heartbeat_bytes_[i] = stream::heartbeat_chunk(k);
    heartbeat_frame_[i] =
        frames_.permanent_frame(reinterpret_cast<const uint8_t*>(heartbeat_bytes_[i].data()),
                                static_cast<uint32_t>(heartbeat_bytes_[i].size()));
  }
}

void StreamConns::open(Conn& c, uint32_t id, const UpgradeDecision& decision) {
  c.protocol = decision.route == UpgradeRoute::sse ? Protocol::sse : Protocol::ndjson;
  c.phase = Phase::open;
  membership_.open(c, id, decision.grant.user);
  // The application decides before anything is sent, so that its refusal is a plain 403 rather than
  // a stream that carries nothing.
  if (config_.hooks && config_.hooks->authorize_join) {
    std::string reason;
    for (const std::string& room : decision.stream.rooms) {
      Session s = session(c, id, {});
      if (config_.hooks->authorize_join(s, room, reason)) {
        if (c.phase != Phase::open || c.close_sent) return;  // the hook closed it
        continue;
      }
      stats_.add(Counter::joins_refused);
      stats_.add(Counter::joins_forbidden);
      stats_.add(Counter::handshakes_failed);
      membership_.leave_all(c, id);
      conns_.answer_and_close(
          c, id,
          handshake::build_error_response(403, reason.empty() ? "refused by the application" : reason));
      return;
    }
  }
  std::string head = stream::response_head(kind(c), decision.allow_origin);
  head += stream::first_chunk(kind(c), limits::kStreamRetryMs);
  if (!sender_.write_now(c, id, head)) {
    conns_.terminate(c, id);
    return;
  }
  stats_.add(Counter::streams_opened);
  c.encoding = c.protocol == Protocol::sse ? Encoding::sse : Encoding::ndjson;
  for (const std::string& room : decision.stream.rooms) join(c, id, room, decision.stream);
  conns_.arm_ms(id, config_.stream_heartbeat_ms);
}

// One room of the subscription: joined like a go-push JOIN with `since` (null when the request gave no
// position), so the replay (if any) goes first, then the joined marker, whose id is the room's
// position: a browser that reconnects before the room's next push resumes from there.
void StreamConns::join(Conn& c, uint32_t id, const std::string& room, const stream::Query& query) {
  Resume resume;
  resume.since_now = !query.has_since;
  resume.since = query.since;
  resume.epoch = query.epoch;
  const JoinOutcome outcome = membership_.join(c, id, room, nullptr, &resume);
  if (outcome.refusal != JoinRefusal::none) {
    if (outcome.refusal != JoinRefusal::closed) join_refused(c, id, room, outcome);
    return;
  }
  if (!resume.settled) return;
  scratch_.clear();
  uint32_t replayed = 0;
  for (auto& [bytes, items] : membership_.replay()) {
    if (stream::append_push_chunk(scratch_, kind(c), server_payload(bytes))) replayed += items;
  }
  membership_.replay().clear();
  if (!scratch_.empty()) {
    auto* copy = static_cast<uint8_t*>(std::malloc(scratch_.size()));
    RC_ASSERT(copy != nullptr);
    std::memcpy(copy, scratch_.data(), scratch_.size());
    sender_.queue(c, id, frames_.owned_frame(copy, static_cast<uint32_t>(scratch_.size()), replayed, true));
  }
  if (query.has_since) stats_.add(resume.recovered ? Counter::recoveries : Counter::recoveries_failed);
  stats_.add(Counter::items_replayed, replayed);
  joined(c, id, room, resume.position, resume.recovered);
}

void StreamConns::joined(Conn& c, uint32_t id, std::string_view room, uint64_t position, bool recovered) {
  std::string data;
  JsonWriter json(data);
  json.begin_object().key("room").string(room).key("seq").number(static_cast<int64_t>(position));
  json.key("epoch").string(membership_.epoch_text()).key("recovered").boolean(recovered);
  json.key("conn").string(conns_.id_text(c, id)).end_object();  // the target of POST /push/conn
  scratch_.clear();
  stream::append_message_chunk(scratch_, kind(c), "joined", "JOINED", data, position);
  queue_chunk(c, id, scratch_);
}

void StreamConns::finish_recovery(uint32_t ticket, uint64_t position, bool recovered) {
  const PendingRecovery* p = membership_.pending_recovery(ticket);
  if (!p) return;
  const uint32_t id = p->conn;
  if (!usable(id) || conns_[id].generation != p->generation) return membership_.drop_recovery(ticket);
  const std::string room = p->room;
  if (!p->since_now) stats_.add(recovered ? Counter::recoveries : Counter::recoveries_failed);
  stats_.add(Counter::items_replayed, p->replayed);
  membership_.finish_recovery(conns_[id], ticket);
  joined(conns_[id], id, room, position, recovered);
}

void StreamConns::on_timer(Conn& c, uint32_t id) {
  if (c.phase != Phase::open || c.close_sent) return;
  sender_.queue(c, id, heartbeat_frame_[static_cast<size_t>(kind(c))]);
  conns_.arm_ms(id, config_.stream_heartbeat_ms);
}

void StreamConns::closing(Conn& c, uint32_t id, std::string_view reason) {
  if (c.encoding == Encoding::none) {
    // Closed before its 200 went out (an authorize_join hook closed the session): an HTTP answer,
    // not stream events the client would read as garbage.
    queue_chunk(c, id,
                handshake::build_error_response(403, reason.empty() ? "closed by the application" : reason));
    return;
  }
  std::string data;
  JsonWriter(data).begin_object().key("reason").string(reason).end_object();
  scratch_.clear();
  stream::append_message_chunk(scratch_, kind(c), "close", "CLOSE", data);
  scratch_ += stream::kLastChunk;
  queue_chunk(c, id, scratch_);
}

void StreamConns::session_send(uint32_t conn, std::string_view type, std::string_view data_json) {
  if (!usable(conn)) return;
  scratch_.clear();
  stream::append_message_chunk(scratch_, kind(conns_[conn]), "message", type,
                               data_json.empty() ? std::string_view("null") : data_json);
  queue_chunk(conns_[conn], conn, scratch_);
}

void StreamConns::session_error(uint32_t conn, std::string_view code, std::string_view message) {
  if (!usable(conn)) return;
  std::string data;
  JsonWriter(data).begin_object().key("code").string(code).key("message").string(message).end_object();
  session_send(conn, "ERROR", data);
}

void StreamConns::join_refused(Conn& c, uint32_t id, std::string_view room, const JoinOutcome& outcome) {
  std::string data;
  JsonWriter json(data);
  json.begin_object()
      .key("code")
      .string(join_refusal_code(outcome.refusal))
      .key("message")
      .string(outcome.message);
  if (outcome.names_room) json.key("room").string(room);
  json.end_object();
  scratch_.clear();
  stream::append_message_chunk(scratch_, kind(c), "message", "ERROR", data);
  queue_chunk(c, id, scratch_);
}

}  // namespace ringcast
