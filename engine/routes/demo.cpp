// The demo's routes on the client port: embedded files, /demo/stats, and /demo/publish with its size
// and rate limits.
#include "engine/routes/demo.h"

#include <algorithm>

#include "engine/base/log.h"
#include "engine/codec/json_writer.h"

namespace ringcast {
namespace {

// The page talks only to its own origin (HTTP and WebSocket); nothing inline, nothing framed.
constexpr std::string_view kAssetHeaders =
    "Cache-Control: no-cache\r\n"
    "X-Content-Type-Options: nosniff\r\n"
    "Content-Security-Policy: default-src 'self'; connect-src 'self' ws: wss:; frame-ancestors 'none'\r\n";
constexpr std::string_view kJsonHeaders = "Cache-Control: no-store\r\n";

bool media_is_json(std::string_view content_type) {
  return http::ascii_iequals(content_type, "application/json");
}

void serve_asset(const http::Request& req, const WebAsset& asset, std::string& out, bool keep) {
  http::append_response(out, 200, asset.content_type, asset.body(), keep, kAssetHeaders);
  // HEAD: the same head (Content-Length of the body it would get), no body.
  if (req.method == http::Method::head) out.resize(out.size() - asset.size);
}

void serve_stats(DemoContext& ctx, std::string& out, bool keep) {
  const StatsTotals t = sum_stats(ctx.all_stats, ctx.shard_count);
  uint64_t head_pos = 0, next_seq = 0;
  ctx.ring.read_head(head_pos, next_seq);
  std::string body;
  JsonWriter json(body);
  json.begin_object();
  json.key("onlineConnections").number(online_connections(t));
  json.key("roomCount").number(t.get(Counter::rooms));
  json.key("published").number(next_seq > 0 ? next_seq - 1 : 0);
  json.key("itemsDelivered").number(t.get(Counter::items_delivered));
  json.key("demoPublishes").number(t.get(Counter::demo_publishes));
  json.key("shards").number(ctx.shard_count);
  json.key("wsPath").string(ctx.config->ws_path);
  json.key("ssePath").string(path_enabled(ctx.config->sse_path) ? ctx.config->sse_path : std::string());
  // Where the push API listens, for the page's "curl" hint (https when the API listener speaks TLS).
  json.key("api").string(ctx.config->api.enabled ? ctx.config->api.host + ":" + std::to_string(ctx.api_port)
                                                 : std::string());
  json.key("apiScheme").string(api_tls_files(*ctx.config).on() ? "https" : "http");
  json.end_object();
  http::append_response(out, 200, "application/json", body, keep, kJsonHeaders);
}

bool publish_comment(const http::Request& req, DemoContext& ctx, TokenBucket& conn_bucket, int64_t now_ns,
                     std::string& out, bool keep) {
  if (ctx.stopping) {
    http::append_error(out, 503, "server is shutting down", false);
    return false;
  }
  // JSON only: a cross-origin page cannot send it without a preflight, which is refused (405), so
  // another site cannot post comments through a visitor's browser.
  if (!media_is_json(req.content_type)) {
    http::append_error(out, 415, "Content-Type must be application/json", keep);
    return keep;
  }
  simdjson::dom::element root;
  if (ctx.parser->parse(req.body.data(), req.body.size()).get(root)) {
    http::append_error(out, 400, "body is not JSON", keep);
    return keep;
  }
  std::string_view room, text;
  RoomCharset charset = RoomCharset::utf8;
  parse_room_charset(ctx.config->room_name_charset, charset);
  if (root["room"].get_string().get(room) || !room_name_valid(room, ctx.config->room_name_bytes_max, charset)) {
    http::append_error(out, 400, room_name_rule_text(charset), keep);
    return keep;
  }
  if (root["text"].get_string().get(text) || text.empty()) {
    http::append_error(out, 400, "text must be a non-empty string", keep);
    return keep;
  }
  if (text.size() > ctx.config->demo_text_bytes_max) {
    http::append_error(out, 400, "text longer than demo_text_bytes_max", keep);
    return keep;
  }
  // Both buckets must have a token; only then is one taken from each, so a refusal costs nothing.
  const double per_conn = ctx.config->demo_publish_per_s;
  const double per_shard = ctx.config->demo_shard_publish_per_s;
  conn_bucket.refill(now_ns, per_conn, 2 * per_conn);
  ctx.shard_bucket.refill(now_ns, per_shard, 2 * per_shard);
  if (conn_bucket.tokens < 1 || ctx.shard_bucket.tokens < 1) {
    ctx.stats->add(Counter::demo_publish_limited);
    http::append_error(out, 429, "too many comments: slow down", keep, "Retry-After: 1\r\n");
    return keep;
  }
  conn_bucket.tokens -= 1;
  ctx.shard_bucket.tokens -= 1;
  std::string items;
  JsonWriter json(items);
  json.begin_array().begin_object().key("text").string(text).key("via").string("demo");
  json.end_object().end_array();
  const PublishOutcome outcome = ctx.publisher->publish(ctx.ring, Target::room, room, items);
  if (outcome.error != PublishError::none) {
    if (outcome.error == PublishError::ring_full) ctx.stats->add(Counter::publish_refused_full);
    if (outcome.error == PublishError::cluster_down || outcome.error == PublishError::history_down)
      ctx.stats->add(Counter::publish_refused_cluster);
    http::append_error(out, publish_error_status(outcome.error), publish_error_text(outcome.error), keep);
    return keep;
  }
  ctx.stats->add(Counter::demo_publishes);
  std::string body;
  JsonWriter(body).begin_object().key("ok").boolean(true).key("seq").number(outcome.seq).end_object();
  http::append_response(out, 200, "application/json", body, keep, kJsonHeaders);
  return keep;
}

}  // namespace

const WebAsset* find_web_asset(std::string_view path) {
  for (size_t i = 0; i < kWebAssetCount; ++i)
    if (path == kWebAssets[i].path) return &kWebAssets[i];
  return nullptr;
}

void TokenBucket::refill(int64_t now_ns, double rate_per_s, double burst) {
  if (tokens < 0) {
    tokens = burst;
  } else if (now_ns > last_ns) {
    tokens = std::min(burst, tokens + static_cast<double>(now_ns - last_ns) * rate_per_s / 1e9);
  }
  last_ns = now_ns;
}

void log_demo_address(const Config& config, uint16_t client_port) {
  if (!config.demo || !config.listen.enabled) return;
  // A wildcard address is not one a browser can open: show loopback.
  const bool wildcard =
      config.listen.host.empty() || config.listen.host == "0.0.0.0" || config.listen.host == "::";
  LOG_INFO("demo: page at %s://%s:%u/ (comments up to %u bytes, %u/s per connection, %u/s per shard)",
           client_tls_files(config).on() ? "https" : "http",
           wildcard ? "127.0.0.1" : config.listen.host.c_str(), client_port, config.demo_text_bytes_max,
           config.demo_publish_per_s, config.demo_shard_publish_per_s);
}

size_t demo_body_bytes_max(const Config& config) {
  // {"room":"<room>","text":"<text>"}: each byte may arrive as a six-byte \u00XX escape.
  return 64 + 6 * (config.room_name_bytes_max + config.demo_text_bytes_max);
}

bool handle_demo_request(const http::Request& req, DemoContext& ctx, TokenBucket& conn_bucket, int64_t now_ns,
                         std::string& out) {
  ctx.stats->add(Counter::demo_requests);
  const bool keep = req.keep_alive && !ctx.stopping;
  if (const WebAsset* asset = find_web_asset(req.path)) {
    if (req.method != http::Method::get && req.method != http::Method::head) {
      http::append_method_not_allowed(out, "GET, HEAD", keep);
      return keep;
    }
    serve_asset(req, *asset, out, keep);
    return keep;
  }
  if (req.path == "/demo/stats") {
    if (req.method != http::Method::get) {
      http::append_method_not_allowed(out, "GET", keep);
      return keep;
    }
    serve_stats(ctx, out, keep);
    return keep;
  }
  if (req.path == "/demo/publish") {
    if (req.method != http::Method::post) {
      http::append_method_not_allowed(out, "POST", keep);
      return keep;
    }
    return publish_comment(req, ctx, conn_bucket, now_ns, out, keep);
  }
  http::append_error(out, 404, "not found: the WebSocket endpoint is " + ctx.config->ws_path + "; the demo is at /",
                     keep);
  return keep;
}

}  // namespace ringcast
