// Micro-benchmarks for engine/ring and engine/publish: a publish (validate, minify, encode, claim,
// commit) consumed by one consumer, and the raw claim+commit path from one and two threads.
// Figures, never assertions.
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>

#include "engine/broadcast/publish.h"
#include "engine/broadcast/ring.h"
#include "engine/node/shm.h"

namespace {

using ringcast::Publisher;
using ringcast::PublishError;
using ringcast::Ring;
using ringcast::RingClaim;
using ringcast::RingEntry;
using ringcast::SharedRegion;
using ringcast::Target;

std::unique_ptr<SharedRegion> make_region(size_t bytes) {
  auto region = std::make_unique<SharedRegion>();
  std::string error;
  if (!region->create(bytes, error)) {
    std::fprintf(stderr, "%s\n", error.c_str());
    std::abort();
  }
  return region;
}

// An items array of exactly `bytes` bytes (already minified): [{"id":1234,"msg":"mmm..."}].
std::string items_of(size_t bytes) {
  const std::string head = R"([{"id":1234,"msg":")";
  const std::string tail = R"("}])";
  std::string items = head;
  items.append(bytes - head.size() - tail.size(), 'm');
  items += tail;
  return items;
}

// Publish into a room + consume with one consumer that releases each entry at once.
void BM_PublishConsume(benchmark::State& state) {
  auto region = make_region(16 << 20);
  Ring ring = region->ring();
  uint64_t pos = 0, seq = 0;
  ring.attach(0, -1, pos, seq);
  Publisher publisher({128});
  const std::string items = items_of(static_cast<size_t>(state.range(0)));
  uint64_t item_count = 0;
  for (auto _ : state) {
    auto out = publisher.publish(ring, Target::room, "bench-room", items);
    if (out.error != PublishError::none) state.SkipWithError("publish failed");
    item_count += out.item_count;
    const RingEntry* e = ring.peek(pos, seq);
    benchmark::DoNotOptimize(e->frame()[e->frame_len - 1]);
    pos += e->size;
    ++seq;
    ring.slot(0).held_pos.store(pos, std::memory_order_release);
  }
  state.SetItemsProcessed(static_cast<int64_t>(item_count));
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * items.size()));
  state.counters["publishes/s"] = benchmark::Counter(static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
  state.SetLabel(std::to_string(items.size()) + " B items array");
}
BENCHMARK(BM_PublishConsume)->Arg(64)->Arg(512);

// The raw producer path: claim 64 or 256 bytes, write the header, commit (with one active consumer
// that keeps up, so the ring never fills). With two threads the claims contend on the head.
SharedRegion* g_region = nullptr;

void BM_ClaimCommit(benchmark::State& state) {
  if (state.thread_index() == 0) {
    g_region = make_region(64 << 20).release();
    Ring ring = g_region->ring();
    uint64_t pos = 0, seq = 0;
    ring.attach(0, -1, pos, seq);
    // The consumer is "infinitely fast": its held position follows the head (set below).
  }
  // Google Benchmark runs the per-thread setup above before any thread enters the loop.
  const uint32_t size = static_cast<uint32_t>(state.range(0));
  for (auto _ : state) {
    Ring ring = g_region->ring();
    RingClaim claim;
    while (!ring.try_claim(size, claim)) {
      // Full: play the consumer and let everything go.
      uint64_t head = 0, next = 0;
      ring.read_head(head, next);
      ring.slot(0).held_pos.store(head, std::memory_order_release);
    }
    RingEntry* e = claim.entry;
    e->frame_offset = 48;
    e->frame_len = size - 48;
    e->room_len = 0;
    e->target = Target::all;
    ring.commit(claim);
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
  if (state.thread_index() == 0) {
    delete g_region;
    g_region = nullptr;
  }
}
BENCHMARK(BM_ClaimCommit)->Arg(64)->Arg(256)->Threads(1)->Threads(2)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
