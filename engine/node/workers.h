// Multi-process mode (`ringcast --workers W`): a supervising parent sets up the node (shared region,
// every shard's listeners and eventfds), forks W workers that each run their shards as threads, and
// restarts a worker that dies. This is how one machine goes past the per-process open-files limit:
// connections spread over all shards of all workers through SO_REUSEPORT, and a publish accepted by
// any worker reaches members in every worker through the shared ring.
#pragma once

#include <cstdint>

#include "engine/config.h"

namespace ringcast {

// Runs the supervisor until SIGTERM/SIGINT and every worker has drained. Returns the exit code.
int run_workers(Config config);

}  // namespace ringcast
