// The I/O seam: everything a shard asks of the kernel goes through this class, so that a
// deterministic simulator (engine/shard/sim_io.h) can stand in for it at build time (see
// docs/architecture.md). This one is io_uring: one ring per shard (SINGLE_ISSUER | DEFER_TASKRUN), a
// provided-buffer ring for multishot recv, sockets registered as fixed files, and plain -errno results
// in completions.
#pragma once

#include <fcntl.h>
#include <liburing.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <ctime>
#include <memory>
#include <string>
#include <vector>

namespace ringcast {

struct Completion {
  uint64_t user_data;
  int32_t res;     // bytes, fd, or -errno
  uint32_t flags;  // IORING_CQE_F_*
  bool more() const { return flags & IORING_CQE_F_MORE; }
  bool has_buffer() const { return flags & IORING_CQE_F_BUFFER; }
  uint16_t buffer_id() const { return static_cast<uint16_t>(flags >> IORING_CQE_BUFFER_SHIFT); }
};

class UringIo {
 public:
  UringIo() = default;
  ~UringIo();
  UringIo(const UringIo&) = delete;
  UringIo& operator=(const UringIo&) = delete;

  // Must run on the thread that will drive the ring (SINGLE_ISSUER).
  bool init(uint32_t sq_entries, uint32_t cq_entries, std::string& error);
  // Registers `count` buffers of `size` bytes as buffer group 0 for multishot recv.
  bool setup_buffers(uint32_t count, uint32_t size, std::string& error);

  uint8_t* buffer(uint16_t id) const { return buffers_ + static_cast<size_t>(id) * buffer_size_; }
  uint32_t buffer_size() const { return buffer_size_; }
  // Hands a buffer back to the kernel; made visible in one step by publish_buffers().
  void recycle_buffer(uint16_t id);
  void publish_buffers();

  void accept_multishot(int listen_fd, uint64_t user_data);
  void recv_multishot(int fd, uint64_t user_data);
  void send(int fd, const void* data, size_t len, uint64_t user_data);
  void sendmsg(int fd, const msghdr* msg, uint64_t user_data);
  void read(int fd, void* data, size_t len, uint64_t user_data);

  // Submits what is queued. With wait: blocks until at least one completion or timeout_ns passes.
  void submit(bool wait, int64_t timeout_ns);
  // Hands what is queued to the kernel now, without reaping completions; true when it took every
  // submission. From then on the kernel holds its own copy of their msghdrs and iovecs (the ring has
  // IORING_FEAT_SUBMIT_STABLE, checked at init), so the caller may reuse that memory.
  bool submit_queued() {
    publish_buffers();
    io_uring_submit(&ring_);
    return io_uring_sq_ready(&ring_) == 0;
  }

  // The few direct system calls a shard makes, as thin inline wrappers so the simulator can replace
  // them too and the real build pays nothing for the seam. (The clock is engine/base/clock.h.)
  // A non-blocking send outside the ring (the 101 answer, the "server full" answer): bytes or -errno.
  static ssize_t send_now(int fd, const void* data, size_t len) {
    const ssize_t n = ::send(fd, data, len, MSG_DONTWAIT | MSG_NOSIGNAL);
    return n < 0 ? -errno : n;
  }
  static void shutdown(int fd, int how) { ::shutdown(fd, how); }
  // Bytes the kernel holds for the socket that nobody has read yet (0 on error).
  static int unread_bytes(int fd) {
    int n = 0;
    return ::ioctl(fd, FIONREAD, &n) == 0 ? n : 0;
  }
  // Closes the descriptor; a registered socket leaves the ring's table in its next submission.
  void close(int fd) {
    if (fixed(fd)) unregister_file(fd);
    ::close(fd);
  }
  // A connection the kernel has completed on a listener but nobody accepted yet, or -1; never blocks
  // (used once, when the shard stops accepting).
  static int accept_now(int listen_fd) {
    fcntl(listen_fd, F_SETFL, fcntl(listen_fd, F_GETFL) | O_NONBLOCK);
    return accept4(listen_fd, nullptr, nullptr, SOCK_CLOEXEC);
  }

  // Calls fn(const Completion&) for every completion available now, then marks them seen.
  template <class Fn>
  unsigned drain_completions(Fn&& fn) {
    unsigned seen = 0;
    io_uring_cqe* cqe;
    unsigned head;
    io_uring_for_each_cqe(&ring_, head, cqe) {
      ++seen;
      if (cqe->user_data == kFileTableUpdate) {  // (posted only when an update failed)
        if (cqe->res < 0) fixed_off_ = true;
        continue;
      }
      fn(Completion{cqe->user_data, cqe->res, cqe->flags});
    }
    io_uring_cq_advance(&ring_, seen);
    return seen;
  }

 private:
  // Sockets as fixed files: the kernel then looks a socket up in the ring's own table instead of the
  // process's descriptor table (fget/fput) on every send and recv. The table is sparse, indexed by
  // descriptor number; a socket enters it with its first recv or send and leaves it when closed, both
  // as table-update submissions queued before the operations that follow (submissions are issued in
  // order), whose completions are posted only on failure. After a failure, new sockets use the plain
  // path; one past the table's size always does.
  static constexpr uint64_t kFileTableUpdate = 0;  // (no operation's user_data: Op starts at 1)
  bool fixed(int fd) const {
    return static_cast<uint32_t>(fd) < fixed_files_ && (fixed_bits_[fd >> 6] >> (fd & 63)) & 1;
  }
  // Whether an operation on the socket may name it by table index; enters it first if it can (before
  // the operation's own submission entry is taken, so that the update is issued first).
  bool in_table(int fd) {
    if (!fixed(fd)) register_file(fd);
    return fixed(fd);
  }
  void register_file(int fd);
  void unregister_file(int fd);
  void queue_table_update(int fd, int value);
  io_uring_sqe* sqe();

  io_uring ring_{};
  bool ring_ready_ = false;
  io_uring_buf_ring* buf_ring_ = nullptr;
  uint8_t* buffers_ = nullptr;
  uint32_t buffer_count_ = 0;
  uint32_t buffer_size_ = 0;
  uint32_t buffers_pending_ = 0;  // recycled since the last publish_buffers()
  uint32_t fixed_files_ = 0;      // the table's size (0: no table)
  bool fixed_off_ = false;        // an update failed: no new sockets enter the table
  std::vector<uint64_t> fixed_bits_;  // which descriptors are in the table
  // The values of queued table updates: the kernel reads them when it takes the submission, so each
  // lives in a slot that is not reused before then (there are twice as many as submission entries).
  std::unique_ptr<int[]> update_values_;
  uint32_t update_slots_ = 0;
  uint32_t update_next_ = 0;
};

}  // namespace ringcast
