// The demo on the client port (--demo): the page, its script and style and /ringcast.js, embedded in
// the binary at build time (engine/routes/web/, turned into a byte-array table by engine/routes/web/embed.cpp),
// GET /demo/stats and the rate-limited POST /demo/publish, which publishes a comment into the ring
// through the shard's Publisher like the push API. One parsed request in, one response out; the
// shard's client-port connection does the bytes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "engine/config.h"
#include "engine/codec/http.h"
#include "engine/base/json.h"
#include "engine/broadcast/publish.h"
#include "engine/broadcast/ring.h"
#include "engine/node/stats.h"

namespace ringcast {

// A file of engine/routes/web/ (or the JS client) compiled into the binary.
struct WebAsset {
  const char* path;          // as requested: "/", "/demo.js", "/ringcast.js"
  const char* content_type;  // from the file's extension
  const unsigned char* data;
  size_t size;
  std::string_view body() const { return {reinterpret_cast<const char*>(data), size}; }
};

// The table the generator writes (web_assets.cpp in the build directory).
extern const WebAsset kWebAssets[];
extern const size_t kWebAssetCount;

const WebAsset* find_web_asset(std::string_view path);

// Refills at `rate_per_s` up to `burst` tokens; starts full. Used per connection and per shard.
struct TokenBucket {
  double tokens = -1;  // below 0: never used yet (full on first use)
  int64_t last_ns = 0;
  void refill(int64_t now_ns, double rate_per_s, double burst);
};

struct DemoContext {
  Ring ring;
  Publisher* publisher = nullptr;
  ShardStats* stats = nullptr;            // this shard's counters
  const ShardStats* all_stats = nullptr;  // every shard's, for /demo/stats
  uint32_t shard_count = 0;
  const Config* config = nullptr;
  uint16_t api_port = 0;  // bound (the configured one may be 0)
  simdjson::dom::parser* parser = nullptr;
  TokenBucket shard_bucket;  // all of this shard's connections together
  bool stopping = false;
};

// With --demo: one log line at start-up saying where the page is and what limits its comments.
void log_demo_address(const Config& config, uint16_t client_port);

// The largest request body the client port accepts with --demo: a /demo/publish envelope around a
// comment of demo_text_bytes_max bytes, every byte of it escaped.
size_t demo_body_bytes_max(const Config& config);

// Answers one request on the client port that is not for the WebSocket path. `conn_bucket` is the
// connection's own rate limit. Returns false when the connection must close after the answer.
bool handle_demo_request(const http::Request& req, DemoContext& ctx, TokenBucket& conn_bucket, int64_t now_ns,
                         std::string& out);

}  // namespace ringcast
