// A shard's ciphertext buffers: a TLS connection's records are sealed into a buffer sized for them,
// which its send carries and then gives back. Sent buffers are kept by size class (powers of two from
// limits::kTlsBufferMinBytes to 128 KiB, at most limits::kTlsSpareBytesMax in all) for the next send:
// a broadcast to thousands of TLS members then reuses the buffers of the sends before it instead of
// fresh heap that glibc grows and the kernel faults in page by page. Knows nothing of TLS.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace ringcast {

class TlsBuffers {
 public:
  TlsBuffers() = default;
  ~TlsBuffers();
  TlsBuffers(const TlsBuffers&) = delete;
  TlsBuffers& operator=(const TlsBuffers&) = delete;

  // A buffer of at least `need` bytes (`cap` its size): a spare one of its size class, or a new one.
  uint8_t* take(size_t need, uint32_t& cap);
  // Back for reuse (freed when the spares are full or it fits no class); nullptr is ignored.
  void give(uint8_t* buffer, uint32_t cap);

 private:
  static constexpr int kClasses = 9;  // 512 B .. 128 KiB
  std::vector<uint8_t*> spare_[kClasses];
  size_t spare_bytes_ = 0;
};

}  // namespace ringcast
