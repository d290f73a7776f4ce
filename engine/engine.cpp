// Engine start-up and shutdown: the shared region first, then every listener (so a port conflict
// fails before any thread runs), then the shard threads, each of which reports whether it started.
#include "engine/engine.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <mutex>

#include "engine/log.h"
#include "engine/shard.h"

namespace ringcast {

int open_listener(const std::string& host, uint16_t port, uint16_t& bound_port, std::string& error) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* found = nullptr;
  const std::string service = std::to_string(port);
  int rc = getaddrinfo(host.empty() ? nullptr : host.c_str(), service.c_str(), &hints, &found);
  if (rc != 0) {
    error = "cannot resolve '" + host + "': " + gai_strerror(rc);
    return -1;
  }
  int fd = socket(found->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    error = std::string("socket: ") + std::strerror(errno);
    freeaddrinfo(found);
    return -1;
  }
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
  if (bind(fd, found->ai_addr, found->ai_addrlen) != 0 || listen(fd, 65535) != 0) {
    error = "cannot listen on " + host + ":" + service + ": " + std::strerror(errno);
    close(fd);
    freeaddrinfo(found);
    return -1;
  }
  freeaddrinfo(found);
  sockaddr_storage addr{};
  socklen_t len = sizeof(addr);
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  bound_port = ntohs(addr.ss_family == AF_INET6 ? reinterpret_cast<sockaddr_in6*>(&addr)->sin6_port
                                                : reinterpret_cast<sockaddr_in*>(&addr)->sin_port);
  return fd;
}

Engine::Engine(Config config) : config_(std::move(config)) {}

Engine::~Engine() {
  if (started_) {
    stop();
    wait();
  }
  for (int fd : listen_fds_)
    if (fd >= 0) close(fd);
  for (int fd : wake_fds_)
    if (fd >= 0) close(fd);
}

bool Engine::start(std::string& error) {
  set_log_level(config_.log_level);
  shard_count_ = config_.threads ? config_.threads : static_cast<uint32_t>(std::thread::hardware_concurrency());
  if (shard_count_ == 0) shard_count_ = 1;
  if (shard_count_ > kMaxConsumers) {
    error = "threads: at most " + std::to_string(kMaxConsumers) + " shards per node";
    return false;
  }
  if (!shared_.create(config_.ring_bytes, error)) return false;
  shared_.header()->shard_count.store(shard_count_, std::memory_order_relaxed);

  // Listeners: one per shard and port. The first bind picks the port when 0 was asked for; the others
  // join it through SO_REUSEPORT, and the kernel spreads connections over them.
  listen_fds_.assign(2 * shard_count_, -1);
  for (uint32_t s = 0; s < shard_count_; ++s) {
    if (config_.listen.enabled) {
      uint16_t want = s == 0 ? config_.listen.port : client_port_;
      listen_fds_[2 * s] = open_listener(config_.listen.host, want, client_port_, error);
      if (listen_fds_[2 * s] < 0) return false;
    }
    if (config_.api.enabled) {
      uint16_t want = s == 0 ? config_.api.port : api_port_;
      listen_fds_[2 * s + 1] = open_listener(config_.api.host, want, api_port_, error);
      if (listen_fds_[2 * s + 1] < 0) return false;
    }
  }
  for (uint32_t s = 0; s < shard_count_; ++s) {
    int fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (fd < 0) {
      error = std::string("eventfd: ") + std::strerror(errno);
      return false;
    }
    wake_fds_.push_back(fd);
  }

  std::mutex mutex;
  std::condition_variable cv;
  uint32_t reported = 0;
  std::string first_error;
  for (uint32_t s = 0; s < shard_count_; ++s) {
    ShardSetup setup;
    setup.config = &config_;
    setup.shared = shared_.header();
    setup.ring = shared_.ring();
    setup.index = s;
    setup.shard_count = shard_count_;
    setup.client_listen_fd = listen_fds_[2 * s];
    setup.api_listen_fd = listen_fds_[2 * s + 1];
    setup.wake_fd = wake_fds_[s];
    threads_.emplace_back([setup, &mutex, &cv, &reported, &first_error] {
      Shard shard(setup);
      std::string err;
      bool ok = shard.setup(err);
      {
        std::lock_guard<std::mutex> lock(mutex);
        if (!ok && first_error.empty()) first_error = "shard " + std::to_string(setup.index) + ": " + err;
        ++reported;
      }
      cv.notify_all();
      if (ok) shard.run();
    });
  }
  {
    std::unique_lock<std::mutex> lock(mutex);
    cv.wait(lock, [&] { return reported == shard_count_; });
  }
  started_ = true;
  if (!first_error.empty()) {
    error = first_error;
    stop();
    wait();
    return false;
  }
  return true;
}

void Engine::stop() {
  if (!shared_.header()) return;
  shared_.header()->stopping.store(1, std::memory_order_seq_cst);
  for (int fd : wake_fds_) {
    uint64_t one = 1;
    [[maybe_unused]] ssize_t n = write(fd, &one, sizeof(one));
  }
}

void Engine::wait() {
  for (auto& t : threads_)
    if (t.joinable()) t.join();
  threads_.clear();
  started_ = false;
}

Publisher& Engine::thread_publisher() {
  thread_local std::unique_ptr<Publisher> publisher;
  if (!publisher) publisher = std::make_unique<Publisher>(config_.room_name_bytes_max);
  return *publisher;
}

PublishOutcome Engine::publish_room(std::string_view room, std::string_view items_json) {
  Ring ring = shared_.ring();
  return thread_publisher().publish(ring, Target::room, room, items_json);
}

PublishOutcome Engine::publish_all(std::string_view items_json) {
  Ring ring = shared_.ring();
  return thread_publisher().publish(ring, Target::all, {}, items_json);
}

StatsTotals Engine::stats() const { return sum_stats(shared_.header()->stats, shard_count_); }

std::string Engine::stats_json() const {
  return ringcast::stats_json(stats(), shared_.ring(), shard_count_);
}

}  // namespace ringcast
