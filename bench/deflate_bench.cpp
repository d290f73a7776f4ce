// Micro-benchmarks for engine/codec/deflate: compressing one coalesced PUSH frame of danmaku chat
// items (what the deflate encoding does once per shard per frame) at zlib levels 1, 6 and 9, and
// inflating it (what a client does per message). Reports bytes in and out as counters, so the
// compression ratio sits beside the time. Figures, never assertions.
#include <benchmark/benchmark.h>

#include <cstdint>
#include <random>
#include <string>

#include "engine/codec/deflate.h"

namespace {

// A go-push PUSH frame's payload with `items` chat items of 50-300 bytes (fixed seed).
std::string chat_push(int items) {
  static const char* const kWords[] = {"lol",    "goal",    "what",  "a",    "save", "replay",
                                       "please", "666",     "gg",    "wow",  "that", "was",
                                       "close",  "referee", "again", "haha", "nice"};
  std::mt19937 rng(42);
  std::string s = R"({"type":"PUSH","data":{"items":[)";
  for (int i = 0; i < items; ++i) {
    if (i) s += ',';
    std::string text;
    const int words = 3 + static_cast<int>(rng() % 40);
    for (int w = 0; w < words; ++w) {
      if (w) text += ' ';
      text += kWords[rng() % (sizeof(kWords) / sizeof(kWords[0]))];
    }
    s += R"({"uid":)" + std::to_string(100000 + rng() % 900000) + R"(,"name":"viewer_)" +
         std::to_string(rng() % 10000) + R"(","text":")" + text + R"(","color":)" +
         std::to_string(rng() % 16777216) + R"(,"ts":)" + std::to_string(1764700000000ull + rng() % 100000) +
         "}";
  }
  return s + R"(],"room":"live","seq":123456}})";
}

void BM_Deflate(benchmark::State& state) {
  const std::string payload = chat_push(static_cast<int>(state.range(1)));
  ringcast::deflate::Deflater deflater(static_cast<int>(state.range(0)));
  std::string out;
  for (auto _ : state) {
    deflater.compress(payload, out);
    benchmark::DoNotOptimize(out.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * payload.size()));
  state.counters["in_bytes"] = static_cast<double>(payload.size());
  state.counters["out_bytes"] = static_cast<double>(out.size());
  state.counters["ratio"] = static_cast<double>(payload.size()) / static_cast<double>(out.size());
}
// (level, items per frame): a single item, a small merge, a busy room's batch (merge_batch_items_max).
BENCHMARK(BM_Deflate)->ArgsProduct({{1, 6, 9}, {1, 10, 100}});

void BM_Inflate(benchmark::State& state) {
  const std::string payload = chat_push(static_cast<int>(state.range(0)));
  ringcast::deflate::Deflater deflater(6);
  std::string compressed;
  deflater.compress(payload, compressed);
  ringcast::deflate::Inflater inflater;
  for (auto _ : state) {
    inflater.inflate(reinterpret_cast<const uint8_t*>(compressed.data()), compressed.size(), 1 << 20);
    benchmark::DoNotOptimize(inflater.output());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * payload.size()));
}
BENCHMARK(BM_Inflate)->Arg(1)->Arg(10)->Arg(100);

}  // namespace

BENCHMARK_MAIN();
