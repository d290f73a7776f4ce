// What ringcast-load tells its user: the live progress line, the end-of-run summary (text on stdout)
// and the JSON file. All of it is read from the shared counters; the parent adds the times only it
// observed (phase changes, the publish-window samples).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "tools/load/options.h"
#include "tools/load/shared.h"

namespace ringcast::load {

// CPU seconds (utime + stime, all threads) of the watched processes (--watch-pids) and of this tool's
// own children at one instant, and the watched processes' anonymous RSS.
struct CpuSample {
  bool taken = false;
  uint64_t at_ns = 0;
  double watched_s = 0;
  double workers_s = 0;
  double publisher_s = 0;
  uint64_t watched_rss_anon_bytes = 0;
  // Per CPU (from /proc/stat): seconds not idle, not iowait and not spent in niced tasks (user +
  // system + irq + softirq + steal), so the benchmark sees how busy a core was, softirq work done by
  // ksoftirqd included, and background work at nice 19 left out.
  std::vector<double> core_busy_s;
};

// Times and samples the parent takes while it drives the phases.
struct RunObservations {
  uint64_t start_ns = 0;
  uint64_t connect_phase_end_ns = 0;  // when the parent left the connecting phase
  bool connect_timed_out = false;
  // Items received when the parent first saw the publisher start and when it saw it done: their
  // difference over the time between gives the delivery rate while publishing.
  uint64_t received_at_publish_start = 0;
  uint64_t publish_start_seen_ns = 0;
  uint64_t received_at_publish_end = 0;
  uint64_t publish_end_seen_ns = 0;
  bool drain_timed_out = false;
  uint64_t end_ns = 0;
  // At the end of the hold and when delivery is complete (or the run stopped): the measured window.
  CpuSample cpu_start;
  CpuSample cpu_end;
  std::string stop_reason;  // empty for a complete run; "interrupted", "timeout", or an error
};

struct Summary {
  // connect
  uint64_t requested = 0, attempted = 0, joined = 0, failed = 0;
  double connect_seconds = 0, connect_per_second = 0;
  std::string first_connect_error;
  // publish
  uint64_t sent = 0, accepted = 0, publish_failed = 0, publish_conn_errors = 0;
  double publish_seconds = 0, publish_per_second = 0;
  std::string first_publish_failure;
  // delivery
  uint64_t expected = 0, received = 0, missing = 0, duplicates = 0, out_of_order = 0, foreign = 0;
  uint64_t frames = 0, bytes = 0, stalled = 0;
  // wire vs inflated (see WorkerBlock); wire bytes per delivered item is the figure to compare runs
  // with and without compression by
  uint64_t payload_wire_bytes = 0, payload_inflated_bytes = 0, item_message_wire_bytes = 0;
  uint64_t compressed_messages = 0, deflate_connections = 0;
  double wire_bytes_per_item = 0;
  double items_per_second = 0, items_per_second_publishing = 0;
  // latency (ms)
  uint64_t latency_count = 0;
  double p50_ms = 0, p90_ms = 0, p99_ms = 0, p999_ms = 0, max_ms = 0;
  // --single-broadcast / --broadcasts: per broadcast, ms until the last connection had it, and reach
  std::vector<double> broadcast_ms;
  std::vector<uint64_t> broadcast_reached;
  double broadcast_median_ms = 0;
  // --reconnect-every: drops, resumes (per room: recovered or not) and their cost
  uint64_t reconnects = 0, resumed = 0, reconnect_retries = 0, reconnect_failed = 0, rooms_recovered = 0, rooms_not_recovered = 0;
  uint64_t items_replayed = 0;
  uint64_t resume_count = 0;
  double resume_p50_ms = 0, resume_p90_ms = 0, resume_p99_ms = 0, resume_max_ms = 0, resume_mean_ms = 0;
  double reconnects_per_connection = 0, replayed_per_reconnect = 0;
  // TLS (wss://): handshakes completed, resumed, failed; TCP connected -> TLS established
  uint64_t tls_handshakes = 0, tls_resumed = 0, tls_failed = 0;
  double tls_p50_ms = 0, tls_p90_ms = 0, tls_p99_ms = 0, tls_max_ms = 0;
  std::string first_tls_error;
  // closes of joined connections
  uint64_t unexpected_closes = 0, close_eof = 0, close_error = 0, protocol_errors = 0;
  std::map<std::string, uint64_t> close_codes;
  std::string first_close_error;
  // CPU over the measured window (see CpuSample); watched = the processes given with --watch-pids
  double cpu_window_s = 0, cpu_watched_s = 0, cpu_workers_s = 0, cpu_publisher_s = 0;
  // this tool's CPU (workers + publisher) over the window, in % of one core: near 100 with the
  // client on one core, the run measured the client, not the server
  double cpu_client_percent = 0;
  std::vector<double> cpu_core_busy_s;  // per CPU over the window (see CpuSample::core_busy_s)
  uint64_t watched_rss_anon_bytes = 0;
  // memory of the workers
  uint64_t rss_bytes_total = 0;
  double bytes_per_connection = 0;
  uint32_t workers = 0;
  bool drain_timed_out = false;
  bool connect_timed_out = false;
  std::string stop_reason;
  std::vector<std::string> problems;  // why the run is not clean (exit status 1)
};

Summary summarize(const Options& options, const Shared& shared, const RunObservations& seen);

// Items received so far, over all workers.
uint64_t received_total(const Shared& shared);

// One line (no newline) describing the run right now.
std::string progress_line(const Options& options, const Shared& shared, const char* phase, double elapsed_s,
                          double items_per_second);

void print_summary(const Options& options, const Summary& summary);

bool write_json(const std::string& path, const Options& options, const Summary& summary, std::string& error);

}  // namespace ringcast::load
