// Unit tests for engine/node/cluster_presence: the subjects; questions, answers and announcements
// through their encodings and back, and every truncation or corruption refused; an answer cut to its
// byte bound says it is truncated; the node directory (new nodes, bye, expiry); a gather (stale and
// repeated answers ignored, complete when every expected node answered or at the deadline, the
// other nodes merged into one part naming the silent ones), and that part's page through the API's
// merge against the whole cluster's answer.
#include "engine/node/cluster_presence.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace ringcast {
namespace cluster_presence {
namespace {

PresenceQuery users_query(uint32_t limit, std::string cursor = {}) {
  PresenceQuery q;
  q.kind = PresenceKind::room;
  q.room = "lobby";
  q.users = true;
  q.limit = limit;
  q.cursor = std::move(cursor);
  return q;
}

PresencePage page_of(uint64_t members, std::vector<std::string> users, bool has_next) {
  PresencePage page;
  page.members = members;
  for (auto& u : users) page.entries.emplace_back(std::move(u), 0);
  page.has_next = has_next;
  if (has_next) page.next = page.entries.back().first;
  return page;
}

Answer answer_of(uint32_t node, uint64_t ticket, const PresencePage& page) {
  std::string bytes;
  encode_answer(bytes, node, ticket, page, 1 << 20);
  Answer a;
  EXPECT_TRUE(decode_answer(bytes, a));
  return a;
}

TEST(ClusterPresence, Subjects) {
  EXPECT_EQ(question_subject("rc"), "rc.presence");
  EXPECT_EQ(answer_subject("rc.x", 42), "rc.x.presence.a.42");
  EXPECT_EQ(nodes_subject("rc"), "rc.nodes");
}

TEST(ClusterPresence, QuestionsRoundTripAndBadOnesAreRefused) {
  Question q;
  q.query = users_query(7, "bo");
  q.asker = 0xA1B2C3D4;
  q.ticket = 0x0102030405060708;
  std::string bytes;
  encode_question(bytes, q);
  Question back;
  ASSERT_TRUE(decode_question(bytes, back));
  EXPECT_EQ(back.query.room, "lobby");
  EXPECT_EQ(back.query.cursor, "bo");
  EXPECT_TRUE(back.query.users);
  EXPECT_EQ((std::tuple(back.query.limit, back.asker, back.ticket)), std::tuple(7u, q.asker, q.ticket));
  for (size_t n = 0; n < bytes.size(); ++n) EXPECT_FALSE(decode_question(bytes.substr(0, n), back)) << n;
  EXPECT_FALSE(decode_question(bytes + "x", back));
  std::string bad = bytes;
  bad[0] = 2;  // another version
  EXPECT_FALSE(decode_question(bad, back));
  bad = bytes;
  bad[1] = 3;  // no such kind
  EXPECT_FALSE(decode_question(bad, back));
  q.query.limit = 0;
  encode_question(bad, q);
  EXPECT_FALSE(decode_question(bad, back));
  q.query = PresenceQuery{};
  q.query.kind = PresenceKind::rooms;
  q.query.room = "x";  // the rooms list names no room
  encode_question(bad, q);
  EXPECT_FALSE(decode_question(bad, back));
  q.query.room.clear();
  encode_question(bytes, q);
  ASSERT_TRUE(decode_question(bytes, back));
  EXPECT_EQ(back.query.kind, PresenceKind::rooms);
}

TEST(ClusterPresence, AnswersRoundTripAndAreCutToTheirBound) {
  const PresencePage page = page_of(12, {"al", "bo", "cy"}, true);
  std::string bytes;
  encode_answer(bytes, 9, 77, page, 1 << 20);
  Answer a;
  ASSERT_TRUE(decode_answer(bytes, a));
  EXPECT_EQ((std::tuple(a.node, a.ticket, a.part.members, a.part.truncated)), std::tuple(9u, uint64_t{77}, uint64_t{12}, true));
  ASSERT_EQ(a.part.entries.size(), 3u);
  EXPECT_EQ(a.part.entries[2].first, "cy");
  for (size_t n = 0; n < bytes.size(); ++n) EXPECT_FALSE(decode_answer(bytes.substr(0, n), a)) << n;
  EXPECT_FALSE(decode_answer(bytes + "x", a));
  // Names out of order would break the merge: refused.
  std::string unsorted;
  encode_answer(unsorted, 9, 77, page_of(3, {"bo", "al"}, false), 1 << 20);
  EXPECT_FALSE(decode_answer(unsorted, a));
  // A bound that holds two entries: two, and truncated even though the page was the last.
  encode_answer(bytes, 9, 77, page_of(3, {"al", "bo", "cy"}, false), 28 + 2 * (2 + 2 + 8));
  ASSERT_TRUE(decode_answer(bytes, a));
  EXPECT_EQ(a.part.entries.size(), 2u);
  EXPECT_TRUE(a.part.truncated);
}

TEST(ClusterPresence, Announcements) {
  std::string bytes;
  Announce what;
  uint32_t node = 0;
  for (Announce w : {Announce::hello, Announce::alive, Announce::bye}) {
    encode_announcement(bytes, w, 31337);
    ASSERT_TRUE(decode_announcement(bytes, what, node));
    EXPECT_EQ((std::tuple(what, node)), std::tuple(w, 31337u));
  }
  EXPECT_FALSE(decode_announcement(bytes.substr(0, 7), what, node));
  encode_announcement(bytes, Announce::alive, 0);  // no node is 0
  EXPECT_FALSE(decode_announcement(bytes, what, node));
  bytes[1] = 3;
  EXPECT_FALSE(decode_announcement(bytes, what, node));
}

TEST(ClusterPresence, TheDirectoryForgetsByeAndSilence) {
  NodeDirectory d;
  EXPECT_TRUE(d.seen(5, 0));
  EXPECT_FALSE(d.seen(5, 100));
  EXPECT_TRUE(d.seen(3, 100));
  EXPECT_TRUE(d.seen(8, 100));
  d.gone(8);
  EXPECT_EQ(d.live(1000, 10000), (std::vector<uint32_t>{3, 5}));
  EXPECT_FALSE(d.seen(3, 9000));
  EXPECT_EQ(d.live(10150, 10000), (std::vector<uint32_t>{3}));  // 5 silent since 100
  EXPECT_TRUE(d.seen(5, 10200));                                // forgotten: new again
}

TEST(ClusterPresence, AGatherMergesTheOtherNodesAndNamesTheSilentOnes) {
  Gather g;
  const PresenceQuery q = users_query(3);
  g.start(q, 4, {22, 33, 44}, 1000);
  EXPECT_TRUE(g.active());
  EXPECT_FALSE(g.add(answer_of(22, 3, page_of(1, {"zz"}, false))));  // an earlier question's
  EXPECT_TRUE(g.add(answer_of(22, 4, page_of(2, {"al", "cy"}, false))));
  EXPECT_FALSE(g.add(answer_of(22, 4, page_of(2, {"al", "cy"}, false))));  // twice
  EXPECT_FALSE(g.complete(999));
  EXPECT_TRUE(g.add(answer_of(55, 4, page_of(4, {"bo", "cy", "dd"}, true))));  // not heard of: counted
  EXPECT_FALSE(g.complete(999));
  EXPECT_TRUE(g.add(answer_of(33, 4, page_of(0, {}, false))));
  EXPECT_FALSE(g.complete(999));  // 44 is missing
  EXPECT_TRUE(g.complete(1000));  // the deadline
  PresencePart part;
  g.finish(part);
  EXPECT_FALSE(g.active());
  EXPECT_EQ(part.members, 6u);
  ASSERT_EQ(part.entries.size(), 3u);  // al bo cy, cut at the limit below 55's truncated page
  EXPECT_EQ(part.entries.back().first, "cy");
  EXPECT_TRUE(part.truncated);
  EXPECT_EQ((std::tuple(part.nodes, part.partial)), std::tuple(4u, true));
  EXPECT_EQ(part.missing, (std::vector<uint32_t>{44}));

  // Through the API's merge with this node's own part: the page of the whole cluster.
  PresencePart local;
  local.members = 1;
  local.entries = {{"aa", 0}, {"cy", 0}};
  PresencePage page;
  presence_merge({local, part}, q, page);
  EXPECT_EQ(page.members, 7u);
  EXPECT_EQ(page.entries, (std::vector<std::pair<std::string, uint64_t>>{{"aa", 0}, {"al", 0}, {"bo", 0}}));
  EXPECT_TRUE(page.has_next);
  EXPECT_EQ((std::tuple(page.nodes, page.partial, page.missing)), std::tuple(4u, true, std::vector<uint32_t>{44}));

  // Everyone answered: whole, and complete before the deadline.
  g.start(q, 5, {22}, 1000);
  EXPECT_TRUE(g.add(answer_of(22, 5, page_of(2, {"al"}, false))));
  EXPECT_TRUE(g.complete(0));
  g.finish(part);
  EXPECT_EQ((std::tuple(part.nodes, part.partial, part.missing.empty())), std::tuple(2u, false, true));
}

}  // namespace
}  // namespace cluster_presence
}  // namespace ringcast
