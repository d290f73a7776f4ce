// The BIO every TLS connection of the process uses while OpenSSL runs its handshake: reads take the
// shard's current input (the provided buffer the kernel filled), writes append to the connection's
// ciphertext, and OpenSSL's kTLS keys and key-log lines reach the connection's TlsStreams. Its data is
// the shard's TlsStreams::Current, which the shard sets around each OpenSSL call.
#pragma once

typedef struct bio_method_st BIO_METHOD;

namespace ringcast {

BIO_METHOD* tls_bio_method();

}  // namespace ringcast
