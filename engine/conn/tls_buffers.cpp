// A shard's ciphertext buffers (see tls_buffers.h).
#include "engine/conn/tls_buffers.h"

#include <cstdlib>

#include "engine/base/check.h"
#include "engine/limits.h"

namespace ringcast {

TlsBuffers::~TlsBuffers() {
  for (auto& spares : spare_)
    for (uint8_t* buffer : spares) std::free(buffer);
}

uint8_t* TlsBuffers::take(size_t need, uint32_t& cap) {
  int k = 0;
  while (k < kClasses && (size_t{limits::kTlsBufferMinBytes} << k) < need) ++k;
  if (k == kClasses) {  // (larger than any class: made and freed as it is)
    cap = static_cast<uint32_t>(need);
    auto* buffer = static_cast<uint8_t*>(std::malloc(need));
    RC_ASSERT(buffer != nullptr);
    return buffer;
  }
  cap = limits::kTlsBufferMinBytes << k;
  if (!spare_[k].empty()) {
    uint8_t* buffer = spare_[k].back();
    spare_[k].pop_back();
    spare_bytes_ -= cap;
    return buffer;
  }
  auto* buffer = static_cast<uint8_t*>(std::malloc(cap));
  RC_ASSERT(buffer != nullptr);
  return buffer;
}

void TlsBuffers::give(uint8_t* buffer, uint32_t cap) {
  if (!buffer) return;
  int k = 0;
  while (k < kClasses && (limits::kTlsBufferMinBytes << k) != cap) ++k;
  if (k == kClasses || spare_bytes_ + cap > limits::kTlsSpareBytesMax) {
    std::free(buffer);
    return;
  }
  spare_[k].push_back(buffer);
  spare_bytes_ += cap;
}

}  // namespace ringcast
