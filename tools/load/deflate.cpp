// permessage-deflate for ringcast-load (see deflate.h): the answer check walks the 101's extension
// headers once per upgrade; the inflater is the per-message cost of a compressed run, so it writes
// into one buffer that only grows and never copies the compressed input.
#include "tools/load/deflate.h"

#include <zlib.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>

namespace ringcast::load {
namespace {

constexpr int kWindowBits = 15;
constexpr size_t kOutStartBytes = 64 * 1024;
// RFC 7692 §7.2.2: the sender removes this empty stored block's tail; the receiver appends it.
constexpr uint8_t kTail[4] = {0x00, 0x00, 0xff, 0xff};

char lower(char c) {
  return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
}

bool ieq(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (lower(a[i]) != lower(b[i])) return false;
  return true;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// Splits s at `sep` outside quoted strings: calls piece(std::string_view) for each part, trimmed;
// stops and returns false when piece does.
template <class F>
bool split(std::string_view s, char sep, F&& piece) {
  size_t start = 0;
  bool quoted = false;
  for (size_t i = 0; i <= s.size(); ++i) {
    if (i < s.size() && s[i] == '"') quoted = !quoted;
    if (i == s.size() || (s[i] == sep && !quoted)) {
      if (!piece(trim(s.substr(start, i - start)))) return false;
      start = i + 1;
    }
  }
  return true;
}

// A window-bits value, quoted or not (RFC 7692 §7.1.2: 8..15).
bool window_bits(std::string_view v) {
  if (v.size() >= 2 && v.front() == '"' && v.back() == '"') v = v.substr(1, v.size() - 2);
  if (v.empty() || v.size() > 2) return false;
  int n = 0;
  for (char c : v) {
    if (c < '0' || c > '9') return false;
    n = n * 10 + (c - '0');
  }
  return n >= 8 && n <= 15;
}

}  // namespace

bool check_extension_answer(std::string_view head, bool offered, bool& deflate, std::string& error) {
  deflate = false;
  error.clear();
  bool no_context_takeover = false;
  auto element = [&](std::string_view ext) {
    if (ext.empty()) return true;  // "a, , b" is allowed by the list grammar
    bool first = true, seen_snct = false, seen_cnct = false, seen_smwb = false, seen_cmwb = false;
    return split(ext, ';', [&](std::string_view part) {
      if (first) {
        first = false;
        if (!ieq(part, "permessage-deflate")) {
          error = "the server answered extension '" + std::string(part) + "', which was not offered";
          return false;
        }
        if (!offered) {
          error = "the server answered permessage-deflate, which was not offered (no --deflate)";
          return false;
        }
        if (deflate) {
          error = "the server answered permessage-deflate twice";
          return false;
        }
        deflate = true;
        return true;
      }
      const size_t eq = part.find('=');
      const std::string_view name = trim(part.substr(0, eq));
      const std::string_view value =
          eq == std::string_view::npos ? std::string_view() : trim(part.substr(eq + 1));
      const bool has_value = eq != std::string_view::npos;
      bool ok = false, repeated = false;
      if (ieq(name, "server_no_context_takeover")) {
        ok = !has_value;
        repeated = seen_snct;
        seen_snct = no_context_takeover = true;
      } else if (ieq(name, "client_no_context_takeover")) {
        ok = !has_value;
        repeated = seen_cnct;
        seen_cnct = true;
      } else if (ieq(name, "server_max_window_bits")) {
        // The server may use a smaller window than 15 unasked; a 15-bit inflater reads it as well.
        ok = has_value && window_bits(value);
        repeated = seen_smwb;
        seen_smwb = true;
      } else if (ieq(name, "client_max_window_bits")) {
        ok = has_value && window_bits(value);
        repeated = seen_cmwb;
        seen_cmwb = true;
      }
      if (!ok || repeated) {
        error = "the server's permessage-deflate answer has " +
                std::string(repeated ? "a repeated" : "a bad") + " parameter '" + std::string(part) + "'";
        return false;
      }
      return true;
    });
  };
  size_t line_start = head.find("\r\n");
  while (line_start != std::string_view::npos && line_start + 2 < head.size()) {
    line_start += 2;
    const size_t line_end = head.find("\r\n", line_start);
    const std::string_view line = head.substr(line_start, line_end - line_start);
    line_start = line_end;
    const size_t colon = line.find(':');
    if (colon == std::string_view::npos || !ieq(trim(line.substr(0, colon)), "sec-websocket-extensions"))
      continue;
    if (!split(line.substr(colon + 1), ',', element)) {
      deflate = false;
      return false;
    }
  }
  if (deflate && !no_context_takeover) {
    deflate = false;
    error =
        "the server agreed to permessage-deflate without server_no_context_takeover (its messages would "
        "need an inflater per connection, which this tool does not keep)";
    return false;
  }
  return true;
}

MessageInflater::MessageInflater(size_t message_bytes_max) : message_bytes_max_(message_bytes_max) {
  stream_ = new z_stream{};
  // Negative window bits: raw DEFLATE, no zlib header or checksum (RFC 7692 §7.2.1).
  if (inflateInit2(stream_, -kWindowBits) != Z_OK) std::abort();  // out of memory at start-up
  out_.resize(std::min(kOutStartBytes, message_bytes_max_ + 1));
}

MessageInflater::~MessageInflater() {
  inflateEnd(stream_);
  delete stream_;
}

// Feeds `in` until zlib has taken all of it, growing the output to one byte past the limit (so that
// "exactly the limit" and "more" can be told apart).
InflateStatus MessageInflater::run(const uint8_t* in, size_t len, bool& stream_end) {
  z_stream& zs = *stream_;
  zs.next_in = const_cast<Bytef*>(in);
  zs.avail_in = static_cast<uInt>(len);
  while (true) {
    if (out_len_ == out_.size()) {
      if (out_.size() > message_bytes_max_) return InflateStatus::too_large;
      out_.resize(std::min(out_.size() * 2, message_bytes_max_ + 1));
    }
    zs.next_out = reinterpret_cast<Bytef*>(out_.data() + out_len_);
    zs.avail_out = static_cast<uInt>(out_.size() - out_len_);
    const int rc = ::inflate(&zs, Z_SYNC_FLUSH);
    out_len_ = out_.size() - zs.avail_out;
    if (out_len_ > message_bytes_max_) return InflateStatus::too_large;
    if (rc == Z_STREAM_END) {
      // A final block (BFINAL) ends the message's stream: what follows it, the tail included, is
      // not DEFLATE data any more and is left alone.
      stream_end = true;
      return InflateStatus::ok;
    }
    if (rc != Z_OK && rc != Z_BUF_ERROR) return InflateStatus::corrupt;
    // Z_BUF_ERROR: no progress possible, i.e. the input is used up (or the output is full: grow).
    if (zs.avail_in == 0 && zs.avail_out > 0) return InflateStatus::ok;
  }
}

InflateStatus MessageInflater::inflate_message(const uint8_t* payload, size_t len, std::string_view& out) {
  // Every message inflates from an empty window, so the same payload bytes always give the same
  // message: a frame the server sent to many of this worker's connections is inflated once. A few
  // recent ones are kept, since connections that lag by different amounts interleave them.
  ++tick_;
  for (Recent& r : recent_) {
    if (r.used != 0 && r.in.size() == len && (len == 0 || std::memcmp(payload, r.in.data(), len) == 0)) {
      r.used = tick_;
      ++reused_;
      out = {r.out.data(), r.out_len};
      return InflateStatus::ok;
    }
  }
  inflateReset(stream_);
  out_len_ = 0;
  bool stream_end = false;
  InflateStatus status = run(payload, len, stream_end);
  if (status == InflateStatus::ok && !stream_end) status = run(kTail, sizeof kTail, stream_end);
  if (status != InflateStatus::ok) {
    out = {out_.data(), 0};
    return status;
  }
  // The least recently used entry takes the result (its buffer becomes the next scratch buffer).
  Recent* victim = &recent_[0];
  for (Recent& r : recent_)
    if (r.used < victim->used) victim = &r;
  victim->in.assign(payload, payload + len);
  victim->out.swap(out_);
  victim->out_len = out_len_;
  victim->used = tick_;
  if (out_.empty()) out_.resize(std::min(kOutStartBytes, message_bytes_max_ + 1));
  out = {victim->out.data(), victim->out_len};
  return status;
}

}  // namespace ringcast::load
