// Encodings: the forms in which a frame the fan-out emits can reach a connection. The ring holds one
// format, the go-push PUSH frame (WebSocket text); a connection whose protocol wants another form (a
// Pomelo push for Nano clients) gets that frame encoded once per shard, on its first member that needs
// it, and every other member of that encoding references the same bytes. Compression
// (permessage-deflate) is one more encoding of each: the frame deflated once, from an empty window,
// for every member that agreed to it, with no compressor state per connection. The HTTP streams' forms
// (an SSE event, an NDJSON line, each one HTTP chunk) are two more, built the same way. A connection's
// encoding is a field of its record, set by its protocol when it is ready for pushes.
#pragma once

#include <algorithm>
#include <cstdint>
#include <iterator>
#include <string>
#include <string_view>
#include <vector>

#include "engine/base/ids.h"
#include "engine/base/json.h"
#include "engine/broadcast/frames.h"
#include "engine/codec/deflate.h"
#include "engine/codec/pomelo.h"

namespace ringcast {

enum class Encoding : uint8_t {
  none,            // gets no pushes (not upgraded, not past its protocol's handshake, or not a client)
  ws_text,         // the PUSH frame as the ring holds it (go-push)
  pomelo,          // the PUSH as Pomelo push packets in a binary frame (Nano/Pomelo)
  ws_deflate,      // ws_text compressed (RSV1), for go-push clients that agreed to permessage-deflate
  pomelo_deflate,  // pomelo compressed, for Nano/Pomelo clients that agreed to it
  sse,             // the PUSH as one Server-Sent Event in an HTTP chunk (codec/stream.h)
  ndjson,          // the PUSH message as one NDJSON line in an HTTP chunk
};
constexpr size_t kEncodings = 7;

struct ShardStats;

// How frames are compressed for the deflate encodings (engine/config.h).
struct CompressionOptions {
  uint32_t level = 6;
  size_t min_bytes = 128;  // smaller payloads stay plain: the deflate encoding is then the plain frame
};

class Encodings {
 public:
  // `routes` and `push_route` are the Nano route dictionary and push route (they outlive this);
  // `stats` (may be null) counts what compression did.
  Encodings(Frames& frames, const pomelo::RouteDict& routes, std::string_view push_route,
            CompressionOptions compression = {}, ShardStats* stats = nullptr);
  ~Encodings() { end_fanout(); }
  Encodings(const Encodings&) = delete;
  Encodings& operator=(const Encodings&) = delete;

  // The frame a member of `encoding` gets for the PUSH frame `push`, or kNil when it gets nothing.
  // Built on first need and kept, with references held on both frames (so `push`'s id cannot be
  // reused meanwhile), until end_fanout(). Kept per frame: the fan-out hands a member all of a room's
  // frames of a drain before the next member, so several frames' encodings are in use at once.
  FrameId encode(FrameId push, Encoding encoding) {
    if (encoding == Encoding::ws_text) return push;
    if (encoding == Encoding::none) return kNil;
    if (push >= forms_.size() || !forms_[push].started) start(push);
    const size_t e = static_cast<size_t>(encoding);
    if (!(forms_[push].built & (1u << e))) {
      const FrameId encoded = build(push, encoding);
      Forms& f = forms_[push];  // (after build: a Pomelo-deflate build encodes the Pomelo form first)
      f.encoded[e] = encoded;
      f.built |= static_cast<uint8_t>(1u << e);
      if (encoded != kNil) frames_.ref(encoded);
    }
    return forms_[push].encoded[e];
  }
  // Lets the kept frames go: called after each fan-out phase of the loop.
  void end_fanout();

 private:
  // The encodings built for one source frame in this fan-out phase.
  struct Forms {
    Forms() { std::fill(std::begin(encoded), std::end(encoded), kNil); }
    FrameId encoded[kEncodings];
    uint8_t built = 0;  // bit e: encoded[e] was built (kNil included: nothing to send in that form)
    bool started = false;
  };
  static_assert(kEncodings <= 8, "one bit per encoding in Forms::built");

  void start(FrameId push);
  FrameId build(FrameId push, Encoding encoding);
  FrameId build_pomelo(const Frame& push);
  FrameId build_stream(const Frame& push, Encoding encoding);
  // The compressed form of a plain frame (a text or binary message), or the plain frame itself when
  // compressing does not pay (small, or no smaller).
  FrameId build_deflate(FrameId plain);

  Frames& frames_;
  const pomelo::RouteDict& routes_;
  std::string_view push_route_;
  std::vector<Forms> forms_;      // indexed by source frame id
  std::vector<FrameId> started_;  // the source frames with forms in this fan-out phase
  CompressionOptions compression_;
  ShardStats* stats_;
  deflate::Deflater deflater_;
  // The Pomelo encoding has its own parser: it runs inside a delivery, which a go-push JOIN with
  // `since` reaches while its command's views still point into the command parser.
  simdjson::dom::parser parser_;
  std::string out_;         // scratch: packets being built
  std::string compressed_;  // scratch: a payload being compressed
};

}  // namespace ringcast
