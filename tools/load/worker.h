// A ringcast-load worker process: one io_uring event loop over its slice of the connections
// (global index i = local * processes + worker). It connects them at the planned rate, upgrades and
// joins, answers the server, checks and times every item that arrives, and (--reconnect-every) drops
// connections and resumes them with JOIN since; its counters and histograms live in its WorkerBlock
// of the shared mapping.
#pragma once

#include <cstdint>

#include "tools/load/options.h"
#include "tools/load/shared.h"

namespace ringcast::load {

// Runs until the parent moves the run to Phase::finishing (then writes the end-of-run accounting)
// and returns the process exit code.
int run_worker(const Options& options, const Shared& shared, uint32_t worker_index);

}  // namespace ringcast::load
