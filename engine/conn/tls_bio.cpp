// The shard-memory BIO (see tls_bio.h).
#include "engine/conn/tls_bio.h"

#include <openssl/bio.h>

#include <algorithm>
#include <cstring>

#include "engine/base/check.h"
#include "engine/conn/tls.h"

namespace ringcast {
namespace {

int bio_write(BIO* bio, const char* data, int len) {
  auto* current = static_cast<TlsStreams::Current*>(BIO_get_data(bio));
  BIO_clear_retry_flags(bio);
  if (len <= 0) return 0;
  const auto* bytes = reinterpret_cast<const uint8_t*>(data);
  current->self->append_output(current->id, bytes, static_cast<size_t>(len));
  current->self->count_written(current->id, bytes, static_cast<size_t>(len));
  return len;
}

int bio_read(BIO* bio, char* out, int len) {
  auto* current = static_cast<TlsStreams::Current*>(BIO_get_data(bio));
  BIO_clear_retry_flags(bio);
  if (current->in_len == 0) {
    BIO_set_retry_read(bio);  // no more for now: the next recv brings it
    return -1;
  }
  const size_t n = std::min(current->in_len, static_cast<size_t>(len));
  std::memcpy(out, current->in, n);
  current->in += n;
  current->in_len -= n;
  current->self->count_read(current->id, reinterpret_cast<const uint8_t*>(out), n);
  return static_cast<int>(n);
}

long bio_ctrl(BIO* bio, int cmd, long larg, void* parg) {
  auto* current = static_cast<TlsStreams::Current*>(BIO_get_data(bio));
  switch (cmd) {
    case BIO_CTRL_FLUSH:  // writes are already where the send takes them
      return 1;
    case kBioCtrlSetKtls:  // the keys are noted and the hand-off declined: OpenSSL goes on encrypting
      current->self->on_crypto_info(current->id, parg, larg != 0);
      return 0;
    case kBioCtrlKeyLog:
      current->self->on_key_log(current->id, static_cast<const char*>(parg));
      return 1;
    default:
      return 0;
  }
}

int bio_create(BIO* bio) {
  BIO_set_init(bio, 1);
  return 1;
}

}  // namespace

BIO_METHOD* tls_bio_method() {
  static BIO_METHOD* method = [] {
    BIO_METHOD* m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "ringcast shard memory");
    RC_ASSERT(m != nullptr);
    BIO_meth_set_write(m, bio_write);
    BIO_meth_set_read(m, bio_read);
    BIO_meth_set_ctrl(m, bio_ctrl);
    BIO_meth_set_create(m, bio_create);
    return m;
  }();
  return method;
}

}  // namespace ringcast
