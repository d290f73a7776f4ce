// ringcast::Engine: a node whose shards all run as threads of the calling process.
#include "engine/engine.h"

#include <time.h>
#include <unistd.h>

#include "engine/base/clock.h"
#include "engine/base/log.h"
#include "engine/node/bridge.h"

namespace ringcast {

uint32_t shards_per_process(const Config& config) {
  uint32_t n = config.threads ? config.threads : static_cast<uint32_t>(std::thread::hardware_concurrency());
  return n ? n : 1;
}

std::string fit_descriptor_budget(Config& config, uint32_t shards, uint32_t total_shards) {
  const uint64_t limit = raise_open_files_limit();
  const uint64_t fixed = fixed_descriptors(shards, total_shards);
  const uint64_t budget = limit > fixed ? (limit - fixed) / shards : 0;
  if (config.conns_per_shard_max == 0) {
    if (budget < 16) {
      return "the open-files limit (" + std::to_string(limit) + ") leaves no room for connections: raise it " +
             "(ulimit -n, systemd LimitNOFILE=; see tuning/)";
    }
    config.conns_per_shard_max = static_cast<uint32_t>(budget);
    return {};
  }
  if (config.conns_per_shard_max > budget) {
    return "conns_per_shard_max " + std::to_string(config.conns_per_shard_max) + " x " + std::to_string(shards) +
           " shards needs about " + std::to_string(config.conns_per_shard_max * uint64_t{shards} + fixed) +
           " open files, but this process may hold " + std::to_string(limit) +
           ": raise the limit (ulimit -n / systemd LimitNOFILE=, see tuning/), lower conns_per_shard_max to " +
           std::to_string(budget) + ", or spread the connections over more --workers";
  }
  return {};
}

Engine::Engine(Config config) : config_(std::move(config)) {}

Engine::~Engine() {
  if (started_) {
    stop();
    wait();
  }
}

bool Engine::handle(std::string type, MessageHandler fn) {
  if (type.empty() || type == "PING" || type == "JOIN" || type == "LEAVE" || type == "room.join" ||
      type == "room.message" || hooks_.handlers.count(type)) return false;
  hooks_.handlers.emplace(std::move(type), std::move(fn));
  return true;
}

bool Engine::start(std::string& error) {
  static std::atomic<uint64_t> starts{0};
  start_serial_ = starts.fetch_add(1, std::memory_order_relaxed) + 1;
  set_log_level(config_.log_level);
  stop_requested_ = false;
  for (auto& component : hooks_.components) component->init(*this);
  const bool hooked = hooks_.authorize_join || hooks_.authorize_nano_handshake || !hooks_.handlers.empty();
  config_.hooks = hooked ? &hooks_ : nullptr;
  const uint32_t shards = shards_per_process(config_);
  if (std::string problem = fit_descriptor_budget(config_, shards, shards); !problem.empty()) {
    error = problem;
    return false;
  }
  if (!node_.create(config_, shards, error)) return false;
  // The bridge is a ring consumer from before the first push can be accepted, so none is missed.
  if (node_.cluster()) {
    bridge_ = std::make_unique<Bridge>(node_.bridge_setup(config_, false));
    if (!bridge_->start(error)) {
      bridge_.reset();
      return false;
    }
    bridge_thread_ = std::thread([this] { bridge_->run(); });
  }
  if (!threads_.start(config_, node_, 0, shards, error)) {
    stop_bridge();
    return false;
  }
  started_ = true;
  for (auto& component : hooks_.components) component->after_init(*this);
  return true;
}

void Engine::stop_bridge() {
  if (!bridge_) return;
  node_.stop_bridge();
  if (bridge_thread_.joinable()) bridge_thread_.join();
  bridge_.reset();
}

void Engine::stop() {
  if (!stop_requested_.exchange(true))
    for (auto& component : hooks_.components) component->before_shutdown(*this);
  node_.request_stop();
}

bool Engine::reload_tls(std::string& error) {
  return node_.reload_tls(0, node_.shards(), error);
}

void Engine::wait() {
  threads_.join();
  // The shards are gone: the bridge forwards what they published last, then disconnects.
  stop_bridge();
  if (started_)
    for (auto it = hooks_.components.rbegin(); it != hooks_.components.rend(); ++it) (*it)->shutdown(*this);
  started_ = false;
}

// One publisher per application thread and per engine start: the publisher points into this start's
// shared region and checks this engine's rules, so a thread that published into an engine stopped
// since (or into another Engine of the process) gets a new one.
Publisher& Engine::thread_publisher() {
  struct Cached {
    uint64_t start = 0;
    std::unique_ptr<Publisher> publisher;
  };
  thread_local Cached cached;
  if (!cached.publisher || cached.start != start_serial_) {
    cached.publisher = std::make_unique<Publisher>(node_.settings().publish);
    cached.publisher->set_cluster_gate(&node_.shared().header()->cluster);
    cached.start = start_serial_;
  }
  return *cached.publisher;
}

PublishOutcome Engine::publish_room(std::string_view room, std::string_view items_json) {
  Ring ring = node_.shared().ring();
  return thread_publisher().publish(ring, Target::room, room, items_json);
}

PublishOutcome Engine::publish_all(std::string_view items_json) {
  Ring ring = node_.shared().ring();
  return thread_publisher().publish(ring, Target::all, {}, items_json);
}

PublishOutcome Engine::publish_user(std::string_view uid, std::string_view items_json) {
  Ring ring = node_.shared().ring();
  return thread_publisher().publish(ring, Target::user, uid, items_json);
}

bool Engine::presence(const PresenceQuery& query, PresencePage& out, std::string* error) {
  if (!started_) {
    if (error) *error = "engine not running";
    return false;
  }
  auto now_ns = [] { return clock::monotonic_ns(); };
  // Asked like a shard asks, but with no part of its own; the answering shards cannot wake this
  // thread (asker -1), so it polls.
  PresenceAsk ask;
  const uint64_t ticket = (uint64_t{0xFFFF} << 48) | presence_tickets_.fetch_add(1, std::memory_order_relaxed);
  ask.start(node_.shared().presence(), node_.shared().ring(), node_.shards(), -1, query, now_ns(),
            static_cast<int64_t>(config_.presence_timeout_ms) * 1000000, ticket, true);
  for (;;) {
    const PresenceAsk::Status status = ask.poll(now_ns());
    if (status == PresenceAsk::Status::done) break;
    if (status == PresenceAsk::Status::timed_out) {
      if (error) *error = "presence: shard " + std::to_string(ask.failed_shard()) + " did not answer in time";
      return false;
    }
    usleep(100);
  }
  presence_merge(ask.parts(), query, out);
  return true;
}

bool Engine::room_presence(std::string_view room, PresencePage& out, bool users, std::string_view cursor,
                           uint32_t limit, std::string* error) {
  PresenceQuery query;
  query.kind = PresenceKind::room;
  query.room.assign(room);
  query.users = users;
  query.cursor.assign(cursor);
  query.limit = limit;
  return presence(query, out, error);
}

StatsTotals Engine::stats() const { return sum_stats(node_.shared().header()->stats, node_.shards()); }

std::string Engine::stats_json() const {
  const RoomTable rooms = node_.shared().room_table();
  return ringcast::stats_json(stats(), node_.shared().ring(), node_.shards(),
                              NodeView{&rooms, &node_.shared().header()->cluster});
}

}  // namespace ringcast
