// Micro-benchmark of recovery's cost (engine/history): a reconnecting client's replay, read from the
// ring's history. The ring holds `missed` entries after the client's `since`, spread over `rooms` rooms
// round robin (64-byte items); the replay scans them all and copies the client's room's items into
// PUSH frames. Reported per replay, with the entries scanned and items replayed per second. Figures,
// never assertions.
#include <benchmark/benchmark.h>

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "engine/broadcast/history.h"
#include "engine/broadcast/publish.h"
#include "engine/node/shm.h"

namespace {

using namespace ringcast;

void BM_Replay(benchmark::State& state) {
  const uint64_t missed = static_cast<uint64_t>(state.range(0));
  const uint32_t rooms = static_cast<uint32_t>(state.range(1));
  SharedRegion region;
  std::string error;
  if (!region.create(64u << 20, error)) {
    std::fprintf(stderr, "%s\n", error.c_str());
    std::abort();
  }
  Ring ring = region.ring();
  Publisher publisher({128});
  const std::string items = R"([{"id":1234,"msg":"mmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmm"}])";
  std::vector<std::string> names;
  for (uint32_t r = 0; r < rooms; ++r) names.push_back("room-" + std::to_string(r));
  const uint64_t since = publisher.publish(ring, Target::room, names[0], items).seq;
  uint64_t until = since;
  for (uint64_t i = 0; i < missed; ++i) until = publisher.publish(ring, Target::room, names[i % rooms], items).seq;
  ReplayLimits limits;
  limits.items_max = 1000000;
  std::vector<ReplayFrame> frames;
  std::string scratch;
  uint64_t replayed = 0;
  for (auto _ : state) {
    frames.clear();
    if (!collect_replay(ring, names[0], since, until, limits, 0, frames, scratch)) state.SkipWithError("not recovered");
    benchmark::DoNotOptimize(frames.data());
    replayed = 0;
    for (const ReplayFrame& f : frames) replayed += f.second;
  }
  state.counters["items_replayed"] = static_cast<double>(replayed);
  state.counters["entries_scanned_per_s"] =
      benchmark::Counter(static_cast<double>(missed) * static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
}
// (missed entries, rooms): a short absence in a busy node, a long one, one room vs many.
BENCHMARK(BM_Replay)->Args({100, 1})->Args({1000, 1})->Args({10000, 1})->Args({10000, 100})->Args({100000, 1000})
    ->Unit(benchmark::kMicrosecond);

}  // namespace

BENCHMARK_MAIN();
