// The configuration's key table (internal to engine/config*.cpp): every key described once, with its
// type, bounds, go-push name and help text, so that the JSON file, the flags and the help text read in
// config.cpp cannot disagree; and how one value given as text is applied to a Config.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "engine/config.h"

namespace ringcast::config_keys {

// `list` is a text of comma-separated items; in a JSON file it may also be an array of strings.
enum class Kind { u32, size, text, endpoint, seconds_as_ms, port, boolean, list };

// One configurable key. `field` points into a Config instance through a member accessor so the
// table can be applied to any Config.
struct Key {
  const char* name;     // our JSON key; the flag is --name with '_' as '-'
  const char* go_push;  // go-push's key for the same thing, or nullptr
  Kind kind;
  uint64_t min;
  uint64_t max;
  std::function<void*(Config&)> field;
  const char* help;
};

const std::vector<Key>& keys();
// The key named `name` (ours, or go-push's: then *is_go_push is set), or nullptr.
const Key* find_key(std::string_view name, bool* is_go_push);
// go-push keys for machinery ringcast does not have: accepted in a file, with no effect.
std::span<const char* const> go_push_ignored();

// "true"/"false" and the usual spellings of them.
bool parse_bool(std::string_view text, bool& out);
bool parse_u64(std::string_view text, uint64_t& out);
// Applies one value, given as text (flags) or as a JSON number/string (file), to the key. Errors name
// the key as the user wrote it (`shown`: a go-push key, or the flag), not our canonical name.
bool apply_text(const Key& key, std::string_view shown, std::string_view text, Config& config,
                std::string& error);

}  // namespace ringcast::config_keys
