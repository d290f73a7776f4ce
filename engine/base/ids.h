// The one "no such thing" value of the engine's 32-bit ids (connections, frames, rooms, queue nodes,
// epochs): ids are indexes into per-shard tables, and every table leaves UINT32_MAX unused.
#pragma once

#include <cstdint>

namespace ringcast {

constexpr uint32_t kNil = UINT32_MAX;

}  // namespace ringcast
