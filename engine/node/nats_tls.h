// TLS between this node and its NATS servers (docs/cluster.md, "TLS to NATS"): when it is on, the
// check of its files at start-up (validate() calls it, so a missing or mismatched file stops the server
// with exit code 2 instead of leaving a bridge that retries forever), and the options each of the
// bridge's NATS connections gets (bridge.cpp, bridge_history.cpp).
#pragma once

#include <nats/nats.h>

#include <string>

#include "engine/config.h"

namespace ringcast {

// On when the URLs in `nats` are tls:// or a CA file or client certificate is given. libnats has one
// setting for all the URLs of a connection: on, every server is reached over TLS.
bool nats_tls_on(const Config& config);

// The nats_tls_* keys against each other and `nats`, and their files: readable PEM, a certificate
// with the key that belongs to it. An empty string when usable, else a message naming the key.
std::string check_nats_tls(const Config& config);

// Turns TLS on for `options` with the configured CA and client certificate. The server's certificate
// is verified against the CA file (plus the system's CAs) and against the host name of the URL being
// connected to (Debian's libnats checks the host name of every URL; an IP address is checked against
// the certificate's IP entries). On failure nats_GetLastError() says why.
natsStatus set_nats_tls(natsOptions* options, const Config& config);

}  // namespace ringcast
