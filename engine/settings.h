// The configuration resolved once into the typed values the engine works with: the rules every
// publisher checks (room charset and lengths), the browser origins an upgrade may come from, the Nano
// route dictionary. Built once per node (and by the simulator) after validate() accepted the Config;
// every shard, the embedding API's publishers and the NATS bridge read the same copy.
#pragma once

#include <string>
#include <vector>

#include "engine/broadcast/publish.h"
#include "engine/codec/pomelo.h"
#include "engine/config.h"

namespace ringcast {

struct Settings {
  PublishRules publish;
  std::vector<std::string> allowed_origins;  // empty: any origin
  bool nano = false;                         // nano_path is on
  pomelo::RouteDict nano_routes;             // the dictionary sent at the Pomelo handshake
};

// `config` must have passed validate(): what cannot be resolved is an assertion.
Settings resolve_settings(const Config& config);

}  // namespace ringcast
