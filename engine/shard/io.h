// The shard's I/O seam, chosen at build time: io_uring (uring_io.h) in the server, the deterministic
// simulator's network (sim_io.h) when the engine is compiled with RINGCAST_SIM (the `sim` test suite).
// No virtual call on the hot path either way. Also the one encoding of what an operation's completion
// carries back (its user_data): the operation, the connection's slot generation and its id.
#pragma once

#include <cstdint>

#ifdef RINGCAST_SIM
#include "engine/shard/sim_io.h"
#else
#include "engine/shard/uring_io.h"
#endif

namespace ringcast {

#ifdef RINGCAST_SIM
using Io = SimIo;
#else
using Io = UringIo;
#endif

enum class Op : uint8_t { accept_client = 1, accept_api, recv, send, wake };

// Every operation on a connection carries the slot's generation (24 bits) so its completion always
// finds the connection it was issued for.
inline uint64_t user_data(Op op, uint32_t generation, uint32_t id) {
  return (static_cast<uint64_t>(op) << 56) | (static_cast<uint64_t>(generation & 0xFFFFFF) << 32) | id;
}
inline Op user_data_op(uint64_t ud) {
  return static_cast<Op>(ud >> 56);
}
inline uint32_t user_data_generation(uint64_t ud) {
  return static_cast<uint32_t>(ud >> 32) & 0xFFFFFF;
}
inline uint32_t user_data_id(uint64_t ud) {
  return static_cast<uint32_t>(ud);
}

}  // namespace ringcast
