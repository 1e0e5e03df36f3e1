#pragma once
// Internal to core/openai*.cpp: JSON field readers whose errors name the field's path.
// Not part of the module's interface.

#include <optional>
#include <string>
#include <string_view>

#include "core/json_fields.h"
#include "core/openai.h"

namespace ask::core::detail {

// The field readers (core/json_fields.h), by their old names.
using json::field_path;
using json::index_path;
using json::invalid;
using json::json_kind;
using json::quoted;
using json::read_integer;
using json::read_number;
using json::read_optional_string;
using json::read_string;
using json::type_error;

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
