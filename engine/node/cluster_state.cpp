// Resetting the shared cluster state.
#include "engine/node/cluster_state.h"

namespace ringcast {

void ClusterState::clear() {
  for (auto* v : {&enabled, &connected, &node_id, &stop, &cursor_valid, &jetstream, &history_ok})
    v->store(0, std::memory_order_relaxed);
  for (auto* v : {&subscriptions,     &published,          &publish_failed,    &received,
                  &receive_failed,    &rejected,           &dropped,           &disconnects,
                  &reconnects,        &bridge_restarts,    &js_acked,          &js_ack_ns_sum,
                  &js_ack_ns_max,     &js_publish_retries, &js_publish_failed, &js_duplicates,
                  &js_gaps,           &js_catchup_items,   &js_catchup_missed, &js_catchup_pending,
                  &js_replays_window, &js_replays_stream,  &js_replays_failed, &js_replay_items_stream,
                  &js_window_bytes,   &presence_asked,     &presence_partial,  &presence_answered,
                  &presence_refused})
    v->store(0, std::memory_order_relaxed);
  cursor_pos.store(0, std::memory_order_relaxed);
  cursor_seq.store(0, std::memory_order_relaxed);
  history_epoch.store(0, std::memory_order_relaxed);
}

}  // namespace ringcast
