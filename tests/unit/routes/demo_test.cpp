// Unit tests for engine/demo: the embedded files table (built from engine/routes/web/ and clients/js/ by
// engine/routes/web/embed.cpp), the routes that need no ring (files, 404, 405, HEAD), the token bucket, the
// `demo` switch in flags and files, and the latency histogram's bucket choice in engine/node/stats.h.
#include "engine/routes/demo.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <cstdio>
#include <string>
#include <vector>

namespace ringcast {
namespace {

http::Request parse(const std::string& bytes, std::string& scratch) {
  http::Request req;
  http::Limits limits;
  http::ParseResult r = http::parse_request(bytes, limits, req, scratch);
  EXPECT_EQ(r.status, http::ParseStatus::complete);
  return req;
}

TEST(WebAssets, PageScriptStyleAndClientAreEmbedded) {
  const WebAsset* page = find_web_asset("/");
  ASSERT_NE(page, nullptr);
  EXPECT_STREQ(page->content_type, "text/html; charset=utf-8");
  EXPECT_NE(page->body().find("<title>ringcast"), std::string_view::npos);
  const WebAsset* client = find_web_asset("/ringcast.js");
  ASSERT_NE(client, nullptr);
  EXPECT_STREQ(client->content_type, "text/javascript; charset=utf-8");
  EXPECT_NE(client->body().find("export class RingcastClient"), std::string_view::npos);
  EXPECT_NE(find_web_asset("/demo.js"), nullptr);
  EXPECT_NE(find_web_asset("/demo.css"), nullptr);
  EXPECT_EQ(find_web_asset("/index.html"), nullptr);  // only the paths the table names
  EXPECT_EQ(find_web_asset("/demo.js/"), nullptr);
}

class DemoRoutes : public ::testing::Test {
 protected:
  void SetUp() override {
    config_.demo = true;
    ctx_.stats = &stats_;
    ctx_.all_stats = &stats_;
    ctx_.shard_count = 1;
    ctx_.config = &config_;
    ctx_.parser = &parser_;
    stats_.clear();
  }
  std::string answer(const std::string& request, bool* keep = nullptr) {
    std::string scratch, out;
    http::Request req = parse(request, scratch);
    bool k = handle_demo_request(req, ctx_, bucket_, 0, out);
    if (keep) *keep = k;
    return out;
  }
  Config config_;
  ShardStats stats_;
  simdjson::dom::parser parser_;
  DemoContext ctx_;
  TokenBucket bucket_;
};

TEST_F(DemoRoutes, ServesThePageWithItsHeaders) {
  bool keep = false;
  const std::string out = answer("GET / HTTP/1.1\r\nHost: x\r\n\r\n", &keep);
  EXPECT_TRUE(keep);
  EXPECT_EQ(out.rfind("HTTP/1.1 200 OK\r\n", 0), 0u);
  EXPECT_NE(out.find("Content-Type: text/html; charset=utf-8\r\n"), std::string::npos);
  EXPECT_NE(out.find("Content-Length: " + std::to_string(find_web_asset("/")->size) + "\r\n"),
            std::string::npos);
  EXPECT_NE(out.find("Cache-Control: no-cache\r\n"), std::string::npos);
  EXPECT_EQ(out.substr(out.find("\r\n\r\n") + 4), find_web_asset("/")->body());
  EXPECT_EQ(stats_.get(Counter::demo_requests), 1);
}

TEST_F(DemoRoutes, HeadHasNoBody) {
  const std::string out = answer("HEAD /ringcast.js HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(out.rfind("HTTP/1.1 200 OK\r\n", 0), 0u);
  EXPECT_NE(out.find("Content-Length: " + std::to_string(find_web_asset("/ringcast.js")->size)),
            std::string::npos);
  EXPECT_EQ(out.size(), out.find("\r\n\r\n") + 4);
}

TEST_F(DemoRoutes, OtherMethodsAre405UnknownPaths404) {
  for (const char* method : {"POST", "PUT", "DELETE", "OPTIONS"}) {
    const std::string out =
        answer(std::string(method) + " / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n");
    EXPECT_EQ(out.rfind("HTTP/1.1 405", 0), 0u) << method;
    EXPECT_NE(out.find("Allow: GET, HEAD\r\n"), std::string::npos) << method;
  }
  std::string out = answer("GET /demo/publish HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(out.rfind("HTTP/1.1 405", 0), 0u);
  EXPECT_NE(out.find("Allow: POST\r\n"), std::string::npos);
  out = answer("GET /nope HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(out.rfind("HTTP/1.1 404", 0), 0u);
  EXPECT_NE(out.find("Content-Type: application/json"), std::string::npos);
  EXPECT_NE(out.find("{\"error\":"), std::string::npos);
}

TEST_F(DemoRoutes, ConnectionCloseIsHonoured) {
  bool keep = true;
  const std::string out = answer("GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", &keep);
  EXPECT_FALSE(keep);
  EXPECT_NE(out.find("Connection: close\r\n"), std::string::npos);
}

TEST_F(DemoRoutes, PublishRefusesBeforeTouchingTheRing) {
  // Validation answers come before the rate limit and the publish (no ring in this test).
  const auto post = [&](const std::string& type, const std::string& body) {
    return answer("POST /demo/publish HTTP/1.1\r\nHost: x\r\nContent-Type: " + type +
                  "\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body);
  };
  EXPECT_EQ(post("text/plain", "{}").rfind("HTTP/1.1 415", 0), 0u);
  EXPECT_EQ(post("application/json", "{").rfind("HTTP/1.1 400", 0), 0u);
  EXPECT_EQ(post("application/json", R"({"room":"r"})").rfind("HTTP/1.1 400", 0), 0u);
  EXPECT_EQ(post("application/json", R"({"room":"","text":"t"})").rfind("HTTP/1.1 400", 0), 0u);
  EXPECT_EQ(post("application/json", R"({"room":"r","text":""})").rfind("HTTP/1.1 400", 0), 0u);
  EXPECT_EQ(post("application/json", R"({"room":"r","text":")" + std::string(281, 'x') + "\"}")
                .rfind("HTTP/1.1 400", 0),
            0u);
  EXPECT_EQ(stats_.get(Counter::demo_publishes), 0);
}

TEST(TokenBucket, StartsFullRefillsAtTheRateCapsAtTheBurst) {
  TokenBucket b;
  b.refill(1'000'000'000, 5, 10);
  EXPECT_DOUBLE_EQ(b.tokens, 10);
  b.tokens = 0;
  b.refill(1'200'000'000, 5, 10);  // 0.2 s at 5/s
  EXPECT_NEAR(b.tokens, 1.0, 1e-9);
  b.refill(1'100'000'000, 5, 10);  // the clock never goes back: nothing added
  EXPECT_NEAR(b.tokens, 1.0, 1e-9);
  b.refill(60'000'000'000, 5, 10);
  EXPECT_DOUBLE_EQ(b.tokens, 10);
}

TEST(DemoConfig, SwitchFlagAndFile) {
  auto parse_args = [](std::vector<std::string> args, Config& c) {
    std::vector<char*> argv;
    args.insert(args.begin(), "ringcast");
    for (auto& a : args) argv.push_back(a.data());
    std::string message, warnings;
    return parse_command_line(static_cast<int>(argv.size()), argv.data(), c, message, warnings);
  };
  Config c;
  EXPECT_FALSE(c.demo);
  ASSERT_EQ(parse_args({"--demo"}, c), CliAction::run);
  EXPECT_TRUE(c.demo);
  Config d;
  ASSERT_EQ(parse_args({"--demo", "--threads", "3"}, d), CliAction::run);
  EXPECT_TRUE(d.demo);
  EXPECT_EQ(d.threads, 3u);
  Config e;
  ASSERT_EQ(parse_args({"--demo", "false"}, e), CliAction::run);
  EXPECT_FALSE(e.demo);
  Config f;
  ASSERT_EQ(parse_args({"--demo=1", "--demo-publish-per-s", "7"}, f), CliAction::run);
  EXPECT_TRUE(f.demo);
  EXPECT_EQ(f.demo_publish_per_s, 7u);
  Config g;
  EXPECT_EQ(parse_args({"--demo=maybe"}, g), CliAction::error);

  char dir[] = "/tmp/ringcast-demo-test-XXXXXX";
  ASSERT_NE(mkdtemp(dir), nullptr);
  const std::string path = std::string(dir) + "/c.json";
  FILE* file = std::fopen(path.c_str(), "w");
  ASSERT_NE(file, nullptr);
  std::fputs(R"({"demo": true, "demo_text_bytes_max": 100})", file);
  std::fclose(file);
  Config h;
  std::string error, warnings;
  EXPECT_TRUE(load_config_file(path, h, error, warnings)) << error;
  EXPECT_TRUE(h.demo);
  EXPECT_EQ(h.demo_text_bytes_max, 100u);
  unlink(path.c_str());
  rmdir(dir);
  EXPECT_NE(usage_text().find("--demo false"), std::string::npos);
}

TEST(LatencyHistogram, BucketsByUpperBound) {
  ShardStats s;
  s.clear();
  s.observe_latency(0);
  s.observe_latency(kLatencyBoundsNs[0]);      // a bound belongs to its own bucket (le)
  s.observe_latency(kLatencyBoundsNs[0] + 1);  // the next
  s.observe_latency(3'000'000);                // 3 ms: the 5 ms bucket
  s.observe_latency(INT64_C(60'000'000'000));  // 60 s: +Inf
  EXPECT_EQ(s.latency_counts[0].load(), 2);
  EXPECT_EQ(s.latency_counts[1].load(), 1);
  size_t five_ms = 0;
  while (kLatencyBoundsNs[five_ms] != 5'000'000) ++five_ms;
  EXPECT_EQ(s.latency_counts[five_ms].load(), 1);
  EXPECT_EQ(s.latency_counts[kLatencyBuckets - 1].load(), 1);
  EXPECT_EQ(s.latency_sum_ns.load(), 0 + 50'000 + 50'001 + 3'000'000 + INT64_C(60'000'000'000));
}

}  // namespace
}  // namespace ringcast
