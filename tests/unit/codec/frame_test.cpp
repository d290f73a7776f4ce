// Unit tests for engine/frame: RFC 6455 section 5.7 vectors, every protocol error with its close code,
// every split point of multi-frame streams, UTF-8 checked as it arrives (every cut of a character
// across fragments and feeds; invalid text fails at its first bad byte), the encoders, unmasking
// against a byte-wise reference and a seeded random round trip through encode_client_frame and
// FrameParser.
#include "engine/codec/frame.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <random>
#include <string>
#include <string_view>
#include <vector>

namespace ringcast::ws {
namespace {

using Bytes = std::vector<uint8_t>;

constexpr size_t kNoLimit = size_t{1} << 40;

Bytes bytes_of(std::string_view s) {
  return Bytes(s.begin(), s.end());
}

Bytes concat(std::initializer_list<Bytes> parts) {
  Bytes out;
  for (const Bytes& part : parts) out.insert(out.end(), part.begin(), part.end());
  return out;
}

// One callback as the sink saw it; the trace of a parse is the list of these plus the final status.
struct Event {
  enum Kind { message, control, error, compressed } kind;
  uint8_t op_or_none;
  uint16_t code;
  Bytes payload;  // the payload, or the reason for an error

  bool operator==(const Event&) const = default;
};

std::ostream& operator<<(std::ostream& os, const Event& e) {
  static const char* const kinds[] = {"message", "control", "error", "compressed"};
  os << kinds[e.kind] << " op=" << int(e.op_or_none) << " code=" << e.code << " len=" << e.payload.size();
  return os;
}

struct Recorder {
  std::vector<Event> events;
  std::vector<const uint8_t*> message_data;  // where each message payload lay, for the no-copy check

  void on_message(Opcode op, std::span<uint8_t> payload) {
    events.push_back({Event::message, static_cast<uint8_t>(op), 0, Bytes(payload.begin(), payload.end())});
    message_data.push_back(payload.data());
  }
  void on_compressed(Opcode op, std::span<uint8_t> payload) {
    events.push_back({Event::compressed, static_cast<uint8_t>(op), 0, Bytes(payload.begin(), payload.end())});
  }
  void on_control(Opcode op, std::span<uint8_t> payload) {
    events.push_back({Event::control, static_cast<uint8_t>(op), 0, Bytes(payload.begin(), payload.end())});
  }
  void on_error(uint16_t close_code, std::string_view reason) {
    events.push_back({Event::error, 0, close_code, bytes_of(reason)});
  }
};

struct Trace {
  std::vector<Event> events;
  ParseStatus status = ParseStatus::ok;
  bool operator==(const Trace&) const = default;
};

std::ostream& operator<<(std::ostream& os, const Trace& t) {
  os << "status=" << int(t.status) << " [";
  for (const Event& e : t.events) os << "{" << e << "} ";
  return os << "]";
}

// Feeds a copy of `stream` cut at the given offsets (ascending), returns the callbacks and the
// status of the last feed, and checks that the parser keeps no heap memory once it stopped or the
// stream ended between frames.
Trace parse_cut(const Bytes& stream, const std::vector<size_t>& cuts, size_t max_message_bytes = kNoLimit) {
  Bytes copy = stream;
  FrameParser parser;
  Recorder sink;
  Trace trace;
  size_t from = 0;
  auto feed_to = [&](size_t to) {
    trace.status = parser.feed(copy.data() + from, to - from, max_message_bytes, sink);
    from = to;
  };
  for (size_t cut : cuts) feed_to(cut);
  feed_to(copy.size());
  if (trace.status != ParseStatus::ok) {
    EXPECT_EQ(parser.buffered_bytes(), 0u);
  }
  trace.events = std::move(sink.events);
  return trace;
}

Trace parse_whole(const Bytes& stream, size_t max_message_bytes = kNoLimit) {
  return parse_cut(stream, {}, max_message_bytes);
}

Trace parse_bytewise(const Bytes& stream, size_t max_message_bytes = kNoLimit) {
  std::vector<size_t> cuts;
  for (size_t i = 1; i < stream.size(); ++i) cuts.push_back(i);
  return parse_cut(stream, cuts, max_message_bytes);
}

// The contract that matters most: any split of the input gives the same callbacks as no split.
// Checks every single split point, every pair for short streams, and one byte at a time.
void expect_split_invariant(const Bytes& stream, size_t max_message_bytes = kNoLimit) {
  const Trace whole = parse_whole(stream, max_message_bytes);
  for (size_t cut = 0; cut <= stream.size(); ++cut) {
    ASSERT_EQ(parse_cut(stream, {cut}, max_message_bytes), whole) << "split at " << cut;
  }
  if (stream.size() <= 200) {
    for (size_t a = 1; a < stream.size(); ++a) {
      for (size_t b = a; b < stream.size(); ++b) {
        ASSERT_EQ(parse_cut(stream, {a, b}, max_message_bytes), whole) << "split at " << a << "," << b;
      }
    }
  }
  ASSERT_EQ(parse_bytewise(stream, max_message_bytes), whole) << "one byte at a time";
}

Bytes client_frame(Opcode op, const Bytes& payload, bool fin = true, uint32_t key = 0x37fa213d) {
  Bytes out(payload.size() + 14);
  out.resize(encode_client_frame(out.data(), op, payload, key, fin));
  return out;
}

Bytes close_payload(uint16_t code, std::string_view reason = "") {
  Bytes out(2 + reason.size());
  out[0] = static_cast<uint8_t>(code >> 8);
  out[1] = static_cast<uint8_t>(code);
  std::copy(reason.begin(), reason.end(), out.begin() + 2);
  return out;
}

enum class LenForm { minimal, len16, len64 };

// A frame built by hand, for headers the encoders refuse to produce: any first byte, any length
// form, masked or not.
Bytes raw_frame(uint8_t byte0, const Bytes& payload, bool masked = true, LenForm form = LenForm::minimal,
                uint32_t key = 0x11223344) {
  Bytes out = {byte0};
  const uint8_t mask_bit = masked ? 0x80 : 0;
  const uint64_t len = payload.size();
  if (form == LenForm::minimal)
    form = len < 126 ? LenForm::minimal : len <= 0xFFFF ? LenForm::len16 : LenForm::len64;
  if (form == LenForm::minimal) {
    out.push_back(static_cast<uint8_t>(mask_bit | len));
  } else if (form == LenForm::len16) {
    out.push_back(mask_bit | 126);
    for (int shift = 8; shift >= 0; shift -= 8) out.push_back(static_cast<uint8_t>(len >> shift));
  } else {
    out.push_back(mask_bit | 127);
    for (int shift = 56; shift >= 0; shift -= 8) out.push_back(static_cast<uint8_t>(len >> shift));
  }
  const uint8_t k[4] = {uint8_t(key >> 24), uint8_t(key >> 16), uint8_t(key >> 8), uint8_t(key)};
  if (masked) out.insert(out.end(), k, k + 4);
  for (size_t i = 0; i < payload.size(); ++i) out.push_back(masked ? payload[i] ^ k[i & 3] : payload[i]);
  return out;
}

// Only the header of a masked frame with an arbitrary declared length (payload never sent).
Bytes header_only(uint8_t byte0, uint64_t len, LenForm form) {
  Bytes out = {byte0};
  if (form == LenForm::minimal) {
    out.push_back(static_cast<uint8_t>(0x80 | len));
  } else if (form == LenForm::len16) {
    out.push_back(0x80 | 126);
    for (int shift = 8; shift >= 0; shift -= 8) out.push_back(static_cast<uint8_t>(len >> shift));
  } else {
    out.push_back(0x80 | 127);
    for (int shift = 56; shift >= 0; shift -= 8) out.push_back(static_cast<uint8_t>(len >> shift));
  }
  out.insert(out.end(), {1, 2, 3, 4});
  return out;
}

Event msg(Opcode op, const Bytes& payload) {
  return {Event::message, static_cast<uint8_t>(op), 0, payload};
}
Event ctl(Opcode op, const Bytes& payload) {
  return {Event::control, static_cast<uint8_t>(op), 0, payload};
}

// Expects exactly one error with this close code (after the events before it), at every split.
void expect_error(const Bytes& stream, uint16_t code, size_t max_message_bytes = kNoLimit,
                  size_t events_before = 0) {
  const Trace whole = parse_whole(stream, max_message_bytes);
  ASSERT_EQ(whole.status, ParseStatus::failed) << whole;
  ASSERT_EQ(whole.events.size(), events_before + 1) << whole;
  EXPECT_EQ(whole.events.back().kind, Event::error);
  EXPECT_EQ(whole.events.back().code, code) << whole;
  expect_split_invariant(stream, max_message_bytes);
}

// --- RFC 6455 section 5.7 examples ---

TEST(FrameRfcExamples, UnmaskedHelloIsRejected) {
  expect_error({0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f}, close_code::protocol_error);
}

TEST(FrameRfcExamples, MaskedHello) {
  const Bytes stream = {0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58};
  const Trace t = parse_whole(stream);
  EXPECT_EQ(t.status, ParseStatus::ok);
  EXPECT_EQ(t.events, std::vector<Event>{msg(Opcode::text, bytes_of("Hello"))});
  EXPECT_EQ(client_frame(Opcode::text, bytes_of("Hello")), stream);  // same key as the RFC
  expect_split_invariant(stream);
}

TEST(FrameRfcExamples, FragmentedHello) {
  // The RFC's unmasked example is refused; the same frames masked assemble to "Hello".
  expect_error({0x01, 0x03, 0x48, 0x65, 0x6c, 0x80, 0x02, 0x6c, 0x6f}, close_code::protocol_error);
  const Bytes stream = concat({raw_frame(0x01, bytes_of("Hel")), raw_frame(0x80, bytes_of("lo"))});
  const Trace t = parse_whole(stream);
  EXPECT_EQ(t.events, std::vector<Event>{msg(Opcode::text, bytes_of("Hello"))});
  expect_split_invariant(stream);
}

TEST(FrameRfcExamples, PingAndPong) {
  expect_error({0x89, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f}, close_code::protocol_error);
  const Bytes pong = {0x8a, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58};
  const Bytes stream = concat({raw_frame(0x89, bytes_of("Hello")), pong});
  const Trace t = parse_whole(stream);
  EXPECT_EQ(t.events,
            (std::vector<Event>{ctl(Opcode::ping, bytes_of("Hello")), ctl(Opcode::pong, bytes_of("Hello"))}));
  expect_split_invariant(stream);
}

TEST(FrameRfcExamples, BinaryOf256BytesAnd64KiB) {
  for (size_t len : {size_t{256}, size_t{65536}}) {
    Bytes payload(len);
    for (size_t i = 0; i < len; ++i) payload[i] = static_cast<uint8_t>(i * 7 + 3);
    const Bytes frame = client_frame(Opcode::binary, payload);
    if (len == 256) {
      EXPECT_EQ(Bytes(frame.begin(), frame.begin() + 4), (Bytes{0x82, 0xFE, 0x01, 0x00}));
    } else {
      EXPECT_EQ(Bytes(frame.begin(), frame.begin() + 10), (Bytes{0x82, 0xFF, 0, 0, 0, 0, 0, 1, 0, 0}));
    }
    EXPECT_EQ(parse_whole(frame).events, std::vector<Event>{msg(Opcode::binary, payload)});
    EXPECT_EQ(parse_bytewise(frame).events, std::vector<Event>{msg(Opcode::binary, payload)});
  }
}

// --- split invariance over multi-frame streams ---

TEST(FrameSplit, FragmentedTextWithInterleavedPing) {
  const Bytes stream = concat({
      raw_frame(0x01, bytes_of("frag-one "), true, LenForm::minimal, 0x01020304),
      raw_frame(0x89, bytes_of("are you there"), true, LenForm::minimal, 0xa0b0c0d0),
      raw_frame(0x00, bytes_of("frag-two "), true, LenForm::minimal, 0xdeadbeef),
      raw_frame(0x00, {}, true, LenForm::minimal, 0x0badf00d),
      raw_frame(0x80, bytes_of("end"), true, LenForm::minimal, 0xfeedface),
  });
  const Trace whole = parse_whole(stream);
  EXPECT_EQ(whole.events, (std::vector<Event>{ctl(Opcode::ping, bytes_of("are you there")),
                                              msg(Opcode::text, bytes_of("frag-one frag-two end"))}));
  expect_split_invariant(stream);
}

TEST(FrameSplit, MessagesBackToBackThenClose) {
  Bytes big(300, 'x');
  const Bytes stream = concat({
      client_frame(Opcode::text, bytes_of("first")),
      client_frame(Opcode::binary, {0, 1, 2, 255}, true, 0x12345678),
      client_frame(Opcode::text, {}),
      client_frame(Opcode::text, big, true, 0x9abcdef0),
      client_frame(Opcode::pong, {}),
      client_frame(Opcode::close, close_payload(1000, "bye")),
      client_frame(Opcode::text, bytes_of("after close: ignored")),
  });
  const Trace whole = parse_whole(stream);
  EXPECT_EQ(whole.status, ParseStatus::closed);
  EXPECT_EQ(whole.events, (std::vector<Event>{
                              msg(Opcode::text, bytes_of("first")),
                              msg(Opcode::binary, {0, 1, 2, 255}),
                              msg(Opcode::text, {}),
                              msg(Opcode::text, big),
                              ctl(Opcode::pong, {}),
                              ctl(Opcode::close, close_payload(1000, "bye")),
                          }));
  expect_split_invariant(stream);
}

TEST(FrameSplit, ControlFrameSplitWhileMessageIsAssembled) {
  // The ping is split while a fragmented message waits in the message spill: two spills at once.
  const Bytes stream = concat({
      client_frame(Opcode::binary, Bytes(40, 0xAA), false),
      client_frame(Opcode::ping, Bytes(125, 0x55)),
      client_frame(Opcode::continuation, Bytes(40, 0xBB), true),
  });
  Bytes expected(80, 0xAA);
  std::fill(expected.begin() + 40, expected.end(), 0xBB);
  EXPECT_EQ(parse_whole(stream).events,
            (std::vector<Event>{ctl(Opcode::ping, Bytes(125, 0x55)), msg(Opcode::binary, expected)}));
  expect_split_invariant(stream);
}

TEST(FrameSplit, FeedAfterStopIsIgnored) {
  FrameParser parser;
  Recorder sink;
  Bytes closing = client_frame(Opcode::close, {});
  EXPECT_EQ(parser.feed(closing.data(), closing.size(), kNoLimit, sink), ParseStatus::closed);
  EXPECT_TRUE(parser.closed());
  Bytes more = client_frame(Opcode::text, bytes_of("x"));
  EXPECT_EQ(parser.feed(more.data(), more.size(), kNoLimit, sink), ParseStatus::closed);
  EXPECT_EQ(sink.events.size(), 1u);

  FrameParser failing;
  Recorder sink2;
  Bytes bad = raw_frame(0x83, {});
  EXPECT_EQ(failing.feed(bad.data(), bad.size(), kNoLimit, sink2), ParseStatus::failed);
  EXPECT_TRUE(failing.failed());
  EXPECT_EQ(failing.feed(more.data(), more.size(), kNoLimit, sink2), ParseStatus::failed);
  EXPECT_EQ(sink2.events.size(), 1u);
}

// --- memory: in place when whole, spilled only while split ---

TEST(FrameMemory, WholeFrameIsDeliveredInPlace) {
  FrameParser parser;
  Recorder sink;
  Bytes stream = concat(
      {client_frame(Opcode::text, bytes_of("in place")), client_frame(Opcode::binary, Bytes(1000, 7))});
  ASSERT_EQ(parser.feed(stream.data(), stream.size(), kNoLimit, sink), ParseStatus::ok);
  ASSERT_EQ(sink.message_data.size(), 2u);
  for (const uint8_t* at : sink.message_data) {
    EXPECT_GE(at, stream.data());
    EXPECT_LT(at, stream.data() + stream.size());
  }
  EXPECT_EQ(parser.buffered_bytes(), 0u);
}

TEST(FrameMemory, SplitMessageSpillIsFreedAfterDelivery) {
  FrameParser parser;
  Recorder sink;
  Bytes frame = client_frame(Opcode::binary, Bytes(5000, 9));
  const size_t cut = frame.size() / 2;
  ASSERT_EQ(parser.feed(frame.data(), cut, kNoLimit, sink), ParseStatus::ok);
  EXPECT_GT(parser.buffered_bytes(), 0u);
  EXPECT_LE(parser.buffered_bytes(), 5000u + 64);  // never more than the frame can need
  ASSERT_EQ(parser.feed(frame.data() + cut, frame.size() - cut, kNoLimit, sink), ParseStatus::ok);
  ASSERT_EQ(sink.events.size(), 1u);
  EXPECT_EQ(sink.events[0].payload, Bytes(5000, 9));
  EXPECT_EQ(parser.buffered_bytes(), 0u);

  // Fragments, then a split control frame; each spill is gone once its frame or message is out.
  Bytes first = client_frame(Opcode::text, bytes_of("abc"), false);
  ASSERT_EQ(parser.feed(first.data(), first.size(), kNoLimit, sink), ParseStatus::ok);
  EXPECT_GT(parser.buffered_bytes(), 0u);
  Bytes ping = client_frame(Opcode::ping, bytes_of("pp"));
  const size_t message_only = parser.buffered_bytes();
  ASSERT_EQ(parser.feed(ping.data(), 7, kNoLimit, sink), ParseStatus::ok);  // header and one byte
  EXPECT_GT(parser.buffered_bytes(), message_only);
  const size_t with_both = parser.buffered_bytes();
  ASSERT_EQ(parser.feed(ping.data() + 7, ping.size() - 7, kNoLimit, sink), ParseStatus::ok);
  EXPECT_LT(parser.buffered_bytes(), with_both);
  Bytes last = client_frame(Opcode::continuation, bytes_of("def"));
  ASSERT_EQ(parser.feed(last.data(), last.size(), kNoLimit, sink), ParseStatus::ok);
  EXPECT_EQ(sink.events.back(), msg(Opcode::text, bytes_of("abcdef")));
  EXPECT_EQ(parser.buffered_bytes(), 0u);
}

TEST(FrameMemory, SplitHeaderAloneTakesNoHeap) {
  FrameParser parser;
  Recorder sink;
  Bytes frame = client_frame(Opcode::binary, Bytes(70000, 1));
  ASSERT_EQ(parser.feed(frame.data(), 9, kNoLimit, sink), ParseStatus::ok);
  EXPECT_EQ(parser.buffered_bytes(), 0u);
}

TEST(FrameMemory, FitsInACacheLine) {
  EXPECT_LE(sizeof(FrameParser), 64u);
}

// --- protocol errors, each with its close code, at every split ---

TEST(FrameErrors, ReservedBits) {
  for (uint8_t rsv : {0x40, 0x20, 0x10}) {
    expect_error(raw_frame(static_cast<uint8_t>(0x81 | rsv), bytes_of("x")), close_code::protocol_error);
  }
}

TEST(FrameErrors, ReservedOpcodes) {
  for (uint8_t op : {3, 4, 5, 6, 7, 0xB, 0xC, 0xD, 0xE, 0xF}) {
    expect_error(raw_frame(static_cast<uint8_t>(0x80 | op), bytes_of("x")), close_code::protocol_error);
  }
}

TEST(FrameErrors, UnmaskedFrames) {
  expect_error(raw_frame(0x82, Bytes(200, 1), false), close_code::protocol_error);
  expect_error(raw_frame(0x88, {}, false), close_code::protocol_error);
}

TEST(FrameErrors, FragmentedControlFrames) {
  for (uint8_t op : {0x8, 0x9, 0xA}) expect_error(raw_frame(op, bytes_of("x")), close_code::protocol_error);
}

TEST(FrameErrors, ControlPayloadLimits) {
  EXPECT_EQ(parse_whole(raw_frame(0x89, Bytes(125, 1))).events,
            std::vector<Event>{ctl(Opcode::ping, Bytes(125, 1))});
  expect_error(raw_frame(0x89, Bytes(126, 1)), close_code::protocol_error);
  expect_error(raw_frame(0x8A, Bytes(126, 1)), close_code::protocol_error);
  expect_error(raw_frame(0x88, close_payload(1000, std::string(124, 'r'))), close_code::protocol_error);
}

TEST(FrameErrors, ContinuationWithoutMessage) {
  expect_error(raw_frame(0x80, bytes_of("x")), close_code::protocol_error);
  expect_error(raw_frame(0x00, bytes_of("x")), close_code::protocol_error);
  // The message before it finished, so there is none in progress any more.
  expect_error(concat({client_frame(Opcode::text, bytes_of("done")), raw_frame(0x80, bytes_of("x"))}),
               close_code::protocol_error, kNoLimit, 1);
}

TEST(FrameErrors, NewDataFrameInsideFragmentedMessage) {
  expect_error(concat({raw_frame(0x01, bytes_of("a")), raw_frame(0x81, bytes_of("b"))}),
               close_code::protocol_error);
  expect_error(concat({raw_frame(0x02, bytes_of("a")), raw_frame(0x01, bytes_of("b"))}),
               close_code::protocol_error);
}

TEST(FrameErrors, LengthEncoding) {
  // 126 form for a length below 126, 127 form for one that fits 16 bits: not minimal.
  expect_error(raw_frame(0x82, Bytes(125, 1), true, LenForm::len16), close_code::protocol_error);
  expect_error(raw_frame(0x82, Bytes(0), true, LenForm::len16), close_code::protocol_error);
  expect_error(raw_frame(0x82, Bytes(0xFFFF, 1), true, LenForm::len64), close_code::protocol_error);
  expect_error(raw_frame(0x82, Bytes(3), true, LenForm::len64), close_code::protocol_error);
  // The smallest lengths of each form are fine.
  EXPECT_EQ(parse_whole(raw_frame(0x82, Bytes(126, 1), true, LenForm::len16)).events,
            std::vector<Event>{msg(Opcode::binary, Bytes(126, 1))});
  EXPECT_EQ(parse_whole(raw_frame(0x82, Bytes(0x10000, 1), true, LenForm::len64)).events,
            std::vector<Event>{msg(Opcode::binary, Bytes(0x10000, 1))});
  // Top bit of the 64-bit length set: a protocol error, whatever the message limit.
  expect_error(header_only(0x82, uint64_t{1} << 63, LenForm::len64), close_code::protocol_error);
  expect_error(header_only(0x82, ~uint64_t{0}, LenForm::len64), close_code::protocol_error);
}

TEST(FrameErrors, MessageTooBigSingleFrame) {
  const size_t max = 1000;
  EXPECT_EQ(parse_whole(client_frame(Opcode::binary, Bytes(max, 1)), max).events,
            std::vector<Event>{msg(Opcode::binary, Bytes(max, 1))});
  expect_error(client_frame(Opcode::binary, Bytes(max + 1, 1)), close_code::message_too_big, max);
  // Refused from the header alone: none of the payload has to arrive.
  expect_error(header_only(0x81, 1001, LenForm::len16), close_code::message_too_big, max);
  expect_error(header_only(0x82, uint64_t{1} << 40, LenForm::len64), close_code::message_too_big, max);
  expect_error(header_only(0x82, 1, LenForm::minimal), close_code::message_too_big, 0);
}

TEST(FrameErrors, MessageTooBigFragmented) {
  const size_t max = 100;
  const Bytes fits = concat({client_frame(Opcode::text, Bytes(60, 'a'), false),
                             client_frame(Opcode::continuation, Bytes(40, 'b'))});
  Bytes expected(100, 'a');
  std::fill(expected.begin() + 60, expected.end(), 'b');
  EXPECT_EQ(parse_whole(fits, max).events, std::vector<Event>{msg(Opcode::text, expected)});
  // 60 + 41 > 100, known from the second header; interleaved control frames do not count.
  const Bytes too_big =
      concat({client_frame(Opcode::text, Bytes(60, 'a'), false), client_frame(Opcode::ping, Bytes(100, 'p')),
              header_only(0x80, 41, LenForm::minimal)});
  expect_error(too_big, close_code::message_too_big, max, 1);
}

TEST(FrameErrors, ErrorAfterGoodFramesKeepsThem) {
  const Bytes stream = concat({client_frame(Opcode::text, bytes_of("ok")), client_frame(Opcode::ping, {}),
                               raw_frame(0xC2, bytes_of("x"))});
  expect_error(stream, close_code::protocol_error, kNoLimit, 2);
}

// --- UTF-8 ---

TEST(FrameUtf8, ValidMultiByteText) {
  const Bytes text = bytes_of("h\xC3\xA9llo \xE2\x82\xAC \xF0\x9D\x84\x9E \xEF\xBF\xBF \xF4\x8F\xBF\xBF");
  EXPECT_EQ(parse_whole(client_frame(Opcode::text, text)).events,
            std::vector<Event>{msg(Opcode::text, text)});
}

TEST(FrameUtf8, InvalidTextIsRefused) {
  const std::vector<Bytes> invalid = {
      {0x80},                    // lone continuation byte
      {0xC0, 0xAF},              // overlong '/'
      {0xE0, 0x80, 0xAF},        // overlong, three bytes
      {0xED, 0xA0, 0x80},        // UTF-16 surrogate
      {0xF4, 0x90, 0x80, 0x80},  // above U+10FFFF
      {0xFF},                    // never valid
      {'o', 'k', 0xE2, 0x82},    // truncated at the end of the message
      {0xCE, 0xBA, 0xE1, 0xBD},  // "κ" then a truncated character
  };
  for (const Bytes& text : invalid)
    expect_error(client_frame(Opcode::text, text), close_code::invalid_payload);
  // Binary messages carry anything.
  EXPECT_EQ(parse_whole(client_frame(Opcode::binary, {0xFF, 0xC0})).events,
            std::vector<Event>{msg(Opcode::binary, {0xFF, 0xC0})});
}

TEST(FrameUtf8, CharacterSplitAcrossFragments) {
  // "€" (E2 82 AC) and "𝄞" (F0 9D 84 9E) cut inside the character by the fragment boundaries.
  const Bytes stream = concat({client_frame(Opcode::text, {'a', 0xE2}, false),
                               client_frame(Opcode::continuation, {0x82}, false),
                               client_frame(Opcode::continuation, {0xAC, 0xF0, 0x9D}, false),
                               client_frame(Opcode::continuation, {0x84, 0x9E}, true)});
  EXPECT_EQ(parse_whole(stream).events,
            std::vector<Event>{msg(Opcode::text, {'a', 0xE2, 0x82, 0xAC, 0xF0, 0x9D, 0x84, 0x9E})});
  expect_split_invariant(stream);
  // The same fragments, but the message ends inside the character.
  expect_error(
      concat({client_frame(Opcode::text, {'a', 0xE2}, false), client_frame(Opcode::continuation, {0x82})}),
      close_code::invalid_payload);
}

// --- UTF-8, incremental: every split point, and failing fast ---

// A text message cut into fragments at the given payload offsets (ascending), each with its own mask
// key; `at[i]` is where payload byte i lies in the stream.
struct Fragmented {
  Bytes stream;
  std::vector<size_t> at;
};

Fragmented fragmented(Opcode op, const Bytes& payload, const std::vector<size_t>& cuts) {
  Fragmented out;
  std::vector<size_t> bounds = {0};
  bounds.insert(bounds.end(), cuts.begin(), cuts.end());
  bounds.push_back(payload.size());
  for (size_t f = 0; f + 1 < bounds.size(); ++f) {
    const Bytes piece(payload.begin() + static_cast<std::ptrdiff_t>(bounds[f]),
                      payload.begin() + static_cast<std::ptrdiff_t>(bounds[f + 1]));
    const bool fin = f + 2 == bounds.size();
    const Bytes frame =
        client_frame(f == 0 ? op : Opcode::continuation, piece, fin, 0x5a3c0f01u + uint32_t(f));
    const size_t header = frame.size() - piece.size();
    for (size_t i = 0; i < piece.size(); ++i) out.at.push_back(out.stream.size() + header + i);
    out.stream.insert(out.stream.end(), frame.begin(), frame.end());
  }
  return out;
}

// Every way to cut n payload bytes into up to three fragments (empty fragments included).
std::vector<std::vector<size_t>> fragmentations(size_t n) {
  std::vector<std::vector<size_t>> out = {{}};
  for (size_t a = 0; a <= n; ++a) {
    out.push_back({a});
    for (size_t b = a; b <= n; ++b) out.push_back({a, b});
  }
  return out;
}

// Feeds the stream one byte per feed() and returns the index of the byte whose feed reported the
// error (the stream's size if none did); the error must be 1007.
size_t failing_byte(const Bytes& stream) {
  Bytes copy = stream;
  FrameParser parser;
  Recorder sink;
  for (size_t i = 0; i < copy.size(); ++i) {
    if (parser.feed(copy.data() + i, 1, kNoLimit, sink) == ParseStatus::failed) {
      EXPECT_FALSE(sink.events.empty());
      if (!sink.events.empty()) {
        EXPECT_EQ(sink.events.back().kind, Event::error);
        EXPECT_EQ(sink.events.back().code, close_code::invalid_payload);
      }
      return i;
    }
  }
  return copy.size();
}

TEST(FrameUtf8Split, EveryCharacterCutAtEveryPointAcrossFragmentsAndFeeds) {
  const std::vector<Bytes> characters = {
      {0xC2, 0x80},
      {0xC3, 0xA9},
      {0xDF, 0xBF},  // 2 bytes
      {0xE0, 0xA0, 0x80},
      {0xE2, 0x82, 0xAC},
      {0xED, 0x9F, 0xBF},
      {0xEF, 0xBF, 0xBF},  // 3 bytes
      {0xF0, 0x90, 0x80, 0x80},
      {0xF0, 0x9D, 0x84, 0x9E},
      {0xF4, 0x8F, 0xBF, 0xBF},  // 4 bytes
  };
  for (const Bytes& c : characters) {
    const Bytes text = concat({{'a'}, c, {'b'}});
    for (const auto& cuts : fragmentations(text.size())) {
      const Fragmented f = fragmented(Opcode::text, text, cuts);
      const Trace t = parse_whole(f.stream);
      ASSERT_EQ(t.events, std::vector<Event>{msg(Opcode::text, text)}) << ::testing::PrintToString(cuts);
      // Every feed() split of the stream, every pair of splits, one byte at a time.
      expect_split_invariant(f.stream);
    }
  }
}

TEST(FrameUtf8Split, CutCharacterWaitsAcrossControlFrames) {
  // The state of a cut character survives a ping and a pong between the fragments.
  const Bytes stream =
      concat({client_frame(Opcode::text, {'a', 0xF0, 0x9F}, false), client_frame(Opcode::ping, bytes_of("p")),
              client_frame(Opcode::continuation, {0x98}, false), client_frame(Opcode::pong, {}),
              client_frame(Opcode::continuation, {0x80, 'z'}, true)});
  EXPECT_EQ(parse_whole(stream).events,
            (std::vector<Event>{ctl(Opcode::ping, bytes_of("p")), ctl(Opcode::pong, {}),
                                msg(Opcode::text, {'a', 0xF0, 0x9F, 0x98, 0x80, 'z'})}));
  expect_split_invariant(stream);
}

TEST(FrameUtf8Split, EachMessageStartsAfresh) {
  // A binary message in between is not checked and does not disturb the next text message.
  const Bytes stream = concat({
      client_frame(Opcode::text, {0xE2, 0x82}, false),
      client_frame(Opcode::continuation, {0xAC}, true),
      client_frame(Opcode::binary, {0xE2}, false),
      client_frame(Opcode::continuation, {0xFF}, true),
      client_frame(Opcode::text, {'o', 0xC3}, false),
      client_frame(Opcode::continuation, {0xA9}, true),
  });
  EXPECT_EQ(parse_whole(stream).events,
            (std::vector<Event>{msg(Opcode::text, {0xE2, 0x82, 0xAC}), msg(Opcode::binary, {0xE2, 0xFF}),
                                msg(Opcode::text, {'o', 0xC3, 0xA9})}));
  expect_split_invariant(stream);
}

struct BadSequence {
  Bytes bytes;
  size_t first_bad;  // the byte after which no continuation can make the text valid
};

const std::vector<BadSequence>& bad_sequences() {
  static const std::vector<BadSequence> all = {
      {{0xC0, 0xAF}, 0},                          // overlong '/': C0 never starts a character
      {{0xC1, 0xBF}, 0},                          // overlong U+007F
      {{0xE0, 0x80, 0xAF}, 1},                    // overlong, 3 bytes: E0 needs A0..BF next
      {{0xE0, 0x9F, 0xBF}, 1},                    // overlong U+07FF
      {{0xF0, 0x80, 0x80, 0xAF}, 1},              // overlong, 4 bytes: F0 needs 90..BF next
      {{0xF0, 0x8F, 0xBF, 0xBF}, 1},              // overlong U+FFFF
      {{0xED, 0xA0, 0x80}, 1},                    // surrogate U+D800: ED needs 80..9F next
      {{0xED, 0xBF, 0xBF}, 1},                    // surrogate U+DFFF
      {{0xED, 0xA0, 0xBD, 0xED, 0xB8, 0x80}, 1},  // a CESU-8 surrogate pair
      {{0xF4, 0x90, 0x80, 0x80}, 1},              // U+110000: F4 needs 80..8F next
      {{0xF5, 0x80, 0x80, 0x80}, 0},
      {{0xF8, 0x88, 0x80, 0x80, 0x80}, 0},  // 5-byte form
      {{0xFE}, 0},
      {{0xFF}, 0},
      {{0x80}, 0},                   // stray continuation
      {{0xE2, 'a', 0x82}, 1},        // lead byte, then ASCII
      {{0xF0, 0x9F, 0x98, 'x'}, 3},  // a 4-byte character cut by ASCII
      {{0xC3, 0xA9, 0x80}, 2},       // a continuation too many
  };
  return all;
}

TEST(FrameUtf8FailFast, ErrorComesWithTheFirstBadByte) {
  // Wherever the fragments are cut, the error is reported by the feed() of the first byte that makes
  // the text invalid, never later: not at the end of its fragment, not at the end of the message.
  for (const BadSequence& bad : bad_sequences()) {
    const Bytes text = concat({bytes_of("ab"), bad.bytes, bytes_of("cd")});
    for (const auto& cuts : fragmentations(text.size())) {
      const Fragmented f = fragmented(Opcode::text, text, cuts);
      ASSERT_EQ(failing_byte(f.stream), f.at[2 + bad.first_bad])
          << ::testing::PrintToString(bad.bytes) << " cut " << ::testing::PrintToString(cuts);
      // And the same single error however the stream is split.
      expect_error(f.stream, close_code::invalid_payload);
    }
  }
}

TEST(FrameUtf8FailFast, InvalidFirstFragmentFailsBeforeTheRestIsSent) {
  // Autobahn 6.4: the client sends a fragment with invalid UTF-8 and holds the rest back.
  for (const BadSequence& bad : bad_sequences()) {
    const Bytes text = concat({bytes_of("{\"s\":\""), bad.bytes, bytes_of("\"}")});
    expect_error(client_frame(Opcode::text, text, /*fin=*/false), close_code::invalid_payload);
  }
  // A valid first fragment, an invalid second one, no third.
  expect_error(
      concat({client_frame(Opcode::text, bytes_of("\xCE\xBA\xE1\xBD\xB9\xCF\x83\xCE\xBC\xCE\xB5"), false),
              client_frame(Opcode::continuation, {0xF4, 0x90, 0x80, 0x80}, false)}),
      close_code::invalid_payload);
  // An invalid character cut between two fragments: E0 is fine alone, E0 80 is not.
  expect_error(concat({client_frame(Opcode::text, {'a', 0xE0}, false),
                       client_frame(Opcode::continuation, {0x80, 'b'}, false)}),
               close_code::invalid_payload);
}

TEST(FrameUtf8FailFast, UnfragmentedFrameFailsBeforeItsPayloadHasArrived) {
  // One frame announcing 200 bytes, of which only the first 20 (holding a surrogate) arrive.
  Bytes payload(200, 'x');
  payload[10] = 0xED;
  payload[11] = 0xA0;
  payload[12] = 0x80;
  const Bytes frame = client_frame(Opcode::text, payload);
  const size_t header = frame.size() - payload.size();
  expect_error(Bytes(frame.begin(), frame.begin() + static_cast<std::ptrdiff_t>(header + 20)),
               close_code::invalid_payload);
  EXPECT_EQ(failing_byte(frame), header + 11);
  // Its assembly buffer was released when it failed (parse_cut checks buffered_bytes() == 0).
}

TEST(FrameUtf8FailFast, CharacterCutByTheEndOfTheMessage) {
  // A cut character is fine at the end of a fragment but not at the end of the message: the error
  // comes with the last byte of the final frame, however the message was fragmented.
  for (const Bytes& cut : {Bytes{0xC3}, Bytes{0xE2, 0x82}, Bytes{0xF0, 0x9F, 0x98}, Bytes{0xF4}}) {
    const Bytes text = concat({bytes_of("ab"), cut});
    for (const auto& cuts : fragmentations(text.size())) {
      const Fragmented f = fragmented(Opcode::text, text, cuts);
      ASSERT_EQ(failing_byte(f.stream), f.stream.size() - 1) << ::testing::PrintToString(cuts);
      expect_error(f.stream, close_code::invalid_payload);
    }
  }
  // The final fragment empty, the character cut by the one before it.
  expect_error(
      concat({client_frame(Opcode::text, {'a', 0xE2, 0x82}, false), client_frame(Opcode::continuation, {})}),
      close_code::invalid_payload);
}

TEST(FrameUtf8FailFast, BinaryIsNeverChecked) {
  for (const BadSequence& bad : bad_sequences()) {
    for (const auto& cuts : fragmentations(bad.bytes.size())) {
      const Fragmented f = fragmented(Opcode::binary, bad.bytes, cuts);
      ASSERT_EQ(parse_whole(f.stream).events, std::vector<Event>{msg(Opcode::binary, bad.bytes)});
      ASSERT_EQ(failing_byte(f.stream), f.stream.size());
    }
  }
}

// --- close frames ---

TEST(FrameClose, CodeValidityTable) {
  for (uint16_t code :
       {1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 3999, 4000, 4999}) {
    EXPECT_TRUE(close_code_valid_on_wire(code)) << code;
  }
  for (uint16_t code : {0, 1, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535}) {
    EXPECT_FALSE(close_code_valid_on_wire(code)) << code;
  }
  size_t valid = 0;
  for (uint32_t code = 0; code <= 0xFFFF; ++code)
    valid += close_code_valid_on_wire(static_cast<uint16_t>(code));
  EXPECT_EQ(valid, 4u + 8u + 2000u);
}

TEST(FrameClose, ValidCloseFrames) {
  for (const Bytes& payload :
       {Bytes{}, close_payload(1000), close_payload(1001, "going"), close_payload(4999, "\xE2\x82\xAC"),
        close_payload(1000, std::string(123, 'r'))}) {
    const Bytes frame = client_frame(Opcode::close, payload);
    const Trace t = parse_whole(frame);
    EXPECT_EQ(t.status, ParseStatus::closed);
    EXPECT_EQ(t.events, std::vector<Event>{ctl(Opcode::close, payload)});
    expect_split_invariant(frame);
  }
}

TEST(FrameClose, InvalidCloseFrames) {
  expect_error(client_frame(Opcode::close, {0x03}), close_code::protocol_error);
  for (uint16_t code : {0, 999, 1004, 1005, 1006, 1015, 2999, 5000}) {
    expect_error(client_frame(Opcode::close, close_payload(code, "r")), close_code::protocol_error);
  }
  Bytes bad_reason = close_payload(1000);
  bad_reason.insert(bad_reason.end(), {0xC0, 0xAF});
  expect_error(client_frame(Opcode::close, bad_reason), close_code::invalid_payload);
}

TEST(FrameClose, CloseInsideFragmentedMessage) {
  // A control frame may come between fragments; the unfinished message is simply dropped.
  const Bytes stream = concat({client_frame(Opcode::text, bytes_of("part"), false),
                               client_frame(Opcode::close, close_payload(1001))});
  const Trace t = parse_whole(stream);
  EXPECT_EQ(t.status, ParseStatus::closed);
  EXPECT_EQ(t.events, std::vector<Event>{ctl(Opcode::close, close_payload(1001))});
  expect_split_invariant(stream);
}

// --- encoders ---

TEST(FrameEncode, ServerHeaderForms) {
  struct Case {
    uint64_t len;
    Bytes header;
  };
  const std::vector<Case> cases = {
      {0, {0x81, 0x00}},
      {125, {0x81, 0x7D}},
      {126, {0x81, 0x7E, 0x00, 0x7E}},
      {65535, {0x81, 0x7E, 0xFF, 0xFF}},
      {65536, {0x81, 0x7F, 0, 0, 0, 0, 0, 1, 0, 0}},
      {uint64_t{1} << 40, {0x81, 0x7F, 0, 0, 1, 0, 0, 0, 0, 0}},
  };
  for (const Case& c : cases) {
    uint8_t out[kMaxServerHeaderBytes + 4];
    std::memset(out, 0xEE, sizeof out);
    const size_t n = encode_server_header(out, Opcode::text, c.len);
    EXPECT_EQ(n, server_header_bytes(c.len)) << c.len;
    EXPECT_EQ(Bytes(out, out + n), c.header) << c.len;
    EXPECT_EQ(out[n], 0xEE) << "wrote past the header for " << c.len;
  }
  uint8_t out[kMaxServerHeaderBytes];
  ASSERT_EQ(encode_server_header(out, Opcode::binary, 3, false), 2u);
  EXPECT_EQ(out[0], 0x02);
  ASSERT_EQ(encode_server_header(out, Opcode::continuation, 3, true), 2u);
  EXPECT_EQ(out[0], 0x80);
  ASSERT_EQ(encode_server_header(out, Opcode::close, 2), 2u);
  EXPECT_EQ(out[0], 0x88);
}

TEST(FrameEncode, ClientFrameForms) {
  for (size_t len : {size_t{0}, size_t{125}, size_t{126}, size_t{65535}, size_t{65536}}) {
    Bytes payload(len);
    for (size_t i = 0; i < len; ++i) payload[i] = static_cast<uint8_t>(i);
    const Bytes frame = client_frame(Opcode::binary, payload, true, 0x01020304);
    const size_t header = server_header_bytes(len) + 4;
    ASSERT_EQ(frame.size(), header + len);
    EXPECT_EQ(frame[0], 0x82);
    EXPECT_EQ(frame[1] & 0x80, 0x80) << "client frames are masked";
    EXPECT_EQ(Bytes(frame.begin() + header - 4, frame.begin() + header), (Bytes{1, 2, 3, 4}));
    for (size_t i = 0; i < len; ++i) ASSERT_EQ(frame[header + i], payload[i] ^ (1 + (i & 3))) << i;
    // Apart from the mask bit, the header is the server form.
    uint8_t server[kMaxServerHeaderBytes];
    encode_server_header(server, Opcode::binary, len);
    Bytes masked_server(server, server + server_header_bytes(len));
    masked_server[1] |= 0x80;
    EXPECT_EQ(Bytes(frame.begin(), frame.begin() + header - 4), masked_server);
    EXPECT_EQ(parse_whole(frame).events, std::vector<Event>{msg(Opcode::binary, payload)});
  }
}

// --- unmask ---

TEST(FrameUnmask, MatchesBytewiseReference) {
  const uint8_t key[4] = {0x9A, 0x3C, 0xF1, 0x07};
  std::mt19937 rng(1234);
  alignas(16) uint8_t buffer[128 + 8];
  uint8_t expected[128];
  for (size_t align = 0; align < 8; ++align) {
    for (size_t offset = 0; offset < 4; ++offset) {
      for (size_t len = 0; len <= 100; ++len) {
        uint8_t* data = buffer + align;
        for (size_t i = 0; i < sizeof buffer; ++i) buffer[i] = static_cast<uint8_t>(rng());
        const uint8_t guard_before = align > 0 ? data[-1] : 0;
        const uint8_t guard_after = data[len];
        for (size_t i = 0; i < len; ++i) expected[i] = data[i] ^ key[(offset + i) % 4];
        unmask(data, len, key, offset);
        ASSERT_EQ(Bytes(data, data + len), Bytes(expected, expected + len))
            << "align " << align << " offset " << offset << " len " << len;
        if (align > 0) {
          ASSERT_EQ(data[-1], guard_before);
        }
        ASSERT_EQ(data[len], guard_after);
      }
    }
  }
}

TEST(FrameUnmask, PiecewiseEqualsWhole) {
  // The parser unmasks a split payload piece by piece, carrying the key offset.
  const uint8_t key[4] = {1, 2, 4, 8};
  Bytes whole(1000);
  for (size_t i = 0; i < whole.size(); ++i) whole[i] = static_cast<uint8_t>(i * 31);
  Bytes pieces = whole;
  unmask(whole.data(), whole.size(), key, 0);
  size_t at = 0;
  for (size_t piece : {1, 3, 7, 8, 13, 64, 5, 200, 1}) {
    unmask(pieces.data() + at, piece, key, at % 4);
    at += piece;
  }
  unmask(pieces.data() + at, pieces.size() - at, key, at % 4);
  EXPECT_EQ(pieces, whole);
}

// --- randomized round trip ---

// Random valid UTF-8 with 1- to 4-byte characters, never surrogates.
Bytes random_text(std::mt19937_64& rng, size_t min_bytes) {
  Bytes out;
  while (out.size() < min_bytes) {
    uint32_t cp;
    switch (rng() % 4) {
      case 0:
        cp = 0x20 + rng() % 0x5F;
        break;
      case 1:
        cp = 0x80 + rng() % (0x800 - 0x80);
        break;
      case 2:
        cp = 0xE000 + rng() % (0x10000 - 0xE000);
        break;
      default:
        cp = 0x10000 + rng() % (0x110000 - 0x10000);
        break;
    }
    if (cp < 0x80) {
      out.push_back(static_cast<uint8_t>(cp));
    } else if (cp < 0x800) {
      out.push_back(static_cast<uint8_t>(0xC0 | cp >> 6));
      out.push_back(static_cast<uint8_t>(0x80 | (cp & 0x3F)));
    } else if (cp < 0x10000) {
      out.push_back(static_cast<uint8_t>(0xE0 | cp >> 12));
      out.push_back(static_cast<uint8_t>(0x80 | (cp >> 6 & 0x3F)));
      out.push_back(static_cast<uint8_t>(0x80 | (cp & 0x3F)));
    } else {
      out.push_back(static_cast<uint8_t>(0xF0 | cp >> 18));
      out.push_back(static_cast<uint8_t>(0x80 | (cp >> 12 & 0x3F)));
      out.push_back(static_cast<uint8_t>(0x80 | (cp >> 6 & 0x3F)));
      out.push_back(static_cast<uint8_t>(0x80 | (cp & 0x3F)));
    }
  }
  return out;
}

TEST(FrameRandom, RoundTripWithRandomFragmentsAndChunks) {
  for (uint64_t seed = 1; seed <= 150; ++seed) {
    std::mt19937_64 rng(seed);
    Bytes stream;
    std::vector<Event> expected;
    const size_t messages = 1 + rng() % 12;
    for (size_t m = 0; m < messages; ++m) {
      // Mostly short, sometimes past the 16- and 64-bit length thresholds.
      const size_t bucket = rng() % 10;
      const size_t len = bucket < 6 ? rng() % 130 : bucket < 9 ? rng() % 3000 : 65000 + rng() % 2000;
      const bool text = rng() % 2 == 0;
      Bytes payload;
      if (text) {
        payload = random_text(rng, len);
      } else {
        payload.resize(len);
        for (uint8_t& b : payload) b = static_cast<uint8_t>(rng());
      }
      // Cut into 1-5 fragments (some empty) with a control frame now and then in between.
      const size_t fragments = 1 + rng() % 5;
      std::vector<size_t> cuts;
      for (size_t f = 1; f < fragments; ++f)
        cuts.push_back(payload.empty() ? 0 : rng() % (payload.size() + 1));
      std::sort(cuts.begin(), cuts.end());
      cuts.push_back(payload.size());
      size_t from = 0;
      for (size_t f = 0; f < cuts.size(); ++f) {
        const Bytes piece(payload.begin() + from, payload.begin() + cuts[f]);
        from = cuts[f];
        const Opcode op = f == 0 ? (text ? Opcode::text : Opcode::binary) : Opcode::continuation;
        const bool fin = f + 1 == cuts.size();
        stream = concat({stream, client_frame(op, piece, fin, static_cast<uint32_t>(rng()))});
        if (fin) expected.push_back(msg(text ? Opcode::text : Opcode::binary, payload));
        if (rng() % 4 == 0) {
          Bytes control_payload(rng() % 126);
          for (uint8_t& b : control_payload) b = static_cast<uint8_t>(rng());
          const Opcode control_op = rng() % 2 ? Opcode::ping : Opcode::pong;
          stream =
              concat({stream, client_frame(control_op, control_payload, true, static_cast<uint32_t>(rng()))});
          expected.push_back(ctl(control_op, control_payload));
        }
      }
    }
    const Bytes close = close_payload(1000, "done");
    stream = concat({stream, client_frame(Opcode::close, close, true, static_cast<uint32_t>(rng()))});
    expected.push_back(ctl(Opcode::close, close));

    // Chunk sizes from 1 byte to a few recv buffers, skewed small.
    Bytes copy = stream;
    FrameParser parser;
    Recorder sink;
    ParseStatus status = ParseStatus::ok;
    size_t at = 0;
    while (at < copy.size()) {
      const size_t scale = size_t{1} << (rng() % 15);
      const size_t chunk = std::min(copy.size() - at, 1 + rng() % scale);
      ASSERT_EQ(status, ParseStatus::ok) << "seed " << seed;
      status = parser.feed(copy.data() + at, chunk, kNoLimit, sink);
      at += chunk;
    }
    ASSERT_EQ(status, ParseStatus::closed) << "seed " << seed;
    ASSERT_EQ(sink.events, expected) << "seed " << seed;
    EXPECT_EQ(parser.buffered_bytes(), 0u);
  }
}

}  // namespace
}  // namespace ringcast::ws
