// Shared region set-up: memfd + a double mapping of the ring's data area.
#include "engine/node/shm.h"

#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <new>

namespace ringcast {
namespace {

size_t round_up(size_t v, size_t to) { return (v + to - 1) / to * to; }

}  // namespace

bool SharedRegion::create(size_t ring_bytes, const RoomTableShape& rooms, uint32_t presence_boxes,
                          std::string& error) {
  const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  const size_t table_at = round_up(round_up(sizeof(SharedHeader), 64) + Ring::commit_array_bytes(ring_bytes), 64);
  // The presence boxes come after the room table: pages of a box nobody asked are never touched.
  const size_t presence_at = round_up(table_at + RoomTable::bytes_for(rooms), 64);
  const size_t presence_bytes = presence_boxes ? PresenceBoard::bytes_for(presence_boxes) : 0;
  fixed_bytes_ = round_up(presence_at + presence_bytes, page);
  ring_bytes_ = ring_bytes;
  fd_ = memfd_create("ringcast-shared", MFD_CLOEXEC);
  if (fd_ < 0) {
    error = std::string("memfd_create: ") + std::strerror(errno);
    return false;
  }
  if (ftruncate(fd_, static_cast<off_t>(fixed_bytes_ + ring_bytes_)) != 0) {
    error = std::string("ftruncate of the shared region: ") + std::strerror(errno);
    return false;
  }
  // Reserve address space for the fixed part plus two views of the data, then map the file over it.
  const size_t total = fixed_bytes_ + 2 * ring_bytes_;
  void* reserved = mmap(nullptr, total, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (reserved == MAP_FAILED) {
    error = std::string("mmap (reserve): ") + std::strerror(errno);
    return false;
  }
  base_ = static_cast<uint8_t*>(reserved);
  void* first = mmap(base_, fixed_bytes_ + ring_bytes_, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, fd_, 0);
  void* second = first == MAP_FAILED ? MAP_FAILED
                                     : mmap(base_ + fixed_bytes_ + ring_bytes_, ring_bytes_,
                                            PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, fd_,
                                            static_cast<off_t>(fixed_bytes_));
  if (first == MAP_FAILED || second == MAP_FAILED) {
    error = std::string("mmap (shared region): ") + std::strerror(errno);
    return false;
  }
  header_ = new (base_) SharedHeader();
  commits_ = reinterpret_cast<std::atomic<uint64_t>*>(base_ + round_up(sizeof(SharedHeader), 64));
  data_ = base_ + fixed_bytes_;
  Ring::initialize(&header_->ring, commits_, ring_bytes_);
  RoomTable::initialize(base_ + table_at, rooms);
  room_table_ = reinterpret_cast<RoomTableHeader*>(base_ + table_at);
  if (presence_boxes) {
    presence_ = base_ + presence_at;
    PresenceBoard::initialize(presence_, presence_boxes);
  }
  header_->cluster.clear();
  for (auto& s : header_->stats) s.clear();
  header_->stopping.store(0, std::memory_order_relaxed);
  header_->shard_count.store(0, std::memory_order_relaxed);
  header_->shards_ready.store(0, std::memory_order_relaxed);
  for (auto& f : header_->shard_stop) f.store(0, std::memory_order_relaxed);
  return true;
}

SharedRegion::~SharedRegion() {
  if (base_) munmap(base_, fixed_bytes_ + 2 * ring_bytes_);
  if (fd_ >= 0) close(fd_);
}

}  // namespace ringcast
