// Push API routing and the go-push compatible push endpoints.
#include "engine/routes/http_api.h"

#include "engine/codec/form.h"
#include "engine/codec/json_writer.h"
#include "engine/conn/access.h"

namespace ringcast {
namespace {

bool media_is(std::string_view content_type, std::string_view want) {
  if (content_type.size() != want.size()) return false;
  for (size_t i = 0; i < want.size(); ++i) {
    char c = content_type[i];
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    if (c != want[i]) return false;
  }
  return true;
}

void answer_error(std::string& out, int status, std::string_view reason, bool keep_alive, ApiContext& ctx) {
  ctx.stats->add(Counter::api_errors);
  http::append_error(out, status, reason, keep_alive);
}

bool handle_push(const http::Request& req, Target target, ApiContext& ctx, std::string& out) {
  const bool keep = req.keep_alive;
  if (ctx.stopping) {
    answer_error(out, 503, "server is shutting down", false, ctx);
    return false;
  }
  PublishOutcome outcome;
  if (media_is(req.content_type, "application/json")) {
    outcome = ctx.publisher->publish_json_body(ctx.ring, target, req.body);
  } else if (req.content_type.empty() || media_is(req.content_type, "application/x-www-form-urlencoded")) {
    // go-push reads the form body; the query string is accepted too, body first.
    std::string items, room;
    bool malformed = false;
    bool have_items = form::field(req.body, "items", items, malformed) ||
                      (!malformed && form::field(req.query, "items", items, malformed));
    if (malformed) {
      answer_error(out, 400, "malformed %-escape in form data", keep, ctx);
      return keep;
    }
    if (!have_items) {
      answer_error(out, 400, publish_error_text(PublishError::items_missing), keep, ctx);
      return keep;
    }
    if (target == Target::room || target == Target::user || target == Target::conn) {
      const char* field = target == Target::room ? "room" : target == Target::user ? "uid" : "conn";
      bool have_room = form::field(req.body, field, room, malformed) ||
                       (!malformed && form::field(req.query, field, room, malformed));
      if (malformed) {
        answer_error(out, 400, "malformed %-escape in form data", keep, ctx);
        return keep;
      }
      if (!have_room) {
        const PublishError missing = target == Target::room   ? PublishError::room_missing
                                     : target == Target::user ? PublishError::uid_missing
                                                              : PublishError::conn_missing;
        answer_error(out, 400, publish_error_text(missing), keep, ctx);
        return keep;
      }
    }
    outcome = ctx.publisher->publish(ctx.ring, target, room, items);
  } else {
    answer_error(out, 415, "Content-Type must be application/x-www-form-urlencoded or application/json", keep,
                 ctx);
    return keep;
  }
  if (outcome.error != PublishError::none) {
    if (outcome.error == PublishError::ring_full) ctx.stats->add(Counter::publish_refused_full);
    if (outcome.error == PublishError::cluster_down || outcome.error == PublishError::history_down)
      ctx.stats->add(Counter::publish_refused_cluster);
    std::string_view why = publish_error_text(outcome.error);
    if (outcome.error == PublishError::room_invalid) {
      RoomCharset charset = RoomCharset::utf8;
      parse_room_charset(ctx.config->room_name_charset, charset);
      why = room_name_rule_text(charset);
    }
    answer_error(out, publish_error_status(outcome.error), why, keep, ctx);
    return keep;
  }
  ctx.stats->add(Counter::pushes_accepted);
  ctx.stats->add(Counter::items_accepted, outcome.item_count);
  std::string body;
  JsonWriter json(body);
  json.begin_object().key("ok").boolean(true);
  // With JetStream a room push's position comes from the stream after this answer (docs/cluster.md):
  // the ring's number would mean nothing to clients, so there is none.
  if (!outcome.staged) json.key("seq").number(outcome.seq);
  json.key("items").number(outcome.item_count).end_object();
  http::append_response(out, 200, "application/json", body, keep);
  return keep;
}

// With api_token set, every request but GET /health (and, with metrics_public, GET /metrics and
// /stats) must carry it. Checked before routing, so an unauthenticated client learns nothing, not
// even which paths exist.
bool authorized(const http::Request& req, const ApiContext& ctx) {
  const Config& config = *ctx.config;
  if (config.api_token.empty() || req.path == "/health") return true;
  if (config.metrics_public && (req.path == "/metrics" || req.path == "/stats")) return true;
  const std::string_view given = bearer_credentials(req.header("authorization"));
  return !given.empty() && secret_equals(given, config.api_token);
}

}  // namespace

bool handle_api_request(const http::Request& req, ApiContext& ctx, std::string& out) {
  ctx.stats->add(Counter::api_requests);
  const bool keep = req.keep_alive && !ctx.stopping;
  if (!authorized(req, ctx)) {
    ctx.stats->add(Counter::api_unauthorized);
    ctx.stats->add(Counter::api_errors);
    http::append_error(out, 401, "push API token required: Authorization: Bearer <api_token>", keep,
                       http::kBearerChallenge);
    return keep;
  }
  struct Route {
    std::string_view path;
    http::Method method;
  };
  static constexpr Route kRoutes[] = {
      {"/push/room", http::Method::post}, {"/push/all", http::Method::post}, {"/stats", http::Method::get},
      {"/metrics", http::Method::get},    {"/health", http::Method::get},
      {"/push/user", http::Method::post}, {"/push/conn", http::Method::post}, {"/rooms", http::Method::get},
  };
  static constexpr Route kRoomRoute = {"/rooms/", http::Method::get};
  const Route* route = nullptr;
  for (const Route& r : kRoutes)
    if (req.path == r.path) route = &r;
  if (!route && req.path.substr(0, kRoomRoute.path.size()) == kRoomRoute.path) route = &kRoomRoute;
  if (!route) {
    answer_error(out, 404, "no such endpoint (try POST /push/room, POST /push/all, POST /push/user, GET /rooms, GET /stats)", keep, ctx);
    return keep;
  }
  if (req.method != route->method) {
    ctx.stats->add(Counter::api_errors);
    http::append_method_not_allowed(out, route->method == http::Method::post ? "POST" : "GET", keep);
    return keep;
  }
  if (req.path == "/push/room") return handle_push(req, Target::room, ctx, out);
  if (req.path == "/push/all") return handle_push(req, Target::all, ctx, out);
  if (req.path == "/push/user") return handle_push(req, Target::user, ctx, out);
  if (req.path == "/push/conn") return handle_push(req, Target::conn, ctx, out);
  if (route->path.starts_with("/rooms")) {
    if (ctx.stopping) {
      answer_error(out, 503, "server is shutting down", false, ctx);
      return false;
    }
    RoomCharset charset = RoomCharset::utf8;
    parse_room_charset(ctx.config->room_name_charset, charset);
    std::string_view why;
    if (!parse_presence_request(req.path, req.query, ctx.config->room_name_bytes_max, charset, ctx.query, why)) {
      answer_error(out, 400, why, keep, ctx);
      return keep;
    }
    ctx.deferred = true;
    return keep;
  }
  if (req.path == "/stats") {
    StatsTotals totals = sum_stats(ctx.all_stats, ctx.shard_count);
    http::append_response(out, 200, "application/json", stats_json(totals, ctx.ring, ctx.shard_count, ctx.node), keep);
    return keep;
  }
  if (req.path == "/metrics") {
    http::append_response(out, 200, "text/plain; version=0.0.4",
                          stats_prometheus(ctx.all_stats, ctx.shard_count, ctx.ring, ctx.node), keep);
    return keep;
  }
  http::append_response(out, 200, "application/json", ctx.stopping ? "{\"ok\":false,\"stopping\":true}" : "{\"ok\":true}",
                        keep);
  return keep;
}

}  // namespace ringcast
