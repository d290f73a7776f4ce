// A shard: one thread, one io_uring, its own SO_REUSEPORT listeners (client and API ports) and a cursor
// into the broadcast ring. The shard is the loop and nothing else: it reaps completions and hands each
// to the unit it belongs to (a connection's bytes to the handler of its protocol, a send's result to
// the lifecycle), drains the ring into the fan-out, runs the timers, flushes the sends and sleeps.
// Everything here is touched by the shard's own thread only; the ring and the stats blocks are shared.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "engine/broadcast/encodings.h"
#include "engine/broadcast/fanout.h"
#include "engine/broadcast/frames.h"
#include "engine/broadcast/publish.h"
#include "engine/broadcast/room.h"
#include "engine/broadcast/sender.h"
#include "engine/config.h"
#include "engine/conn/api_conn.h"
#include "engine/conn/conns.h"
#include "engine/conn/delivery.h"
#include "engine/conn/gopush.h"
#include "engine/conn/http_conn.h"
#include "engine/conn/membership.h"
#include "engine/conn/nano.h"
#include "engine/conn/stream.h"
#include "engine/conn/tls.h"
#include "engine/node/limit_log.h"
#include "engine/node/presence.h"
#include "engine/node/room_table.h"
#include "engine/node/shm.h"
#include "engine/settings.h"
#include "engine/shard/io.h"

namespace ringcast {

struct ShardSetup {
  const Config* config = nullptr;
  const Settings* settings = nullptr;  // the config resolved (settings.h), shared by the node
  SharedHeader* shared = nullptr;
  Ring ring;
  uint32_t index = 0;        // consumer slot and stats block
  uint32_t shard_count = 0;  // stats blocks to sum for /stats
  int client_listen_fd = -1;
  int api_listen_fd = -1;
  int wake_fd = -1;        // eventfd producers write when this shard sleeps
  uint16_t api_port = 0;   // the push API's bound port (the demo page's "curl" hint)
  RoomTable room_table;    // node-wide rooms (all shards, all workers): cluster interest, roomCount
  PresenceBoard presence;  // presence mailboxes, one per shard (invalid: this shard answers alone)
  // TLS listeners: a context reference each for the shard to take over (nullptr: plain), and the
  // mailbox SIGHUP's reloads post new ones to.
  SSL_CTX* client_tls = nullptr;
  SSL_CTX* api_tls = nullptr;
  TlsMailbox* tls_mailbox = nullptr;
  bool tls_kernel_tx = false;  // sending keys go to the kernel after the handshake (kTLS)
};

class Shard final {
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
  uint32_t connections_live() const { return conns_.live(); }
  size_t frames_live() const { return frames_.frames_live(); }
  size_t epochs_live() const { return frames_.epochs_live(); }

 private:
  void on_completion(const Completion& c);
  void on_accept(Protocol protocol, const Completion& c);
  void admit(Protocol protocol, int fd);
  void on_recv(uint32_t id, const Completion& c);
  void on_bytes(Conn& c, uint32_t id, uint8_t* data, size_t len);
  void on_tls_bytes(Conn& c, uint32_t id, const uint8_t* data, size_t len);
  bool on_tls_timer(Conn& c, uint32_t id);
  void opened(Conn& c, uint32_t id, const Upgraded& upgraded);
  void on_send(uint32_t id, const Completion& c);
  void on_timer(uint32_t id);

  // The lifecycle's events (ConnEvents), each to the unit it concerns.
  void leaving(Conn& c, uint32_t id) { membership_.leave_all(c, id); }
  void closing(Conn& c, uint32_t id, std::string_view reason);
  void released(Conn& c, uint32_t id);

  void arm_accepts();
  void begin_shutdown();
  void relieve_ring_pressure();
  void resync_room_table();
  void on_room_freed(RoomId id);
  bool replay_wanted(const RingEntry& e) const;
  void on_replay(const RingEntry& e, FrameId frame);
  void finish_recovery(uint32_t ticket, uint64_t position, bool recovered);
  void expire_recoveries(int64_t now_ns);

  ShardSetup setup_;
  const Config& config_;
  const Settings& settings_;
  ShardStats& stats_;
  Io io_;
  // The data flow's units, in the order they are built: frames and sends, connections, rooms and
  // the fan-out, then each protocol's connections.
  ConnSlab slab_;
  Frames frames_;
  TlsStreams tls_;
  Sender sender_;
  Conns conns_;
  RoomIndex rooms_;
  Encodings encodings_;
  Delivery delivery_;
  Fanout fanout_;
  Publisher publisher_;
  Membership membership_;
  GoPushConns gopush_;
  NanoConns nano_;
  StreamConns streams_;
  HttpConns http_;
  ApiConns api_;
  LimitLog limit_log_;
  uint64_t room_table_epoch_ = 0;  // the table's resync epoch this shard's rooms are in
  uint64_t wake_value_ = 0;        // eventfd read target
  bool accept_armed_client_ = false;
  bool accept_armed_api_ = false;
  int64_t accept_retry_ns_ = 0;         // after EMFILE/ENFILE: when to try accepting again
  int64_t accept_error_logged_ns_ = 0;  // accept back-off: logged at most once per kLimitLogNs
  uint32_t accept_backoffs_ = 0;        // back-offs since that line
  int64_t pressure_checked_ns_ = 0;
  bool stopping_ = false;
  int64_t drain_deadline_ns_ = 0;
  std::vector<uint32_t> expired_;  // scratch: JOINs whose replay wait ended this turn
};

}  // namespace ringcast
