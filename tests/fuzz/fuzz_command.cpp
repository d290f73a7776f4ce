// libFuzzer target: the go-push command parser on arbitrary bytes, and the ERROR answer built from
// whatever room it returns. Invariants: a JOIN/LEAVE carries a non-empty room inside the document;
// the ERROR answer is always valid JSON (checked by parsing it again).
#include <cstddef>
#include <cstdint>
#include <string>

#include "engine/base/check.h"
#include "engine/codec/command.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static simdjson::dom::parser parser;
  static simdjson::dom::parser checker;
  ringcast::Command cmd;
  const auto err = ringcast::parse_command(parser, data, size, cmd);
  if (err == ringcast::CommandError::none &&
      (cmd.type == ringcast::CommandType::join || cmd.type == ringcast::CommandType::leave)) {
    RC_ASSERT(!cmd.room.empty());
    const std::string answer = ringcast::error_command_json("bad_room", "fuzz", cmd.room);
    simdjson::dom::element doc;
    RC_ASSERT(!checker.parse(answer).get(doc));
  }
  return 0;
}
