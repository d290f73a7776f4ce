// Micro-benchmarks for engine/fanout + engine/frames against a null I/O: one drain of the ring fans a
// room's frame out to every member's OutQueue, then a "flush" gathers each queue and completes it in
// full, as if the kernel took every byte. Reports the cost per member delivery, for one entry per
// drain (zero copy: the ring frame itself), for 10 entries per drain (one coalesced frame), and for 14
// entries per drain with --merge-batch-items-max 1 (one frame per entry: the per-frame path, where
// every member queues, gathers and retires each frame).
// Figures, never assertions.
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "engine/broadcast/fanout.h"
#include "engine/node/shm.h"

namespace {

using namespace ringcast;

struct NullIoShard {
  SharedRegion region;
  Ring ring;
  Frames frames;
  RoomIndex rooms;
  ShardStats stats;
  std::unique_ptr<Fanout> fanout;
  Publisher publisher{PublishRules{128}};
  std::vector<OutQueue> queues;
  std::vector<uint32_t> flush_list;  // connections with something queued, as the shard keeps it
  std::vector<uint8_t> listed;

  NullIoShard(uint32_t members, uint32_t batch_items_max) : queues(members), listed(members, 0) {
    std::string error;
    if (!region.create(64 << 20, error)) {
      std::fprintf(stderr, "%s\n", error.c_str());
      std::abort();
    }
    ring = region.ring();
    stats.clear();
    rooms.reserve_conns(members);
    for (uint32_t c = 0; c < members; ++c) {
      bool created = false;
      rooms.join(c, "bench-room", created);
    }
    FanoutLimits limits;
    limits.batch_items_max = batch_items_max;
    fanout = std::make_unique<Fanout>(ring, frames, rooms, limits, &stats);
    fanout->attach(0, -1);
    flush_list.reserve(members);
  }

  // The shard's deliver: queue a reference, remember the connection for the flush.
  void operator()(uint32_t conn, const FrameId* ids, uint32_t n) {
    for (uint32_t i = 0; i < n; ++i) frames.enqueue(queues[conn], ids[i]);
    if (!listed[conn]) {
      listed[conn] = 1;
      flush_list.push_back(conn);
    }
  }

  void flush() {
    iovec iov[32];
    for (uint32_t conn : flush_list) {
      OutQueue& q = queues[conn];
      size_t total = 0;
      frames.gather(q, iov, 32, 256 * 1024, total);
      benchmark::DoNotOptimize(iov[0].iov_base);
      frames.complete(q, total);
      listed[conn] = 0;
    }
    flush_list.clear();
  }
};

// range(0): members; range(1): entries per drain for the room; range(2): merge_batch_items_max.
void BM_FanoutFlush(benchmark::State& state) {
  const auto members = static_cast<uint32_t>(state.range(0));
  const auto entries = static_cast<int>(state.range(1));
  const auto batch_items_max = static_cast<uint32_t>(state.range(2));
  NullIoShard shard(members, batch_items_max);
  const std::string items = R"([{"id":1234,"msg":"hello, room"}])";  // one item, ~60 B frame
  for (auto _ : state) {
    state.PauseTiming();
    for (int i = 0; i < entries; ++i)
      if (shard.publisher.publish(shard.ring, Target::room, "bench-room", items).error != PublishError::none)
        state.SkipWithError("publish failed");
    state.ResumeTiming();
    shard.fanout->drain(0, shard);
    shard.flush();
    shard.fanout->publish_held();
  }
  const double deliveries = static_cast<double>(state.iterations()) * members;
  // Seconds per member delivery (printed with an SI prefix: 13.4n is 13.4 ns), CPU time.
  state.counters["per_member"] =
      benchmark::Counter(deliveries, benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
  state.counters["member_deliveries/s"] = benchmark::Counter(deliveries, benchmark::Counter::kIsRate);
  state.counters["items/s"] = benchmark::Counter(deliveries * entries, benchmark::Counter::kIsRate);
  state.SetLabel(entries == 1           ? "1 entry/drain (ring frame)"
                 : batch_items_max == 1 ? std::to_string(entries) + " entries/drain (a frame each)"
                                        : std::to_string(entries) + " entries/drain (coalesced)");
  if (shard.frames.frames_live() != 0) state.SkipWithError("frames leaked");
}
BENCHMARK(BM_FanoutFlush)
    ->ArgsProduct({{1000, 10000, 100000}, {1, 10}, {100}})
    ->Args({19000, 14, 1})
    ->Args({19000, 14, 100})
    ->ArgNames({"members", "entries", "batch"})
    ->Unit(benchmark::kMicrosecond);

}  // namespace

BENCHMARK_MAIN();
