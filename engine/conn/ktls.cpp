// kTLS (see ktls.h): the kernel's crypto_info from our keys, and the system calls.
#include "engine/conn/ktls.h"

#include <linux/tls.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/crypto.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>

namespace ringcast::ktls {
namespace {

void put_u64(uint8_t* p, uint64_t v) {
  for (int i = 7; i >= 0; --i, v >>= 8) p[i] = static_cast<uint8_t>(v);
}

// One direction as the kernel takes it. AES-GCM splits the nonce base into a 4-byte salt and an 8-byte
// part: for TLS 1.3 that part is the rest of the base (the kernel XORs in the sequence number, RFC 8446
// 5.3); for TLS 1.2 it is the first record's explicit nonce, which the kernel counts up by one a record,
// so it starts at the sequence number, as ours does (tls_records.cpp). ChaCha20 takes the whole base.
union CryptoInfo {
  tls_crypto_info info;
  tls12_crypto_info_aes_gcm_128 aes128;
  tls12_crypto_info_aes_gcm_256 aes256;
  tls12_crypto_info_chacha20_poly1305 chacha;
};

size_t fill(CryptoInfo& c, const tls::Keys& keys, const tls::Direction& d) {
  std::memset(&c, 0, sizeof(c));
  c.info.version = keys.tls13 ? TLS_1_3_VERSION : TLS_1_2_VERSION;
  auto aes = [&](auto& a, uint16_t type) {
    c.info.cipher_type = type;
    std::memcpy(a.key, d.key, sizeof(a.key));
    std::memcpy(a.salt, d.iv, 4);
    if (keys.tls13)
      std::memcpy(a.iv, d.iv + 4, 8);
    else
      put_u64(a.iv, d.seq);
    put_u64(a.rec_seq, d.seq);
    return sizeof(a);
  };
  switch (keys.aead) {
    case tls::Aead::aes_128_gcm:
      return aes(c.aes128, TLS_CIPHER_AES_GCM_128);
    case tls::Aead::aes_256_gcm:
      return aes(c.aes256, TLS_CIPHER_AES_GCM_256);
    default:
      c.info.cipher_type = TLS_CIPHER_CHACHA20_POLY1305;
      std::memcpy(c.chacha.key, d.key, sizeof(c.chacha.key));
      std::memcpy(c.chacha.iv, d.iv, sizeof(c.chacha.iv));
      put_u64(c.chacha.rec_seq, d.seq);
      return sizeof(c.chacha);
  }
}

int set_tx(int fd, const tls::Keys& keys) {
  CryptoInfo c;
  const size_t len = fill(c, keys, keys.tx);
  const int rc = setsockopt(fd, SOL_TLS, TLS_TX, &c, static_cast<socklen_t>(len));
  const int error = errno;
  OPENSSL_cleanse(&c, sizeof(c));
  return rc == 0 ? 0 : -error;
}

}  // namespace

int hand_tx(int fd, const tls::Keys& keys) {
  // (EEXIST: the ULP is already on, from an earlier attempt whose TLS_TX the kernel refused.)
  if (setsockopt(fd, SOL_TCP, TCP_ULP, "tls", sizeof("tls")) != 0 && errno != EEXIST) return -errno;
  return set_tx(fd, keys);
}

int update_tx(int fd, const tls::Keys& keys) {
  return set_tx(fd, keys);
}

int send_record(int fd, uint8_t type, const uint8_t* data, size_t len) {
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(type))] = {};
  iovec iov{const_cast<uint8_t*>(data), len};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof(control);
  cmsghdr* cmsg = CMSG_FIRSTHDR(&msg);
  cmsg->cmsg_level = SOL_TLS;
  cmsg->cmsg_type = TLS_SET_RECORD_TYPE;
  cmsg->cmsg_len = CMSG_LEN(sizeof(type));
  std::memcpy(CMSG_DATA(cmsg), &type, sizeof(type));
  msg.msg_controllen = cmsg->cmsg_len;
  const ssize_t n = sendmsg(fd, &msg, MSG_DONTWAIT | MSG_NOSIGNAL);
  if (n < 0) return -errno;
  return static_cast<size_t>(n) == len ? 0 : -EAGAIN;
}

}  // namespace ringcast::ktls
