// Unit tests of ringcast-load's permessage-deflate code (deflate.h): RFC 7692's §7.2.3 examples, a
// large message compressed here with zlib the way a server does it, the size limit, corrupt input,
// and the check of the 101's Sec-WebSocket-Extensions answer.
#include <gtest/gtest.h>
#include <zlib.h>

#include <string>
#include <vector>

#include "tools/load/deflate.h"
#include "tools/load/scan.h"

namespace ringcast::load {
namespace {

std::string inflate_bytes(MessageInflater& inflater, const std::vector<uint8_t>& payload,
                          InflateStatus expected = InflateStatus::ok) {
  std::string_view out;
  EXPECT_EQ(inflater.inflate_message(payload.data(), payload.size(), out), expected);
  return std::string(out);
}

// What a permessage-deflate sender puts in a frame: raw DEFLATE from an empty window, Z_SYNC_FLUSH,
// the trailing 00 00 ff ff removed.
std::vector<uint8_t> deflate_message(std::string_view text) {
  z_stream zs{};
  EXPECT_EQ(deflateInit2(&zs, 6, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY), Z_OK);
  std::vector<uint8_t> out(deflateBound(&zs, text.size()) + 16);
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(text.data()));
  zs.avail_in = static_cast<uInt>(text.size());
  zs.next_out = out.data();
  zs.avail_out = static_cast<uInt>(out.size());
  EXPECT_EQ(deflate(&zs, Z_SYNC_FLUSH), Z_OK);
  out.resize(out.size() - zs.avail_out);
  deflateEnd(&zs);
  EXPECT_GE(out.size(), 4u);
  EXPECT_EQ(std::vector<uint8_t>(out.end() - 4, out.end()), (std::vector<uint8_t>{0, 0, 0xff, 0xff}));
  out.resize(out.size() - 4);
  return out;
}

TEST(Inflate, Rfc7692Examples) {
  MessageInflater inflater(1 << 20);
  // §7.2.3.1: "Hello" in one compressed message (fixed Huffman block, BFINAL clear).
  EXPECT_EQ(inflate_bytes(inflater, {0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00}), "Hello");
  // §7.2.3.3: an uncompressed (stored) block; its closing 0x00 starts the empty block the tail ends.
  EXPECT_EQ(inflate_bytes(inflater, {0x00, 0x05, 0x00, 0xfa, 0xff, 0x48, 0x65, 0x6c, 0x6c, 0x6f, 0x00}),
            "Hello");
  // §7.2.3.4: a final block (BFINAL set); the tail after it is not read.
  EXPECT_EQ(inflate_bytes(inflater, {0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00, 0x00}), "Hello");
  // §7.2.3.5: two DEFLATE blocks in one message.
  EXPECT_EQ(
      inflate_bytes(inflater, {0xf2, 0x48, 0x05, 0x00, 0x00, 0x00, 0xff, 0xff, 0xca, 0xc9, 0xc9, 0x07, 0x00}),
      "Hello");
  // An empty message: one 0x00 byte (the start of an empty stored block that the tail completes).
  EXPECT_EQ(inflate_bytes(inflater, {0x00}), "");
}

TEST(Inflate, EveryMessageStartsFromAnEmptyWindow) {
  MessageInflater inflater(1 << 20);
  // §7.2.3.2's second message refers back into the first: with no context takeover (what the tool
  // asks for) that is a corrupt stream, and the inflater must not have kept the first message.
  EXPECT_EQ(inflate_bytes(inflater, {0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00}), "Hello");
  inflate_bytes(inflater, {0xf2, 0x00, 0x11, 0x00, 0x00}, InflateStatus::corrupt);
  // c2 48 cd c9 c9 07 00 (one bit off §7.2.3.1) also points back past the start.
  inflate_bytes(inflater, {0xc2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00}, InflateStatus::corrupt);
  // And a failed message leaves nothing behind for the next.
  EXPECT_EQ(inflate_bytes(inflater, {0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00}), "Hello");
}

TEST(Inflate, TheSamePayloadAgainIsAnsweredWithoutInflating) {
  MessageInflater inflater(1 << 20);
  const std::vector<uint8_t> hello = {0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00};
  EXPECT_EQ(inflate_bytes(inflater, hello), "Hello");
  EXPECT_EQ(inflater.reused(), 0u);
  EXPECT_EQ(inflate_bytes(inflater, hello), "Hello");
  EXPECT_EQ(inflater.reused(), 1u);
  // The same length with one bit off is inflated (and is corrupt), not taken for a remembered
  // payload; a failed message leaves the remembered ones as they were.
  inflate_bytes(inflater, {0xc2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00}, InflateStatus::corrupt);
  EXPECT_EQ(inflater.reused(), 1u);
  EXPECT_EQ(inflate_bytes(inflater, hello), "Hello");
  EXPECT_EQ(inflater.reused(), 2u);
  // Another payload of the same text (a stored block) is its own message.
  const std::vector<uint8_t> stored = {0x00, 0x05, 0x00, 0xfa, 0xff, 0x48, 0x65, 0x6c, 0x6c, 0x6f, 0x00};
  EXPECT_EQ(inflate_bytes(inflater, stored), "Hello");
  EXPECT_EQ(inflate_bytes(inflater, {0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00, 0x00}), "Hello");
  EXPECT_EQ(inflater.reused(), 2u);
  // Connections that lag by different amounts interleave frames: a few recent payloads are kept, so
  // hello and the stored block again are both answered without inflating.
  EXPECT_EQ(inflate_bytes(inflater, hello), "Hello");
  EXPECT_EQ(inflate_bytes(inflater, stored), "Hello");
  EXPECT_EQ(inflater.reused(), 4u);
  // Once more distinct payloads than it keeps have passed, the oldest is inflated again.
  for (uint8_t i = 0; i < 16; ++i) {
    const std::vector<uint8_t> other = {0x00, 0x01, 0x00, 0xfe, 0xff, static_cast<uint8_t>('a' + i)};
    EXPECT_EQ(inflate_bytes(inflater, other), std::string(1, static_cast<char>('a' + i)));
  }
  EXPECT_EQ(inflater.reused(), 4u);
  EXPECT_EQ(inflate_bytes(inflater, hello), "Hello");
  EXPECT_EQ(inflater.reused(), 4u);
  // A payload that was too large is not remembered either.
  MessageInflater small(3);
  inflate_bytes(small, hello, InflateStatus::too_large);
  inflate_bytes(small, hello, InflateStatus::too_large);
  EXPECT_EQ(small.reused(), 0u);
}

TEST(Inflate, CorruptInput) {
  MessageInflater inflater(1 << 20);
  inflate_bytes(inflater, {0xff, 0xff, 0xff}, InflateStatus::corrupt);  // block type 11 is reserved
  inflate_bytes(inflater, {0x00, 0x05, 0x00, 0x00, 0x00}, InflateStatus::corrupt);  // LEN/NLEN mismatch
}

TEST(Inflate, LargeMessageGrowsTheBufferAndIsExact) {
  std::string text;
  uint64_t x = 12345;
  while (text.size() < 3 * 1000 * 1000) {
    x = x * 6364136223846793005ull + 1442695040888963407ull;
    text += R"({"uid":)" + std::to_string(x >> 40) + R"(,"text":"hello )" + std::to_string((x >> 20) % 977) +
            "\"},";
  }
  const std::vector<uint8_t> compressed = deflate_message(text);
  MessageInflater inflater(4 << 20);
  EXPECT_EQ(inflate_bytes(inflater, compressed), text);
  EXPECT_EQ(inflate_bytes(inflater, deflate_message("short")), "short");
}

TEST(Inflate, SizeLimit) {
  const std::vector<uint8_t> hello = {0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00};
  MessageInflater exact(5);
  EXPECT_EQ(inflate_bytes(exact, hello), "Hello");
  MessageInflater smaller(4);
  inflate_bytes(smaller, hello, InflateStatus::too_large);
  const std::string big(200000, 'a');
  MessageInflater limited(100000);
  inflate_bytes(limited, deflate_message(big), InflateStatus::too_large);
}

constexpr std::string_view kHead =
    "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n";

bool check(std::string_view extension_lines, bool offered, bool& deflate, std::string& error) {
  const std::string head = std::string(kHead) + std::string(extension_lines) + "\r\n";
  return check_extension_answer(head, offered, deflate, error);
}

TEST(ExtensionAnswer, AgreedDeclinedAndRefused) {
  bool deflate = true;
  std::string error;
  EXPECT_TRUE(check("", true, deflate, error));
  EXPECT_FALSE(deflate);
  EXPECT_TRUE(check("", false, deflate, error));
  EXPECT_FALSE(deflate);
  // ringcast's answer, with and without server_max_window_bits=15.
  EXPECT_TRUE(
      check("Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover; "
            "client_no_context_takeover\r\n",
            true, deflate, error));
  EXPECT_TRUE(deflate);
  EXPECT_TRUE(
      check("sec-websocket-extensions:permessage-deflate;server_no_context_takeover;"
            "server_max_window_bits=15;client_max_window_bits=\"10\"\r\n",
            true, deflate, error))
      << error;
  EXPECT_TRUE(deflate);
  // uWS's shared compressor and node ws also answer server_max_window_bits when they lower it.
  EXPECT_TRUE(
      check("Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover; "
            "server_max_window_bits=9\r\n",
            true, deflate, error));
}

TEST(ExtensionAnswer, Refusals) {
  bool deflate = true;
  std::string error;
  EXPECT_FALSE(check("Sec-WebSocket-Extensions: permessage-deflate; client_no_context_takeover\r\n", true,
                     deflate, error));
  EXPECT_FALSE(deflate);
  EXPECT_NE(error.find("without server_no_context_takeover"), std::string::npos) << error;
  EXPECT_FALSE(check("Sec-WebSocket-Extensions: x-webkit-deflate-frame\r\n", true, deflate, error));
  EXPECT_NE(error.find("x-webkit-deflate-frame"), std::string::npos) << error;
  EXPECT_FALSE(check("Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover\r\n", false,
                     deflate, error));
  EXPECT_NE(error.find("not offered"), std::string::npos) << error;
  EXPECT_FALSE(
      check("Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover\r\n"
            "Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover\r\n",
            true, deflate, error));
  EXPECT_NE(error.find("twice"), std::string::npos) << error;
  for (std::string_view bad :
       {"server_max_window_bits=7", "server_max_window_bits", "client_max_window_bits=16",
        "server_no_context_takeover=1", "server_no_context_takeover", "foo"}) {
    const std::string line = "Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover; " +
                             std::string(bad) + "\r\n";
    EXPECT_FALSE(check(line, true, deflate, error)) << bad;
    EXPECT_FALSE(deflate) << bad;
  }
}

TEST(FrameHead, Rsv1MarksACompressedMessage) {
  const uint8_t compressed[] = {0xc1, 0x07};
  FrameHead head;
  ASSERT_TRUE(parse_frame_head(compressed, sizeof compressed, head));
  EXPECT_EQ(head.rsv, kRsv1);
  EXPECT_EQ(head.opcode, 1);
  EXPECT_TRUE(head.fin);
  const uint8_t plain[] = {0x81, 0x05};
  ASSERT_TRUE(parse_frame_head(plain, sizeof plain, head));
  EXPECT_EQ(head.rsv, 0);
}

}  // namespace
}  // namespace ringcast::load
