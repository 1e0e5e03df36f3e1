#pragma once
// Untrusted text (a request, a backend reply, a config value) made safe to quote in an error
// message, which later travels in a JSON body and must be valid UTF-8. printable_excerpt is
// exported for the other modules at the end.

#include <cstddef>
#include <string>
#include <string_view>

namespace ask::core::detail {

// At most `max_bytes` bytes of `text`, cut at a code-point boundary and followed by "..."
// when cut. Valid UTF-8 is kept; control bytes, DEL and bytes that are not part of a
// well-formed UTF-8 sequence (overlong forms, surrogates, stray continuation bytes) are
// written as \xNN. With `escape_quotes`, '"' and '\' get a backslash, for quoting the
// result between double quotes. The result is always valid UTF-8.
std::string printable_excerpt(std::string_view text, std::size_t max_bytes,
                              bool escape_quotes = false);

// The length of the well-formed UTF-8 sequence at `pos` (1 to 4), or 0 when the bytes there
// are not one.
std::size_t utf8_sequence_length(std::string_view text, std::size_t pos);
// True when all of `text` is well-formed UTF-8.
bool is_valid_utf8(std::string_view text);

} // namespace ask::core::detail

namespace ask::core {
using detail::printable_excerpt;
} // namespace ask::core
