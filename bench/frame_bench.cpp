// Micro-benchmarks for engine/frame: parsing masked client frames (whole and split across recv
// buffers), unmasking alone, UTF-8 validation and server header encoding. Figures, never assertions.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <vector>

#include "engine/codec/frame.h"
#include "engine/codec/utf8.h"

namespace {

using ringcast::ws::FrameParser;
using ringcast::ws::Opcode;
using ringcast::ws::ParseStatus;

struct CountingSink {
  size_t messages = 0;
  size_t bytes = 0;
  void on_message(Opcode, std::span<uint8_t> payload) {
    benchmark::DoNotOptimize(payload.data());
    ++messages;
    bytes += payload.size();
  }
  void on_compressed(Opcode, std::span<uint8_t>) { std::abort(); }
  void on_control(Opcode, std::span<uint8_t>) {}
  void on_error(uint16_t, std::string_view) { std::abort(); }
};

// Mixed ASCII and multi-byte text, so the UTF-8 validator cannot take only its ASCII shortcut.
std::vector<uint8_t> text_payload(size_t len) {
  static const char kPattern[] = "ringcast pushes \xC3\xA9v\xC3\xA9nements \xE2\x82\xAC ";
  std::vector<uint8_t> out;
  while (out.size() < len) out.push_back(static_cast<uint8_t>(kPattern[out.size() % (sizeof kPattern - 1)]));
  // The cut may fall inside a multi-byte character: blank its bytes.
  for (size_t i = out.size(); i-- > 0 && !ringcast::utf8_valid(out.data(), out.size());) out[i] = ' ';
  return out;
}

// A recv buffer's worth of frames. The mask key is zero: parsing unmasks in place, and a zero key
// leaves the bytes as they were, so the same buffer can be parsed on every iteration without a copy.
// unmask still XORs every byte (it does not look at the key's value), so the work measured is real.
std::vector<uint8_t> frames(size_t payload_bytes, size_t count) {
  const std::vector<uint8_t> payload = text_payload(payload_bytes);
  std::vector<uint8_t> out((payload.size() + 14) * count);
  size_t at = 0;
  for (size_t i = 0; i < count; ++i) {
    at += ringcast::ws::encode_client_frame(out.data() + at, Opcode::text, payload, 0);
  }
  out.resize(at);
  return out;
}

void parse_whole(benchmark::State& state) {
  const size_t payload_bytes = static_cast<size_t>(state.range(0));
  const size_t count = std::max<size_t>(1, (64 * 1024) / payload_bytes);
  std::vector<uint8_t> buffer = frames(payload_bytes, count);
  FrameParser parser;
  CountingSink sink;
  for (auto _ : state) {
    ParseStatus status = parser.feed(buffer.data(), buffer.size(), 1 << 20, sink);
    benchmark::DoNotOptimize(status);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * buffer.size()));
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * count));
}
BENCHMARK(parse_whole)->Name("parse_text_frames")->Arg(64)->Arg(16 * 1024);

// The spill path: each 16 KiB frame arrives in 4 KiB reads, so it is assembled in a heap buffer.
void parse_split(benchmark::State& state) {
  const size_t chunk_bytes = static_cast<size_t>(state.range(0));
  std::vector<uint8_t> buffer = frames(16 * 1024, 4);
  FrameParser parser;
  CountingSink sink;
  for (auto _ : state) {
    for (size_t at = 0; at < buffer.size(); at += chunk_bytes) {
      const size_t n = std::min(chunk_bytes, buffer.size() - at);
      ParseStatus status = parser.feed(buffer.data() + at, n, 1 << 20, sink);
      benchmark::DoNotOptimize(status);
    }
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * buffer.size()));
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * 4));
}
BENCHMARK(parse_split)->Name("parse_text_16KiB_in_chunks")->Arg(4096);

void unmask_only(benchmark::State& state) {
  std::vector<uint8_t> buffer(static_cast<size_t>(state.range(0)), 0x5A);
  const uint8_t key[4] = {0x12, 0x34, 0x56, 0x78};
  for (auto _ : state) {
    ringcast::ws::unmask(buffer.data(), buffer.size(), key, 1);
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * buffer.size()));
}
BENCHMARK(unmask_only)->Name("unmask")->Arg(64)->Arg(1024)->Arg(64 * 1024);

void utf8_validate(benchmark::State& state) {
  const std::vector<uint8_t> text = text_payload(static_cast<size_t>(state.range(0)));
  for (auto _ : state) {
    bool ok = ringcast::utf8_valid(text.data(), text.size());
    benchmark::DoNotOptimize(ok);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * text.size()));
}
BENCHMARK(utf8_validate)->Name("utf8_valid")->Arg(1024)->Arg(64 * 1024);

void encode_header(benchmark::State& state) {
  // Lengths of all three header forms, so the branch is not perfectly predicted.
  static const uint64_t kLengths[8] = {5, 64, 125, 126, 1000, 65535, 65536, 1 << 20};
  uint8_t out[ringcast::ws::kMaxServerHeaderBytes];
  size_t i = 0;
  for (auto _ : state) {
    size_t n = ringcast::ws::encode_server_header(out, Opcode::text, kLengths[i++ & 7]);
    benchmark::DoNotOptimize(n);
    benchmark::DoNotOptimize(out);
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}
BENCHMARK(encode_header)->Name("encode_server_header");

}  // namespace

BENCHMARK_MAIN();
