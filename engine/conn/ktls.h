// The kernel's TLS (kTLS; the kernel's Documentation/networking/tls.rst): once a handshake is done and
// our record layer holds a connection's keys (tls_records.h), its sending direction can be handed to
// the kernel (TCP_ULP "tls", then SOL_TLS TLS_TX). From then on a send carries plaintext straight from
// the shared frames, as a plain connection's does, and the kernel seals the records as it copies them
// in: no ciphertext buffer in user space, no copy of ours. Receiving stays with our record layer (what
// clients send is small, and the socket's reads stay on the shard's provided buffers). Records of
// another type than application data (close_notify, a KeyUpdate) go through sendmsg with the record
// type as a control message. Pure system calls on one socket: TlsStreams decides when.
#pragma once

#include <cstddef>
#include <cstdint>

#include "engine/conn/tls_records.h"

namespace ringcast::ktls {

// Hands `keys`' sending direction (its key, nonce base and next sequence number) to the kernel. 0, or
// -errno when the kernel refuses (no tls ULP, a cipher it does not run): sends then stay ours, and the
// socket, whose sending keys were never set, goes on carrying our records as before.
int hand_tx(int fd, const tls::Keys& keys);

// TLS 1.3 KeyUpdate: the sending direction's next keys, after the KeyUpdate record went out under the
// old ones. Kernels before 6.14 cannot change keys (-EBUSY): the connection must end.
int update_tx(int fd, const tls::Keys& keys);

// A record of `type` (an alert, a handshake message) written now without blocking, sealed by the
// kernel: 0, or -errno (-EAGAIN while the socket's buffer is full).
int send_record(int fd, uint8_t type, const uint8_t* data, size_t len);

}  // namespace ringcast::ktls
