// The memory ringcast-load's processes share: one MAP_SHARED memfd mapping made by the parent before
// fork. It holds the run's phase (written by the parent only), the publisher's counters and per-room
// sequence state (publisher only), and one block of counters plus a latency histogram per worker
// (that worker only). Single writer everywhere, so an update is a relaxed load and store, no lock.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "tools/load/histogram.h"

namespace ringcast::load {

// A counter with one writing process; any process may read it at any time.
struct Counter {
  std::atomic<uint64_t> value{0};
  void add(uint64_t n = 1) {
    value.store(value.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  }
  void set(uint64_t v) { value.store(v, std::memory_order_release); }
  void raise_to(uint64_t v) {
    if (v > value.load(std::memory_order_relaxed)) value.store(v, std::memory_order_relaxed);
  }
  uint64_t get() const { return value.load(std::memory_order_acquire); }
};

// A short text (the first error of a kind) written once by its process.
struct Note {
  static constexpr size_t kBytes = 200;
  std::atomic<uint32_t> set{0};
  char text[kBytes] = {};
  void record(std::string_view what) {
    if (set.load(std::memory_order_relaxed)) return;
    const size_t n = what.size() < kBytes - 1 ? what.size() : kBytes - 1;
    for (size_t i = 0; i < n; ++i) text[i] = what[i];
    text[n] = 0;
    set.store(1, std::memory_order_release);
  }
  std::string get() const { return set.load(std::memory_order_acquire) ? std::string(text) : std::string(); }
};

enum class Phase : uint64_t {
  connecting = 0,  // workers open their connections
  holding = 1,     // all joined (or the connect timeout passed): stragglers are closed, then --hold
  publishing = 2,  // the publisher runs
  draining = 3,    // publishing ended: stalled connections resume, workers report who still lags
  finishing = 4,   // workers do the end-of-run accounting, write it, and exit
};

struct alignas(64) ControlBlock {
  Counter phase;     // Phase
  Counter start_ns;  // CLOCK_MONOTONIC when connecting began (the connect schedule's origin)

  // Publisher.
  Counter publish_start_ns;  // first request written
  Counter publish_end_ns;    // last request written
  Counter publisher_done;    // 1 once every answer is in (or the publisher gave up)
  Counter publisher_done_ns;
  Counter publish_sent;      // items written
  Counter publish_accepted;  // items answered 2xx
  Counter publish_failed;    // items answered otherwise, or lost with their connection
  Counter publish_conn_errors;
  Note publish_first_failure;
};

// Per room slot (rooms 0..K-1, then the also-room); written by the publisher.
struct alignas(32) RoomBlock {
  Counter last_sent_seq;      // seqs are dense from 1 per room
  Counter last_accepted_seq;  // highest seq answered 2xx
  Counter accepted_items;
  Counter failed_items;
};

// Close codes 1000..1015 are counted one by one; anything else in "other".
constexpr uint32_t kCloseCodeFirst = 1000;
constexpr uint32_t kCloseCodeSlots = 16;

struct alignas(64) WorkerBlock {
  Counter connections;  // this worker's slice
  Counter attempted;    // socket created and connect started
  Counter tcp_connected;
  Counter joined;  // upgraded and (gopush) PONG to the JOIN+PING seen
  Counter failed;  // never joined: errors, refusals, connect timeout
  Counter last_join_ns;

  // Closes of joined connections before the end of the run.
  Counter unexpected_closes;
  Counter close_codes[kCloseCodeSlots];
  Counter close_code_other;
  Counter close_eof;    // TCP closed without a close frame
  Counter close_error;  // reset or other socket error
  Counter protocol_errors;

  // Delivery.
  Counter received;  // load items for a joined room (duplicates included)
  Counter duplicates;
  Counter out_of_order;
  Counter gap_missing;
  Counter foreign_items;  // not load items, or for a room this connection is not in
  Counter frames;
  Counter bytes;  // everything read from the sockets, the 101 heads included
  // Per message (text or binary, all its frames): payload bytes as they came and after inflating
  // (the same for a plain message), and the frames' bytes, headers included, of the messages that
  // carried load items (the wire cost of a delivery).
  Counter payload_wire_bytes;
  Counter payload_inflated_bytes;
  Counter item_message_wire_bytes;
  Counter compressed_messages;  // RSV1 messages inflated (--deflate)
  Counter deflate_connections;  // connections whose upgrade agreed on permessage-deflate
  Counter first_receive_ns;
  Counter last_receive_ns;
  Counter max_latency_ns;
  // --broadcasts: per broadcast (seq 1..kTrackedBroadcasts), the latest arrival and how many got it.
  static constexpr uint32_t kTrackedBroadcasts = 64;
  Counter broadcast_max_ns[kTrackedBroadcasts];
  Counter broadcast_reached[kTrackedBroadcasts];
  Counter stalled;

  // --reconnect-every: drops on purpose and the resumes after them (not unexpected closes).
  Counter reconnects;           // connections dropped to reconnect
  Counter resumed;              // new connection joined and every JOINED of its rooms in
  Counter reconnect_retries;    // attempts of a reconnect that failed and were tried again
  Counter reconnect_failed;     // reconnects given up after kReconnectAttemptsMax attempts
  Counter rooms_recovered;      // JOINED recovered:true after a reconnect
  Counter rooms_not_recovered;  // JOINED recovered:false after a reconnect: loss announced
  Counter items_replayed;       // items of a room received before that room's JOINED on a rejoin
  Counter resume_max_ns;
  Counter resume_latency[histogram::kBuckets];  // drop -> last JOINED of the new connection

  // TLS (wss://): handshakes completed (a reconnect's included), how many of them resumed a session,
  // how many failed (the connection then fails, or a reconnect retries), and the handshake time (TCP
  // connected -> TLS established).
  Counter tls_handshakes;
  Counter tls_resumed;
  Counter tls_failed;
  Counter tls_handshake_max_ns;
  Counter tls_handshake_latency[histogram::kBuckets];

  // Drain: live joined connections that have not yet seen the last accepted seq of their rooms, as
  // counted at lagging_checked_ns.
  Counter lagging;
  Counter lagging_checked_ns;

  // End of run (written before final_done).
  Counter expected;
  Counter tail_missing;         // last published - (expected seq - 1), per connection and room
  Counter failed_publish_gaps;  // seqs whose publish failed, counted in the missing figures above
  Counter rss_baseline_bytes;
  Counter rss_connected_bytes;
  Counter final_done;

  Note first_connect_error;
  Note first_close_error;
  Note first_tls_error;

  Counter latency[histogram::kBuckets];
};

struct SharedLayout {
  size_t control_offset = 0;
  size_t rooms_offset = 0;
  size_t workers_offset = 0;
  size_t total_bytes = 0;
};

// The mapping, valid in the parent and (inherited) in every child.
class Shared {
 public:
  // Creates the memfd and maps it. False with error set on failure.
  bool create(uint32_t room_slots, uint32_t workers, std::string& error);

  ControlBlock& control() const { return *control_; }
  RoomBlock& room(uint32_t slot) const { return rooms_[slot]; }
  WorkerBlock& worker(uint32_t index) const { return workers_[index]; }
  uint32_t workers() const { return worker_count_; }
  uint32_t room_slots() const { return room_slots_; }
  Phase phase() const { return static_cast<Phase>(control_->phase.get()); }

 private:
  ControlBlock* control_ = nullptr;
  RoomBlock* rooms_ = nullptr;
  WorkerBlock* workers_ = nullptr;
  uint32_t worker_count_ = 0;
  uint32_t room_slots_ = 0;
};

uint64_t monotonic_ns();
// Anonymous resident memory of this process (resident minus file-backed and shared pages, from
// /proc/self/statm): what the process itself allocated, without code pages faulted in as new paths
// run, the io_uring rings or the shared mapping.
uint64_t rss_bytes();

}  // namespace ringcast::load
