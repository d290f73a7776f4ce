// permessage-deflate (see deflate.h): the offer parser, and zlib driven one whole message at a time.
#include "engine/codec/deflate.h"

#include <algorithm>
#include <cstring>

namespace ringcast::deflate {
namespace {

constexpr std::string_view kExtension = "permessage-deflate";
constexpr std::string_view kAnswer =
    "Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover; "
    "client_no_context_takeover\r\n";
constexpr std::string_view kAnswerWindowBits =
    "Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover; "
    "client_no_context_takeover; server_max_window_bits=15\r\n";

// The window every compressed frame is made with (and the largest a client may use towards us).
constexpr int kWindowBits = 15;

bool is_tchar(char c) {
  if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) return true;
  return std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

// A cursor over the offer list (RFC 6455 9.1: extension *( ";" param ), comma-separated, OWS around
// the separators, a parameter value a token or a quoted-string).
class Offers {
 public:
  explicit Offers(std::string_view text) : s_(text) {}

  void skip_ows() {
    while (i_ < s_.size() && (s_[i_] == ' ' || s_[i_] == '\t')) ++i_;
  }
  bool at_end() const { return i_ >= s_.size(); }
  bool take(char c) {
    if (i_ < s_.size() && s_[i_] == c) {
      ++i_;
      return true;
    }
    return false;
  }
  std::string_view token() {
    const size_t start = i_;
    while (i_ < s_.size() && is_tchar(s_[i_])) ++i_;
    return s_.substr(start, i_ - start);
  }
  // A quoted-string's content with its escapes removed, into `out`; false when malformed.
  bool quoted(std::string& out) {
    out.clear();
    if (!take('"')) return false;
    while (i_ < s_.size()) {
      const char c = s_[i_++];
      if (c == '"') return true;
      if (c == '\\') {
        if (i_ >= s_.size()) return false;
        out.push_back(s_[i_++]);
      } else {
        out.push_back(c);
      }
    }
    return false;
  }

 private:
  std::string_view s_;
  size_t i_ = 0;
};

// "8".."15", as RFC 7692 7.1.2 writes it (no sign, no leading zero).
bool window_bits_valid(std::string_view v, int& bits) {
  if (v.empty() || v.size() > 2 || v[0] == '0') return false;
  int n = 0;
  for (char c : v) {
    if (c < '0' || c > '9') return false;
    n = n * 10 + (c - '0');
  }
  if (n < 8 || n > 15) return false;
  bits = n;
  return true;
}

// The state of one permessage-deflate offer being read.
struct Offer {
  bool seen_server_no_context = false;
  bool seen_client_no_context = false;
  bool seen_server_bits = false;
  bool seen_client_bits = false;
  int server_bits = kWindowBits;
  bool acceptable = true;

  void param(std::string_view name, bool has_value, std::string_view value) {
    int bits = 0;
    auto once = [&](bool& seen) {
      if (seen) acceptable = false;
      seen = true;
    };
    if (name == "server_no_context_takeover") {
      once(seen_server_no_context);
      if (has_value) acceptable = false;
    } else if (name == "client_no_context_takeover") {
      once(seen_client_no_context);
      if (has_value) acceptable = false;
    } else if (name == "server_max_window_bits") {
      once(seen_server_bits);
      if (!has_value || !window_bits_valid(value, bits))
        acceptable = false;
      else
        server_bits = bits;
    } else if (name == "client_max_window_bits") {
      // Without a value it only says the client could honour a limit; we never set one.
      once(seen_client_bits);
      if (has_value && !window_bits_valid(value, bits)) acceptable = false;
    } else {
      acceptable = false;  // RFC 7692 5: an offer with an unknown parameter is declined
    }
  }
};

// Reads one header's offer list; true when it parsed (agreement set on the first good offer).
bool read_offers(std::string_view text, Agreement& agreement) {
  Offers in(text);
  std::string quoted;
  for (;;) {
    in.skip_ows();
    if (in.at_end()) return true;
    if (in.take(',')) continue;  // empty list elements are allowed (RFC 9110 5.6.1)
    const std::string_view name = in.token();
    if (name.empty()) return false;
    Offer offer;
    const bool ours = http::ascii_iequals(name, kExtension);
    for (;;) {
      in.skip_ows();
      if (in.at_end() || in.take(',')) break;
      if (!in.take(';')) return false;
      in.skip_ows();
      const std::string_view param = in.token();
      if (param.empty()) return false;
      in.skip_ows();
      bool has_value = false;
      std::string_view value;
      if (in.take('=')) {
        in.skip_ows();
        has_value = true;
        if (in.quoted(quoted)) {
          value = quoted;
        } else {
          value = in.token();
          if (value.empty()) return false;
        }
      }
      if (ours) offer.param(param, has_value, value);
    }
    if (ours && !agreement.on && offer.acceptable && offer.server_bits == kWindowBits) {
      agreement.on = true;
      agreement.echo_server_window_bits = offer.seen_server_bits;
    }
  }
}

}  // namespace

Agreement negotiate(const http::Request& req) {
  Agreement agreement;
  for (size_t i = 0; i < req.header_count; ++i) {
    if (!http::ascii_iequals(req.headers[i].name, "sec-websocket-extensions")) continue;
    if (!read_offers(req.headers[i].value, agreement)) return Agreement{};
  }
  return agreement;
}

std::string_view response_header(const Agreement& agreement) {
  if (!agreement.on) return {};
  return agreement.echo_server_window_bits ? kAnswerWindowBits : kAnswer;
}

Deflater::Deflater(int level) {
  ready_ = deflateInit2(&stream_, std::clamp(level, 1, 9), Z_DEFLATED, -kWindowBits, 8, Z_DEFAULT_STRATEGY) ==
           Z_OK;
}

Deflater::~Deflater() {
  if (ready_) deflateEnd(&stream_);
}

bool Deflater::compress(std::string_view in, std::string& out) {
  if (!ready_ || deflateReset(&stream_) != Z_OK) return false;
  // A sync flush ends with an empty stored block (5 bytes) after what deflateBound allows for.
  out.resize(deflateBound(&stream_, in.size()) + 16);
  stream_.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  stream_.avail_in = static_cast<uInt>(in.size());
  size_t produced = 0;
  for (;;) {
    stream_.next_out = reinterpret_cast<Bytef*>(out.data()) + produced;
    stream_.avail_out = static_cast<uInt>(out.size() - produced);
    const int r = ::deflate(&stream_, Z_SYNC_FLUSH);
    produced = out.size() - stream_.avail_out;
    if (r != Z_OK && r != Z_BUF_ERROR) return false;
    if (stream_.avail_in == 0 && stream_.avail_out > 0) break;  // all in, flush complete
    out.resize(out.size() * 2);
  }
  if (produced < 4 || std::memcmp(out.data() + produced - 4, kTail, 4) != 0) return false;
  out.resize(produced - 4);
  return true;
}

Inflater::Inflater() = default;

Inflater::~Inflater() {
  if (ready_) inflateEnd(&stream_);
}

bool Inflater::init() {
  if (!ready_) ready_ = inflateInit2(&stream_, -kWindowBits) == Z_OK;
  return ready_;
}

void Inflater::shrink() {
  std::string().swap(out_);
  out_size_ = 0;
}

InflateResult Inflater::inflate(const uint8_t* in, size_t len, size_t max_bytes) {
  out_size_ = 0;
  if (!init() || inflateReset(&stream_) != Z_OK) return InflateResult::no_memory;
  constexpr size_t kFirstBytes = 4096;
  stream_.next_in = const_cast<Bytef*>(in);
  stream_.avail_in = static_cast<uInt>(len);
  bool tail_fed = false;
  for (;;) {
    if (out_size_ == out_.size()) {
      // Room for one byte more than the limit, so passing it is seen without inflating further.
      const size_t cap = std::min(std::max(out_.size() * 2, kFirstBytes), max_bytes + 1);
      if (cap <= out_size_) return InflateResult::too_big;
      out_.resize(cap);
    }
    stream_.next_out = reinterpret_cast<Bytef*>(out_.data()) + out_size_;
    stream_.avail_out = static_cast<uInt>(out_.size() - out_size_);
    const int r = ::inflate(&stream_, Z_SYNC_FLUSH);
    out_size_ = out_.size() - stream_.avail_out;
    if (out_size_ > max_bytes) return InflateResult::too_big;
    switch (r) {
      case Z_STREAM_END:  // a final block (RFC 7692 7.2.3.4 allows BFINAL=1): what follows is padding
        return InflateResult::ok;
      case Z_OK:
        break;
      case Z_BUF_ERROR:  // no progress: fine only when it lacked input or room
        if (stream_.avail_in > 0 && stream_.avail_out > 0) return InflateResult::corrupt;
        break;
      case Z_MEM_ERROR:
        return InflateResult::no_memory;
      default:  // Z_DATA_ERROR, Z_NEED_DICT, Z_STREAM_ERROR
        return InflateResult::corrupt;
    }
    if (stream_.avail_in == 0) {
      if (!tail_fed) {
        stream_.next_in = const_cast<Bytef*>(kTail);
        stream_.avail_in = sizeof(kTail);
        tail_fed = true;
      } else if (stream_.avail_out > 0) {
        return InflateResult::ok;  // everything read, and nothing more waiting to come out
      }
    }
  }
}

}  // namespace ringcast::deflate
