// Unit tests for engine/codec/form: form fields (the first match, names compared decoded, '+' as a
// space, empty values) and the path-segment decoder ('+' as a plus), with every malformed escape
// reported: %zz, a truncated %4 or a lone %, at the end or in the middle.
#include "engine/codec/form.h"

#include <gtest/gtest.h>

#include <string>
#include <string_view>

namespace ringcast::form {
namespace {

// --- field ------------------------------------------------------------------------------------

TEST(FormField, DecodesTheFirstMatch) {
  std::string out;
  bool malformed = true;
  const std::string_view form = "room=r&items=%5B1%2C2%5D&msg=hello+world&room=second";
  ASSERT_TRUE(field(form, "room", out, malformed));
  EXPECT_FALSE(malformed);
  EXPECT_EQ(out, "r");
  ASSERT_TRUE(field(form, "items", out, malformed));
  EXPECT_EQ(out, "[1,2]");
  ASSERT_TRUE(field(form, "msg", out, malformed));
  EXPECT_EQ(out, "hello world");
  EXPECT_FALSE(field(form, "absent", out, malformed));
  EXPECT_FALSE(malformed);
  EXPECT_FALSE(field(form, "roo", out, malformed));
  EXPECT_FALSE(field(form, "rooms", out, malformed));
  EXPECT_FALSE(field("", "room", out, malformed));
}

TEST(FormField, EdgeCases) {
  std::string out;
  bool malformed = false;
  // Keys are compared after decoding.
  ASSERT_TRUE(field("r%6Fom=1", "room", out, malformed));
  EXPECT_EQ(out, "1");
  ASSERT_TRUE(field("my+key=2", "my key", out, malformed));
  EXPECT_EQ(out, "2");
  ASSERT_TRUE(field("a%3Db=3", "a=b", out, malformed));
  EXPECT_EQ(out, "3");
  // A field without '=' has an empty value.
  out = "stale";
  ASSERT_TRUE(field("a=1&flag&b=2", "flag", out, malformed));
  EXPECT_EQ(out, "");
  ASSERT_TRUE(field("a=", "a", out, malformed));
  EXPECT_EQ(out, "");
  // '=' inside the value, empty fields, lower-case hex, encoded '&', '+' vs %2B, %00.
  ASSERT_TRUE(field("&&x=a=b&&", "x", out, malformed));
  EXPECT_EQ(out, "a=b");
  ASSERT_TRUE(field("x=%e2%82%ac%26%2B+", "x", out, malformed));
  EXPECT_EQ(out, "\xE2\x82\xAC&+ ");
  ASSERT_TRUE(field("x=a%00b", "x", out, malformed));
  EXPECT_EQ(out, std::string("a\0b", 3));
  // An empty key matches "=v".
  ASSERT_TRUE(field("=v", "", out, malformed));
  EXPECT_EQ(out, "v");
}

TEST(FormField, MalformedEscapesAreFlagged) {
  std::string out;
  bool malformed = false;
  for (std::string_view bad : {"x=%", "x=%4", "x=%G0", "x=%0g", "x=ab%", "x=%%41"}) {
    malformed = false;
    EXPECT_FALSE(field(bad, "x", out, malformed)) << bad;
    EXPECT_TRUE(malformed) << bad;
  }
  // In a key that is looked at before the match.
  malformed = false;
  EXPECT_FALSE(field("a%zz=1&x=2", "x", out, malformed));
  EXPECT_TRUE(malformed);
  // A bad escape in another field's value does not matter.
  ASSERT_TRUE(field("a=%zz&x=2", "x", out, malformed));
  EXPECT_FALSE(malformed);
  EXPECT_EQ(out, "2");
}

TEST(FormField, PlusIsASpaceAndAnEscapedPlusIsAPlus) {
  std::string out;
  bool malformed = false;
  ASSERT_TRUE(field("q=a+b%2Bc++", "q", out, malformed));
  EXPECT_EQ(out, "a b+c  ");
  ASSERT_TRUE(field("q=%20+%20", "q", out, malformed));
  EXPECT_EQ(out, "   ");
  // In the name too.
  ASSERT_TRUE(field("a+b%2B=1", "a b+", out, malformed));
  EXPECT_EQ(out, "1");
  EXPECT_FALSE(field("a+b=1", "a+b", out, malformed));
  EXPECT_FALSE(malformed);
}

TEST(FormField, TruncatedEscapes) {
  std::string out = "stale";
  bool malformed = false;
  // A value cut after "%4" or "%" is malformed, and the output is cleared.
  EXPECT_FALSE(field("x=ab%4", "x", out, malformed));
  EXPECT_TRUE(malformed);
  EXPECT_EQ(out, "");
  EXPECT_FALSE(field("x=%4&y=1", "x", out, malformed));
  EXPECT_TRUE(malformed);
  // Fields are split at '&' before they are decoded, so an escape cannot take the separator.
  EXPECT_FALSE(field("x=%4&1", "x", out, malformed));
  EXPECT_TRUE(malformed);
  // A view cut out of a longer buffer (a body followed by the next pipelined request): the digit
  // after the view's end is not part of the escape.
  const std::string_view buffer = "x=%41";
  EXPECT_FALSE(field(buffer.substr(0, 4), "x", out, malformed));
  EXPECT_TRUE(malformed);
  // A truncated name before the match, and a malformed flag cleared by the next call.
  EXPECT_FALSE(field("a%4=1&x=2", "x", out, malformed));
  EXPECT_TRUE(malformed);
  ASSERT_TRUE(field("x=%41%42", "x", out, malformed));
  EXPECT_FALSE(malformed);
  EXPECT_EQ(out, "AB");
}

TEST(FormField, UpperAndLowerCaseHexAndEveryByte) {
  std::string out;
  bool malformed = false;
  ASSERT_TRUE(field("x=%ff%FF%0a%A0", "x", out, malformed));
  EXPECT_EQ(out, "\xff\xff\n\xa0");
  std::string all = "x=";
  for (int b = 0; b < 256; ++b) {
    constexpr char kHex[] = "0123456789ABCDEF";
    all += '%';
    all += kHex[b >> 4];
    all += kHex[b & 15];
  }
  ASSERT_TRUE(field(all, "x", out, malformed));
  ASSERT_EQ(out.size(), 256u);
  for (int b = 0; b < 256; ++b) EXPECT_EQ(static_cast<unsigned char>(out[b]), b);
}

// --- percent_decode ---------------------------------------------------------------------------

TEST(PercentDecode, PlusStaysAPlus) {
  std::string out;
  ASSERT_TRUE(percent_decode("a+b%2Bc%20d", out));
  EXPECT_EQ(out, "a+b+c d");
  ASSERT_TRUE(percent_decode("", out));
  EXPECT_EQ(out, "");
  ASSERT_TRUE(percent_decode("%e2%82%AC", out));
  EXPECT_EQ(out, "\xE2\x82\xAC");
  ASSERT_TRUE(percent_decode("%00", out));
  EXPECT_EQ(out, std::string("\0", 1));
}

TEST(PercentDecode, MalformedEscapesFailAndClear) {
  for (std::string_view bad : {"%", "%4", "a%4", "%zz", "a%zzb", "%4z", "%z4", "%%41", "ok%"}) {
    std::string out = "stale";
    EXPECT_FALSE(percent_decode(bad, out)) << bad;
    EXPECT_EQ(out, "") << bad;
  }
  std::string out;
  EXPECT_FALSE(percent_decode(std::string_view("%41").substr(0, 2), out));
}

TEST(HexDigitValue, EveryCharacter) {
  for (int c = 0; c < 256; ++c) {
    const char ch = static_cast<char>(c);
    int want = -1;
    if (ch >= '0' && ch <= '9') want = ch - '0';
    if (ch >= 'a' && ch <= 'f') want = ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F') want = ch - 'A' + 10;
    EXPECT_EQ(hex_digit_value(ch), want) << c;
  }
}

}  // namespace
}  // namespace ringcast::form
