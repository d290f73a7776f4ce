// The pure half of ringcast-epoll-load, the neutral benchmark client (main.cpp does the I/O): the
// WebSocket frame head, the item format its publisher sends, how items are found in a go-push PUSH
// message or a raw message, and a latency histogram. Written for this tool alone, sharing nothing
// with the server's engine, so that a bug in one cannot hide in the other. Unit-tested in wire_test.cpp.
#pragma once

#include <algorithm>
#include <bit>
#include <charconv>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace epoll_load {

// The upgrade request uses one fixed key; the answer RFC 6455 section 1.3 gives for it is then a
// constant too, and no SHA-1 is needed to check that the server read the key.
constexpr std::string_view kWebSocketKey = "dGhlIHNhbXBsZSBub25jZQ==";
constexpr std::string_view kWebSocketAccept = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";

struct FrameHead {
  bool fin = false;
  uint8_t opcode = 0;
  bool masked = false;
  uint32_t header_bytes = 0;
  uint64_t payload_bytes = 0;
};

// The length of the head that starts at data (len bytes of it read): told by its second byte, and
// until that byte is read, at least 2.
inline uint32_t frame_head_bytes(const uint8_t* data, size_t len) {
  if (len < 2) return 2;
  const uint8_t len7 = data[1] & 0x7F;
  return 2 + (len7 == 126 ? 2 : len7 == 127 ? 8 : 0) + ((data[1] & 0x80) ? 4 : 0);
}

// Parses the head of a frame from len bytes; false when more bytes are needed for it.
inline bool parse_frame_head(const uint8_t* data, size_t len, FrameHead& head) {
  head.header_bytes = frame_head_bytes(data, len);
  if (len < head.header_bytes) return false;
  const uint8_t len7 = data[1] & 0x7F;
  const uint32_t length_bytes = len7 == 126 ? 2 : len7 == 127 ? 8 : 0;
  head.masked = (data[1] & 0x80) != 0;
  uint64_t payload = len7;
  if (length_bytes != 0) {
    payload = 0;
    for (uint32_t i = 0; i < length_bytes; ++i) payload = (payload << 8) | data[2 + i];
  }
  head.fin = (data[0] & 0x80) != 0;
  head.opcode = data[0] & 0x0F;
  head.payload_bytes = payload;
  return true;
}

enum class FeedResult : uint8_t {
  more,      // every byte was used; the stream may end inside a frame, kept in `pending`
  stopped,   // on_frame returned false (the connection was closed); the rest was left unread
  bad_head,  // a head that is masked or announces more than payload_max bytes: a broken stream
};

// Splits a server's byte stream, read in pieces, into whole frames and calls
// on_frame(const FrameHead&, const char* payload) -> bool for each, in order. A frame cut by the end
// of a read is kept in `pending` (empty between frames), and the next read moves into it only the bytes
// that are that frame's (the rest of its head, then of its payload), never the frames behind it: those
// are handed over where the read put them. So a backlog read in large pieces is not copied again,
// however often a piece ends inside a frame. `bad` gets the refused head.
template <class OnFrame>
FeedResult feed_frames(std::string& pending, const char* data, size_t len, uint64_t payload_max,
                       FrameHead& bad, OnFrame&& on_frame) {
  auto refused = [&](const FrameHead& h) { return h.masked || h.payload_bytes > payload_max; };
  if (!pending.empty()) {
    FrameHead h;
    while (!parse_frame_head(reinterpret_cast<const uint8_t*>(pending.data()), pending.size(), h)) {
      if (len == 0) return FeedResult::more;
      const size_t head_bytes =
          frame_head_bytes(reinterpret_cast<const uint8_t*>(pending.data()), pending.size());
      const size_t take = std::min(len, head_bytes - pending.size());
      pending.append(data, take);
      data += take;
      len -= take;
    }
    if (refused(h)) {
      bad = h;
      return FeedResult::bad_head;
    }
    const uint64_t whole = h.header_bytes + h.payload_bytes;
    const size_t take = static_cast<size_t>(std::min<uint64_t>(len, whole - pending.size()));
    pending.append(data, take);
    data += take;
    len -= take;
    if (pending.size() < whole) return FeedResult::more;
    const bool go_on = on_frame(h, pending.data() + h.header_bytes);
    pending.clear();
    if (!go_on) return FeedResult::stopped;
  }
  size_t off = 0;
  while (true) {
    FrameHead h;
    if (!parse_frame_head(reinterpret_cast<const uint8_t*>(data + off), len - off, h)) break;
    if (refused(h)) {
      bad = h;
      return FeedResult::bad_head;
    }
    if (len - off < h.header_bytes + h.payload_bytes) break;
    if (!on_frame(h, data + off + h.header_bytes)) return FeedResult::stopped;
    off += h.header_bytes + h.payload_bytes;
  }
  pending.assign(data + off, len - off);
  return FeedResult::more;
}

// A client frame (masked with a zero key: the masking the RFC requires, at no cost) of opcode and
// payload, written into out (at least payload.size() + 14 bytes); returns its length.
inline size_t client_frame(uint8_t opcode, std::string_view payload, uint8_t* out) {
  size_t n = 0;
  out[n++] = static_cast<uint8_t>(0x80 | opcode);
  if (payload.size() < 126) {
    out[n++] = static_cast<uint8_t>(0x80 | payload.size());
  } else if (payload.size() <= 0xFFFF) {
    out[n++] = 0x80 | 126;
    out[n++] = static_cast<uint8_t>(payload.size() >> 8);
    out[n++] = static_cast<uint8_t>(payload.size());
  } else {
    out[n++] = 0x80 | 127;
    for (int i = 7; i >= 0; --i)
      out[n++] = static_cast<uint8_t>(static_cast<uint64_t>(payload.size()) >> (8 * i));
  }
  std::memset(out + n, 0, 4);  // the key: 0, so the payload goes as it is
  n += 4;
  std::memcpy(out + n, payload.data(), payload.size());
  return n + payload.size();
}

// An item as the publisher writes it: [seq,t_ns,room_index,"xxxx..."], padded to the payload size.
// seq 0 marks a warm-up item (it proves a connection is subscribed and is not counted); t_ns is
// CLOCK_MONOTONIC when the publish request was written (one clock for every process on the host).
struct Item {
  uint64_t seq = 0;
  uint64_t t_ns = 0;
  uint64_t room_index = 0;
};

// Writes an item of exactly `bytes` bytes (more when the numbers alone are longer) into out, which
// must hold max(bytes, 64); returns its length.
inline size_t format_item(const Item& item, size_t bytes, char* out) {
  char* p = out;
  *p++ = '[';
  p = std::to_chars(p, out + 64, item.seq).ptr;
  *p++ = ',';
  p = std::to_chars(p, out + 64, item.t_ns).ptr;
  *p++ = ',';
  p = std::to_chars(p, out + 64, item.room_index).ptr;
  *p++ = ',';
  *p++ = '"';
  const size_t used = static_cast<size_t>(p - out) + 2;  // and the closing quote and bracket
  if (bytes > used) {
    std::memset(p, 'x', bytes - used);
    p += bytes - used;
  }
  *p++ = '"';
  *p++ = ']';
  return static_cast<size_t>(p - out);
}

namespace detail {

inline const char* skip_ws(const char* p, const char* end) {
  while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')) ++p;
  return p;
}

// p at an opening quote; returns the position after the closing one, nullptr when there is none.
inline const char* skip_string(const char* p, const char* end) {
  ++p;
  while (p < end) {
    const char* q = static_cast<const char*>(std::memchr(p, '"', static_cast<size_t>(end - p)));
    if (q == nullptr) return nullptr;
    size_t backslashes = 0;  // an odd number of backslashes before it escapes the quote
    for (const char* b = q; b > p && b[-1] == '\\'; --b) ++backslashes;
    if (backslashes % 2 == 0) return q + 1;
    p = q + 1;
  }
  return nullptr;
}

// Skips one JSON value (string, array, object or scalar) by bracket depth, strings skipped whole;
// returns the position after it, nullptr when it is cut short. Does not validate the inside.
inline const char* skip_value(const char* p, const char* end) {
  p = skip_ws(p, end);
  if (p >= end) return nullptr;
  if (*p == '"') return skip_string(p, end);
  if (*p != '[' && *p != '{') {
    const char* start = p;
    while (p < end && *p != ',' && *p != ']' && *p != '}' && *p != ' ' && *p != '\n' && *p != '\r' &&
           *p != '\t')
      ++p;
    return p == start ? nullptr : p;
  }
  uint32_t depth = 0;
  while (p < end) {
    const char c = *p;
    if (c == '"') {
      p = skip_string(p, end);
      if (p == nullptr) return nullptr;
      continue;
    }
    if (c == '[' || c == '{')
      ++depth;
    else if (c == ']' || c == '}') {
      if (--depth == 0) return p + 1;
    }
    ++p;
  }
  return nullptr;
}

inline const char* parse_number(const char* p, const char* end, uint64_t& value) {
  p = skip_ws(p, end);
  auto [ptr, ec] = std::from_chars(p, end, value);
  return ec == std::errc() ? ptr : nullptr;
}

}  // namespace detail

// Reads the numbers of an item of our format at p (its '['); false when it is some other value.
inline bool parse_item(const char* p, const char* end, Item& item) {
  if (p >= end || *p != '[') return false;
  uint64_t v[3];
  ++p;
  for (int i = 0; i < 3; ++i) {
    p = detail::parse_number(p, end, v[i]);
    if (p == nullptr) return false;
    p = detail::skip_ws(p, end);
    if (p >= end || *p != ',') return false;
    ++p;
  }
  item = {v[0], v[1], v[2]};
  return true;
}

struct ScanResult {
  bool has_items = false;  // the message had an "items" array (a PUSH); false for JOINED, PONG, ...
  bool malformed = false;  // the array was cut short or not followed by ',' / ']' where it must be
  uint32_t items = 0;      // elements of the array: each is one delivery
  uint32_t foreign = 0;    // of those, elements not in our item format (still deliveries)
};

// Counts the elements of a go-push PUSH message's items array,
// {"type":"PUSH","data":{"items":[e1,e2,...],"room":"r","seq":N}}: finds "items" and then walks the
// array one element at a time (skip_value: bracket depth, strings skipped whole), so an item holding
// commas, brackets or escaped quotes in its strings still counts as one. on_item(Item) is called for
// every element in our format. The server merges items that leave in one loop turn into one array;
// each element is one delivery however many share a frame.
template <class OnItem>
ScanResult scan_push(std::string_view message, OnItem&& on_item) {
  ScanResult r;
  constexpr std::string_view key = "\"items\"";
  const char* end = message.data() + message.size();
  // The key is searched, not located by walking the object: the envelope's members come in any order
  // and only this one matters. An item cannot fake it: quotes inside JSON strings are escaped.
  const size_t at = message.find(key);
  if (at == std::string_view::npos) return r;
  const char* p = detail::skip_ws(message.data() + at + key.size(), end);
  if (p >= end || *p != ':') return r;
  p = detail::skip_ws(p + 1, end);
  if (p >= end || *p != '[') return r;
  r.has_items = true;
  p = detail::skip_ws(p + 1, end);
  if (p < end && *p == ']') return r;  // empty
  while (true) {
    const char* element = detail::skip_ws(p, end);
    const char* after = detail::skip_value(element, end);
    if (after == nullptr) {
      r.malformed = true;
      return r;
    }
    ++r.items;
    Item item;
    if (parse_item(element, after, item))
      on_item(item);
    else
      ++r.foreign;
    p = detail::skip_ws(after, end);
    if (p < end && *p == ',') {
      ++p;
      continue;
    }
    if (p < end && *p == ']') return r;
    r.malformed = true;
    return r;
  }
}

// Latency histogram in microseconds, log-linear: exact below 128 us, then 64 steps per power of two
// (a bucket is at most 1/64, 1.6%, of its value wide). Recording is an index computation and an add;
// merging the processes' histograms is a sum.
namespace histogram {
constexpr uint32_t kExactBelow = 128;
constexpr uint32_t kSteps = 64;
constexpr uint32_t kFirstExponent = 7;  // log2(kExactBelow)
constexpr uint32_t kLastExponent = 40;  // 2^41 us: far beyond a run; larger values are clamped
constexpr uint64_t kValueMax = (uint64_t{1} << (kLastExponent + 1)) - 1;
constexpr uint32_t kBuckets = kExactBelow + (kLastExponent - kFirstExponent + 1) * kSteps;

constexpr uint32_t bucket_of(uint64_t us) {
  if (us < kExactBelow) return static_cast<uint32_t>(us);
  if (us > kValueMax) us = kValueMax;
  const uint32_t exponent = 63 - static_cast<uint32_t>(std::countl_zero(us));
  const uint32_t step = static_cast<uint32_t>(us >> (exponent - 6)) - kSteps;
  return kExactBelow + (exponent - kFirstExponent) * kSteps + step;
}

// The middle of a bucket, which is what a quantile reports.
constexpr double bucket_value(uint32_t bucket) {
  if (bucket < kExactBelow) return bucket;
  const uint32_t exponent = kFirstExponent + (bucket - kExactBelow) / kSteps;
  const uint64_t low = (kSteps + (bucket - kExactBelow) % kSteps) << (exponent - 6);
  const uint64_t width = uint64_t{1} << (exponent - 6);
  return static_cast<double>(low) + static_cast<double>(width - 1) / 2;
}

static_assert(bucket_of(kExactBelow - 1) == kExactBelow - 1);
static_assert(bucket_of(kExactBelow) == kExactBelow);
static_assert(bucket_of(kValueMax) == kBuckets - 1);

// The value at quantile q of counts[0..kBuckets) (the bucket of the sample of rank ceil(q * total)).
inline double quantile(const uint64_t* counts, double q) {
  uint64_t total = 0;
  for (uint32_t i = 0; i < kBuckets; ++i) total += counts[i];
  if (total == 0) return 0;
  const uint64_t rank =
      std::max<uint64_t>(1, static_cast<uint64_t>(q * static_cast<double>(total) + 0.999999));
  uint64_t seen = 0;
  for (uint32_t i = 0; i < kBuckets; ++i) {
    seen += counts[i];
    if (seen >= rank) return bucket_value(i);
  }
  return bucket_value(kBuckets - 1);
}
}  // namespace histogram

}  // namespace epoll_load
