// Node set-up (shared region, listeners, eventfds) and running a range of shards as threads.
#include "engine/node/node.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/eventfd.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <mutex>

#include "engine/engine.h"

namespace ringcast {

namespace {

// SO_REUSEPORT lets every socket of the same user bind the port, so a second ringcast started by
// mistake would silently take a share of the connections. A probe bound without it fails with
// EADDRINUSE while anyone listens there, which turns that mistake into a clear start-up error.
bool port_is_free(const addrinfo* address, std::string& error) {
  int probe = socket(address->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (probe < 0) return true;
  int one = 1;
  setsockopt(probe, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  const bool free = bind(probe, address->ai_addr, address->ai_addrlen) == 0;
  const int why = errno;
  close(probe);
  if (!free && why == EADDRINUSE) {
    error = "address in use: another process (another ringcast?) listens there";
    return false;
  }
  return true;
}

}  // namespace

int open_listener(const std::string& host, uint16_t port, uint16_t& bound_port, std::string& error,
                  bool exclusive, uint32_t request_deadline_ms) {
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
  std::string busy;
  if (exclusive && port != 0 && !port_is_free(found, busy)) {
    error = "cannot listen on " + host + ":" + service + ": " + busy;
    freeaddrinfo(found);
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
  // Accepted sockets inherit it from the listener: no system call per connection. (Frames are sent
  // as soon as they are queued, one send in flight per connection; Nagle would hold back small ones.)
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  if (bind(fd, found->ai_addr, found->ai_addrlen) != 0 || listen(fd, 65535) != 0) {
    error = "cannot listen on " + host + ":" + service + ": " + std::strerror(errno);
    close(fd);
    freeaddrinfo(found);
    return -1;
  }
  freeaddrinfo(found);
  if (request_deadline_ms) {
    // A connect storm (a restarted node's clients all coming back) leaves clients connected that have
    // not sent their request yet; accepted at once, they would spend their deadline waiting for their
    // own client. The kernel holds them (a request socket, no descriptor) until the first bytes come;
    // one that sends nothing is accepted after about this long and meets the deadline as before.
    const int seconds = static_cast<int>((request_deadline_ms + 999) / 1000);
    setsockopt(fd, IPPROTO_TCP, TCP_DEFER_ACCEPT, &seconds, sizeof(seconds));
  }
  sockaddr_storage addr{};
  socklen_t len = sizeof(addr);
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  bound_port = ntohs(addr.ss_family == AF_INET6 ? reinterpret_cast<sockaddr_in6*>(&addr)->sin6_port
                                                : reinterpret_cast<sockaddr_in*>(&addr)->sin_port);
  return fd;
}

NodeSetup::~NodeSetup() {
  for (int fd : listen_fds_)
    if (fd >= 0) close(fd);
  for (int fd : wake_fds_)
    if (fd >= 0) close(fd);
  if (bridge_wake_fd_ >= 0) close(bridge_wake_fd_);
}

bool NodeSetup::create(const Config& config, uint32_t shards, std::string& error) {
  if (shards == 0 || shards > kMaxConsumers) {
    error = "a node runs 1.." + std::to_string(kMaxConsumers) + " shards (threads x workers), not " +
            std::to_string(shards);
    return false;
  }
  const bool cluster = !config.nats.empty();
  if (cluster && shards + 1 > kMaxConsumers) {
    error = "a cluster node runs 1.." + std::to_string(kMaxConsumers - 1) +
            " shards (threads x workers; one ring slot is the NATS bridge's), not " + std::to_string(shards);
    return false;
  }
  shards_ = shards;
  settings_ = resolve_settings(config);
  // TLS contexts before any worker forks: each inherits them (and the shared session-ticket keys).
  if (!tls_.load(config, shards, error)) return false;
  const RoomTableShape rooms{config.rooms_max, static_cast<uint32_t>(config.room_name_bytes_max)};
  // One presence box per shard, and in cluster mode one more: the bridge's, which asks the other nodes.
  if (!shared_.create(config.ring_bytes, rooms, shards + (cluster ? 1 : 0), error)) return false;
  shared_.header()->shard_count.store(shards, std::memory_order_relaxed);
  if (cluster) {
    ClusterState& state = shared_.header()->cluster;
    uint32_t id = config.node_id;
    // A random id when none is configured: ids only need to differ between the nodes of a cluster.
    while (id == 0)
      if (getrandom(&id, sizeof(id), 0) != sizeof(id)) id = static_cast<uint32_t>(getpid()) * 2654435761u;
    state.node_id.store(id, std::memory_order_relaxed);
    state.jetstream.store(config.jetstream ? 1 : 0, std::memory_order_relaxed);
    state.enabled.store(1, std::memory_order_release);
    bridge_wake_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (bridge_wake_fd_ < 0) {
      error = std::string("eventfd: ") + std::strerror(errno);
      return false;
    }
    shared_.room_table().set_notify_fd(bridge_wake_fd_);
  }
  // One listener per shard and port. The first bind picks the port when 0 was asked for; the others
  // join it through SO_REUSEPORT, and the kernel spreads connections over them.
  listen_fds_.assign(2 * static_cast<size_t>(shards), -1);
  for (uint32_t s = 0; s < shards; ++s) {
    if (config.listen.enabled) {
      uint16_t want = s == 0 ? config.listen.port : client_port_;
      listen_fds_[2 * s] =
          open_listener(config.listen.host, want, client_port_, error, s == 0, config.handshake_timeout_ms);
      if (listen_fds_[2 * s] < 0) return false;
    }
    if (config.api.enabled) {
      uint16_t want = s == 0 ? config.api.port : api_port_;
      listen_fds_[2 * s + 1] =
          open_listener(config.api.host, want, api_port_, error, s == 0, config.handshake_timeout_ms);
      if (listen_fds_[2 * s + 1] < 0) return false;
    }
  }
  for (uint32_t s = 0; s < shards; ++s) {
    int fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (fd < 0) {
      error = std::string("eventfd: ") + std::strerror(errno);
      return false;
    }
    wake_fds_.push_back(fd);
  }
  return true;
}

ShardSetup NodeSetup::shard_setup(const Config& config, uint32_t index) const {
  ShardSetup setup;
  setup.config = &config;
  setup.settings = &settings_;
  setup.shared = shared_.header();
  setup.ring = shared_.ring();
  setup.index = index;
  setup.shard_count = shards_;
  setup.client_listen_fd = listen_fds_[2 * index];
  setup.api_listen_fd = listen_fds_[2 * index + 1];
  setup.wake_fd = wake_fds_[index];
  setup.api_port = api_port_;
  setup.room_table = shared_.room_table();
  setup.presence = shared_.presence();
  setup.client_tls = tls_.acquire(TlsListener::client);
  setup.api_tls = tls_.acquire(TlsListener::api);
  setup.tls_mailbox = tls_.mailbox(index);
  setup.tls_kernel_tx = tls_.kernel_tx();
  return setup;
}

bool NodeSetup::reload_tls(uint32_t first, uint32_t count, std::string& error) {
  return tls_.reload(first, count, error);
}

BridgeSetup NodeSetup::bridge_setup(const Config& config, bool resume) const {
  BridgeSetup setup;
  setup.config = &config;
  setup.settings = &settings_;
  setup.shared = shared_.header();
  setup.ring = shared_.ring();
  setup.rooms = shared_.room_table();
  setup.slot = bridge_slot();
  setup.presence = shared_.presence();
  setup.wake_fd = bridge_wake_fd_;
  setup.resume = resume;
  return setup;
}

void NodeSetup::stop_bridge() {
  if (!shared_.header() || bridge_wake_fd_ < 0) return;
  shared_.header()->cluster.stop.store(1, std::memory_order_release);
  uint64_t one = 1;
  [[maybe_unused]] ssize_t n = write(bridge_wake_fd_, &one, sizeof(one));
}

void NodeSetup::keep_only_listeners(uint32_t first, uint32_t count) {
  for (uint32_t s = 0; s < shards_; ++s) {
    if (s >= first && s < first + count) continue;
    for (int k = 0; k < 2; ++k) {
      int& fd = listen_fds_[2 * s + k];
      if (fd >= 0) close(fd);
      fd = -1;
    }
  }
}

void NodeSetup::request_stop() {
  if (!shared_.header()) return;
  shared_.header()->stopping.store(1, std::memory_order_seq_cst);
  for (int fd : wake_fds_) {
    uint64_t one = 1;
    [[maybe_unused]] ssize_t n = write(fd, &one, sizeof(one));
  }
}

void NodeSetup::request_stop(uint32_t first, uint32_t count) {
  for (uint32_t s = first; s < first + count; ++s) {
    shared_.header()->shard_stop[s].store(1, std::memory_order_seq_cst);
    wake(s);
  }
}

void NodeSetup::wake(uint32_t shard) {
  uint64_t one = 1;
  [[maybe_unused]] ssize_t n = write(wake_fds_[shard], &one, sizeof(one));
}

bool ShardThreads::start(const Config& config, NodeSetup& node, uint32_t first, uint32_t count,
                         std::string& error, std::function<void()> on_last_stopped) {
  on_last_stopped_ = std::move(on_last_stopped);
  std::mutex mutex;
  std::condition_variable cv;
  uint32_t reported = 0;
  std::string first_error;
  for (uint32_t s = first; s < first + count; ++s) {
    ShardSetup setup = node.shard_setup(config, s);
    running_.fetch_add(1, std::memory_order_relaxed);
    threads_.emplace_back([this, setup, &mutex, &cv, &reported, &first_error] {
      Shard shard(setup);
      std::string err;
      bool ok = shard.setup(err);
      {
        // Notify under the lock: start() may return (and its mutex and cv go away) as soon as the
        // lock is released after the last report.
        std::lock_guard<std::mutex> lock(mutex);
        if (!ok && first_error.empty()) first_error = "shard " + std::to_string(setup.index) + ": " + err;
        ++reported;
        cv.notify_all();
      }
      if (ok) shard.run();
      if (running_.fetch_sub(1, std::memory_order_acq_rel) == 1 && on_last_stopped_) on_last_stopped_();
    });
  }
  std::unique_lock<std::mutex> lock(mutex);
  cv.wait(lock, [&] { return reported == count; });
  if (!first_error.empty()) {
    error = first_error;
    lock.unlock();
    node.request_stop();
    join();
    return false;
  }
  return true;
}

void ShardThreads::join() {
  for (auto& t : threads_)
    if (t.joinable()) t.join();
  threads_.clear();
}

uint64_t raise_open_files_limit() {
  rlimit lim{};
  if (getrlimit(RLIMIT_NOFILE, &lim) != 0) return 1024;
  if (lim.rlim_cur < lim.rlim_max) {
    rlimit raised = lim;
    raised.rlim_cur = lim.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &raised) == 0) lim = raised;
  }
  return lim.rlim_cur == RLIM_INFINITY ? (1ull << 30) : lim.rlim_cur;
}

uint64_t fixed_descriptors(uint32_t shards, uint32_t total_shards) {
  return 2ull * shards + total_shards + shards + 32;
}

}  // namespace ringcast
