// Summaries of a ringcast-load run (see report.h): sums the workers' blocks, merges their latency
// histograms, and writes the text and JSON forms (the JSON with the engine's JsonWriter).
#include "tools/load/report.h"

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <cstring>

#include "engine/codec/json_writer.h"
#include "tools/load/histogram.h"

namespace ringcast::load {
namespace {

double seconds_between(uint64_t from_ns, uint64_t to_ns) {
  return to_ns > from_ns ? static_cast<double>(to_ns - from_ns) / 1e9 : 0;
}

double ms(uint64_t ns) {
  return static_cast<double>(ns) / 1e6;
}

struct MergedHistogram {
  uint64_t counts[histogram::kBuckets] = {};
  uint64_t total = 0;
  uint64_t max_ns = 0;
  uint64_t quantile(double q) const {
    const uint64_t v = histogram::quantile([this](uint32_t i) { return counts[i]; }, q);
    return v > max_ns ? max_ns : v;
  }
};

// Sums one histogram of every worker (its bucket counts and its maximum) into h: the publish->receive
// latencies, or the resume times of --reconnect-every (their mean is taken from the buckets, within
// their 1% width).
using WorkerBuckets = Counter (WorkerBlock::*)[histogram::kBuckets];
void merge(const Shared& shared, MergedHistogram& h, WorkerBuckets buckets = &WorkerBlock::latency,
           Counter WorkerBlock::*max_ns = &WorkerBlock::max_latency_ns) {
  for (uint32_t w = 0; w < shared.workers(); ++w) {
    const WorkerBlock& b = shared.worker(w);
    for (uint32_t i = 0; i < histogram::kBuckets; ++i) {
      const uint64_t n = (b.*buckets)[i].get();
      h.counts[i] += n;
      h.total += n;
    }
    if ((b.*max_ns).get() > h.max_ns) h.max_ns = (b.*max_ns).get();
  }
}

// Short human form of a count: 1234 -> 1234, 1234567 -> 1.23M.
std::string count_text(double v) {
  char text[32];
  if (v >= 1e9)
    std::snprintf(text, sizeof text, "%.2fG", v / 1e9);
  else if (v >= 1e6)
    std::snprintf(text, sizeof text, "%.2fM", v / 1e6);
  else if (v >= 1e4)
    std::snprintf(text, sizeof text, "%.1fk", v / 1e3);
  else
    std::snprintf(text, sizeof text, "%.0f", v);
  return text;
}

std::string ms_text(double v) {
  char text[32];
  if (v >= 100)
    std::snprintf(text, sizeof text, "%.0fms", v);
  else if (v >= 1)
    std::snprintf(text, sizeof text, "%.2fms", v);
  else
    std::snprintf(text, sizeof text, "%.3fms", v);
  return text;
}

}  // namespace

uint64_t received_total(const Shared& shared) {
  uint64_t n = 0;
  for (uint32_t w = 0; w < shared.workers(); ++w) n += shared.worker(w).received.get();
  return n;
}

Summary summarize(const Options& o, const Shared& shared, const RunObservations& seen) {
  Summary s;
  const ControlBlock& ctl = shared.control();
  s.workers = shared.workers();
  s.requested = o.connections;
  uint64_t last_join_ns = 0, last_receive_ns = 0, gap_missing = 0, tail_missing = 0, failed_gaps = 0;
  uint64_t rss_delta = 0;
  uint64_t close_code_counts[kCloseCodeSlots] = {};
  uint64_t close_other = 0;
  for (uint32_t w = 0; w < shared.workers(); ++w) {
    const WorkerBlock& b = shared.worker(w);
    s.attempted += b.attempted.get();
    s.joined += b.joined.get();
    s.failed += b.failed.get();
    last_join_ns = std::max(last_join_ns, b.last_join_ns.get());
    if (s.first_connect_error.empty()) s.first_connect_error = b.first_connect_error.get();
    s.received += b.received.get();
    s.duplicates += b.duplicates.get();
    s.out_of_order += b.out_of_order.get();
    s.foreign += b.foreign_items.get();
    s.frames += b.frames.get();
    s.bytes += b.bytes.get();
    s.payload_wire_bytes += b.payload_wire_bytes.get();
    s.payload_inflated_bytes += b.payload_inflated_bytes.get();
    s.item_message_wire_bytes += b.item_message_wire_bytes.get();
    s.compressed_messages += b.compressed_messages.get();
    s.deflate_connections += b.deflate_connections.get();
    s.stalled += b.stalled.get();
    s.reconnects += b.reconnects.get();
    s.resumed += b.resumed.get();
    s.reconnect_retries += b.reconnect_retries.get();
    s.reconnect_failed += b.reconnect_failed.get();
    s.rooms_recovered += b.rooms_recovered.get();
    s.rooms_not_recovered += b.rooms_not_recovered.get();
    s.items_replayed += b.items_replayed.get();
    s.tls_handshakes += b.tls_handshakes.get();
    s.tls_resumed += b.tls_resumed.get();
    s.tls_failed += b.tls_failed.get();
    if (s.first_tls_error.empty()) s.first_tls_error = b.first_tls_error.get();
    gap_missing += b.gap_missing.get();
    tail_missing += b.tail_missing.get();
    failed_gaps += b.failed_publish_gaps.get();
    s.expected += b.expected.get();
    last_receive_ns = std::max(last_receive_ns, b.last_receive_ns.get());
    s.unexpected_closes += b.unexpected_closes.get();
    s.close_eof += b.close_eof.get();
    s.close_error += b.close_error.get();
    s.protocol_errors += b.protocol_errors.get();
    for (uint32_t i = 0; i < kCloseCodeSlots; ++i) close_code_counts[i] += b.close_codes[i].get();
    close_other += b.close_code_other.get();
    if (s.first_close_error.empty()) s.first_close_error = b.first_close_error.get();
    const uint64_t connected = b.rss_connected_bytes.get(), baseline = b.rss_baseline_bytes.get();
    s.rss_bytes_total += connected;
    if (connected > baseline) rss_delta += connected - baseline;
  }
  for (uint32_t i = 0; i < kCloseCodeSlots; ++i)
    if (close_code_counts[i]) s.close_codes[std::to_string(kCloseCodeFirst + i)] = close_code_counts[i];
  if (close_other) s.close_codes["other"] = close_other;
  if (s.close_eof) s.close_codes["no_close_frame"] = s.close_eof;
  if (s.close_error) s.close_codes["socket_error"] = s.close_error;
  if (s.joined) s.bytes_per_connection = static_cast<double>(rss_delta) / static_cast<double>(s.joined);
  if (s.received)
    s.wire_bytes_per_item = static_cast<double>(s.item_message_wire_bytes) / static_cast<double>(s.received);

  s.connect_seconds = seconds_between(seen.start_ns, last_join_ns ? last_join_ns : seen.connect_phase_end_ns);
  if (s.connect_seconds > 0) s.connect_per_second = static_cast<double>(s.joined) / s.connect_seconds;

  s.sent = ctl.publish_sent.get();
  s.accepted = ctl.publish_accepted.get();
  s.publish_failed = ctl.publish_failed.get();
  s.publish_conn_errors = ctl.publish_conn_errors.get();
  s.first_publish_failure = ctl.publish_first_failure.get();
  const uint64_t publish_start = ctl.publish_start_ns.get();
  s.publish_seconds = seconds_between(publish_start, ctl.publish_end_ns.get());
  if (s.publish_seconds > 0) s.publish_per_second = static_cast<double>(s.accepted) / s.publish_seconds;

  // Items lost because their publish failed are in the gap/tail figures for every member: the
  // server never had them, so they are the publisher's failure, not missing deliveries.
  const uint64_t all_missing = gap_missing + tail_missing;
  s.missing = all_missing > failed_gaps ? all_missing - failed_gaps : 0;
  const double delivery_seconds = seconds_between(publish_start, last_receive_ns);
  if (delivery_seconds > 0) s.items_per_second = static_cast<double>(s.received) / delivery_seconds;
  const double window = seconds_between(seen.publish_start_seen_ns, seen.publish_end_seen_ns);
  if (window > 0 && seen.received_at_publish_end >= seen.received_at_publish_start)
    s.items_per_second_publishing =
        static_cast<double>(seen.received_at_publish_end - seen.received_at_publish_start) / window;

  MergedHistogram h;
  merge(shared, h);
  s.latency_count = h.total;
  if (h.total) {
    s.p50_ms = ms(h.quantile(0.50));
    s.p90_ms = ms(h.quantile(0.90));
    s.p99_ms = ms(h.quantile(0.99));
    s.p999_ms = ms(h.quantile(0.999));
    s.max_ms = ms(h.max_ns);
  }
  if (o.reconnects()) {
    MergedHistogram r;
    merge(shared, r, &WorkerBlock::resume_latency, &WorkerBlock::resume_max_ns);
    s.resume_count = r.total;
    if (r.total) {
      s.resume_p50_ms = ms(r.quantile(0.50));
      s.resume_p90_ms = ms(r.quantile(0.90));
      s.resume_p99_ms = ms(r.quantile(0.99));
      s.resume_max_ms = ms(r.max_ns);
      double sum_ns = 0;
      for (uint32_t i = 0; i < histogram::kBuckets; ++i)
        if (r.counts[i])
          sum_ns += static_cast<double>(r.counts[i]) * static_cast<double>(histogram::bucket_value(i));
      s.resume_mean_ms = std::min(sum_ns / static_cast<double>(r.total) / 1e6, s.resume_max_ms);
    }
    if (s.joined)
      s.reconnects_per_connection = static_cast<double>(s.reconnects) / static_cast<double>(s.joined);
    if (s.reconnects)
      s.replayed_per_reconnect = static_cast<double>(s.items_replayed) / static_cast<double>(s.reconnects);
  }
  if (s.tls_handshakes) {
    MergedHistogram t;
    merge(shared, t, &WorkerBlock::tls_handshake_latency, &WorkerBlock::tls_handshake_max_ns);
    s.tls_p50_ms = ms(t.quantile(0.50));
    s.tls_p90_ms = ms(t.quantile(0.90));
    s.tls_p99_ms = ms(t.quantile(0.99));
    s.tls_max_ms = ms(t.max_ns);
  }
  if (o.single_broadcast) {
    for (uint32_t b = 0; b < o.broadcasts; ++b) {
      uint64_t max_ns = 0, reached = 0;
      for (uint32_t w = 0; w < shared.workers(); ++w) {
        max_ns = std::max(max_ns, shared.worker(w).broadcast_max_ns[b].get());
        reached += shared.worker(w).broadcast_reached[b].get();
      }
      if (!reached) continue;
      s.broadcast_ms.push_back(ms(max_ns));
      s.broadcast_reached.push_back(reached);
    }
    if (!s.broadcast_ms.empty()) {
      std::vector<double> sorted = s.broadcast_ms;
      std::sort(sorted.begin(), sorted.end());
      s.broadcast_median_ms = sorted[sorted.size() / 2];
    }
  }
  if (seen.cpu_start.taken && seen.cpu_end.taken) {
    s.cpu_window_s = seconds_between(seen.cpu_start.at_ns, seen.cpu_end.at_ns);
    s.cpu_watched_s = seen.cpu_end.watched_s - seen.cpu_start.watched_s;
    s.cpu_workers_s = seen.cpu_end.workers_s - seen.cpu_start.workers_s;
    s.cpu_publisher_s = seen.cpu_end.publisher_s - seen.cpu_start.publisher_s;
    if (s.cpu_window_s > 0)
      s.cpu_client_percent = 100 * (s.cpu_workers_s + s.cpu_publisher_s) / s.cpu_window_s;
    if (seen.cpu_end.core_busy_s.size() == seen.cpu_start.core_busy_s.size())
      for (size_t c = 0; c < seen.cpu_end.core_busy_s.size(); ++c)
        s.cpu_core_busy_s.push_back(seen.cpu_end.core_busy_s[c] - seen.cpu_start.core_busy_s[c]);
  }
  s.watched_rss_anon_bytes = seen.cpu_start.watched_rss_anon_bytes;
  s.drain_timed_out = seen.drain_timed_out;
  s.connect_timed_out = seen.connect_timed_out;
  s.stop_reason = seen.stop_reason;

  auto problem = [&](bool bad, const std::string& what) {
    if (bad) s.problems.push_back(what);
  };
  problem(!s.stop_reason.empty(), "run stopped early: " + s.stop_reason);
  problem(s.failed > 0, std::to_string(s.failed) + " connections failed");
  problem(s.tls_failed > 0,
          std::to_string(s.tls_failed) + " TLS handshakes failed (" + s.first_tls_error + ")");
  problem(s.publish_failed > 0, std::to_string(s.publish_failed) + " publishes failed");
  problem(s.publish_conn_errors > 0, "publish connection errors: " + s.first_publish_failure);
  problem(s.missing > 0, std::to_string(s.missing) + " items missing");
  problem(s.duplicates > 0, std::to_string(s.duplicates) + " duplicates");
  problem(s.unexpected_closes > 0, std::to_string(s.unexpected_closes) + " unexpected closes");
  problem(s.protocol_errors > 0, std::to_string(s.protocol_errors) + " protocol errors");
  problem(s.drain_timed_out, "not every expected item arrived within --drain-timeout");
  problem(s.reconnect_failed > 0, std::to_string(s.reconnect_failed) + " reconnects failed");
  problem(s.rooms_not_recovered > 0, std::to_string(s.rooms_not_recovered) +
                                         " resumes not recovered (loss announced by JOINED recovered:false)");
  return s;
}

std::string progress_line(const Options& o, const Shared& shared, const char* phase, double elapsed_s,
                          double items_per_second) {
  uint64_t joined = 0, failed = 0, closes = 0, received = 0, gaps = 0, dups = 0, drops = 0, resumed = 0;
  uint64_t tls_handshakes = 0, tls_resumed = 0, tls_failed = 0;
  for (uint32_t w = 0; w < shared.workers(); ++w) {
    const WorkerBlock& b = shared.worker(w);
    joined += b.joined.get();
    failed += b.failed.get();
    closes += b.unexpected_closes.get();
    received += b.received.get();
    gaps += b.gap_missing.get();
    dups += b.duplicates.get();
    drops += b.reconnects.get();
    resumed += b.resumed.get();
    tls_handshakes += b.tls_handshakes.get();
    tls_resumed += b.tls_resumed.get();
    tls_failed += b.tls_failed.get();
  }
  const ControlBlock& ctl = shared.control();
  MergedHistogram h;
  merge(shared, h);
  char line[512];
  std::snprintf(
      line, sizeof line,
      "%6.1fs %-10s | conns %" PRIu64 "/%u fail %" PRIu64 " closed %" PRIu64 " | pub %" PRIu64 " ok %" PRIu64
      " fail %" PRIu64 " | recv %s (%s/s) gap %" PRIu64 " dup %" PRIu64 " | p50 %s p99 %s max %s",
      elapsed_s, phase, joined, o.connections, failed, closes, ctl.publish_sent.get(),
      ctl.publish_accepted.get(), ctl.publish_failed.get(), count_text(static_cast<double>(received)).c_str(),
      count_text(items_per_second).c_str(), gaps, dups, h.total ? ms_text(ms(h.quantile(0.5))).c_str() : "-",
      h.total ? ms_text(ms(h.quantile(0.99))).c_str() : "-", h.total ? ms_text(ms(h.max_ns)).c_str() : "-");
  if (o.reconnects()) {
    const size_t used = std::strlen(line);
    std::snprintf(line + used, sizeof line - used, " | drops %" PRIu64 " resumed %" PRIu64, drops, resumed);
  }
  if (std::any_of(o.urls.begin(), o.urls.end(), [](const Endpoint& ep) { return ep.tls; })) {
    const size_t used = std::strlen(line);
    std::snprintf(line + used, sizeof line - used,
                  " | tls %" PRIu64 " tls_resumed %" PRIu64 " tls_failed %" PRIu64, tls_handshakes,
                  tls_resumed, tls_failed);
  }
  return line;
}

void print_summary(const Options& o, const Summary& s) {
  std::printf(
      "ringcast-load: %u connections over %u worker process(es) and %u source address(es), protocol %s\n",
      o.connections, s.workers, o.source_addresses(), protocol_name(o.protocol));
  std::printf("  connect    %" PRIu64 "/%" PRIu64 " joined in %.2f s (%.0f/s), failed %" PRIu64 "%s\n",
              s.joined, s.requested, s.connect_seconds, s.connect_per_second, s.failed,
              s.connect_timed_out ? " (connect timeout)" : "");
  if (!s.first_connect_error.empty())
    std::printf("             first error: %s\n", s.first_connect_error.c_str());
  if (o.publishes()) {
    std::printf("  publish    %" PRIu64 " sent, %" PRIu64 " accepted, %" PRIu64
                " failed in %.2f s (%.0f/s)\n",
                s.sent, s.accepted, s.publish_failed, s.publish_seconds, s.publish_per_second);
    if (!s.first_publish_failure.empty())
      std::printf("             first failure: %s\n", s.first_publish_failure.c_str());
    if (o.publish_rate > 0 && s.publish_seconds > 0 &&
        static_cast<double>(s.sent) / s.publish_seconds < 0.95 * o.publish_rate)
      std::printf(
          "             behind the plan of %.0f/s: the server answered too slowly for --publish-conns x "
          "--pipeline requests in flight\n",
          o.publish_rate);
    std::printf("  delivery   expected %" PRIu64 ", received %" PRIu64 "; missing %" PRIu64
                ", duplicates %" PRIu64 ", out of order %" PRIu64 "%s\n",
                s.expected, s.received, s.missing, s.duplicates, s.out_of_order,
                s.drain_timed_out ? " (drain timeout)" : "");
    std::printf("             %s items/s while publishing, %s items/s overall; %" PRIu64 " frames, %s bytes",
                count_text(s.items_per_second_publishing).c_str(), count_text(s.items_per_second).c_str(),
                s.frames, count_text(static_cast<double>(s.bytes)).c_str());
    if (s.foreign) std::printf("; %" PRIu64 " foreign items", s.foreign);
    std::printf("\n");
    std::printf(
        "  wire       %.1f bytes per delivered item (frames of the messages that carried items, headers "
        "included); message payloads %s bytes on the wire, %s inflated\n",
        s.wire_bytes_per_item, count_text(static_cast<double>(s.payload_wire_bytes)).c_str(),
        count_text(static_cast<double>(s.payload_inflated_bytes)).c_str());
    if (s.latency_count) {
      std::printf("  latency    p50 %s  p90 %s  p99 %s  p99.9 %s  max %s\n", ms_text(s.p50_ms).c_str(),
                  ms_text(s.p90_ms).c_str(), ms_text(s.p99_ms).c_str(), ms_text(s.p999_ms).c_str(),
                  ms_text(s.max_ms).c_str());
    }
    if (o.single_broadcast) {
      for (size_t b = 0; b < s.broadcast_ms.size(); ++b)
        std::printf("  broadcast  #%zu reached %" PRIu64 "/%" PRIu64 " connections; the last after %s\n", b + 1,
                    s.broadcast_reached[b], s.joined, ms_text(s.broadcast_ms[b]).c_str());
      if (s.broadcast_ms.size() > 1)
        std::printf("  broadcast  median time to the last connection: %s\n", ms_text(s.broadcast_median_ms).c_str());
    }
  }
  if (o.deflate) {
    const double ratio = s.payload_wire_bytes ? static_cast<double>(s.payload_inflated_bytes) /
                                                    static_cast<double>(s.payload_wire_bytes)
                                              : 0;
    std::printf("  deflate    %" PRIu64 "/%" PRIu64 " connections negotiated permessage-deflate; %" PRIu64
                " compressed messages; payloads inflate %.2fx\n",
                s.deflate_connections, s.joined, s.compressed_messages, ratio);
  }
  if (o.any_tls()) {
    std::printf("  tls        %" PRIu64 " handshakes, %" PRIu64 " resumed a session, %" PRIu64
                " failed; %s\n",
                s.tls_handshakes, s.tls_resumed, s.tls_failed,
                o.insecure          ? "server NOT verified (--insecure)"
                : o.ca_file.empty() ? "server verified against the system's CA store"
                                    : ("server verified against " + o.ca_file).c_str());
    if (s.tls_handshakes)
      std::printf(
          "             handshake (TCP connected -> TLS established): p50 %s  p90 %s  p99 %s  max %s\n",
          ms_text(s.tls_p50_ms).c_str(), ms_text(s.tls_p90_ms).c_str(), ms_text(s.tls_p99_ms).c_str(),
          ms_text(s.tls_max_ms).c_str());
    if (!s.first_tls_error.empty())
      std::printf("             first failure: %s\n", s.first_tls_error.c_str());
  }
  if (s.cpu_window_s > 0)
    std::printf(
        "  cpu        over %.2f s: watched %.2f s, workers %.2f s, publisher %.2f s; client %.0f%% of a "
        "core%s\n",
        s.cpu_window_s, s.cpu_watched_s, s.cpu_workers_s, s.cpu_publisher_s, s.cpu_client_percent,
        s.cpu_client_percent >= 90 ? " (with one core for the client, the client was the limit)" : "");
  std::printf("  closes     %" PRIu64 " unexpected", s.unexpected_closes);
  for (const auto& [code, n] : s.close_codes) std::printf(", %s: %" PRIu64, code.c_str(), n);
  if (s.protocol_errors) std::printf("; %" PRIu64 " protocol errors", s.protocol_errors);
  std::printf("\n");
  if (!s.first_close_error.empty()) std::printf("             first: %s\n", s.first_close_error.c_str());
  if (o.reconnects()) {
    std::printf("  reconnect  %" PRIu64 " drops (%.2f per connection, %s), %" PRIu64 " resumed, %" PRIu64
                " attempts retried, %" PRIu64 " failed; rooms recovered %" PRIu64 ", not recovered %" PRIu64
                "; %" PRIu64 " items replayed (%.1f per drop)\n",
                s.reconnects, s.reconnects_per_connection,
                o.reconnect_abrupt ? "TCP reset" : "close handshake", s.resumed, s.reconnect_retries,
                s.reconnect_failed, s.rooms_recovered, s.rooms_not_recovered, s.items_replayed, s.replayed_per_reconnect);
    if (s.resume_count)
      std::printf("  resume     drop -> last JOINED: p50 %s  p90 %s  p99 %s  max %s  mean ~%s\n",
                  ms_text(s.resume_p50_ms).c_str(), ms_text(s.resume_p90_ms).c_str(),
                  ms_text(s.resume_p99_ms).c_str(), ms_text(s.resume_max_ms).c_str(),
                  ms_text(s.resume_mean_ms).c_str());
  }
  if (s.stalled)
    std::printf("  stalled    %" PRIu64 " connections stopped reading (--stall-after)\n", s.stalled);
  std::printf(
      "  memory     %.0f bytes per connection in the workers (growth of their anonymous RSS while "
      "connecting)\n",
      s.bytes_per_connection);
  if (s.problems.empty()) {
    std::printf("  result     clean\n");
  } else {
    std::printf("  result     ");
    for (size_t i = 0; i < s.problems.size(); ++i) std::printf("%s%s", i ? "; " : "", s.problems[i].c_str());
    std::printf("\n");
  }
  std::fflush(stdout);
}

bool write_json(const std::string& path, const Options& o, const Summary& s, std::string& error) {
  std::string text;
  JsonWriter j(text);
  j.begin_object();
  j.key("config").begin_object();
  std::string urls;
  for (const Endpoint& ep : o.urls) urls += (urls.empty() ? "" : ",") + ep.url;
  j.key("url").string(urls);
  j.key("connections").number(o.connections);
  j.key("connect_rate").number(o.connect_rate);
  j.key("per_proc").number(o.per_proc);
  j.key("source_base").string(ipv4_text(o.source_base));
  j.key("per_source").number(o.per_source);
  j.key("rooms").number(o.rooms);
  j.key("room_prefix").string(o.room_prefix);
  j.key("also_room").string(o.also_room);
  j.key("protocol").string(protocol_name(o.protocol));
  j.key("heartbeat_s").number(o.heartbeat_s);
  j.key("deflate").boolean(o.deflate);
  j.key("ca_file").string(o.ca_file);
  j.key("insecure").boolean(o.insecure);
  j.key("publish_url").string(o.publish.url);
  j.key("publish_body").string(o.publish_body);
  j.key("publish_content_type").string(o.publish_content_type);
  j.key("publish_rate").number(o.publish_rate);
  j.key("publish_count").number(o.publish_count);
  j.key("duration_s").number(o.duration_s);
  j.key("payload_bytes").number(o.payload_bytes);
  j.key("payload_kind").string(o.payload_kind == PayloadKind::danmaku ? "danmaku" : "padding");
  j.key("publish_target").string(o.publish_target == PublishTarget::rooms ? "rooms" : "also");
  j.key("publish_conns").number(o.publish_conns);
  j.key("pipeline").number(o.pipeline);
  j.key("single_broadcast").boolean(o.single_broadcast);
  j.key("hold_s").number(o.hold_s);
  j.key("connect_timeout_s").number(o.connect_timeout_s);
  j.key("drain_timeout_s").number(o.drain_timeout_s);
  j.key("timeout_s").number(o.timeout_s);
  j.key("stall_after").number(o.stall_after);
  j.key("stall_every").number(o.stall_every);
  j.key("reconnect_every").number(o.reconnect_every);
  j.key("reconnect_one_in").number(o.reconnect_one_in);
  j.key("reconnect_abrupt").boolean(o.reconnect_abrupt);
  j.key("reconnect_move").boolean(o.reconnect_move);
  j.key("reconnect_pause_ms").number(o.reconnect_pause_ms);
  std::string watched;
  for (int pid : o.watch_pids) {
    if (!watched.empty()) watched += ',';
    watched += std::to_string(pid);
  }
  j.key("watch_pids").string(watched);
  j.end_object();

  j.key("processes").begin_object();
  j.key("workers").number(s.workers);
  j.key("publisher").number(o.publishes() ? 1u : 0u);
  j.key("source_addresses").number(o.source_addresses());
  j.end_object();

  j.key("connect").begin_object();
  j.key("requested").number(s.requested);
  j.key("attempted").number(s.attempted);
  j.key("connected").number(s.joined);
  j.key("failed").number(s.failed);
  j.key("seconds").number(s.connect_seconds);
  j.key("per_second").number(s.connect_per_second);
  j.key("timed_out").boolean(s.connect_timed_out);
  j.key("first_error").string(s.first_connect_error);
  j.end_object();

  j.key("publish").begin_object();
  j.key("sent").number(s.sent);
  j.key("accepted").number(s.accepted);
  j.key("failed").number(s.publish_failed);
  j.key("connection_errors").number(s.publish_conn_errors);
  j.key("seconds").number(s.publish_seconds);
  j.key("per_second").number(s.publish_per_second);
  j.key("planned_per_second").number(o.publish_rate);
  j.key("first_failure").string(s.first_publish_failure);
  j.end_object();

  j.key("delivery").begin_object();
  j.key("expected").number(s.expected);
  j.key("received").number(s.received);
  j.key("missing").number(s.missing);
  j.key("duplicates").number(s.duplicates);
  j.key("out_of_order").number(s.out_of_order);
  j.key("foreign").number(s.foreign);
  j.key("items_per_second").number(s.items_per_second);
  j.key("items_per_second_publishing").number(s.items_per_second_publishing);
  j.key("frames").number(s.frames);
  j.key("bytes").number(s.bytes);
  j.key("payload_wire_bytes").number(s.payload_wire_bytes);
  j.key("payload_inflated_bytes").number(s.payload_inflated_bytes);
  j.key("item_message_wire_bytes").number(s.item_message_wire_bytes);
  j.key("wire_bytes_per_item").number(s.wire_bytes_per_item);
  j.key("stalled_connections").number(s.stalled);
  j.key("drain_timed_out").boolean(s.drain_timed_out);
  j.end_object();

  j.key("latency_ms").begin_object();
  j.key("count").number(s.latency_count);
  j.key("p50").number(s.p50_ms);
  j.key("p90").number(s.p90_ms);
  j.key("p99").number(s.p99_ms);
  j.key("p999").number(s.p999_ms);
  j.key("max").number(s.max_ms);
  j.end_object();

  if (o.reconnects()) {
    j.key("reconnect").begin_object();
    j.key("reconnects").number(s.reconnects);
    j.key("resumed").number(s.resumed);
    j.key("retried").number(s.reconnect_retries);
    j.key("failed").number(s.reconnect_failed);
    j.key("recovered").number(s.rooms_recovered);
    j.key("not_recovered").number(s.rooms_not_recovered);
    j.key("items_replayed").number(s.items_replayed);
    j.key("reconnects_per_connection").number(s.reconnects_per_connection);
    j.key("replayed_per_reconnect").number(s.replayed_per_reconnect);
    j.key("resume_ms").begin_object();
    j.key("count").number(s.resume_count);
    j.key("p50").number(s.resume_p50_ms);
    j.key("p90").number(s.resume_p90_ms);
    j.key("p99").number(s.resume_p99_ms);
    j.key("max").number(s.resume_max_ms);
    j.key("mean").number(s.resume_mean_ms);
    j.end_object();
    j.end_object();
  }
  if (o.single_broadcast) {
    j.key("single_broadcast").begin_object();
    j.key("connections").number(s.joined);
    j.key("reached").number(s.received);
    j.key("ms_to_last").number(s.max_ms);
    j.key("ms_to_last_median").number(s.broadcast_median_ms);
    j.key("each_ms").begin_array();
    for (double v : s.broadcast_ms) j.number(v);
    j.end_array();
    j.key("each_reached").begin_array();
    for (uint64_t v : s.broadcast_reached) j.number(static_cast<double>(v));
    j.end_array();
    j.end_object();
  }

  j.key("tls").begin_object();
  j.key("enabled").boolean(o.any_tls());
  j.key("verified").boolean(o.any_tls() && !o.insecure);
  j.key("handshakes").number(s.tls_handshakes);
  j.key("tls_resumed").number(s.tls_resumed);
  j.key("tls_failed").number(s.tls_failed);
  j.key("handshake_ms").begin_object();
  j.key("p50").number(s.tls_p50_ms);
  j.key("p90").number(s.tls_p90_ms);
  j.key("p99").number(s.tls_p99_ms);
  j.key("max").number(s.tls_max_ms);
  j.end_object();
  j.key("first_error").string(s.first_tls_error);
  j.end_object();

  j.key("deflate").begin_object();
  j.key("offered").boolean(o.deflate);
  j.key("connections").number(s.deflate_connections);
  j.key("compressed_messages").number(s.compressed_messages);
  j.key("payload_wire_bytes").number(s.payload_wire_bytes);
  j.key("payload_inflated_bytes").number(s.payload_inflated_bytes);
  j.end_object();

  j.key("closes").begin_object();
  j.key("unexpected").number(s.unexpected_closes);
  j.key("protocol_errors").number(s.protocol_errors);
  j.key("codes").begin_object();
  for (const auto& [code, n] : s.close_codes) j.key(code).number(n);
  j.end_object();
  j.key("first").string(s.first_close_error);
  j.end_object();

  j.key("cpu").begin_object();
  j.key("window_s").number(s.cpu_window_s);
  j.key("watched_s").number(s.cpu_watched_s);
  j.key("client_workers_s").number(s.cpu_workers_s);
  j.key("publisher_s").number(s.cpu_publisher_s);
  j.key("client_percent").number(s.cpu_client_percent);
  j.key("core_busy_s").begin_array();
  for (double v : s.cpu_core_busy_s) j.number(v);
  j.end_array();
  j.key("watched_rss_anon_bytes").number(s.watched_rss_anon_bytes);
  j.end_object();

  j.key("memory").begin_object();
  j.key("worker_anon_rss_bytes").number(s.rss_bytes_total);
  j.key("bytes_per_connection").number(s.bytes_per_connection);
  j.end_object();

  j.key("stop_reason").string(s.stop_reason);
  j.key("clean").boolean(s.problems.empty());
  std::string problems;
  for (const std::string& p : s.problems) problems += (problems.empty() ? "" : "; ") + p;
  j.key("problems").string(problems);
  j.end_object();

  FILE* f = std::fopen(path.c_str(), "w");
  if (f == nullptr) {
    error = "cannot write " + path + ": " + std::strerror(errno);
    return false;
  }
  const bool ok = std::fwrite(text.data(), 1, text.size(), f) == text.size() && std::fputc('\n', f) != EOF;
  if (std::fclose(f) != 0 || !ok) {
    error = "cannot write " + path + ": " + std::strerror(errno);
    return false;
  }
  return true;
}

}  // namespace ringcast::load
