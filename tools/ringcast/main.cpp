// The `ringcast` server: parses the configuration, starts an Engine, and turns SIGTERM/SIGINT into a
// graceful drain (close 1001 to every client, API requests in flight answered, exit 0) and SIGHUP into
// a reload of the TLS certificate and key files.
#include <signal.h>

#include <cstdio>
#include <string>

#include "engine/base/log.h"
#include "engine/config.h"
#include "engine/engine.h"
#include "engine/node/tls_context.h"
#include "engine/node/workers.h"
#include "engine/routes/demo.h"

int main(int argc, char** argv) {
  ringcast::Config config;
  std::string message, warnings;
  switch (ringcast::parse_command_line(argc, argv, config, message, warnings)) {
    case ringcast::CliAction::help:
      std::fputs(message.c_str(), stdout);
      return 0;
    case ringcast::CliAction::error:
      std::fprintf(stderr, "ringcast: %s\n", message.c_str());
      return 2;
    case ringcast::CliAction::run:
      break;
  }
  ringcast::set_log_level(config.log_level);
  if (!warnings.empty()) std::fputs(warnings.c_str(), stderr);
  // A missing, unreadable or mismatched certificate or key is a configuration error (exit 2).
  if (std::string tls_error; !ringcast::check_tls_files(config, tls_error)) {
    std::fprintf(stderr, "ringcast: TLS: %s\n", tls_error.c_str());
    return 2;
  }
  if (config.workers > 0) return ringcast::run_workers(config);

  // Signals are taken by this thread with sigwait(); every shard thread inherits the blocked mask.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  ringcast::Engine engine(config);
  std::string error;
  if (!engine.start(error)) {
    LOG_ERROR("cannot start: %s", error.c_str());
    return 1;
  }
  LOG_INFO("serving: %s (%u shards, %u connections per shard, ring %zu MiB)",
           ringcast::serving_addresses(config, engine.client_port(), engine.api_port()).c_str(),
           engine.shard_count(), engine.config().conns_per_shard_max, config.ring_bytes >> 20);
  ringcast::log_demo_address(config, engine.client_port());
  int sig = 0;
  for (;;) {
    sigwait(&signals, &sig);
    if (sig != SIGHUP) break;
    std::string reload_error;
    if (engine.reload_tls(reload_error))
      LOG_INFO("SIGHUP: TLS certificate and key reloaded; new connections get them");
    else
      LOG_WARN("SIGHUP: TLS not reloaded (%s); the previous certificate stays in use", reload_error.c_str());
  }
  LOG_INFO("%s: draining (close 1001 to clients, up to %u ms)", sig == SIGTERM ? "SIGTERM" : "SIGINT",
           config.shutdown_drain_ms);
  engine.stop();
  engine.wait();
  LOG_INFO("stopped");
  return 0;
}
