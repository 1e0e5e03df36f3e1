#pragma once
// The small ASCII string helpers every module needs: case-insensitive comparison (header
// names, units, schemes), trimming, lower-casing and comma-separated token lists. ASCII only
// and locale-free: bytes >= 0x80 (UTF-8) are compared and copied as they are.

#include <string>
#include <string_view>
#include <vector>

namespace ask::core {

// 'A'..'Z' to 'a'..'z'; every other byte as it is.
constexpr char to_lower(char c) {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}
// `s` with 'A'..'Z' lower-cased.
std::string to_lower(std::string_view s);

// Whether `a` and `b` are equal ignoring the case of ASCII letters (only letters: '@' is not
// '`', '[' is not '{').
bool iequals(std::string_view a, std::string_view b);
// Whether `s` starts with `prefix`, ignoring the case of ASCII letters.
bool istarts_with(std::string_view s, std::string_view prefix);

// Space, tab, CR and LF: the blanks a line-oriented tool's output or a header may carry.
constexpr bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}
// `s` without leading and trailing spaces, tabs, CRs and LFs.
std::string_view trim(std::string_view s);
// `s` without leading and trailing spaces and tabs only: HTTP's optional whitespace (RFC 9110
// section 5.6.3) around a field value or a list element.
std::string_view trim_blanks(std::string_view s);

// Whether a comma-separated list (`Connection: keep-alive, Upgrade`) has an element equal to
// `token`, ignoring case and the spaces and tabs around elements.
bool contains_token(std::string_view list, std::string_view token);

// The elements of a `sep`-separated header list ("a>b>c", "x=1, y=2"), each trimmed of
// spaces and tabs, empty ones dropped; at most `max` (the rest is not read).
std::vector<std::string_view> split_trimmed(std::string_view text, char sep,
                                            std::size_t max = static_cast<std::size_t>(-1));

} // namespace ask::core
