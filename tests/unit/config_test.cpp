// Unit tests for engine/config: defaults, the JSON file (our keys and go-push's), flags over the file,
// warnings for unknown keys, errors that name the key, validate()'s relations, and endpoint parsing.
#include "engine/config.h"

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdlib.h>
#include <unistd.h>

#include <cstdio>
#include <string>
#include <vector>

namespace ringcast {
namespace {

class ConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/ringcast-config-test-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    for (const std::string& f : files_) unlink(f.c_str());
    rmdir(dir_.c_str());
  }

  std::string write_file(const std::string& text) {
    std::string path = dir_ + "/c" + std::to_string(files_.size()) + ".json";
    FILE* f = std::fopen(path.c_str(), "w");
    EXPECT_NE(f, nullptr);
    std::fwrite(text.data(), 1, text.size(), f);
    std::fclose(f);
    files_.push_back(path);
    return path;
  }

  // A fresh P-256 key and a self-signed certificate for it, as PEM files: {certificate, key}.
  std::pair<std::string, std::string> write_cert_and_key() {
    EVP_PKEY* key = EVP_EC_gen("P-256");
    X509* cert = X509_new();
    X509_set_version(cert, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(cert), static_cast<long>(files_.size()) + 1);
    X509_gmtime_adj(X509_getm_notBefore(cert), 0);
    X509_gmtime_adj(X509_getm_notAfter(cert), 3600);
    X509_NAME_add_entry_by_txt(X509_get_subject_name(cert), "CN", MBSTRING_ASC,
                               reinterpret_cast<const unsigned char*>("test"), -1, -1, 0);
    X509_set_issuer_name(cert, X509_get_subject_name(cert));
    X509_set_pubkey(cert, key);
    EXPECT_GT(X509_sign(cert, key, EVP_sha256()), 0);
    const std::string cert_path = dir_ + "/c" + std::to_string(files_.size()) + ".crt";
    const std::string key_path = dir_ + "/c" + std::to_string(files_.size()) + ".key";
    FILE* f = std::fopen(cert_path.c_str(), "w");
    PEM_write_X509(f, cert);
    std::fclose(f);
    f = std::fopen(key_path.c_str(), "w");
    PEM_write_PrivateKey(f, key, nullptr, nullptr, 0, nullptr, nullptr);
    std::fclose(f);
    files_.push_back(cert_path);
    files_.push_back(key_path);
    X509_free(cert);
    EVP_PKEY_free(key);
    return {cert_path, key_path};
  }

  // Loads the text as a config file over `config`; returns the error ("" on success).
  std::string load(const std::string& text, Config& config) {
    std::string error;
    warnings_.clear();
    const bool ok = load_config_file(write_file(text), config, error, warnings_);
    EXPECT_EQ(ok, error.empty()) << error;
    return error;
  }

  CliAction parse(std::vector<std::string> args, Config& config, std::string& message) {
    args.insert(args.begin(), "ringcast");
    std::vector<char*> argv;
    for (std::string& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    warnings_.clear();
    return parse_command_line(static_cast<int>(args.size()), argv.data(), config, message, warnings_);
  }

  std::string dir_;
  std::vector<std::string> files_;
  std::string warnings_;
};

TEST(Config, DefaultsAreValid) {
  Config c;
  EXPECT_EQ(validate(c), "");
  EXPECT_EQ(c.listen.host, "0.0.0.0");
  EXPECT_EQ(c.listen.port, 7777);
  EXPECT_TRUE(c.listen.enabled);
  EXPECT_EQ(c.api.host, "127.0.0.1");
  EXPECT_EQ(c.api.port, 7799);
  EXPECT_EQ(c.rooms_per_conn_max, 5u);
  EXPECT_EQ(c.merge_window_ms, 0u);
  EXPECT_EQ(c.ring_bytes, 64u << 20);
}

TEST_F(ConfigTest, OurKeysFromAFile) {
  Config c;
  EXPECT_EQ(load(R"({"listen":"127.0.0.2:9000","api":"none","threads":3,"ws_path":"/ws",
                     "max_message":4096,"ring_bytes":1048576,"api_body_bytes_max":65536,
                     "log_level":"debug","merge_frame_bytes_max":2048})",
                 c),
            "");
  EXPECT_EQ(warnings_, "");
  EXPECT_EQ(c.listen.host, "127.0.0.2");
  EXPECT_EQ(c.listen.port, 9000);
  EXPECT_FALSE(c.api.enabled);
  EXPECT_EQ(c.threads, 3u);
  EXPECT_EQ(c.ws_path, "/ws");
  EXPECT_EQ(c.max_message_bytes, 4096u);
  EXPECT_EQ(c.ring_bytes, 1048576u);
  EXPECT_EQ(c.log_level, "debug");
  EXPECT_EQ(c.merge_frame_bytes_max, 2048u);
  EXPECT_EQ(validate(c), "");
  // A number where an endpoint is expected is a port.
  EXPECT_EQ(load(R"({"api": 8001})", c), "");
  EXPECT_EQ(c.api.port, 8001);
  EXPECT_TRUE(c.api.enabled);
}

TEST_F(ConfigTest, GoPushKeysAreMapped) {
  Config c;
  EXPECT_EQ(load(R"({"wsPort":8080,"wsHeartbeatInterval":30,"maxMergerDelay":10,"maxMergerBatchSize":50,
                     "maxJoinRoom":3,"servicePort":9090})",
                 c),
            "");
  EXPECT_EQ(warnings_, "");
  EXPECT_EQ(c.listen.port, 8080);
  EXPECT_EQ(c.listen.host, "0.0.0.0") << "a port key keeps the host";
  EXPECT_EQ(c.heartbeat_timeout_ms, 30000u) << "go-push gives seconds";
  EXPECT_EQ(c.merge_window_ms, 10u);
  EXPECT_EQ(c.merge_batch_items_max, 50u);
  EXPECT_EQ(c.rooms_per_conn_max, 3u);
  EXPECT_EQ(c.api.port, 9090);
  EXPECT_EQ(c.api.host, "127.0.0.1");
  EXPECT_EQ(validate(c), "");
}

TEST_F(ConfigTest, GoPushNoOpKeysAreAcceptedSilently) {
  Config c;
  EXPECT_EQ(load(R"({"wsReadTimeout":2000,"wsWriteTimeout":2000,"wsInChannelSize":1000,"wsOutChannelSize":1000,
                     "mergerWorkerCount":32,"MergerWorkerCount":32,"mergerChannelSize":1000,
                     "bucketCount":512,"bucketWorkerCount":32,"dispatchChannelSize":100000,
                     "dispatchWorkerCount":32,"bucketJobChannelSize":1000,"bucketJobWorkerCount":32,
                     "serviceReadTimeout":2000,"serviceWriteTimeout":2000,
                     "gatewayList":["127.0.0.1:7788"],"gatewayMaxPendingCount":100000,"gatewayPushRetry":3})",
                 c),
            "");
  EXPECT_EQ(warnings_, "");
  Config defaults;
  EXPECT_EQ(c.listen.port, defaults.listen.port);
  EXPECT_EQ(c.heartbeat_timeout_ms, defaults.heartbeat_timeout_ms);
}

// go-push serves its push API over TLS with serverPem/serverKey: they are the API listener's pair.
TEST_F(ConfigTest, GoPushServerPemIsTheApiCertificate) {
  Config c;
  EXPECT_EQ(load(R"({"serverPem":"a.pem","serverKey":"a.key"})", c), "");
  EXPECT_EQ(warnings_, "");
  EXPECT_EQ(api_tls_files(c).cert, "a.pem");
  EXPECT_EQ(api_tls_files(c).key, "a.key");
  EXPECT_FALSE(client_tls_files(c).on()) << "the WebSocket port stays plain, as in go-push";
}

TEST_F(ConfigTest, SharedTlsPairServesBothListenersUnlessOneHasItsOwn) {
  Config c;
  c.tls_cert_file = "shared.pem";
  c.tls_key_file = "shared.key";
  EXPECT_EQ(client_tls_files(c).cert, "shared.pem");
  EXPECT_EQ(api_tls_files(c).key, "shared.key");
  c.api_tls_cert_file = "api.pem";
  c.api_tls_key_file = "api.key";
  EXPECT_EQ(api_tls_files(c).cert, "api.pem");
  EXPECT_EQ(api_tls_files(c).key, "api.key");
  EXPECT_EQ(client_tls_files(c).cert, "shared.pem");
}

TEST_F(ConfigTest, UnknownKeysWarn) {
  Config c;
  EXPECT_EQ(load(R"({"wsPort说明":"the port","bogus":1,"threads":2})", c), "");
  EXPECT_EQ(warnings_, "config: unknown keys ignored: 'wsPort说明', 'bogus'\n");
  EXPECT_EQ(c.threads, 2u);
}

TEST_F(ConfigTest, FileErrorsNameTheKey) {
  struct Case {
    const char* json;
    const char* error;
  };
  const Case cases[] = {
      {R"({"threads":-1})", "config key 'threads': must not be negative"},
      {R"({"wsPort":-80})", "config key 'wsPort': must not be negative"},
      {R"({"threads":"4"})", "config key 'threads': expected a number, got a string"},
      {R"({"threads":1.5})", "config key 'threads': expected a number or a string"},
      {R"({"threads":true})", "config key 'threads': expected a number or a string"},
      {R"({"threads":1025})", "config key 'threads': 1025 is outside 0..1024"},
      {R"({"rooms_per_conn_max":0})", "config key 'rooms_per_conn_max': 0 is outside 1..65535"},
      {R"({"maxJoinRoom":0})", "config key 'maxJoinRoom': 0 is outside 1..65535"},
      {R"({"wsHeartbeatInterval":0})", "config key 'wsHeartbeatInterval': 0 is outside 1..86400"},
      {R"({"wsPort":70000})", "config key 'wsPort': 70000 is outside 0..65535"},
      {R"({"ring_bytes":1024})", "config key 'ring_bytes': 1024 is outside 65536..17179869184"},
      {R"({"listen":"host:port"})", "config key 'listen': expected host:port, :port, port or none, got 'host:port'"},
  };
  for (const Case& k : cases) {
    Config c;
    EXPECT_EQ(load(k.json, c), k.error) << k.json;
  }
}

TEST_F(ConfigTest, BadFiles) {
  Config c;
  std::string error, warnings;
  EXPECT_FALSE(load_config_file(dir_ + "/missing.json", c, error, warnings));
  EXPECT_NE(error.find("cannot read config file"), std::string::npos) << error;
  EXPECT_NE(load("{\"threads\":", c).find("is not valid JSON"), std::string::npos);
  EXPECT_NE(load("[1,2]", c).find("must hold a JSON object"), std::string::npos);
}

TEST(ConfigValidate, RelationsNameTheKeys) {
  {
    Config c;
    c.ring_bytes = 3 << 20;
    EXPECT_EQ(validate(c), "'ring_bytes' must be a power of two and a multiple of the page size");
  }
  {
    Config c;
    c.ring_bytes = 1 << 20;  // a quarter is 256 KiB: the default 1 MiB body cannot fit
    EXPECT_EQ(validate(c), "'api_body_bytes_max' must be at most a quarter of 'ring_bytes' (minus 4 KiB)");
    c.api_body_bytes_max = 256 * 1024 - 4096;
    EXPECT_EQ(validate(c), "");
  }
  {
    Config c;
    c.recv_buffer_count = 1000;
    EXPECT_EQ(validate(c), "'recv_buffer_count' must be a power of two");
  }
  {
    Config c;
    c.listen.enabled = false;
    EXPECT_EQ(validate(c), "");
    c.api.enabled = false;
    EXPECT_EQ(validate(c), "'listen' and 'api' are both none: nothing to serve");
  }
  {
    Config c;
    c.ws_path = "connect";
    EXPECT_EQ(validate(c), "'ws_path' must start with '/'");
  }
  {
    Config c;
    c.merge_frame_bytes_max = c.out_queue_bytes_max + 1;
    EXPECT_EQ(validate(c), "'merge_frame_bytes_max' must not exceed 'out_queue_bytes_max'");
  }
  {
    Config c;
    c.out_queue_bytes_max = c.api_body_bytes_max;
    c.merge_frame_bytes_max = 4096;
    EXPECT_EQ(validate(c), "'out_queue_bytes_max' must hold at least one largest push ('api_body_bytes_max' + 64)");
  }
  {
    Config c;
    c.log_level = "verbose";
    EXPECT_EQ(validate(c), "'log_level' must be error, warn, info or debug");
  }
}

TEST_F(ConfigTest, FlagsOverrideTheFile) {
  const std::string path = write_file(R"({"rooms_per_conn_max":7,"merge_window_ms":5,"maxMergerBatchSize":20})");
  Config c;
  std::string message;
  ASSERT_EQ(parse({"--config", path, "--rooms-per-conn-max", "9"}, c, message), CliAction::run) << message;
  EXPECT_EQ(c.rooms_per_conn_max, 9u);
  EXPECT_EQ(c.merge_window_ms, 5u);
  EXPECT_EQ(c.merge_batch_items_max, 20u);
  // A flag given before --config wins too, and --name=value works.
  Config d;
  ASSERT_EQ(parse({"--rooms-per-conn-max=11", "--merge_window_ms", "6", "--config=" + path}, d, message),
            CliAction::run)
      << message;
  EXPECT_EQ(d.rooms_per_conn_max, 11u);
  EXPECT_EQ(d.merge_window_ms, 6u);
  // Endpoints and go-push names as flags.
  Config e;
  ASSERT_EQ(parse({"--listen", ":8000", "--api=[::1]:8001", "--wsHeartbeatInterval", "2"}, e, message), CliAction::run)
      << message;
  EXPECT_EQ(e.listen.host, "0.0.0.0");
  EXPECT_EQ(e.listen.port, 8000);
  EXPECT_EQ(e.api.host, "::1");
  EXPECT_EQ(e.api.port, 8001);
  EXPECT_EQ(e.heartbeat_timeout_ms, 2000u);
}

TEST_F(ConfigTest, FlagErrors) {
  Config c;
  std::string message;
  EXPECT_EQ(parse({"--threads", "abc"}, c, message), CliAction::error);
  EXPECT_EQ(message, "flag '--threads': expected a non-negative integer, got 'abc'");
  EXPECT_EQ(parse({"--threads=-2"}, c, message), CliAction::error);
  EXPECT_EQ(message, "flag '--threads': expected a non-negative integer, got '-2'");
  EXPECT_EQ(parse({"--rooms-per-conn-max", "0"}, c, message), CliAction::error);
  EXPECT_EQ(message, "flag '--rooms-per-conn-max': 0 is outside 1..65535");
  EXPECT_EQ(parse({"--no-such-flag", "1"}, c, message), CliAction::error);
  EXPECT_EQ(message, "unknown flag '--no-such-flag' (see --help)");
  EXPECT_EQ(parse({"--threads"}, c, message), CliAction::error);
  EXPECT_EQ(message, "flag '--threads' needs a value");
  EXPECT_EQ(parse({"stray"}, c, message), CliAction::error);
  EXPECT_EQ(message, "unexpected argument 'stray' (see --help)");
  EXPECT_EQ(parse({"--config"}, c, message), CliAction::error);
  EXPECT_EQ(message, "--config needs a file");
  // Values that pass their own range but not validate().
  EXPECT_EQ(parse({"--ring-bytes", "100000"}, c, message), CliAction::error);
  EXPECT_EQ(message, "invalid configuration: 'ring_bytes' must be a power of two and a multiple of the page size");
  // A bad file stops the parse with the file's error.
  const std::string bad = write_file(R"({"maxJoinRoom":"five"})");
  EXPECT_EQ(parse({"--config", bad}, c, message), CliAction::error);
  EXPECT_EQ(message, "config key 'maxJoinRoom': expected a number, got a string");
}

// Access control keys (docs/security.md): lists from a string or a JSON array, secrets from files,
// and the checks that keep weak secrets and malformed origins out.
TEST_F(ConfigTest, AccessControlKeys) {
  Config defaults;
  EXPECT_EQ(defaults.api.host, "127.0.0.1");  // the push API is loopback unless told otherwise
  EXPECT_TRUE(defaults.api_token.empty());
  EXPECT_TRUE(defaults.token_secret.empty());
  EXPECT_TRUE(defaults.allowed_origins.empty());
  EXPECT_EQ(defaults.room_name_charset, "utf8");

  Config c;
  EXPECT_EQ(load(R"({"allowed_origins":["https://a.example","https://*.b.example"],"metrics_public":true,
                     "room_name_charset":"ascii","api_conns_per_shard_max":3})", c), "");
  EXPECT_EQ(c.allowed_origins, "https://a.example,https://*.b.example");
  EXPECT_TRUE(c.metrics_public);
  EXPECT_EQ(c.room_name_charset, "ascii");
  EXPECT_EQ(c.api_conns_per_shard_max, 3u);
  EXPECT_EQ(load(R"({"allowed_origins":"https://a.example, https://c.example"})", c), "");
  EXPECT_EQ(c.allowed_origins, "https://a.example, https://c.example");
  EXPECT_EQ(load(R"({"allowed_origins":[1]})", c),
            "config key 'allowed_origins': expected an array of strings without commas");

  // Secrets from files: trailing newlines dropped; not both ways at once; an empty file is an error.
  const std::string token_file = write_file("0123456789abcdef0123\n");
  const std::string secret_file = write_file(std::string(40, 's') + "\r\n");
  const std::string empty_file = write_file("\n");
  Config d;
  std::string message;
  ASSERT_EQ(parse({"--api-token-file", token_file, "--token-secret-file", secret_file}, d, message), CliAction::run)
      << message;
  EXPECT_EQ(d.api_token, "0123456789abcdef0123");
  EXPECT_EQ(d.token_secret, std::string(40, 's'));
  Config e;
  EXPECT_EQ(parse({"--api-token", "0123456789abcdef", "--api-token-file", token_file}, e, message), CliAction::error);
  EXPECT_EQ(message, "invalid configuration: give 'api_token' or 'api_token_file', not both");
  Config f;
  EXPECT_EQ(parse({"--token-secret-file", empty_file}, f, message), CliAction::error);
  EXPECT_EQ(message, "invalid configuration: 'token_secret_file': '" + empty_file + "' is empty");
  Config g;
  EXPECT_EQ(parse({"--token-secret-file", dir_ + "/missing"}, g, message), CliAction::error);
  EXPECT_NE(message.find("cannot read"), std::string::npos);

  {
    Config v;
    v.token_secret = "short";
    EXPECT_EQ(validate(v), "'token_secret' must be at least 32 bytes (RFC 7518 section 3.2); e.g. openssl rand -hex 32");
  }
  {
    Config v;
    v.api_token = "short";
    EXPECT_EQ(validate(v), "'api_token' must be at least 16 bytes; e.g. openssl rand -hex 32");
    v.api_token = "0123456789 abcdef";
    EXPECT_EQ(validate(v), "'api_token' must be printable ASCII without spaces (an HTTP header value)");
  }
  {
    Config v;
    v.allowed_origins = "https://ok.example,example.com";
    EXPECT_EQ(validate(v),
              "'allowed_origins': 'example.com' is not an origin (scheme://host[:port], e.g. https://example.com)");
    v.allowed_origins = "*, null, http://localhost:3000";
    EXPECT_EQ(validate(v), "");
  }
  {
    Config v;
    v.room_name_charset = "latin1";
    EXPECT_EQ(validate(v), "'room_name_charset' must be utf8 or ascii");
  }
}

// TLS to NATS (engine/node/nats_tls.h): tls:// URLs, the files checked at start-up (readable PEM, the
// key that belongs to the certificate), and the keys' relations to each other and to `nats`.
TEST_F(ConfigTest, NatsTlsKeys) {
  const auto [cert, key] = write_cert_and_key();
  const auto [other_cert, other_key] = write_cert_and_key();
  const std::string not_pem = write_file("not a certificate\n");
  Config c;
  std::string message;
  ASSERT_EQ(parse({"--nats", "nats://127.0.0.1:4222", "--nats-tls-ca-file", cert, "--nats-tls-cert-file",
                   other_cert, "--nats-tls-key-file", other_key},
                  c, message),
            CliAction::run)
      << message;
  EXPECT_EQ(c.nats_tls_ca_file, cert);
  EXPECT_EQ(c.nats_tls_cert_file, other_cert);
  EXPECT_EQ(c.nats_tls_key_file, other_key);
  Config from_file;
  EXPECT_EQ(load(R"({"nats":"tls://a:4222,tls://b:4222","nats_tls_ca_file":")" + cert + R"("})", from_file), "");
  EXPECT_EQ(validate(from_file), "");
  EXPECT_EQ(from_file.nats_tls_ca_file, cert);

  // Each case: `nats` and the three files, and what validate() says of them.
  struct Case {
    std::string nats, ca, cert, key, problem;
  };
  const std::string n = "nats://127.0.0.1:4222";
  const std::string together = "'nats_tls_cert_file' and 'nats_tls_key_file' go together: give both or neither";
  const std::string no_key = "' holds no PEM private key (or one protected by a passphrase, which cannot be used)";
  const Case cases[] = {
      // tls:// alone turns TLS on (the system's CAs); the schemes cannot be mixed (one setting in libnats).
      {"tls://127.0.0.1:4222", "", "", "", ""},
      {"tls://a:4222,nats://b:4222", "", "", "",
       "'nats': mixes tls:// and nats:// URLs; TLS is on for all servers or none (use tls:// for all)"},
      {"tls://", "", "", "", "'nats': expected nats://host:port[,nats://host:port...] (or tls://...), got 'tls://'"},
      {"", cert, "", "", "the 'nats_tls_*' keys need 'nats' (they secure its connections)"},
      {n, "", cert, "", together},
      {n, "", "", key, together},
      {n, dir_ + "/missing.crt", "", "",
       "'nats_tls_ca_file': cannot read '" + dir_ + "/missing.crt': No such file or directory"},
      {n, not_pem, "", "", "'nats_tls_ca_file': '" + not_pem + "' holds no PEM certificate"},
      {n, "", cert, key, ""},
      {n, other_cert, cert, key, ""},
      {n, "", cert, other_key, "'nats_tls_key_file' is not the key of the certificate in 'nats_tls_cert_file'"},
      {n, "", key, key, "'nats_tls_cert_file': '" + key + "' holds no PEM certificate"},
      {n, "", cert, cert, "'nats_tls_key_file': '" + cert + no_key},
      {n, "", cert, dir_ + "/missing.key",
       "'nats_tls_key_file': cannot read '" + dir_ + "/missing.key': No such file or directory"},
  };
  for (const Case& t : cases) {
    Config v;
    v.nats = t.nats;
    v.nats_tls_ca_file = t.ca;
    v.nats_tls_cert_file = t.cert;
    v.nats_tls_key_file = t.key;
    EXPECT_EQ(validate(v), t.problem) << t.nats << " " << t.ca << " " << t.cert << " " << t.key;
  }
  // Through the command line the message says the configuration is invalid (the server exits 2).
  Config d;
  EXPECT_EQ(parse({"--nats", "nats://127.0.0.1:4222", "--nats-tls-cert-file", cert}, d, message), CliAction::error);
  EXPECT_EQ(message,
            "invalid configuration: 'nats_tls_cert_file' and 'nats_tls_key_file' go together: give both or neither");
}

TEST_F(ConfigTest, Help) {
  Config c;
  std::string message;
  EXPECT_EQ(parse({"--threads", "2", "--help"}, c, message), CliAction::help);
  EXPECT_EQ(message, usage_text());
  EXPECT_NE(message.find("--rooms-per-conn-max"), std::string::npos);
  EXPECT_NE(message.find("[go-push: maxJoinRoom]"), std::string::npos);
  EXPECT_NE(message.find("[go-push: wsHeartbeatInterval]"), std::string::npos);
}

TEST(ParseEndpoint, Forms) {
  Endpoint e{"10.0.0.1", 1, true};
  ASSERT_TRUE(parse_endpoint("example.org:8080", e));
  EXPECT_EQ(e.host, "example.org");
  EXPECT_EQ(e.port, 8080);
  EXPECT_TRUE(e.enabled);

  ASSERT_TRUE(parse_endpoint(":81", e));
  EXPECT_EQ(e.host, "0.0.0.0");
  EXPECT_EQ(e.port, 81);

  e.host = "192.168.1.1";
  ASSERT_TRUE(parse_endpoint("82", e));
  EXPECT_EQ(e.host, "192.168.1.1") << "a bare port keeps the host";
  EXPECT_EQ(e.port, 82);

  ASSERT_TRUE(parse_endpoint("none", e));
  EXPECT_FALSE(e.enabled);
  ASSERT_TRUE(parse_endpoint("83", e));
  EXPECT_TRUE(e.enabled) << "a port enables it again";

  ASSERT_TRUE(parse_endpoint("[::1]:80", e));
  EXPECT_EQ(e.host, "::1");
  EXPECT_EQ(e.port, 80);

  ASSERT_TRUE(parse_endpoint("0", e));
  EXPECT_EQ(e.port, 0);
  ASSERT_TRUE(parse_endpoint("h:65535", e));
  EXPECT_EQ(e.port, 65535);

  const Endpoint before = e;
  for (const char* bad : {"", "host:", "host:65536", "host:abc", "abc", ":-1", "host:8 0", "host:+80"}) {
    EXPECT_FALSE(parse_endpoint(bad, e)) << bad;
    EXPECT_EQ(e.port, before.port) << bad;
    EXPECT_EQ(e.host, before.host) << bad;
  }
}

}  // namespace
}  // namespace ringcast
