// Connection ids: packing and the strict decimal parser (the push API's `conn` field).
#include "engine/broadcast/users.h"

#include <charconv>

namespace ringcast {

uint64_t pack_conn_id(const ConnId& id) {
  return (static_cast<uint64_t>(id.shard & 0xFF) << 56) | (static_cast<uint64_t>(id.incarnation & 0xFF) << 48) |
         (static_cast<uint64_t>(id.generation & ((1u << kConnIdGenerationBits) - 1)) << kConnIdSlotBits) |
         (id.slot & ((1u << kConnIdSlotBits) - 1));
}

ConnId unpack_conn_id(uint64_t packed) {
  ConnId id;
  id.shard = static_cast<uint32_t>(packed >> 56);
  id.incarnation = static_cast<uint32_t>(packed >> 48) & 0xFF;
  id.generation = static_cast<uint32_t>(packed >> kConnIdSlotBits) & ((1u << kConnIdGenerationBits) - 1);
  id.slot = static_cast<uint32_t>(packed) & ((1u << kConnIdSlotBits) - 1);
  return id;
}

std::string format_conn_id(const ConnId& id) { return std::to_string(pack_conn_id(id)); }

bool parse_conn_id(std::string_view text, ConnId& out) {
  if (text.empty() || text.size() > 20 || (text.size() > 1 && text.front() == '0')) return false;
  for (char c : text)
    if (c < '0' || c > '9') return false;
  uint64_t v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || end != text.data() + text.size()) return false;
  out = unpack_conn_id(v);
  return true;
}

}  // namespace ringcast
