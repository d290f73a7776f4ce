// ringcast::Engine — the push engine as a library: it owns the shared region (broadcast ring and
// stats), the listening sockets and the shard threads. An application embeds it, publishes into it
// from any thread, and reads its stats; the `ringcast` server is a thin main() around it.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "engine/config.h"
#include "engine/publish.h"
#include "engine/shm.h"
#include "engine/stats.h"

namespace ringcast {

class Engine {
 public:
  explicit Engine(Config config);
  ~Engine();  // stops and waits if still running
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // Binds the listeners and starts one shard thread per configured thread. Returns once every shard
  // is serving (true) or one failed to start (false, with a message; nothing keeps running).
  bool start(std::string& error);

  // Asks every shard to drain: clients get close 1001, API requests in flight are answered. Returns
  // at once; wait() returns when the shards are done. Safe from any thread, and from a signal handler
  // thread.
  void stop();
  void wait();

  // Publishing from the application (any thread). Same validation and answers as the push API.
  PublishOutcome publish_room(std::string_view room, std::string_view items_json);
  PublishOutcome publish_all(std::string_view items_json);

  StatsTotals stats() const;
  std::string stats_json() const;
  uint16_t client_port() const { return client_port_; }
  uint16_t api_port() const { return api_port_; }
  uint32_t shard_count() const { return shard_count_; }
  const Config& config() const { return config_; }

 private:
  Publisher& thread_publisher();

  Config config_;
  SharedRegion shared_;
  uint32_t shard_count_ = 0;
  uint16_t client_port_ = 0;
  uint16_t api_port_ = 0;
  std::vector<int> listen_fds_;
  std::vector<int> wake_fds_;
  std::vector<std::thread> threads_;
  bool started_ = false;
};

// Opens a TCP listener with SO_REUSEPORT on host:port (port 0: any free port). Returns the fd or -1
// with a message; `bound_port` receives the port actually bound.
int open_listener(const std::string& host, uint16_t port, uint16_t& bound_port, std::string& error);

}  // namespace ringcast
