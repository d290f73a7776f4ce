// Unit tests for engine/codec/nano: which handshakes are accepted, and how a go-push
// PUSH's data object becomes Pomelo push packets (expected bytes written out by hand from docs/nano.md),
// plus the configuration checks of the Nano keys.
#include "engine/codec/nano.h"

#include <gtest/gtest.h>

#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

#include "engine/config.h"

namespace ringcast {
namespace {

std::string B(std::initializer_list<uint8_t> bytes) {
  return std::string(bytes.begin(), bytes.end());
}

// A data packet header for a body of n bytes (n < 256).
std::string data_header(size_t n) {
  return B({0x04, 0x00, 0x00, static_cast<uint8_t>(n)});
}

pomelo::RouteDict dict_of(std::vector<std::string_view> routes) {
  pomelo::RouteDict dict;
  EXPECT_EQ(pomelo::RouteDict::build(routes, dict), pomelo::RouteDictError::none);
  return dict;
}

TEST(NanoClientSupported, TypesAndVersions) {
  EXPECT_TRUE(nano_client_supported("js-websocket", "0.0.1"));
  EXPECT_TRUE(nano_client_supported("python", "1.2.3-rc.1+build"));
  EXPECT_FALSE(nano_client_supported("", "0.0.1"));
  EXPECT_FALSE(nano_client_supported("js websocket", "0.0.1"));
  EXPECT_FALSE(nano_client_supported("js\x01", "0.0.1"));
  EXPECT_FALSE(nano_client_supported(std::string(65, 'a'), "0.0.1"));
  EXPECT_TRUE(nano_client_supported(std::string(64, 'a'), "0"));
  EXPECT_FALSE(nano_client_supported("js-websocket", ""));
  EXPECT_FALSE(nano_client_supported("js-websocket", "x"));
  EXPECT_FALSE(nano_client_supported("js-websocket", "v1.0"));
  EXPECT_FALSE(nano_client_supported("js-websocket", "1.0 beta"));
  EXPECT_FALSE(nano_client_supported("js-websocket", "1" + std::string(32, '0')));
}

TEST(NanoPushes, PlainItemsAreOneOnPushWithTheDataObjectAsIs) {
  simdjson::dom::parser parser;
  const pomelo::RouteDict empty;
  const std::string data = R"({"items":["x",{"k":1}],"room":"r","seq":7})";
  std::string out;
  ASSERT_TRUE(append_nano_pushes(out, data, "onPush", empty, parser));
  // flag 06 (push, plain), route length 6, "onPush", payload.
  const std::string body = B({0x06, 0x06}) + "onPush" + data;
  EXPECT_EQ(out, data_header(body.size()) + body);

  // With the route in the dictionary (code 2): flag 07 and the two-byte code.
  const pomelo::RouteDict dict = dict_of({"onMessage", "onPush"});
  out.clear();
  ASSERT_TRUE(append_nano_pushes(out, data, "onPush", dict, parser));
  const std::string compressed = B({0x07, 0x00, 0x02}) + data;
  EXPECT_EQ(out, data_header(compressed.size()) + compressed);
}

TEST(NanoPushes, RoutedItemsBecomeTheirOwnPushesInOrder) {
  simdjson::dom::parser parser;
  const pomelo::RouteDict dict = dict_of({"onMessage", "onPush"});
  const std::string data =
      R"({"items":["a",{"route":"onMessage","data":{"t":1}},"b","c",{"route":"custom","data":[2]}],)"
      R"("room":"r\"q","seq":9})";
  std::string out;
  ASSERT_TRUE(append_nano_pushes(out, data, "onPush", dict, parser));
  std::string expected;
  auto packet = [&](const std::string& body) { expected += data_header(body.size()) + body; };
  packet(B({0x07, 0x00, 0x02}) + R"({"items":["a"],"room":"r\"q","seq":9})");
  packet(B({0x07, 0x00, 0x01}) + R"({"t":1})");
  packet(B({0x07, 0x00, 0x02}) + R"({"items":["b","c"],"room":"r\"q","seq":9})");
  packet(B({0x06, 0x06}) + "custom" + "[2]");
  EXPECT_EQ(out, expected);
}

TEST(NanoPushes, LookalikesStayItems) {
  simdjson::dom::parser parser;
  const pomelo::RouteDict empty;
  // A third key, a route that is not a string, an empty route, a route over 255 bytes: plain items.
  const std::string long_route(256, 'r');
  const std::string data =
      R"({"items":[{"route":"a","data":1,"x":2},{"route":1,"data":1},{"route":"","data":1},)"
      R"({"route":")" +
      long_route + R"(","data":1}],"seq":3})";
  std::string out;
  ASSERT_TRUE(append_nano_pushes(out, data, "onPush", empty, parser));
  const std::string payload = R"({"items":[{"route":"a","data":1,"x":2},{"route":1,"data":1},)"
                              R"({"route":"","data":1},{"route":")" +
                              long_route + R"(","data":1}],"seq":3})";
  const std::string body = B({0x06, 0x06}) + "onPush" + payload;
  ASSERT_GT(body.size(), 255u);
  EXPECT_EQ(
      out, B({0x04, 0x00, static_cast<uint8_t>(body.size() >> 8), static_cast<uint8_t>(body.size())}) + body);
}

TEST(NanoPushes, InvalidTextAndRefusedRoutes) {
  simdjson::dom::parser parser;
  const pomelo::RouteDict empty;
  // Raw bytes that are not UTF-8 make the document invalid JSON for simdjson: the data object goes to
  // push_route as it is (the codec's own check on the route never sees them).
  const std::string data = "{\"items\":[{\"route\":\"\xff\",\"data\":1}],\"seq\":1}";
  std::string out;
  EXPECT_TRUE(append_nano_pushes(out, data, "onPush", empty, parser));
  const std::string body = B({0x06, 0x06}) + "onPush" + data;
  EXPECT_EQ(out, data_header(body.size()) + body);
  // A route the codec refuses is left out, and the call says so.
  out.clear();
  EXPECT_FALSE(append_nano_pushes(out, R"({"items":[1]})", std::string(256, 'p'), empty, parser));
  EXPECT_TRUE(out.empty());
}

TEST(NanoConfig, PathsAndRoutes) {
  Config c;
  EXPECT_EQ(validate(c), "");
  EXPECT_TRUE(nano_enabled(c));
  c.nano_path = "none";
  EXPECT_FALSE(nano_enabled(c));
  EXPECT_EQ(validate(c), "");
  c.nano_path = "";
  EXPECT_FALSE(nano_enabled(c));
  c.nano_path = "nano";
  EXPECT_NE(validate(c).find("nano_path"), std::string::npos);
  c.nano_path = "/connect";
  EXPECT_NE(validate(c).find("nano_path"), std::string::npos);
  c.nano_path = "/nano";
  c.nano_routes = "a,b,a";
  EXPECT_NE(validate(c).find("nano_routes"), std::string::npos);
  c.nano_routes = "";
  EXPECT_EQ(validate(c), "");
  c.nano_push_route = "";
  EXPECT_NE(validate(c).find("nano_push_route"), std::string::npos);
}

}  // namespace
}  // namespace ringcast
