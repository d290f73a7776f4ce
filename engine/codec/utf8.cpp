// UTF-8 validation: a thin wrapper so that only this file pulls in simdjson for it.
#include "engine/codec/utf8.h"

#include "engine/base/json.h"

namespace ringcast {

bool utf8_valid(const uint8_t* data, size_t len) {
  return simdjson::validate_utf8(reinterpret_cast<const char*>(data), len);
}

}  // namespace ringcast
