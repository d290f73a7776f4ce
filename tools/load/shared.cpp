// Creation of ringcast-load's shared mapping (see shared.h) and two small clock/memory helpers.
// The memfd is mapped before fork and never unmapped: every process sees it until it exits.
#include "tools/load/shared.h"

#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <new>

namespace ringcast::load {

// Counters cross process boundaries through the mapping: they must be plain lock-free words.
static_assert(std::atomic<uint64_t>::is_always_lock_free);
static_assert(std::atomic<uint32_t>::is_always_lock_free);

namespace {

size_t round_up(size_t n, size_t to) {
  return (n + to - 1) / to * to;
}

}  // namespace

bool Shared::create(uint32_t room_slots, uint32_t workers, std::string& error) {
  SharedLayout layout;
  layout.control_offset = 0;
  layout.rooms_offset = round_up(sizeof(ControlBlock), 64);
  layout.workers_offset = round_up(layout.rooms_offset + sizeof(RoomBlock) * room_slots, 64);
  layout.total_bytes = round_up(layout.workers_offset + sizeof(WorkerBlock) * workers, 4096);

  const int fd = memfd_create("ringcast-load", MFD_CLOEXEC);
  if (fd < 0) {
    error = std::string("memfd_create: ") + std::strerror(errno);
    return false;
  }
  if (ftruncate(fd, static_cast<off_t>(layout.total_bytes)) != 0) {
    error = std::string("ftruncate of the shared memory: ") + std::strerror(errno);
    close(fd);
    return false;
  }
  void* mem = mmap(nullptr, layout.total_bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  close(fd);  // the mapping keeps the memory
  if (mem == MAP_FAILED) {
    error = std::string("mmap of the shared memory: ") + std::strerror(errno);
    return false;
  }
  auto* base = static_cast<uint8_t*>(mem);
  control_ = new (base + layout.control_offset) ControlBlock();
  rooms_ = reinterpret_cast<RoomBlock*>(base + layout.rooms_offset);
  for (uint32_t i = 0; i < room_slots; ++i) new (&rooms_[i]) RoomBlock();
  workers_ = reinterpret_cast<WorkerBlock*>(base + layout.workers_offset);
  for (uint32_t i = 0; i < workers; ++i) new (&workers_[i]) WorkerBlock();
  worker_count_ = workers;
  room_slots_ = room_slots;
  return true;
}

uint64_t monotonic_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<uint64_t>(ts.tv_nsec);
}

uint64_t rss_bytes() {
  FILE* f = std::fopen("/proc/self/statm", "r");
  if (f == nullptr) return 0;
  unsigned long size_pages = 0, resident_pages = 0, shared_pages = 0;
  const int got = std::fscanf(f, "%lu %lu %lu", &size_pages, &resident_pages, &shared_pages);
  std::fclose(f);
  if (got != 3 || shared_pages > resident_pages) return 0;
  return static_cast<uint64_t>(resident_pages - shared_pages) * static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
}

}  // namespace ringcast::load
