// ringcast-load's publisher process: after the hold it POSTs the planned items over a few HTTP/1.1
// keep-alive connections with pipelining, paced to --publish-rate, and records what was sent and
// what the server accepted, per room, in the shared mapping (the workers' loss accounting uses it).
#pragma once

#include <cstdint>

#include "tools/load/options.h"
#include "tools/load/shared.h"

namespace ringcast::load {

// Waits for Phase::publishing, publishes, waits for every answer, sets publisher_done and returns
// the process exit code.
int run_publisher(const Options& options, const Shared& shared);

// Writes the JSON text of one item, [room_index,seq,t_ns,"xxx…"], padded so that the whole text is
// payload_bytes long (or as short as possible when payload_bytes is smaller than the numbers).
void append_item(std::string& out, uint32_t room_index, uint64_t seq, uint64_t t_ns, uint32_t payload_bytes);

// Writes [room_index,seq,t_ns,{"uid":U,"name":"N","text":"T","color":C,"ts":S}]: a chat message of
// 50..300 bytes (the object; most of them short), everything but t_ns drawn from room_index and seq,
// so that every run (and every server compared) carries the same texts. No character in it needs
// escaping in JSON; none is '&', '+', '%' or '=' either, so it also goes into a form body unencoded.
void append_danmaku_item(std::string& out, uint32_t room_index, uint64_t seq, uint64_t t_ns);

}  // namespace ringcast::load
