// What ringcast's Nano/Pomelo endpoint adds to the Pomelo codec (pomelo.h), pure: which clients'
// handshakes it accepts, and how a go-push PUSH's data object becomes Pomelo push packets (the Pomelo
// encoding of a frame the fan-out emits, built once per frame: engine/broadcast/encodings.h).
#pragma once

#include <string>
#include <string_view>

#include "engine/base/json.h"
#include "engine/codec/pomelo.h"

namespace ringcast {

// A handshake's sys.type and sys.version the server accepts: a type of 1..64 printable ASCII bytes
// without space; a version of 1..32 bytes starting with a digit, then digits, letters, '.', '+', '-'.
bool nano_client_supported(std::string_view type, std::string_view version);

// Appends to `out` the Pomelo data packets (push messages) for a go-push PUSH's data object
// {"items":[...],"room":"r","seq":N}: one push on `push_route` with the data object as its payload,
// unless some items have the form {"route":R,"data":D} (exactly these two keys, R 1..255 bytes): then
// each such item is a push on R with payload D, and each run of other items a push on `push_route`
// with {"items":[run],"room":"r","seq":N}, in item order. `parser` is reused (one per shard). False
// when a push could not be encoded (a route not UTF-8): it is left out.
bool append_nano_pushes(std::string& out, std::string_view data_object, std::string_view push_route,
                        const pomelo::RouteDict& dict, simdjson::dom::parser& parser);

// {"code":<code>,"error":"<error>"[,"message":"<message>"]}: how the Nano endpoint answers a request
// it refuses (as Nano's chat example answers with a code).
void append_nano_error_json(std::string& out, int code, std::string_view error, std::string_view message);

}  // namespace ringcast
