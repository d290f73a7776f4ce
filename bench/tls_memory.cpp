// What OpenSSL alone keeps per idle server-side TLS connection (issue 16's memory target), measured
// outside the server: N server SSL objects configured as ringcast's contexts are (engine/node/
// tls_context.cpp: SSL_MODE_RELEASE_BUFFERS, no session cache, one ticket, ALPN), each over a BIO
// with no buffer of its own (as engine/conn/tls.cpp's), taken through a full handshake with a client
// and one exchange of application data (an upgrade request in, a 101 and a PONG out), then left idle.
// The clients are freed as they finish, so what stays is the servers'. OpenSSL's allocations are
// counted through CRYPTO_set_mem_functions by allocation site (file:line), so the report says where
// the bytes are; the heap in use (mallinfo2, malloc's own overhead included) and RssAnon are given
// beside them.
//
//   bench_tls_memory CERT KEY [--connections N] [--tls12] [--json FILE]
#include <malloc.h>
#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <string>
#include <unordered_map>
#include <vector>

namespace {

// ---- OpenSSL's allocations, by site ----
struct Live {
  size_t bytes;
  int site;
};
std::unordered_map<void*, Live>* g_live = nullptr;
std::map<std::string, int>* g_site_ids = nullptr;
std::vector<std::string>* g_sites = nullptr;

int site_id(const char* file, int line) {
  std::string key = std::string(file ? file : "?") + ":" + std::to_string(line);
  auto [it, fresh] = g_site_ids->emplace(key, static_cast<int>(g_sites->size()));
  if (fresh) g_sites->push_back(key);
  return it->second;
}

void* count_malloc(size_t n, const char* file, int line) {
  void* p = std::malloc(n);
  if (p) (*g_live)[p] = Live{n, site_id(file, line)};
  return p;
}

void* count_realloc(void* old, size_t n, const char* file, int line) {
  void* p = std::realloc(old, n);
  if (!p) return p;
  if (old) g_live->erase(old);
  (*g_live)[p] = Live{n, site_id(file, line)};
  return p;
}

void count_free(void* p, const char*, int) {
  if (p) g_live->erase(p);
  std::free(p);
}

// bytes per site right now
std::vector<size_t> by_site() {
  std::vector<size_t> v(g_sites->size());
  for (auto& [p, l] : *g_live) v[l.site] += l.bytes;
  return v;
}

size_t live_blocks() { return g_live->size(); }

long rss_anon_kib() {
  std::ifstream in("/proc/self/status");
  std::string key;
  long value = 0;
  while (in >> key) {
    if (key == "RssAnon:") {
      in >> value;
      return value;
    }
    in.ignore(1 << 20, '\n');
  }
  return -1;
}

// ---- a BIO with no buffer: reads take the pipe's input, writes append to its output ----
struct Pipe {
  std::string* in = nullptr;
  size_t in_off = 0;
  std::string* out = nullptr;
};

int bio_write(BIO* bio, const char* data, int len) {
  auto* p = static_cast<Pipe*>(BIO_get_data(bio));
  BIO_clear_retry_flags(bio);
  p->out->append(data, static_cast<size_t>(len));
  return len;
}

int bio_read(BIO* bio, char* out, int len) {
  auto* p = static_cast<Pipe*>(BIO_get_data(bio));
  BIO_clear_retry_flags(bio);
  const size_t left = p->in->size() - p->in_off;
  if (left == 0) {
    BIO_set_retry_read(bio);
    return -1;
  }
  const size_t n = std::min(left, static_cast<size_t>(len));
  std::memcpy(out, p->in->data() + p->in_off, n);
  p->in_off += n;
  if (p->in_off == p->in->size()) {
    p->in->clear();
    p->in_off = 0;
  }
  return static_cast<int>(n);
}

long bio_ctrl(BIO*, int cmd, long, void*) { return cmd == BIO_CTRL_FLUSH ? 1 : 0; }

int bio_create(BIO* bio) {
  BIO_set_init(bio, 1);
  return 1;
}

BIO_METHOD* bio_method() {
  static BIO_METHOD* m = [] {
    BIO_METHOD* m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "memory pipe");
    BIO_meth_set_write(m, bio_write);
    BIO_meth_set_read(m, bio_read);
    BIO_meth_set_ctrl(m, bio_ctrl);
    BIO_meth_set_create(m, bio_create);
    return m;
  }();
  return m;
}

std::string g_c2s, g_s2c;
Pipe g_server_pipe{&g_c2s, 0, &g_s2c};
Pipe g_client_pipe{&g_s2c, 0, &g_c2s};

SSL* attach(SSL_CTX* ctx, Pipe* pipe) {
  SSL* ssl = SSL_new(ctx);
  BIO* bio = BIO_new(bio_method());
  BIO_set_data(bio, pipe);
  SSL_set_bio(ssl, bio, bio);
  return ssl;
}

int select_alpn(SSL*, const unsigned char** out, unsigned char* out_len, const unsigned char* in,
                unsigned int in_len, void*) {
  static const unsigned char kHttp11[] = {8, 'h', 't', 't', 'p', '/', '1', '.', '1'};
  unsigned char* selected = nullptr;
  if (SSL_select_next_proto(&selected, out_len, kHttp11, sizeof(kHttp11), in, in_len) ==
      OPENSSL_NPN_NEGOTIATED) {
    *out = selected;
    return SSL_TLSEXT_ERR_OK;
  }
  return SSL_TLSEXT_ERR_NOACK;
}

// ringcast's server context (engine/node/tls_context.cpp), setting for setting.
SSL_CTX* server_context(const char* cert, const char* key) {
  SSL_CTX* ctx = SSL_CTX_new(TLS_server_method());
  if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1 ||
      SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1) {
    ERR_print_errors_fp(stderr);
    std::exit(1);
  }
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
  SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  SSL_CTX_set_alpn_select_cb(ctx, select_alpn, nullptr);
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
  SSL_CTX_set_num_tickets(ctx, 1);
  unsigned char keys[80];
  RAND_bytes(keys, sizeof(keys));
  SSL_CTX_set_tlsext_ticket_keys(ctx, keys, sizeof(keys));
  return ctx;
}

SSL_CTX* client_context(bool tls12) {
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, nullptr);
  if (tls12) SSL_CTX_set_max_proto_version(ctx, TLS1_2_VERSION);
  static const unsigned char kAlpn[] = {8, 'h', 't', 't', 'p', '/', '1', '.', '1'};
  SSL_CTX_set_alpn_protos(ctx, kAlpn, sizeof(kAlpn));
  return ctx;
}

void drain(SSL* ssl) {
  char buf[4096];
  while (SSL_read(ssl, buf, sizeof(buf)) > 0) {
  }
}

// One connection: a full handshake, an upgrade request in, a 101 and a PONG out, read by the client
// (which also takes the session ticket). Returns the server's SSL, idle.
SSL* connect_one(SSL_CTX* sctx, SSL_CTX* cctx) {
  SSL* server = attach(sctx, &g_server_pipe);
  SSL* client = attach(cctx, &g_client_pipe);
  SSL_set_accept_state(server);
  SSL_set_connect_state(client);
  for (int round = 0; round < 10; ++round) {
    const int c = SSL_do_handshake(client);
    const int s = SSL_do_handshake(server);
    if (c == 1 && s == 1) break;
  }
  if (!SSL_is_init_finished(server) || !SSL_is_init_finished(client)) {
    std::fprintf(stderr, "handshake did not finish\n");
    ERR_print_errors_fp(stderr);
    std::exit(1);
  }
  static const char kUpgrade[] =
      "GET /connect HTTP/1.1\r\nHost: 127.0.0.1:18777\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
  static const char kAnswer[] =
      "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
      "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n\x81\x1c{\"type\":\"PONG\",\"data\":{}}";
  SSL_write(client, kUpgrade, sizeof(kUpgrade) - 1);
  drain(server);
  SSL_write(server, kAnswer, sizeof(kAnswer) - 1);
  drain(client);
  drain(server);  // (nothing more: leaves the server's read state as an idle connection's)
  SSL_free(client);
  g_c2s.clear();
  g_s2c.clear();
  g_server_pipe.in_off = g_client_pipe.in_off = 0;
  return server;
}

}  // namespace

int main(int argc, char** argv) {
  g_live = new std::unordered_map<void*, Live>();
  g_site_ids = new std::map<std::string, int>();
  g_sites = new std::vector<std::string>();
  if (!CRYPTO_set_mem_functions(count_malloc, count_realloc, count_free)) {
    std::fprintf(stderr, "CRYPTO_set_mem_functions refused (OpenSSL allocated before main?)\n");
    return 1;
  }
  if (argc < 3) {
    std::fprintf(stderr, "usage: %s CERT KEY [--connections N] [--tls12] [--json FILE]\n", argv[0]);
    return 2;
  }
  int n = 10000;
  bool tls12 = false;
  std::string json;
  for (int i = 3; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--connections" && i + 1 < argc) n = std::atoi(argv[++i]);
    else if (a == "--tls12") tls12 = true;
    else if (a == "--json" && i + 1 < argc) json = argv[++i];
    else {
      std::fprintf(stderr, "unknown argument %s\n", a.c_str());
      return 2;
    }
  }
  g_c2s.reserve(1 << 16);
  g_s2c.reserve(1 << 16);
  SSL_CTX* sctx = server_context(argv[1], argv[2]);
  SSL_CTX* cctx = client_context(tls12);
  // Warm-up: whatever OpenSSL builds once (fetched algorithms, per-thread state) is made here.
  std::vector<SSL*> servers;
  for (int i = 0; i < 64; ++i) servers.push_back(connect_one(sctx, cctx));
  const char* version = SSL_get_version(servers.front());
  const char* cipher = SSL_get_cipher_name(servers.front());
  for (SSL* s : servers) SSL_free(s);
  servers.clear();
  servers.reserve(n);
  malloc_trim(0);

  const std::vector<size_t> sites0 = by_site();
  const size_t blocks0 = live_blocks();
  const size_t heap0 = mallinfo2().uordblks;
  const long rss0 = rss_anon_kib();
  for (int i = 0; i < n; ++i) servers.push_back(connect_one(sctx, cctx));
  std::vector<size_t> sites1 = by_site();
  const size_t blocks1 = live_blocks();
  const size_t heap1 = mallinfo2().uordblks;
  const long rss1 = rss_anon_kib();

  size_t openssl_total = 0;
  std::vector<std::pair<double, std::string>> per_site;
  for (size_t s = 0; s < sites1.size(); ++s) {
    const size_t before = s < sites0.size() ? sites0[s] : 0;
    if (sites1[s] <= before) continue;
    const double per = static_cast<double>(sites1[s] - before) / n;
    openssl_total += sites1[s] - before;
    if (per >= 1.0) per_site.emplace_back(per, (*g_sites)[s]);
  }
  std::sort(per_site.rbegin(), per_site.rend());
  const double openssl_per = static_cast<double>(openssl_total) / n;
  const double blocks_per = static_cast<double>(blocks1 - blocks0) / n;
  const double heap_per = static_cast<double>(heap1 - heap0) / n;
  const double rss_per = static_cast<double>(rss1 - rss0) * 1024.0 / n;
  // (the pointer vector's 8 B per connection is in heap and RSS, not in OpenSSL's figure)
  std::printf("%d idle server connections, %s %s, SSL_MODE_RELEASE_BUFFERS\n", n, version, cipher);
  std::printf("OpenSSL's allocations: %.0f B per connection in %.1f blocks\n", openssl_per, blocks_per);
  std::printf("heap in use (mallinfo2, malloc overhead included): %.0f B per connection\n", heap_per);
  std::printf("RssAnon: %.0f B per connection\n", rss_per);
  std::printf("by allocation site (B per connection):\n");
  for (auto& [per, site] : per_site) std::printf("  %8.1f  %s\n", per, site.c_str());
  if (!json.empty()) {
    std::FILE* f = std::fopen(json.c_str(), "w");
    std::fprintf(f, "{\"connections\": %d, \"version\": \"%s\", \"cipher\": \"%s\", \"openssl_bytes_per_connection\": %.1f,"
                    " \"openssl_blocks_per_connection\": %.2f, \"heap_bytes_per_connection\": %.1f,"
                    " \"rss_anon_bytes_per_connection\": %.1f, \"sites\": [",
                 n, version, cipher, openssl_per, blocks_per, heap_per, rss_per);
    for (size_t i = 0; i < per_site.size(); ++i)
      std::fprintf(f, "%s{\"site\": \"%s\", \"bytes\": %.1f}", i ? ", " : "", per_site[i].second.c_str(),
                   per_site[i].first);
    std::fprintf(f, "]}\n");
    std::fclose(f);
  }
  for (SSL* s : servers) SSL_free(s);
  SSL_CTX_free(sctx);
  SSL_CTX_free(cctx);
  return 0;
}
