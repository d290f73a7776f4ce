// One-way HTTP stream connections (SSE on sse_path, NDJSON on stream_path): a subscription request the
// client port's decision accepted (upgrade.h) is answered 200 with a chunked body that never ends; its
// rooms are joined through the membership like a WebSocket's JOINs (recovery's replay and a joined
// marker per room), and from then on the fan-out's frames reach it in its encoding (Encoding::sse or
// ndjson, built once per shard per frame). Also its heartbeats and its last words when we close it.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "engine/broadcast/frames.h"
#include "engine/broadcast/sender.h"
#include "engine/codec/stream.h"
#include "engine/config.h"
#include "engine/conn/conns.h"
#include "engine/conn/membership.h"
#include "engine/conn/session.h"
#include "engine/conn/upgrade.h"
#include "engine/node/stats.h"

namespace ringcast {

class StreamConns final : public SessionBase {
 public:
  StreamConns(const Config& config, ShardStats& stats, Conns& conns, Sender& sender, Frames& frames,
              Membership& membership);
  StreamConns(const StreamConns&) = delete;
  StreamConns& operator=(const StreamConns&) = delete;

  // The client port accepted a subscription (decision.route sse or ndjson; its grant, if any, is held
  // in c.grant): the application's authorize_join is asked for every room (a refusal is a 403), then
  // the 200 and the first chunk go out, each room is joined with its replay and joined marker, and
  // pushes follow.
  void open(Conn& c, uint32_t id, const UpgradeDecision& decision);
  // A client has nothing to say on a one-way stream: what it sends is read and dropped.
  void on_bytes(Conn&, uint32_t, uint8_t*, size_t) {}
  // JetStream recovery: the bridge's replay for one of its rooms is in (its items went out through the
  // fan-out in this stream's encoding): the room is joined and its joined marker goes out.
  void finish_recovery(uint32_t ticket, uint64_t position, bool recovered);
  // stream_heartbeat_ms passed: a heartbeat chunk.
  void on_timer(Conn& c, uint32_t id);
  // A close we start: the close event (SSE) or CLOSE line (NDJSON), then the last chunk.
  void closing(Conn& c, uint32_t id, std::string_view reason);

  void session_send(uint32_t conn, std::string_view type, std::string_view data_json) override;
  void session_reply(uint32_t conn, std::string_view type, std::string_view data_json) override {
    session_send(conn, type, data_json);
  }
  void session_error(uint32_t conn, std::string_view code, std::string_view message) override;

 private:
  void join_refused(Conn& c, uint32_t id, std::string_view room, const JoinOutcome& outcome) override;
  void join(Conn& c, uint32_t id, const std::string& room, const stream::Query& query);
  // The room's joined marker: its id is the position a browser resumes from.
  void joined(Conn& c, uint32_t id, std::string_view room, uint64_t position, bool recovered);
  static stream::Kind kind(const Conn& c) {
    return c.protocol == Protocol::sse ? stream::Kind::sse : stream::Kind::ndjson;
  }
  // Queues a copy of `chunk` (a reply to this connection only).
  void queue_chunk(Conn& c, uint32_t id, std::string_view chunk) { sender_.queue_copy(c, id, chunk); }

  const Config& config_;
  ShardStats& stats_;
  Sender& sender_;
  Frames& frames_;
  std::string heartbeat_bytes_[2];  // per stream::Kind
  FrameId heartbeat_frame_[2] = {kNil, kNil};
  std::string scratch_;
};

}  // namespace ringcast
