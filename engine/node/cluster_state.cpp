// Resetting the shared cluster state.
#include "engine/node/cluster_state.h"


namespace ringcast {

void ClusterState::clear() {
  for (auto* v : {&enabled, &connected, &node_id, &stop, &cursor_valid}) v->store(0, std::memory_order_relaxed);
  for (auto* v : {&subscriptions, &published, &publish_failed, &received, &receive_failed, &rejected, &dropped,
                  &disconnects, &reconnects, &bridge_restarts})
    v->store(0, std::memory_order_relaxed);
  cursor_pos.store(0, std::memory_order_relaxed);
  cursor_seq.store(0, std::memory_order_relaxed);
}

}  // namespace ringcast
