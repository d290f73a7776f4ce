// Client-port connections before their upgrade: the HTTP request head is read (in pieces if need be),
// the upgrade decided (upgrade.h), refused with a JSON error and a linger, answered as a demo request
// (--demo; the connection stays for the next request), or accepted: the 101 goes out and the
// connection becomes go_push or nano, with whatever the client sent right behind its request handed
// back to the shard for the new protocol; or a subscription to an HTTP stream, handed to StreamConns
// (a CORS preflight of one is answered). Also the handshake deadline, and the demo's rate limits.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <unordered_map>

#include "engine/base/json.h"
#include "engine/broadcast/publish.h"
#include "engine/broadcast/sender.h"
#include "engine/config.h"
#include "engine/conn/conns.h"
#include "engine/conn/membership.h"
#include "engine/conn/stream.h"
#include "engine/conn/upgrade.h"
#include "engine/node/stats.h"
#include "engine/routes/demo.h"
#include "engine/settings.h"

namespace ringcast {

// An upgrade that succeeded, and the bytes the client sent behind its request (the first frames of
// the new protocol), which live in `held` (owned by the caller now) or in the recv buffer.
struct Upgraded {
  bool upgraded = false;
  std::span<uint8_t> rest;
  std::string* held = nullptr;
};

struct HttpConnSetup {
  const Config* config = nullptr;
  const Settings* settings = nullptr;
  ShardStats* stats = nullptr;
  Conns* conns = nullptr;
  Sender* sender = nullptr;
  Membership* membership = nullptr;
  StreamConns* streams = nullptr;  // SSE and NDJSON subscriptions are handed to it
  // The demo's (routes/demo.h): what its requests publish through and report.
  Publisher* publisher = nullptr;
  Ring ring;
  const ShardStats* all_stats = nullptr;
  uint32_t shard_count = 0;
  uint16_t api_port = 0;
};

class HttpConns {
 public:
  explicit HttpConns(const HttpConnSetup& setup);
  HttpConns(const HttpConns&) = delete;
  HttpConns& operator=(const HttpConns&) = delete;

  Upgraded on_bytes(Conn& c, uint32_t id, uint8_t* data, size_t len);
  // The upgrade request did not arrive in handshake_timeout_ms (408), or a kept-alive demo
  // connection went idle.
  void on_timer(Conn& c, uint32_t id);
  void forget(uint32_t id) {
    if (!demo_buckets_.empty()) demo_buckets_.erase(id);
  }

 private:
  Upgraded upgrade(Conn& c, uint32_t id, UpgradeDecision& decision, size_t consumed, uint8_t* data,
                   size_t len);
  Upgraded serve_demo(Conn& c, uint32_t id, const http::Request& req, std::string_view rest);
  void subscribe(Conn& c, uint32_t id, const UpgradeDecision& decision);
  void refuse(Conn& c, uint32_t id, int status, std::string_view reason);

  const Config& config_;
  ShardStats& stats_;
  Conns& conns_;
  Sender& sender_;
  Membership& membership_;
  StreamConns& streams_;
  UpgradePolicy policy_;
  DemoContext demo_;
  std::unordered_map<uint32_t, TokenBucket> demo_buckets_;  // --demo: per connection id, while it lives
  simdjson::dom::parser demo_parser_;
  std::string scratch_;        // chunked-body decoding
  std::string token_storage_;  // a connect token, percent-decoded from the query
};

}  // namespace ringcast
