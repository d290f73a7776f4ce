// Push API connections (the API port): HTTP/1.1 requests, keep-alive and pipelined, read into the
// connection's buffer and answered in order by the routes (routes/http_api.h). A presence query parks
// its connection while the other shards answer through the presence board; the requests pipelined
// behind it wait, so answers keep their order. Also the idle deadline and the shutdown grace.
#pragma once

#include <cstdint>
#include <deque>
#include <string>

#include "engine/broadcast/frames.h"
#include "engine/broadcast/sender.h"
#include "engine/config.h"
#include "engine/conn/conns.h"
#include "engine/node/presence.h"
#include "engine/node/stats.h"
#include "engine/routes/http_api.h"

namespace ringcast {

struct ApiConnSetup {
  const Config* config = nullptr;
  ShardStats* stats = nullptr;
  Conns* conns = nullptr;
  Sender* sender = nullptr;
  const RoomIndex* rooms = nullptr;  // this shard's part of a presence answer
  PresenceBoard presence;            // invalid: this shard answers alone
  uint32_t shard_index = 0;
  ApiContext api;  // the routes' context (its `stopping` is kept current here)
};

class ApiConns {
 public:
  explicit ApiConns(const ApiConnSetup& setup);
  ApiConns(const ApiConns&) = delete;
  ApiConns& operator=(const ApiConns&) = delete;

  void on_bytes(Conn& c, uint32_t id, const uint8_t* data, size_t len);
  void on_timer(Conn& c, uint32_t id);
  // The node stops: an idle connection gets a short grace for a request already on its way.
  void begin_stopping(Conn& c, uint32_t id);

  // The loop's turn: the front parked query is started, or its answers collected and sent.
  void poll_presence();
  // A query is parked (the loop then sleeps at most limits::kPresencePollNs).
  bool presence_pending() const { return !parked_.empty(); }

 private:
  // An API connection waiting for the other shards' answers, oldest first; the front one's query is
  // in flight.
  struct ParkedQuery {
    uint32_t id;
    uint32_t generation;
    bool keep;
    PresenceQuery query;
  };
  bool parked(uint32_t id, uint32_t generation) const;
  void answer_parked(const ParkedQuery& p, const PresenceAsk::Status status);

  const Config& config_;
  ShardStats& stats_;
  Conns& conns_;
  Sender& sender_;
  const RoomIndex& rooms_;
  PresenceBoard presence_;
  uint32_t shard_index_;
  uint32_t shard_count_;
  ApiContext api_;
  std::deque<ParkedQuery> parked_;
  PresenceAsk ask_;
  bool asking_ = false;
  uint64_t ask_tickets_ = 0;
  std::string scratch_;  // chunked-body decoding
  std::string out_;      // the answers to one batch of pipelined requests
};

}  // namespace ringcast
