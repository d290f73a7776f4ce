// permessage-deflate (RFC 7692), pure: the negotiation of the upgrade's Sec-WebSocket-Extensions
// offers, and the two halves of the codec over zlib. We always agree on no context takeover in both
// directions, so every message is compressed from an empty window: one compressed frame serves every
// member of a room (Deflater: one per shard), and a client's message is inflated without any state
// kept for its connection between messages (Inflater: one per shard). No I/O here.
#pragma once

#include <zlib.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "engine/codec/http.h"

namespace ringcast::deflate {

// What the server agreed to, from the client's offers.
struct Agreement {
  bool on = false;
  // The accepted offer named server_max_window_bits=15: the answer must name it too (RFC 7692
  // 7.1.2.1: accepting that parameter means echoing it).
  bool echo_server_window_bits = false;
};

// The first permessage-deflate offer we can honour, over every Sec-WebSocket-Extensions header of the
// request in order (RFC 6455 9.1 grammar; several headers are one list). An offer is declined (the
// next one is tried) for an unknown or repeated parameter, a value where none belongs, a window size
// outside 8..15, or server_max_window_bits below 15: the shared compressor uses a 15-bit window for
// every member, so a client asking for a smaller one gets plain frames. A header that does not parse
// at all declines everything. Never a reason to refuse the connection.
Agreement negotiate(const http::Request& req);

// The header line (with its CRLF) for the 101 answer.
std::string_view response_header(const Agreement& agreement);

// The four bytes a sync flush ends with, which RFC 7692 7.2.1 removes from a compressed message's
// tail and 7.2.2 puts back before inflating.
inline constexpr uint8_t kTail[4] = {0x00, 0x00, 0xFF, 0xFF};

// Raw DEFLATE with a 15-bit window, reset before every message. Owned by one thread.
class Deflater {
 public:
  explicit Deflater(int level);
  ~Deflater();
  Deflater(const Deflater&) = delete;
  Deflater& operator=(const Deflater&) = delete;

  // Compresses `in` as one message payload (sync flush, tail removed) into `out` (replacing its
  // contents). False when zlib fails (out of memory); the caller sends the message plain.
  bool compress(std::string_view in, std::string& out);

 private:
  z_stream stream_{};
  bool ready_ = false;
};

enum class InflateResult : uint8_t {
  ok,
  too_big,    // the inflated size passed the limit (1009); inflating stopped there
  corrupt,    // not a valid DEFLATE stream, or a reference before the message's start (1007)
  no_memory,  // zlib could not allocate its state (1011)
};

// Raw inflate with a 15-bit window, reset before every message. Owned by one thread; zlib's state is
// made on the first message, and the output buffer grows only as far as the largest message
// inflated, never past max_bytes + 1.
class Inflater {
 public:
  Inflater();
  ~Inflater();
  Inflater(const Inflater&) = delete;
  Inflater& operator=(const Inflater&) = delete;

  // Inflates one message's payload (its tail removed, as on the wire) into output(). Inflating
  // stops as soon as more than max_bytes come out (a deflate bomb costs at most max_bytes of work).
  InflateResult inflate(const uint8_t* in, size_t len, size_t max_bytes);
  uint8_t* output() { return reinterpret_cast<uint8_t*>(out_.data()); }
  size_t output_size() const { return out_size_; }
  // Gives the output buffer's memory back (after an unusually large message).
  void shrink();

 private:
  bool init();

  z_stream stream_{};
  bool ready_ = false;
  std::string out_;
  size_t out_size_ = 0;
};

}  // namespace ringcast::deflate
