// Cluster mode (several nodes over NATS): the state the NATS bridge shares with the shards and the
// stats pages, in the shared region. What travels between nodes is engine/codec/cluster_wire.h; the
// bridge (bridge.h) does the I/O.
#pragma once

#include <atomic>
#include <cstdint>

namespace ringcast {

// One per node, in the shared region. The bridge is the only writer of everything but `stop` (set by
// whoever stops the node) and, in workers mode, the supervisor's repairs after the bridge died.
struct alignas(64) ClusterState {
  std::atomic<uint32_t> enabled;    // --nats given: pushes need the cluster
  std::atomic<uint32_t> connected;  // 1 while the NATS connection is up; 0 makes the push API answer 503
  std::atomic<uint32_t> node_id;    // this node's id: `origin` of what it forwards
  std::atomic<uint32_t> stop;       // the bridge forwards what is left, flushes and exits
  std::atomic<int64_t> subscriptions;   // gauge: subjects subscribed (rooms with members, plus push/all)
  std::atomic<int64_t> published;       // ring entries forwarded to NATS
  std::atomic<int64_t> publish_failed;  // ring entries NATS refused (connection closed, buffer full)
  std::atomic<int64_t> received;        // messages from other nodes committed into the ring
  std::atomic<int64_t> receive_failed;  // messages from other nodes the ring could not take (full)
  std::atomic<int64_t> rejected;        // messages that were not valid ringcast cluster messages
  std::atomic<int64_t> dropped;         // messages libnats dropped before delivery (slow consumer)
  std::atomic<int64_t> disconnects;
  std::atomic<int64_t> reconnects;
  std::atomic<int64_t> bridge_restarts;  // workers mode: bridge processes restarted by the supervisor
  // Where the bridge's ring cursor is, so that a restarted bridge process forwards what its
  // predecessor had not (the supervisor keeps the dead bridge's ring slot holding that position).
  std::atomic<uint64_t> cursor_pos;
  std::atomic<uint64_t> cursor_seq;
  std::atomic<uint32_t> cursor_valid;

  // JetStream (docs/cluster.md): room items go through the stream, which numbers them cluster-wide.
  std::atomic<uint32_t> jetstream;      // on (config `jetstream`): the API stages room pushes
  std::atomic<uint32_t> history_ok;     // the stream answers: 0 makes the push API answer 503 too
  std::atomic<uint64_t> history_epoch;  // the stream's identity (its creation time), 0 until known
  std::atomic<int64_t> js_acked;        // staged pushes the stream acknowledged
  std::atomic<int64_t> js_ack_ns_sum;   // publish -> acknowledgement, summed over js_acked
  std::atomic<int64_t> js_ack_ns_max;
  std::atomic<int64_t> js_publish_retries;      // publishes sent again after an ack timeout or error
  std::atomic<int64_t> js_publish_failed;       // given up after every attempt: delivered nowhere (counted)
  std::atomic<int64_t> js_duplicates;           // items that came again (already committed): skipped
  std::atomic<int64_t> js_gaps;                 // gaps seen in a room's positions (filled from the stream)
  std::atomic<int64_t> js_catchup_items;        // items fetched from the stream to fill gaps
  std::atomic<int64_t> js_catchup_missed;       // gaps the stream could not fill (its limits removed them)
  std::atomic<int64_t> js_catchup_pending;      // gauge: rooms still to check after a reconnect
  std::atomic<int64_t> js_replays_window;       // JOINs with since answered from this node's window
  std::atomic<int64_t> js_replays_stream;       // ... that needed items fetched from the stream
  std::atomic<int64_t> js_replays_failed;       // ... answered recovered:false (gone, too many, unreachable)
  std::atomic<int64_t> js_replay_items_stream;  // items fetched from the stream for replays
  std::atomic<int64_t> js_window_bytes;         // gauge: bytes of the rooms' windows

  // Presence across the cluster (cluster_presence.h).
  std::atomic<int64_t> presence_asked;     // this node's presence queries asked of the other nodes
  std::atomic<int64_t> presence_partial;   // ... answered partial (a node heard of did not answer)
  std::atomic<int64_t> presence_answered;  // other nodes' questions answered from this node's shards
  std::atomic<int64_t> presence_refused;   // other nodes' questions not answered (too many waiting)

  void clear();
};

}  // namespace ringcast
