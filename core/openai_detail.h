#pragma once
// Internal to core/openai*.cpp: JSON field readers whose errors name the field's path.
// Not part of the module's interface.

#include <optional>
#include <string>
#include <string_view>

#include "core/openai.h"

namespace ask::core::detail {

// "base.key", or "key" when base is empty; the key is made printable and cut short, since
// keys come from the body (see excerpt.h).
std::string field_path(const std::string& base, std::string_view key);
// `value` in double quotes for a message, made printable and cut short (see excerpt.h).
std::string quoted(std::string_view value);
// "base[i]".
std::string index_path(const std::string& base, std::size_t i);
// bad_request "path: what".
Error invalid(const std::string& path, std::string_view what);
// "expected <wanted>, got <kind of value>" for `path`.
Error type_error(const std::string& path, std::string_view wanted, const Json& value);
// "a string", "an array", "null", ... for messages.
std::string_view json_kind(const Json& value);

Result<std::string> read_string(const Json& value, const std::string& path);
// Accepts an integer, or a float with an integral value; rejects strings and fractions.
Result<long long> read_integer(const Json& value, const std::string& path);
// Any finite JSON number.
Result<double> read_number(const Json& value, const std::string& path);
// null -> nullopt, a string -> its value, anything else an error.
Result<std::optional<std::string>> read_optional_string(const Json& value, const std::string& path);

// Tool calls as they appear in messages: {"id","type","function":{"name","arguments"}}.
// `strict` (requests) requires id, type "function", a name and string arguments.
Result<ToolCall> parse_tool_call(const Json& value, const std::string& path, bool strict);
Json tool_call_to_json(const ToolCall& call);

// A message as a backend returns it: like parse_message without the request rules, reading
// Ollama's "reasoning" as reasoning_content.
Result<Message> parse_reply_message(const Json& value, const std::string& path);

// malformed_reply "invalid <what>: <reason>".
Error reply_error(std::string_view what, std::string_view reason);
// A backend's reply text parsed with the nesting limit; errors are reply_error(what, ...).
Result<Json> parse_reply_text(std::string_view text, std::string_view what);
// reply_error(what, ...) when `body` nests deeper than the limit (see core/json_text.h).
std::optional<Error> check_reply_depth(const Json& body, std::string_view what);
// The backend's own error when `body` (an object) carries a non-null "error" and no
// "choices": upstream_status with the error's message and http_status its integer code in
// 400..599, else 502; reply_error(what, ...) when that "error" is not an error body.
std::optional<Error> in_band_error(const Json& body, std::string_view what);

} // namespace ask::core::detail
