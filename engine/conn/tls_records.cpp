// TLS records after the handshake (see tls_records.h): keys from OpenSSL's kTLS crypto_info and key
// log, record sealing and opening with EVP's AEADs, TLS 1.3 KeyUpdate secrets.
#include "engine/conn/tls_records.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <algorithm>
#include <cstring>

#include "engine/base/check.h"

namespace ringcast::tls {
namespace {

const EVP_CIPHER* cipher_of(Aead aead) {
  switch (aead) {
    case Aead::aes_128_gcm:
      return EVP_aes_128_gcm();
    case Aead::aes_256_gcm:
      return EVP_aes_256_gcm();
    default:
      return EVP_chacha20_poly1305();
  }
}

size_t key_bytes(Aead aead) { return aead == Aead::aes_128_gcm ? 16 : 32; }

// TLS 1.2 AES-GCM carries 8 bytes of its nonce in each record; the others build it from the sequence.
bool explicit_nonce(const Keys& keys) { return !keys.tls13 && keys.aead != Aead::chacha20_poly1305; }

size_t record_overhead(const Keys& keys) {
  return kHeaderBytes + kTagBytes + (keys.tls13 ? 1 : 0) + (explicit_nonce(keys) ? 8 : 0);
}

void put_u64(uint8_t* p, uint64_t v) {
  for (int i = 7; i >= 0; --i, v >>= 8) p[i] = static_cast<uint8_t>(v);
}

uint64_t get_u64(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | p[i];
  return v;
}

// The nonce of record `seq`: the base XOR the sequence number (RFC 8446 5.3; RFC 7905 for TLS 1.2's
// ChaCha20), or TLS 1.2 AES-GCM's salt and explicit part (RFC 5288 3).
void make_nonce(const Keys& keys, const Direction& d, const uint8_t* explicit_part, uint8_t nonce[12]) {
  std::memcpy(nonce, d.iv, 12);
  if (explicit_part) {
    std::memcpy(nonce + 4, explicit_part, 8);
    return;
  }
  uint8_t seq[8];
  put_u64(seq, d.seq);
  for (int i = 0; i < 8; ++i) nonce[4 + i] ^= seq[i];
  (void)keys;
}

// TLS 1.2's additional data: sequence, type, version, plaintext length (RFC 5246 6.2.3.3).
void tls12_aad(uint64_t seq, uint8_t type, size_t plain, uint8_t aad[13]) {
  put_u64(aad, seq);
  aad[8] = type;
  aad[9] = 3;
  aad[10] = 3;
  aad[11] = static_cast<uint8_t>(plain >> 8);
  aad[12] = static_cast<uint8_t>(plain);
}

// HKDF-Expand-Label (RFC 8446 7.1) for outputs no longer than the hash: one HMAC block.
bool expand_label(const uint8_t* secret, size_t secret_len, const char* label, uint8_t* out, size_t out_len) {
  const size_t label_len = std::strlen(label);
  uint8_t info[2 + 1 + 6 + 32 + 1 + 1];
  size_t n = 0;
  info[n++] = static_cast<uint8_t>(out_len >> 8);
  info[n++] = static_cast<uint8_t>(out_len);
  info[n++] = static_cast<uint8_t>(6 + label_len);
  std::memcpy(info + n, "tls13 ", 6);
  n += 6;
  std::memcpy(info + n, label, label_len);
  n += label_len;
  info[n++] = 0;  // no context
  info[n++] = 1;  // T(1)
  const EVP_MD* md = secret_len == 48 ? EVP_sha384() : EVP_sha256();
  uint8_t block[EVP_MAX_MD_SIZE];
  unsigned block_len = 0;
  if (out_len > secret_len || !HMAC(md, secret, static_cast<int>(secret_len), info, n, block, &block_len)) return false;
  std::memcpy(out, block, out_len);
  OPENSSL_cleanse(block, sizeof(block));
  return true;
}

}  // namespace

bool take_crypto_info(const tls_crypto_info* info, Direction& d, Aead& aead, bool& tls13) {
  if (info->version != TLS_1_2_VERSION && info->version != TLS_1_3_VERSION) return false;
  tls13 = info->version == TLS_1_3_VERSION;
  const uint8_t* rec_seq = nullptr;
  switch (info->cipher_type) {
    case TLS_CIPHER_AES_GCM_128: {
      const auto* c = reinterpret_cast<const tls12_crypto_info_aes_gcm_128*>(info);
      aead = Aead::aes_128_gcm;
      std::memcpy(d.key, c->key, sizeof(c->key));
      std::memcpy(d.iv, c->salt, 4);
      std::memcpy(d.iv + 4, c->iv, 8);
      rec_seq = c->rec_seq;
      break;
    }
    case TLS_CIPHER_AES_GCM_256: {
      const auto* c = reinterpret_cast<const tls12_crypto_info_aes_gcm_256*>(info);
      aead = Aead::aes_256_gcm;
      std::memcpy(d.key, c->key, sizeof(c->key));
      std::memcpy(d.iv, c->salt, 4);
      std::memcpy(d.iv + 4, c->iv, 8);
      rec_seq = c->rec_seq;
      break;
    }
#ifdef TLS_CIPHER_CHACHA20_POLY1305
    case TLS_CIPHER_CHACHA20_POLY1305: {
      const auto* c = reinterpret_cast<const tls12_crypto_info_chacha20_poly1305*>(info);
      aead = Aead::chacha20_poly1305;
      std::memcpy(d.key, c->key, sizeof(c->key));
      std::memcpy(d.iv, c->iv, 12);
      rec_seq = c->rec_seq;
      break;
    }
#endif
    default:
      return false;
  }
  d.seq = get_u64(rec_seq);
  return true;
}

bool derive_traffic_keys(Direction& d, Aead aead, const uint8_t* secret, size_t secret_len) {
  if (secret_len != 32 && secret_len != 48) return false;
  if (secret != d.secret) std::memcpy(d.secret, secret, secret_len);
  d.seq = 0;
  return expand_label(d.secret, secret_len, "key", d.key, key_bytes(aead)) &&
         expand_label(d.secret, secret_len, "iv", d.iv, 12);
}

bool next_traffic_secret(Direction& d, Aead aead, size_t secret_len) {
  uint8_t next[kSecretMax];
  if (!expand_label(d.secret, secret_len, "traffic upd", next, secret_len)) return false;
  const bool ok = derive_traffic_keys(d, aead, next, secret_len);
  OPENSSL_cleanse(next, sizeof(next));
  return ok;
}

void RecordCounter::feed(const uint8_t* data, size_t len) {
  while (len) {
    if (body_left) {
      const size_t take = std::min<size_t>(len, body_left);
      body_left -= static_cast<uint32_t>(take);
      data += take;
      len -= take;
      continue;
    }
    header[header_got++] = *data++;
    --len;
    if (header_got == kHeaderBytes) {
      header_got = 0;
      body_left = (uint32_t{header[3]} << 8) | header[4];
      ++records;
    }
  }
}

size_t sealed_bytes(const Keys& keys, size_t plain) {
  const size_t records = (plain + kPlaintextMax - 1) / kPlaintextMax;
  return plain + records * record_overhead(keys);
}

RecordCipher::RecordCipher() {
  for (int a = 0; a < static_cast<int>(Aead::count); ++a) {
    const EVP_CIPHER* cipher = cipher_of(static_cast<Aead>(a));
    seal_[a] = EVP_CIPHER_CTX_new();
    open_[a] = EVP_CIPHER_CTX_new();
    RC_ASSERT(seal_[a] && open_[a]);
    RC_ASSERT(EVP_EncryptInit_ex(seal_[a], cipher, nullptr, nullptr, nullptr) == 1);
    RC_ASSERT(EVP_DecryptInit_ex(open_[a], cipher, nullptr, nullptr, nullptr) == 1);
  }
}

RecordCipher::~RecordCipher() {
  for (int a = 0; a < static_cast<int>(Aead::count); ++a) {
    EVP_CIPHER_CTX_free(seal_[a]);
    EVP_CIPHER_CTX_free(open_[a]);
  }
}

size_t RecordCipher::seal(Keys& keys, uint8_t type, const uint8_t* data, size_t len, uint8_t* out) {
  iovec iov{const_cast<uint8_t*>(data), len};
  return seal(keys, type, &iov, 1, len, out);
}

size_t RecordCipher::seal(Keys& keys, uint8_t type, const iovec* iov, int n, size_t total, uint8_t* out) {
  EVP_CIPHER_CTX* ctx = seal_[static_cast<int>(keys.aead)];
  Direction& d = keys.tx;
  uint8_t* const start = out;
  int at = 0;       // the iovec being read
  RC_ASSERT(n > 0 || total == 0);
  size_t off = 0;   // how far into it
  while (total) {
    const size_t plain = std::min(total, kPlaintextMax);
    const size_t body = plain + kTagBytes + (keys.tls13 ? 1 : 0) + (explicit_nonce(keys) ? 8 : 0);
    out[0] = keys.tls13 ? static_cast<uint8_t>(kApplicationData) : type;  // TLS 1.3 hides the type inside
    out[1] = 3;
    out[2] = 3;
    out[3] = static_cast<uint8_t>(body >> 8);
    out[4] = static_cast<uint8_t>(body);
    uint8_t nonce[12];
    uint8_t* p = out + kHeaderBytes;
    if (explicit_nonce(keys)) {
      put_u64(p, d.seq);  // the sequence number is a nonce never used twice with this key
      make_nonce(keys, d, p, nonce);
      p += 8;
    } else {
      make_nonce(keys, d, nullptr, nonce);
    }
    int l = 0;
    RC_ASSERT(EVP_EncryptInit_ex(ctx, nullptr, nullptr, d.key, nonce) == 1);
    if (keys.tls13) {
      RC_ASSERT(EVP_EncryptUpdate(ctx, nullptr, &l, out, kHeaderBytes) == 1);
    } else {
      uint8_t aad[13];
      tls12_aad(d.seq, type, plain, aad);
      RC_ASSERT(EVP_EncryptUpdate(ctx, nullptr, &l, aad, sizeof(aad)) == 1);
    }
    size_t left = plain;
    while (left) {
      const size_t take = std::min(left, iov[at].iov_len - off);
      RC_ASSERT(EVP_EncryptUpdate(ctx, p, &l, static_cast<const uint8_t*>(iov[at].iov_base) + off,
                                  static_cast<int>(take)) == 1);
      p += l;
      left -= take;
      off += take;
      if (off == iov[at].iov_len) {
        ++at;
        off = 0;
      }
    }
    if (keys.tls13) {
      RC_ASSERT(EVP_EncryptUpdate(ctx, p, &l, &type, 1) == 1);
      p += l;
    }
    RC_ASSERT(EVP_EncryptFinal_ex(ctx, p, &l) == 1);
    p += l;
    RC_ASSERT(EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, kTagBytes, p) == 1);
    p += kTagBytes;
    RC_ASSERT(static_cast<size_t>(p - out) == kHeaderBytes + body);
    out = p;
    ++d.seq;
    total -= plain;
  }
  return static_cast<size_t>(out - start);
}

Opened RecordCipher::open(Keys& keys, const uint8_t* record, size_t len, uint8_t* out, size_t& out_len,
                          uint8_t& type) {
  const size_t body = len - kHeaderBytes;
  if (body > (keys.tls13 ? kPlaintextMax + 256 : kCiphertextMax)) return Opened::overflow;
  type = record[0];
  if (record[1] != 3 || record[2] != 3) return Opened::bad;
  if (keys.tls13 && type != kApplicationData) return Opened::bad;  // (nothing else after the handshake)
  const size_t explicit_len = explicit_nonce(keys) ? 8 : 0;
  if (body < kTagBytes + explicit_len + (keys.tls13 ? 1 : 0)) return Opened::bad;
  Direction& d = keys.rx;
  const uint8_t* p = record + kHeaderBytes;
  uint8_t nonce[12];
  make_nonce(keys, d, explicit_len ? p : nullptr, nonce);
  p += explicit_len;
  const size_t cipher_len = body - explicit_len - kTagBytes;
  EVP_CIPHER_CTX* ctx = open_[static_cast<int>(keys.aead)];
  int l = 0;
  if (EVP_DecryptInit_ex(ctx, nullptr, nullptr, d.key, nonce) != 1) return Opened::bad;
  if (keys.tls13) {
    if (EVP_DecryptUpdate(ctx, nullptr, &l, record, kHeaderBytes) != 1) return Opened::bad;
  } else {
    uint8_t aad[13];
    tls12_aad(d.seq, type, cipher_len, aad);
    if (EVP_DecryptUpdate(ctx, nullptr, &l, aad, sizeof(aad)) != 1) return Opened::bad;
  }
  if (EVP_DecryptUpdate(ctx, out, &l, p, static_cast<int>(cipher_len)) != 1) return Opened::bad;
  size_t got = static_cast<size_t>(l);
  if (EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, kTagBytes, const_cast<uint8_t*>(p + cipher_len)) != 1)
    return Opened::bad;
  if (EVP_DecryptFinal_ex(ctx, out + got, &l) != 1) return Opened::bad;  // the tag did not match
  got += static_cast<size_t>(l);
  ++d.seq;
  if (keys.tls13) {
    // The inner plaintext: content, its type, then zero padding (RFC 8446 5.4).
    while (got && out[got - 1] == 0) --got;
    if (!got) return Opened::bad;
    type = out[--got];
  }
  if (got > kPlaintextMax) return Opened::overflow;
  out_len = got;
  return Opened::ok;
}

}  // namespace ringcast::tls
