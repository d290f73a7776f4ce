// Micro-benchmarks for engine/presence: what one shard pays to answer a presence query about a room
// of 1M members in its RoomIndex (the member count alone; the first page of 100 distinct user ids,
// with every member bound and with 1M / 10 users holding 10 connections each; a later page through
// a cursor), the whole room listing of a shard with 10,000 rooms, and the merge of 16 shards' pages
// of 1,000 names (the asking shard's share). Figures, never assertions.
#include <benchmark/benchmark.h>

#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "engine/node/presence.h"

namespace {

using namespace ringcast;

// A shard with one room of `members` connections, connection c bound to user c / per_user.
std::unique_ptr<RoomIndex> big_room(uint32_t members, uint32_t per_user) {
  auto index = std::make_unique<RoomIndex>();
  index->reserve_conns(members);
  char uid[32];
  for (uint32_t c = 0; c < members; ++c) {
    bool created = false;
    std::snprintf(uid, sizeof(uid), "user-%08u", c / per_user);
    index->bind_user(c, uid, created);
    index->join(c, "big", created);
  }
  return index;
}

const RoomIndex& room_1m(uint32_t per_user) {
  static std::unique_ptr<RoomIndex> one = big_room(1'000'000, 1);
  static std::unique_ptr<RoomIndex> ten = big_room(1'000'000, 10);
  return per_user == 1 ? *one : *ten;
}

void BM_RoomMembersCount(benchmark::State& state) {
  const RoomIndex& index = room_1m(1);
  PresenceQuery q;
  q.room = "big";
  PresencePart part;
  for (auto _ : state) {
    presence_answer_local(index, q, part);
    benchmark::DoNotOptimize(part.members);
  }
  state.counters["members"] = static_cast<double>(part.members);
}
BENCHMARK(BM_RoomMembersCount);

void BM_RoomUsersPage(benchmark::State& state) {
  const uint32_t per_user = static_cast<uint32_t>(state.range(0));
  const RoomIndex& index = room_1m(per_user);
  PresenceQuery q;
  q.room = "big";
  q.users = true;
  q.limit = static_cast<uint32_t>(state.range(1));
  if (state.range(2)) q.cursor = "user-00050000";  // a page from the middle
  PresencePart part;
  for (auto _ : state) {
    presence_answer_local(index, q, part);
    benchmark::DoNotOptimize(part.entries.data());
  }
  state.counters["members"] = static_cast<double>(part.members);
  state.counters["page"] = static_cast<double>(part.entries.size());
}
// args: connections per user, page size, from a cursor
BENCHMARK(BM_RoomUsersPage)->Args({1, 100, 0})->Args({10, 100, 0})->Args({1, 1000, 0})->Args({1, 100, 1})
    ->Unit(benchmark::kMillisecond);

void BM_RoomsListing(benchmark::State& state) {
  static std::unique_ptr<RoomIndex> index = [] {
    auto i = std::make_unique<RoomIndex>();
    i->reserve_conns(100'000);
    for (uint32_t c = 0; c < 100'000; ++c) {
      bool created = false;
      i->join(c, "room-" + std::to_string(c % 10'000), created);
    }
    return i;
  }();
  PresenceQuery q;
  q.kind = PresenceKind::rooms;
  q.limit = static_cast<uint32_t>(state.range(0));
  PresencePart part;
  for (auto _ : state) {
    presence_answer_local(*index, q, part);
    benchmark::DoNotOptimize(part.entries.data());
  }
  state.counters["rooms"] = 10'000;
}
BENCHMARK(BM_RoomsListing)->Arg(100)->Arg(1000)->Unit(benchmark::kMicrosecond);

void BM_MergeShardPages(benchmark::State& state) {
  const uint32_t shards = static_cast<uint32_t>(state.range(0));
  std::vector<PresencePart> parts(shards);
  char uid[32];
  for (uint32_t s = 0; s < shards; ++s) {
    parts[s].members = 62'500;
    parts[s].truncated = true;
    for (uint32_t i = 0; i < 1000; ++i) {
      std::snprintf(uid, sizeof(uid), "user-%08u", i * shards + s);  // interleaved, as a hash spreads them
      parts[s].entries.emplace_back(uid, 0);
    }
  }
  PresenceQuery q;
  q.room = "big";
  q.users = true;
  q.limit = 1000;
  PresencePage page;
  for (auto _ : state) {
    presence_merge(parts, q, page);
    benchmark::DoNotOptimize(page.entries.data());
  }
  state.counters["page"] = static_cast<double>(page.entries.size());
}
BENCHMARK(BM_MergeShardPages)->Arg(2)->Arg(16)->Unit(benchmark::kMicrosecond);

}  // namespace

BENCHMARK_MAIN();
