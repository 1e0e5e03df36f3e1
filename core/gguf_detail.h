#pragma once
// Internals shared by the GGUF reader's translation units (gguf.cpp, gguf_values.cpp,
// gguf_read.cpp, gguf_arch.cpp, gguf_types.cpp; the parser's own in gguf_parser.h). Not part
// of the module's interface.

#include <concepts>
#include <cstdint>
#include <expected>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "core/gguf.h"

namespace ask::core::gguf::detail {

inline void append(std::string& out, std::string_view text) {
  out += text;
}
inline void append(std::string& out, const char* text) {
  out += text;
}
inline void append(std::string& out, const std::string& text) {
  out += text;
}
template <std::integral T>
requires(!std::same_as<T, bool> && !std::same_as<T, char>) void append(std::string& out, T value) {
  out += std::to_string(value);
}

// Concatenates strings and integers into one message.
template <class... Parts> std::string cat(const Parts&... parts) {
  std::string out;
  (append(out, parts), ...);
  return out;
}

// Why parsing stopped. `need_bytes` > 0 means the header is fine so far but runs past the
// bytes given: the caller may read at least that many bytes of the file and try again.
struct Fail {
  std::string message;
  std::uint64_t need_bytes = 0;
};
template <class T> using Parsed = std::expected<T, Fail>;

inline std::unexpected<Fail> failure(std::string message) {
  return std::unexpected<Fail>(Fail{std::move(message), 0});
}

// Asked for a longer prefix, at least `need` bytes: returns a view of it (the old view may
// be invalidated), or nullopt when it cannot (limit reached, I/O error).
using GrowPrefix = std::function<std::optional<std::string_view>(std::uint64_t need)>;

// Parses a prefix `bytes` of a file of `file_size` bytes. With `grow`, the prefix is
// extended as the parser runs past it (one pass, never restarted); without, parsing stops
// with need_bytes set. `options` (may be null) asks for more than the defaults.
Parsed<File> parse_prefix(std::string_view bytes, std::uint64_t file_size,
                          const GrowPrefix& grow = {}, const ReadOptions* options = nullptr);

// Name of a ggml type id that ggml removed ("Q4_0_4_4"), or empty.
std::string_view removed_type_name(std::uint32_t ggml_type);

// Name of a metadata value type ("uint32", "array", ...), or "type N" for unknown ids.
std::string value_type_name(std::uint32_t type);

} // namespace ask::core::gguf::detail
