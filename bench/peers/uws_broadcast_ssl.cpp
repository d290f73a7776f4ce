// uws_broadcast_ssl: the uWebSockets broadcast peer (../shared/peers/uws/uws_broadcast.cpp) as an
// SSLApp, for bench/tls.sh: the same topic, push endpoint and settings, both over TLS (uSockets built
// WITH_OPENSSL=1 against the system's OpenSSL). bench/tls.sh builds it; its sources stay outside.
//
//   wss://HOST:PORT/ws         every connection is subscribed to topic "r" on open; any text it
//                              sends (e.g. {"type":"JOIN",...}) is ignored.
//   POST https://HOST:PORT/push
//                              the body is published as ONE text message to topic "r"; answers
//                              200 {"ok":true}.
//
// Usage: uws_broadcast_ssl PORT HOST CERT_FILE KEY_FILE [lowmem]
//   lowmem: uWS's ssl_prefer_low_memory_usage (SSL_MODE_RELEASE_BUFFERS: an idle connection's
//   record buffers are freed, as ringcast always does); off by default, uWS's own default.
// Prints "listening PORT" on stdout once the listen socket is up. Messages dropped over
// maxBackpressure (64 MiB) are reported on stderr at most once a second ("dropped N total").

#include "App.h"

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <string>
#include <string_view>

namespace {

struct PerSocketData {};

uWS::SSLApp* g_app = nullptr;
uint64_t g_dropped = 0;
uint64_t g_dropped_reported = 0;

}  // namespace

int main(int argc, char** argv) {
  if (argc < 5) {
    std::fprintf(stderr, "usage: %s PORT HOST CERT_FILE KEY_FILE [lowmem]\n", argv[0]);
    return 2;
  }
  const int port = std::atoi(argv[1]);
  const std::string host = argv[2];
  const std::string mode = argc > 5 ? argv[5] : "";
  if (!mode.empty() && mode != "lowmem") {
    std::fprintf(stderr, "the fifth argument is lowmem or nothing\n");
    return 2;
  }

  uWS::SSLApp app({
      .key_file_name = argv[4],
      .cert_file_name = argv[3],
      .ssl_prefer_low_memory_usage = mode == "lowmem" ? 1 : 0,
  });
  if (app.constructorFailed()) {
    std::fprintf(stderr, "cannot load the certificate %s or the key %s\n", argv[3], argv[4]);
    return 1;
  }
  g_app = &app;

  app.ws<PerSocketData>("/ws", {
      .compression = uWS::DISABLED,
      .maxPayloadLength = 64 * 1024,
      // 0 = no idle timeout and no automatic pings (as the plain peer)
      .idleTimeout = 0,
      .maxBackpressure = 64 * 1024 * 1024,
      .closeOnBackpressureLimit = false,
      .resetIdleTimeoutOnSend = false,
      .sendPingsAutomatically = false,
      .open = [](auto* ws) { ws->subscribe("r"); },
      .message = [](auto* /*ws*/, std::string_view /*msg*/, uWS::OpCode /*op*/) {},
      .dropped = [](auto* /*ws*/, std::string_view /*msg*/, uWS::OpCode /*op*/) { ++g_dropped; },
  });

  app.post("/push", [](auto* res, auto* /*req*/) {
    std::unique_ptr<std::string> buffer;
    res->onAborted([]() {});
    res->onData([res, buffer = std::move(buffer)](std::string_view chunk, bool isFin) mutable {
      if (isFin) {
        if (buffer) {
          buffer->append(chunk);
          g_app->publish("r", *buffer, uWS::OpCode::TEXT, false);
        } else {
          g_app->publish("r", chunk, uWS::OpCode::TEXT, false);
        }
        res->writeHeader("Content-Type", "application/json");
        res->end("{\"ok\":true}");
      } else {
        if (!buffer) {
          buffer = std::make_unique<std::string>();
          buffer->reserve(64 * 1024);
        }
        buffer->append(chunk);
      }
    });
  });

  app.any("/*", [](auto* res, auto* /*req*/) { res->writeStatus("404 Not Found")->end("not found"); });

  app.listen(host, port, [port](us_listen_socket_t* ls) {
    if (ls) {
      std::cout << "listening " << port << std::endl;
    } else {
      std::cerr << "failed to listen on port " << port << std::endl;
      std::exit(1);
    }
  });

  struct us_loop_t* loop = (struct us_loop_t*)uWS::Loop::get();
  struct us_timer_t* timer = us_create_timer(loop, 0, 0);
  us_timer_set(
      timer,
      [](struct us_timer_t*) {
        if (g_dropped != g_dropped_reported) {
          std::fprintf(stderr, "dropped %llu total (subscriber over maxBackpressure)\n",
                       (unsigned long long)g_dropped);
          g_dropped_reported = g_dropped;
        }
      },
      1000, 1000);

  app.run();
  return 0;
}
