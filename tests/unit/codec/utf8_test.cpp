// Unit tests for engine/codec/utf8: utf8_char_bytes on RFC 3629's boundary cases; Utf8Stream against
// an oracle built on the whole-text validator, exhaustively over short texts cut at every point and on
// long random texts in random pieces; repair_cesu8 with exact bytes out.
#include "engine/codec/utf8.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <string>
#include <string_view>
#include <vector>

namespace ringcast {
namespace {

using Bytes = std::vector<uint8_t>;
constexpr size_t kNone = ~size_t{0};

bool valid(const Bytes& text) {
  return utf8_valid(text.data(), text.size());
}

// The oracle: text can still become valid UTF-8 when some continuation of at most three bytes makes
// it valid. 80, 90 and A0 lie in every range RFC 3629 allows after a lead byte (80..BF, A0..BF, 80..9F,
// 90..BF, 80..8F), so trying those three is trying them all.
bool valid_prefix(const Bytes& text) {
  static const uint8_t kTries[] = {0x80, 0x90, 0xA0};
  Bytes buf = text;
  const size_t n = text.size();
  buf.resize(n + 3);
  if (utf8_valid(buf.data(), n)) return true;
  for (uint8_t a : kTries) {
    buf[n] = a;
    if (utf8_valid(buf.data(), n + 1)) return true;
    for (uint8_t b : kTries) {
      buf[n + 1] = b;
      if (utf8_valid(buf.data(), n + 2)) return true;
      for (uint8_t c : kTries) {
        buf[n + 2] = c;
        if (utf8_valid(buf.data(), n + 3)) return true;
      }
    }
  }
  return false;
}

// Index of the first byte after which the text cannot become valid, or kNone.
size_t first_bad_byte(const Bytes& text) {
  for (size_t i = 0; i < text.size(); ++i) {
    if (!valid_prefix(Bytes(text.begin(), text.begin() + static_cast<std::ptrdiff_t>(i + 1)))) return i;
  }
  return kNone;
}

// Feeds text in pieces ending at the given offsets (ascending, then the rest) and returns the index of
// the piece whose feed failed (kNone if none did), with complete() at the end in *complete.
size_t failing_piece(const Bytes& text, const std::vector<size_t>& cuts, bool* complete = nullptr) {
  Utf8Stream stream;
  size_t from = 0;
  size_t piece = 0;
  size_t failed_at = kNone;
  auto feed_to = [&](size_t to) {
    if (!stream.feed(text.data() + from, to - from) && failed_at == kNone) failed_at = piece;
    ++piece;
    from = to;
  };
  for (size_t cut : cuts) feed_to(cut);
  feed_to(text.size());
  if (complete != nullptr) *complete = stream.complete();
  EXPECT_EQ(stream.failed(), failed_at != kNone);
  return failed_at;
}

// The contract: cut anywhere, the stream fails in the piece that holds the first bad byte (never
// earlier, never later), and a text that never fails is complete exactly when it is valid.
void expect_stream_matches_oracle(const Bytes& text) {
  const size_t bad = first_bad_byte(text);
  for (size_t cut = 0; cut <= text.size(); ++cut) {
    bool complete = false;
    const size_t piece = failing_piece(text, {cut}, &complete);
    const size_t expected = bad == kNone ? kNone : bad < cut ? 0 : 1;
    ASSERT_EQ(piece, expected) << "cut " << cut << " of " << ::testing::PrintToString(text);
    if (bad == kNone) {
      ASSERT_EQ(complete, valid(text)) << ::testing::PrintToString(text);
    }
  }
  std::vector<size_t> every_byte;
  for (size_t i = 1; i < text.size(); ++i) every_byte.push_back(i);
  ASSERT_EQ(failing_piece(text, every_byte), bad) << "byte by byte " << ::testing::PrintToString(text);
}

Bytes bytes_of(std::string_view s) {
  return Bytes(s.begin(), s.end());
}

// --- utf8_char_bytes ---

TEST(Utf8CharBytes, BoundaryCases) {
  struct Case {
    std::string_view text;
    size_t bytes;
  };
  const Case cases[] = {
      {"a", 1},
      {"\x7F", 1},
      {"\xC2\x80", 2},          // U+0080
      {"\xDF\xBF", 2},          // U+07FF
      {"\xE0\xA0\x80", 3},      // U+0800
      {"\xED\x9F\xBF", 3},      // U+D7FF
      {"\xEE\x80\x80", 3},      // U+E000
      {"\xEF\xBF\xBF", 3},      // U+FFFF
      {"\xF0\x90\x80\x80", 4},  // U+10000
      {"\xF4\x8F\xBF\xBF", 4},  // U+10FFFF
      {"\x80", 0},              // stray continuation
      {"\xC0\xAF", 0},          // overlong
      {"\xC1\xBF", 0},          // overlong
      {"\xE0\x9F\xBF", 0},      // overlong
      {"\xED\xA0\x80", 0},      // surrogate
      {"\xED\xBF\xBF", 0},      // surrogate
      {"\xF0\x8F\xBF\xBF", 0},  // overlong
      {"\xF4\x90\x80\x80", 0},  // above U+10FFFF
      {"\xF5\x80\x80\x80", 0},
      {"\xFF", 0},
      {"\xE2\x82", 0},      // cut by the end of the text
      {"\xE2\x82z", 0},     // cut by another character
      {"\xF0\x9F\x98", 0},  // cut by the end
  };
  for (const Case& c : cases) {
    EXPECT_EQ(utf8_char_bytes(c.text, 0), c.bytes) << ::testing::PrintToString(bytes_of(c.text));
  }
  // Not the first character of the text.
  EXPECT_EQ(utf8_char_bytes("ab\xE2\x82\xAC", 2), 3u);
  EXPECT_EQ(utf8_char_bytes("ab\xE2\x82\xAC", 3), 0u);
}

TEST(Utf8CharBytes, AgreesWithTheValidatorOnEveryShortText) {
  // A single character is valid exactly when utf8_char_bytes takes all of it.
  for (uint32_t a = 0; a < 256; ++a) {
    for (uint32_t b = 0; b < 256; ++b) {
      const Bytes text = {uint8_t(a), uint8_t(b)};
      const std::string_view s(reinterpret_cast<const char*>(text.data()), text.size());
      const bool one_char_of_two = utf8_char_bytes(s, 0) == 2;
      const bool two_chars = utf8_char_bytes(s, 0) == 1 && utf8_char_bytes(s, 1) == 1;
      ASSERT_EQ(valid(text), one_char_of_two || two_chars) << a << " " << b;
    }
  }
}

// --- Utf8Stream ---

TEST(Utf8Stream, EmptyAndAscii) {
  Utf8Stream stream;
  EXPECT_TRUE(stream.complete());
  EXPECT_TRUE(stream.feed(nullptr, 0));
  const Bytes text = bytes_of("hello");
  EXPECT_TRUE(stream.feed(text.data(), text.size()));
  EXPECT_TRUE(stream.complete());
  EXPECT_FALSE(stream.failed());
}

TEST(Utf8Stream, CutCharacterIsPendingNotFailed) {
  const Bytes emoji = {0xF0, 0x9F, 0x98, 0x80};
  for (size_t cut = 1; cut < emoji.size(); ++cut) {
    Utf8Stream stream;
    EXPECT_TRUE(stream.feed(emoji.data(), cut));
    EXPECT_FALSE(stream.complete()) << cut;
    EXPECT_FALSE(stream.failed()) << cut;
    EXPECT_TRUE(stream.feed(emoji.data() + cut, emoji.size() - cut));
    EXPECT_TRUE(stream.complete()) << cut;
  }
}

TEST(Utf8Stream, FailedStaysFailedUntilReset) {
  Utf8Stream stream;
  const Bytes bad = {'a', 0xC0, 0xAF};
  EXPECT_FALSE(stream.feed(bad.data(), bad.size()));
  EXPECT_TRUE(stream.failed());
  EXPECT_FALSE(stream.complete());
  const Bytes good = bytes_of("ok");
  EXPECT_FALSE(stream.feed(good.data(), good.size()));
  stream.reset();
  EXPECT_TRUE(stream.feed(good.data(), good.size()));
  EXPECT_TRUE(stream.complete());
}

TEST(Utf8Stream, RfcBoundaryCasesAtEveryCut) {
  const std::vector<Bytes> texts = {
      // valid
      bytes_of("h\xC3\xA9llo \xE2\x82\xAC \xF0\x9D\x84\x9E"),
      {0xC2, 0x80},
      {0xDF, 0xBF},
      {0xE0, 0xA0, 0x80},
      {0xED, 0x9F, 0xBF},
      {0xEE, 0x80, 0x80},
      {0xEF, 0xBF, 0xBF},
      {0xF0, 0x90, 0x80, 0x80},
      {0xF4, 0x8F, 0xBF, 0xBF},
      // invalid: overlongs, surrogates, above U+10FFFF, bad continuations, impossible bytes
      {'a', 0xC0, 0xAF, 'b'},
      {'a', 0xC1, 0xBF},
      {0xE0, 0x80, 0xAF},
      {0xE0, 0x9F, 0xBF},
      {0xF0, 0x80, 0x80, 0xAF},
      {0xF0, 0x8F, 0xBF, 0xBF},
      {'x', 0xED, 0xA0, 0x80},
      {0xED, 0xBF, 0xBF},
      {0xED, 0xA0, 0xBD, 0xED, 0xB8, 0x80},
      {0xF4, 0x90, 0x80, 0x80},
      {0xF5, 0x80, 0x80, 0x80},
      {0xF8, 0x88, 0x80, 0x80, 0x80},
      {0xFC, 0x84, 0x80, 0x80, 0x80, 0x80},
      {0xFE},
      {0xFF},
      {0x80},
      {'a', 0xBF},
      {0xE2, 'a', 0x82},
      {0xF0, 0x9F, 0x98, 'x'},
      {0xC3, 0xA9, 0x80},
      {0xF0, 0x9F, 0x98, 0x80, 0x80},
      // cut by the end: not failed, not complete
      {'o', 'k', 0xE2, 0x82},
      {0xF0, 0x9F, 0x98},
      {0xC3},
  };
  for (const Bytes& text : texts) expect_stream_matches_oracle(text);
}

TEST(Utf8Stream, ExhaustiveOverBoundaryBytes) {
  // Every text of up to four bytes over the bytes where RFC 3629's ranges begin and end.
  static const uint8_t kAlphabet[] = {0x00, 0x7F, 0x80, 0x8F, 0x90, 0x9F, 0xA0, 0xBF, 0xC0,
                                      0xC2, 0xDF, 0xE0, 0xED, 0xEF, 0xF0, 0xF4, 0xF5, 0xFF};
  constexpr size_t n = sizeof kAlphabet;
  for (size_t len = 1; len <= 4; ++len) {
    size_t count = 1;
    for (size_t i = 0; i < len; ++i) count *= n;
    for (size_t index = 0; index < count; ++index) {
      Bytes text(len);
      size_t rest = index;
      for (size_t i = 0; i < len; ++i, rest /= n) text[i] = kAlphabet[rest % n];
      expect_stream_matches_oracle(text);
    }
  }
}

// Random valid UTF-8 of 1- to 4-byte characters, at least min_bytes long.
Bytes random_text(std::mt19937_64& rng, size_t min_bytes) {
  Bytes out;
  while (out.size() < min_bytes) {
    const uint32_t kind = rng() % 8;
    uint32_t cp = kind < 4   ? 0x20 + rng() % 0x5F
                  : kind < 5 ? 0x80 + rng() % (0x800 - 0x80)
                  : kind < 7 ? 0x800 + rng() % (0xD800 - 0x800)
                             : 0x10000 + rng() % (0x110000 - 0x10000);
    if (cp < 0x80) {
      out.push_back(uint8_t(cp));
    } else if (cp < 0x800) {
      out.insert(out.end(), {uint8_t(0xC0 | cp >> 6), uint8_t(0x80 | (cp & 0x3F))});
    } else if (cp < 0x10000) {
      out.insert(out.end(),
                 {uint8_t(0xE0 | cp >> 12), uint8_t(0x80 | (cp >> 6 & 0x3F)), uint8_t(0x80 | (cp & 0x3F))});
    } else {
      out.insert(out.end(), {uint8_t(0xF0 | cp >> 18), uint8_t(0x80 | (cp >> 12 & 0x3F)),
                             uint8_t(0x80 | (cp >> 6 & 0x3F)), uint8_t(0x80 | (cp & 0x3F))});
    }
  }
  return out;
}

TEST(Utf8Stream, LongRandomTextsInRandomPieces) {
  // Pieces long enough for the SIMD validator to do the bulk; one invalid sequence (or none) placed
  // after a valid prefix, so the first bad byte is known without the oracle walking the whole text.
  const std::vector<Bytes> bad_sequences = {
      {0xC0, 0x80}, {0xED, 0xA0, 0x80},       {0xF4, 0x90, 0x80, 0x80}, {0xE2, 'a'},
      {0x80},       {0xF0, 0x9F, 0x98, 0x20},
  };
  for (uint64_t seed = 1; seed <= 300; ++seed) {
    std::mt19937_64 rng(seed);
    Bytes text = random_text(rng, rng() % 3000);
    size_t bad = kNone;
    const size_t which = rng() % (bad_sequences.size() + 1);
    if (which < bad_sequences.size()) {
      const Bytes& seq = bad_sequences[which];
      bad = text.size() + first_bad_byte(seq);
      text.insert(text.end(), seq.begin(), seq.end());
      const Bytes after = random_text(rng, rng() % 500);
      text.insert(text.end(), after.begin(), after.end());
    }
    std::vector<size_t> cuts;
    for (size_t at = 0;;) {
      at += 1 + rng() % (size_t{1} << (rng() % 11));
      if (at >= text.size()) break;
      cuts.push_back(at);
    }
    bool complete = false;
    const size_t piece = failing_piece(text, cuts, &complete);
    size_t expected = kNone;
    if (bad != kNone) {
      expected = 0;
      while (expected < cuts.size() && cuts[expected] <= bad) ++expected;
    }
    ASSERT_EQ(piece, expected) << "seed " << seed;
    if (bad == kNone) {
      ASSERT_TRUE(complete) << "seed " << seed;
    }
  }
}

// --- repair_cesu8 ---

std::string repaired(std::string_view in, Utf8Repair expected_repair) {
  std::string scratch = "left alone unless repaired";
  const RepairedText r = repair_cesu8(in, scratch);
  EXPECT_EQ(r.repair, expected_repair) << ::testing::PrintToString(bytes_of(in));
  EXPECT_TRUE(utf8_valid(reinterpret_cast<const uint8_t*>(r.text.data()), r.text.size()));
  if (expected_repair == Utf8Repair::none) {
    EXPECT_EQ(r.text.data(), in.data()) << "valid text must not be copied";
    EXPECT_EQ(scratch, "left alone unless repaired");
  } else {
    EXPECT_EQ(r.text.data(), scratch.data());
    EXPECT_EQ(r.text.size(), scratch.size());
  }
  return std::string(r.text);
}

constexpr std::string_view kReplacement = "\xEF\xBF\xBD";

TEST(Utf8RepairCesu8, EmojiPairBecomesOneCharacter) {
  // What Protocol.strencode makes of "😀" (U+1F600 = D83D DE00).
  EXPECT_EQ(repaired("\xED\xA0\xBD\xED\xB8\x80", Utf8Repair::joined), "\xF0\x9F\x98\x80");
  // The ends of the range: U+10000 (D800 DC00) and U+10FFFF (DBFF DFFF).
  EXPECT_EQ(repaired("\xED\xA0\x80\xED\xB0\x80", Utf8Repair::joined), "\xF0\x90\x80\x80");
  EXPECT_EQ(repaired("\xED\xAF\xBF\xED\xBF\xBF", Utf8Repair::joined), "\xF4\x8F\xBF\xBF");
  // Two in a row, and among other text: "a😀b🎉" (U+1F389 = D83C DF89).
  EXPECT_EQ(repaired("a\xED\xA0\xBD\xED\xB8\x80"
                     "b\xED\xA0\xBC\xED\xBE\x89",
                     Utf8Repair::joined),
            "a\xF0\x9F\x98\x80"
            "b\xF0\x9F\x8E\x89");
}

TEST(Utf8RepairCesu8, LoneHalvesBecomeOneReplacementEach) {
  const std::string fffd(kReplacement);
  EXPECT_EQ(repaired("\xED\xA0\xBD", Utf8Repair::replaced), fffd);                     // lone high
  EXPECT_EQ(repaired("a\xED\xA0\xBDz", Utf8Repair::replaced), "a" + fffd + "z");       // high, then no low
  EXPECT_EQ(repaired("\xED\xB8\x80", Utf8Repair::replaced), fffd);                     // lone low
  EXPECT_EQ(repaired("\xED\xB8\x80\xED\xA0\xBD", Utf8Repair::replaced), fffd + fffd);  // low then high
  EXPECT_EQ(repaired("\xED\xA0\xBD\xED\xA0\xBD", Utf8Repair::replaced), fffd + fffd);  // high then high
  // A high half, a pair, a low half: the pair in the middle is still found.
  EXPECT_EQ(repaired("\xED\xA0\xBD\xED\xA0\xBD\xED\xB8\x80\xED\xB8\x80", Utf8Repair::replaced),
            fffd + "\xF0\x9F\x98\x80" + fffd);
}

TEST(Utf8RepairCesu8, PairCutByTheEnd) {
  const std::string fffd(kReplacement);
  // The low half is missing, or cut after one or two of its bytes: a lone high half, then the cut
  // bytes of the low one, one replacement each.
  EXPECT_EQ(repaired("x\xED\xA0\xBD", Utf8Repair::replaced), "x" + fffd);
  EXPECT_EQ(repaired("x\xED\xA0\xBD\xED", Utf8Repair::replaced), "x" + fffd + fffd);
  EXPECT_EQ(repaired("x\xED\xA0\xBD\xED\xB8", Utf8Repair::replaced), "x" + fffd + fffd + fffd);
  // The high half itself cut.
  EXPECT_EQ(repaired("x\xED\xA0", Utf8Repair::replaced), "x" + fffd + fffd);
}

TEST(Utf8RepairCesu8, ValidTextIsLeftAsItIs) {
  repaired("", Utf8Repair::none);
  repaired("plain ascii {\"json\":1}", Utf8Repair::none);
  repaired(
      "\xD0\xBA\xD0\xBB\xD1\x8E\xD1\x87 \xCE\xBA\xE1\xBD\xB9\xCF\x83\xCE\xBC\xCE\xB5 \xE2\x82\xAC "
      "\xF0\x9F\x98\x80 \xEF\xBF\xBD \xF4\x8F\xBF\xBF",
      Utf8Repair::none);
}

TEST(Utf8RepairCesu8, MixedValidTextAroundRepairs) {
  const std::string fffd(kReplacement);
  // Real 4-byte UTF-8, 2- and 3-byte characters and a CESU-8 pair side by side: only the pair changes.
  EXPECT_EQ(repaired("{\"msg\":\"\xD0\xBA \xF0\x9F\x8E\x89 \xE2\x82\xAC \xED\xA0\xBD\xED\xB8\x80!\"}",
                     Utf8Repair::joined),
            "{\"msg\":\"\xD0\xBA \xF0\x9F\x8E\x89 \xE2\x82\xAC \xF0\x9F\x98\x80!\"}");
  EXPECT_EQ(repaired("\xC3\xA9\xFF\xC3\xA9", Utf8Repair::replaced), "\xC3\xA9" + fffd + "\xC3\xA9");
}

TEST(Utf8RepairCesu8, OtherInvalidBytesLikeGo) {
  // Go's encoding/json replaces each byte utf8.DecodeRune cannot start a character with (RuneError,
  // width 1) by one U+FFFD and goes on with the next byte.
  const std::string f(kReplacement);
  struct Case {
    std::string_view in;
    std::string out;
  };
  const Case cases[] = {
      {"\xC0\xAF", f + f},                                  // overlong '/', 2 bytes
      {"\xE0\x80\xAF", f + f + f},                          // overlong '/', 3 bytes
      {"\xF0\x80\x80\xAF", f + f + f + f},                  // overlong '/', 4 bytes
      {"\xC1\xBF", f + f},                                  // overlong U+007F
      {"\xF8\x88\x80\x80\x80", f + f + f + f + f},          // 5-byte junk
      {"\xFC\x84\x80\x80\x80\x80", f + f + f + f + f + f},  // 6-byte junk
      {"\xF4\x90\x80\x80", f + f + f + f},                  // above U+10FFFF
      {"\xF5\x80", f + f},
      {"\xFE\xFF", f + f},
      {"a\x80z", "a" + f + "z"},                         // stray continuation
      {"\xE2\x82z", f + f + "z"},                        // cut 3-byte character
      {"\xF0\x9F\x98", f + f + f},                       // cut 4-byte character at the end
      {"\xE2\x82\xE2\x82\xAC", f + f + "\xE2\x82\xAC"},  // cut character, then a whole one
      {"\xED\xA0", f + f},                               // cut surrogate half
  };
  for (const Case& c : cases) {
    EXPECT_EQ(repaired(c.in, Utf8Repair::replaced), c.out) << ::testing::PrintToString(bytes_of(c.in));
  }
}

TEST(Utf8RepairCesu8, RandomBytesRepairToValidTextOnce) {
  // Whatever the input: valid output, valid input kept, and repairing again changes nothing.
  std::mt19937_64 rng(42);
  static const uint8_t kAlphabet[] = {'a', 0x80, 0xA0, 0xAF, 0xB0, 0xBD, 0xBF, 0xC3, 0xE2, 0xED, 0xF0, 0xFF};
  for (int round = 0; round < 20000; ++round) {
    std::string in(rng() % 24, '\0');
    for (char& c : in) c = static_cast<char>(kAlphabet[rng() % sizeof kAlphabet]);
    std::string scratch;
    const RepairedText r = repair_cesu8(in, scratch);
    ASSERT_TRUE(utf8_valid(reinterpret_cast<const uint8_t*>(r.text.data()), r.text.size()));
    ASSERT_EQ(r.repair == Utf8Repair::none,
              utf8_valid(reinterpret_cast<const uint8_t*>(in.data()), in.size()));
    std::string again_scratch;
    ASSERT_EQ(repair_cesu8(r.text, again_scratch).repair, Utf8Repair::none);
  }
}

}  // namespace
}  // namespace ringcast
