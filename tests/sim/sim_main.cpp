// The deterministic simulation (meson suite `sim`): K shards, compiled over SimIo, run on this one
// thread around one broadcast ring, with random WebSocket clients (joins, leaves, pings, slow readers,
// closes, resets), publishers on the Publisher API and backends on the push API (HTTP), while the
// simulated kernel delays, reorders and fails operations. Clients decode what they receive, and the
// checkers assert what a client may observe: per room and publisher, items in order and never twice;
// loss only through a slow-consumer close that the stats counted; everything released at the end.
// One seed is one run; a failing seed is printed with the command that replays it exactly.
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "engine/base/clock.h"
#include "engine/base/log.h"
#include "engine/broadcast/publish.h"
#include "engine/codec/deflate.h"
#include "engine/codec/frame.h"
#include "engine/config.h"
#include "engine/node/shm.h"
#include "engine/node/stats.h"
#include "engine/settings.h"
#include "engine/shard/shard.h"
#include "engine/shard/sim_io.h"

namespace ringcast {
namespace {

// A checker's verdict: thrown from the simulator's own code only, never through a shard.
struct SimFailure : std::runtime_error {
  using std::runtime_error::runtime_error;
};

[[noreturn]] void fail(const std::string& what) {
  throw SimFailure(what);
}

constexpr int64_t kMs = 1000 * 1000;
constexpr uint32_t kPublishersMax = 4;
const std::string kAllRoom = "*";  // the room name clients file push/all items under

// ---- what publishers publish, so that a client can check every item it gets ----

// The filler text of item (room, publisher, seq): its length and letters follow from the three, so a
// client detects an item whose bytes were corrupted (say, a ring entry overwritten while referenced).
std::string filler(const std::string& room, uint32_t publisher, uint64_t seq, uint32_t max_len) {
  uint64_t x = 1469598103934665603ull;
  for (char ch : room) x = (x ^ static_cast<uint8_t>(ch)) * 1099511628211ull;
  x ^= (static_cast<uint64_t>(publisher) << 48) ^ seq;
  x *= 0x9E3779B97F4A7C15ull;
  const size_t len = max_len ? (x >> 20) % max_len : 0;
  std::string out(len, 'a');
  for (size_t i = 0; i < len; ++i) {
    x = x * 6364136223846793005ull + 1442695040888963407ull;
    out[i] = static_cast<char>('a' + (x >> 33) % 26);
  }
  return out;
}

std::string item_json(const std::string& room, uint32_t publisher, uint64_t seq, uint32_t filler_max) {
  return R"({"r":")" + room + R"(","p":)" + std::to_string(publisher) + R"(,"s":)" + std::to_string(seq) +
         R"(,"f":")" + filler(room, publisher, seq, filler_max) + "\"}";
}

// ---- the simulated clients ----

enum class ClientState : uint8_t { handshake, open, closing, refused, closed };

struct RoomRun {
  bool member = true;                 // false after our LEAVE, until its marker confirms the server has it
  bool acked = false;                 // the server has processed our JOIN (the PONG after it arrived)
  std::map<uint32_t, uint64_t> last;  // per publisher: the last seq received in this membership
};

// A PING sent right after a JOIN or LEAVE: the server answers commands in order, so its PONG marks
// the point in our stream after which the command is in effect.
struct Marker {
  enum Kind : uint8_t { none, join, leave } kind = none;
  std::string room;
};

struct Client {
  uint32_t id = 0;
  uint32_t socket = 0;
  ClientState state = ClientState::handshake;
  bool head_seen = false;
  std::string in;  // received bytes not parsed yet
  std::map<std::string, RoomRun> rooms;
  std::deque<Marker> markers;
  bool slow = false;  // not reading (a slow consumer)
  bool was_slow = false;
  int64_t slow_until_ns = 0;
  int64_t next_ping_ns = 0;
  bool self_closed = false;  // we closed or reset it
  bool saw_close = false;
  uint16_t close_code = 0;
  bool saw_eof = false;
  int http_status = 0;   // the answer to the upgrade
  bool deflate = false;  // offers permessage-deflate (every third client): compressed commands and pushes
  uint64_t gaps = 0;
  uint64_t items = 0;
};

// A backend publishing through the push API (HTTP on the API port), one request at a time on a
// keep-alive connection. Its items are numbered before the answer comes: a 503 (ring full) gives the
// numbers back for the next request; a connection lost with a request unanswered leaves its outcome
// unknown, so the publisher continues under a new id (a stream that may end early is no gap).
struct ApiPublisher {
  uint32_t id = 0;  // the publisher id in its items
  uint32_t socket = UINT32_MAX;
  std::string in;        // answer bytes not parsed yet
  bool waiting = false;  // a request is unanswered
  std::string room;      // the unanswered request's room and item count
  uint32_t count = 0;
};

struct Totals {
  uint64_t seeds = 0, clients = 0, items_received = 0, published = 0, ring_full = 0, slow_cuts = 0,
           refused = 0, fault_cuts = 0, sim_turns = 0, api_pushes = 0, compressed_frames = 0,
           commands_inflated = 0;
  uint64_t digest = 0;
};

class Simulation {
 public:
  Simulation(uint64_t seed, bool verbose, uint32_t trace_client)
      : seed_(seed), verbose_(verbose), trace_client_(trace_client), net_(seed, SimFaults{}) {
    clock::simulate(&net_.now_ns);  // the engine reads the virtual clock (engine/base/clock.h)
  }
  ~Simulation() {
    net_.tearing_down = true;
    shards_.clear();
  }

  void run(Totals& totals);

 private:
  SimRng& rng() { return net_.rng; }
  void choose_config();
  void start_shards();
  void turn(bool active);
  void check_seam();
  void publish_random();
  void api_act(ApiPublisher& a, bool active);
  void api_parse(ApiPublisher& a);
  bool publish(uint32_t publisher, const std::string& room, uint32_t count);
  void client_act(Client& c, bool active);
  void client_read(Client& c);
  void client_parse(Client& c);
  void on_text(Client& c, std::string_view payload);
  void on_item(Client& c, const std::string& room, uint32_t publisher, uint64_t seq, std::string_view fill);
  void send_frame(Client& c, ws::Opcode op, std::string_view payload);
  void send_command(Client& c, const std::string& json, Marker marker);
  void connect_client();
  bool quiet() const;
  void quiesce();
  void check_delivery();
  void shutdown_and_check();
  StatsTotals totals_now() const { return sum_stats(region_.header()->stats, shard_count_); }
  std::string where(const Client& c) {
    const SimSocket& s = net_.socket(c.socket);
    return "client " + std::to_string(c.id) + " (shard " + std::to_string(s.shard) + ", state " +
           std::to_string(static_cast<int>(c.state)) + ", close " + std::to_string(c.close_code) +
           (c.was_slow ? ", was slow" : "") + (c.self_closed ? ", closed itself" : "") +
           (s.fault_cut ? ", send fault" : "") + "): ";
  }

  uint64_t seed_;
  bool verbose_;
  uint32_t trace_client_;  // its commands and messages are printed (--trace); UINT32_MAX: none
  SimNet net_;
  Config config_;
  Settings settings_;
  SharedRegion region_;
  uint32_t shard_count_ = 0;
  std::vector<int> listeners_;      // client port, one per shard
  std::vector<int> api_listeners_;  // push API port, one per shard
  std::vector<std::unique_ptr<Shard>> shards_;
  std::vector<uint8_t> shard_done_;
  std::vector<size_t> frames_at_start_;
  std::unique_ptr<Publisher> publisher_;
  std::vector<std::string> room_names_;
  uint32_t publishers_ = 1;
  uint32_t filler_max_ = 16;
  uint32_t publish_per_mille_ = 100;
  uint32_t clients_max_ = 8;
  // published_[room][publisher]: the last seq committed (seqs are dense from 1).
  std::map<std::string, std::map<uint32_t, uint64_t>> published_;
  std::deque<Client> clients_;
  std::vector<ApiPublisher> api_publishers_;
  uint32_t next_publisher_id_ = kPublishersMax;  // ids from here on belong to API publishers
  uint64_t api_pushes_ = 0;
  simdjson::dom::parser json_;
  uint64_t ring_full_ = 0;
  uint64_t turns_ = 0;
  deflate::Deflater deflater_{6};  // the deflate clients' (no context takeover: one serves them all)
  deflate::Inflater inflater_;
  uint64_t digest_ = 1469598103934665603ull;  // FNV-1a of every byte clients read: equal runs, equal digests
};

void Simulation::choose_config() {
  Config& c = config_;
  c.conns_per_shard_max = rng().chance(200) ? static_cast<uint32_t>(rng().between(2, 8)) : 4096;
  const uint32_t windows[] = {0, 0, 2, 20};
  c.merge_window_ms = windows[rng().below(4)];
  const uint32_t batches[] = {1, 3, 100};
  c.merge_batch_items_max = batches[rng().below(3)];
  const size_t queues[] = {8 * 1024, 32 * 1024, 256 * 1024};
  c.out_queue_bytes_max = queues[rng().below(3)];
  c.merge_frame_bytes_max = std::min<size_t>(c.out_queue_bytes_max, rng().chance(500) ? 4096 : 256 * 1024);
  const size_t per_turn[] = {1024, 8 * 1024, 256 * 1024};
  c.send_bytes_per_iteration_max = per_turn[rng().below(3)];
  const size_t rings[] = {64 * 1024, 256 * 1024, 1024 * 1024};
  c.ring_bytes = rings[rng().below(3)];
  c.api_body_bytes_max = 4096;
  c.compression_min_bytes = 64;  // most merged frames, and some single items, go compressed
  c.recv_buffer_bytes = rng().chance(500) ? 512 : 4096;
  c.recv_buffer_count = rng().chance(500) ? 16 : 64;
  c.close_timeout_ms = static_cast<uint32_t>(rng().between(100, 2000));
  c.heartbeat_timeout_ms = 60000;
  c.rooms_max = 64;
  std::string error = validate(c);
  if (!error.empty()) fail("the simulation chose an invalid configuration: " + error);

  SimFaults& f = net_.faults;
  const bool hostile = rng().chance(500);
  const auto scale = [&](uint32_t v) { return hostile ? v : static_cast<uint32_t>(rng().below(v + 1)); };
  f.delay = scale(f.delay);
  f.stall = scale(f.stall);
  f.short_send = scale(f.short_send);
  f.send_retry = scale(f.send_retry);
  f.send_error = scale(f.send_error);
  f.recv_split = scale(f.recv_split);
  f.recv_enobufs = scale(f.recv_enobufs);
  f.multishot_end = scale(f.multishot_end);
  f.accept_error = scale(f.accept_error);
  f.direct_send_short = scale(f.direct_send_short);

  shard_count_ = static_cast<uint32_t>(rng().between(1, 3));
  publishers_ = static_cast<uint32_t>(rng().between(1, kPublishersMax));
  const uint32_t fillers[] = {8, 200, 3000};
  filler_max_ = fillers[rng().below(3)];
  publish_per_mille_ = static_cast<uint32_t>(rng().between(20, 400));
  clients_max_ = static_cast<uint32_t>(rng().between(2, 24));
  const uint64_t rooms = rng().between(1, 6);
  for (uint64_t i = 0; i < rooms; ++i) room_names_.push_back("room" + std::to_string(i));
  if (verbose_)
    std::fprintf(stderr,
                 "sim: seed=%llu shards=%u publishers=%u rooms=%zu clients<=%u window=%ums batch=%u "
                 "out_queue=%zu ring=%zu faults=%s\n",
                 static_cast<unsigned long long>(seed_), shard_count_, publishers_, room_names_.size(),
                 clients_max_, c.merge_window_ms, c.merge_batch_items_max, c.out_queue_bytes_max,
                 c.ring_bytes, hostile ? "hostile" : "mild");
}

void Simulation::start_shards() {
  std::string error;
  const RoomTableShape shape{config_.rooms_max, static_cast<uint32_t>(config_.room_name_bytes_max)};
  if (!region_.create(config_.ring_bytes, shape, error)) fail("shared region: " + error);
  region_.header()->shard_count.store(shard_count_, std::memory_order_relaxed);
  settings_ = resolve_settings(config_);
  publisher_ = std::make_unique<Publisher>(settings_.publish);
  for (uint32_t i = 0; i < shard_count_; ++i) {
    ShardSetup setup;
    setup.config = &config_;
    setup.settings = &settings_;
    setup.shared = region_.header();
    setup.ring = region_.ring();
    setup.index = i;
    setup.shard_count = shard_count_;
    setup.client_listen_fd = net_.listen(i);
    setup.api_listen_fd = net_.listen(i);
    setup.wake_fd = -1;  // nobody to wake: the simulator runs every shard's turn itself
    setup.room_table = region_.room_table();
    listeners_.push_back(setup.client_listen_fd);
    api_listeners_.push_back(setup.api_listen_fd);
    auto shard = std::make_unique<Shard>(setup);
    shard->io().attach(&net_, i);
    if (!shard->setup(error)) fail("shard setup: " + error);
    frames_at_start_.push_back(shard->frames_live());
    shards_.push_back(std::move(shard));
  }
  shard_done_.assign(shard_count_, 0);
  api_publishers_.resize(rng().below(3));
  for (ApiPublisher& a : api_publishers_) a.id = next_publisher_id_++;
}

void Simulation::check_seam() {
  if (!net_.violations.empty()) fail("I/O seam misused: " + net_.violations.front());
}

// One turn of the world: clients act, publishers publish, then each shard (in a random order) gets
// its kernel's completions and runs one turn of its loop. Time moves on a little, or to the next
// deadline a shard asked to be woken for.
void Simulation::turn(bool active) {
  ++turns_;
  if (active && clients_.size() < 4096 && rng().chance(30)) connect_client();
  for (Client& c : clients_) client_act(c, active);
  if (active) publish_random();
  for (ApiPublisher& a : api_publishers_) api_act(a, active);
  std::vector<uint32_t> order(shard_count_);
  for (uint32_t i = 0; i < shard_count_; ++i) order[i] = i;
  for (size_t i = order.size(); i > 1; --i) std::swap(order[i - 1], order[rng().below(i)]);
  for (uint32_t i : order) {
    if (shard_done_[i]) continue;
    shards_[i]->io().progress();
    if (!shards_[i]->step()) shard_done_[i] = 1;
    check_seam();
  }
  int64_t step = static_cast<int64_t>(rng().below(kMs));
  if (rng().chance(20)) {
    // Jump to the earliest deadline a shard sleeps for (merge windows, timers), at most 250 ms.
    int64_t wake = net_.now_ns + 250 * kMs;
    for (uint32_t i = 0; i < shard_count_; ++i)
      if (!shard_done_[i]) wake = std::min(wake, shards_[i]->io().wake_at_ns());
    step = std::max<int64_t>(step, wake - net_.now_ns);
  }
  net_.now_ns += step;
}

void Simulation::connect_client() {
  size_t open = 0;
  for (const Client& c : clients_) open += c.state != ClientState::closed;
  if (open >= clients_max_) return;
  Client& c = clients_.emplace_back();
  c.id = static_cast<uint32_t>(clients_.size() - 1);
  // SO_REUSEPORT: the kernel picks the shard.
  const int listener = listeners_[rng().below(listeners_.size())];
  const size_t capacity = rng().between(1024, 64 * 1024);
  c.socket = net_.connect(listener, capacity);
  c.next_ping_ns = net_.now_ns + static_cast<int64_t>(rng().between(500, 5000)) * kMs;
  static constexpr std::string_view kRequest =
      "GET /connect HTTP/1.1\r\nHost: sim\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
  static constexpr std::string_view kDeflateRequest =
      "GET /connect HTTP/1.1\r\nHost: sim\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
      "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n\r\n";
  c.deflate = c.id % 3 == 1;  // (not drawn from the generator: the other clients' runs stay as they were)
  const std::string_view request = c.deflate ? kDeflateRequest : kRequest;
  net_.socket(c.socket).to_server.write(request.data(), request.size());
}

void Simulation::send_frame(Client& c, ws::Opcode op, std::string_view payload) {
  SimSocket& s = net_.socket(c.socket);
  if (s.to_server.eof || s.reset) return;
  std::string out(payload.size() + 14, '\0');
  const auto mask = static_cast<uint32_t>(rng().next());
  const size_t n =
      ws::encode_client_frame(reinterpret_cast<uint8_t*>(out.data()), op,
                              {reinterpret_cast<const uint8_t*>(payload.data()), payload.size()}, mask);
  s.to_server.write(out.data(), n);
}

void Simulation::send_command(Client& c, const std::string& json, Marker marker) {
  SimSocket& s = net_.socket(c.socket);
  if (c.id == trace_client_)
    std::fprintf(stderr, "sim: turn %llu client %u sends %s\n", static_cast<unsigned long long>(turns_), c.id,
                 json.c_str());
  if (s.to_server.eof || s.reset) return;
  // A deflate client compresses its commands (RSV1 on the message's first frame only).
  std::string compressed;
  if (c.deflate && !deflater_.compress(json, compressed)) fail("the simulation's deflater failed");
  const std::string& body = c.deflate ? compressed : json;
  const uint8_t rsv1 = c.deflate ? 0x40 : 0x00;
  if (body.size() > 8 && rng().chance(100)) {
    // A fragmented message, with a WebSocket ping between the fragments (RFC 6455 5.4 allows it).
    const size_t cut = rng().between(1, body.size() - 1);
    std::string out(body.size() + 64, '\0');
    auto* p = reinterpret_cast<uint8_t*>(out.data());
    const auto* j = reinterpret_cast<const uint8_t*>(body.data());
    size_t n =
        ws::encode_client_frame(p, ws::Opcode::text, {j, cut}, static_cast<uint32_t>(rng().next()), false);
    p[0] |= rsv1;
    n += ws::encode_client_frame(p + n, ws::Opcode::ping, {j, 0}, static_cast<uint32_t>(rng().next()));
    n += ws::encode_client_frame(p + n, ws::Opcode::continuation, {j + cut, body.size() - cut},
                                 static_cast<uint32_t>(rng().next()));
    s.to_server.write(out.data(), n);
  } else if (c.deflate) {
    std::string out(body.size() + 14, '\0');
    auto* p = reinterpret_cast<uint8_t*>(out.data());
    const size_t n = ws::encode_client_frame(p, ws::Opcode::text,
                                             {reinterpret_cast<const uint8_t*>(body.data()), body.size()},
                                             static_cast<uint32_t>(rng().next()));
    p[0] |= rsv1;
    s.to_server.write(out.data(), n);
  } else {
    send_frame(c, ws::Opcode::text, json);
  }
  if (marker.kind != Marker::none) {
    send_frame(c, ws::Opcode::text, R"({"type":"PING"})");
    c.markers.push_back(std::move(marker));
  }
}

void Simulation::client_act(Client& c, bool active) {
  SimSocket& s = net_.socket(c.socket);
  if (c.state == ClientState::closed) return;
  if (!active) c.slow = false;  // draining: everyone reads
  if (active && c.state == ClientState::open) {
    if (!c.slow && rng().chance(3)) {
      c.slow = c.was_slow = true;
      c.slow_until_ns = net_.now_ns + static_cast<int64_t>(rng().between(20, 3000)) * kMs;
    }
    if (c.slow && net_.now_ns >= c.slow_until_ns) c.slow = false;
    size_t joined = 0;
    for (auto& [room, run] : c.rooms) joined += room != kAllRoom && run.member;
    const uint64_t action = rng().below(1000);
    if (action < 15 && joined < config_.rooms_per_conn_max) {
      const std::string& room = room_names_[rng().below(room_names_.size())];
      auto it = c.rooms.find(room);
      if (it == c.rooms.end() || !it->second.member) {
        if (it == c.rooms.end()) it = c.rooms.emplace(room, RoomRun{}).first;
        it->second.member = true;
        it->second.acked = false;
        send_command(c, R"({"type":"JOIN","data":{"room":")" + room + "\"}}", Marker{Marker::join, room});
      }
    } else if (action < 22 && joined > 0) {
      std::vector<std::string> mine;
      for (auto& [room, run] : c.rooms)
        if (room != kAllRoom && run.member) mine.push_back(room);
      const std::string room = mine[rng().below(mine.size())];
      c.rooms[room].member = false;
      send_command(c, R"({"type":"LEAVE","data":{"room":")" + room + "\"}}", Marker{Marker::leave, room});
    } else if (action < 24) {
      send_frame(c, ws::Opcode::ping, "sim");
    } else if (action < 25) {
      // A clean close: our close frame, then the server's answer and the end of the stream.
      send_frame(c, ws::Opcode::close, std::string_view("\x03\xe8", 2));
      c.state = ClientState::closing;
      c.self_closed = true;
    } else if (action < 26 && rng().chance(300)) {
      // Gone without a word: a FIN, or a reset.
      c.self_closed = true;
      c.state = ClientState::closed;
      if (rng().chance(500)) {
        s.reset = true;
      } else {
        s.to_server.eof = true;
        s.client_gone = true;
      }
      return;
    }
  }
  if (c.state == ClientState::open && net_.now_ns >= c.next_ping_ns) {
    send_command(c, R"({"type":"PING"})", Marker{});
    c.markers.push_back(Marker{});
    c.next_ping_ns = net_.now_ns + static_cast<int64_t>(rng().between(500, 5000)) * kMs;
  }
  if (!c.slow) client_read(c);
}

void Simulation::client_read(Client& c) {
  SimSocket& s = net_.socket(c.socket);
  const size_t avail = s.to_client.size();
  if (avail > 0) {
    const size_t n = rng().chance(300) ? rng().between(1, avail) : avail;
    c.in.append(s.to_client.data(), n);
    for (size_t i = 0; i < n; ++i)
      digest_ = (digest_ ^ static_cast<uint8_t>(s.to_client.data()[i])) * 1099511628211ull;
    s.to_client.consume(n);
    client_parse(c);
  }
  if (s.to_client.size() == 0 && s.to_client.eof && c.state != ClientState::closed) {
    // The server's end of stream: we close our socket too.
    // (It may end inside a frame: a connection the server cut mid-send. The checks at the end decide
    // whether the cut was allowed.)
    c.saw_eof = true;
    c.state = ClientState::closed;
    s.to_server.eof = true;
    s.client_gone = true;
  }
}

void Simulation::client_parse(Client& c) {
  if (!c.head_seen) {
    const size_t end = c.in.find("\r\n\r\n");
    if (end == std::string::npos) return;
    c.head_seen = true;
    if (c.in.compare(0, 9, "HTTP/1.1 ") != 0) fail(where(c) + "not an HTTP answer: " + c.in.substr(0, 40));
    c.http_status = std::atoi(c.in.c_str() + 9);
    if (c.http_status != 101) {
      c.state = ClientState::refused;
      c.in.clear();
      return;
    }
    if (c.in.find("Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=") == std::string::npos)
      fail(where(c) + "101 without the right Sec-WebSocket-Accept");
    const bool agreed =
        c.in.substr(0, end + 2)
            .find(
                "\r\nSec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover; "
                "client_no_context_takeover\r\n") != std::string::npos;
    if (agreed != c.deflate)
      fail(where(c) + (c.deflate ? "permessage-deflate declined" : "an extension not offered"));
    c.in.erase(0, end + 4);
    c.state = c.state == ClientState::handshake ? ClientState::open : c.state;
    c.rooms.emplace(kAllRoom, RoomRun{true, true, {}});
  }
  if (c.state == ClientState::refused) {
    c.in.clear();
    return;
  }
  size_t at = 0;
  while (c.in.size() - at >= 2) {
    const auto* p = reinterpret_cast<const uint8_t*>(c.in.data() + at);
    const size_t have = c.in.size() - at;
    if (!(p[0] & 0x80)) fail(where(c) + "a fragmented server frame");
    if (p[1] & 0x80) fail(where(c) + "a masked server frame");
    if (p[0] & 0x30) fail(where(c) + "RSV2 or RSV3 set");
    const bool compressed = (p[0] & 0x40) != 0;
    if (compressed && !c.deflate) fail(where(c) + "a compressed frame to a client that did not agree to it");
    const auto op = static_cast<ws::Opcode>(p[0] & 0x0F);
    if (compressed && op != ws::Opcode::text) fail(where(c) + "RSV1 on a frame that is not a text message");
    uint64_t len = p[1] & 0x7F;
    size_t header = 2;
    if (len == 126) {
      if (have < 4) break;
      len = static_cast<uint64_t>(p[2]) << 8 | p[3];
      header = 4;
    } else if (len == 127) {
      if (have < 10) break;
      len = 0;
      for (int i = 0; i < 8; ++i) len = len << 8 | p[2 + i];
      header = 10;
    }
    if (have < header + len) break;
    std::string_view payload(c.in.data() + at + header, len);
    at += header + len;
    if (compressed) {
      if (inflater_.inflate(reinterpret_cast<const uint8_t*>(payload.data()), payload.size(), 64u << 20) !=
          deflate::InflateResult::ok)
        fail(where(c) + "a compressed frame that does not inflate");
      payload = {reinterpret_cast<const char*>(inflater_.output()), inflater_.output_size()};
    }
    if (c.saw_close) fail(where(c) + "a frame after the server's close frame");
    switch (op) {
      case ws::Opcode::text:
        on_text(c, payload);
        break;
      case ws::Opcode::close:
        c.saw_close = true;
        c.close_code = payload.size() >= 2 ? static_cast<uint16_t>(static_cast<uint8_t>(payload[0]) << 8 |
                                                                   static_cast<uint8_t>(payload[1]))
                                           : 1005;
        if (c.state == ClientState::open) {
          send_frame(c, ws::Opcode::close, payload.substr(0, 2));  // the echo completes the handshake
          c.state = ClientState::closing;
        }
        break;
      case ws::Opcode::pong:
        break;
      default:
        fail(where(c) + "unexpected server opcode " + std::to_string(static_cast<int>(op)));
    }
  }
  c.in.erase(0, at);
}

void Simulation::on_text(Client& c, std::string_view payload) {
  simdjson::dom::element doc;
  if (json_.parse(payload.data(), payload.size()).get(doc))
    fail(where(c) + "a text frame that is not JSON: " + std::string(payload.substr(0, 80)));
  std::string_view type;
  if (doc["type"].get_string().get(type)) fail(where(c) + "a message without a type");
  if (c.id == trace_client_)
    std::fprintf(stderr, "sim: turn %llu client %u gets %.*s\n", static_cast<unsigned long long>(turns_),
                 c.id, static_cast<int>(payload.size()), payload.data());
  if (type == "PONG") {
    if (c.markers.empty()) fail(where(c) + "a PONG nobody asked for (duplicated reply?)");
    Marker m = std::move(c.markers.front());
    c.markers.pop_front();
    if (m.kind == Marker::none) return;
    auto it = c.rooms.find(m.room);
    if (it == c.rooms.end()) fail(where(c) + "a marker for a room it never joined");
    // Commands for this room sent after this one and not answered yet: the room's state as the
    // client sees it now is theirs, not this command's.
    bool later = false;
    for (const Marker& next : c.markers) later = later || next.room == m.room;
    if (m.kind == Marker::join && !later) it->second.acked = it->second.member;
    if (m.kind == Marker::leave) {
      // From here on the old membership is over: a later JOIN starts a new run.
      it->second.last.clear();
      if (!later && !it->second.member) c.rooms.erase(it);
    }
    return;
  }
  if (type != "PUSH") fail(where(c) + "unexpected message: " + std::string(payload.substr(0, 200)));
  simdjson::dom::array items;
  if (doc.at_pointer("/data/items").get_array().get(items)) fail(where(c) + "a PUSH without items");
  for (simdjson::dom::element item : items) {
    std::string_view room, fill;
    uint64_t publisher = 0, seq = 0;
    if (item["r"].get_string().get(room) || item["p"].get_uint64().get(publisher) ||
        item["s"].get_uint64().get(seq) || item["f"].get_string().get(fill))
      fail(where(c) + "a malformed item in " + std::string(payload.substr(0, 200)));
    on_item(c, std::string(room), static_cast<uint32_t>(publisher), seq, fill);
  }
}

void Simulation::on_item(Client& c, const std::string& room, uint32_t publisher, uint64_t seq,
                         std::string_view fill) {
  const std::string what =
      "room " + room + " publisher " + std::to_string(publisher) + " seq " + std::to_string(seq);
  if (fill != filler(room, publisher, seq, filler_max_)) fail(where(c) + "corrupted item: " + what);
  if (seq == 0 || seq > published_[room][publisher]) fail(where(c) + "an item never published: " + what);
  auto it = c.rooms.find(room);
  if (it == c.rooms.end()) fail(where(c) + "an item for a room it is not in: " + what);
  ++c.items;
  auto [last, first] = it->second.last.emplace(publisher, seq);
  if (first) return;
  if (seq <= last->second)
    fail(where(c) + (seq == last->second ? "duplicate " : "out of order ") + what + " after seq " +
         std::to_string(last->second));
  if (seq != last->second + 1) ++c.gaps;  // judged at the end: only a slow-consumer close excuses it
  last->second = seq;
}

bool Simulation::publish(uint32_t publisher, const std::string& room, uint32_t count) {
  uint64_t& seq = published_[room][publisher];
  std::string items = "[";
  for (uint32_t i = 0; i < count; ++i) {
    if (i) items += ',';
    items += item_json(room, publisher, seq + 1 + i, filler_max_);
  }
  items += ']';
  Ring ring = region_.ring();
  PublishOutcome out = room == kAllRoom ? publisher_->publish(ring, Target::all, {}, items)
                                        : publisher_->publish(ring, Target::room, room, items);
  if (out.error == PublishError::ring_full || out.error == PublishError::too_large) {
    ++ring_full_;
    return false;
  }
  if (out.error != PublishError::none) fail("publish refused: " + std::string(publish_error_text(out.error)));
  seq += count;
  return true;
}

void Simulation::publish_random() {
  for (uint32_t p = 0; p < publishers_; ++p) {
    if (!rng().chance(publish_per_mille_)) continue;
    // Now and then a burst, to find the slow consumers and fill the ring.
    const uint32_t bursts = rng().chance(10) ? static_cast<uint32_t>(rng().between(5, 60)) : 1;
    for (uint32_t b = 0; b < bursts; ++b) {
      const bool all = rng().chance(100);
      const std::string& room = all ? kAllRoom : room_names_[rng().below(room_names_.size())];
      publish(p, room, static_cast<uint32_t>(rng().chance(200) ? rng().between(2, 5) : 1));
    }
  }
}

void Simulation::api_act(ApiPublisher& a, bool active) {
  if (a.socket != UINT32_MAX) {
    SimSocket& s = net_.socket(a.socket);
    if (const size_t avail = s.to_client.size()) {
      a.in.append(s.to_client.data(), avail);
      s.to_client.consume(avail);
      api_parse(a);
    }
    if (s.to_client.eof && s.to_client.size() == 0) {
      // The server closed (idle timeout, a fault, a full shard, shutting down): we close too.
      s.to_server.eof = true;
      s.client_gone = true;
      a.socket = UINT32_MAX;
      a.in.clear();
      if (a.waiting) {
        a.waiting = false;
        a.id = next_publisher_id_++;  // the unanswered request may or may not have been published
      }
    }
  }
  if (!active || a.waiting || !rng().chance(publish_per_mille_)) return;
  if (a.socket == UINT32_MAX)
    a.socket = net_.connect(api_listeners_[rng().below(api_listeners_.size())], 64 * 1024);
  const bool all = rng().chance(100);
  a.room = all ? kAllRoom : room_names_[rng().below(room_names_.size())];
  a.count = rng().chance(200) ? static_cast<uint32_t>(rng().between(2, 5)) : 1;
  uint64_t& seq = published_[a.room][a.id];
  std::string items = "[";
  for (uint32_t i = 0; i < a.count; ++i) {
    const std::string item = item_json(a.room, a.id, seq + 1 + i, filler_max_);
    if (i > 0 && items.size() + item.size() + 64 > config_.api_body_bytes_max) {
      a.count = i;  // what fits in one request body
      break;
    }
    if (i) items += ',';
    items += item;
  }
  items += ']';
  seq += a.count;  // counted now: clients may get the items before we read the answer
  const std::string body =
      all ? R"({"items":)" + items + "}" : R"({"room":")" + a.room + R"(","items":)" + items + "}";
  const std::string request = std::string("POST ") + (all ? "/push/all" : "/push/room") +
                              " HTTP/1.1\r\nHost: sim\r\nContent-Type: application/json\r\nContent-Length: " +
                              std::to_string(body.size()) + "\r\n\r\n" + body;
  net_.socket(a.socket).to_server.write(request.data(), request.size());
  a.waiting = true;
}

void Simulation::api_parse(ApiPublisher& a) {
  for (;;) {
    const size_t end = a.in.find("\r\n\r\n");
    if (end == std::string::npos) return;
    if (a.in.compare(0, 9, "HTTP/1.1 ") != 0) fail("push API: not an HTTP answer: " + a.in.substr(0, 40));
    const int status = std::atoi(a.in.c_str() + 9);
    const size_t at = a.in.find("Content-Length: ");
    if (at == std::string::npos || at > end) fail("push API: an answer without Content-Length");
    const size_t len = std::strtoul(a.in.c_str() + at + 16, nullptr, 10);
    if (a.in.size() < end + 4 + len) return;
    const std::string body = a.in.substr(end + 4, len);
    a.in.erase(0, end + 4 + len);
    if (!a.waiting) fail("push API: an answer to no request: " + body);
    a.waiting = false;
    if (status == 200) {
      if (body.find(R"("ok":true)") == std::string::npos) fail("push API: 200 without ok: " + body);
      ++api_pushes_;
    } else if (status == 503) {
      published_[a.room][a.id] -= a.count;  // not published: the next request reuses the numbers
      ++ring_full_;
    } else {
      fail("push API answered " + std::to_string(status) + ": " + body);
    }
  }
}

bool Simulation::quiet() const {
  for (const ApiPublisher& a : api_publishers_)
    if (a.waiting) return false;
  for (uint32_t i = 0; i < shard_count_; ++i) {
    const SimIo& io = shards_[i]->io();
    if (io.completions_ready()) return false;
  }
  for (const Client& c : clients_) {
    if (c.state == ClientState::closed) continue;
    const SimSocket& s = net_.socket(c.socket);
    if (s.to_client.size() || s.to_server.size()) return false;
    if (c.state == ClientState::open && !c.markers.empty()) return false;
  }
  return true;
}

// Everyone reads; runs until nothing moves for a while (longer than any merge window).
void Simulation::quiesce() {
  int64_t quiet_since = net_.now_ns;
  for (uint64_t i = 0; i < 200000; ++i) {
    turn(false);
    if (!quiet()) quiet_since = net_.now_ns;
    if (net_.now_ns - quiet_since > 300 * kMs) return;
  }
  fail("the system did not go quiet");
}

// After a final item from every publisher into every room: every client still open has everything
// since its first item in each room it joined, and a client that lost items was cut as a slow
// consumer, which the counters show.
void Simulation::check_delivery() {
  quiesce();
  std::vector<std::string> rooms = room_names_;
  rooms.push_back(kAllRoom);
  // Every publisher still in business: the direct ones and the API ones (idle now, so their
  // numbering can go on here).
  std::vector<uint32_t> ids;
  for (uint32_t p = 0; p < publishers_; ++p) ids.push_back(p);
  for (const ApiPublisher& a : api_publishers_) ids.push_back(a.id);
  for (const std::string& room : rooms)
    for (uint32_t p : ids) {
      int tries = 0;
      while (!publish(p, room, 1)) {
        if (++tries > 10000) fail("the ring stayed full with every client reading");
        turn(false);
      }
    }
  quiesce();
  const StatsTotals t = totals_now();
  uint64_t saw_1008 = 0, refused = 0, cut_silently = 0;
  for (Client& c : clients_) {
    const SimSocket& s = net_.socket(c.socket);
    // Refused for a full shard: the 503 answer is one best-effort non-blocking send, so the client
    // may see only part of it, or nothing, before the end of the stream.
    if (c.http_status == 503 || (c.saw_eof && c.http_status == 0 && !s.fault_cut)) ++refused;
    if (c.http_status != 0 && c.http_status != 101 && c.http_status != 503)
      fail(where(c) + "upgrade answered " + std::to_string(c.http_status));
    if (c.saw_close && c.close_code == ws::close_code::policy_violation) ++saw_1008;
    if (c.saw_close && c.close_code != ws::close_code::policy_violation && !c.self_closed)
      fail(where(c) + "closed by the server with code " + std::to_string(c.close_code));
    if (c.state == ClientState::handshake)
      fail(where(c) + "no answer to its upgrade request (accept stuck?)");
    const bool slow_cut = c.saw_close && c.close_code == ws::close_code::policy_violation;
    if (c.gaps && !slow_cut)
      fail(where(c) + std::to_string(c.gaps) + " gaps in its stream without a slow-consumer close");
    if (c.state != ClientState::open) {
      // Ended without a close frame: the client left, an injected fault, a refusal, or a cut slow
      // consumer whose close frame never got out before the close timeout (its socket full, or its
      // last send stuck: a fast reader is cut too when a burst passes four times the limit while a
      // send is in flight). Only the last is left here, and the counter must cover it.
      if (c.saw_eof && !c.saw_close && !c.self_closed && !s.fault_cut && c.http_status == 101) ++cut_silently;
      continue;
    }
    for (auto& [room, run] : c.rooms) {
      if (!run.member || !run.acked) continue;
      for (uint32_t p : ids) {
        const uint64_t want = published_[room][p];
        auto got = run.last.find(p);
        if (got == run.last.end() || got->second != want)
          fail(where(c) + "open and in room " + room + " but missed publisher " + std::to_string(p) +
               "'s items up to seq " + std::to_string(want) + " (last received " +
               (got == run.last.end() ? std::string("none") : std::to_string(got->second)) + ")");
      }
    }
  }
  const auto cuts = static_cast<uint64_t>(t.get(Counter::close_slow_consumer));
  if (saw_1008 + cut_silently > cuts)
    fail(std::to_string(saw_1008 + cut_silently) +
         " clients were cut as slow consumers but close_slow_consumer is " + std::to_string(cuts));
  if (refused > static_cast<uint64_t>(t.get(Counter::conns_refused)))
    fail(std::to_string(refused) + " clients got 503 but conns_refused is " +
         std::to_string(t.get(Counter::conns_refused)));
}

// SIGTERM's path: every shard drains and stops; then nothing may be left behind.
void Simulation::shutdown_and_check() {
  region_.header()->stopping.store(1, std::memory_order_relaxed);
  const int64_t deadline = net_.now_ns + static_cast<int64_t>(config_.shutdown_drain_ms + 5000) * kMs;
  while (true) {
    bool all_done = true;
    for (uint8_t d : shard_done_) all_done = all_done && d;
    if (all_done) break;
    if (net_.now_ns > deadline) fail("the shards did not stop within the drain time");
    turn(false);
  }
  for (int i = 0; i < 100; ++i) {  // read the last bytes and the ends of stream
    for (Client& c : clients_) client_act(c, false);
    for (ApiPublisher& a : api_publishers_) api_act(a, false);
  }
  for (const ApiPublisher& a : api_publishers_)
    if (a.socket != UINT32_MAX) fail("a push API connection never saw the end of its stream");
  for (uint32_t i = 0; i < shard_count_; ++i) {
    Shard& s = *shards_[i];
    const std::string who = "shard " + std::to_string(i) + ": ";
    if (s.connections_live()) fail(who + std::to_string(s.connections_live()) + " connections left");
    if (s.frames_live() != frames_at_start_[i])
      fail(who + std::to_string(s.frames_live() - frames_at_start_[i]) + " frames leaked");
    if (s.epochs_live()) fail(who + std::to_string(s.epochs_live()) + " ring epochs still referenced");
    if (s.io().operations_in_flight()) fail(who + "operations still in flight after it stopped");
    if (s.io().buffers_out()) fail(who + "provided buffers never recycled");
  }
  if (net_.open_fds() != listeners_.size() + api_listeners_.size())
    fail(std::to_string(net_.open_fds() - listeners_.size() - api_listeners_.size()) +
         " connection fds never closed");
  const StatsTotals t = totals_now();
  if (t.get(Counter::ws_open) != 0)
    fail("ws_open gauge is " + std::to_string(t.get(Counter::ws_open)) + " at the end");
  if (t.get(Counter::rooms) != 0)
    fail("rooms gauge is " + std::to_string(t.get(Counter::rooms)) + " at the end");
  if (region_.room_table().live() != 0) fail("the node's room table still lists rooms");
  for (Client& c : clients_)
    if (c.state != ClientState::closed) fail(where(c) + "never saw the end of its stream");
}

void Simulation::run(Totals& totals) {
  choose_config();
  start_shards();
  const uint64_t active_turns = rng().between(300, 3000);
  for (uint64_t i = 0; i < active_turns; ++i) turn(true);
  check_delivery();
  shutdown_and_check();
  const StatsTotals t = totals_now();
  totals.seeds += 1;
  totals.clients += clients_.size();
  for (const Client& c : clients_) totals.items_received += c.items;
  for (auto& [room, pubs] : published_)
    for (auto& [p, seq] : pubs) totals.published += seq;
  totals.ring_full += ring_full_;
  totals.slow_cuts += static_cast<uint64_t>(t.get(Counter::close_slow_consumer));
  totals.refused += static_cast<uint64_t>(t.get(Counter::conns_refused));
  for (size_t i = 0; i < net_.socket_count(); ++i)
    totals.fault_cuts += net_.socket(static_cast<uint32_t>(i)).fault_cut;
  totals.sim_turns += turns_;
  totals.api_pushes += api_pushes_;
  totals.compressed_frames += static_cast<uint64_t>(t.get(Counter::deflate_frames));
  totals.commands_inflated += static_cast<uint64_t>(t.get(Counter::inflate_messages));
  totals.digest = (totals.digest ^ digest_) * 1099511628211ull;
  if (verbose_)
    std::fprintf(stderr, "sim: seed=%llu digest=%016llx\n", static_cast<unsigned long long>(seed_),
                 static_cast<unsigned long long>(digest_));
}

// ---- the driver ----

volatile sig_atomic_t g_seed_running = 0;
unsigned long long g_seed = 0;
const char* g_argv0 = "sim";

// An assertion inside the engine aborts: say which seed it was, so the abort can be replayed.
void on_abort(int) {
  char line[256];
  if (g_seed_running) {
    const int n = std::snprintf(line, sizeof(line), "sim: FAILED seed=%llu (reproduce: %s --seed %llu)\n",
                                g_seed, g_argv0, g_seed);
    if (n > 0) [[maybe_unused]]
      ssize_t w = write(2, line, static_cast<size_t>(n));
  }
  std::signal(SIGABRT, SIG_DFL);
  std::raise(SIGABRT);
}

int usage() {
  std::fprintf(stderr,
               "usage: sim [--seed N | --first-seed N --seeds COUNT] [--verbose] [--trace CLIENT]\n"
               "  Runs the deterministic simulation for one seed or a range (default: seeds 1..200;\n"
               "  RINGCAST_SIM_SEEDS and RINGCAST_SIM_FIRST_SEED override the defaults). --verbose prints\n"
               "  each seed's set-up, the engine's warnings and a digest of everything clients received;\n"
               "  --trace prints one client's commands and the messages it gets.\n");
  return 2;
}

int main_impl(int argc, char** argv) {
  g_argv0 = argv[0];
  uint64_t first = 1, count = 200;
  if (const char* e = std::getenv("RINGCAST_SIM_SEEDS")) count = std::strtoull(e, nullptr, 10);
  if (const char* e = std::getenv("RINGCAST_SIM_FIRST_SEED")) first = std::strtoull(e, nullptr, 10);
  bool verbose = false;
  uint32_t trace_client = UINT32_MAX;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--seed" && i + 1 < argc) {
      first = std::strtoull(argv[++i], nullptr, 10);
      count = 1;
    } else if (arg == "--first-seed" && i + 1 < argc) {
      first = std::strtoull(argv[++i], nullptr, 10);
    } else if (arg == "--seeds" && i + 1 < argc) {
      count = std::strtoull(argv[++i], nullptr, 10);
    } else if (arg == "--trace" && i + 1 < argc) {
      trace_client = static_cast<uint32_t>(std::strtoul(argv[++i], nullptr, 10));
    } else if (arg == "--verbose" || arg == "-v") {
      verbose = true;
    } else {
      return usage();
    }
  }
  set_log_level(verbose ? "warn" : "error");
  std::signal(SIGABRT, on_abort);
  Totals totals;
  for (uint64_t seed = first; seed < first + count; ++seed) {
    g_seed = seed;
    g_seed_running = 1;
    try {
      Simulation sim(seed, verbose, trace_client);
      sim.run(totals);
    } catch (const SimFailure& f) {
      std::fprintf(stderr, "sim: seed=%llu: %s\n", static_cast<unsigned long long>(seed), f.what());
      std::fprintf(stderr, "sim: FAILED seed=%llu (reproduce: %s --seed %llu)\n",
                   static_cast<unsigned long long>(seed), argv[0], static_cast<unsigned long long>(seed));
      return 1;
    }
    g_seed_running = 0;
  }
  std::printf(
      "sim: %llu seeds passed (first %llu): %llu clients, %llu items published, %llu received, %llu "
      "publishes "
      "refused (ring full), %llu slow-consumer cuts, %llu connections refused (shard full), %llu injected "
      "send failures, %llu pushes through the API, %llu compressed frames built, %llu compressed commands, "
      "%llu turns, digest %016llx\n",
      static_cast<unsigned long long>(totals.seeds), static_cast<unsigned long long>(first),
      static_cast<unsigned long long>(totals.clients), static_cast<unsigned long long>(totals.published),
      static_cast<unsigned long long>(totals.items_received),
      static_cast<unsigned long long>(totals.ring_full), static_cast<unsigned long long>(totals.slow_cuts),
      static_cast<unsigned long long>(totals.refused), static_cast<unsigned long long>(totals.fault_cuts),
      static_cast<unsigned long long>(totals.api_pushes),
      static_cast<unsigned long long>(totals.compressed_frames),
      static_cast<unsigned long long>(totals.commands_inflated),
      static_cast<unsigned long long>(totals.sim_turns), static_cast<unsigned long long>(totals.digest));
  return 0;
}

}  // namespace
}  // namespace ringcast

int main(int argc, char** argv) {
  return ringcast::main_impl(argc, argv);
}
