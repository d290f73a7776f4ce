// Unit tests for engine/codec/deflate: the permessage-deflate offer parser (every parameter, repeats,
// bad values, several offers and headers), the codec against RFC 7692's own examples (7.2.3), the
// removed 00 00 ff ff tail, the deflate-bomb bound, the no-context-takeover rule, and the frame
// parser's RSV1 rules with every byte split of a compressed message.
#include "engine/codec/deflate.h"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "engine/codec/frame.h"
#include "engine/codec/http.h"

namespace ringcast::deflate {
namespace {

using Bytes = std::vector<uint8_t>;

// An upgrade request with these Sec-WebSocket-Extensions headers, parsed by the real HTTP parser.
struct Offered {
  std::string text;
  http::Request req;
  std::string scratch;
  explicit Offered(std::vector<std::string_view> headers) {
    text = "GET /connect HTTP/1.1\r\nHost: x\r\n";
    for (std::string_view h : headers) {
      text += "Sec-WebSocket-Extensions: ";
      text += h;
      text += "\r\n";
    }
    text += "\r\n";
    http::Limits limits;
    limits.body_bytes_max = 0;
    EXPECT_EQ(http::parse_request(text, limits, req, scratch).status, http::ParseStatus::complete);
  }
};

Agreement offer(std::vector<std::string_view> headers) {
  Offered o(std::move(headers));
  return negotiate(o.req);
}

TEST(DeflateNegotiation, AcceptsTheOffersBrowsersAndLibrariesSend) {
  EXPECT_TRUE(offer({"permessage-deflate"}).on);                          // Firefox
  EXPECT_TRUE(offer({"permessage-deflate; client_max_window_bits"}).on);  // Chrome, websockets, ws
  EXPECT_TRUE(offer({"permessage-deflate; server_no_context_takeover; client_no_context_takeover"}).on);
  EXPECT_TRUE(offer({"permessage-deflate; client_max_window_bits=10"}).on);     // limits only the client
  EXPECT_TRUE(offer({"PerMessage-Deflate"}).on);                                // names are case-insensitive
  EXPECT_TRUE(offer({"permessage-deflate;client_max_window_bits=\"12\""}).on);  // quoted value
  EXPECT_FALSE(offer({}).on);
  EXPECT_FALSE(offer({"x-webkit-deflate-frame"}).on);
}

TEST(DeflateNegotiation, TheAnswerAlwaysTurnsContextTakeoverOff) {
  EXPECT_EQ(response_header(offer({"permessage-deflate"})),
            "Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover; "
            "client_no_context_takeover\r\n");
  // Accepting server_max_window_bits means naming it in the answer (RFC 7692 7.1.2.1).
  EXPECT_EQ(response_header(offer({"permessage-deflate; server_max_window_bits=15"})),
            "Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover; "
            "client_no_context_takeover; server_max_window_bits=15\r\n");
  EXPECT_EQ(response_header(offer({"x-other"})), "");
}

TEST(DeflateNegotiation, DeclinesWhatItCannotHonour) {
  // A smaller window for our frames: the shared compressor uses 15 bits for everybody.
  EXPECT_FALSE(offer({"permessage-deflate; server_max_window_bits=10"}).on);
  EXPECT_FALSE(offer({"permessage-deflate; server_max_window_bits"}).on);  // needs a value
  EXPECT_FALSE(offer({"permessage-deflate; client_max_window_bits=16"}).on);
  EXPECT_FALSE(offer({"permessage-deflate; client_max_window_bits=7"}).on);
  EXPECT_FALSE(offer({"permessage-deflate; client_max_window_bits=09"}).on);
  EXPECT_FALSE(offer({"permessage-deflate; client_max_window_bits=abc"}).on);
  EXPECT_FALSE(offer({"permessage-deflate; server_no_context_takeover=1"}).on);  // a flag has no value
  EXPECT_FALSE(offer({"permessage-deflate; client_no_context_takeover=true"}).on);
  EXPECT_FALSE(offer({"permessage-deflate; unknown_param"}).on);
  EXPECT_FALSE(offer({"permessage-deflate; server_no_context_takeover; server_no_context_takeover"}).on);
  EXPECT_FALSE(offer({"permessage-deflate; client_max_window_bits; client_max_window_bits=10"}).on);
  EXPECT_FALSE(offer({"permessage-deflate; server_max_window_bits=15; server_max_window_bits=15"}).on);
}

TEST(DeflateNegotiation, TriesTheOffersInOrderOverSeveralHeaders) {
  EXPECT_TRUE(offer({"permessage-deflate; server_max_window_bits=9, permessage-deflate"}).on);
  EXPECT_TRUE(offer({"permessage-deflate; bogus", "permessage-deflate; client_max_window_bits"}).on);
  EXPECT_TRUE(offer({"x-webkit-deflate-frame; no_context_takeover, permessage-deflate"}).on);
  // The first acceptable offer decides the answer's parameters.
  EXPECT_FALSE(
      offer({"permessage-deflate, permessage-deflate; server_max_window_bits=15"}).echo_server_window_bits);
  EXPECT_FALSE(offer({"x-a", "x-b; p=1"}).on);
  EXPECT_TRUE(offer({" , permessage-deflate ,"}).on);  // empty list elements are allowed
}

TEST(DeflateNegotiation, AHeaderThatDoesNotParseDeclinesEverything) {
  EXPECT_FALSE(offer({"permessage-deflate; client_max_window_bits=\"15"}).on);  // unterminated quote
  EXPECT_FALSE(offer({"permessage-deflate;; client_max_window_bits"}).on);
  EXPECT_FALSE(offer({"permessage-deflate; client_max_window_bits="}).on);
  EXPECT_FALSE(offer({"permessage-deflate / 2"}).on);
  EXPECT_FALSE(offer({"permessage-deflate", "@@"}).on);
}

Bytes inflate_all(Inflater& in, const Bytes& compressed, size_t max = 1 << 20,
                  InflateResult* result = nullptr) {
  const InflateResult r = in.inflate(compressed.data(), compressed.size(), max);
  if (result != nullptr) *result = r;
  if (r != InflateResult::ok) return {};
  return Bytes(in.output(), in.output() + in.output_size());
}

std::string text_of(const Bytes& b) {
  return std::string(b.begin(), b.end());
}

// RFC 7692 7.2.3.1: "Hello" compressed, as one message.
TEST(DeflateCodec, InflatesTheRfcExamples) {
  Inflater in;
  EXPECT_EQ(text_of(inflate_all(in, {0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00})), "Hello");
  // 7.2.3.3: an uncompressed (stored) block.
  EXPECT_EQ(text_of(inflate_all(in, {0x00, 0x05, 0x00, 0xfa, 0xff, 0x48, 0x65, 0x6c, 0x6c, 0x6f, 0x00})),
            "Hello");
  // 7.2.3.4: a block with BFINAL set, then padding.
  EXPECT_EQ(text_of(inflate_all(in, {0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00, 0x00})), "Hello");
  // 7.2.3.5: two DEFLATE blocks in one message.
  EXPECT_EQ(text_of(inflate_all(
                in, {0xf2, 0x48, 0x05, 0x00, 0x00, 0x00, 0xff, 0xff, 0xca, 0xc9, 0xc9, 0x07, 0x00})),
            "Hello");
  // 7.2.3.6 / the empty message: one 0x00 byte.
  EXPECT_EQ(inflate_all(in, {0x00}).size(), 0u);
}

// 7.2.3.2 shows "Hello" twice with the window shared: the second message (f2 00 11 00 00) refers
// back into the first. We agreed client_no_context_takeover, so that message is corrupt here.
TEST(DeflateCodec, NeverAssumesASharedWindow) {
  Inflater in;
  EXPECT_EQ(text_of(inflate_all(in, {0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00})), "Hello");
  InflateResult r = InflateResult::ok;
  inflate_all(in, {0xf2, 0x00, 0x11, 0x00, 0x00}, 1 << 20, &r);
  EXPECT_EQ(r, InflateResult::corrupt);
  // And a message after it still inflates: no state survives a message.
  EXPECT_EQ(text_of(inflate_all(in, {0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00})), "Hello");
}

TEST(DeflateCodec, CompressesWithTheTailRemovedAndRoundTrips) {
  Deflater out(6);
  std::string compressed;
  ASSERT_TRUE(out.compress("Hello", compressed));
  // A sync flush ends in 00 00 ff ff, which the wire form drops (RFC 7692 7.2.1).
  ASSERT_GE(compressed.size(), 1u);
  EXPECT_NE(compressed.substr(compressed.size() >= 4 ? compressed.size() - 4 : 0),
            std::string("\x00\x00\xff\xff", 4));
  EXPECT_EQ(compressed, std::string("\xf2\x48\xcd\xc9\xc9\x07\x00", 7));  // the RFC's own bytes
  Inflater in;
  std::mt19937 rng(7);
  for (size_t size : {0u, 1u, 100u, 5000u, 70000u, 300000u}) {
    std::string text;
    for (size_t i = 0; i < size; ++i) text.push_back(static_cast<char>('a' + rng() % (i % 3 == 0 ? 26 : 4)));
    ASSERT_TRUE(out.compress(text, compressed));
    const Bytes bytes(compressed.begin(), compressed.end());
    EXPECT_EQ(text_of(inflate_all(in, bytes)), text) << size;
  }
  // Each message is compressed from an empty window: the same input gives the same bytes again.
  std::string again;
  ASSERT_TRUE(out.compress("Hello", again));
  EXPECT_EQ(again, std::string("\xf2\x48\xcd\xc9\xc9\x07\x00", 7));
}

TEST(DeflateCodec, StopsABombAtTheLimit) {
  Deflater out(9);
  std::string compressed;
  ASSERT_TRUE(out.compress(std::string(10 << 20, '\0'), compressed));  // 10 MiB of zeros
  EXPECT_LT(compressed.size(), 20000u);
  Inflater in;
  InflateResult r = InflateResult::ok;
  inflate_all(in, Bytes(compressed.begin(), compressed.end()), 65536, &r);
  EXPECT_EQ(r, InflateResult::too_big);
  // What it took was bounded by the limit, not the 10 MiB.
  EXPECT_LE(in.output_size(), 65537u);
  // Exactly at the limit is fine; one byte over is not.
  ASSERT_TRUE(out.compress(std::string(65536, 'x'), compressed));
  EXPECT_EQ(inflate_all(in, Bytes(compressed.begin(), compressed.end()), 65536).size(), 65536u);
  ASSERT_TRUE(out.compress(std::string(65537, 'x'), compressed));
  inflate_all(in, Bytes(compressed.begin(), compressed.end()), 65536, &r);
  EXPECT_EQ(r, InflateResult::too_big);
}

TEST(DeflateCodec, RefusesCorruptStreams) {
  Inflater in;
  InflateResult r = InflateResult::ok;
  inflate_all(in, {0xff, 0xff, 0xff, 0xff}, 1 << 20, &r);  // BTYPE 11 is reserved
  EXPECT_EQ(r, InflateResult::corrupt);
  inflate_all(in, {0x00, 0x05, 0x00, 0x00, 0x00, 0x48}, 1 << 20, &r);  // stored block, LEN != ~NLEN
  EXPECT_EQ(r, InflateResult::corrupt);
}

// ---- the frame parser's side: RSV1 only once agreed, only on a data message's first frame ----

struct Sink {
  std::vector<std::pair<int, Bytes>> messages;  // (opcode, payload); compressed ones as negative opcodes
  uint16_t error = 0;
  void on_message(ws::Opcode op, std::span<uint8_t> p) {
    messages.push_back({int(op), Bytes(p.begin(), p.end())});
  }
  void on_compressed(ws::Opcode op, std::span<uint8_t> p) {
    messages.push_back({-int(op), Bytes(p.begin(), p.end())});
  }
  void on_control(ws::Opcode, std::span<uint8_t>) {}
  void on_error(uint16_t code, std::string_view) { error = code; }
};

Bytes client_frame(ws::Opcode op, const Bytes& payload, bool fin, bool rsv1) {
  Bytes out(payload.size() + 14);
  const size_t n = ws::encode_client_frame(out.data(), op, payload, 0x12345678, fin);
  out.resize(n);
  if (rsv1) out[0] |= 0x40;
  return out;
}

Sink parse(Bytes bytes, bool allowed, size_t piece = 0) {
  Sink sink;
  ws::FrameParser parser;
  if (allowed) parser.allow_compressed();
  if (piece == 0) piece = bytes.size();
  for (size_t at = 0; at < bytes.size(); at += piece)
    if (parser.feed(bytes.data() + at, std::min(piece, bytes.size() - at), 65536, sink) !=
        ws::ParseStatus::ok)
      break;
  return sink;
}

TEST(DeflateFrames, Rsv1IsAProtocolErrorUnlessAgreedAndOnlyOnTheFirstFrame) {
  const Bytes hello{0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00};
  EXPECT_EQ(parse(client_frame(ws::Opcode::text, hello, true, true), false).error, 1002);
  EXPECT_EQ(parse(client_frame(ws::Opcode::ping, {}, true, true), true).error, 1002);
  Bytes stream = client_frame(ws::Opcode::text, {0xf2, 0x48}, false, true);
  const Bytes cont = client_frame(ws::Opcode::continuation, {0xcd, 0xc9}, true, true);
  stream.insert(stream.end(), cont.begin(), cont.end());
  EXPECT_EQ(parse(stream, true).error, 1002);
  Bytes rsv2 = client_frame(ws::Opcode::text, hello, true, false);
  rsv2[0] |= 0x20;
  EXPECT_EQ(parse(rsv2, true).error, 1002);
  // A plain message on a connection that agreed is still a plain message.
  const Sink plain = parse(client_frame(ws::Opcode::text, {'h', 'i'}, true, false), true);
  ASSERT_EQ(plain.messages.size(), 1u);
  EXPECT_EQ(plain.messages[0].first, int(ws::Opcode::text));
}

// A compressed text message is not UTF-8 on the wire; the parser must not judge it, and must hand
// over the same bytes however they were split across frames and feeds.
TEST(DeflateFrames, EverySplitOfACompressedMessageGivesTheSameBytes) {
  Deflater out(6);
  std::string compressed;
  const std::string text = "{\"type\":\"JOIN\",\"data\":{\"room\":\"caf\xc3\xa9 \xe2\x98\x83\"}}";
  ASSERT_TRUE(out.compress(text, compressed));
  const Bytes payload(compressed.begin(), compressed.end());
  for (size_t cut = 0; cut <= payload.size(); ++cut) {
    Bytes stream = client_frame(ws::Opcode::text, Bytes(payload.begin(), payload.begin() + cut), false, true);
    const Bytes rest =
        client_frame(ws::Opcode::continuation, Bytes(payload.begin() + cut, payload.end()), true, false);
    stream.insert(stream.end(), rest.begin(), rest.end());
    for (size_t piece : {size_t(1), size_t(3), stream.size()}) {
      const Sink s = parse(stream, true, piece);
      ASSERT_EQ(s.error, 0) << cut << "/" << piece;
      ASSERT_EQ(s.messages.size(), 1u);
      EXPECT_EQ(s.messages[0].first, -int(ws::Opcode::text));
      EXPECT_EQ(s.messages[0].second, payload);
      Inflater in;
      EXPECT_EQ(text_of(inflate_all(in, s.messages[0].second)), text);
    }
  }
}

// The compressed form of an incompressible message at the limit is a few bytes longer than the
// limit: it must still get through to be inflated (and judged by its inflated size).
TEST(DeflateFrames, TheLimitIsOnTheInflatedSize) {
  std::mt19937 rng(1);
  std::string noise(65536, '\0');
  for (char& c : noise) c = static_cast<char>(rng());
  Deflater out(6);
  std::string compressed;
  ASSERT_TRUE(out.compress(noise, compressed));
  ASSERT_GT(compressed.size(), 65536u);
  const Sink s =
      parse(client_frame(ws::Opcode::binary, Bytes(compressed.begin(), compressed.end()), true, true), true);
  EXPECT_EQ(s.error, 0);
  ASSERT_EQ(s.messages.size(), 1u);
  Inflater in;
  EXPECT_EQ(inflate_all(in, s.messages[0].second, 65536).size(), 65536u);
}

}  // namespace
}  // namespace ringcast::deflate
