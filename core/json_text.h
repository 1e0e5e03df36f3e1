#pragma once
// JSON text from outside parsed with a nesting limit, and the same limit checked on an
// already parsed value: core's parsers use it, and so does askd for request bodies and
// backend replies (through the names exported at the end). nlohmann::json parses and destroys iteratively, but
// copies, compares and dumps recursively, so a value nested 100000 deep from a hostile peer
// would overflow the stack in the first copy.

#include <expected>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace ask::core::detail {

// The deepest nesting of arrays and objects accepted in requests and backend replies.
inline constexpr int k_max_json_depth = 128;

// The deepest nesting of arrays and objects in JSON text, counted without parsing (strings
// skipped); exact for text that parses.
int nesting_depth(std::string_view text);
// True when `value` nests arrays and objects more than `limit` levels deep (a scalar is
// level 0, `[]` level 1). Iterative: safe on any depth.
bool deeper_than(const nlohmann::json& value, int limit);

// `message` without nlohmann's "; last read: '...'" tail, the input quoted (a prompt, when
// the input is a chat request, or a reply's text: neither may reach a log). llama-server's
// own errors end the same way.
std::string_view without_input_quote(std::string_view message);

struct JsonTextError {
  bool too_deep = false; // nested past k_max_json_depth; otherwise a syntax error
  std::string what;      // "JSON nested deeper than 128 levels" or the parser's message
};

// Parses `text`, refusing nesting past k_max_json_depth before parsing. The parser's
// message (position, "number overflow parsing '1E400'") has its "[json.exception...] "
// prefix and its quote of the input removed (without_input_quote) and is made printable
// (see printable_excerpt); never throws.
std::expected<nlohmann::json, JsonTextError> parse_json_text(std::string_view text);

// JSON text of `value` that never throws on a string holding bytes that are not UTF-8 (a
// peer's, a file's): they become U+FFFD. Other non-ASCII text is kept as UTF-8 (no \u
// escapes); `indent` -1 is compact, as nlohmann's dump(). The one way askd writes JSON text
// out of values it did not build entirely itself.
std::string dump_json(const nlohmann::json& value, int indent = -1);
std::string dump_json(const nlohmann::ordered_json& value, int indent = -1);

} // namespace ask::core::detail

namespace ask::core {
using detail::dump_json;
using detail::JsonTextError;
using detail::k_max_json_depth;
using detail::parse_json_text;
using detail::without_input_quote;
} // namespace ask::core
