// A connection as its shard sees it: a small fixed-size record in the shard's slab, reached by a
// 32-bit id, tagged with the one protocol that handles its events. No read buffer of its own (reads
// land in the shard's provided buffers; only a partial frame or request head is copied aside, and
// freed once complete) and no send buffer (its out-queue references shared frames). Rooms, timers and
// each protocol's extra state keep their per-connection fields in their own tables.
#pragma once

#include <sys/mman.h>

#include <cstdint>
#include <memory>
#include <new>
#include <string>
#include <vector>

#include "engine/broadcast/encodings.h"
#include "engine/broadcast/frames.h"
#include "engine/codec/frame.h"

namespace ringcast {

// The protocol of a connection: which handler its bytes, timers and closes go to (the shard
// dispatches on it once per event and never branches on protocol otherwise). A client-port
// connection starts as `upgrade` and becomes `go_push` or `nano` at its 101, `sse` or `ndjson` once its
// subscription request was answered 200 (or `demo` once it was answered a plain HTTP request); an
// API-port connection is `api` for its life.
enum class Protocol : uint8_t {
  upgrade,  // client port: reading the HTTP upgrade request
  demo,     // client port with --demo: a request was answered; kept alive for the next (maybe the upgrade)
  go_push,  // WebSocket on ws_path: go-push JSON commands
  nano,     // WebSocket on nano_path: Pomelo packets
  api,      // push API port: HTTP/1.1 requests
  sse,      // GET sse_path: a Server-Sent Events stream (chunked), pushes only
  ndjson,   // GET stream_path: an NDJSON stream (chunked), pushes only
};

// Client-port connections and API connections have separate budgets (conns_per_shard_max and
// api_conns_per_shard_max), so a flood of clients cannot lock the backend out of the push API.
inline bool on_api_port(Protocol p) {
  return p == Protocol::api;
}
inline bool is_websocket(Protocol p) {
  return p == Protocol::go_push || p == Protocol::nano;
}
// The one-way HTTP transports: a response that never ends, one chunk per event (conn/stream.h).
inline bool is_http_stream(Protocol p) {
  return p == Protocol::sse || p == Protocol::ndjson;
}
// A client that is in rooms and gets pushes: a WebSocket or an HTTP stream.
inline bool is_subscriber(Protocol p) {
  return is_websocket(p) || is_http_stream(p);
}

enum class Phase : uint8_t {
  free,        // slot unused
  handshake,   // client port: reading the HTTP upgrade request
  open,        // WebSocket open (client) or keep-alive (API)
  close_wait,  // we sent a close frame and wait for the peer's
  linger,      // our write side is shut; reading until the peer closes, or a timeout
  dead,        // socket shut down; waiting for operations in flight before the slot is freed
};

// What to do once everything queued has been sent.
enum class AfterFlush : uint8_t { nothing, linger, terminate };

struct Conn {
  int fd = -1;
  uint32_t generation = 0;  // changes every time the slot is reused; part of every user_data
  Protocol protocol = Protocol::upgrade;
  Phase phase = Phase::free;
  AfterFlush after_flush = AfterFlush::nothing;
  bool recv_armed : 1 = false;  // a multishot recv is in the kernel
  bool sending : 1 = false;     // a send is in flight (at most one, so frames keep their order)
  bool in_flush_list : 1 = false;
  bool close_sent : 1 = false;      // WebSocket close frame queued
  bool close_received : 1 = false;  // WebSocket close frame received
  bool cut : 1 = false;             // marked slow during a fan-out; closed right after it
  bool continue_sent : 1 = false;   // API: "100 Continue" answered for the request being received
  bool parsing : 1 = false;         // inside FrameParser::feed: the record must not be freed
  uint32_t last_rx_tick = 0;
  uint32_t send_offered = 0;  // bytes offered to the send in flight (a short send means backpressure)
  OutQueue out;
  // These share the word after `out` (it was padding): the record does not grow.
  // Connect tokens: the connection's room grant, an index into the shard's GrantTable, or
  // GrantTable::kNone (no token needed, or one allowing every room).
  uint32_t grant : 24 = 0xFFFFFF;
  // Bound to a user by its connect token (a BIND cannot change it).
  uint32_t user_from_token : 1 = 0;
  // How pushes from the fan-out reach it (encodings.h): none until its protocol is ready for them.
  Encoding encoding : 4 = Encoding::none;
  // Accepted on a TLS listener: its bytes pass through TlsStreams (conn/tls.h) both ways...
  uint32_t tls : 1 = 0;
  // ... and its sends carry TlsStreams' ciphertext, until the kernel holds its sending keys (kTLS):
  // from then on they carry plaintext from the shared frames, as a plain connection's do.
  uint32_t tls_sealed : 1 = 0;
  std::string* inbuf = nullptr;  // a request head or API request received in pieces
  ws::FrameParser parser;
};

// A record per connection, a million per process: keep it from growing unnoticed.
static_assert(sizeof(Conn) <= 112, "Conn grew: find spare bits before adding bytes");

// Fixed-size records in chunks, so ids stay valid and records never move as the slab grows. Chunk
// memory comes from mmap and a record is constructed only when handed out, lowest ids first, so the
// resident memory follows the connections actually open rather than the slab's capacity.
class ConnSlab {
 public:
  static constexpr uint32_t kChunk = 1024;

  explicit ConnSlab(uint32_t max_conns) : max_(max_conns) {}
  ~ConnSlab() {
    for (uint32_t id = 0; id < capacity(); ++id)
      if (constructed_[id]) (*this)[id].~Conn();
    for (Conn* chunk : chunks_) munmap(chunk, kChunk * sizeof(Conn));
  }
  ConnSlab(const ConnSlab&) = delete;
  ConnSlab& operator=(const ConnSlab&) = delete;

  // A free record (phase `free`), or kNil when the slab holds max_conns.
  uint32_t allocate() {
    if (free_.empty()) {
      if (capacity() >= max_) return kNil;
      void* memory =
          mmap(nullptr, kChunk * sizeof(Conn), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
      if (memory == MAP_FAILED) return kNil;
      const uint32_t base = capacity();
      chunks_.push_back(static_cast<Conn*>(memory));
      constructed_.resize(capacity(), 0);
      for (uint32_t i = kChunk; i-- > 0;)
        if (base + i < max_) free_.push_back(base + i);
      if (free_.empty()) return kNil;
    }
    const uint32_t id = free_.back();
    free_.pop_back();
    if (!constructed_[id]) {
      new (&(*this)[id]) Conn();
      constructed_[id] = 1;
    }
    ++live_;
    return id;
  }
  void release(uint32_t id) {
    free_.push_back(id);
    --live_;
  }
  Conn& operator[](uint32_t id) { return chunks_[id / kChunk][id % kChunk]; }
  // Ids below this may be in use (records above the highest ever handed out are not even constructed).
  uint32_t capacity() const { return static_cast<uint32_t>(chunks_.size()) * kChunk; }
  bool constructed(uint32_t id) const { return id < constructed_.size() && constructed_[id]; }
  uint32_t live() const { return live_; }

 private:
  uint32_t max_;
  uint32_t live_ = 0;
  std::vector<Conn*> chunks_;
  std::vector<uint8_t> constructed_;
  std::vector<uint32_t> free_;
};

}  // namespace ringcast
