// ringcast-rawcast: the physical baseline for broadcast benchmarks. It opens N loopback TCP connections
// to itself and, on a shared start signal, writes the same bytes to every one of them with a plain
// write() loop while reader processes read them back: no WebSocket, no rooms, no queues. The time
// until the last reader has everything is what the kernel and the loopback device need to move those
// bytes; a push server's broadcast time is judged as a ratio to it (bench/scale_1m.sh).
// With --frames K a round is K frames of --bytes to every connection: written frame after frame, one
// write per frame per connection (what a server without batching does), or with --merged queued per
// connection and written with one write each (what a server that corks per loop iteration does at
// best: the physical limit of batching, bench/compare.sh's perframe scenario).
//
// Layout: connections come in groups of at most --per-proc; each group is a writer process (listener
// + accepted sockets) and a reader process (connected sockets, epoll), so each process stays under the
// open-files limit and writing and reading run in parallel, as a server and its clients would.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <new>
#include <string>
#include <vector>

namespace {

struct Options {
  uint64_t connections = 10000;
  uint32_t bytes = 128;         // bytes per frame (e.g. one WebSocket frame)
  uint32_t frames = 1;          // frames per connection per round
  bool merged = false;          // a round's frames in one write per connection, not one write per frame
  uint32_t rounds = 5;          // broadcasts, one after another; each is timed
  uint32_t per_proc = 9500;     // connections per writer/reader process pair
  uint32_t per_source = 25000;  // connections per source address (127.0.0.2, 127.0.0.3, ...)
  std::string json;
  // CPUs the writers and the readers may run on (empty: any), so a comparison can give the writing
  // side the same core budget as a server under test and the reading side that of its clients.
  cpu_set_t writer_cpus{};
  cpu_set_t reader_cpus{};
  bool pin_writers = false;
  bool pin_readers = false;
};

constexpr uint32_t kMaxGroups = 1024;

// Shared between the parent and every child (MAP_SHARED anonymous mapping created before fork).
struct Shared {
  std::atomic<uint32_t> ready;         // groups whose connections are all established
  std::atomic<uint32_t> failed;
  std::atomic<int32_t> round;          // the round writers should run now (-1: none yet)
  std::atomic<uint32_t> done_readers;  // readers finished with the current round
  std::atomic<uint32_t> done_writers;
  std::atomic<int64_t> start_ns;
  std::atomic<int64_t> last_read_ns;   // max over readers of the time their last byte arrived
  std::atomic<int64_t> last_write_ns;  // max over writers of the time their last write returned
  std::atomic<int64_t> writer_cpu_us;  // CPU time (user + system) of the writers over the rounds
  std::atomic<int64_t> reader_cpu_us;
  char error[256];
};

int64_t now_ns() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

int64_t self_cpu_us() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return (static_cast<int64_t>(ru.ru_utime.tv_sec) + ru.ru_stime.tv_sec) * 1000000 + ru.ru_utime.tv_usec +
         ru.ru_stime.tv_usec;
}

// "0,2-3" -> a CPU set; false on a malformed list.
bool parse_cpus(const char* text, cpu_set_t& set) {
  CPU_ZERO(&set);
  const char* p = text;
  while (*p) {
    char* end = nullptr;
    const long first = std::strtol(p, &end, 10);
    if (end == p || first < 0 || first >= CPU_SETSIZE) return false;
    long last = first;
    p = end;
    if (*p == '-') {
      last = std::strtol(p + 1, &end, 10);
      if (end == p + 1 || last < first || last >= CPU_SETSIZE) return false;
      p = end;
    }
    for (long c = first; c <= last; ++c) CPU_SET(static_cast<int>(c), &set);
    if (*p == ',') ++p;
    else if (*p) return false;
  }
  return CPU_COUNT(&set) > 0;
}

void atomic_max(std::atomic<int64_t>& a, int64_t v) {
  int64_t cur = a.load();
  while (cur < v && !a.compare_exchange_weak(cur, v)) {
  }
}

[[noreturn]] void die(Shared* shared, const char* what) {
  std::snprintf(shared->error, sizeof(shared->error), "%s: %s", what, std::strerror(errno));
  shared->failed.fetch_add(1);
  _exit(1);
}

void usage() {
  std::puts(
      "usage: ringcast-rawcast [--connections N] [--bytes B] [--frames K] [--merged] [--rounds R]\n"
      "                        [--per-proc N] [--per-source N] [--writer-cpus LIST] [--reader-cpus LIST]\n"
      "                        [--json FILE]\n"
      "Writes K frames of B bytes to each of N loopback TCP connections with a plain write() loop, R\n"
      "times, and reports how long each round took until every reader had its bytes (the physical\n"
      "baseline), and the CPU time writers and readers spent over the rounds. Without --merged every\n"
      "frame is its own write (frame after frame, to every connection); with --merged a connection's K\n"
      "frames go in one write. --writer-cpus/--reader-cpus (e.g. 1 or 0-1) pin the writer and reader\n"
      "processes.");
}

// The writer of a group: accepts its connections, then on each round writes the buffer to each.
[[noreturn]] void writer(Shared* shared, const Options& o, int listen_fd, uint32_t count) {
  if (o.pin_writers) sched_setaffinity(0, sizeof(o.writer_cpus), &o.writer_cpus);
  std::vector<int> fds;
  fds.reserve(count);
  while (fds.size() < count) {
    int fd = accept4(listen_fd, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) die(shared, "accept");
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    fds.push_back(fd);
  }
  // Merged: the K frames of a round side by side, one write; else one frame, written K times.
  std::vector<char> buf(static_cast<size_t>(o.bytes) * (o.merged ? o.frames : 1), 'x');
  const uint32_t passes = o.merged ? 1 : o.frames;
  auto write_all = [&](int fd) {
    size_t off = 0;
    while (off < buf.size()) {
      ssize_t n = write(fd, buf.data() + off, buf.size() - off);
      if (n < 0) {
        if (errno == EINTR) continue;
        die(shared, "write");
      }
      off += static_cast<size_t>(n);
    }
  };
  const int64_t cpu_start_us = self_cpu_us();
  for (uint32_t r = 0; r < o.rounds; ++r) {
    while (shared->round.load(std::memory_order_acquire) < static_cast<int32_t>(r)) usleep(50);
    for (uint32_t pass = 0; pass < passes; ++pass)
      for (int fd : fds) write_all(fd);
    atomic_max(shared->last_write_ns, now_ns());
    if (r + 1 == o.rounds) shared->writer_cpu_us.fetch_add(self_cpu_us() - cpu_start_us);
    shared->done_writers.fetch_add(1);
  }
  _exit(0);
}

// The reader of a group: connects its sockets, then reads each round's bytes from all of them.
[[noreturn]] void reader(Shared* shared, const Options& o, uint16_t port, uint64_t first_index, uint32_t count) {
  if (o.pin_readers) sched_setaffinity(0, sizeof(o.reader_cpus), &o.reader_cpus);
  int ep = epoll_create1(EPOLL_CLOEXEC);
  std::vector<int> fds;
  fds.reserve(count);
  sockaddr_in dst{};
  dst.sin_family = AF_INET;
  dst.sin_port = htons(port);
  dst.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  for (uint32_t i = 0; i < count; ++i) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) die(shared, "socket");
    int one = 1;
    setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
    sockaddr_in src{};
    src.sin_family = AF_INET;
    src.sin_addr.s_addr = htonl((127u << 24) + 2 + static_cast<uint32_t>((first_index + i) / o.per_source));
    if (bind(fd, reinterpret_cast<sockaddr*>(&src), sizeof(src)) != 0) die(shared, "bind source address");
    if (connect(fd, reinterpret_cast<sockaddr*>(&dst), sizeof(dst)) != 0) die(shared, "connect");
    fcntl(fd, F_SETFL, O_NONBLOCK);
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u32 = i;
    epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
    fds.push_back(fd);
  }
  shared->ready.fetch_add(1);
  const uint32_t want = o.bytes * o.frames;  // a connection's bytes per round
  std::vector<uint32_t> have(count, 0);
  std::vector<char> buf(64 * 1024);
  std::vector<epoll_event> events(4096);
  const int64_t cpu_start_us = self_cpu_us();
  for (uint32_t r = 0; r < o.rounds; ++r) {
    std::fill(have.begin(), have.end(), 0);
    uint32_t complete = 0;
    while (complete < count) {
      int n = epoll_wait(ep, events.data(), static_cast<int>(events.size()), 1000);
      if (n < 0 && errno != EINTR) die(shared, "epoll_wait");
      for (int k = 0; k < n; ++k) {
        uint32_t i = events[k].data.u32;
        for (;;) {
          ssize_t got = read(fds[i], buf.data(), buf.size());
          if (got <= 0) break;
          bool was_short = have[i] < want;
          have[i] += static_cast<uint32_t>(got);
          if (was_short && have[i] >= want) ++complete;
        }
      }
    }
    atomic_max(shared->last_read_ns, now_ns());
    if (r + 1 == o.rounds) shared->reader_cpu_us.fetch_add(self_cpu_us() - cpu_start_us);
    shared->done_readers.fetch_add(1);
  }
  _exit(0);
}

double percentile(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  size_t i = static_cast<size_t>(p * (v.size() - 1) + 0.5);
  return v[std::min(i, v.size() - 1)];
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> const char* {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "rawcast: %s needs a value\n", a.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--connections") o.connections = std::strtoull(next(), nullptr, 10);
    else if (a == "--bytes") o.bytes = static_cast<uint32_t>(std::strtoul(next(), nullptr, 10));
    else if (a == "--frames") o.frames = static_cast<uint32_t>(std::strtoul(next(), nullptr, 10));
    else if (a == "--merged") o.merged = true;
    else if (a == "--rounds") o.rounds = static_cast<uint32_t>(std::strtoul(next(), nullptr, 10));
    else if (a == "--per-proc") o.per_proc = static_cast<uint32_t>(std::strtoul(next(), nullptr, 10));
    else if (a == "--per-source") o.per_source = static_cast<uint32_t>(std::strtoul(next(), nullptr, 10));
    else if (a == "--json") o.json = next();
    else if (a == "--writer-cpus" || a == "--reader-cpus") {
      const bool w = a == "--writer-cpus";
      if (!parse_cpus(next(), w ? o.writer_cpus : o.reader_cpus)) {
        std::fprintf(stderr, "rawcast: %s: expected a CPU list such as 0 or 0-1\n", a.c_str());
        return 2;
      }
      (w ? o.pin_writers : o.pin_readers) = true;
    }
    else if (a == "--help" || a == "-h") {
      usage();
      return 0;
    } else {
      std::fprintf(stderr, "rawcast: unknown option %s\n", a.c_str());
      usage();
      return 2;
    }
  }
  if (o.connections == 0 || o.bytes == 0 || o.frames == 0 || o.rounds == 0 || o.per_proc == 0 ||
      o.per_source == 0) {
    std::fprintf(stderr, "rawcast: every count must be positive\n");
    return 2;
  }
  rlimit lim{};
  getrlimit(RLIMIT_NOFILE, &lim);
  lim.rlim_cur = lim.rlim_max;
  setrlimit(RLIMIT_NOFILE, &lim);
  if (static_cast<uint64_t>(o.bytes) * o.frames > (1u << 30)) {
    std::fprintf(stderr, "rawcast: --bytes x --frames must stay under 1 GiB\n");
    return 2;
  }
  if (o.per_proc + 64 > lim.rlim_cur) {
    std::fprintf(stderr, "rawcast: --per-proc %u does not fit the open-files limit %llu\n", o.per_proc,
                 static_cast<unsigned long long>(lim.rlim_cur));
    return 2;
  }
  const uint32_t groups = static_cast<uint32_t>((o.connections + o.per_proc - 1) / o.per_proc);
  if (groups > kMaxGroups) {
    std::fprintf(stderr, "rawcast: too many groups (%u); raise --per-proc\n", groups);
    return 2;
  }
  auto* shared = static_cast<Shared*>(
      mmap(nullptr, sizeof(Shared), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0));
  new (shared) Shared();
  shared->round.store(-1);
  std::vector<pid_t> children;
  const int64_t setup_start = now_ns();
  for (uint32_t g = 0; g < groups; ++g) {
    const uint64_t first = static_cast<uint64_t>(g) * o.per_proc;
    const uint32_t count = static_cast<uint32_t>(std::min<uint64_t>(o.per_proc, o.connections - first));
    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (lfd < 0 || bind(lfd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 || listen(lfd, 65535) != 0) {
      std::perror("rawcast: listen");
      return 1;
    }
    socklen_t len = sizeof(addr);
    getsockname(lfd, reinterpret_cast<sockaddr*>(&addr), &len);
    pid_t w = fork();
    if (w == 0) writer(shared, o, lfd, count);
    pid_t r = fork();
    if (r == 0) reader(shared, o, ntohs(addr.sin_port), first, count);
    close(lfd);
    children.push_back(w);
    children.push_back(r);
  }
  auto fail = [&]() {
    std::fprintf(stderr, "rawcast: %s\n", shared->error);
    for (pid_t p : children) kill(p, SIGKILL);
    while (wait(nullptr) > 0) {
    }
    return 1;
  };
  while (shared->ready.load() < groups) {
    if (shared->failed.load()) return fail();
    usleep(1000);
  }
  const double setup_s = static_cast<double>(now_ns() - setup_start) / 1e9;
  std::vector<double> round_ms, write_ms;
  for (uint32_t r = 0; r < o.rounds; ++r) {
    shared->done_readers.store(0);
    shared->done_writers.store(0);
    shared->last_read_ns.store(0);
    shared->last_write_ns.store(0);
    const int64_t t0 = now_ns();
    shared->start_ns.store(t0);
    shared->round.store(static_cast<int32_t>(r), std::memory_order_release);
    while (shared->done_readers.load() < groups || shared->done_writers.load() < groups) {
      if (shared->failed.load()) return fail();
      usleep(20);
    }
    round_ms.push_back(static_cast<double>(shared->last_read_ns.load() - t0) / 1e6);
    write_ms.push_back(static_cast<double>(shared->last_write_ns.load() - t0) / 1e6);
    usleep(100 * 1000);  // let the system settle between rounds
  }
  for (pid_t p : children) waitpid(p, nullptr, 0);
  const double median = percentile(round_ms, 0.5);
  const double writer_cpu_s = static_cast<double>(shared->writer_cpu_us.load()) / 1e6;
  const double reader_cpu_s = static_cast<double>(shared->reader_cpu_us.load()) / 1e6;
  double total_ms = 0;
  for (double v : round_ms) total_ms += v;
  const double frames_per_s =
      total_ms > 0 ? static_cast<double>(o.connections) * o.frames * o.rounds / (total_ms / 1e3) : 0.0;
  std::printf(
      "rawcast: %llu connections, %u frames of %u bytes each (%s), %u rounds: broadcast median %.2f ms "
      "(min %.2f, max %.2f), write loop median %.2f ms, %.0f frames/s, set-up %.1f s\n",
      static_cast<unsigned long long>(o.connections), o.frames, o.bytes,
      o.merged ? "one write per connection" : "one write per frame", o.rounds, median,
      *std::min_element(round_ms.begin(), round_ms.end()),
      *std::max_element(round_ms.begin(), round_ms.end()), percentile(write_ms, 0.5), frames_per_s, setup_s);
  std::printf("rawcast: CPU over the rounds: writers %.2f s, readers %.2f s\n", writer_cpu_s, reader_cpu_s);
  if (!o.json.empty()) {
    FILE* f = std::fopen(o.json.c_str(), "w");
    if (!f) {
      std::perror("rawcast: --json");
      return 1;
    }
    std::fprintf(f,
                 "{\"connections\":%llu,\"bytes\":%u,\"frames\":%u,\"merged\":%s,\"rounds\":%u,"
                 "\"processes\":%u,\"broadcast_ms\":[",
                 static_cast<unsigned long long>(o.connections), o.bytes, o.frames,
                 o.merged ? "true" : "false", o.rounds, 2 * groups);
    for (size_t i = 0; i < round_ms.size(); ++i) std::fprintf(f, "%s%.3f", i ? "," : "", round_ms[i]);
    std::fprintf(f,
                 "],\"broadcast_ms_median\":%.3f,\"write_ms_median\":%.3f,\"setup_s\":%.2f,"
                 "\"writes_per_second\":%.0f,\"frames_per_second\":%.0f,\"writer_cpu_s\":%.3f,"
                 "\"reader_cpu_s\":%.3f}\n",
                 median, percentile(write_ms, 0.5), setup_s,
                 total_ms > 0 ? static_cast<double>(o.connections) * o.rounds / (total_ms / 1e3) : 0.0,
                 frames_per_s, writer_cpu_s, reader_cpu_s);
    std::fclose(f);
  }
  return 0;
}
