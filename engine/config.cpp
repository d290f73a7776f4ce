// Configuration: defaults live in config.h; this file reads the JSON file and the command line into a
// Config and checks it. Every key is described once, in the key table (config_keys.h), so the file, the
// flags and the help text cannot disagree.
#include "engine/config.h"

#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <vector>

#include "engine/base/json.h"
#include "engine/config_keys.h"
#include "engine/limits.h"

namespace ringcast {

using namespace config_keys;

std::vector<std::string> split_list(std::string_view csv) {
  auto trim = [](std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
    return s;
  };
  std::vector<std::string> out;
  while (!csv.empty()) {
    const size_t comma = csv.find(',');
    const std::string_view item = trim(csv.substr(0, comma));
    if (!item.empty()) out.emplace_back(item);
    csv = comma == std::string_view::npos ? std::string_view() : csv.substr(comma + 1);
  }
  return out;
}

bool parse_endpoint(std::string_view text, Endpoint& out) {
  if (text == "none" || text == "off") {
    out.enabled = false;
    return true;
  }
  std::string_view host;
  std::string_view port_text = text;
  size_t colon = text.rfind(':');
  if (colon != std::string_view::npos) {
    host = text.substr(0, colon);
    port_text = text.substr(colon + 1);
    if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  }
  uint64_t port = 0;
  if (!parse_u64(port_text, port) || port > 65535) return false;
  out.port = static_cast<uint16_t>(port);
  if (colon != std::string_view::npos) out.host = host.empty() ? "0.0.0.0" : std::string(host);
  out.enabled = true;
  return true;
}

// Reads a secret from a file (api_token_file, token_secret_file): the whole file, less trailing
// whitespace (a newline from `echo` or an editor).
static bool read_secret_file(const char* key, const std::string& path, std::string& secret,
                             std::string& error) {
  if (path.empty()) return true;
  if (!secret.empty()) {
    error = std::string("give '") + key + "' or '" + key + "_file', not both";
    return false;
  }
  simdjson::padded_string text;
  if (simdjson::padded_string::load(path).get(text)) {
    error = std::string("'") + key + "_file': cannot read '" + path + "': " + std::strerror(errno);
    return false;
  }
  std::string_view value(text.data(), text.size());
  while (!value.empty() &&
         (value.back() == '\n' || value.back() == '\r' || value.back() == ' ' || value.back() == '\t'))
    value.remove_suffix(1);
  if (value.empty()) {
    error = std::string("'") + key + "_file': '" + path + "' is empty";
    return false;
  }
  secret.assign(value);
  return true;
}

bool load_config_file(const std::string& path, Config& config, std::string& error, std::string& warnings) {
  simdjson::dom::parser parser;
  simdjson::padded_string text;
  if (simdjson::padded_string::load(path).get(text)) {
    error = "cannot read config file '" + path + "': " + std::strerror(errno);
    return false;
  }
  simdjson::dom::element root;
  if (auto err = parser.parse(text).get(root)) {
    error = "config file '" + path + "' is not valid JSON: " + simdjson::error_message(err);
    return false;
  }
  simdjson::dom::object object;
  if (root.get_object().get(object)) {
    error = "config file '" + path + "' must hold a JSON object";
    return false;
  }
  std::string unknown;  // reported in one line: go-push samples carry many comment keys
  for (auto [name, value] : object) {
    bool ignored = false;
    for (const char* g : go_push_ignored()) ignored |= (name == g);
    if (ignored) continue;
    const Key* key = find_key(name, nullptr);
    if (!key) {
      // Not an error: go-push's sample configs document themselves with keys such as
      // "websocket监听端口": "..."; but a typo must be visible, so every unknown key is named.
      unknown += unknown.empty() ? "'" : ", '";
      unknown += std::string(name) + "'";
      continue;
    }
    std::string as_text;
    simdjson::dom::array list;
    if (key->kind == Kind::list && !value.get_array().get(list)) {
      for (simdjson::dom::element item : list) {
        std::string_view text;
        if (item.get_string().get(text) || text.find(',') != std::string_view::npos) {
          error = "config key '" + std::string(name) + "': expected an array of strings without commas";
          return false;
        }
        if (!as_text.empty()) as_text += ',';
        as_text += text;
      }
    } else if (value.is_string()) {
      as_text = std::string(std::string_view(value.get_string().value_unsafe()));
      if (key->kind != Kind::text && key->kind != Kind::list && key->kind != Kind::endpoint &&
          key->kind != Kind::boolean) {
        error = "config key '" + std::string(name) + "': expected a number, got a string";
        return false;
      }
    } else if (value.is_bool() && key->kind == Kind::boolean) {
      as_text = value.get_bool().value_unsafe() ? "true" : "false";
    } else if (value.is_uint64()) {
      as_text = std::to_string(value.get_uint64().value_unsafe());
    } else if (value.is_int64()) {
      error = "config key '" + std::string(name) + "': must not be negative";
      return false;
    } else {
      error = "config key '" + std::string(name) + "': expected a number or a string";
      return false;
    }
    std::string why;
    if (!apply_text(*key, name, as_text, config, why)) {
      error = "config key " + why;
      return false;
    }
  }
  if (!unknown.empty()) warnings += "config: unknown keys ignored: " + unknown + "\n";
  return true;
}

std::string value_text(const Key& key, Config& config) {
  void* field = key.field(config);
  switch (key.kind) {
    case Kind::text:
    case Kind::list:
      return *static_cast<std::string*>(field);
    case Kind::endpoint: {
      auto* ep = static_cast<Endpoint*>(field);
      return ep->enabled ? ep->host + ":" + std::to_string(ep->port) : "none";
    }
    case Kind::port:
      return std::to_string(static_cast<Endpoint*>(field)->port);
    case Kind::u32:
      return std::to_string(*static_cast<uint32_t*>(field));
    case Kind::size:
      return std::to_string(*static_cast<size_t*>(field));
    case Kind::seconds_as_ms:
      return std::to_string(*static_cast<uint32_t*>(field) / 1000);
    case Kind::boolean:
      return *static_cast<bool*>(field) ? "true" : "false";
  }
  return {};
}

std::string usage_text() {
  std::string u =
      "usage: ringcast [--config FILE] [--NAME VALUE ...]\n"
      "\n"
      "A WebSocket push server: clients connect to ws://LISTEN/connect and JOIN rooms; your backend\n"
      "POSTs to http://API/push/room (room=R&items=[...]) or /push/all. Flags override the config\n"
      "file, which overrides the defaults shown.\n\n"
      "  --config FILE                          JSON file: the keys below without '--' and with '_'\n"
      "                                         for '-', or go-push's gateway.json keys\n"
      "  --help                                 this text\n\n"
      "  flag and default                       meaning\n";
  Config defaults;
  for (const Key& k : keys()) {
    std::string flag = std::string("--") + k.name;
    for (char& ch : flag)
      if (ch == '_') ch = '-';
    std::string line = "  " + flag + " " + value_text(k, defaults);
    if (line.size() < 40) line.resize(40, ' ');
    line += ' ';
    line += k.help;
    if (k.go_push) line += std::string(" [go-push: ") + k.go_push + "]";
    u += line + "\n";
  }
  return u;
}

CliAction parse_command_line(int argc, char** argv, Config& config, std::string& message,
                             std::string& warnings) {
  // The file first, so that flags given before or after --config both win over it.
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      message = usage_text();
      return CliAction::help;
    }
    std::string_view path;
    if (arg == "--config") {
      if (i + 1 >= argc) {
        message = "--config needs a file";
        return CliAction::error;
      }
      path = argv[++i];
    } else if (arg.rfind("--config=", 0) == 0) {
      path = arg.substr(9);
    } else {
      continue;
    }
    if (!load_config_file(std::string(path), config, message, warnings)) return CliAction::error;
  }
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (arg == "--config") {
      ++i;
      continue;
    }
    if (arg.rfind("--config=", 0) == 0) continue;
    if (arg.rfind("--", 0) != 0) {
      message = "unexpected argument '" + std::string(arg) + "' (see --help)";
      return CliAction::error;
    }
    std::string name(arg.substr(2));
    std::string value;
    bool has_value = false;
    if (size_t eq = name.find('='); eq != std::string::npos) {
      value = name.substr(eq + 1);
      name.resize(eq);
      has_value = true;
    }
    for (char& ch : name)
      if (ch == '-') ch = '_';
    const Key* key = find_key(name, nullptr);
    if (!key) {
      message = "unknown flag '" + std::string(arg) + "' (see --help)";
      return CliAction::error;
    }
    bool ignored = false;
    if (!has_value && key->kind == Kind::boolean) {
      // A switch: "--demo" alone turns it on; a following true/false (or 1/0, yes/no) is its value.
      has_value = true;
      value = "true";
      if (i + 1 < argc && parse_bool(argv[i + 1], ignored)) value = argv[++i];
    }
    if (!has_value) {
      if (i + 1 >= argc) {
        message = "flag '" + std::string(arg) + "' needs a value";
        return CliAction::error;
      }
      value = argv[++i];
    }
    std::string why;
    if (!apply_text(*key, arg.substr(0, arg.find('=')), value, config, why)) {
      message = "flag " + why;
      return CliAction::error;
    }
  }
  if (!read_secret_file("api_token", config.api_token_file, config.api_token, message) ||
      !read_secret_file("token_secret", config.token_secret_file, config.token_secret, message)) {
    message = "invalid configuration: " + message;
    return CliAction::error;
  }
  if (std::string problem = validate(config); !problem.empty()) {
    message = "invalid configuration: " + problem;
    return CliAction::error;
  }
  return CliAction::run;
}

namespace {

// A listener's pair: its own when it has one, else the shared one.
TlsFiles tls_files(const std::string& cert, const std::string& key, const Config& config) {
  if (!cert.empty() || !key.empty()) return TlsFiles{cert, key};
  return TlsFiles{config.tls_cert_file, config.tls_key_file};
}

}  // namespace

TlsFiles client_tls_files(const Config& config) {
  return tls_files(config.client_tls_cert_file, config.client_tls_key_file, config);
}

TlsFiles api_tls_files(const Config& config) {
  return tls_files(config.api_tls_cert_file, config.api_tls_key_file, config);
}

std::string serving_addresses(const Config& config, unsigned client_port, unsigned api_port) {
  const bool client_tls = client_tls_files(config).on();
  const std::string ws = client_tls ? "wss://" : "ws://";
  const std::string http = client_tls ? "https://" : "http://";
  const std::string client = config.listen.host + ":" + std::to_string(client_port);
  std::string out = "clients ";
  out += config.listen.enabled ? ws + client + config.ws_path : std::string("none (API only)");
  out += ", push API ";
  out += config.api.enabled ? (api_tls_files(config).on() ? "https://" : "http://") + config.api.host + ":" +
                                  std::to_string(api_port)
                            : std::string("none");
  if (config.listen.enabled && nano_enabled(config)) out += ", Nano/Pomelo " + ws + client + config.nano_path;
  if (config.listen.enabled && path_enabled(config.sse_path))
    out += ", SSE " + http + client + config.sse_path;
  if (config.listen.enabled && path_enabled(config.stream_path))
    out += ", NDJSON " + http + client + config.stream_path;
  return out;
}

}  // namespace ringcast
