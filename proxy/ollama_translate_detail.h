#pragma once
// Internal to proxy/ollama_translate*.cpp: the JSON helpers both directions share. Not part
// of the module's interface.

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "core/duration.h"
#include "core/error.h"
#include "core/openai.h"

namespace ask::proxy::ollama_detail {

// Deepest nesting accepted in tool-call arguments, as core's parsers accept in whole bodies:
// copying or dumping a deeper value would recurse past the stack.
inline constexpr int k_max_depth = 128;

// "expected <wanted>, got <kind of value>" ("a string", "an integer", "null", ...).
std::string expected(std::string_view wanted, const core::Json& got);
// "base[i]".
std::string index_path(const std::string& base, std::size_t i);
// A signed 64-bit integer from an integer or an integral float; nullopt otherwise (strings,
// fractions, values out of range).
std::optional<long long> as_int64(const core::Json& v);
// The error of a reply object that is {"error": ...} (upstream_status, Ollama's message cut
// to a bound, its code as the status when 400..599, else 502); nullopt when it is none.
// `what` names the reply in malformed_reply messages. Chat and embed replies share it.
std::optional<core::Error> in_band_error(const core::Json& body, std::string_view what);
// keep_alive as Ollama takes it: whole seconds as an integer, "forever" as -1.
core::Json keep_alive_json(const core::Duration& keep_alive);

} // namespace ask::proxy::ollama_detail
