#include "core/excerpt.h"

#include <algorithm>

namespace ask::core::detail {

namespace {

bool in_range(unsigned char c, unsigned char lo, unsigned char hi) {
  return c >= lo && c <= hi;
}

void append_hex(std::string& out, unsigned char c) {
  static constexpr char k_hex[] = "0123456789abcdef";
  out += "\\x";
  out += k_hex[c >> 4];
  out += k_hex[c & 0xf];
}

} // namespace

std::size_t utf8_sequence_length(std::string_view text, std::size_t pos) {
  const auto byte = [&](std::size_t i) {
    return pos + i < text.size() ? static_cast<unsigned char>(text[pos + i]) : 0;
  };
  if (pos >= text.size()) {
    return 0;
  }
  const unsigned char c = byte(0);
  if (c < 0x80) {
    return 1;
  }
  // The second byte's range depends on the first (RFC 3629 table 4): this rules out
  // overlong forms, UTF-16 surrogates and code points past U+10FFFF.
  unsigned char lo = 0x80;
  unsigned char hi = 0xbf;
  std::size_t len = 0;
  if (in_range(c, 0xc2, 0xdf)) {
    len = 2;
  } else if (in_range(c, 0xe0, 0xef)) {
    len = 3;
    lo = c == 0xe0 ? 0xa0 : 0x80;
    hi = c == 0xed ? 0x9f : 0xbf;
  } else if (in_range(c, 0xf0, 0xf4)) {
    len = 4;
    lo = c == 0xf0 ? 0x90 : 0x80;
    hi = c == 0xf4 ? 0x8f : 0xbf;
  } else {
    return 0;
  }
  if (!in_range(byte(1), lo, hi)) {
    return 0;
  }
  for (std::size_t i = 2; i < len; ++i) {
    if (!in_range(byte(i), 0x80, 0xbf)) {
      return 0;
    }
  }
  return len;
}

bool is_valid_utf8(std::string_view text) {
  for (std::size_t pos = 0; pos < text.size();) {
    const std::size_t len = utf8_sequence_length(text, pos);
    if (len == 0) {
      return false;
    }
    pos += len;
  }
  return true;
}

std::string printable_excerpt(std::string_view text, std::size_t max_bytes, bool escape_quotes) {
  std::string out;
  out.reserve(std::min(text.size(), max_bytes) + 3);
  std::size_t pos = 0;
  while (pos < text.size()) {
    const auto c = static_cast<unsigned char>(text[pos]);
    const std::size_t len = utf8_sequence_length(text, pos);
    const std::size_t take = len == 0 ? 1 : len;
    if (pos + take > max_bytes) {
      break;
    }
    if (len == 0 || c < 0x20 || c == 0x7f) {
      append_hex(out, c);
    } else if (escape_quotes && (c == '"' || c == '\\')) {
      out += '\\';
      out += static_cast<char>(c);
    } else {
      out.append(text.substr(pos, take));
    }
    pos += take;
  }
  if (pos < text.size()) {
    out += "...";
  }
  return out;
}

} // namespace ask::core::detail
