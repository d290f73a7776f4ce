// TLS to the NATS servers: the start-up check of the nats_tls_* files (with libcrypto's PEM readers,
// which start no threads: validate() runs in the --workers supervisor before it forks, where libnats
// must not have started yet) and the libnats options the bridge's connections are given.
#include "engine/node/nats_tls.h"

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>

namespace ringcast {
namespace {

struct FileCloser {
  void operator()(FILE* f) const { std::fclose(f); }
};
struct X509Free {
  void operator()(X509* x) const { X509_free(x); }
};
struct PkeyFree {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
using File = std::unique_ptr<FILE, FileCloser>;
using Cert = std::unique_ptr<X509, X509Free>;
using Pkey = std::unique_ptr<EVP_PKEY, PkeyFree>;

// A key protected by a passphrase cannot be used (nobody is there to type it): refuse it rather than
// let OpenSSL prompt on the terminal.
int no_passphrase(char*, int, int, void*) {
  return -1;
}

File open_file(const char* key, const std::string& path, std::string& error) {
  File f(std::fopen(path.c_str(), "r"));
  if (!f) error = std::string("'") + key + "': cannot read '" + path + "': " + std::strerror(errno);
  return f;
}

// libnats 3.4 (Debian 12's) frees OpenSSL's list of compression methods when it is closed without
// clearing OpenSSL's pointer to it (nats-io/nats.c issue 904); OpenSSL's own clean-up at exit then
// frees it again and the server crashes on its way out. The process's memory goes back to the system
// at exit anyway, so OpenSSL is told not to clean up then. Only the first initialisation of OpenSSL in
// a process decides this: it is done before ringcast's first use of OpenSSL with TLS to NATS on (the
// check of the files, then libnats' set-up).
void no_openssl_cleanup_at_exit() {
  OPENSSL_init_crypto(OPENSSL_INIT_NO_ATEXIT, nullptr);
}

std::string check_files(const Config& c) {
  std::string error;
  if (!c.nats_tls_ca_file.empty()) {
    File f = open_file("nats_tls_ca_file", c.nats_tls_ca_file, error);
    if (!f) return error;
    if (!Cert(PEM_read_X509(f.get(), nullptr, no_passphrase, nullptr)))
      return "'nats_tls_ca_file': '" + c.nats_tls_ca_file + "' holds no PEM certificate";
  }
  if (c.nats_tls_cert_file.empty()) return {};
  File cert_file = open_file("nats_tls_cert_file", c.nats_tls_cert_file, error);
  if (!cert_file) return error;
  File key_file = open_file("nats_tls_key_file", c.nats_tls_key_file, error);
  if (!key_file) return error;
  // The first certificate of the chain is the client's own: the one the key must belong to.
  Cert cert(PEM_read_X509(cert_file.get(), nullptr, no_passphrase, nullptr));
  if (!cert) return "'nats_tls_cert_file': '" + c.nats_tls_cert_file + "' holds no PEM certificate";
  Pkey key(PEM_read_PrivateKey(key_file.get(), nullptr, no_passphrase, nullptr));
  if (!key)
    return "'nats_tls_key_file': '" + c.nats_tls_key_file +
           "' holds no PEM private key (or one protected by a passphrase, which cannot be used)";
  if (X509_check_private_key(cert.get(), key.get()) != 1)
    return "'nats_tls_key_file' is not the key of the certificate in 'nats_tls_cert_file'";
  return {};
}

}  // namespace

bool nats_tls_on(const Config& c) {
  if (!c.nats_tls_ca_file.empty() || !c.nats_tls_cert_file.empty()) return true;
  for (const std::string& url : split_list(c.nats))
    if (url.rfind("tls://", 0) == 0) return true;
  return false;
}

std::string check_nats_tls(const Config& c) {
  const bool any_file =
      !c.nats_tls_ca_file.empty() || !c.nats_tls_cert_file.empty() || !c.nats_tls_key_file.empty();
  if (any_file && c.nats.empty()) return "the 'nats_tls_*' keys need 'nats' (they secure its connections)";
  if (c.nats_tls_cert_file.empty() != c.nats_tls_key_file.empty())
    return "'nats_tls_cert_file' and 'nats_tls_key_file' go together: give both or neither";
  if (!nats_tls_on(c)) return {};
  no_openssl_cleanup_at_exit();
  std::string problem = check_files(c);
  // The PEM readers leave their failures in OpenSSL's error queue, where libnats would later take
  // them for its own.
  ERR_clear_error();
  return problem;
}

natsStatus set_nats_tls(natsOptions* options, const Config& c) {
  no_openssl_cleanup_at_exit();  // (an application embedding the engine need not have run the check)
  natsStatus s = natsOptions_SetSecure(options, true);
  if (s == NATS_OK && !c.nats_tls_ca_file.empty())
    s = natsOptions_LoadCATrustedCertificates(options, c.nats_tls_ca_file.c_str());
  if (s == NATS_OK && !c.nats_tls_cert_file.empty())
    s = natsOptions_LoadCertificatesChain(options, c.nats_tls_cert_file.c_str(), c.nats_tls_key_file.c_str());
  return s;
}

}  // namespace ringcast
