#pragma once
// A reader for JSON with comments (JSONC): strict JSON plus `//` and `/* */` comments and
// trailing commas, that remembers where every value came from (line:column by key path) so
// config errors can point at the line a person has to edit. Used by the config loader and by
// its fuzz target; untrusted input never crashes it.

#include <cstddef>
#include <expected>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <nlohmann/json.hpp>

namespace ask::config {

// Objects keep the order of the file, so printed configs and tier lists follow it.
using Json = nlohmann::ordered_json;

// 1-based; {0, 0} means "unknown".
struct SourcePos {
  int line = 0;
  int column = 0;
};

struct JsoncError {
  SourcePos pos;
  std::string message;

  // "config.jsonc:12:5: message" (the position left out when unknown).
  std::string to_string(std::string_view source_name) const;
};

struct JsoncLimits {
  int max_depth = 64; // nesting of objects and arrays; deeper input is an error, not a crash
};

struct JsoncDocument {
  Json value;
  // Key path (see path_member / path_index) -> where its key starts (object members) or its
  // value starts (array elements and the root, whose path is "").
  std::unordered_map<std::string, SourcePos> positions;
  // Repeated keys within one object, each naming both lines. The first occurrence is kept in
  // `value`. A caller that accepts a document with duplicates accepts an ambiguous file: the
  // config loader reports each as an error.
  std::vector<JsoncError> duplicate_keys;

  // Where `path` was written; {0, 0} when the path is not in the document.
  SourcePos position(const std::string& path) const;
};

// Parses JSONC text. Accepts a UTF-8 byte-order mark at the start. Rejects: anything after the
// document, an empty document, unterminated strings and comments, bad escapes and lone
// surrogates, control characters and invalid UTF-8 in strings, non-JSON numbers (leading
// zeros, "+1", ".5", NaN, hex) and numbers out of double's range, unquoted or single-quoted
// strings, and nesting past `limits.max_depth`. Integers stay integers (int64, else uint64,
// else double); numbers with a fraction or exponent are doubles.
std::expected<JsoncDocument, JsoncError> parse_jsonc(std::string_view text,
                                                     JsoncLimits limits = {});

// Key paths as diagnostics print them: members joined with '.', array indexes in brackets,
// and a member that is not [A-Za-z0-9_-]+ quoted in brackets:
//   models.fast-9b.fallbacks[1]    models["llama3.2:3b"].backend
std::string path_member(std::string_view parent, std::string_view key);
std::string path_index(std::string_view parent, std::size_t index);

// The JSON type name used in messages: "null", "boolean", "integer", "number", "string",
// "array", "object".
std::string_view type_name(const Json& value);

} // namespace ask::config
