// TLS records after the handshake, without OpenSSL's per-connection state: what the kernel's kTLS does,
// in user space. When a handshake ends with an AEAD suite (AES-GCM or ChaCha20-Poly1305, TLS 1.2 or
// 1.3), the connection's keys are taken from OpenSSL (the kTLS crypto_info OpenSSL hands its BIO, and
// for TLS 1.3 the traffic secrets its key log gives) and its SSL is freed: an idle TLS connection then
// holds its keys (~200 B) instead of an SSL object (~14 KiB). Records are sealed straight from the
// shared frames (no copy, no per-send OpenSSL buffers) and opened into the shard's plaintext buffer.
// Pure: keys and bytes in, records and verdicts out; the cipher contexts are the shard's.
#pragma once

#include <linux/tls.h>
#include <sys/uio.h>

#include <cstddef>
#include <cstdint>

typedef struct evp_cipher_ctx_st EVP_CIPHER_CTX;
typedef struct evp_cipher_st EVP_CIPHER;

namespace ringcast::tls {

enum class Aead : uint8_t { aes_128_gcm, aes_256_gcm, chacha20_poly1305, count };

// TLS record content types (RFC 8446 5.1).
enum ContentType : uint8_t { kChangeCipherSpec = 20, kAlert = 21, kHandshake = 22, kApplicationData = 23 };

constexpr size_t kHeaderBytes = 5;
constexpr size_t kTagBytes = 16;
constexpr size_t kPlaintextMax = 16384;           // 2^14 (RFC 8446 5.1)
constexpr size_t kCiphertextMax = 16384 + 2048;   // TLS 1.2's bound; TLS 1.3's (+256) is checked too
constexpr size_t kSecretMax = 48;                 // SHA-384

// One direction's keys and sequence number. For TLS 1.3 the traffic secret too: a KeyUpdate derives
// the next keys from it.
struct Direction {
  uint8_t key[32];
  uint8_t iv[12];  // the nonce's base; TLS 1.2 AES-GCM: the 4-byte salt, then unused
  uint64_t seq = 0;
  uint8_t secret[kSecretMax];
};

struct Keys {
  Direction tx;
  Direction rx;
  Aead aead = Aead::aes_128_gcm;
  bool tls13 = false;
  uint8_t secret_len = 0;  // TLS 1.3: 32 (SHA-256) or 48 (SHA-384)
};

// From a kTLS crypto_info (linux/tls.h, as OpenSSL fills it for its BIO): one direction's key, nonce
// base and sequence number. False for a cipher or version we do not take over.
bool take_crypto_info(const tls_crypto_info* info, Direction& d, Aead& aead, bool& tls13);

// TLS 1.3: a direction's key and nonce base from its traffic secret (RFC 8446 7.3), and the next
// secret after a KeyUpdate (7.2). `secret_len` 32 or 48.
bool derive_traffic_keys(Direction& d, Aead aead, const uint8_t* secret, size_t secret_len);
bool next_traffic_secret(Direction& d, Aead aead, size_t secret_len);

// Counts whole records in a byte stream that crosses the BIO (sequence numbers while OpenSSL still
// writes or reads records under keys it has told us).
struct RecordCounter {
  uint64_t records = 0;
  uint32_t header_got = 0;
  uint8_t header[kHeaderBytes] = {};
  uint32_t body_left = 0;
  void feed(const uint8_t* data, size_t len);
};

// Bytes that sealing `plain` bytes takes, in records of up to 16 KiB.
size_t sealed_bytes(const Keys& keys, size_t plain);

enum class Opened : uint8_t {
  ok,        // `out` holds the record's plaintext, `type` its content type
  bad,       // a record that does not decrypt or breaks the format: close (bad_record_mac)
  overflow,  // a record longer than TLS allows
};

// The shard's cipher contexts (one to seal and one to open per AEAD), made once.
class RecordCipher {
 public:
  RecordCipher();
  ~RecordCipher();
  RecordCipher(const RecordCipher&) = delete;
  RecordCipher& operator=(const RecordCipher&) = delete;

  // Seals `total` bytes gathered from `iov` into records of type `type` at `out` (sealed_bytes(keys,
  // total) of room); returns the bytes written.
  size_t seal(Keys& keys, uint8_t type, const iovec* iov, int n, size_t total, uint8_t* out);
  size_t seal(Keys& keys, uint8_t type, const uint8_t* data, size_t len, uint8_t* out);

  // Opens the whole record at `record` (header included, `len` bytes) into `out` (kPlaintextMax + 256
  // of room).
  Opened open(Keys& keys, const uint8_t* record, size_t len, uint8_t* out, size_t& out_len, uint8_t& type);

 private:
  EVP_CIPHER_CTX* seal_[static_cast<int>(Aead::count)] = {};
  EVP_CIPHER_CTX* open_[static_cast<int>(Aead::count)] = {};
};

// The length of the record whose header starts at `data` (header included), 0 if fewer than 5 bytes.
inline size_t record_bytes(const uint8_t* data, size_t len) {
  if (len < kHeaderBytes) return 0;
  return kHeaderBytes + ((size_t{data[3]} << 8) | data[4]);
}

}  // namespace ringcast::tls
