// ringcast-load's side of permessage-deflate (RFC 7692, --deflate), pure like scan.h: the offer the
// upgrade request makes, the check of the server's answer in the 101, and the inflater of compressed
// messages. The tool insists on server_no_context_takeover, so every message inflates from an empty
// window and one inflater per worker, reset per message, serves all of that worker's connections.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

struct z_stream_s;  // zlib's stream, kept out of this header

namespace ringcast::load {

// What the upgrade request offers. client_max_window_bits without a value only tells the server it
// may limit our window; the tool's own messages (JOIN, PING) go uncompressed, which RFC 7692 allows.
constexpr std::string_view kDeflateOffer =
    "permessage-deflate; server_no_context_takeover; client_no_context_takeover; client_max_window_bits";

// Reads every Sec-WebSocket-Extensions header of a 101 head. `offered`: the request carried
// kDeflateOffer. Sets `deflate` when the server agreed. Returns false, with `error` saying why, for
// an answer the tool cannot take: an extension it did not offer, permessage-deflate answered twice or
// with a parameter it did not offer (or a bad value), or without server_no_context_takeover (that
// would need an inflater per connection).
bool check_extension_answer(std::string_view head, bool offered, bool& deflate, std::string& error);

enum class InflateStatus : uint8_t {
  ok,
  corrupt,    // not a valid raw DEFLATE stream (or one that refers back past the message's start)
  too_large,  // inflates to more than the inflater's limit
};

// A raw-DEFLATE inflater with a 15-bit window (a smaller server window inflates with it too).
class MessageInflater {
 public:
  explicit MessageInflater(size_t message_bytes_max);
  ~MessageInflater();
  MessageInflater(const MessageInflater&) = delete;
  MessageInflater& operator=(const MessageInflater&) = delete;

  // Inflates one whole message's payload (its frames' payloads joined) from an empty window, with the
  // 00 00 ff ff tail the sender removed (RFC 7692 §7.2.2) added back. `out` stays valid until the
  // next call. A payload equal to one of the last few that inflated is answered from that result
  // without inflating again (the server sends one compressed frame to every member of a room).
  InflateStatus inflate_message(const uint8_t* payload, size_t len, std::string_view& out);

  // Messages answered from the last result.
  uint64_t reused() const { return reused_; }

 private:
  InflateStatus run(const uint8_t* in, size_t len, bool& stream_end);

  z_stream_s* stream_ = nullptr;
  std::vector<char> out_;
  size_t out_len_ = 0;
  // Recently inflated payloads and their messages (used == 0: empty).
  struct Recent {
    std::vector<uint8_t> in;
    std::vector<char> out;
    size_t out_len = 0;
    uint64_t used = 0;
  };
  static constexpr size_t kRecent = 8;
  Recent recent_[kRecent];
  uint64_t tick_ = 0;
  uint64_t reused_ = 0;
  const size_t message_bytes_max_;
};

}  // namespace ringcast::load
