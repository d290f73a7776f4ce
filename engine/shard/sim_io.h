// The simulated I/O seam: what a shard compiled with RINGCAST_SIM uses instead of UringIo (see
// engine/shard/shard.h). A SimNet, one per simulation, holds the virtual clock, the seeded PRNG and the
// simulated TCP connections; each shard's SimIo is its io_uring: the operations the shard asked for,
// and a completion queue that the simulator fills from them (delayed, reordered, with faults) between
// the shard's turns. Nothing here reads a real clock or touches a real socket.
#pragma once

#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>

#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "engine/shard/uring_io.h"  // Completion and the IORING_CQE_F_* flags

namespace ringcast {

// xoshiro256**, seeded through splitmix64: small, fast, and the same sequence on every machine.
class SimRng {
 public:
  explicit SimRng(uint64_t seed);
  uint64_t next();
  // Uniform in [0, n); n > 0.
  uint64_t below(uint64_t n) { return next() % n; }
  // Uniform in [lo, hi].
  uint64_t between(uint64_t lo, uint64_t hi) { return lo + below(hi - lo + 1); }
  // True with probability per_mille / 1000.
  bool chance(uint32_t per_mille) { return below(1000) < per_mille; }

 private:
  uint64_t s_[4];
};

// How often each fault is injected, in per mille of the chances it has. Chosen per seed, so some
// seeds run almost clean and others are hostile.
struct SimFaults {
  uint32_t delay = 200;              // an operation that could complete waits for a later turn
  uint32_t stall = 50;               // a shard's "kernel" completes nothing this turn
  uint32_t short_send = 100;         // a send takes fewer bytes than there is room for
  uint32_t send_retry = 10;          // a send fails with -EAGAIN or -EINTR (the shard retries)
  uint32_t send_error = 2;           // a send fails with -ENOBUFS or -ECONNRESET (the shard closes)
  uint32_t recv_split = 300;         // received bytes arrive in several completions
  uint32_t recv_enobufs = 5;         // a multishot recv ends with -ENOBUFS although buffers are free
  uint32_t multishot_end = 10;       // a multishot recv or accept ends (no IORING_CQE_F_MORE)
  uint32_t accept_error = 5;         // a multishot accept ends with -EMFILE (the shard backs off)
  uint32_t direct_send_short = 100;  // the shard's direct send (the 101 answer) is short or -EAGAIN
};

// One direction of a TCP connection: bytes in order up to a capacity (the socket buffers on both
// ends), then the writer's end of stream.
struct SimPipe {
  std::string bytes;
  size_t read_at = 0;
  size_t capacity = 0;
  bool eof = false;

  size_t size() const { return bytes.size() - read_at; }
  size_t space() const { return size() >= capacity ? 0 : capacity - size(); }
  const char* data() const { return bytes.data() + read_at; }
  void write(const void* data, size_t n) { bytes.append(static_cast<const char*>(data), n); }
  void consume(size_t n);
};

// A simulated TCP connection between a simulated client and a shard's fd.
struct SimSocket {
  SimPipe to_server;
  SimPipe to_client;
  bool client_gone = false;     // the client closed its socket: the shard's sends fail
  bool reset = false;           // the client reset the connection: every operation fails
  bool server_shut_rd = false;  // shutdown(SHUT_RDWR) by the shard: its recv ends
  bool server_closed = false;   // the shard closed its fd
  bool fault_cut = false;       // an injected send error made the shard drop the connection
  int fd = -1;                  // the shard's fd while open
  uint32_t shard = 0;
};

class SimIo;

// The world the shards share: clock, PRNG, fds, sockets and listeners.
class SimNet {
 public:
  SimNet(uint64_t seed, const SimFaults& faults);

  int64_t now_ns = 1'000'000'000'000;  // virtual CLOCK_MONOTONIC (not 0: "0" means "never" in places)
  SimRng rng;
  SimFaults faults;
  bool tearing_down = false;            // the simulation is over: closing with operations in flight is fine
  std::vector<std::string> violations;  // seam misuse found (an fd used after close, ...)

  // A listener for a shard. Connections wait in its backlog until accepted.
  int listen(uint32_t shard);
  // A client connects to a listener: the socket id (an index into sockets()). Its server side gets an
  // fd when a shard accepts it.
  uint32_t connect(int listen_fd, size_t to_client_capacity);
  SimSocket& socket(uint32_t id) { return *sockets_[id]; }
  const SimSocket& socket(uint32_t id) const { return *sockets_[id]; }
  size_t socket_count() const { return sockets_.size(); }
  // Open fds (listeners included), for the leak check at the end.
  size_t open_fds() const;

  void violation(std::string what) { violations.push_back(std::move(what)); }

 private:
  friend class SimIo;
  struct Listener {
    uint32_t shard;
    bool shut = false;
    std::deque<uint32_t> backlog;  // socket ids
  };
  enum class FdKind : uint8_t { free, listener, socket };
  struct FdEntry {
    FdKind kind = FdKind::free;
    uint32_t index = 0;  // listener or socket id
  };

  // The lowest free fd, like the kernel: a stale fd in the shard then hits a live, different socket.
  int allocate_fd(FdKind kind, uint32_t index);
  FdEntry* fd_entry(int fd) { return fd >= 0 && static_cast<size_t>(fd) < fds_.size() ? &fds_[fd] : nullptr; }

  std::vector<FdEntry> fds_;
  std::vector<Listener> listeners_;
  std::vector<std::unique_ptr<SimSocket>> sockets_;
};

class SimIo {
 public:
  SimIo() = default;
  ~SimIo();
  SimIo(const SimIo&) = delete;
  SimIo& operator=(const SimIo&) = delete;

  // Before the shard's setup(): which world and which shard.
  void attach(SimNet* net, uint32_t shard) {
    net_ = net;
    shard_ = shard;
  }

  // ---- the UringIo interface ----
  bool init(uint32_t sq_entries, uint32_t cq_entries, std::string& error);
  bool setup_buffers(uint32_t count, uint32_t size, std::string& error);
  uint8_t* buffer(uint16_t id) const { return buffers_.get() + static_cast<size_t>(id) * buffer_size_; }
  uint32_t buffer_size() const { return buffer_size_; }
  void recycle_buffer(uint16_t id);
  void publish_buffers();

  void accept_multishot(int listen_fd, uint64_t user_data);
  void recv_multishot(int fd, uint64_t user_data);
  void send(int fd, const void* data, size_t len, uint64_t user_data);
  void sendmsg(int fd, const msghdr* msg, uint64_t user_data);
  void read(int fd, void* data, size_t len, uint64_t user_data);
  void submit(bool wait, int64_t timeout_ns);
  bool submit_queued() {
    take_submissions();
    return true;
  }

  template <class Fn>
  unsigned drain_completions(Fn&& fn) {
    // Swapped out first: a completion's handler may queue operations, never completions.
    draining_.clear();
    draining_.swap(cq_);
    for (const Completion& c : draining_) fn(c);
    return static_cast<unsigned>(draining_.size());
  }

  ssize_t send_now(int fd, const void* data, size_t len);
  void shutdown(int fd, int how);
  int unread_bytes(int fd);
  void close(int fd);
  int accept_now(int listen_fd);
  int64_t now_ns() const { return net_->now_ns; }

  // ---- the simulator's side: the "kernel" ----
  // Completes some of the submitted operations that can complete now, in a random order, with faults.
  void progress();
  // Completions waiting for the shard's next turn.
  size_t completions_ready() const { return cq_.size(); }
  // When the shard asked to be woken at the latest (its next timer), after a waiting submit.
  int64_t wake_at_ns() const { return wake_at_ns_; }
  // Operations in flight other than the wake-up read (which never completes here).
  size_t operations_in_flight() const;
  // Provided buffers held by the shard right now (all are returned between turns).
  uint32_t buffers_out() const;

 private:
  enum class OpKind : uint8_t { accept, recv, send, read };
  struct Op {
    OpKind kind;
    int fd;
    uint64_t user_data;
    bool submitted = false;
    const uint8_t* data = nullptr;  // send
    size_t len = 0;                 // send
    const msghdr* msg = nullptr;    // sendmsg until submitted: its iovec is copied then...
    std::vector<iovec> iov{};       // ... as the kernel does (IORING_FEAT_SUBMIT_STABLE)
  };

  void post(uint64_t user_data, int32_t res, uint32_t flags) {
    cq_.push_back(Completion{user_data, res, flags});
  }
  SimSocket* socket_of(int fd, const char* what);
  // The kernel takes what is queued: a sendmsg's iovec is read now, its bytes only at completion.
  void take_submissions();
  // Returns true when the operation is finished (removed from the in-flight list).
  bool progress_accept(Op& op);
  bool progress_recv(Op& op);
  bool progress_send(Op& op);
  size_t op_bytes(const Op& op) const;
  void copy_out(const Op& op, size_t n, SimPipe& to);

  SimNet* net_ = nullptr;
  uint32_t shard_ = 0;
  std::vector<Op> ops_;
  std::vector<Completion> cq_;
  std::vector<Completion> draining_;
  int64_t wake_at_ns_ = 0;

  struct FreeDeleter {
    void operator()(uint8_t* p) const;
  };
  std::unique_ptr<uint8_t[], FreeDeleter> buffers_;
  uint32_t buffer_count_ = 0;
  uint32_t buffer_size_ = 0;
  std::vector<uint8_t> buffer_with_shard_;  // per buffer: 1 while the shard holds it
  std::deque<uint16_t> kernel_buffers_;     // published buffers, in the order the kernel takes them
  std::vector<uint16_t> recycled_;          // recycled, not yet published
};

}  // namespace ringcast
