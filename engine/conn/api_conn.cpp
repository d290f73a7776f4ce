// Push API connections (see api_conn.h).
#include "engine/conn/api_conn.h"

#include <utility>
#include <vector>

#include "engine/codec/http.h"
#include "engine/limits.h"

namespace ringcast {
namespace {

std::string api_error(int status, std::string_view reason, bool keep_alive) {
  std::string r;
  http::append_error(r, status, reason, keep_alive);
  return r;
}

}  // namespace

ApiConns::ApiConns(const ApiConnSetup& setup)
    : config_(*setup.config),
      stats_(*setup.stats),
      conns_(*setup.conns),
      sender_(*setup.sender),
      rooms_(*setup.rooms),
      presence_(setup.presence),
      shard_index_(setup.shard_index),
      shard_count_(setup.api.shard_count),
      api_(setup.api) {}

bool ApiConns::parked(uint32_t id, uint32_t generation) const {
  for (const ParkedQuery& p : parked_)
    if (p.id == id && p.generation == generation) return true;
  return false;
}

void ApiConns::on_bytes(Conn& c, uint32_t id, const uint8_t* data, size_t len) {
  if (c.after_flush != AfterFlush::nothing) return;  // answering a final response: ignore the rest
  if (!c.inbuf) c.inbuf = new std::string();
  c.inbuf->append(reinterpret_cast<const char*>(data), len);
  // Waiting for a presence answer: what follows is read on once it is out (answers keep their order).
  // A peer that keeps sending meanwhile is bounded like a request too large to parse: cut.
  if (!parked_.empty() && parked(id, c.generation)) {
    if (c.inbuf->size() >
        limits::kParkedInputFactor * (config_.api_head_bytes_max + config_.api_body_bytes_max)) {
      stats_.add(Counter::api_errors);
      conns_.terminate(c, id);
    }
    return;
  }
  bool park = false;
  http::Limits limits;
  limits.head_bytes_max = config_.api_head_bytes_max;
  limits.body_bytes_max = config_.api_body_bytes_max;
  api_.stopping = conns_.stopping();
  out_.clear();
  size_t used = 0;
  bool keep = true;
  // Pipelined requests are answered in order, each as soon as it is complete.
  while (keep && used < c.inbuf->size()) {
    http::Request req;
    std::string_view rest(c.inbuf->data() + used, c.inbuf->size() - used);
    http::ParseResult res = http::parse_request(rest, limits, req, scratch_);
    if (res.status == http::ParseStatus::incomplete) {
      if (res.head_complete && req.expect_continue && !c.continue_sent) {
        out_ += http::kContinueResponse;
        c.continue_sent = true;
      }
      break;
    }
    if (res.status == http::ParseStatus::error) {
      stats_.add(Counter::api_errors);
      http::append_error(out_, res.http_status, res.reason, false);
      keep = false;
      break;
    }
    c.continue_sent = false;
    keep = handle_api_request(req, api_, out_);
    used += res.consumed;
    if (api_.deferred) {
      api_.deferred = false;
      park = true;
      break;
    }
  }
  c.inbuf->erase(0, used);
  if (c.inbuf->empty() || !keep) {
    delete c.inbuf;
    c.inbuf = nullptr;
  }
  if (!out_.empty()) sender_.queue_copy(c, id, out_);
  if (park) {
    if (parked_.size() >= limits::kPresenceParkedMax) {
      delete c.inbuf;
      c.inbuf = nullptr;
      stats_.add(Counter::api_errors);
      sender_.queue_copy(c, id,
                         api_error(503, "too many presence queries waiting on this shard; retry", false));
      keep = false;
    } else {
      // Polled right after the completions of this turn (Shard::step), so a node of one shard answers
      // in the same turn; never from here, which would recurse through a connection's pipelined
      // requests.
      parked_.push_back(ParkedQuery{id, c.generation, keep, std::move(api_.query)});
      return;
    }
  }
  if (!keep) conns_.close_after_answer(c, id);
}

// The front parked query: start it, or see whether every shard answered; then answer its connection
// and carry on with the requests it pipelined behind.
void ApiConns::poll_parked() {
  while (!parked_.empty()) {
    if (!asking_) {
      ask_.start(presence_, api_.ring, shard_count_, static_cast<int32_t>(shard_index_),
                 parked_.front().query, conns_.now_ns(),
                 static_cast<int64_t>(config_.presence_timeout_ms) * 1000000,
                 (static_cast<uint64_t>(shard_index_) << 48) | ++ask_tickets_, true);
      asking_ = true;
    }
    const PresenceAsk::Status status = ask_.poll(conns_.now_ns());
    if (status == PresenceAsk::Status::pending) return;
    asking_ = false;
    const ParkedQuery p = std::move(parked_.front());
    parked_.pop_front();
    answer_parked(p, status);
  }
}

void ApiConns::answer_parked(const ParkedQuery& p, const PresenceAsk::Status status) {
  stats_.add(Counter::presence_queries);
  std::string answer;
  if (status == PresenceAsk::Status::done) {
    std::vector<PresencePart> parts = ask_.parts();
    parts.emplace_back();
    presence_answer_local(rooms_, p.query, parts.back());
    PresencePage page;
    presence_merge(parts, p.query, page);
    http::append_response(answer, 200, "application/json", presence_json(p.query, page), p.keep);
  } else {
    stats_.add(Counter::presence_timeouts);
    stats_.add(Counter::api_errors);
    answer = api_error(503,
                       "presence: shard " + std::to_string(ask_.failed_shard()) +
                           " did not answer within presence_timeout_ms",
                       p.keep);
  }
  if (!conns_.constructed(p.id)) return;
  Conn& c = conns_[p.id];
  if (c.generation != p.generation || c.phase != Phase::open) return;
  sender_.queue_copy(c, p.id, answer);
  if (!p.keep) {
    conns_.close_after_answer(c, p.id);
  } else if (c.inbuf && !c.inbuf->empty()) {
    static const uint8_t kNothing = 0;
    on_bytes(c, p.id, &kNothing, 0);  // the requests pipelined behind it
  }
}

void ApiConns::on_timer(Conn& c, uint32_t id) {
  if (!parked_.empty() && parked(id, c.generation)) {
    conns_.arm_ms(id, 100);  // waiting for a presence answer (bounded by its timeout)
    return;
  }
  if (conns_.stopping() && (!c.inbuf || c.inbuf->empty()) && c.after_flush == AfterFlush::nothing) {
    // Draining, and no request arrived in the grace time: close. (One being answered lingers.)
    if (sender_.idle(c, id)) conns_.end(c, id);
    return;
  }
  const uint64_t due = c.last_rx_tick + limits::ticks_for_ms(config_.api_idle_timeout_ms);
  if (due > conns_.now_tick()) {
    conns_.arm_at_tick(id, due);  // heard from since the timer was armed: re-arm lazily
    return;
  }
  if (c.inbuf && !c.inbuf->empty()) {
    stats_.add(Counter::api_errors);
    conns_.answer_and_close(c, id, api_error(408, "request not complete in time", false));
  } else {
    conns_.end(c, id);
  }
}

void ApiConns::begin_stopping(Conn& c, uint32_t id) {
  if (c.phase != Phase::open || (c.inbuf && !c.inbuf->empty())) return;
  // Idle keep-alive API connection: a request sent just before the stop may still be on its way (or
  // in a completion not reaped yet); it gets a short grace (see on_timer), then is closed.
  if (sender_.idle(c, id))
    conns_.arm_ms(id, limits::kStopGraceMs);
  else
    c.after_flush = AfterFlush::linger;
}

}  // namespace ringcast
