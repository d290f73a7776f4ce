// The relations between the configuration's values (validate(), config.h): each key's own range is
// checked where it is read (config.cpp's key table); what involves several keys, or a key and the
// fixed limits (engine/limits.h), is checked here, once, before anything starts.
#include <unistd.h>

#include <string>
#include <string_view>
#include <vector>

#include "engine/broadcast/publish.h"
#include "engine/codec/cluster_wire.h"
#include "engine/codec/pomelo.h"
#include "engine/config.h"
#include "engine/node/nats_tls.h"

namespace ringcast {
namespace {

bool is_power_of_two(uint64_t v) {
  return v && !(v & (v - 1));
}

// The cluster keys: URLs NATS can use, a prefix that makes valid subjects, room names short enough
// that a subject (prefix + base64url of the name) stays far below NATS's control-line limit, and the
// TLS files (nats_tls.h).
std::string validate_cluster(const Config& c) {
  if (!cluster::subject_prefix_valid(c.nats_subject_prefix))
    return "'nats_subject_prefix' must be tokens of letters, digits, '_' or '-' separated by dots";
  if (c.nats_reconnect_wait_ms > c.nats_reconnect_wait_max_ms)
    return "'nats_reconnect_wait_ms' must not exceed 'nats_reconnect_wait_max_ms'";
  if (c.jetstream_storage != "file" && c.jetstream_storage != "memory")
    return "'jetstream_storage' must be file or memory, got '" + c.jetstream_storage + "'";
  if (c.jetstream && c.nats.empty()) return "'jetstream' needs 'nats' (the stream lives on the NATS servers)";
  if (c.jetstream && c.history_items_max == 0)
    return "'jetstream' needs 'history_items_max' above 0 (the stream exists for recovery)";
  if (c.nats.empty()) return check_nats_tls(c);
  std::string_view rest = c.nats;
  size_t tls_urls = 0, urls = 0;
  while (!rest.empty()) {
    const size_t comma = rest.find(',');
    const std::string_view url = rest.substr(0, comma);
    rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
    const bool tls = url.rfind("tls://", 0) == 0;
    const size_t scheme = tls ? 6 : 7;
    if ((!tls && url.rfind("nats://", 0) != 0) || url.size() == scheme ||
        url.find_first_of(" \t") != std::string_view::npos)
      return "'nats': expected nats://host:port[,nats://host:port...] (or tls://...), got '" + c.nats + "'";
    tls_urls += tls;
    ++urls;
  }
  // libnats has one TLS setting for all the URLs: a list that mixes them cannot mean what it says.
  if (tls_urls != 0 && tls_urls != urls)
    return "'nats': mixes tls:// and nats:// URLs; TLS is on for all servers or none (use tls:// for all)";
  if (std::string problem = check_nats_tls(c); !problem.empty()) return problem;
  if (c.room_name_bytes_max > 2048)
    return "'room_name_bytes_max' must be at most 2048 with 'nats' (subject length)";
  return {};
}

// Access control: secrets long enough to resist guessing, Origins in the form browsers send.
std::string validate_access(const Config& c) {
  // RFC 7518 3.2: an HS256 key must be at least as long as the hash output.
  if (!c.token_secret.empty() && c.token_secret.size() < 32)
    return "'token_secret' must be at least 32 bytes (RFC 7518 section 3.2); e.g. openssl rand -hex 32";
  if (!c.api_token.empty() && c.api_token.size() < 16)
    return "'api_token' must be at least 16 bytes; e.g. openssl rand -hex 32";
  for (unsigned char ch : c.api_token)
    if (ch <= 0x20 || ch >= 0x7f)
      return "'api_token' must be printable ASCII without spaces (an HTTP header value)";
  for (const std::string& origin : split_list(c.allowed_origins))
    if (origin != "*" && origin != "null" && origin.find("://") == std::string::npos)
      return "'allowed_origins': '" + origin +
             "' is not an origin (scheme://host[:port], e.g. https://example.com)";
  // A certificate is useless without its key and the other way round (whether the files hold a
  // matching pair is checked where they are loaded: check_tls_files, engine/node/tls_context.h).
  const std::pair<const char*, TlsFiles> pairs[] = {
      {"tls_cert_file", TlsFiles{c.tls_cert_file, c.tls_key_file}},
      {"client_tls_cert_file", TlsFiles{c.client_tls_cert_file, c.client_tls_key_file}},
      {"api_tls_cert_file", TlsFiles{c.api_tls_cert_file, c.api_tls_key_file}}};
  for (const auto& [name, files] : pairs)
    if (files.cert.empty() != files.key.empty())
      return std::string("'") + name + "' and its key file must be given together";
  return {};
}

// The Nano/Pomelo path and its route dictionary (built again by each shard; checked once here).
std::string validate_nano(const Config& c) {
  if (!nano_enabled(c)) return {};
  if (c.nano_path[0] != '/') return "'nano_path' must start with '/' (or be none)";
  if (c.nano_path == c.ws_path) return "'nano_path' must differ from 'ws_path'";
  std::vector<std::string> routes = split_list(c.nano_routes);
  std::vector<std::string_view> views(routes.begin(), routes.end());
  pomelo::RouteDict dict;
  if (pomelo::RouteDictError e = pomelo::RouteDict::build(views, dict); e != pomelo::RouteDictError::none)
    return "'nano_routes': " + std::string(pomelo::route_dict_error_text(e));
  if (c.nano_push_route.empty() || c.nano_push_route.size() > pomelo::kRouteBytesMax)
    return "'nano_push_route' must be 1..255 bytes";
  return {};
}

// The HTTP stream paths: each starts with '/' and names no other endpoint.
std::string validate_stream_paths(const Config& c) {
  if (path_enabled(c.sse_path) && c.sse_path[0] != '/') return "'sse_path' must start with '/' (or be none)";
  if (path_enabled(c.stream_path) && c.stream_path[0] != '/')
    return "'stream_path' must start with '/' (or be none)";
  auto taken = [&c](const std::string& path) {
    return path_enabled(path) && (path == c.ws_path || (nano_enabled(c) && path == c.nano_path));
  };
  if (taken(c.sse_path)) return "'sse_path' must differ from 'ws_path' and 'nano_path'";
  if (taken(c.stream_path)) return "'stream_path' must differ from 'ws_path' and 'nano_path'";
  if (path_enabled(c.sse_path) && c.sse_path == c.stream_path)
    return "'sse_path' must differ from 'stream_path'";
  return {};
}

}  // namespace

bool nano_enabled(const Config& c) {
  return !c.nano_path.empty() && c.nano_path != "none";
}

bool path_enabled(const std::string& path) {
  return !path.empty() && path != "none";
}

std::string validate(const Config& c) {
  if (!c.listen.enabled && !c.api.enabled) return "'listen' and 'api' are both none: nothing to serve";
  if (c.ws_path.empty() || c.ws_path[0] != '/') return "'ws_path' must start with '/'";
  if (!is_power_of_two(c.ring_bytes) || c.ring_bytes % static_cast<size_t>(sysconf(_SC_PAGESIZE)))
    return "'ring_bytes' must be a power of two and a multiple of the page size";
  if (!is_power_of_two(c.recv_buffer_count)) return "'recv_buffer_count' must be a power of two";
  // A single published entry must fit in a quarter of the ring, so that one large publish can never
  // leave the ring unable to take the next one while slow consumers are being cut.
  if (c.api_body_bytes_max + 4096 > c.ring_bytes / 4)
    return "'api_body_bytes_max' must be at most a quarter of 'ring_bytes' (minus 4 KiB)";
  if (c.merge_frame_bytes_max > c.out_queue_bytes_max)
    return "'merge_frame_bytes_max' must not exceed 'out_queue_bytes_max'";
  if (c.api_body_bytes_max + 64 > c.out_queue_bytes_max)
    return "'out_queue_bytes_max' must hold at least one largest push ('api_body_bytes_max' + 64)";
  if (c.log_level != "error" && c.log_level != "warn" && c.log_level != "info" && c.log_level != "debug")
    return "'log_level' must be error, warn, info or debug";
  if (std::string problem = validate_cluster(c); !problem.empty()) return problem;
  RoomCharset charset;
  if (!parse_room_charset(c.room_name_charset, charset)) return "'room_name_charset' must be utf8 or ascii";
  if (std::string problem = validate_access(c); !problem.empty()) return problem;
  if (std::string problem = validate_nano(c); !problem.empty()) return problem;
  if (std::string problem = validate_stream_paths(c); !problem.empty()) return problem;
  return {};
}

}  // namespace ringcast
