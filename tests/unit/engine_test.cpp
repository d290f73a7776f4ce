// Unit tests for engine/engine: what the embedding API's publishers enforce. An Engine is started for
// real (one shard, kernel-picked loopback ports) so the publisher under test is the one an embedding
// application gets.
#include "engine/engine.h"

#include <gtest/gtest.h>

#include <string>

namespace ringcast {
namespace {

class EngineTest : public ::testing::Test {
 protected:
  void start(Config config) {
    config.listen = Endpoint{"127.0.0.1", 0, true};
    config.api = Endpoint{"127.0.0.1", 0, true};
    config.threads = 1;
    config.conns_per_shard_max = 64;
    config.log_level = "error";
    engine_ = std::make_unique<Engine>(std::move(config));
    std::string error;
    ASSERT_TRUE(engine_->start(error)) << error;
  }
  void TearDown() override {
    if (!engine_) return;
    engine_->stop();
    engine_->wait();
  }
  std::unique_ptr<Engine> engine_;
};

// room_name_charset=ascii holds for the application's publishes as for the push API's.
TEST_F(EngineTest, PublishRoomChecksTheConfiguredRoomCharset) {
  Config config;
  config.room_name_charset = "ascii";
  start(config);
  EXPECT_EQ(engine_->publish_room("caf\xc3\xa9", "[1]").error, PublishError::room_invalid);
  EXPECT_EQ(engine_->publish_room("has space", "[1]").error, PublishError::room_invalid);
  EXPECT_EQ(engine_->publish_room("lobby", "[1]").error, PublishError::none);
}

TEST_F(EngineTest, PublishRoomAcceptsUtf8RoomsByDefault) {
  start(Config{});
  EXPECT_EQ(engine_->publish_room("caf\xc3\xa9", "[1]").error, PublishError::none);
  EXPECT_EQ(engine_->publish_room("bad\x01", "[1]").error, PublishError::room_invalid);
}

// The room name's length limit and the user id's too.
TEST_F(EngineTest, PublishChecksTheConfiguredLengths) {
  Config config;
  config.room_name_bytes_max = 4;
  config.user_id_bytes_max = 3;
  start(config);
  EXPECT_EQ(engine_->publish_room("abcde", "[1]").error, PublishError::room_invalid);
  EXPECT_EQ(engine_->publish_room("abcd", "[1]").error, PublishError::none);
  EXPECT_EQ(engine_->publish_user("abcd", "[1]").error, PublishError::uid_invalid);
  EXPECT_EQ(engine_->publish_user("abc", "[1]").error, PublishError::none);
}

}  // namespace
}  // namespace ringcast
