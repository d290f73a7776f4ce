// Test helper: a server PUSH frame taken apart (header checked, then the items array, the room and the
// seq of the suffix), for tests that check what the fan-out and the replay build. No std::regex: g++ 12
// warns inside it under the sanitizer build's -O2.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <string_view>

#include "engine/broadcast/publish.h"

namespace ringcast::testing_push {

struct PushParts {
  std::string items;  // "[...]"
  std::string room;   // as written (JSON-escaped); empty for push/all
  uint64_t seq = 0;
};

inline PushParts parse_push_frame(const uint8_t* data, size_t len) {
  PushParts out;
  EXPECT_GE(len, 2u);
  if (len < 2) return out;
  EXPECT_EQ(data[0], 0x81) << "FIN + text";
  uint64_t payload_len = data[1] & 0x7F;
  size_t header = 2;
  if (payload_len == 126) {
    payload_len = (uint64_t{data[2]} << 8) | data[3];
    header = 4;
  } else if (payload_len == 127) {
    payload_len = 0;
    for (int i = 0; i < 8; ++i) payload_len = (payload_len << 8) | data[2 + i];
    header = 10;
  }
  EXPECT_EQ(header + payload_len, len);
  const std::string_view payload(reinterpret_cast<const char*>(data) + header, payload_len);
  EXPECT_EQ(payload.substr(0, kPushPrefix.size()), kPushPrefix) << payload;
  const size_t seq_at = payload.rfind(R"(,"seq":)");
  if (seq_at == std::string_view::npos || payload.size() < 2 || payload.substr(payload.size() - 2) != "}}") {
    ADD_FAILURE() << "no PUSH suffix in " << payload;
    return out;
  }
  const std::string_view digits = payload.substr(seq_at + 7, payload.size() - 2 - (seq_at + 7));
  for (char c : digits) EXPECT_TRUE(c >= '0' && c <= '9') << payload;
  out.seq = std::stoull(std::string(digits));
  size_t items_end = seq_at;  // the ']' that closes the items
  const size_t room_at = payload.rfind(R"(],"room":")", seq_at);
  if (room_at != std::string_view::npos && room_at >= kPushPrefix.size() - 1) {
    out.room = std::string(payload.substr(room_at + 10, seq_at - 1 - (room_at + 10)));
    items_end = room_at;
  } else {
    EXPECT_EQ(payload[seq_at - 1], ']') << payload;
    items_end = seq_at - 1;
  }
  const std::string_view items = payload.substr(kPushPrefix.size(), items_end - kPushPrefix.size());
  out.items.reserve(items.size() + 2);
  out.items.push_back('[');
  out.items.append(items.data(), items.size());
  out.items.push_back(']');
  return out;
}

inline PushParts parse_push_frame(const std::string& frame) {
  return parse_push_frame(reinterpret_cast<const uint8_t*>(frame.data()), frame.size());
}

}  // namespace ringcast::testing_push
