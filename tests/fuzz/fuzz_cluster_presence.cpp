// libFuzzer target: what other nodes send a node's bridge for presence (engine/node/cluster_presence.h).
// The first byte picks the message: 0 a question, 1 an answer, 2 an announcement. Whatever the bytes,
// decoding never reads past them; a message that decodes encodes back to the same bytes (so nothing
// is read that the format does not hold); an answer goes through a gather and the API's merge, whose
// page stays within the limit and sorted.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "engine/base/check.h"
#include "engine/node/cluster_presence.h"

using namespace ringcast;
using namespace ringcast::cluster_presence;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string_view bytes(reinterpret_cast<const char*>(data) + 1, size - 1);
  std::string again;
  switch (data[0] % 3) {
    case 0: {
      Question q;
      if (!decode_question(bytes, q)) return 0;
      encode_question(again, q);
      RC_ASSERT(again == bytes);
      return 0;
    }
    case 1: {
      Answer a;
      if (!decode_answer(bytes, a)) return 0;
      PresencePage page;
      page.members = a.part.members;
      page.entries = a.part.entries;
      page.has_next = a.part.truncated;
      encode_answer(again, a.node, a.ticket, page, SIZE_MAX);
      RC_ASSERT(again == bytes);
      PresenceQuery query;
      query.users = true;
      query.room = "r";
      query.limit = 3;
      Gather g;
      g.start(query, a.ticket, {a.node, a.node + 1}, 0);
      RC_ASSERT(g.add(std::move(a)));
      PresencePart part;
      g.finish(part);
      RC_ASSERT(part.entries.size() <= 3 && part.missing.size() <= 1 && part.partial == !part.missing.empty());
      for (size_t i = 1; i < part.entries.size(); ++i) RC_ASSERT(part.entries[i - 1].first < part.entries[i].first);
      return 0;
    }
    default: {
      Announce what;
      uint32_t node;
      if (!decode_announcement(bytes, what, node)) return 0;
      encode_announcement(again, what, node);
      RC_ASSERT(again == bytes);
      return 0;
    }
  }
}
