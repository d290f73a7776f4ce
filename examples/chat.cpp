// A chat room server on the embedding API (docs/embedding.md): the engine does the connections, rooms
// and fan-out; the application adds a JOIN rule (rooms "chat-*" only), two message types (NICK sets a
// name, SAY posts into a room the client is in) and a lifecycle (a goodbye to everyone before
// shutdown). Clients speak the go-push protocol: {"type":"JOIN","data":{"room":"chat-lobby"}},
// {"type":"NICK","data":{"name":"ann"}}, {"type":"SAY","data":{"room":"chat-lobby","text":"hi"}}.
#include <signal.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <memory>
#include <unordered_map>

#include "engine/engine.h"
#include "engine/codec/json_writer.h"
#include "engine/base/json.h"

namespace {

// Handlers run on the shard threads, several at once: shared state takes a lock.
class Chat : public ringcast::Component {
 public:
  void install(ringcast::Engine& engine) {
    engine.add_component(std::shared_ptr<Chat>(this, [](Chat*) {}));
    engine.authorize_join([](ringcast::Session&, std::string_view room, std::string& reason) {
      if (room.rfind("chat-", 0) == 0) return true;
      reason = "only rooms named chat-* exist here";
      return false;
    });
    engine.handle("NICK", [this](ringcast::Session& s, const ringcast::ClientMessage& m) { nick(s, m); });
    engine.handle("SAY", [this, &engine](ringcast::Session& s, const ringcast::ClientMessage& m) { say(engine, s, m); });
  }

  void after_init(ringcast::Engine& engine) override {
    std::printf("chat: serving ws://127.0.0.1:%u/connect, push API http://127.0.0.1:%u\n", engine.client_port(),
                engine.api_port());
    std::fflush(stdout);
  }
  void before_shutdown(ringcast::Engine& engine) override {
    engine.publish_all(R"([{"from":"server","text":"going down, bye"}])");
  }
  void shutdown(ringcast::Engine& engine) override {
    std::printf("chat: stopped after %lld messages, %lld items delivered\n", said_.load(),
                static_cast<long long>(engine.stats().get(ringcast::Counter::items_delivered)));
  }

 private:
  void nick(ringcast::Session& s, const ringcast::ClientMessage& m) {
    simdjson::dom::parser parser;
    std::string_view name;
    if (parser.parse(m.data)["name"].get_string().get(name) || name.empty() || name.size() > 32)
      return s.error("bad_name", "data.name: 1 to 32 bytes");
    std::lock_guard lock(mutex_);
    names_[s.id()] = std::string(name);  // (a real server would forget it when the connection closes)
    s.reply(R"({"ok":true})");
  }

  void say(ringcast::Engine& engine, ringcast::Session& s, const ringcast::ClientMessage& m) {
    simdjson::dom::parser parser;
    std::string_view room, text;
    simdjson::dom::element doc;
    if (parser.parse(m.data).get(doc) || doc["room"].get_string().get(room) || doc["text"].get_string().get(text) ||
        text.empty())
      return s.error("bad_say", "data.room and a non-empty data.text are needed");
    if (!s.in_room(room)) return s.error("not_in_room", "JOIN the room first");
    std::string from;
    {
      std::lock_guard lock(mutex_);
      auto it = names_.find(s.id());
      from = it != names_.end() ? it->second : "guest-" + std::to_string(s.id() & 0xFFFF);
    }
    std::string items;
    ringcast::JsonWriter json(items);
    json.begin_array().begin_object();
    json.key("from").string(from).key("text").string(text);
    json.end_object().end_array();
    const ringcast::PublishOutcome out = engine.publish_room(room, items);
    if (out.error != ringcast::PublishError::none) return s.error("refused", ringcast::publish_error_text(out.error));
    ++said_;
    std::string reply;
    ringcast::JsonWriter json_reply(reply);
    json_reply.begin_object().key("ok").boolean(true).key("seq").number(out.seq).end_object();
    s.reply(reply);
  }

  std::mutex mutex_;
  std::unordered_map<uint64_t, std::string> names_;
  std::atomic<long long> said_{0};
};

}  // namespace

int main(int argc, char** argv) {
  ringcast::Config config;
  config.listen = {"127.0.0.1", static_cast<uint16_t>(argc > 1 ? std::atoi(argv[1]) : 0), true};
  config.api = {"127.0.0.1", 0, true};
  config.threads = 2;
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);  // the engine's threads inherit the mask
  signal(SIGPIPE, SIG_IGN);

  ringcast::Engine engine(config);
  Chat chat;
  chat.install(engine);
  std::string error;
  if (!engine.start(error)) {
    std::fprintf(stderr, "chat: cannot start: %s\n", error.c_str());
    return 1;
  }
  int signal_number = 0;
  sigwait(&signals, &signal_number);
  engine.stop();  // before_shutdown, then close 1001 to every client
  engine.wait();  // shutdown
  return 0;
}
