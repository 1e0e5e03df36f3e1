#pragma once
// Internal to the config module: the UTF-8 the JSONC reader needs to decode and to check.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace ask::config {

// 0-15 for a hex digit, else -1.
int hex_value(char c);
// Appends code point `cp` (at most U+10FFFF, not a surrogate) as UTF-8.
void append_utf8(std::string& out, std::uint32_t cp);
// The length of the valid UTF-8 sequence that starts `s` (non-empty, first byte >= 0x80), or 0
// when it is not one: overlong forms, UTF-16 surrogates and code points past U+10FFFF are
// rejected, as are sequences cut short.
std::size_t utf8_sequence_length(std::string_view s);

} // namespace ask::config
