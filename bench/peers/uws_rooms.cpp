// uws_rooms: the uWebSockets broadcast peer with several rooms, for bench/compare.sh's rooms5 scenario
// (each connection in 5 rooms, each item published to all 5). The peer in ../shared/peers/uws
// subscribes every connection to one topic only; this file is compiled against the same pinned
// sources by bench/lib.sh's build_uws_peer (the sources stay outside the project) with the same settings.
//
//   uws_rooms PORT HOST TOPICS        TOPICS: comma-separated, e.g. r0,r1,r2,r3,r4
//   ws://HOST:PORT/ws                 every connection is subscribed to every topic of TOPICS on open;
//                                     text it sends (a go-push JOIN) is ignored
//   POST http://HOST:PORT/push/TOPIC  the body is published to TOPIC as one text message; 200 {"ok":true}
//
// Prints "listening PORT" once listening; messages dropped over maxBackpressure are reported on stderr
// ("dropped N total"), and such a run is not comparable.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "App.h"

namespace {

struct PerSocketData {};

uWS::App* g_app = nullptr;
std::vector<std::string> g_topics;
uint64_t g_dropped = 0;
uint64_t g_dropped_reported = 0;

}  // namespace

int main(int argc, char** argv) {
  if (argc < 4) {
    std::fprintf(stderr, "usage: %s PORT HOST TOPIC[,TOPIC...]\n", argv[0]);
    return 2;
  }
  const int port = std::atoi(argv[1]);
  const std::string host = argv[2];
  std::string list = argv[3];
  for (size_t at = 0; at <= list.size();) {
    const size_t comma = list.find(',', at);
    const std::string t = list.substr(at, comma == std::string::npos ? std::string::npos : comma - at);
    if (!t.empty()) g_topics.push_back(t);
    if (comma == std::string::npos) break;
    at = comma + 1;
  }

  uWS::App app;
  g_app = &app;
  // The settings of ../shared/peers/uws/uws_broadcast.cpp, so that the two peers differ only in rooms.
  app.ws<PerSocketData>("/ws", {
                                   .compression = uWS::DISABLED,
                                   .maxPayloadLength = 64 * 1024,
                                   .idleTimeout = 0,
                                   .maxBackpressure = 64 * 1024 * 1024,
                                   .closeOnBackpressureLimit = false,
                                   .resetIdleTimeoutOnSend = false,
                                   .sendPingsAutomatically = false,
                                   .open =
                                       [](auto* ws) {
                                         for (const std::string& t : g_topics) ws->subscribe(t);
                                       },
                                   .message = [](auto*, std::string_view, uWS::OpCode) {},
                                   .dropped = [](auto*, std::string_view, uWS::OpCode) { ++g_dropped; },
                               });

  app.post("/push/:topic", [](auto* res, auto* req) {
    auto topic = std::make_shared<std::string>(req->getParameter(0));
    auto buffer = std::make_shared<std::string>();
    res->onAborted([]() {});
    res->onData([res, topic, buffer](std::string_view chunk, bool fin) {
      if (!fin) {
        buffer->append(chunk);
        return;
      }
      if (buffer->empty()) {
        g_app->publish(*topic, chunk, uWS::OpCode::TEXT, false);  // the whole body in one chunk: no copy
      } else {
        buffer->append(chunk);
        g_app->publish(*topic, *buffer, uWS::OpCode::TEXT, false);
      }
      res->writeHeader("Content-Type", "application/json");
      res->end("{\"ok\":true}");
    });
  });
  app.any("/*", [](auto* res, auto*) { res->writeStatus("404 Not Found")->end("not found"); });

  app.listen(host, port, [port](us_listen_socket_t* ls) {
    if (!ls) {
      std::cerr << "failed to listen on port " << port << std::endl;
      std::exit(1);
    }
    std::cout << "listening " << port << std::endl;
  });

  us_timer_t* timer = us_create_timer(reinterpret_cast<us_loop_t*>(uWS::Loop::get()), 0, 0);
  us_timer_set(
      timer,
      [](us_timer_t*) {
        if (g_dropped == g_dropped_reported) return;
        std::fprintf(stderr, "dropped %llu total (subscriber over maxBackpressure)\n",
                     static_cast<unsigned long long>(g_dropped));
        g_dropped_reported = g_dropped;
      },
      1000, 1000);
  app.run();
  return 0;
}
