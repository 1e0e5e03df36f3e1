#pragma once
// JSON field readers for parsers of untrusted bodies (OpenAI's, Anthropic's and Responses'
// requests, Ollama's replies, config-free door checks): each error is a bad_request that
// names the field's path ("messages[2].content: expected a string, got an integer").

#include <optional>
#include <string>
#include <string_view>

#include "core/error.h"
#include "core/openai.h"

namespace ask::core::json {

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
// "a string", "an array", "null", "an integer", "a number", ... for messages.
std::string_view json_kind(const Json& value);

Result<std::string> read_string(const Json& value, const std::string& path);
// Accepts an integer, or a float with an integral value; rejects strings and fractions.
Result<long long> read_integer(const Json& value, const std::string& path);
// Any finite JSON number.
Result<double> read_number(const Json& value, const std::string& path);
// null -> nullopt, a string -> its value, anything else an error.
Result<std::optional<std::string>> read_optional_string(const Json& value, const std::string& path);

} // namespace ask::core::json
