// Unit tests for engine/http: the request parser (every rule and error status, pipelining, every
// split point) and the response writer. Form decoding is tested in form_test.cpp.
#include "engine/codec/http.h"

#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <vector>

namespace ringcast::http {
namespace {

struct Parsed {
  ParseResult result;
  Request req;
  std::string scratch;
};

// Parses from a heap copy of exactly `text`, so ASan catches any read past the buffer.
class HttpParse : public ::testing::Test {
 protected:
  ParseResult parse(std::string_view text, const Limits& limits = {}) {
    owned_.assign(text.begin(), text.end());
    return parse_request(std::string_view(owned_.data(), owned_.size()), limits, req_, scratch_);
  }
  void expect_error(std::string_view text, int status, const Limits& limits = {}) {
    const ParseResult r = parse(text, limits);
    EXPECT_EQ(r.status, ParseStatus::error) << text;
    EXPECT_EQ(r.http_status, status) << text;
    EXPECT_FALSE(r.reason.empty()) << text;
  }
  void expect_complete(std::string_view text, const Limits& limits = {}) {
    const ParseResult r = parse(text, limits);
    EXPECT_EQ(r.status, ParseStatus::complete) << text << " -> " << r.http_status << " " << r.reason;
    EXPECT_EQ(r.consumed, text.size()) << text;
  }

  std::vector<char> owned_;
  Request req_;
  std::string scratch_;
};

constexpr std::string_view kGet =
    "GET /ws?room=a&x=1 HTTP/1.1\r\n"
    "Host: example.com\r\n"
    "User-Agent:  test  \r\n"
    "\r\n";

TEST_F(HttpParse, SimpleGet) {
  const ParseResult r = parse(kGet);
  ASSERT_EQ(r.status, ParseStatus::complete);
  EXPECT_EQ(r.consumed, kGet.size());
  EXPECT_TRUE(r.head_complete);
  EXPECT_EQ(req_.method, Method::get);
  EXPECT_EQ(req_.method_text, "GET");
  EXPECT_EQ(req_.target, "/ws?room=a&x=1");
  EXPECT_EQ(req_.path, "/ws");
  EXPECT_EQ(req_.query, "room=a&x=1");
  EXPECT_EQ(req_.version_minor, 1);
  ASSERT_EQ(req_.header_count, 2u);
  EXPECT_EQ(req_.headers[0].name, "Host");
  EXPECT_EQ(req_.headers[1].value, "test");  // trimmed
  EXPECT_TRUE(req_.body.empty());
  EXPECT_TRUE(req_.keep_alive);
  EXPECT_FALSE(req_.expect_continue);
}

TEST_F(HttpParse, MethodsAndTargetForms) {
  const std::pair<std::string_view, Method> methods[] = {
      {"GET", Method::get},     {"HEAD", Method::head},      {"POST", Method::post},
      {"PUT", Method::put},     {"DELETE", Method::delete_}, {"OPTIONS", Method::options},
      {"PATCH", Method::patch}, {"BREW", Method::other},     {"get", Method::other},
  };
  for (const auto& [text, method] : methods) {
    const std::string request = std::string(text) + " / HTTP/1.1\r\n\r\n";
    ASSERT_EQ(parse(request).status, ParseStatus::complete) << text;
    EXPECT_EQ(req_.method, method) << text;
    EXPECT_EQ(req_.method_text, text);
  }
  ASSERT_EQ(parse("GET /a/b HTTP/1.1\r\n\r\n").status, ParseStatus::complete);
  EXPECT_EQ(req_.path, "/a/b");
  EXPECT_TRUE(req_.query.empty());
  ASSERT_EQ(parse("GET /a? HTTP/1.1\r\n\r\n").status, ParseStatus::complete);
  EXPECT_EQ(req_.path, "/a");
  EXPECT_TRUE(req_.query.empty());
  ASSERT_EQ(parse("OPTIONS * HTTP/1.1\r\n\r\n").status, ParseStatus::complete);
  EXPECT_EQ(req_.target, "*");
}

TEST_F(HttpParse, HeaderLookupIsCaseInsensitiveFirstMatch) {
  ASSERT_EQ(parse("GET / HTTP/1.1\r\nX-Thing: one\r\nx-thing: two\r\nHOST: h\r\nEmpty:\r\n\r\n").status,
            ParseStatus::complete);
  EXPECT_EQ(req_.header("x-thing"), "one");
  EXPECT_EQ(req_.header("X-THING"), "one");
  EXPECT_EQ(req_.header("host"), "h");
  EXPECT_EQ(req_.header("Host"), "h");
  EXPECT_EQ(req_.header("empty"), "");
  EXPECT_EQ(req_.header("absent"), "");
  EXPECT_EQ(req_.header("hos"), "");
  EXPECT_EQ(req_.header("hostx"), "");
  EXPECT_TRUE(header_has_token(req_, "X-THING", "TWO"));
  EXPECT_FALSE(header_has_token(req_, "x-thing", "three"));
}

TEST_F(HttpParse, HeaderValuesMayHoldObsTextAndTabs) {
  ASSERT_EQ(parse("GET / HTTP/1.1\r\nX: \ta\tb\xC3\xA9 \t\r\n\r\n").status, ParseStatus::complete);
  EXPECT_EQ(req_.header("x"), "a\tb\xC3\xA9");
}

TEST_F(HttpParse, LeadingEmptyLinesAreIgnored) {
  const std::string_view text = "\r\n\r\nGET / HTTP/1.1\r\n\r\n";
  expect_complete(text);
  EXPECT_EQ(req_.path, "/");
}

TEST_F(HttpParse, Incomplete) {
  EXPECT_EQ(parse("").status, ParseStatus::incomplete);
  EXPECT_EQ(parse("GET / HTTP/1.1").status, ParseStatus::incomplete);
  EXPECT_EQ(parse("GET / HTTP/1.1\r\n").status, ParseStatus::incomplete);
  EXPECT_EQ(parse("GET / HTTP/1.1\r\nHost: a\r\n").status, ParseStatus::incomplete);
  const ParseResult r = parse("GET / HTTP/1.1\r\nHost: a\r\n\r");
  EXPECT_EQ(r.status, ParseStatus::incomplete);
  EXPECT_FALSE(r.head_complete);
}

// --- Request line errors ----------------------------------------------------------------------

TEST_F(HttpParse, MalformedRequestLineIs400) {
  expect_error("GET\r\n\r\n", 400);
  expect_error("GET /\r\n\r\n", 400);
  expect_error("GET  / HTTP/1.1\r\n\r\n", 400);         // empty target
  expect_error(" GET / HTTP/1.1\r\n\r\n", 400);         // empty method
  expect_error("G(T / HTTP/1.1\r\n\r\n", 400);          // method not a token
  expect_error("GET / HTTP/1.1 \r\n\r\n", 400);         // trailing space
  expect_error("GET /a\x01 HTTP/1.1\r\n\r\n", 400);     // control in target
  expect_error("GET /\xC3\xA9 HTTP/1.1\r\n\r\n", 400);  // non-ASCII target
  expect_error("GET / http/1.1\r\n\r\n", 400);
  expect_error("GET / HTTP/1.x\r\n\r\n", 400);
  expect_error("GET / HTTP/1\r\n\r\n", 400);
  expect_error("GET / HTTP/1.10\r\n\r\n", 400);
  expect_error("GET / HTTP/\r\n\r\n", 400);
  expect_error("GET / FOO\r\n\r\n", 400);
}

TEST_F(HttpParse, OtherVersionsAre505) {
  expect_error("GET / HTTP/2.0\r\n\r\n", 505);
  expect_error("GET / HTTP/2\r\n\r\n", 505);
  expect_error("GET / HTTP/3\r\n\r\n", 505);
  expect_error("GET / HTTP/0.9\r\n\r\n", 505);
}

TEST_F(HttpParse, RequestLineErrorIsReportedBeforeTheHeadEnds) {
  expect_error("GET / HTTP/2.0\r\nHost: a\r\n", 505);
  expect_error("GET / XTTP/1.1\r\n", 400);
}

// --- Line endings and header errors -----------------------------------------------------------

TEST_F(HttpParse, BareLfIs400) {
  expect_error("GET / HTTP/1.1\n\n", 400);
  expect_error("GET / HTTP/1.1\r\nHost: a\n\r\n", 400);
  expect_error("GET / HTTP/1.1\r\nHost: a\r\n\n", 400);
  expect_error("\nGET / HTTP/1.1\r\n\r\n", 400);
}

TEST_F(HttpParse, BareCrIs400) {
  expect_error("GET / HTTP/1.1\r\nHost: a\rb\r\n\r\n", 400);
  expect_error("GET / HTTP/1.1\rX\r\n\r\n", 400);
  expect_error("GET / HTTP/1.1\r\nX\r: a\r\n\r\n", 400);
}

TEST_F(HttpParse, ControlCharactersInValuesAre400) {
  expect_error(std::string_view("GET / HTTP/1.1\r\nX: a\0b\r\n\r\n", 27), 400);
  expect_error("GET / HTTP/1.1\r\nX: a\x01\r\n\r\n", 400);
  expect_error("GET / HTTP/1.1\r\nX: a\x1f\r\n\r\n", 400);
  expect_error("GET / HTTP/1.1\r\nX: a\x7f\r\n\r\n", 400);
}

TEST_F(HttpParse, HeaderNamesMustBeTokensFollowedByColon) {
  expect_error("GET / HTTP/1.1\r\n: a\r\n\r\n", 400);
  expect_error("GET / HTTP/1.1\r\nHost : a\r\n\r\n", 400);  // space before colon
  expect_error("GET / HTTP/1.1\r\nHo(st: a\r\n\r\n", 400);
  expect_error("GET / HTTP/1.1\r\nNoColon\r\n\r\n", 400);
  expect_error("GET / HTTP/1.1\r\nX\xC3\xA9: a\r\n\r\n", 400);
}

TEST_F(HttpParse, ObsFoldIs400) {
  expect_error("GET / HTTP/1.1\r\nX: a\r\n b\r\n\r\n", 400);
  expect_error("GET / HTTP/1.1\r\nX: a\r\n\tb\r\n\r\n", 400);
}

TEST_F(HttpParse, TooManyHeadersIs431) {
  std::string text = "GET / HTTP/1.1\r\n";
  for (size_t i = 0; i < kMaxHeaders; ++i) text += "X-" + std::to_string(i) + ": v\r\n";
  expect_complete(text + "\r\n");
  EXPECT_EQ(req_.header_count, kMaxHeaders);
  expect_error(text + "One-More: v\r\n\r\n", 431);
}

TEST_F(HttpParse, HeadTooLargeIs431) {
  Limits limits;
  limits.head_bytes_max = 64;
  // Exactly at the limit is fine; one byte more is not.
  std::string text = "GET / HTTP/1.1\r\nX: ";
  text += std::string(64 - text.size() - 4, 'a') + "\r\n\r\n";
  ASSERT_EQ(text.size(), 64u);
  expect_complete(text, limits);
  std::string over = text;
  over.insert(over.find("\r\n\r\n"), "a");
  expect_error(over, 431, limits);
  // The blank line has not arrived but the buffer is already over the limit.
  expect_error("GET / HTTP/1.1\r\nX: " + std::string(100, 'a'), 431, limits);
  // A head with no line end at all.
  expect_error(std::string(64, 'G'), 431, limits);
  // Below the limit and unterminated: wait.
  EXPECT_EQ(parse(std::string(63, 'G'), limits).status, ParseStatus::incomplete);
}

// --- Body framing -----------------------------------------------------------------------------

TEST_F(HttpParse, ContentLengthBody) {
  const std::string_view text =
      "POST /push/room HTTP/1.1\r\nHost: a\r\nContent-Type: application/x-www-form-urlencoded; "
      "charset=utf-8\r\n"
      "Content-Length: 11\r\n\r\nhello world";
  expect_complete(text);
  EXPECT_EQ(req_.body, "hello world");
  EXPECT_EQ(req_.content_type, "application/x-www-form-urlencoded");
  EXPECT_EQ(req_.body.data(), owned_.data() + text.size() - 11);  // a view, no copy
}

TEST_F(HttpParse, ContentTypeIsTheMediaTypeTrimmed) {
  ASSERT_EQ(parse("POST / HTTP/1.1\r\nContent-Type:  text/plain ;charset=x\r\n\r\n").status,
            ParseStatus::complete);
  EXPECT_EQ(req_.content_type, "text/plain");
  ASSERT_EQ(parse("POST / HTTP/1.1\r\nContent-Type: application/json\r\n\r\n").status, ParseStatus::complete);
  EXPECT_EQ(req_.content_type, "application/json");
  ASSERT_EQ(parse("POST / HTTP/1.1\r\n\r\n").status, ParseStatus::complete);
  EXPECT_TRUE(req_.content_type.empty());
}

TEST_F(HttpParse, NoFramingMeansEmptyBody) {
  const std::string_view text = "POST /push/r HTTP/1.1\r\nHost: a\r\n\r\n";
  expect_complete(text);
  EXPECT_TRUE(req_.body.empty());
  expect_complete("POST / HTTP/1.1\r\nContent-Length: 0\r\n\r\n");
  EXPECT_TRUE(req_.body.empty());
}

TEST_F(HttpParse, ContentLengthErrorsAre400) {
  expect_error("POST / HTTP/1.1\r\nContent-Length: abc\r\n\r\n", 400);
  expect_error("POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n", 400);
  expect_error("POST / HTTP/1.1\r\nContent-Length: +1\r\n\r\n", 400);
  expect_error("POST / HTTP/1.1\r\nContent-Length: 1 2\r\n\r\n", 400);
  expect_error("POST / HTTP/1.1\r\nContent-Length: 0x10\r\n\r\n", 400);
  expect_error("POST / HTTP/1.1\r\nContent-Length:\r\n\r\n", 400);
  expect_error("POST / HTTP/1.1\r\nContent-Length: 5, 5\r\n\r\n", 400);
  expect_error("POST / HTTP/1.1\r\nContent-Length: 99999999999999999999999\r\n\r\n", 400);
  expect_error("POST / HTTP/1.1\r\nContent-Length: 18446744073709551616\r\n\r\n", 400);  // 2^64
  expect_error("POST / HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd", 400);
}

TEST_F(HttpParse, RepeatedEqualContentLengthIsAccepted) {
  expect_complete("POST / HTTP/1.1\r\nContent-Length: 3\r\ncontent-length: 003\r\n\r\nabc");
  EXPECT_EQ(req_.body, "abc");
}

TEST_F(HttpParse, DeclaredBodyTooLargeIs413BeforeTheBodyArrives) {
  Limits limits;
  limits.body_bytes_max = 10;
  expect_complete("POST / HTTP/1.1\r\nContent-Length: 10\r\n\r\n0123456789", limits);
  expect_error("POST / HTTP/1.1\r\nContent-Length: 11\r\n\r\n", 413, limits);
  expect_error("POST / HTTP/1.1\r\nContent-Length: 18446744073709551615\r\n\r\n", 413, limits);
}

TEST_F(HttpParse, ExpectContinueReportsHeadComplete) {
  const std::string_view head =
      "POST /push/r HTTP/1.1\r\nHost: a\r\nExpect: 100-Continue\r\nContent-Length: 5\r\n\r\n";
  ParseResult r = parse(head);
  EXPECT_EQ(r.status, ParseStatus::incomplete);
  EXPECT_TRUE(r.head_complete);
  EXPECT_TRUE(req_.expect_continue);
  r = parse(std::string(head) + "ab");
  EXPECT_EQ(r.status, ParseStatus::incomplete);
  EXPECT_TRUE(r.head_complete);
  expect_complete(std::string(head) + "abcde");
  EXPECT_TRUE(req_.expect_continue);
  EXPECT_EQ(req_.body, "abcde");
  // Not complete head: no head_complete.
  r = parse(head.substr(0, head.size() - 1));
  EXPECT_FALSE(r.head_complete);
  // HTTP/1.0 clients do not get a 100 Continue (RFC 9110 10.1.1).
  ASSERT_EQ(parse("POST / HTTP/1.0\r\nExpect: 100-continue\r\n\r\n").status, ParseStatus::complete);
  EXPECT_FALSE(req_.expect_continue);
  // Refused before the body is sent.
  Limits limits;
  limits.body_bytes_max = 4;
  expect_error(head, 413, limits);
}

TEST_F(HttpParse, KeepAliveMatrix) {
  struct Case {
    std::string_view version;
    std::string_view connection;  // empty: no header
    bool keep_alive;
  };
  const Case cases[] = {
      {"1.1", "", true},
      {"1.1", "close", false},
      {"1.1", "Close", false},
      {"1.1", "keep-alive", true},
      {"1.1", "Upgrade, close", false},
      {"1.1", "keep-alive, close", false},
      {"1.1", "closed", true},
      {"1.0", "", false},
      {"1.0", "keep-alive", true},
      {"1.0", "Keep-Alive", true},
      {"1.0", "foo, keep-alive", true},
      {"1.0", "keep-alive, close", false},
      {"1.0", "close", false},
  };
  for (const Case& c : cases) {
    std::string text = "GET / HTTP/" + std::string(c.version) + "\r\n";
    if (!c.connection.empty()) text += "Connection: " + std::string(c.connection) + "\r\n";
    text += "\r\n";
    ASSERT_EQ(parse(text).status, ParseStatus::complete) << text;
    EXPECT_EQ(req_.keep_alive, c.keep_alive) << text;
  }
  // Two Connection headers are combined.
  ASSERT_EQ(parse("GET / HTTP/1.1\r\nConnection: upgrade\r\nConnection: close\r\n\r\n").status,
            ParseStatus::complete);
  EXPECT_FALSE(req_.keep_alive);
}

TEST_F(HttpParse, PipelinedRequestsParseSequentially) {
  const std::string text =
      "GET /one HTTP/1.1\r\nHost: a\r\n\r\n"
      "POST /two HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc"
      "POST /three HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nxy\r\n0\r\n\r\n"
      "GET /four";
  std::string_view rest = text;
  const std::string_view paths[] = {"/one", "/two", "/three"};
  const std::string_view bodies[] = {"", "abc", "xy"};
  for (int i = 0; i < 3; ++i) {
    const ParseResult r = parse_request(rest, Limits{}, req_, scratch_);
    ASSERT_EQ(r.status, ParseStatus::complete) << i;
    EXPECT_EQ(req_.path, paths[i]);
    EXPECT_EQ(req_.body, bodies[i]);
    rest.remove_prefix(r.consumed);
  }
  EXPECT_EQ(rest, "GET /four");
  EXPECT_EQ(parse_request(rest, Limits{}, req_, scratch_).status, ParseStatus::incomplete);
}

// Feeds every prefix of `text`: each must be incomplete (no error), the whole must complete with the
// same request as parsing it in one go.
void check_every_split(std::string_view text, std::string_view expected_body, const Limits& limits = {}) {
  for (size_t n = 0; n < text.size(); ++n) {
    std::vector<char> prefix(text.begin(), text.begin() + static_cast<std::ptrdiff_t>(n));
    Request req;
    std::string scratch;
    const ParseResult r = parse_request(std::string_view(prefix.data(), n), limits, req, scratch);
    ASSERT_EQ(r.status, ParseStatus::incomplete)
        << "prefix " << n << ": " << r.http_status << " " << r.reason;
  }
  std::vector<char> whole(text.begin(), text.end());
  Request req;
  std::string scratch;
  const ParseResult r = parse_request(std::string_view(whole.data(), whole.size()), limits, req, scratch);
  ASSERT_EQ(r.status, ParseStatus::complete);
  EXPECT_EQ(r.consumed, text.size());
  EXPECT_EQ(req.body, expected_body);
  EXPECT_EQ(req.path, "/push/room");
}

TEST(HttpSplit, EveryPrefixOfAContentLengthRequest) {
  check_every_split(
      "POST /push/room HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/x-www-form-urlencoded\r\n"
      "Content-Length: 24\r\n\r\nroom=r&items=%5B1%2C2%5D",
      "room=r&items=%5B1%2C2%5D");
}

TEST(HttpSplit, EveryPrefixOfAChunkedRequest) {
  check_every_split(
      "POST /push/room HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n"
      "5;name=value\r\nhello\r\n"
      "1\r\n \r\n"
      "A \t; a=\"q\"\r\n0123456789\r\n"
      "0;last\r\nTrailer-One: x\r\nTrailer-Two: y\r\n\r\n",
      "hello 0123456789");
}

TEST(HttpSplit, HeadCompleteOnlyOnceTheBlankLineArrived) {
  const std::string_view text = "POST /push/room HTTP/1.1\r\nContent-Length: 2\r\n\r\nab";
  const size_t head = text.find("\r\n\r\n") + 4;
  for (size_t n = 0; n < text.size(); ++n) {
    Request req;
    std::string scratch;
    const ParseResult r = parse_request(text.substr(0, n), Limits{}, req, scratch);
    EXPECT_EQ(r.head_complete, n >= head) << n;
  }
}

// --- Chunked ----------------------------------------------------------------------------------

TEST_F(HttpParse, ChunkedDecodesIntoScratch) {
  const std::string_view text =
      "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nWiki\r\n5\r\npedia\r\nE\r\n "
      "in\r\n\r\nchunks."
      "\r\n0\r\n\r\n";
  expect_complete(text);
  EXPECT_EQ(req_.body, "Wikipedia in\r\n\r\nchunks.");
  EXPECT_EQ(req_.body.data(), scratch_.data());
}

TEST_F(HttpParse, ChunkedVariants) {
  expect_complete("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n");
  EXPECT_TRUE(req_.body.empty());
  expect_complete("POST / HTTP/1.1\r\nTransfer-Encoding: Chunked\r\n\r\na\r\n0123456789\r\n000\r\n\r\n");
  EXPECT_EQ(req_.body, "0123456789");
  expect_complete("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n00ff;x\r\n" + std::string(255, 'z') +
                  "\r\n0\r\n\r\n");
  EXPECT_EQ(req_.body, std::string(255, 'z'));
  // Trailers are skipped (and not added to the headers).
  expect_complete("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\n0\r\nX-T: 1\r\n\r\n");
  EXPECT_EQ(req_.body, "a");
  EXPECT_EQ(req_.header("x-t"), "");
  // Empty list elements are allowed around "chunked".
  expect_complete("POST / HTTP/1.1\r\nTransfer-Encoding: , chunked,\r\n\r\n0\r\n\r\n");
}

TEST_F(HttpParse, ChunkedTakesPrecedenceOverContentLengthAndClosesTheConnection) {
  const std::string_view text =
      "POST / HTTP/1.1\r\nContent-Length: 100\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n";
  expect_complete(text);
  EXPECT_EQ(req_.body, "abc");
  EXPECT_FALSE(req_.keep_alive);
}

TEST_F(HttpParse, MalformedChunkedIs400) {
  const std::string head = "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n";
  expect_error(head + "g\r\n", 400);     // not hex
  expect_error(head + "\r\n", 400);      // no size
  expect_error(head + ";ext\r\n", 400);  // no size
  expect_error(head + "-1\r\n", 400);
  expect_error(head + "3 x\r\nabc\r\n0\r\n\r\n", 400);     // junk after size
  expect_error(head + "3 \r\nabc\r\n0\r\n\r\n", 400);      // whitespace without an extension
  expect_complete(head + "3 ; e\r\nabc\r\n0\r\n\r\n");     // BWS before ';' is fine
  expect_error(head + "3\nabc\r\n0\r\n\r\n", 400);         // bare LF
  expect_error(head + "3\r\nabcd\r\n0\r\n\r\n", 400);      // data longer than declared
  expect_error(head + "3\r\nabc\n0\r\n\r\n", 400);         // data not followed by CRLF
  expect_error(head + "3\r\nabcX", 400);                   // detected before the rest arrives
  expect_error(head + "3;\x01\r\nabc\r\n0\r\n\r\n", 400);  // control in an extension
  expect_error(head + "1\r\na\r\n0\r\nBad Trailer\r\n\r\n", 400);
  expect_error(head + "1\r\na\r\n0\r\nX: a\n\r\n", 400);
  expect_error(head + "1\r\na\r\n0\r\n folded\r\n\r\n", 400);
  // Hex overflow: 17 digits do not fit in 64 bits.
  Limits huge;
  huge.body_bytes_max = SIZE_MAX;
  expect_error(head + "10000000000000000\r\n", 400, huge);
  EXPECT_EQ(parse(head + "3\r\nab").status, ParseStatus::incomplete);
  EXPECT_EQ(parse(head + "3\r\nabc\r").status, ParseStatus::incomplete);
}

TEST_F(HttpParse, TransferEncodingErrors) {
  expect_error("POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n", 501);
  expect_error("POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", 501);
  expect_error("POST / HTTP/1.1\r\nTransfer-Encoding: identity\r\n\r\n", 501);
  expect_error("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: gzip\r\n\r\n", 501);
  expect_error("POST / HTTP/1.1\r\nTransfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n", 400);
  expect_error("POST / HTTP/1.1\r\nTransfer-Encoding:\r\n\r\n", 400);
  expect_error("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400);
}

TEST_F(HttpParse, ChunkedBodyTooLargeIs413AsSoonAsTheSizesSayIt) {
  Limits limits;
  limits.body_bytes_max = 10;
  const std::string head = "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n";
  expect_complete(head + "5\r\n01234\r\n5\r\n56789\r\n0\r\n\r\n", limits);
  // One chunk that declares too much: refused on its size line, before its data.
  expect_error(head + "b\r\n", 413, limits);
  expect_error(head + "b", 413, limits);  // even before the size line ends
  // The sum goes over on the third chunk's size line.
  expect_error(head + "5\r\n01234\r\n5\r\n56789\r\n1\r\n", 413, limits);
}

TEST_F(HttpParse, ChunkedFramingIsBounded) {
  Limits limits;
  limits.head_bytes_max = 128;
  const std::string head = "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n";
  // An endless chunk extension.
  expect_error(head + "1;" + std::string(200, 'x'), 413, limits);
  // Endless trailers.
  std::string trailers = head + "0\r\n";
  for (int i = 0; i < 20; ++i) trailers += "X-Trailer: value\r\n";
  expect_error(trailers, 413, limits);
  // Many one-byte chunks: the framing overhead is what is bounded, not the data.
  std::string many = head;
  for (int i = 0; i < 40; ++i) many += "1\r\nz\r\n";
  expect_error(many, 413, limits);
  // Within the bound is fine, and the whole request fits in request_bytes_max().
  std::string few = head;
  for (int i = 0; i < 10; ++i) few += "1\r\nz\r\n";
  few += "0\r\n\r\n";
  expect_complete(few, limits);
  EXPECT_EQ(req_.body, std::string(10, 'z'));
  EXPECT_LE(few.size(), request_bytes_max(limits));
}

TEST_F(HttpParse, ScratchIsOnlyTouchedForChunkedBodies) {
  scratch_ = "keep";
  expect_complete("POST / HTTP/1.1\r\nContent-Length: 2\r\n\r\nab");
  EXPECT_EQ(scratch_, "keep");
  expect_complete("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\n0\r\n\r\n");
  EXPECT_EQ(scratch_, "ab");
}

TEST_F(HttpParse, RequestIsResetBetweenCalls) {
  ASSERT_EQ(
      parse("POST /a?b HTTP/1.0\r\nExpect: 100-continue\r\nContent-Type: x/y\r\nContent-Length: 1\r\n\r\nz")
          .status,
      ParseStatus::complete);
  ASSERT_EQ(parse("GET / HTTP/1.1\r\n\r\n").status, ParseStatus::complete);
  EXPECT_EQ(req_.header_count, 0u);
  EXPECT_TRUE(req_.query.empty());
  EXPECT_TRUE(req_.content_type.empty());
  EXPECT_TRUE(req_.body.empty());
  EXPECT_TRUE(req_.keep_alive);
  EXPECT_EQ(req_.version_minor, 1);
}

// --- Responses --------------------------------------------------------------------------------

TEST(Response, StatusText) {
  EXPECT_EQ(status_text(200), "OK");
  EXPECT_EQ(status_text(400), "Bad Request");
  EXPECT_EQ(status_text(413), "Content Too Large");
  EXPECT_EQ(status_text(426), "Upgrade Required");
  EXPECT_EQ(status_text(431), "Request Header Fields Too Large");
  EXPECT_EQ(status_text(501), "Not Implemented");
  EXPECT_EQ(status_text(505), "HTTP Version Not Supported");
  EXPECT_EQ(status_text(299), "");
}

TEST(Response, Whole) {
  std::string out = "prior|";
  append_response(out, 200, "application/json", "{\"ok\":true}", true);
  EXPECT_EQ(out,
            "prior|HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n"
            "{\"ok\":true}");
  out.clear();
  append_response(out, 202, "", "", false, "X-A: 1\r\nX-B: 2\r\n");
  EXPECT_EQ(out,
            "HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\nConnection: close\r\nX-A: 1\r\nX-B: 2\r\n\r\n");
  out.clear();
  append_response(out, 200, "", "raw", true);
  EXPECT_EQ(out, "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: 3\r\n\r\nraw");
  out.clear();
  append_response(out, 204, "", "", true);
  EXPECT_EQ(out, "HTTP/1.1 204 No Content\r\n\r\n");
}

TEST(Response, ErrorBodyIsEscapedJson) {
  std::string out;
  append_error(out, 400, "bad \"x\"\\\n", false);
  const std::string_view body = "{\"error\":\"bad \\\"x\\\"\\\\\\u000a\"}";
  EXPECT_EQ(out, "HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\nContent-Length: " +
                     std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + std::string(body));
  out.clear();
  append_error(out, 413, "body too large", true);
  EXPECT_EQ(out,
            "HTTP/1.1 413 Content Too Large\r\nContent-Type: application/json\r\nContent-Length: 26\r\n\r\n"
            "{\"error\":\"body too large\"}");
}

TEST(Response, MethodNotAllowedNamesTheAllowedMethods) {
  std::string out;
  append_method_not_allowed(out, "GET, HEAD", true);
  EXPECT_EQ(out,
            "HTTP/1.1 405 Method Not Allowed\r\nContent-Type: application/json\r\nContent-Length: 30\r\n"
            "Allow: GET, HEAD\r\n\r\n{\"error\":\"method not allowed\"}");
  out.clear();
  append_method_not_allowed(out, "POST", false);
  EXPECT_EQ(out,
            "HTTP/1.1 405 Method Not Allowed\r\nContent-Type: application/json\r\nContent-Length: 30\r\n"
            "Connection: close\r\nAllow: POST\r\n\r\n{\"error\":\"method not allowed\"}");
}

TEST(Response, JsonEscape) {
  std::string out;
  append_json_escaped(out, std::string_view("a\"b\\c\x01\x1f\t\0\x7f\xC3\xA9/", 13));
  EXPECT_EQ(out, "a\\\"b\\\\c\\u0001\\u001f\\u0009\\u0000\x7f\xC3\xA9/");
}

TEST(Response, ContinueConstant) {
  EXPECT_EQ(kContinueResponse, "HTTP/1.1 100 Continue\r\n\r\n");
}

TEST(Response, ErrorsFromTheParserRoundTrip) {
  Request req;
  std::string scratch;
  const ParseResult r = parse_request("GET / HTTP/2.0\r\n\r\n", Limits{}, req, scratch);
  ASSERT_EQ(r.status, ParseStatus::error);
  std::string out;
  append_error(out, r.http_status, r.reason, false);
  EXPECT_EQ(out.rfind("HTTP/1.1 505 HTTP Version Not Supported\r\n", 0), 0u);
  EXPECT_NE(out.find("{\"error\":\"HTTP version not supported\"}"), std::string::npos);
}

}  // namespace
}  // namespace ringcast::http

// Found by fuzz_api: an error reason echoing request bytes that are not UTF-8 made the JSON body
// invalid. Such bytes become U+FFFD; well-formed multi-byte characters pass through.
TEST(JsonEscape, InvalidUtf8BecomesReplacementCharacter) {
  std::string out;
  ringcast::append_json_escaped(out, std::string_view("a\xb0" "2\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\xed\xa0\x80\xc0\xaf\xf4\x90\x80\x80", 21));
  EXPECT_EQ(out, "a\\ufffd2\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\\ufffd\\ufffd\\ufffd\\ufffd\\ufffd\\ufffd\\ufffd\\ufffd\\ufffd");
  std::string answer;
  ringcast::http::append_error(answer, 400, std::string_view("\xff", 1), false);
  EXPECT_NE(answer.find("Content-Length: 18\r\n"), std::string::npos) << answer;
  EXPECT_NE(answer.find("{\"error\":\"\\ufffd\"}"), std::string::npos) << answer;
}
