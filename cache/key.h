#pragma once
// The prompt cache's key: sha256 over a canonical text of the logical model and the request
// exactly as ask sends it (system and user text and every parameter that changes the answer).
// docs/cache.md writes the canonical form down; changing it is a new k_key_version.

#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace ask::cache {

inline constexpr std::string_view k_key_version = "ask-cache-v1";

// The canonical text: the JSON array [k_key_version, model, request] dumped compactly, keys
// sorted (nlohmann's default), strings as UTF-8 (invalid bytes replaced by U+FFFD), where
// `request` is the chat request body with "model", "stream" and "stream_options" removed
// (they do not change the answer). `model` is the logical model with aliases resolved.
std::string canonical_form(std::string_view model, const nlohmann::json& request);
// Lower-case hex sha256 of canonical_form(): 64 characters.
std::string cache_key(std::string_view model, const nlohmann::json& request);
// The first 8 hex digits of a key: telemetry's "prompt_hash".
inline std::string short_hash(std::string_view key) { return std::string(key.substr(0, 8)); }

} // namespace ask::cache
