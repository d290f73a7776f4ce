// The worker supervisor. The parent stays single-threaded (so fork() is safe at any time) and does no
// I/O on the data path: it forks, waits for signals, reaps, repairs what a dead worker left in the
// shared region, and forks again.
#include "engine/node/workers.h"

#include <pthread.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "engine/base/clock.h"
#include "engine/base/log.h"
#include "engine/engine.h"
#include "engine/node/bridge.h"
#include "engine/node/node.h"
#include "engine/routes/demo.h"

namespace ringcast {
namespace {

int64_t monotonic_ms() {
  return clock::monotonic_ns() / 1'000'000;
}

// What wakes a worker's (or the bridge process's) main thread when its threads have stopped: it waits
// for signals only, so an idle process has no periodic wake-up (57 workers polling every 100 ms made
// about 600 wake-ups a second).
constexpr int kWakeSignal = SIGUSR1;

sigset_t waiting_signals() {
  sigset_t signals;
  sigemptyset(&signals);
  for (int sig : {SIGTERM, SIGINT, SIGHUP, kWakeSignal}) sigaddset(&signals, sig);
  return signals;
}

struct Worker {
  pid_t pid = -1;
  int64_t started_ms = 0;
  int64_t restart_at_ms = 0;  // a worker that keeps dying is restarted with a growing delay
  int64_t restart_delay_ms = 0;
};

// The body of a worker process: its shards as threads, until they have drained.
[[noreturn]] void worker_main(Config config, NodeSetup& node, uint32_t index, uint32_t threads,
                              pid_t parent) {
  // If the supervisor is killed outright, drain and go rather than serve on unsupervised.
  prctl(PR_SET_PDEATHSIG, SIGTERM);
  if (getppid() != parent) _exit(0);
  const uint32_t first = index * threads;
  node.keep_only_listeners(first, threads);
  if (std::string problem = fit_descriptor_budget(config, threads, node.shards()); !problem.empty()) {
    LOG_ERROR("worker %u: %s", index, problem.c_str());
    _exit(2);
  }
  // This thread sleeps in sigwaitinfo() until a signal comes: one of the operator's, or kWakeSignal
  // from the last shard to stop (blocked here before the shards start, so every thread inherits the
  // mask and a signal sent before the wait stays pending for it).
  sigset_t signals = waiting_signals();
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  ShardThreads shards;
  std::string error;
  const pthread_t main_thread = pthread_self();
  if (!shards.start(config, node, first, threads, error,
                    [main_thread] { pthread_kill(main_thread, kWakeSignal); })) {
    LOG_ERROR("worker %u: cannot start: %s", index, error.c_str());
    _exit(1);
  }
  node.shared().header()->shards_ready.fetch_add(threads, std::memory_order_release);
  // SIGTERM/SIGINT sent to this worker alone (the supervisor stops everyone through the shared flag).
  while (shards.running() > 0) {
    const int sig = sigwaitinfo(&signals, nullptr);
    if (sig == SIGHUP) {
      // The supervisor forwards its SIGHUP: this worker's shards take the files again.
      std::string reload_error;
      if (!node.reload_tls(first, threads, reload_error))
        LOG_WARN("worker %u: SIGHUP: TLS not reloaded (%s)", index, reload_error.c_str());
    } else if (sig == SIGTERM || sig == SIGINT) {
      node.request_stop(first, threads);
    }
  }
  shards.join();
  _exit(0);
}

// The body of the NATS bridge's process (cluster mode): the bridge on a thread, this thread waiting
// for a signal of its own. Forked from the single-threaded supervisor, so libnats and its threads
// exist only here.
[[noreturn]] void bridge_main(const Config& config, NodeSetup& node, pid_t parent) {
  prctl(PR_SET_PDEATHSIG, SIGTERM);
  if (getppid() != parent) _exit(0);
  node.keep_only_listeners(0, 0);
  Bridge bridge(node.bridge_setup(config, true));
  std::string error;
  if (!bridge.start(error)) {
    LOG_ERROR("bridge: cannot start: %s", error.c_str());
    _exit(1);
  }
  sigset_t signals = waiting_signals();
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  std::atomic<bool> done{false};
  const pthread_t main_thread = pthread_self();
  std::thread runner([&] {
    bridge.run();
    done.store(true, std::memory_order_release);
    pthread_kill(main_thread, kWakeSignal);
  });
  while (!done.load(std::memory_order_acquire)) {
    const int sig = sigwaitinfo(&signals, nullptr);
    if (sig == SIGTERM || sig == SIGINT) node.stop_bridge();
  }
  runner.join();
  _exit(0);
}

}  // namespace

int run_workers(Config config) {
  set_log_level(config.log_level);
  const uint32_t workers = config.workers;
  const uint32_t threads = shards_per_process(config);
  const uint32_t total = workers * threads;
  // Each worker holds only its own share; the limit is checked here once for a clear early answer,
  // and again by every worker for itself.
  if (std::string problem = fit_descriptor_budget(config, threads, total); !problem.empty()) {
    LOG_ERROR("%s", problem.c_str());
    return 2;
  }
  NodeSetup node;
  std::string error;
  if (!node.create(config, total, error)) {
    LOG_ERROR("cannot start: %s", error.c_str());
    return 1;
  }
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGCHLD);
  sigaddset(&signals, SIGHUP);
  sigprocmask(SIG_BLOCK, &signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  const pid_t parent = getpid();
  std::vector<Worker> pool(workers);
  auto spawn = [&](uint32_t w) {
    pid_t pid = fork();
    if (pid == 0) worker_main(config, node, w, threads, parent);
    if (pid < 0) {
      LOG_ERROR("fork of worker %u failed: %s; retrying", w, std::strerror(errno));
      pool[w].restart_at_ms = monotonic_ms() + 1000;
      return;
    }
    pool[w].pid = pid;
    pool[w].started_ms = monotonic_ms();
    pool[w].restart_at_ms = 0;
  };
  for (uint32_t w = 0; w < workers; ++w) spawn(w);
  // Cluster mode: the NATS bridge in a process of its own, restarted like a worker.
  Worker bridge;
  const bool cluster = node.cluster();
  auto spawn_bridge = [&] {
    pid_t pid = fork();
    if (pid == 0) bridge_main(config, node, parent);
    if (pid < 0) {
      LOG_ERROR("fork of the NATS bridge failed: %s; retrying", std::strerror(errno));
      bridge.restart_at_ms = monotonic_ms() + 1000;
      return;
    }
    bridge.pid = pid;
    bridge.started_ms = monotonic_ms();
    bridge.restart_at_ms = 0;
  };
  if (cluster) spawn_bridge();

  // Start-up: every shard of every worker serving, or a worker gone (then stop them all).
  SharedHeader* shared = node.shared().header();
  bool started = false;
  while (!started) {
    if (shared->shards_ready.load(std::memory_order_acquire) >= total) {
      started = true;
      break;
    }
    int status = 0;
    pid_t dead = waitpid(-1, &status, WNOHANG);
    if (dead > 0) {
      LOG_ERROR("a %s exited during start-up (status %d); stopping",
                dead == bridge.pid ? "NATS bridge" : "worker", status);
      node.request_stop();
      node.stop_bridge();
      while (wait(nullptr) > 0) {
      }
      return WIFEXITED(status) && WEXITSTATUS(status) == 2 ? 2 : 1;
    }
    usleep(2000);
  }
  LOG_INFO("serving: %s (%u workers x %u shards, %u connections per shard, ring %zu MiB)",
           serving_addresses(config, node.client_port(), node.api_port()).c_str(), workers, threads,
           config.conns_per_shard_max, config.ring_bytes >> 20);
  log_demo_address(config, node.client_port());

  bool stopping = false;
  int64_t stop_deadline_ms = 0;
  Ring ring = node.shared().ring();
  // The supervisor sleeps until a signal comes (a child's exit among them) or until the next thing it
  // has scheduled: a restart after its delay, or the end of the drain.
  auto next_deadline_ms = [&]() -> int64_t {
    if (stopping) return stop_deadline_ms;
    int64_t next = INT64_MAX;
    for (const Worker& w : pool)
      if (w.pid < 0) next = std::min(next, w.restart_at_ms);
    if (cluster && bridge.pid < 0) next = std::min(next, bridge.restart_at_ms);
    return next;
  };
  for (;;) {
    siginfo_t info{};
    int sig = 0;
    if (const int64_t deadline_ms = next_deadline_ms(); deadline_ms == INT64_MAX) {
      sig = sigwaitinfo(&signals, &info);
    } else {
      const int64_t wait_ms = std::max<int64_t>(0, deadline_ms - monotonic_ms());
      timespec wait_time{static_cast<time_t>(wait_ms / 1000), static_cast<long>(wait_ms % 1000) * 1000000};
      sig = sigtimedwait(&signals, &info, &wait_time);
    }
    const int64_t now = monotonic_ms();
    if (sig == SIGHUP && !stopping) {
      // Reloaded here first (a worker restarted later forks with the new files), then in every worker.
      std::string reload_error;
      if (node.reload_tls(0, 0, reload_error)) {
        for (const Worker& w : pool)
          if (w.pid > 0) kill(w.pid, SIGHUP);
        LOG_INFO("SIGHUP: TLS certificate and key reloaded; new connections get them");
      } else {
        LOG_WARN("SIGHUP: TLS not reloaded (%s); the previous certificate stays in use",
                 reload_error.c_str());
      }
    }
    if ((sig == SIGTERM || sig == SIGINT) && !stopping) {
      LOG_INFO("%s: draining %u workers (close 1001 to clients, up to %u ms)",
               sig == SIGTERM ? "SIGTERM" : "SIGINT", workers, config.shutdown_drain_ms);
      stopping = true;
      stop_deadline_ms = now + config.shutdown_drain_ms + 5000;
      node.request_stop();
    }
    // Reap whatever exited, whichever signal woke us (SIGCHLDs coalesce).
    for (;;) {
      int status = 0;
      pid_t pid = waitpid(-1, &status, WNOHANG);
      if (pid <= 0) break;
      if (pid == bridge.pid) {
        bridge.pid = -1;
        if (stopping) continue;
        // The bridge died. Its ring slot stays active at its cursor, so the next bridge forwards
        // what this one had not; a publish it was committing becomes a skip entry; until the next
        // one is connected, pushes answer 503.
        ClusterState& state = shared->cluster;
        if (ring.recover_claim(node.bridge_slot()))
          LOG_WARN("NATS bridge: repaired a publish it did not finish");
        state.connected.store(0, std::memory_order_release);
        state.subscriptions.store(0, std::memory_order_relaxed);
        state.stop.store(0, std::memory_order_relaxed);
        state.bridge_restarts.fetch_add(1, std::memory_order_relaxed);
        const bool crashed_fast = now - bridge.started_ms < 1000;
        bridge.restart_delay_ms =
            crashed_fast ? std::min<int64_t>(30000, bridge.restart_delay_ms * 2 + 100) : 0;
        bridge.restart_at_ms = now + bridge.restart_delay_ms;
        if (WIFSIGNALED(status))
          LOG_WARN("NATS bridge (pid %d) killed by signal %d (%s); restarting", pid, WTERMSIG(status),
                   strsignal(WTERMSIG(status)));
        else
          LOG_WARN("NATS bridge (pid %d) exited with status %d; restarting", pid, WEXITSTATUS(status));
        continue;
      }
      for (uint32_t w = 0; w < workers; ++w) {
        if (pool[w].pid != pid) continue;
        pool[w].pid = -1;
        if (stopping) break;
        // A worker died while serving. Its clients lost their connections (they reconnect); what it
        // left in the shared region is repaired before anyone waits on it: its ring slots stop
        // holding positions, a claim it never committed becomes a skip entry, its gauges go to zero.
        for (uint32_t s = w * threads; s < (w + 1) * threads; ++s) {
          ring.detach(s);
          if (ring.recover_claim(s)) LOG_WARN("shard %u: repaired a publish its worker did not finish", s);
          for (Counter gauge : {Counter::ws_open, Counter::sse_open, Counter::stream_open, Counter::tls_open})
            shared->stats[s].values[static_cast<size_t>(gauge)].store(0, std::memory_order_relaxed);
          shared->stats[s].values[static_cast<size_t>(Counter::rooms)].store(0, std::memory_order_relaxed);
          shared->shard_stop[s].store(0, std::memory_order_relaxed);
        }
        // Its shards' members are gone: they leave every room of the node-wide table (and the bridge
        // unsubscribes from rooms nobody else here is in).
        node.shared().room_table().drop_shards(w * threads, threads);
        shared->shards_ready.fetch_sub(threads, std::memory_order_relaxed);
        const bool crashed_fast = now - pool[w].started_ms < 1000;
        pool[w].restart_delay_ms =
            crashed_fast ? std::min<int64_t>(30000, pool[w].restart_delay_ms * 2 + 100) : 0;
        pool[w].restart_at_ms = now + pool[w].restart_delay_ms;
        if (WIFSIGNALED(status))
          LOG_WARN("worker %u (pid %d) killed by signal %d (%s); restarting", w, pid, WTERMSIG(status),
                   strsignal(WTERMSIG(status)));
        else
          LOG_WARN("worker %u (pid %d) exited with status %d; restarting", w, pid, WEXITSTATUS(status));
        break;
      }
    }
    if (stopping) {
      bool all_gone = true;
      for (const Worker& wk : pool) all_gone &= wk.pid < 0;
      // The workers are gone: the bridge forwards what they published last, then exits.
      if (all_gone && bridge.pid > 0) {
        node.stop_bridge();
        all_gone = false;
      }
      if (all_gone) break;
      if (now > stop_deadline_ms) {
        LOG_WARN("workers did not drain in time; killing them");
        for (const Worker& wk : pool)
          if (wk.pid > 0) kill(wk.pid, SIGKILL);
        if (bridge.pid > 0) kill(bridge.pid, SIGKILL);
        while (wait(nullptr) > 0) {
        }
        break;
      }
      continue;
    }
    for (uint32_t w = 0; w < workers; ++w)
      if (pool[w].pid < 0 && now >= pool[w].restart_at_ms) spawn(w);
    if (cluster && bridge.pid < 0 && now >= bridge.restart_at_ms) spawn_bridge();
  }
  LOG_INFO("stopped");
  return 0;
}

}  // namespace ringcast
