// The smallest application that embeds the engine (docs/embedding.md): it starts a
// ringcast::Engine on loopback (port 0 unless --port: the kernel picks), publishes a tick into room
// "ticks" from its own main thread every second, and stops cleanly on SIGINT/SIGTERM or after
// --seconds N, printing the room's member count (presence) each tick. Clients connect to the printed ws:// URL and send {"type":"JOIN","data":{"room":"ticks"}}.
#include <signal.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <string>

#include "engine/config.h"
#include "engine/engine.h"

int main(int argc, char** argv) {
  long seconds = 0;  // 0: until a signal
  long port = 0;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (std::strcmp(argv[i], "--seconds") == 0) seconds = std::strtol(argv[i + 1], nullptr, 10);
    if (std::strcmp(argv[i], "--port") == 0) port = std::strtol(argv[i + 1], nullptr, 10);
  }

  ringcast::Config config;  // every default of `ringcast --help`; change what you need
  config.listen = {"127.0.0.1", static_cast<uint16_t>(port), true};
  config.api = {"127.0.0.1", 0, true};  // the HTTP push API too (or {.., false} for none)
  config.threads = 1;
  if (std::string problem = ringcast::validate(config); !problem.empty()) {
    std::fprintf(stderr, "embed: %s\n", problem.c_str());
    return 2;
  }

  // Signals are taken by this thread (sigtimedwait below); the engine's threads inherit the mask.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  ringcast::Engine engine(config);
  std::string error;
  if (!engine.start(error)) {
    std::fprintf(stderr, "embed: cannot start: %s\n", error.c_str());
    return 1;
  }
  std::printf(
      "embed: serving ws://127.0.0.1:%u/connect (JOIN room \"ticks\"), push API http://127.0.0.1:%u, "
      "%u shard(s)\n",
      engine.client_port(), engine.api_port(), engine.shard_count());
  std::fflush(stdout);

  for (long tick = 1; seconds == 0 || tick <= seconds; ++tick) {
    const timespec one_second{1, 0};
    if (sigtimedwait(&signals, nullptr, &one_second) > 0) break;
    // Any thread may publish: the item must be a JSON array; it is validated and encoded once.
    const std::string items = "[{\"tick\":" + std::to_string(tick) + "}]";
    const ringcast::PublishOutcome out = engine.publish_room("ticks", items);
    if (out.error != ringcast::PublishError::none) {
      std::printf("embed: tick %ld refused: %.*s\n", tick,
                  static_cast<int>(ringcast::publish_error_text(out.error).size()),
                  ringcast::publish_error_text(out.error).data());
    } else {
      const ringcast::StatsTotals stats = engine.stats();
      std::printf(
          "embed: tick %ld published as seq %llu; %lld connection(s), %lld item(s) delivered so far\n", tick,
          static_cast<unsigned long long>(out.seq),
          static_cast<long long>(stats.get(ringcast::Counter::ws_open)),
          static_cast<long long>(stats.get(ringcast::Counter::items_delivered)));
      // Presence, asked of every shard from this (non-shard) thread.
      ringcast::PresencePage page;
      if (engine.room_presence("ticks", page))
        std::printf("embed: room ticks has %llu member(s)\n", static_cast<unsigned long long>(page.members));
    }
    std::fflush(stdout);
  }

  engine.stop();  // clients get close 1001; returns at once
  engine.wait();  // the shards have drained
  std::printf("embed: stopped\n");
  return 0;
}
