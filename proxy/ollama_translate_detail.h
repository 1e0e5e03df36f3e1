#pragma once
// Internal to proxy/ollama_translate*.cpp and ollama_generate.cpp: the JSON helpers both
// directions (and both Ollama APIs) share. Not part of the module's interface.

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

// Shared with the /api/generate translation (ollama_generate.cpp):
// Ollama options from `fields` (a request, or a chat request's extra fields): the entries of
// its "options" object, then Ollama option names at its top level, each checked against the
// type Ollama wants (bad_request naming the field). `skip_typed` leaves out the top-level
// temperature, top_p, seed and stop (chat reads those itself).
core::Result<core::Json> request_options(const core::Json& fields, bool skip_typed);
// The first check of every reply object: not an object is malformed_reply; an {"error": ...}
// object is upstream_status with Ollama's message and its status (502 unless it carries one).
std::optional<core::Error> reply_error(const core::Json& body, std::string_view what);
// done_reason -> finish_reason: "length" stays, anything else "stop".
core::Result<std::string> done_finish_reason(const core::Json& body, std::string_view what);
// Usage from prompt_eval_count / eval_count (absent = 0).
core::Result<core::Usage> reply_usage(const core::Json& body, std::string_view what);
// malformed_reply "invalid <what>: path: reason".
core::Error malformed(std::string_view what, const std::string& path, std::string_view reason);

} // namespace ask::proxy::ollama_detail
