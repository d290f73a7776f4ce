// The simulated kernel behind SimIo: virtual fds and sockets, the provided-buffer pool, and the rules
// by which submitted operations complete. Faults are drawn from the simulation's one PRNG, so a seed
// replays exactly.
#include "engine/shard/sim_io.h"

#include <cerrno>
#include <cstdlib>
#include <cstring>

namespace ringcast {

// ---- SimRng ----

SimRng::SimRng(uint64_t seed) {
  uint64_t x = seed;
  for (uint64_t& s : s_) {
    x += 0x9E3779B97F4A7C15ull;
    uint64_t z = x;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    s = z ^ (z >> 31);
  }
}

uint64_t SimRng::next() {
  const auto rotl = [](uint64_t v, int k) { return (v << k) | (v >> (64 - k)); };
  const uint64_t result = rotl(s_[1] * 5, 7) * 9;
  const uint64_t t = s_[1] << 17;
  s_[2] ^= s_[0];
  s_[3] ^= s_[1];
  s_[1] ^= s_[2];
  s_[0] ^= s_[3];
  s_[2] ^= t;
  s_[3] = rotl(s_[3], 45);
  return result;
}

// ---- SimPipe ----

void SimPipe::consume(size_t n) {
  read_at += n;
  if (read_at == bytes.size()) {
    bytes.clear();
    read_at = 0;
  } else if (read_at > 4096 && read_at * 2 > bytes.size()) {
    bytes.erase(0, read_at);
    read_at = 0;
  }
}

// ---- SimNet ----

SimNet::SimNet(uint64_t seed, const SimFaults& f) : rng(seed), faults(f) {}

int SimNet::allocate_fd(FdKind kind, uint32_t index) {
  // 0, 1 and 2 stay the standard streams, as in a real process.
  size_t fd = 3;
  while (fd < fds_.size() && fds_[fd].kind != FdKind::free) ++fd;
  if (fd >= fds_.size()) fds_.resize(fd + 1);
  fds_[fd] = FdEntry{kind, index};
  return static_cast<int>(fd);
}

int SimNet::listen(uint32_t shard) {
  listeners_.push_back(Listener{shard, false, {}});
  return allocate_fd(FdKind::listener, static_cast<uint32_t>(listeners_.size() - 1));
}

uint32_t SimNet::connect(int listen_fd, size_t to_client_capacity) {
  FdEntry* entry = fd_entry(listen_fd);
  if (!entry || entry->kind != FdKind::listener) violation("connect to an fd that is not a listener");
  sockets_.push_back(std::make_unique<SimSocket>());
  const auto id = static_cast<uint32_t>(sockets_.size() - 1);
  SimSocket& s = *sockets_.back();
  s.to_client.capacity = to_client_capacity;
  s.to_server.capacity = SIZE_MAX / 2;  // a client's commands are small: never limited
  if (!entry || entry->kind != FdKind::listener || listeners_[entry->index].shut) {
    s.reset = true;  // connection refused
    s.server_closed = true;
    s.to_client.eof = true;
  } else {
    listeners_[entry->index].backlog.push_back(id);
  }
  return id;
}

size_t SimNet::open_fds() const {
  size_t n = 0;
  for (const FdEntry& e : fds_) n += e.kind != FdKind::free;
  return n;
}

// ---- SimIo: set-up and buffers ----

void SimIo::FreeDeleter::operator()(uint8_t* p) const {
  std::free(p);
}

SimIo::~SimIo() = default;

bool SimIo::init(uint32_t, uint32_t, std::string& error) {
  if (!net_) {
    error = "SimIo: attach() the simulated network before setup()";
    return false;
  }
  return true;
}

bool SimIo::setup_buffers(uint32_t count, uint32_t size, std::string& error) {
  if (!count || (count & (count - 1)) || count > 32768) {
    error = "SimIo: buffer count must be a power of two up to 32768";
    return false;
  }
  buffer_count_ = count;
  buffer_size_ = size;
  buffers_.reset(static_cast<uint8_t*>(std::malloc(static_cast<size_t>(count) * size)));
  buffer_with_shard_.assign(count, 0);
  for (uint32_t i = 0; i < count; ++i) kernel_buffers_.push_back(static_cast<uint16_t>(i));
  return true;
}

void SimIo::recycle_buffer(uint16_t id) {
  if (id >= buffer_count_ || !buffer_with_shard_[id]) {
    net_->violation("recycle_buffer of buffer " + std::to_string(id) + ", which the shard does not hold");
    return;
  }
  buffer_with_shard_[id] = 0;
  recycled_.push_back(id);
}

void SimIo::publish_buffers() {
  for (uint16_t id : recycled_) {
    // Poisoned when handed back: a shard that still read from it would parse garbage, and the
    // checkers would see it.
    std::memset(buffer(id), 0xA5, buffer_size_);
    kernel_buffers_.push_back(id);
  }
  recycled_.clear();
}

uint32_t SimIo::buffers_out() const {
  uint32_t n = 0;
  for (uint8_t held : buffer_with_shard_) n += held;
  return n;
}

// ---- SimIo: operations ----

SimSocket* SimIo::socket_of(int fd, const char* what) {
  SimNet::FdEntry* entry = net_->fd_entry(fd);
  if (!entry || entry->kind != SimNet::FdKind::socket) {
    net_->violation(std::string(what) + " on fd " + std::to_string(fd) + ", which is not an open socket");
    return nullptr;
  }
  return net_->sockets_[entry->index].get();
}

void SimIo::accept_multishot(int listen_fd, uint64_t user_data) {
  SimNet::FdEntry* entry = net_->fd_entry(listen_fd);
  if (!entry || entry->kind != SimNet::FdKind::listener) {
    net_->violation("accept on fd " + std::to_string(listen_fd) + ", which is not a listener");
    return;
  }
  for (const Op& op : ops_)
    if (op.kind == OpKind::accept && op.fd == listen_fd)
      net_->violation("a second multishot accept on one listener");
  ops_.push_back(Op{OpKind::accept, listen_fd, user_data});
}

void SimIo::recv_multishot(int fd, uint64_t user_data) {
  if (!socket_of(fd, "recv")) return;
  for (const Op& op : ops_)
    if (op.kind == OpKind::recv && op.fd == fd)
      net_->violation("a second multishot recv on fd " + std::to_string(fd));
  ops_.push_back(Op{OpKind::recv, fd, user_data});
}

void SimIo::send(int fd, const void* data, size_t len, uint64_t user_data) {
  if (!socket_of(fd, "send")) return;
  for (const Op& op : ops_)
    if (op.kind == OpKind::send && op.fd == fd)
      net_->violation("two sends in flight on fd " + std::to_string(fd) + ": their bytes could interleave");
  if (len == 0) net_->violation("a send of 0 bytes");
  Op op{OpKind::send, fd, user_data};
  op.data = static_cast<const uint8_t*>(data);
  op.len = len;
  ops_.push_back(op);
}

void SimIo::sendmsg(int fd, const msghdr* msg, uint64_t user_data) {
  if (!socket_of(fd, "sendmsg")) return;
  for (const Op& op : ops_)
    if (op.kind == OpKind::send && op.fd == fd)
      net_->violation("two sends in flight on fd " + std::to_string(fd) + ": their bytes could interleave");
  Op op{OpKind::send, fd, user_data};
  op.msg = msg;
  ops_.push_back(op);
}

void SimIo::read(int fd, void*, size_t, uint64_t user_data) {
  // Only the wake-up eventfd is read; the simulation has no producers in other threads to wait for,
  // so it never completes.
  ops_.push_back(Op{OpKind::read, fd, user_data});
}

void SimIo::take_submissions() {
  for (Op& op : ops_) {
    if (op.submitted) continue;
    op.submitted = true;
    if (op.msg) op.iov.assign(op.msg->msg_iov, op.msg->msg_iov + op.msg->msg_iovlen);
    op.msg = nullptr;
  }
}

void SimIo::submit(bool wait, int64_t timeout_ns) {
  publish_buffers();
  take_submissions();
  wake_at_ns_ = wait ? net_->now_ns + timeout_ns : net_->now_ns;
}

ssize_t SimIo::send_now(int fd, const void* data, size_t len) {
  SimSocket* s = socket_of(fd, "direct send");
  if (!s) return -EBADF;
  if (s->reset || s->client_gone) return -ECONNRESET;
  if (s->to_client.eof) return -EPIPE;
  size_t n = std::min(len, s->to_client.space());
  if (n > 0 && net_->rng.chance(net_->faults.direct_send_short)) n = net_->rng.below(n);  // 0: -EAGAIN
  if (n == 0) return -EAGAIN;
  s->to_client.write(data, n);
  return static_cast<ssize_t>(n);
}

int SimIo::unread_bytes(int fd) {
  SimSocket* s = socket_of(fd, "unread_bytes");
  return s ? static_cast<int>(s->to_server.size()) : 0;
}

void SimIo::shutdown(int fd, int how) {
  SimNet::FdEntry* entry = net_->fd_entry(fd);
  if (entry && entry->kind == SimNet::FdKind::listener) {
    SimNet::Listener& l = net_->listeners_[entry->index];
    l.shut = true;
    // Connections nobody accepted are reset, as the kernel does when a listener goes away.
    for (uint32_t id : l.backlog) {
      SimSocket& s = net_->socket(id);
      s.reset = true;
      s.server_closed = true;
      s.to_client.eof = true;
    }
    l.backlog.clear();
    return;
  }
  SimSocket* s = socket_of(fd, "shutdown");
  if (!s) return;
  if (how == SHUT_WR || how == SHUT_RDWR) s->to_client.eof = true;
  if (how == SHUT_RD || how == SHUT_RDWR) s->server_shut_rd = true;
}

void SimIo::close(int fd) {
  SimSocket* s = socket_of(fd, "close");
  if (!s) return;
  size_t in_flight = 0;
  for (const Op& op : ops_) in_flight += op.fd == fd;
  if (in_flight && !net_->tearing_down)
    net_->violation("fd " + std::to_string(fd) + " closed with " + std::to_string(in_flight) +
                    " operations in flight: their completions could reach a reused slot");
  std::erase_if(ops_, [fd](const Op& op) { return op.fd == fd; });
  s->server_closed = true;
  s->to_client.eof = true;
  s->fd = -1;
  *net_->fd_entry(fd) = SimNet::FdEntry{};
}

int SimIo::accept_now(int listen_fd) {
  SimNet::FdEntry* entry = net_->fd_entry(listen_fd);
  if (!entry || entry->kind != SimNet::FdKind::listener) {
    net_->violation("accept4 on fd " + std::to_string(listen_fd) + ", which is not a listener");
    return -1;
  }
  SimNet::Listener& l = net_->listeners_[entry->index];
  if (l.backlog.empty()) return -1;
  const uint32_t id = l.backlog.front();
  l.backlog.pop_front();
  SimSocket& s = net_->socket(id);
  s.fd = net_->allocate_fd(SimNet::FdKind::socket, id);
  s.shard = shard_;
  return s.fd;
}

size_t SimIo::operations_in_flight() const {
  size_t n = 0;
  for (const Op& op : ops_) n += op.kind != OpKind::read;
  return n;
}

// ---- SimIo: the kernel's side ----

void SimIo::progress() {
  SimRng& rng = net_->rng;
  if (rng.chance(net_->faults.stall)) return;
  // A random order over the operations: completions of different operations arrive in any order,
  // as from a real ring; each multishot operation still posts its own completions in order.
  std::vector<size_t> order(ops_.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  for (size_t i = order.size(); i > 1; --i) std::swap(order[i - 1], order[rng.below(i)]);
  std::vector<uint8_t> finished(ops_.size(), 0);
  for (size_t i : order) {
    Op& op = ops_[i];
    if (!op.submitted || op.kind == OpKind::read) continue;
    if (rng.chance(net_->faults.delay)) continue;
    switch (op.kind) {
      case OpKind::accept:
        finished[i] = progress_accept(op);
        break;
      case OpKind::recv:
        finished[i] = progress_recv(op);
        break;
      case OpKind::send:
        finished[i] = progress_send(op);
        break;
      case OpKind::read:
        break;
    }
  }
  size_t kept = 0;
  for (size_t i = 0; i < ops_.size(); ++i)
    if (!finished[i]) ops_[kept++] = ops_[i];
  ops_.resize(kept);
}

bool SimIo::progress_accept(Op& op) {
  SimRng& rng = net_->rng;
  SimNet::Listener& l = net_->listeners_[net_->fd_entry(op.fd)->index];
  if (l.shut) {
    post(op.user_data, -EINVAL, 0);
    return true;
  }
  if (l.backlog.empty()) return false;
  if (rng.chance(net_->faults.accept_error)) {
    post(op.user_data, -EMFILE, 0);
    return true;
  }
  const uint64_t n = rng.between(1, l.backlog.size());
  for (uint64_t k = 0; k < n; ++k) {
    const uint32_t id = l.backlog.front();
    l.backlog.pop_front();
    SimSocket& s = net_->socket(id);
    s.fd = net_->allocate_fd(SimNet::FdKind::socket, id);
    s.shard = shard_;
    const bool last = rng.chance(net_->faults.multishot_end);
    post(op.user_data, s.fd, last ? 0 : IORING_CQE_F_MORE);
    if (last) return true;
  }
  return false;
}

bool SimIo::progress_recv(Op& op) {
  SimRng& rng = net_->rng;
  SimSocket* s = socket_of(op.fd, "recv completion");
  if (!s) {
    post(op.user_data, -EBADF, 0);
    return true;
  }
  if (s->reset) {
    post(op.user_data, -ECONNRESET, 0);
    return true;
  }
  if (s->server_shut_rd) {
    post(op.user_data, 0, 0);
    return true;
  }
  if (s->to_server.size() > 0) {
    const uint64_t pieces = rng.chance(net_->faults.recv_split) ? rng.between(2, 4) : 1;
    for (uint64_t k = 0; k < pieces && s->to_server.size() > 0; ++k) {
      // No provided buffer left: the kernel ends the multishot recv with -ENOBUFS, and the shard
      // arms it again once it has recycled buffers.
      if (kernel_buffers_.empty() || rng.chance(net_->faults.recv_enobufs)) {
        post(op.user_data, -ENOBUFS, 0);
        return true;
      }
      const uint16_t id = kernel_buffers_.front();
      kernel_buffers_.pop_front();
      buffer_with_shard_[id] = 1;
      const size_t avail = std::min<size_t>(s->to_server.size(), buffer_size_);
      const size_t n = k + 1 < pieces ? rng.between(1, avail) : avail;
      std::memcpy(buffer(id), s->to_server.data(), n);
      s->to_server.consume(n);
      const bool last = rng.chance(net_->faults.multishot_end);
      post(op.user_data, static_cast<int32_t>(n),
           IORING_CQE_F_BUFFER | (static_cast<uint32_t>(id) << IORING_CQE_BUFFER_SHIFT) |
               (last ? 0 : IORING_CQE_F_MORE));
      if (last) return true;
    }
    return false;
  }
  if (s->to_server.eof) {
    post(op.user_data, 0, 0);
    return true;
  }
  return false;
}

size_t SimIo::op_bytes(const Op& op) const {
  if (op.iov.empty()) return op.len;
  size_t n = 0;
  for (const iovec& v : op.iov) n += v.iov_len;
  return n;
}

void SimIo::copy_out(const Op& op, size_t n, SimPipe& to) {
  // The bytes are read now, when the send completes, not when it was submitted: a shard that freed
  // or reused them while the send was in flight sends garbage (or trips the sanitizers).
  if (op.iov.empty()) {
    to.write(op.data, n);
    return;
  }
  for (size_t i = 0; i < op.iov.size() && n > 0; ++i) {
    const size_t take = std::min(n, op.iov[i].iov_len);
    to.write(op.iov[i].iov_base, take);
    n -= take;
  }
}

bool SimIo::progress_send(Op& op) {
  SimRng& rng = net_->rng;
  const SimFaults& f = net_->faults;
  SimSocket* s = socket_of(op.fd, "send completion");
  if (!s) {
    post(op.user_data, -EBADF, 0);
    return true;
  }
  if (s->reset || s->client_gone) {
    post(op.user_data, -ECONNRESET, 0);
    return true;
  }
  if (s->to_client.eof) {
    post(op.user_data, -EPIPE, 0);
    return true;
  }
  if (rng.chance(f.send_retry)) {
    post(op.user_data, rng.chance(500) ? -EAGAIN : -EINTR, 0);
    return true;
  }
  if (rng.chance(f.send_error)) {
    s->fault_cut = true;
    post(op.user_data, rng.chance(500) ? -ENOBUFS : -ECONNRESET, 0);
    return true;
  }
  const size_t total = op_bytes(op);
  const size_t space = s->to_client.space();
  if (space == 0) return false;  // the peer's window is shut: the send waits, as in the kernel
  size_t n = std::min(total, space);
  if (n > 1 && rng.chance(f.short_send)) n = rng.between(1, n - 1);
  copy_out(op, n, s->to_client);
  post(op.user_data, static_cast<int32_t>(n), 0);
  return true;
}

}  // namespace ringcast
