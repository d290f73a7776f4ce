// Unit tests for engine/conn/upgrade: the client port's decision on a parsed request (which endpoint,
// the demo, each refusal with its status, in the order the checks are made) and the access checks
// of the upgrade (Origin, connect token, the token's user).
#include "engine/conn/upgrade.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "engine/codec/http.h"

namespace ringcast {
namespace {

constexpr int64_t kNow = 1'700'000'000;
constexpr std::string_view kSecret = "test-secret";

class UpgradeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    policy_.ws_path = "/connect";
    policy_.nano_path = "/nano";
    policy_.allowed_origins = &origins_;
    policy_.sse_path = "/sse";
    policy_.stream_path = "/stream";
    policy_.rooms_per_conn_max = 3;
  }

  // Parses `head` (a request head without the final blank line) and decides.
  UpgradeDecision decide(const std::string& head, bool stopping = false, std::string_view body = {}) {
    text_ = head + "\r\n" + std::string(body);
    http::Limits limits;
    limits.body_bytes_max = 1024;
    const http::ParseResult res = http::parse_request(text_, limits, req_, scratch_);
    EXPECT_EQ(res.status, http::ParseStatus::complete) << head;
    return decide_upgrade(req_, policy_, stopping, kNow, storage_);
  }

  static std::string upgrade_head(std::string_view target, std::string_view extra = {}) {
    return "GET " + std::string(target) +
           " HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
           "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n" +
           std::string(extra);
  }

  UpgradePolicy policy_;
  std::vector<std::string> origins_;
  http::Request req_;
  std::string text_, scratch_, storage_;
};

TEST_F(UpgradeTest, EachEndpointIsItsProtocol) {
  UpgradeDecision d = decide(upgrade_head("/connect"));
  EXPECT_EQ(d.route, UpgradeRoute::go_push);
  EXPECT_EQ(d.refusal, UpgradeRefusal::none);
  EXPECT_EQ(d.key, "dGhlIHNhbXBsZSBub25jZQ==");
  EXPECT_EQ(decide(upgrade_head("/nano")).route, UpgradeRoute::nano);
  EXPECT_EQ(decide(upgrade_head("/connect?room=a")).route, UpgradeRoute::go_push);
}

TEST_F(UpgradeTest, NanoOffMeansItsPathIsNotFound) {
  policy_.nano_path = {};
  const UpgradeDecision d = decide(upgrade_head("/nano"));
  EXPECT_EQ(d.route, UpgradeRoute::refused);
  EXPECT_EQ(d.refusal, UpgradeRefusal::not_found);
  EXPECT_EQ(d.status, 404);
  EXPECT_EQ(d.reason, "not found: the WebSocket endpoint is /connect");
}

TEST_F(UpgradeTest, OtherPathsAreTheDemosWhenItIsOn) {
  policy_.demo = true;
  EXPECT_EQ(decide("GET / HTTP/1.1\r\nHost: x\r\n").route, UpgradeRoute::demo);
  EXPECT_EQ(decide("POST /demo/publish HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n", false, "{}").route,
            UpgradeRoute::demo);
  // The endpoints stay endpoints.
  EXPECT_EQ(decide(upgrade_head("/connect")).route, UpgradeRoute::go_push);
}

TEST_F(UpgradeTest, WhatIsNotAnUpgradeIsRefusedWithItsStatus) {
  UpgradeDecision d = decide("GET /connect HTTP/1.1\r\nHost: x\r\n");
  EXPECT_EQ(d.refusal, UpgradeRefusal::not_an_upgrade);
  EXPECT_EQ(d.status, 426);
  d = decide("POST /connect HTTP/1.1\r\nHost: x\r\n");
  EXPECT_EQ(d.refusal, UpgradeRefusal::not_an_upgrade);
  EXPECT_EQ(d.status, 405);
  policy_.demo = true;  // a body is only possible with --demo
  d = decide(upgrade_head("/connect", "Content-Length: 3\r\n"), false, "abc");
  EXPECT_EQ(d.route, UpgradeRoute::refused);
  EXPECT_EQ(d.refusal, UpgradeRefusal::body);
  EXPECT_EQ(d.status, 413);
}

TEST_F(UpgradeTest, StoppingRefusesUpgradesBeforeAccessIsChecked) {
  origins_ = {"https://good.example"};
  const UpgradeDecision d = decide(upgrade_head("/connect", "Origin: https://evil.example\r\n"), true);
  EXPECT_EQ(d.refusal, UpgradeRefusal::stopping);
  EXPECT_EQ(d.status, 503);
}

TEST_F(UpgradeTest, OriginsOnTheListOnly) {
  origins_ = {"https://good.example"};
  EXPECT_EQ(decide(upgrade_head("/connect", "Origin: https://good.example\r\n")).route,
            UpgradeRoute::go_push);
  // Only browsers send Origin: a client without one is not asked for it.
  EXPECT_EQ(decide(upgrade_head("/connect")).route, UpgradeRoute::go_push);
  const UpgradeDecision d = decide(upgrade_head("/nano", "Origin: https://evil.example\r\n"));
  EXPECT_EQ(d.refusal, UpgradeRefusal::origin);
  EXPECT_EQ(d.status, 403);
}

TEST_F(UpgradeTest, ConnectTokensGrantRoomsAndAUser) {
  policy_.token_secret = kSecret;
  UpgradeDecision d = decide(upgrade_head("/connect"));
  EXPECT_EQ(d.refusal, UpgradeRefusal::token);
  EXPECT_EQ(d.status, 401);
  EXPECT_EQ(d.reason, "connect token required: ?token= or Authorization: Bearer");
  EXPECT_EQ(decide(upgrade_head("/connect?token=not.a.token")).refusal, UpgradeRefusal::token);
  const std::string token = make_token(R"({"uid":"ann","rooms":["lobby","game-*"]})", kSecret);
  d = decide(upgrade_head("/connect?token=" + token));
  EXPECT_EQ(d.route, UpgradeRoute::go_push);
  EXPECT_EQ(d.grant.user, "ann");
  EXPECT_EQ(d.grant.rooms, (std::vector<std::string>{"lobby", "game-*"}));
  d = decide(upgrade_head("/nano", "Authorization: Bearer " + token + "\r\n"));
  EXPECT_EQ(d.route, UpgradeRoute::nano);
  EXPECT_EQ(d.grant.user, "ann");
  // A token signed with another secret, and one whose user could not be a user id.
  EXPECT_EQ(decide(upgrade_head("/connect?token=" + make_token(R"({"uid":"ann"})", "other"))).refusal,
            UpgradeRefusal::token);
  const UpgradeDecision bad_user =
      decide(upgrade_head("/connect?token=" + make_token(R"({"uid":"a\u0001"})", kSecret)));
  EXPECT_EQ(bad_user.refusal, UpgradeRefusal::token_user);
  EXPECT_EQ(bad_user.status, 401);
}

TEST_F(UpgradeTest, OriginIsCheckedBeforeTheToken) {
  policy_.token_secret = kSecret;
  origins_ = {"https://good.example"};
  EXPECT_EQ(decide(upgrade_head("/connect", "Origin: https://evil.example\r\n")).refusal,
            UpgradeRefusal::origin);
}

// ---- HTTP streams (SSE, NDJSON) ----

TEST_F(UpgradeTest, StreamPathsAreSubscriptionsWithTheirQuery) {
  UpgradeDecision d = decide("GET /sse?room=a&room=b&since=4 HTTP/1.1\r\nHost: x\r\n");
  EXPECT_EQ(d.route, UpgradeRoute::sse);
  EXPECT_EQ(d.stream.rooms, (std::vector<std::string>{"a", "b"}));
  EXPECT_TRUE(d.stream.has_since);
  EXPECT_EQ(d.stream.since, 4u);
  d = decide("GET /stream?room=a HTTP/1.1\r\nHost: x\r\nLast-Event-ID: 9\r\n");
  EXPECT_EQ(d.route, UpgradeRoute::ndjson);
  EXPECT_EQ(d.stream.since, 9u);
  // Off: the path is not found (or the demo's, with --demo).
  policy_.sse_path = {};
  EXPECT_EQ(decide("GET /sse?room=a HTTP/1.1\r\nHost: x\r\n").status, 404);
}

TEST_F(UpgradeTest, ABadSubscriptionIsRefusedWithItsStatus) {
  auto status = [&](const std::string& head) { return decide(head).status; };
  EXPECT_EQ(status("GET /sse HTTP/1.1\r\nHost: x\r\n"), 400);  // no room
  EXPECT_EQ(status("GET /sse?room= HTTP/1.1\r\nHost: x\r\n"), 400);
  EXPECT_EQ(status("GET /sse?room=a%ZZ HTTP/1.1\r\nHost: x\r\n"), 400);
  EXPECT_EQ(status("GET /sse?room=a&room=b&room=c&room=d HTTP/1.1\r\nHost: x\r\n"), 400);
  EXPECT_EQ(status("GET /sse?room=a&since=x HTTP/1.1\r\nHost: x\r\n"), 400);
  EXPECT_EQ(status("GET /stream?room=a%01 HTTP/1.1\r\nHost: x\r\n"), 400);  // a control character
  EXPECT_EQ(status("POST /sse?room=a HTTP/1.1\r\nHost: x\r\n"), 405);
  EXPECT_EQ(status("GET /sse?room=a HTTP/1.0\r\nHost: x\r\n"), 505);
  EXPECT_EQ(decide("GET /sse?room=a HTTP/1.1\r\nHost: x\r\n", /*stopping=*/true).status, 503);
  const UpgradeDecision d = decide("GET /sse HTTP/1.1\r\nHost: x\r\n");
  EXPECT_EQ(d.refusal, UpgradeRefusal::bad_stream);
  EXPECT_EQ(d.reason, "no room: subscribe with ?room=r (repeat for more rooms)");
}

TEST_F(UpgradeTest, StreamsHaveTheUpgradesAccessAndTheTokensRooms) {
  origins_ = {"https://good.example"};
  EXPECT_EQ(decide("GET /sse?room=a HTTP/1.1\r\nHost: x\r\nOrigin: https://evil.example\r\n").status, 403);
  UpgradeDecision d = decide("GET /sse?room=a HTTP/1.1\r\nHost: x\r\nOrigin: https://good.example\r\n");
  EXPECT_EQ(d.route, UpgradeRoute::sse);
  EXPECT_EQ(d.allow_origin, "https://good.example");  // echoed for CORS
  policy_.token_secret = kSecret;
  EXPECT_EQ(decide("GET /sse?room=a HTTP/1.1\r\nHost: x\r\n").status, 401);
  const std::string token = make_token(R"({"uid":"ann","rooms":["lobby","game-*"]})", kSecret);
  d = decide("GET /sse?room=lobby&room=game-1&token=" + token + " HTTP/1.1\r\nHost: x\r\n");
  EXPECT_EQ(d.route, UpgradeRoute::sse);
  EXPECT_EQ(d.grant.user, "ann");
  d = decide("GET /stream?room=lobby&room=other HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + token +
             "\r\n");
  EXPECT_EQ(d.refusal, UpgradeRefusal::forbidden_room);
  EXPECT_EQ(d.status, 403);
  // A token with a user may subscribe to no room: its per-user pushes only.
  EXPECT_EQ(decide("GET /sse?token=" + token + " HTTP/1.1\r\nHost: x\r\n").route, UpgradeRoute::sse);
}

TEST_F(UpgradeTest, APreflightChecksTheOriginOnly) {
  origins_ = {"https://good.example"};
  policy_.token_secret = kSecret;
  UpgradeDecision d = decide("OPTIONS /stream HTTP/1.1\r\nHost: x\r\nOrigin: https://good.example\r\n");
  EXPECT_EQ(d.route, UpgradeRoute::preflight);
  EXPECT_EQ(d.allow_origin, "https://good.example");
  EXPECT_EQ(decide("OPTIONS /stream HTTP/1.1\r\nHost: x\r\nOrigin: https://evil.example\r\n").status, 403);
}

}  // namespace
}  // namespace ringcast
