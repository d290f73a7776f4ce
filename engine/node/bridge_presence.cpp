// Presence across the cluster, the bridge's side (see cluster_presence.h for the flow and the
// messages). The bridge's thread asks and answers; libnats' delivery thread only files what arrives
// (announcements, answers, questions) under presence_mu_ and wakes the bridge.
#include <unistd.h>

#include <algorithm>

#include "engine/base/clock.h"
#include "engine/base/log.h"
#include "engine/limits.h"
#include "engine/node/bridge.h"

namespace ringcast {
namespace {

int64_t now_ms() {
  return clock::monotonic_ns() / 1'000'000;
}

}  // namespace

void Bridge::start_presence() {
  question_subject_ = cluster_presence::question_subject(config_.nats_subject_prefix);
  answer_subject_ = cluster_presence::answer_subject(config_.nats_subject_prefix, node_id_);
  nodes_subject_ = cluster_presence::nodes_subject(config_.nats_subject_prefix);
  // A restarted bridge process: a question its predecessor took is taken again, and the boxes it was
  // asking for another node are released.
  if (setup_.presence.valid() && setup_.slot < setup_.presence.boxes()) setup_.presence.reset(setup_.slot);
}

void Bridge::subscribe_presence() {
  auto sub = [&](natsSubscription*& s, const std::string& subject) {
    if (s) return;
    if (natsConnection_Subscribe(&s, connection_, subject.c_str(), on_message, this) == NATS_OK) return;
    s = nullptr;
    reconcile_needed_ = true;
    reconcile_at_ms_ = now_ms() + limits::kBridgeReconcileRetryMs;
  };
  sub(question_subscription_, question_subject_);
  sub(answer_subscription_, answer_subject_);
  sub(nodes_subscription_, nodes_subject_);
}

void Bridge::receive_presence(natsMsg* msg) {
  const std::string_view subject = natsMsg_GetSubject(msg);
  const std::string_view bytes(natsMsg_GetData(msg), static_cast<size_t>(natsMsg_GetDataLength(msg)));
  std::lock_guard<std::mutex> lock(presence_mu_);
  if (subject == nodes_subject_) {
    cluster_presence::Announce what;
    uint32_t node = 0;
    if (!cluster_presence::decode_announcement(bytes, what, node) || node == node_id_) return;
    if (what == cluster_presence::Announce::bye) {
      directory_.gone(node);
      return;
    }
    // A node new to us that just started: it learns of us now rather than at our next alive.
    if (directory_.seen(node, now_ms()) && what == cluster_presence::Announce::hello) hello_due_ = true;
  } else if (subject == answer_subject_) {
    cluster_presence::Answer answer;
    if (!cluster_presence::decode_answer(bytes, answer)) {
      cluster_.rejected.fetch_add(1, std::memory_order_relaxed);
      return;
    }
    directory_.seen(answer.node, now_ms());
    gather_.add(std::move(answer));
  } else {
    cluster_presence::Question question;
    if (!cluster_presence::decode_question(bytes, question) || question.asker == node_id_) {
      cluster_.rejected.fetch_add(1, std::memory_order_relaxed);
      return;
    }
    if (questions_.size() >= limits::kClusterPresenceQuestionsMax) {
      cluster_.presence_refused.fetch_add(1, std::memory_order_relaxed);  // the asker names us missing
      return;
    }
    questions_.push_back(std::move(question));
  }
  const uint64_t one = 1;
  [[maybe_unused]] ssize_t n = write(setup_.wake_fd, &one, sizeof(one));
}

bool Bridge::presence_turn() {
  if (!setup_.presence.valid() || setup_.slot >= setup_.presence.boxes()) return false;
  bool busy = false;
  const int64_t now = now_ms();
  const bool connected = cluster_.connected.load(std::memory_order_acquire) != 0;
  // Announcements: hello once connected, alive every second, and alive at once to a new node's hello.
  bool hello_due = false;
  {
    std::lock_guard<std::mutex> lock(presence_mu_);
    std::swap(hello_due, hello_due_);
  }
  if (connected && (hello_due || now >= announce_at_ms_)) {
    cluster_presence::encode_announcement(
        presence_message_, said_hello_ ? cluster_presence::Announce::alive : cluster_presence::Announce::hello,
        node_id_);
    natsConnection_Publish(connection_, nodes_subject_.c_str(), presence_message_.data(),
                           static_cast<int>(presence_message_.size()));
    said_hello_ = true;
    announce_at_ms_ = now + limits::kClusterAnnounceMs;
  }
  // This node's API asks the other nodes (through the bridge's box).
  PresenceQuery query;
  bool gathering;
  {
    std::lock_guard<std::mutex> lock(presence_mu_);
    gathering = gather_.active();
  }
  if (!gathering && setup_.presence.take(setup_.slot, query)) {
    ask_other_nodes(query);
    busy = true;
  }
  {
    std::unique_lock<std::mutex> lock(presence_mu_);
    if (gather_.active() && gather_.complete(now_ms())) {
      PresencePart part;
      gather_.finish(part);
      lock.unlock();
      if (part.partial) cluster_.presence_partial.fetch_add(1, std::memory_order_relaxed);
      setup_.presence.answer(setup_.slot, part, setup_.ring);
      busy = true;
    }
  }
  // Another node's question, answered from this node's shards (one at a time, like a shard's API).
  if (!answering_) {
    std::lock_guard<std::mutex> lock(presence_mu_);
    if (!questions_.empty()) {
      answering_question_ = std::move(questions_.front());
      questions_.erase(questions_.begin());
      answering_ = true;
      // Half the asker's time for our shards, so the answer reaches it before its own deadline.
      ask_.start(setup_.presence, setup_.ring, setup_.slot, static_cast<int32_t>(setup_.slot),
                 answering_question_.query, clock::monotonic_ns(),
                 static_cast<int64_t>(config_.presence_timeout_ms) * 500'000, ++ask_tickets_ | (uint64_t{0xFFFE} << 48));
    }
  }
  if (answering_) answer_other_node();
  return busy;
}

void Bridge::ask_other_nodes(const PresenceQuery& query) {
  const int64_t now = now_ms();
  const bool connected = cluster_.connected.load(std::memory_order_acquire) != 0;
  std::lock_guard<std::mutex> lock(presence_mu_);
  std::vector<uint32_t> expected = directory_.live(now, limits::kClusterNodeExpiryMs);
  // The asker waits presence_timeout_ms; the answer must be in its box before that.
  const int64_t deadline = connected ? now + config_.presence_timeout_ms * 3 / 4 : now;
  gather_.start(query, ++gather_tickets_, std::move(expected), deadline);
  cluster_.presence_asked.fetch_add(1, std::memory_order_relaxed);
  if (!connected) return;  // every node heard of is named missing
  cluster_presence::Question q;
  q.query = query;
  q.asker = node_id_;
  q.ticket = gather_tickets_;
  cluster_presence::encode_question(presence_message_, q);
  natsConnection_PublishRequest(connection_, question_subject_.c_str(), answer_subject_.c_str(),
                                presence_message_.data(), static_cast<int>(presence_message_.size()));
}

void Bridge::answer_other_node() {
  const PresenceAsk::Status status = ask_.poll(clock::monotonic_ns());
  if (status == PresenceAsk::Status::pending) return;
  answering_ = false;
  if (status == PresenceAsk::Status::timed_out) return;  // no answer: the asker names this node missing
  PresencePage page;
  presence_merge(ask_.parts(), answering_question_.query, page);
  cluster_presence::encode_answer(presence_message_, node_id_, answering_question_.ticket, page,
                                  limits::kClusterPresenceAnswerBytesMax);
  const std::string subject =
      cluster_presence::answer_subject(config_.nats_subject_prefix, answering_question_.asker);
  if (natsConnection_Publish(connection_, subject.c_str(), presence_message_.data(),
                             static_cast<int>(presence_message_.size())) == NATS_OK)
    cluster_.presence_answered.fetch_add(1, std::memory_order_relaxed);
}

void Bridge::say_goodbye() {
  if (!connection_ || !cluster_.connected.load(std::memory_order_acquire)) return;
  cluster_presence::encode_announcement(presence_message_, cluster_presence::Announce::bye, node_id_);
  natsConnection_Publish(connection_, nodes_subject_.c_str(), presence_message_.data(),
                         static_cast<int>(presence_message_.size()));
}

}  // namespace ringcast
