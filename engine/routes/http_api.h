// The push API's routes: POST /push/room and /push/all (go-push's form fields or a JSON body),
// POST /push/user and /push/conn, GET /rooms and /rooms/{room} (presence: deferred, see below),
// GET /stats, /metrics and /health. Turns one parsed request into one response; the API connection
// in the shard does the bytes. Publishing goes through the shard's Publisher into the shared ring.
#pragma once

#include <cstdint>
#include <string>

#include "engine/config.h"
#include "engine/codec/http.h"
#include "engine/node/presence.h"
#include "engine/broadcast/publish.h"
#include "engine/broadcast/ring.h"
#include "engine/node/stats.h"

namespace ringcast {

struct ApiContext {
  Ring ring;
  Publisher* publisher = nullptr;
  ShardStats* stats = nullptr;            // this shard's counters
  const ShardStats* all_stats = nullptr;  // every shard's, for /stats
  uint32_t shard_count = 0;
  const Config* config = nullptr;
  bool stopping = false;                  // draining: new pushes are refused with 503
  NodeView node;                          // room table and cluster state, for /stats and /metrics
  // Set by handle_api_request for a presence request (GET /rooms...): nothing was appended, the
  // shard asks the other shards for `query` and answers later (see Shard::poll_presence); the
  // connection's later pipelined requests wait for that answer.
  bool deferred = false;
  PresenceQuery query;
};

// Appends the answer to `out`, or defers it (ctx.deferred). Returns false when the connection must
// close after it.
bool handle_api_request(const http::Request& req, ApiContext& ctx, std::string& out);

}  // namespace ringcast
