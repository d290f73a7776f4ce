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

  void clear();
};

}  // namespace ringcast
