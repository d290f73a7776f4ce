// ringcast-rawserve: the floor for connect-storm benchmarks. A WebSocket "server" that does only what
// the kernel and the handshake itself require of any server: accept, read the upgrade request, answer
// 101 with the key's SHA-1, then read and drop whatever the client sends. No rooms, no frames parsed, no
// state but a partial request. One thread, plain epoll; run several on one port (SO_REUSEPORT), as
// bench/storm_1m.sh --server raw does. What a real server pays per connection above this is its own.
// Its listener is set up as ringcast's (TCP_NODELAY, TCP_DEFER_ACCEPT, backlog 65535).
// Any other HTTP request (the load client's warm-up publish) gets an empty 200 and goes nowhere.
//
//   ringcast-rawserve PORT [HOST] [--defer-accept-s S]      prints "listening" once it is
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "engine/codec/handshake.h"

namespace {

constexpr size_t kRequestBytesMax = 8192;
constexpr int kAcceptsPerWake = 256;  // then back to epoll, so reads of the accepted are not starved

struct Conn {
  bool upgraded = false;
  std::string partial;  // a request not yet whole (rare: deferred accepts hand over its first bytes)
};

class Server {
 public:
  Server(int listener, int epoll) : listener_(listener), epoll_(epoll) {}

  void run() {
    epoll_event events[512];
    for (;;) {
      const int n = epoll_wait(epoll_, events, 512, -1);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {
        std::perror("epoll_wait");
        std::exit(1);
      }
      for (int i = 0; i < n; ++i) {
        if (events[i].data.fd == listener_)
          accept_some();
        else
          on_readable(events[i].data.fd);
      }
    }
  }

 private:
  void accept_some() {
    for (int i = 0; i < kAcceptsPerWake; ++i) {
      const int fd = accept4(listener_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd < 0) return;  // EAGAIN, or out of descriptors (the client's timeout judges that)
      if (static_cast<size_t>(fd) >= conns_.size()) conns_.resize(fd + 1024);
      conns_[fd] = Conn{};
      // Deferred accept: the request is usually already here, so read before waiting for it.
      if (!on_readable(fd)) continue;
      epoll_event ev{};
      ev.events = EPOLLIN;
      ev.data.fd = fd;
      epoll_ctl(epoll_, EPOLL_CTL_ADD, fd, &ev);
    }
  }

  // Reads what is there; false once the connection is closed.
  bool on_readable(int fd) {
    Conn& c = conns_[fd];
    for (;;) {
      const ssize_t n = read(fd, buf_, sizeof(buf_));
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && errno == EAGAIN) return true;
      if (n <= 0) return close_conn(fd);
      if (c.upgraded) continue;  // frames: dropped
      c.partial.append(buf_, static_cast<size_t>(n));
      if (!answer_requests(fd, c)) return close_conn(fd);
    }
  }

  // Answers every whole request in c.partial; false when the connection must be closed.
  bool answer_requests(int fd, Conn& c) {
    while (!c.upgraded) {
      const size_t head_end = c.partial.find("\r\n\r\n");
      if (head_end == std::string::npos) return c.partial.size() <= kRequestBytesMax;
      const std::string_view head(c.partial.data(), head_end + 2);
      const std::string_view key = header(head, "sec-websocket-key");
      if (!key.empty()) {
        const std::string answer =
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            "Sec-WebSocket-Accept: " +
            ringcast::handshake::accept_key(key) + "\r\n\r\n";
        if (!send_all(fd, answer)) return false;
        c.upgraded = true;
        std::string().swap(c.partial);  // what follows are frames, dropped
        return true;
      }
      const size_t body = std::strtoul(std::string(header(head, "content-length")).c_str(), nullptr, 10);
      if (body > kRequestBytesMax) return false;
      if (c.partial.size() < head_end + 4 + body) return true;
      if (!send_all(fd, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")) return false;
      c.partial.erase(0, head_end + 4 + body);
    }
    return true;
  }

  static std::string_view header(std::string_view head, std::string_view lower_name) {
    size_t at = head.find("\r\n");
    while (at != std::string_view::npos && at + 2 < head.size()) {
      at += 2;
      const size_t end = head.find("\r\n", at);
      const std::string_view line = head.substr(at, end - at);
      const size_t colon = line.find(':');
      if (colon == lower_name.size()) {
        bool same = true;
        for (size_t i = 0; i < colon && same; ++i)
          same = (line[i] | 0x20) == lower_name[i];  // ASCII letters, '-' and digits
        if (same) {
          std::string_view value = line.substr(colon + 1);
          while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
          while (!value.empty() && value.back() == ' ') value.remove_suffix(1);
          return value;
        }
      }
      at = end;
    }
    return {};
  }

  // Answers are a few hundred bytes into an empty send buffer: one write takes them.
  static bool send_all(int fd, std::string_view bytes) {
    return send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(bytes.size());
  }

  bool close_conn(int fd) {
    close(fd);
    conns_[fd] = Conn{};
    return false;
  }

  int listener_;
  int epoll_;
  std::vector<Conn> conns_;
  char buf_[16384];
};

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s PORT [HOST] [--defer-accept-s S]\n", argv[0]);
    return 2;
  }
  const int port = std::atoi(argv[1]);
  std::string host = "127.0.0.1";
  int defer_accept_s = 5;  // ringcast's default: its 5 s request deadline, in seconds
  for (int i = 2; i < argc; ++i) {
    if (std::strcmp(argv[i], "--defer-accept-s") == 0 && i + 1 < argc)
      defer_accept_s = std::atoi(argv[++i]);
    else
      host = argv[i];
  }
  signal(SIGPIPE, SIG_IGN);
  rlimit lim{};
  getrlimit(RLIMIT_NOFILE, &lim);
  lim.rlim_cur = lim.rlim_max;
  setrlimit(RLIMIT_NOFILE, &lim);

  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  const int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  if (defer_accept_s > 0)
    setsockopt(fd, IPPROTO_TCP, TCP_DEFER_ACCEPT, &defer_accept_s, sizeof(defer_accept_s));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  if (inet_pton(AF_INET, host.c_str(), &addr.sin_addr) != 1) {
    std::fprintf(stderr, "not an IPv4 address: %s\n", host.c_str());
    return 2;
  }
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 || listen(fd, 65535) != 0) {
    std::perror("listen");
    return 1;
  }
  const int epoll = epoll_create1(EPOLL_CLOEXEC);
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.fd = fd;
  epoll_ctl(epoll, EPOLL_CTL_ADD, fd, &ev);
  std::printf("listening on %s:%d\n", host.c_str(), port);
  std::fflush(stdout);
  Server(fd, epoll).run();
}
