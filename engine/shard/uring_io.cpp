// io_uring set-up and the few operations a shard uses.
#include "engine/shard/uring_io.h"

#include <sys/mman.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "engine/base/check.h"
#include "engine/limits.h"

namespace ringcast {
namespace {

constexpr uint16_t kBufferGroup = 0;

}  // namespace

UringIo::~UringIo() {
  if (ring_ready_) io_uring_queue_exit(&ring_);
  if (buf_ring_) munmap(buf_ring_, buffer_count_ * sizeof(io_uring_buf));
  if (buffers_) munmap(buffers_, static_cast<size_t>(buffer_count_) * buffer_size_);
}

bool UringIo::init(uint32_t sq_entries, uint32_t cq_entries, std::string& error) {
  io_uring_params params{};
  // SINGLE_ISSUER + DEFER_TASKRUN: completions are processed only when this thread asks for them,
  // in a batch, instead of interrupting it (kernel 6.1+). CQSIZE: multishot recv can post many
  // completions per submission, so the completion queue is much deeper than the submission queue.
  params.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_CQSIZE |
                 IORING_SETUP_SUBMIT_ALL;
  params.cq_entries = cq_entries;
  int rc = io_uring_queue_init_params(sq_entries, &ring_, &params);
  if (rc < 0) {
    error = std::string("io_uring_queue_init: ") + std::strerror(-rc) +
            " (ringcast needs Linux 6.1+ with io_uring enabled)";
    return false;
  }
  ring_ready_ = true;
  if (!(params.features & IORING_FEAT_SUBMIT_STABLE)) {  // (5.5+: always there on 6.1)
    error = "io_uring without IORING_FEAT_SUBMIT_STABLE (ringcast needs Linux 6.1+)";
    return false;
  }
  // The fixed-file table, as large as the descriptors this process may open (the kernel refuses a
  // larger one). Without it (an old kernel, a tiny limit) every socket takes the plain path.
  rlimit files{};
  const uint32_t wanted =
      getrlimit(RLIMIT_NOFILE, &files) == 0
          ? static_cast<uint32_t>(std::min<rlim_t>(files.rlim_cur, limits::kFixedFilesMax))
          : 0;
  if (wanted > 0 && io_uring_register_files_sparse(&ring_, wanted) == 0) {
    fixed_files_ = wanted;
    fixed_bits_.assign((wanted + 63) / 64, 0);
    update_slots_ = 2 * sq_entries;
    update_values_.reset(new int[update_slots_]);
  }
  return true;
}

void UringIo::queue_table_update(int fd, int value) {
  int& slot = update_values_[update_next_];
  update_next_ = (update_next_ + 1) % update_slots_;
  slot = value;
  io_uring_sqe* s = sqe();
  io_uring_prep_files_update(s, &slot, 1, fd);
  s->flags |= IOSQE_CQE_SKIP_SUCCESS;
  io_uring_sqe_set_data64(s, kFileTableUpdate);
}

void UringIo::register_file(int fd) {
  if (fixed_off_ || fd < 0 || static_cast<uint32_t>(fd) >= fixed_files_) return;
  queue_table_update(fd, fd);
  fixed_bits_[fd >> 6] |= uint64_t{1} << (fd & 63);
}

void UringIo::unregister_file(int fd) {
  fixed_bits_[fd >> 6] &= ~(uint64_t{1} << (fd & 63));
  queue_table_update(fd, -1);
}

bool UringIo::setup_buffers(uint32_t count, uint32_t size, std::string& error) {
  RC_ASSERT(count && !(count & (count - 1)) && count <= 32768);
  buffer_count_ = count;
  buffer_size_ = size;
  void* ring_mem = mmap(nullptr, count * sizeof(io_uring_buf), PROT_READ | PROT_WRITE,
                        MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  void* buf_mem = mmap(nullptr, static_cast<size_t>(count) * size, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (ring_mem == MAP_FAILED || buf_mem == MAP_FAILED) {
    error = std::string("mmap of receive buffers: ") + std::strerror(errno);
    return false;
  }
  buf_ring_ = static_cast<io_uring_buf_ring*>(ring_mem);
  buffers_ = static_cast<uint8_t*>(buf_mem);
  io_uring_buf_ring_init(buf_ring_);
  io_uring_buf_reg reg{};
  reg.ring_addr = reinterpret_cast<uint64_t>(buf_ring_);
  reg.ring_entries = count;
  reg.bgid = kBufferGroup;
  int rc = io_uring_register_buf_ring(&ring_, &reg, 0);
  if (rc < 0) {
    error = std::string("io_uring_register_buf_ring: ") + std::strerror(-rc);
    return false;
  }
  for (uint32_t i = 0; i < count; ++i) recycle_buffer(static_cast<uint16_t>(i));
  publish_buffers();
  return true;
}

void UringIo::recycle_buffer(uint16_t id) {
  io_uring_buf_ring_add(buf_ring_, buffer(id), buffer_size_, id, io_uring_buf_ring_mask(buffer_count_),
                        static_cast<int>(buffers_pending_));
  ++buffers_pending_;
}

void UringIo::publish_buffers() {
  if (buffers_pending_) io_uring_buf_ring_advance(buf_ring_, static_cast<int>(buffers_pending_));
  buffers_pending_ = 0;
}

io_uring_sqe* UringIo::sqe() {
  io_uring_sqe* s = io_uring_get_sqe(&ring_);
  if (!s) {
    // The submission queue is full (a large fan-out flush, a storm's receives): hand it to the kernel
    // and go on, with the buffers given back so far (a receive among these would find none).
    publish_buffers();
    io_uring_submit(&ring_);
    s = io_uring_get_sqe(&ring_);
    RC_ASSERT(s != nullptr);
  }
  return s;
}

void UringIo::accept_multishot(int listen_fd, uint64_t user_data) {
  io_uring_sqe* s = sqe();
  io_uring_prep_multishot_accept(s, listen_fd, nullptr, nullptr, SOCK_CLOEXEC);
  io_uring_sqe_set_data64(s, user_data);
}

void UringIo::recv_multishot(int fd, uint64_t user_data) {
  const bool table = in_table(fd);
  io_uring_sqe* s = sqe();
  io_uring_prep_recv_multishot(s, fd, nullptr, 0, 0);
  if (table) s->flags |= IOSQE_FIXED_FILE;  // (index = descriptor: s->fd stays as prepared)
  s->flags |= IOSQE_BUFFER_SELECT;
  s->buf_group = kBufferGroup;
  io_uring_sqe_set_data64(s, user_data);
}

void UringIo::send(int fd, const void* data, size_t len, uint64_t user_data) {
  const bool table = in_table(fd);
  io_uring_sqe* s = sqe();
  io_uring_prep_send(s, fd, data, len, MSG_NOSIGNAL);
  if (table) s->flags |= IOSQE_FIXED_FILE;  // (index = descriptor: s->fd stays as prepared)
  io_uring_sqe_set_data64(s, user_data);
}

void UringIo::sendmsg(int fd, const msghdr* msg, uint64_t user_data) {
  const bool table = in_table(fd);
  io_uring_sqe* s = sqe();
  io_uring_prep_sendmsg(s, fd, msg, MSG_NOSIGNAL);
  if (table) s->flags |= IOSQE_FIXED_FILE;  // (index = descriptor: s->fd stays as prepared)
  io_uring_sqe_set_data64(s, user_data);
}

void UringIo::read(int fd, void* data, size_t len, uint64_t user_data) {
  io_uring_sqe* s = sqe();
  io_uring_prep_read(s, fd, data, static_cast<unsigned>(len), 0);
  io_uring_sqe_set_data64(s, user_data);
}

void UringIo::submit(bool wait, int64_t timeout_ns) {
  publish_buffers();
  if (!wait) {
    io_uring_submit_and_get_events(&ring_);
    return;
  }
  __kernel_timespec ts{};
  ts.tv_sec = timeout_ns / 1000000000;
  ts.tv_nsec = timeout_ns % 1000000000;
  io_uring_cqe* cqe = nullptr;
  // -ETIME (timeout) and -EINTR are normal outcomes here; completions are read by the caller.
  io_uring_submit_and_wait_timeout(&ring_, &cqe, 1, &ts, nullptr);
}

}  // namespace ringcast
