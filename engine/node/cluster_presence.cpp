// Presence across the cluster: subjects, messages, the node directory, gathering (see
// cluster_presence.h).
#include "engine/node/cluster_presence.h"

#include <algorithm>
#include <cstring>

#include "engine/codec/cluster_wire.h"

namespace ringcast {
namespace cluster_presence {
namespace {

using cluster::get_le;
using cluster::put_le;

constexpr size_t kQuestionHeader = 24;
constexpr size_t kAnswerHeader = 28;
constexpr size_t kAnnouncementBytes = 8;

}  // namespace

std::string question_subject(std::string_view prefix) {
  return std::string(prefix) + ".presence";
}

std::string answer_subject(std::string_view prefix, uint32_t node_id) {
  return std::string(prefix) + ".presence.a." + std::to_string(node_id);
}

std::string nodes_subject(std::string_view prefix) {
  return std::string(prefix) + ".nodes";
}

void encode_question(std::string& out, const Question& q) {
  out.clear();
  out += static_cast<char>(kVersion);
  out += static_cast<char>(q.query.kind == PresenceKind::rooms ? 2 : 1);
  out += static_cast<char>(q.query.users ? 1 : 0);
  out += '\0';
  put_le(out, q.query.limit, 4);
  put_le(out, q.asker, 4);
  put_le(out, q.ticket, 8);
  put_le(out, q.query.room.size(), 2);
  put_le(out, q.query.cursor.size(), 2);
  out += q.query.room;
  out += q.query.cursor;
}

bool decode_question(std::string_view bytes, Question& out) {
  if (bytes.size() < kQuestionHeader) return false;
  const auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
  if (p[0] != kVersion || (p[1] != 1 && p[1] != 2) || p[2] > 1 || p[3] != 0) return false;
  out = Question{};
  out.query.kind = p[1] == 2 ? PresenceKind::rooms : PresenceKind::room;
  out.query.users = p[2] == 1;
  out.query.limit = static_cast<uint32_t>(get_le(p + 4, 4));
  out.asker = static_cast<uint32_t>(get_le(p + 8, 4));
  out.ticket = get_le(p + 12, 8);
  const size_t room_len = get_le(p + 20, 2);
  const size_t cursor_len = get_le(p + 22, 2);
  if (kQuestionHeader + room_len + cursor_len != bytes.size()) return false;
  if (out.query.limit < 1 || out.query.limit > kPresencePageMax) return false;
  if ((out.query.kind == PresenceKind::room) != (room_len > 0)) return false;
  out.query.room.assign(bytes.substr(kQuestionHeader, room_len));
  out.query.cursor.assign(bytes.substr(kQuestionHeader + room_len, cursor_len));
  return true;
}

void encode_answer(std::string& out, uint32_t node, uint64_t ticket, const PresencePage& page, size_t bytes_max) {
  out.clear();
  out += static_cast<char>(kVersion);
  const size_t truncated_at = out.size();
  out += static_cast<char>(page.has_next ? 1 : 0);
  out += '\0';
  out += '\0';
  put_le(out, node, 4);
  put_le(out, ticket, 8);
  put_le(out, page.members, 8);
  const size_t count_at = out.size();
  put_le(out, 0, 4);
  uint32_t count = 0;
  for (const auto& [name, n] : page.entries) {
    if (out.size() + 2 + name.size() + 8 > bytes_max || name.size() > 0xFFFF) {
      out[truncated_at] = 1;  // the rest is beyond this answer: the merge bounds the page below it
      break;
    }
    put_le(out, name.size(), 2);
    out += name;
    put_le(out, n, 8);
    ++count;
  }
  for (int i = 0; i < 4; ++i) out[count_at + i] = static_cast<char>((count >> (8 * i)) & 0xFF);
}

bool decode_answer(std::string_view bytes, Answer& out) {
  if (bytes.size() < kAnswerHeader) return false;
  const auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
  if (p[0] != kVersion || p[1] > 1 || p[2] != 0 || p[3] != 0) return false;
  out = Answer{};
  out.part.truncated = p[1] == 1;
  out.node = static_cast<uint32_t>(get_le(p + 4, 4));
  out.ticket = get_le(p + 8, 8);
  out.part.members = get_le(p + 16, 8);
  const uint64_t count = get_le(p + 24, 4);
  size_t at = kAnswerHeader;
  std::string_view previous;
  for (uint64_t i = 0; i < count; ++i) {
    if (bytes.size() - at < 2) return false;
    const size_t len = get_le(p + at, 2);
    if (bytes.size() - at - 2 < len + 8) return false;
    const std::string_view name = bytes.substr(at + 2, len);
    // The merge needs each part sorted and without repeats.
    if (i > 0 && name <= previous) return false;
    previous = name;
    out.part.entries.emplace_back(std::string(name), get_le(p + at + 2 + len, 8));
    at += 2 + len + 8;
  }
  return at == bytes.size();
}

void encode_announcement(std::string& out, Announce what, uint32_t node) {
  out.clear();
  out += static_cast<char>(kVersion);
  out += static_cast<char>(what);
  out += '\0';
  out += '\0';
  put_le(out, node, 4);
}

bool decode_announcement(std::string_view bytes, Announce& what, uint32_t& node) {
  if (bytes.size() != kAnnouncementBytes) return false;
  const auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
  if (p[0] != kVersion || p[1] > 2 || p[2] != 0 || p[3] != 0) return false;
  what = static_cast<Announce>(p[1]);
  node = static_cast<uint32_t>(get_le(p + 4, 4));
  return node != 0;
}

bool NodeDirectory::seen(uint32_t node, int64_t now_ms) {
  auto [it, added] = last_seen_.try_emplace(node, now_ms);
  it->second = now_ms;
  return added;
}

std::vector<uint32_t> NodeDirectory::live(int64_t now_ms, int64_t expiry_ms) {
  std::vector<uint32_t> out;
  for (auto it = last_seen_.begin(); it != last_seen_.end();) {
    if (now_ms - it->second > expiry_ms) {
      it = last_seen_.erase(it);
    } else {
      out.push_back(it->first);
      ++it;
    }
  }
  return out;
}

void Gather::start(const PresenceQuery& query, uint64_t ticket, std::vector<uint32_t> expected,
                   int64_t deadline_ms) {
  active_ = true;
  query_ = query;
  ticket_ = ticket;
  expected_ = std::move(expected);
  answered_.clear();
  parts_.clear();
  deadline_ms_ = deadline_ms;
}

bool Gather::add(Answer&& answer) {
  if (!active_ || answer.ticket != ticket_) return false;
  if (std::find(answered_.begin(), answered_.end(), answer.node) != answered_.end()) return false;
  answered_.push_back(answer.node);
  parts_.push_back(std::move(answer.part));
  return true;
}

bool Gather::complete(int64_t now_ms) const {
  if (now_ms >= deadline_ms_) return true;
  for (uint32_t node : expected_)
    if (std::find(answered_.begin(), answered_.end(), node) == answered_.end()) return false;
  return true;
}

void Gather::finish(PresencePart& out) {
  PresencePage page;
  presence_merge(parts_, query_, page);
  out = PresencePart{};
  out.members = page.members;
  out.entries = std::move(page.entries);
  out.truncated = page.has_next;  // cut at `limit`: the API's merge bounds its page there
  out.nodes = static_cast<uint32_t>(answered_.size()) + 1;  // and this node
  for (uint32_t node : expected_)
    if (std::find(answered_.begin(), answered_.end(), node) == answered_.end()) out.missing.push_back(node);
  out.partial = !out.missing.empty();
  active_ = false;
  parts_.clear();
}

}  // namespace cluster_presence
}  // namespace ringcast
