// Micro-benchmarks for the HTTP side of both ports: a whole WebSocket upgrade (parse + check + 101),
// a push-API form POST, and the SHA-1 behind the accept key. Per operation, single thread.
#include <benchmark/benchmark.h>

#include <string>
#include <string_view>

#include "engine/codec/form.h"
#include "engine/codec/handshake.h"
#include "engine/codec/http.h"
#include "engine/codec/sha1.h"

namespace {

using namespace ringcast;

// What Chrome sends for new WebSocket("ws://localhost:8080/ws?room=lobby"): 12 headers, ~500 bytes.
constexpr std::string_view kBrowserUpgrade =
    "GET /ws?room=lobby HTTP/1.1\r\n"
    "Host: localhost:8080\r\n"
    "Connection: Upgrade\r\n"
    "Pragma: no-cache\r\n"
    "Cache-Control: no-cache\r\n"
    "User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Safari/537.36\r\n"
    "Upgrade: websocket\r\n"
    "Origin: http://localhost:8080\r\n"
    "Sec-WebSocket-Version: 13\r\n"
    "Accept-Encoding: gzip, deflate, br\r\n"
    "Accept-Language: en-US,en;q=0.9\r\n"
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n"
    "\r\n";

constexpr std::string_view kPushPost =
    "POST /push/room HTTP/1.1\r\n"
    "Host: localhost:8081\r\n"
    "User-Agent: curl/7.88.1\r\n"
    "Accept: */*\r\n"
    "Content-Type: application/x-www-form-urlencoded\r\n"
    "Content-Length: 54\r\n"
    "\r\n"
    "room=lobby&msg=%7B%22price%22%3A101.25%2C%22qty%22%3A3";

void BM_UpgradeHandshake(benchmark::State& state) {
  http::Request req;
  std::string scratch;
  const http::Limits limits;
  for (auto _ : state) {
    const http::ParseResult r = http::parse_request(kBrowserUpgrade, limits, req, scratch);
    const handshake::UpgradeCheck c = handshake::check_upgrade(req);
    if (r.status != http::ParseStatus::complete || !c.ok) state.SkipWithError("upgrade rejected");
    std::string response = handshake::build_switching_protocols(c.key);
    benchmark::DoNotOptimize(response.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * kBrowserUpgrade.size()));
  state.counters["request_bytes"] = static_cast<double>(kBrowserUpgrade.size());
}
BENCHMARK(BM_UpgradeHandshake);

void BM_ParseUpgradeOnly(benchmark::State& state) {
  http::Request req;
  std::string scratch;
  const http::Limits limits;
  for (auto _ : state) {
    const http::ParseResult r = http::parse_request(kBrowserUpgrade, limits, req, scratch);
    benchmark::DoNotOptimize(r);
    benchmark::DoNotOptimize(handshake::check_upgrade(req));
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * kBrowserUpgrade.size()));
}
BENCHMARK(BM_ParseUpgradeOnly);

void BM_ParsePushPost(benchmark::State& state) {
  http::Request req;
  std::string scratch;
  std::string room;
  std::string msg;
  const http::Limits limits;
  for (auto _ : state) {
    const http::ParseResult r = http::parse_request(kPushPost, limits, req, scratch);
    bool malformed = false;
    const bool ok = r.status == http::ParseStatus::complete &&
                    form::field(req.body, "room", room, malformed) &&
                    form::field(req.body, "msg", msg, malformed);
    if (!ok) state.SkipWithError("push request rejected");
    benchmark::DoNotOptimize(msg.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * kPushPost.size()));
}
BENCHMARK(BM_ParsePushPost);

void BM_Sha1_60B(benchmark::State& state) {
  // A 24-character key plus the 36-character GUID: exactly what accept_key() hashes.
  const std::string input = "dGhlIHNhbXBsZSBub25jZQ==258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
  for (auto _ : state) benchmark::DoNotOptimize(sha1(input));
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * input.size()));
}
BENCHMARK(BM_Sha1_60B);

}  // namespace

BENCHMARK_MAIN();
