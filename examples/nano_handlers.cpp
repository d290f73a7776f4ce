// An application serving Nano/Pomelo clients through the embedding API (docs/nano.md, docs/embedding.md):
// it checks each Pomelo handshake's "user" (a hook), and registers a handler for the route "echo.say"
// that answers a request with its payload and the caller's uid, plus "echo.whoami" that answers nothing
// (the engine then answers {"code":500,"error":"no_reply"} so the client does not wait forever).
// Clients connect to the printed ws://.../nano URL; stops on SIGINT/SIGTERM.
#include <signal.h>

#include <cstdio>
#include <string>

#include "engine/config.h"
#include "engine/engine.h"

int main() {
  ringcast::Config config;
  config.listen = {"127.0.0.1", 0, true};
  config.api = {"127.0.0.1", 0, true};
  config.threads = 2;
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  ringcast::Engine engine(config);
  // Handshakes whose user says {"banned":true} are refused ({"code":501}, then a kick with the reason).
  engine.authorize_nano_handshake(
      [](ringcast::Session&, const ringcast::NanoHandshake& handshake, std::string& reason) {
        if (handshake.user_json.find("\"banned\":true") != std::string_view::npos) {
          reason = "banned";
          return false;
        }
        return true;
      });
  engine.handle("echo.say", [](ringcast::Session& session, const ringcast::ClientMessage& message) {
    // A request gets this as its response (same message id); a notify gets it as a push on the route.
    std::string answer = R"({"code":0,"route":")" + std::string(message.type) + R"(","uid":")" +
                         std::string(session.uid()) + R"(","echo":)" + std::string(message.data) + "}";
    session.reply(answer);
    session.send("onEcho", R"({"pushed":true})");  // a push on another route, after the response
  });
  engine.handle("echo.whoami", [](ringcast::Session&, const ringcast::ClientMessage&) {});
  std::string error;
  if (!engine.start(error)) {
    std::fprintf(stderr, "nano_handlers: cannot start: %s\n", error.c_str());
    return 1;
  }
  std::printf("nano_handlers: serving ws://127.0.0.1:%u/nano\n", engine.client_port());
  std::fflush(stdout);
  int sig = 0;
  sigwait(&signals, &sig);
  engine.stop();
  engine.wait();
  std::printf("nano_handlers: stopped\n");
  return 0;
}
