// A shard: one thread, one io_uring, its own SO_REUSEPORT listeners (client and API ports), a slab of
// connections, a room index, a timer wheel and a cursor into the broadcast ring. Everything here is
// touched by the shard's own thread only; the only shared things are the ring and the stats blocks.
#pragma once

#include <sys/uio.h>

#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "engine/conn/access.h"
#include "engine/codec/command.h"
#include "engine/config.h"
#include "engine/settings.h"
#include "engine/conn/conn.h"
#include "engine/routes/demo.h"
#include "engine/broadcast/fanout.h"
#include "engine/codec/http.h"
#include "engine/hooks.h"
#include "engine/routes/http_api.h"
#include "engine/node/presence.h"
#include "engine/conn/nano_conn.h"
#include "engine/broadcast/publish.h"
#include "engine/broadcast/room.h"
#include "engine/broadcast/frames.h"
#include "engine/node/shm.h"
#include "engine/shard/timer_wheel.h"
#include "engine/shard/uring_io.h"
#ifdef RINGCAST_SIM
#include "engine/shard/sim_io.h"
#endif

namespace ringcast {

// The I/O seam is chosen at build time: io_uring, or the deterministic simulator's network (the `sim`
// test suite compiles the shard again with RINGCAST_SIM). No virtual call on the hot path either way.
#ifdef RINGCAST_SIM
using Io = SimIo;
#else
using Io = UringIo;
#endif

struct ShardSetup {
  const Config* config = nullptr;
  const Settings* settings = nullptr;  // the config resolved (settings.h), shared by the node
  SharedHeader* shared = nullptr;
  Ring ring;
  uint32_t index = 0;        // consumer slot and stats block
  uint32_t shard_count = 0;  // stats blocks to sum for /stats
  int client_listen_fd = -1;
  int api_listen_fd = -1;
  int wake_fd = -1;          // eventfd producers write when this shard sleeps
  uint16_t api_port = 0;     // the push API's bound port (the demo page's "curl" hint)
  RoomTable room_table;      // node-wide rooms (all shards, all workers): cluster interest, roomCount
  PresenceBoard presence;    // presence mailboxes, one per shard (invalid: this shard answers alone)
};

class Shard {
 public:
  explicit Shard(const ShardSetup& setup);
  ~Shard();
  Shard(const Shard&) = delete;
  Shard& operator=(const Shard&) = delete;

  // Sets up the io_uring, buffers and accepts; must run on the thread that then calls run().
  // False (with a message) when the shard cannot start.
  bool setup(std::string& error);
  // Runs the loop until the node stops and every connection is closed.
  void run();
  // One turn of the loop (see run()); false once the node stopped and every connection is closed.
  bool step();

  // What the shard still holds, for the simulator's checkers.
  Io& io() { return io_; }
  uint32_t connections_live() const { return slab_.live(); }
  size_t frames_live() const { return frames_.frames_live(); }
  size_t epochs_live() const { return frames_.epochs_live(); }

  // Parser callbacks (see ws::FrameParser), public for the sink adapter.
  void on_ws_message(uint32_t id, ws::Opcode op, std::span<uint8_t> payload);
  void on_ws_control(uint32_t id, ws::Opcode op, std::span<uint8_t> payload);
  void on_ws_error(uint32_t id, uint16_t code, std::string_view reason);
  // Fan-out callback: queue a PUSH frame on a member.
  void deliver(uint32_t id, FrameId frame);
  // Fan-out callback for a push to one connection id: the local connection it names, if open, else kNil.
  uint32_t resolve_conn(std::string_view conn_id) const;

  // What a hook's Session does (hooks.h); each checks the connection is still open.
  std::string_view session_uid(uint32_t id) const;
  void session_send(uint32_t id, std::string_view type, std::string_view data_json);
  void session_raw(uint32_t id, std::string_view text);
  std::string_view session_join(uint32_t id, std::string_view room);
  bool session_leave(uint32_t id, std::string_view room);
  bool session_in_room(uint32_t id, std::string_view room) const;
  void session_close(uint32_t id, uint16_t code, std::string_view reason);
  void session_reply(uint32_t id, std::string_view type, std::string_view data_json);
  void session_error(uint32_t id, std::string_view code, std::string_view message);

 private:
  friend class NanoConns;  // the Pomelo connections' logic (nano_conn.cpp) drives this shard's queues
  enum class Op : uint8_t { accept_client = 1, accept_api, recv, send, wake };
  static constexpr int kMaxIov = 32;

  static uint64_t user_data(Op op, uint32_t generation, uint32_t id) {
    return (static_cast<uint64_t>(op) << 56) | (static_cast<uint64_t>(generation & 0xFFFFFF) << 32) | id;
  }

  void update_clock();
  void on_completion(const Completion& c);
  void on_accept(ConnKind kind, const Completion& c);
  void admit(ConnKind kind, int fd);  // a new connection (from an accept completion or accept4)
  void on_recv(uint32_t id, const Completion& c);
  void on_send(uint32_t id, const Completion& c);

  void handle_handshake(Conn& c, uint32_t id, uint8_t* data, size_t len);
  bool check_access(Conn& c, uint32_t id, const http::Request& req);
  void serve_demo_request(Conn& c, uint32_t id, const http::Request& req, std::string_view rest);
  void handle_ws_bytes(Conn& c, uint32_t id, uint8_t* data, size_t len);
  void handle_api_bytes(Conn& c, uint32_t id, const uint8_t* data, size_t len);
  void handle_command(Conn& c, uint32_t id, const uint8_t* data, size_t len);
  bool session_usable(uint32_t id);
  std::string_view join_room(Conn& c, uint32_t id, std::string_view room, const Command* cmd, bool authorize);
  uint64_t public_conn_id(const Conn& c, uint32_t id) const;
  bool prepare_recovery(const Command& cmd, uint64_t& position);
  void handle_bind(Conn& c, uint32_t id, std::string_view uid);
  void bind_user(Conn& c, uint32_t id, std::string_view uid);
  std::string conn_id_text(const Conn& c, uint32_t id) const;
  // presence_events: a join or leave event item for the room's members.
  void publish_presence_event(const Conn& c, uint32_t id, std::string_view event, std::string_view room,
                              std::string_view uid);

  // Presence (presence.h): API connections waiting for the other shards' answers, oldest first; the
  // front one's query is in flight.
  struct ParkedQuery {
    uint32_t id;
    uint32_t generation;
    bool keep;
    PresenceQuery query;
  };
  void park_presence(Conn& c, uint32_t id, bool keep);
  void poll_presence();
  bool parked(uint32_t id, uint32_t generation) const;

  void queue_frame(Conn& c, uint32_t id, FrameId frame);
  void queue_copy(Conn& c, uint32_t id, std::string_view bytes);
  void queue_ws(Conn& c, uint32_t id, ws::Opcode op, std::string_view payload);
  void schedule_flush(Conn& c, uint32_t id);
  void flush_sends();
  void issue_send(Conn& c, uint32_t id, int64_t flush_ns);

  void http_error_and_close(Conn& c, uint32_t id, std::string_view response);
  void close_ws(Conn& c, uint32_t id, uint16_t code, std::string_view reason, bool slow_consumer = false);
  void leave_rooms(Conn& c, uint32_t id);
  void after_flush(Conn& c, uint32_t id);
  void terminate(Conn& c, uint32_t id);
  void maybe_release(Conn& c, uint32_t id);
  void cut_slow_consumer(Conn& c, uint32_t id);
  void process_cuts();
  void relieve_ring_pressure();
  void resync_room_table();
  void log_limits(bool report = true);  // report false: only take the current counts as the base

  void on_timer(uint32_t id);
  void arm_timer_ms(uint32_t id, uint64_t from_tick, uint32_t ms);
  void begin_shutdown();
  void arm_accepts();

  ShardSetup setup_;
  const Config& config_;
  ShardStats& stats_;
  Io io_;
  ConnSlab slab_;
  Frames frames_;
  RoomIndex rooms_;
  TimerWheel timers_;
  Fanout fanout_;
  Publisher publisher_;
  ApiContext api_;
  uint64_t room_table_epoch_ = 0;  // the table's resync epoch this shard's rooms are in
  std::deque<ParkedQuery> parked_;
  PresenceAsk ask_;
  bool asking_ = false;
  uint64_t ask_tickets_ = 0;
  uint32_t incarnation_ = 0;       // this shard's starts (connection ids)
  std::string token_user_;         // the uid of the connect token being checked (check_access)
  DemoContext demo_;
  std::unordered_map<uint32_t, TokenBucket> demo_buckets_;  // --demo: per connection id, while it lives
  // Access control (docs/security.md): parsed once from the config.
  std::vector<std::string> allowed_origins_;
  GrantTable grants_;                 // connect tokens' room grants, shared by index (Conn::grant)
  std::string token_storage_;         // the connect token, percent-decoded from the query
  RoomCharset room_charset_ = RoomCharset::utf8;
  // Open connections by kind: clients have conns_per_shard_max slots and the API its own
  // api_conns_per_shard_max, so a flood of clients cannot lock the backend out of the push API.
  uint32_t live_clients_ = 0;
  uint32_t live_api_ = 0;
  simdjson::dom::parser command_parser_;
  std::vector<msghdr*> send_msgs_;  // the msghdr of each multi-frame send in flight (Conn::send_slot)
  std::vector<uint32_t> free_send_msgs_;
  std::vector<uint32_t> flush_list_;
  std::vector<uint32_t> cuts_;
  std::string scratch_;          // chunked-body decoding for the API parser
  std::string api_out_;          // responses built for one batch of API requests
  std::string pong_bytes_;       // the go-push PONG as a complete frame
  std::string epoch_text_;       // the ring's epoch as 16 hex digits (JOINED markers)
  // Recovery: the PUSH frames (complete, with their item counts) replayed to a JOIN with `since`,
  // built before the connection joins and queued after.
  std::vector<std::pair<std::string, uint32_t>> replay_frames_;  // (ReplayFrame, history.h)
  std::string replay_body_;
  FrameId pong_frame_ = kNil;
  uint64_t wake_value_ = 0;      // eventfd read target
  int64_t now_ns_ = 0;
  uint64_t now_tick_ = 0;
  bool accept_armed_client_ = false;
  bool accept_armed_api_ = false;
  int64_t accept_retry_ns_ = 0;  // after EMFILE/ENFILE: when to try accepting again
  int64_t accept_error_logged_ns_ = 0;  // accept back-off: logged at most once per kLimitLogNs
  uint32_t accept_backoffs_ = 0;          // back-offs since that line
  // Limits hit (slow-consumer cuts, 503s, 429s): summarised in one line per kLimitLogNs with counts.
  int64_t limits_logged_ns_ = 0;  // when the last such line was written (0: never)
  int64_t limits_seen_[9] = {};
  int64_t pressure_checked_ns_ = 0;
  bool stopping_ = false;
  int64_t drain_deadline_ns_ = 0;
  NanoConns nano_{*this};  // last: its constructor uses the sender
};

}  // namespace ringcast
