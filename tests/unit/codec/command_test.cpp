// Unit tests for engine/command: the go-push client commands (PING, JOIN, LEAVE), the ones ignored
// (unknown or missing type), the errors (bad room, malformed JSON, non-object), and the constant and
// escaped answers.
#include "engine/codec/command.h"

#include <gtest/gtest.h>

#include <string>
#include <string_view>

namespace ringcast {
namespace {

struct Parsed {
  CommandError error;
  CommandType type;
  std::string room;
};

Parsed parse(simdjson::dom::parser& parser, std::string_view text) {
  Command c;
  c.type = CommandType::ping;  // parse_command must reset it
  c.room = "stale";
  const CommandError error = parse_command(parser, reinterpret_cast<const uint8_t*>(text.data()), text.size(), c);
  return {error, c.type, std::string(c.room)};
}

TEST(Command, Ping) {
  simdjson::dom::parser parser;
  Parsed p = parse(parser, R"({"type":"PING","data":{}})");
  EXPECT_EQ(p.error, CommandError::none);
  EXPECT_EQ(p.type, CommandType::ping);
  EXPECT_EQ(p.room, "");
  p = parse(parser, R"({"type":"PING"})");
  EXPECT_EQ(p.type, CommandType::ping);
  p = parse(parser, R"(  {"data":null,"type":"PING"}  )");
  EXPECT_EQ(p.type, CommandType::ping);
}

TEST(Command, JoinAndLeave) {
  simdjson::dom::parser parser;
  Parsed p = parse(parser, R"({"type":"JOIN","data":{"room":"lobby"}})");
  EXPECT_EQ(p.error, CommandError::none);
  EXPECT_EQ(p.type, CommandType::join);
  EXPECT_EQ(p.room, "lobby");
  p = parse(parser, R"({"type":"LEAVE","data":{"room":"lobby"}})");
  EXPECT_EQ(p.error, CommandError::none);
  EXPECT_EQ(p.type, CommandType::leave);
  EXPECT_EQ(p.room, "lobby");
  // Escapes are decoded; extra fields are ignored.
  p = parse(parser, R"({"data":{"x":1,"room":"a\"b\u00e9\/c"},"type":"JOIN","extra":[1,2]})");
  EXPECT_EQ(p.error, CommandError::none);
  EXPECT_EQ(p.type, CommandType::join);
  EXPECT_EQ(p.room, "a\"b\xc3\xa9/c");
}

TEST(Command, UnknownAndMissingTypesAreIgnored) {
  simdjson::dom::parser parser;
  for (std::string_view text : {R"({"type":"PONG"})", R"({"type":"join","data":{"room":"r"}})",
                                R"({"type":"","data":{}})", R"({"data":{"room":"r"}})", R"({})",
                                R"({"type":7})", R"({"type":null})", R"({"type":["JOIN"]})"}) {
    Parsed p = parse(parser, text);
    EXPECT_EQ(p.error, CommandError::none) << text;
    EXPECT_EQ(p.type, CommandType::unknown) << text;
    EXPECT_EQ(p.room, "") << text;
  }
}

TEST(Command, BadRoom) {
  simdjson::dom::parser parser;
  for (std::string_view text :
       {R"({"type":"JOIN"})", R"({"type":"JOIN","data":{}})", R"({"type":"JOIN","data":{"room":""}})",
        R"({"type":"JOIN","data":{"room":5}})", R"({"type":"JOIN","data":{"room":null}})",
        R"({"type":"LEAVE","data":"room"})", R"({"type":"LEAVE","data":{"room":["r"]}})",
        R"({"type":"LEAVE","room":"r"})"}) {
    Parsed p = parse(parser, text);
    EXPECT_EQ(p.error, CommandError::bad_room) << text;
  }
}

TEST(Command, MalformedJsonAndNonObjects) {
  simdjson::dom::parser parser;
  for (std::string_view text : {"", "{", R"({"type":"PING")", R"({"type":PING})", "PING", R"({"type":"PING"}x)",
                                "{\"type\":\"JOIN\",\"data\":{\"room\":\"\xff\"}}"}) {
    EXPECT_EQ(parse(parser, text).error, CommandError::malformed_json) << text;
  }
  for (std::string_view text : {"[]", R"(["PING"])", "\"PING\"", "42", "null", "true"}) {
    EXPECT_EQ(parse(parser, text).error, CommandError::not_an_object) << text;
  }
  // The parser is reusable after errors.
  EXPECT_EQ(parse(parser, R"({"type":"PING"})").type, CommandType::ping);
}

TEST(Command, ErrorTexts) {
  EXPECT_EQ(command_error_text(CommandError::none), "ok");
  EXPECT_EQ(command_error_text(CommandError::malformed_json), "malformed JSON command");
  EXPECT_EQ(command_error_text(CommandError::not_an_object), "command must be a JSON object");
  EXPECT_EQ(command_error_text(CommandError::bad_room), "data.room must be a non-empty string");
}

TEST(Command, Answers) {
  EXPECT_EQ(pong_command_json(), R"({"type":"PONG","data":{}})");
  EXPECT_EQ(error_command_json("ROOM_LIMIT", "too many rooms", "r1"),
            R"({"type":"ERROR","data":{"code":"ROOM_LIMIT","message":"too many rooms","room":"r1"}})");
  EXPECT_EQ(error_command_json("BAD_ROOM", "no room", ""), R"({"type":"ERROR","data":{"code":"BAD_ROOM","message":"no room"}})");
  // Quotes, backslashes and control characters are escaped; UTF-8 passes through.
  EXPECT_EQ(error_command_json("C\"", "a\\b\n", std::string_view("q\"\x01\x1f\xc3\xa9", 6)),
            "{\"type\":\"ERROR\",\"data\":{\"code\":\"C\\\"\",\"message\":\"a\\\\b\\u000a\","
            "\"room\":\"q\\\"\\u0001\\u001f\xc3\xa9\"}}");
  // The escaped answer is valid JSON that round-trips the fields.
  simdjson::dom::parser parser;
  const std::string json = error_command_json("c", "m\t\"", std::string_view("r\0x", 3));
  simdjson::dom::element doc;
  ASSERT_EQ(parser.parse(json).get(doc), simdjson::SUCCESS) << json;
  std::string_view room;
  ASSERT_EQ(doc.at_pointer("/data/room").get_string().get(room), simdjson::SUCCESS);
  EXPECT_EQ(room, std::string_view("r\0x", 3));
  std::string_view message;
  ASSERT_EQ(doc.at_pointer("/data/message").get_string().get(message), simdjson::SUCCESS);
  EXPECT_EQ(message, "m\t\"");
}

}  // namespace
}  // namespace ringcast

namespace ringcast {
namespace {

TEST(Command, JoinWithSinceAndEpoch) {
  simdjson::dom::parser parser;
  Command cmd;
  auto run = [&](std::string_view text) {
    return parse_command(parser, reinterpret_cast<const uint8_t*>(text.data()), text.size(), cmd);
  };
  ASSERT_EQ(run(R"({"type":"JOIN","data":{"room":"r"}})"), CommandError::none);
  EXPECT_FALSE(cmd.has_since) << "go-push's JOIN: no recovery";
  ASSERT_EQ(run(R"({"type":"JOIN","data":{"room":"r","since":0}})"), CommandError::none);
  EXPECT_TRUE(cmd.has_since);
  EXPECT_EQ(cmd.since, 0u);
  ASSERT_EQ(run(R"({"type":"JOIN","data":{"room":"r","since":18446744073709551615,"epoch":"00ff"}})"),
            CommandError::none);
  EXPECT_EQ(cmd.since, UINT64_MAX);
  EXPECT_EQ(cmd.epoch, "00ff");
  EXPECT_EQ(cmd.room, "r");
  for (std::string_view bad : {R"({"type":"JOIN","data":{"room":"r","since":-1}})",
                               R"({"type":"JOIN","data":{"room":"r","since":1.5}})",
                               R"({"type":"JOIN","data":{"room":"r","since":"7"}})",
                               R"({"type":"JOIN","data":{"room":"r","since":1,"epoch":7}})"}) {
    EXPECT_EQ(run(bad), CommandError::bad_since) << bad;
  }
  ASSERT_EQ(run(R"({"type":"JOIN","data":{"room":"r","since":null}})"), CommandError::none);
  EXPECT_TRUE(cmd.has_since);
  EXPECT_TRUE(cmd.since_now) << "null: only the position, nothing replayed";
  ASSERT_EQ(run(R"({"type":"JOIN","data":{"room":"r","since":3}})"), CommandError::none);
  EXPECT_FALSE(cmd.since_now);
  // LEAVE ignores them.
  ASSERT_EQ(run(R"({"type":"LEAVE","data":{"room":"r","since":"x"}})"), CommandError::none);
  EXPECT_FALSE(cmd.has_since);
}

TEST(Command, JoinedMarker) {
  EXPECT_EQ(joined_command_json("a\"b", 42, "0123456789abcdef", true),
            R"({"type":"JOINED","data":{"room":"a\"b","seq":42,"epoch":"0123456789abcdef","recovered":true}})");
  EXPECT_EQ(joined_command_json("r", 0, "e", false),
            R"({"type":"JOINED","data":{"room":"r","seq":0,"epoch":"e","recovered":false}})");
}

}  // namespace
}  // namespace ringcast
