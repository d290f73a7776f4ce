// Unit tests for engine/codec/json_writer: string escaping (quotes, backslash, every control
// character, UTF-8 passed through, bytes that are not UTF-8 replaced), the number forms the callers
// rely on byte for byte, and comma placement in nested objects and arrays.
#include "engine/codec/json_writer.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <cstdio>
#include <limits>
#include <string>
#include <string_view>

#include "engine/base/json.h"

namespace ringcast {
namespace {

std::string escaped(std::string_view text) {
  std::string out;
  append_json_escaped(out, text);
  return out;
}

// --- escaping ---------------------------------------------------------------------------------

TEST(JsonEscape, QuotesAndBackslash) {
  EXPECT_EQ(escaped(R"(say "hi" \ bye)"), R"(say \"hi\" \\ bye)");
  EXPECT_EQ(escaped("\"\"\\\\"), R"(\"\"\\\\)");
  EXPECT_EQ(escaped(""), "");
  // '/' and DEL need no escape.
  EXPECT_EQ(escaped("a/b\x7f"), "a/b\x7f");
}

TEST(JsonEscape, EveryControlCharacterAsU00XX) {
  for (int c = 0; c < 0x20; ++c) {
    char expected[8];
    std::snprintf(expected, sizeof expected, "\\u%04x", c);
    EXPECT_EQ(escaped(std::string(1, static_cast<char>(c))), expected) << c;
  }
  EXPECT_EQ(escaped(std::string_view("a\0b\n\r\t", 6)), "a\\u0000b\\u000a\\u000d\\u0009");
}

TEST(JsonEscape, WellFormedUtf8PassesThrough) {
  // 2, 3 and 4 byte sequences, and the edges of the ranges RFC 3629 allows.
  const std::string_view text =
      "\xc3\xa9"
      "\xe2\x82\xac"
      "\xf0\x9f\x98\x80"
      "\xc2\x80"
      "\xed\x9f\xbf"
      "\xee\x80\x80"
      "\xf4\x8f\xbf\xbf";
  EXPECT_EQ(escaped(text), text);
}

TEST(JsonEscape, BytesThatAreNotUtf8BecomeReplacementCharacters) {
  EXPECT_EQ(escaped("\xff"), "\\ufffd");
  EXPECT_EQ(escaped("a\x80z"), "a\\ufffdz");                               // a lone continuation byte
  EXPECT_EQ(escaped("\xc3"), "\\ufffd");                                   // cut short at the end
  EXPECT_EQ(escaped("\xe2\x82z"), "\\ufffd\\ufffdz");                      // cut short before a plain byte
  EXPECT_EQ(escaped("\xc0\xaf"), "\\ufffd\\ufffd");                        // overlong
  EXPECT_EQ(escaped("\xed\xa0\x80"), "\\ufffd\\ufffd\\ufffd");             // a surrogate
  EXPECT_EQ(escaped("\xf4\x90\x80\x80"), "\\ufffd\\ufffd\\ufffd\\ufffd");  // above U+10FFFF
  // An escape right after a replaced byte, and a good sequence right after it.
  EXPECT_EQ(escaped("\xff\"\xff\xc3\xa9"), "\\ufffd\\\"\\ufffd\xc3\xa9");
}

TEST(JsonEscape, StringAndStringOrNull) {
  std::string out = "prior:";
  append_json_string(out, "a\"b");
  EXPECT_EQ(out, R"(prior:"a\"b")");
  out.clear();
  append_json_string(out, "");
  EXPECT_EQ(out, R"("")");
  out.clear();
  append_json_string_or_null(out, "");
  EXPECT_EQ(out, "null");
  out.clear();
  append_json_string_or_null(out, "u\n");
  EXPECT_EQ(out, R"("u\u000a")");
}

// --- the writer -------------------------------------------------------------------------------

TEST(JsonWriter, AppendsAfterWhatTheBufferHolds) {
  // A document after a frame header or an HTTP head: nothing before it counts for the commas.
  std::string out = "head,";
  JsonWriter(out).begin_object().key("a").number(1).end_object();
  EXPECT_EQ(out, R"(head,{"a":1})");
}

TEST(JsonWriter, EmptyContainers) {
  std::string out;
  JsonWriter json(out);
  json.begin_array().begin_object().end_object().begin_array().end_array().end_array();
  EXPECT_EQ(out, "[{},[]]");
}

TEST(JsonWriter, CommasInNestedStructures) {
  std::string out;
  JsonWriter json(out);
  json.begin_object();
  json.key("a").begin_array().number(1).begin_object().key("x").null().key("y").boolean(false).end_object();
  json.begin_array().end_array().string("s").end_array();
  json.key("b").begin_object().key("c").begin_object().end_object().key("d").begin_array().number(2);
  json.number(3).end_array().end_object();
  json.key("e").boolean(true);
  json.end_object();
  EXPECT_EQ(out, R"({"a":[1,{"x":null,"y":false},[],"s"],"b":{"c":{},"d":[2,3]},"e":true})");
  // Valid JSON, as simdjson reads it.
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  EXPECT_FALSE(parser.parse(out).get(doc));
}

TEST(JsonWriter, KeysAndStringsAreEscaped) {
  std::string out;
  JsonWriter json(out);
  json.begin_object().key("k\"\\").string("v\x01").key("").string_or_null("").key("u").string_or_null("x");
  json.end_object();
  EXPECT_EQ(out, R"({"k\"\\":"v\u0001","":null,"u":"x"})");
}

TEST(JsonWriter, IntegersAsToString) {
  std::string out;
  JsonWriter json(out);
  json.begin_array();
  json.number(0).number(-1).number(int64_t{std::numeric_limits<int64_t>::min()});
  json.number(std::numeric_limits<uint64_t>::max()).number(uint32_t{4294967295u}).number(int16_t{-7});
  json.number(size_t{42}).number(uint8_t{200});
  json.end_array();
  EXPECT_EQ(out, "[0,-1,-9223372036854775808,18446744073709551615,4294967295,-7,42,200]");
}

TEST(JsonWriter, DoublesAsPrintfG6) {
  std::string out;
  JsonWriter json(out);
  json.begin_array();
  json.number(0.0).number(0.5).number(1234.5678).number(1e7).number(-2.5e-5).number(3.0).number(123456.0);
  json.end_array();
  EXPECT_EQ(out, "[0,0.5,1234.57,1e+07,-2.5e-05,3,123456]");
}

TEST(JsonWriter, RawIsAValueLikeAnyOther) {
  std::string out;
  JsonWriter json(out);
  json.begin_object().key("dict").raw(R"({"a.b":1})").key("list").begin_array().raw("[]").raw("7");
  json.end_array().end_object();
  EXPECT_EQ(out, R"({"dict":{"a.b":1},"list":[[],7]})");
}

}  // namespace
}  // namespace ringcast
