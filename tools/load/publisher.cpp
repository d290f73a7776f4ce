// The publisher (see publisher.h). A handful of sockets, so a plain ppoll() loop: the cost that
// matters is the server's, and a request is built only when it can be written at once, so its
// t_ns is the moment it goes out. An https:// --publish-url puts OpenSSL on each socket itself
// (handshake at connect, which blocks here as the TCP connect does, bounded by a timeout).
#include "tools/load/publisher.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <deque>
#include <string>
#include <thread>
#include <vector>

#include "tools/load/scan.h"
#include "tools/load/tls.h"

namespace ringcast::load {
namespace {

constexpr size_t kReadChunkBytes = 65536;
constexpr uint64_t kPhasePollNs = 1'000'000;
constexpr uint64_t kIdlePollNs = 50'000'000;
// The TLS handshake of a publish connection waits at most this long for the server.
constexpr time_t kTlsHandshakeTimeoutS = 10;

struct InFlight {
  uint32_t room;
  uint64_t seq;
};

struct PubConn {
  int fd = -1;
  SSL* ssl = nullptr;  // https://
  std::string out;
  size_t out_off = 0;
  std::string in;
  std::deque<InFlight> in_flight;
};

// The body template split at its placeholders.
struct Piece {
  enum Kind : uint8_t { literal, room, item } kind;
  std::string text;
};

std::vector<Piece> split_template(const std::string& t) {
  std::vector<Piece> pieces;
  size_t at = 0;
  while (at < t.size()) {
    const size_t room = t.find("{room}", at);
    const size_t item = t.find("{item}", at);
    const size_t next = std::min(room, item);
    if (next == std::string::npos) {
      pieces.push_back({Piece::literal, t.substr(at)});
      break;
    }
    if (next > at) pieces.push_back({Piece::literal, t.substr(at, next - at)});
    pieces.push_back({next == room ? Piece::room : Piece::item, {}});
    at = next + 6;
  }
  return pieces;
}

void append_uint(std::string& out, uint64_t v) {
  char digits[24];
  auto [end, ec] = std::to_chars(digits, digits + sizeof digits, v);
  (void)ec;
  out.append(digits, end);
}

class Publisher {
 public:
  Publisher(const Options& o, const Shared& shared)
      : o_(o), shared_(shared), control_(shared.control()), pieces_(split_template(o.publish_body)) {}
  ~Publisher();
  int run();

 private:
  bool connect_one(PubConn& c, std::string& error);
  bool start_tls(PubConn& c, std::string& error);
  void close_conn(PubConn& c);
  // send() and recv() over the connection's stream (TLS or not), with their conventions: bytes, 0 at
  // the end of the stream, -1 with errno (EAGAIN: try again when poll says so).
  ssize_t stream_send(PubConn& c, const char* data, size_t len);
  ssize_t stream_recv(PubConn& c, char* data, size_t len);
  void build_request(PubConn& c, uint32_t room, uint64_t seq);
  bool flush(PubConn& c);
  bool read_answers(PubConn& c);
  void answer(const InFlight& f, const HttpResponse& r);
  void lose_in_flight(PubConn& c, const std::string& why);
  void fail_item(uint32_t room, const std::string& why);
  uint32_t room_of(uint64_t k) const {
    return o_.publish_target == PublishTarget::also ? o_.also_index() : static_cast<uint32_t>(k % o_.rooms);
  }

  const Options& o_;
  const Shared& shared_;
  ControlBlock& control_;
  const std::vector<Piece> pieces_;
  std::vector<std::string> room_names_;
  std::vector<uint64_t> seqs_;
  std::vector<PubConn> conns_;
  std::string body_;
  bool give_up_ = false;
  SSL_CTX* tls_ctx_ = nullptr;  // https://
  std::string tls_error_;       // why the last stream call failed, for the failure notes
};

Publisher::~Publisher() {
  for (PubConn& c : conns_) close_conn(c);
  if (tls_ctx_ != nullptr) SSL_CTX_free(tls_ctx_);
}

void Publisher::close_conn(PubConn& c) {
  if (c.ssl != nullptr) {
    SSL_free(c.ssl);
    c.ssl = nullptr;
  }
  if (c.fd >= 0) close(c.fd);
  c.fd = -1;
}

bool Publisher::start_tls(PubConn& c, std::string& error) {
  if (tls_ctx_ == nullptr) {
    tls_ctx_ = new_client_context({o_.ca_file, o_.insecure}, error);
    if (tls_ctx_ == nullptr) return false;
    // The request buffer grows while a write waits for the socket: SSL_write is then called again with
    // the same bytes at a new address, and more of them.
    SSL_CTX_set_mode(tls_ctx_, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    // A server that closes an idle keep-alive connection without close_notify (many do) is an end
    // of stream like a plain one, not an error: HTTP's own framing says whether an answer was cut.
    SSL_CTX_set_options(tls_ctx_, SSL_OP_IGNORE_UNEXPECTED_EOF);
  }
  c.ssl = SSL_new(tls_ctx_);
  if (c.ssl == nullptr || SSL_set_fd(c.ssl, c.fd) != 1) {
    error = "TLS with " + o_.publish.host_header + ": SSL_new failed";
    return false;
  }
  if (!set_server_name(c.ssl, o_.publish.host, !o_.insecure, error)) return false;
  const timeval limit{kTlsHandshakeTimeoutS, 0};
  setsockopt(c.fd, SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof limit);
  setsockopt(c.fd, SOL_SOCKET, SO_SNDTIMEO, &limit, sizeof limit);
  ERR_clear_error();
  const int rc = SSL_connect(c.ssl);
  if (rc != 1) {
    const long verify = SSL_get_verify_result(c.ssl);
    const unsigned long e = ERR_get_error();
    ERR_clear_error();
    error = "TLS handshake with " + o_.publish.host_header + ": ";
    if (verify != X509_V_OK)
      error += std::string("certificate verify failed: ") + X509_verify_cert_error_string(verify);
    else if (e != 0 && ERR_reason_error_string(e) != nullptr)
      error += ERR_reason_error_string(e);
    else
      error += "the connection ended (or timed out) during the handshake";
    return false;
  }
  const timeval none{0, 0};
  setsockopt(c.fd, SOL_SOCKET, SO_RCVTIMEO, &none, sizeof none);
  setsockopt(c.fd, SOL_SOCKET, SO_SNDTIMEO, &none, sizeof none);
  return true;
}

ssize_t Publisher::stream_send(PubConn& c, const char* data, size_t len) {
  if (c.ssl == nullptr) return send(c.fd, data, len, MSG_NOSIGNAL);
  ERR_clear_error();
  size_t written = 0;
  if (SSL_write_ex(c.ssl, data, len, &written) == 1) return static_cast<ssize_t>(written);
  const int e = SSL_get_error(c.ssl, 0);
  if (e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ) {
    errno = EAGAIN;
  } else {
    const unsigned long code = ERR_get_error();
    tls_error_ = code != 0 && ERR_reason_error_string(code) != nullptr ? ERR_reason_error_string(code)
                                                                       : "TLS write failed";
    ERR_clear_error();
    errno = EPROTO;
  }
  return -1;
}

ssize_t Publisher::stream_recv(PubConn& c, char* data, size_t len) {
  if (c.ssl == nullptr) return recv(c.fd, data, len, 0);
  ERR_clear_error();
  size_t got = 0;
  if (SSL_read_ex(c.ssl, data, len, &got) == 1) return static_cast<ssize_t>(got);
  const int e = SSL_get_error(c.ssl, 0);
  if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
    errno = EAGAIN;
    return -1;
  }
  if (e == SSL_ERROR_ZERO_RETURN) return 0;  // close_notify
  const unsigned long code = ERR_get_error();
  tls_error_ = code != 0 && ERR_reason_error_string(code) != nullptr ? ERR_reason_error_string(code)
                                                                     : "the stream ended inside a TLS record";
  ERR_clear_error();
  errno = EPROTO;
  return -1;
}

bool Publisher::connect_one(PubConn& c, std::string& error) {
  c = PubConn{};
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    error = std::string("socket: ") + std::strerror(errno);
    return false;
  }
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(o_.publish.port);
  sa.sin_addr.s_addr = htonl(o_.publish.ip_host);
  if (connect(fd, reinterpret_cast<const sockaddr*>(&sa), sizeof sa) != 0) {
    error = "connect " + o_.publish.host_header + ": " + std::strerror(errno);
    close(fd);
    return false;
  }
  const int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  c.fd = fd;
  if (o_.publish.tls && !start_tls(c, error)) {
    close_conn(c);
    return false;
  }
  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
  return true;
}

void Publisher::build_request(PubConn& c, uint32_t room, uint64_t seq) {
  const uint64_t t_ns = monotonic_ns();
  body_.clear();
  for (const Piece& p : pieces_) {
    if (p.kind == Piece::literal)
      body_ += p.text;
    else if (p.kind == Piece::room)
      body_ += room_names_[room];
    else if (o_.payload_kind == PayloadKind::danmaku)
      append_danmaku_item(body_, room, seq, t_ns);
    else
      append_item(body_, room, seq, t_ns, o_.payload_bytes);
  }
  std::string& out = c.out;
  if (c.out_off == out.size()) {
    out.clear();
    c.out_off = 0;
  }
  out += "POST ";
  out += o_.publish.path(room_names_[room]);
  out += " HTTP/1.1\r\nHost: ";
  out += o_.publish.host_header;
  out += "\r\nContent-Type: ";
  out += o_.publish_content_type;
  out += "\r\nContent-Length: ";
  append_uint(out, body_.size());
  out += "\r\n\r\n";
  out += body_;
  c.in_flight.push_back({room, seq});
  RoomBlock& r = shared_.room(room);
  r.last_sent_seq.set(seq);
  control_.publish_sent.add();
  if (control_.publish_start_ns.get() == 0) control_.publish_start_ns.set(t_ns);
  control_.publish_end_ns.set(t_ns);
}

bool Publisher::flush(PubConn& c) {
  while (c.out_off < c.out.size()) {
    const ssize_t n = stream_send(c, c.out.data() + c.out_off, c.out.size() - c.out_off);
    if (n < 0) {
      if (errno == EAGAIN || errno == EINTR) return true;
      lose_in_flight(c, std::string("publish connection: send: ") +
                            (errno == EPROTO ? tls_error_ : std::string(std::strerror(errno))));
      return false;
    }
    c.out_off += static_cast<size_t>(n);
  }
  return true;
}

bool Publisher::read_answers(PubConn& c) {
  char chunk[kReadChunkBytes];
  while (true) {
    const ssize_t n = stream_recv(c, chunk, sizeof chunk);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
      if (c.in_flight.empty() && n == 0) {
        // An idle keep-alive connection closed by the server: reconnect quietly.
        close_conn(c);
        std::string error;
        if (!connect_one(c, error)) {
          control_.publish_first_failure.record(error);
          give_up_ = true;
          return false;
        }
        return true;
      }
      lose_in_flight(c, n == 0            ? std::string("publish connection closed by the server")
                        : errno == EPROTO ? "publish connection: TLS: " + tls_error_
                                          : std::string("publish connection: recv: ") + std::strerror(errno));
      return false;
    }
    if (n < 0) break;
    c.in.append(chunk, static_cast<size_t>(n));
  }
  size_t at = 0;
  while (at < c.in.size()) {
    HttpResponse r;
    const HttpParse status = parse_http_response(std::string_view(c.in).substr(at), r);
    if (status == HttpParse::incomplete) break;
    if (status == HttpParse::error || c.in_flight.empty()) {
      lose_in_flight(c, c.in_flight.empty() ? "answer without a request on a publish connection"
                                            : "unparsable HTTP answer on a publish connection");
      return false;
    }
    answer(c.in_flight.front(), r);
    c.in_flight.pop_front();
    at += r.consumed;
    if (r.close && c.in_flight.empty()) break;
  }
  c.in.erase(0, at);
  return true;
}

void Publisher::answer(const InFlight& f, const HttpResponse& r) {
  RoomBlock& room = shared_.room(f.room);
  if (r.status >= 200 && r.status < 300) {
    control_.publish_accepted.add();
    room.accepted_items.add();
    room.last_accepted_seq.raise_to(f.seq);
    return;
  }
  std::string why = "HTTP " + std::to_string(r.status) + " for room " + room_names_[f.room] + " seq " +
                    std::to_string(f.seq);
  if (!r.body.empty()) why += ": " + std::string(r.body.substr(0, 120));
  fail_item(f.room, why);
}

void Publisher::fail_item(uint32_t room, const std::string& why) {
  control_.publish_failed.add();
  shared_.room(room).failed_items.add();
  control_.publish_first_failure.record(why);
}

void Publisher::lose_in_flight(PubConn& c, const std::string& why) {
  control_.publish_conn_errors.add();
  // The server may or may not have taken these; they are counted as failed (so not expected), and a
  // delivery of one would show up as received above expected.
  for (const InFlight& f : c.in_flight) fail_item(f.room, why + " with the request in flight");
  c.in_flight.clear();
  close_conn(c);
  std::string error;
  if (!connect_one(c, error)) {
    control_.publish_first_failure.record(why + "; reconnect failed: " + error);
    give_up_ = true;
  }
}

int Publisher::run() {
  // Wait for the parent to start the publishing phase.
  while (shared_.phase() < Phase::publishing)
    std::this_thread::sleep_for(std::chrono::nanoseconds(kPhasePollNs));
  auto finish = [&](int code) {
    for (PubConn& c : conns_) close_conn(c);
    control_.publisher_done_ns.set(monotonic_ns());
    control_.publisher_done.set(1);
    return code;
  };
  if (shared_.phase() != Phase::publishing) return finish(0);

  for (uint32_t r = 0; r < o_.room_slots(); ++r) room_names_.push_back(o_.room_name(r));
  seqs_.assign(o_.room_slots(), 0);
  conns_.resize(o_.publish_conns);
  for (PubConn& c : conns_) {
    std::string error;
    if (!connect_one(c, error)) {
      control_.publish_first_failure.record(error);
      control_.publish_conn_errors.add();
      return finish(0);
    }
  }

  const uint64_t start_ns = monotonic_ns();
  const uint64_t end_ns =
      o_.duration_s > 0 ? start_ns + static_cast<uint64_t>(o_.duration_s * 1e9) : UINT64_MAX;
  uint64_t planning_done_ns = 0;
  uint64_t k = 0;
  std::vector<pollfd> fds(conns_.size());
  while (shared_.phase() == Phase::publishing) {
    uint64_t now = monotonic_ns();
    bool planning = !give_up_ && (o_.publish_count == 0 || k < o_.publish_count) && now < end_ns;
    // Queue every item that is due and whose connection has room in its pipeline. Items wait in
    // plan order: a full pipeline holds back the rest, which keeps the rate honest.
    uint64_t next_due = now;
    while (planning) {
      if (o_.publish_rate > 0) {
        next_due = start_ns + static_cast<uint64_t>(static_cast<double>(k) * 1e9 / o_.publish_rate);
        if (next_due > now) break;
      }
      const uint32_t room = room_of(k);
      PubConn& c = conns_[room % conns_.size()];
      if (c.in_flight.size() >= o_.pipeline) break;
      build_request(c, room, ++seqs_[room]);
      ++k;
      if (!flush(c)) break;
      now = monotonic_ns();
      planning = !give_up_ && (o_.publish_count == 0 || k < o_.publish_count) && now < end_ns;
    }
    bool outstanding = false;
    for (PubConn& c : conns_) outstanding |= !c.in_flight.empty() || c.out_off < c.out.size();
    if (!planning) {
      if (planning_done_ns == 0) planning_done_ns = now;
      if (!outstanding) break;
      if (now - planning_done_ns > static_cast<uint64_t>(o_.drain_timeout_s * 1e9)) {
        for (PubConn& c : conns_) {
          for (const InFlight& f : c.in_flight) fail_item(f.room, "no answer within --drain-timeout");
          c.in_flight.clear();
        }
        break;
      }
    }

    for (size_t i = 0; i < conns_.size(); ++i) {
      fds[i].fd = conns_[i].fd;
      fds[i].events = static_cast<short>(POLLIN | (conns_[i].out_off < conns_[i].out.size() ? POLLOUT : 0));
      fds[i].revents = 0;
    }
    uint64_t wait_ns = kIdlePollNs;
    if (planning && o_.publish_rate > 0 && next_due > now) wait_ns = std::min(wait_ns, next_due - now);
    timespec ts{static_cast<time_t>(wait_ns / 1000000000), static_cast<long>(wait_ns % 1000000000)};
    const int ready = ppoll(fds.data(), fds.size(), &ts, nullptr);
    if (ready <= 0) continue;
    for (size_t i = 0; i < conns_.size(); ++i) {
      if (fds[i].revents & (POLLIN | POLLERR | POLLHUP)) {
        if (!read_answers(conns_[i])) continue;
      }
      if (fds[i].revents & POLLOUT) flush(conns_[i]);
    }
  }
  return finish(0);
}

}  // namespace

void append_item(std::string& out, uint32_t room_index, uint64_t seq, uint64_t t_ns, uint32_t payload_bytes) {
  const size_t start = out.size();
  out += '[';
  append_uint(out, room_index);
  out += ',';
  append_uint(out, seq);
  out += ',';
  append_uint(out, t_ns);
  out += ",\"";
  const size_t fixed = out.size() - start + 2;  // what is written so far plus the closing "]
  if (payload_bytes > fixed) out.append(payload_bytes - fixed, 'x');
  out += "\"]";
}

namespace {

// Chat as it scrolls over a live stream: short reactions, repeated laughter, a few longer lines, in
// the mix of scripts a big room sees. The words are what deflate finds again within a message.
constexpr std::string_view kDanmakuNames[] = {
    "小明同学",     "阿狸不是狐狸", "今天也要加油鸭", "momo",        "kiki_2233",  "路人甲",
    "夜猫子",       "StreamFan99",  "奶茶三分糖",     "一只咸鱼",    "Lucky_Cat",  "不吃香菜",
    "宇宙无敌可爱", "zzz",          "老王",           "晚风",        "DanmakuBot", "猫猫头",
    "青柠",         "heyyy",        "绿茶",           "xX_gamer_Xx", "小透明",     "早睡早起",
};
constexpr std::string_view kDanmakuPhrases[] = {
    "哈哈哈哈哈",
    "666",
    "awsl",
    "前方高能",
    "太强了",
    "下次一定",
    "这也太好笑了吧",
    "爷青回",
    "泪目",
    "名场面",
    "打卡",
    "来了来了",
    "主播加油",
    "yyds",
    "wwwww",
    "2333333",
    "好家伙",
    "妙啊",
    "可爱",
    "绝了",
    "草",
    "？？？",
    "牛啊",
    "这波操作可以",
    "第一次来",
    "弹幕护体",
    "全体起立",
    "好听",
    "再来一遍",
    "gg",
    "nice",
    "LOL",
    "lmao this is great",
    "first time here",
    "hello from Berlin",
    "so cute",
    "let's go",
    "W",
    "clip it",
    "no way",
    "😂",
    "👍",
    "🔥🔥🔥",
    "❤️",
    "这是什么神仙操作",
    "刚来，发生了什么",
    "主播今天状态不错",
    "建议改成",
    "有没有人一起",
    "笑死我了",
    "关注了",
    "这个BGM叫什么",
    "前排",
    "火钳刘明",
    "考古",
    "已三连",
    "点赞",
    "高能预警",
    "I can't believe it",
    "what did I just watch",
    "again again",
    "主播晚上好",
    "大家好",
    "这就是实力",
    "稳住",
};
constexpr uint32_t kDanmakuColors[] = {16777215, 16777215, 16777215, 16777215, 16777215,
                                       16777215, 16646914, 16740868, 6737151,  65280};
constexpr size_t kDanmakuBytesMin = 50;
constexpr size_t kDanmakuBytesMax = 300;
constexpr char kDanmakuFill[] = "!~.?6";

uint64_t next_draw(uint64_t& state) {
  state += 0x9E3779B97F4A7C15ull;
  uint64_t x = state;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

template <class T, size_t N>
const T& pick(const T (&list)[N], uint64_t& state) {
  return list[next_draw(state) % N];
}

}  // namespace

void append_danmaku_item(std::string& out, uint32_t room_index, uint64_t seq, uint64_t t_ns) {
  uint64_t state = (uint64_t{room_index} << 40) ^ seq;
  out += '[';
  append_uint(out, room_index);
  out += ',';
  append_uint(out, seq);
  out += ',';
  append_uint(out, t_ns);
  out += ',';
  const size_t start = out.size();
  // Most chat lines are short: 60% up to 100 bytes, 30% up to 180, the rest up to 300.
  const uint64_t band = next_draw(state) % 10;
  const size_t low = band < 6 ? kDanmakuBytesMin : band < 9 ? 100 : 180;
  const size_t high = band < 6 ? 100 : band < 9 ? 180 : kDanmakuBytesMax;
  const size_t target = low + next_draw(state) % (high - low + 1);
  out += R"({"uid":)";
  append_uint(out, 10000 + next_draw(state) % 400000000);
  out += R"(,"name":")";
  out += pick(kDanmakuNames, state);
  out += R"(","text":")";
  const size_t text_start = out.size();
  // The object's tail: ","color":C,"ts":S} is at most 40 bytes.
  constexpr size_t kTailBytesMax = 40;
  while (true) {
    const std::string_view phrase = pick(kDanmakuPhrases, state);
    if (out.size() - start + phrase.size() + kTailBytesMax > target && out.size() > text_start) break;
    out += phrase;
    if (next_draw(state) % 3 == 0) out += ' ';
  }
  out += R"(","color":)";
  append_uint(out, pick(kDanmakuColors, state));
  out += R"(,"ts":)";
  // A millisecond clock that moves with seq: near-equal numbers, as a real feed has them.
  append_uint(out, 1764633600000ull + seq * 37 + next_draw(state) % 1000);
  // Short of the drawn size (the phrases are coarse): the text ends in a run of one character, as
  // chat does ("!!!!", "666666").
  const size_t closing = 1;
  const size_t now = out.size() - start + closing;
  if (now < target) {
    const char fill = kDanmakuFill[next_draw(state) % (sizeof kDanmakuFill - 1)];
    out.insert(out.find(R"(","color":)", text_start), target - now, fill);
  }
  out += '}';
  out += ']';
}

int run_publisher(const Options& options, const Shared& shared) {
  Publisher publisher(options, shared);
  return publisher.run();
}

}  // namespace ringcast::load
