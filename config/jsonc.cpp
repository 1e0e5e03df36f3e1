#include "config/jsonc.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <limits>
#include <system_error>

#include <fmt/format.h>

#include "config/utf8.h"

namespace ask::config {

namespace {

class Parser {
public:
  Parser(std::string_view text, JsoncLimits limits) : m_text(text), m_limits(limits) {}

  std::expected<JsoncDocument, JsoncError> run();

private:
  bool at_end() const { return m_pos >= m_text.size(); }
  char peek(std::size_t ahead = 0) const {
    return m_pos + ahead < m_text.size() ? m_text[m_pos + ahead] : '\0';
  }
  SourcePos here() const { return {m_line, m_col}; }
  void advance(std::size_t n = 1);
  bool fail(SourcePos pos, std::string message);
  std::string describe_here() const;

  bool skip_space();
  bool parse_value(Json& out, const std::string& path, int depth);
  bool parse_object(Json& out, const std::string& path, int depth);
  bool parse_member(Json& object, const std::string& path, int depth, SourcePos open,
                    std::unordered_map<std::string, SourcePos>& seen, std::string& key);
  bool parse_array(Json& out, const std::string& path, int depth);
  bool parse_string(std::string& out);
  bool parse_escape(std::string& out);
  bool parse_unicode_escape(SourcePos start, std::string& out);
  bool parse_hex4(std::uint32_t& out);
  bool parse_number(Json& out);
  bool convert_number(std::string_view token, bool integral, SourcePos start, Json& out);
  bool parse_literal(Json& out);

  std::string_view m_text;
  JsoncLimits m_limits;
  std::size_t m_pos = 0;
  int m_line = 1;
  int m_col = 1;
  JsoncError m_error;
  JsoncDocument m_doc;
};

void Parser::advance(std::size_t n) {
  for (std::size_t i = 0; i < n && m_pos < m_text.size(); ++i, ++m_pos) {
    const auto c = static_cast<unsigned char>(m_text[m_pos]);
    if (c == '\n') {
      ++m_line;
      m_col = 1;
    } else if ((c & 0xC0) != 0x80) { // columns count code points, not continuation bytes
      ++m_col;
    }
  }
}

bool Parser::fail(SourcePos pos, std::string message) {
  m_error = JsoncError{pos, std::move(message)};
  return false;
}

std::string Parser::describe_here() const {
  if (at_end()) {
    return "end of input";
  }
  const auto c = static_cast<unsigned char>(peek());
  if (c >= 0x20 && c < 0x7F) {
    return fmt::format("'{}'", static_cast<char>(c));
  }
  return fmt::format("byte 0x{:02X}", c);
}

bool Parser::skip_space() {
  while (!at_end()) {
    const char c = peek();
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
      advance();
    } else if (c == '/' && peek(1) == '/') {
      while (!at_end() && peek() != '\n') {
        advance();
      }
    } else if (c == '/' && peek(1) == '*') {
      const SourcePos start = here();
      advance(2);
      while (!at_end() && !(peek() == '*' && peek(1) == '/')) {
        advance();
      }
      if (at_end()) {
        return fail(start, "unterminated /* comment");
      }
      advance(2);
    } else {
      break;
    }
  }
  return true;
}

std::expected<JsoncDocument, JsoncError> Parser::run() {
  if (m_text.starts_with("\xEF\xBB\xBF")) {
    m_pos = 3; // a byte-order mark is not a column
  }
  if (!skip_space()) {
    return std::unexpected(m_error);
  }
  if (at_end()) {
    return std::unexpected(JsoncError{here(), "empty document: expected a JSON value"});
  }
  m_doc.positions.emplace("", here());
  if (!parse_value(m_doc.value, "", 0) || !skip_space()) {
    return std::unexpected(m_error);
  }
  if (!at_end()) {
    return std::unexpected(JsoncError{
        here(), fmt::format("unexpected {} after the end of the document", describe_here())});
  }
  return std::move(m_doc);
}

bool Parser::parse_value(Json& out, const std::string& path, int depth) {
  const char c = peek();
  if (c == '{') {
    return parse_object(out, path, depth + 1);
  }
  if (c == '[') {
    return parse_array(out, path, depth + 1);
  }
  if (c == '"') {
    std::string s;
    if (!parse_string(s)) {
      return false;
    }
    out = std::move(s);
    return true;
  }
  if (c == '-' || (c >= '0' && c <= '9')) {
    return parse_number(out);
  }
  return parse_literal(out);
}

bool Parser::parse_object(Json& out, const std::string& path, int depth) {
  if (depth > m_limits.max_depth) {
    return fail(here(), fmt::format("nesting deeper than {} levels", m_limits.max_depth));
  }
  const SourcePos open = here();
  advance(); // '{'
  out = Json::object();
  std::unordered_map<std::string, SourcePos> seen;
  while (true) {
    if (!skip_space()) {
      return false;
    }
    if (peek() == '}') {
      advance();
      return true;
    }
    std::string key;
    if (!parse_member(out, path, depth, open, seen, key) || !skip_space()) {
      return false;
    }
    if (peek() == ',') {
      advance();
    } else if (peek() != '}') {
      if (at_end()) {
        return fail(open, "unterminated object: '{' is never closed");
      }
      return fail(here(), fmt::format("expected ',' or '}}' after the value of \"{}\", got {}", key,
                                      describe_here()));
    }
  }
}

bool Parser::parse_member(Json& object, const std::string& path, int depth, SourcePos open,
                          std::unordered_map<std::string, SourcePos>& seen, std::string& key) {
  if (at_end()) {
    return fail(open, "unterminated object: '{' is never closed");
  }
  if (peek() != '"') {
    const std::string hint = peek() == '\'' ? "; use double quotes" : "";
    return fail(here(), fmt::format("expected a key in double quotes or '}}', got {}{}",
                                    describe_here(), hint));
  }
  const SourcePos key_pos = here();
  if (!parse_string(key) || !skip_space()) {
    return false;
  }
  if (peek() != ':') {
    return fail(here(), fmt::format("expected ':' after key \"{}\", got {}", key, describe_here()));
  }
  advance();
  if (!skip_space()) {
    return false;
  }
  if (at_end()) {
    return fail(here(), fmt::format("expected a value for key \"{}\", got end of input", key));
  }
  const std::string child = path_member(path, key);
  Json value;
  if (!parse_value(value, child, depth)) {
    return false;
  }
  const auto [it, inserted] = seen.emplace(key, key_pos);
  if (inserted) {
    m_doc.positions.emplace(child, key_pos);
    // Appending directly keeps large objects linear; `seen` already rules out duplicates.
    object.get_ref<Json::object_t&>().emplace_back(key, std::move(value));
  } else {
    m_doc.duplicate_keys.push_back(
        JsoncError{key_pos, fmt::format("duplicate key \"{}\"{} (first defined on line {})", key,
                                        path.empty() ? "" : " in " + path, it->second.line)});
  }
  return true;
}

bool Parser::parse_array(Json& out, const std::string& path, int depth) {
  if (depth > m_limits.max_depth) {
    return fail(here(), fmt::format("nesting deeper than {} levels", m_limits.max_depth));
  }
  const SourcePos open = here();
  advance(); // '['
  out = Json::array();
  auto& items = out.get_ref<Json::array_t&>();
  while (true) {
    if (!skip_space()) {
      return false;
    }
    if (peek() == ']') {
      advance();
      return true;
    }
    if (at_end()) {
      return fail(open, "unterminated array: '[' is never closed");
    }
    if (peek() == ',') {
      return fail(here(), "expected a value or ']', got ','");
    }
    const std::string child = path_index(path, items.size());
    m_doc.positions.emplace(child, here());
    Json value;
    if (!parse_value(value, child, depth)) {
      return false;
    }
    items.push_back(std::move(value));
    if (!skip_space()) {
      return false;
    }
    if (peek() == ',') {
      advance();
    } else if (peek() != ']') {
      if (at_end()) {
        return fail(open, "unterminated array: '[' is never closed");
      }
      return fail(here(), fmt::format("expected ',' or ']' in array, got {}", describe_here()));
    }
  }
}

bool Parser::parse_string(std::string& out) {
  const SourcePos open = here();
  advance(); // opening quote
  while (true) {
    if (at_end()) {
      return fail(open, "unterminated string");
    }
    const auto c = static_cast<unsigned char>(peek());
    if (c == '"') {
      advance();
      return true;
    }
    if (c == '\\') {
      if (!parse_escape(out)) {
        return false;
      }
    } else if (c == '\n' || c == '\r') {
      return fail(open, "unterminated string: strings cannot span lines (write \\n)");
    } else if (c < 0x20) {
      return fail(here(), fmt::format("control character U+{:04X} in string; escape it", c));
    } else if (c < 0x80) {
      out += static_cast<char>(c);
      advance();
    } else {
      const std::size_t len = utf8_sequence_length(m_text.substr(m_pos));
      if (len == 0) {
        return fail(here(), fmt::format("invalid UTF-8 in string (byte 0x{:02X})", c));
      }
      out.append(m_text.substr(m_pos, len));
      advance(len);
    }
  }
}

bool Parser::parse_hex4(std::uint32_t& out) {
  out = 0;
  for (int i = 0; i < 4; ++i) {
    const int v = hex_value(peek());
    if (at_end() || v < 0) {
      return fail(here(), "invalid \\u escape: expected four hex digits");
    }
    out = out * 16 + static_cast<std::uint32_t>(v);
    advance();
  }
  return true;
}

bool Parser::parse_escape(std::string& out) {
  const SourcePos start = here();
  advance(); // backslash
  const char e = peek();
  switch (e) {
  case '"':
    out += '"';
    break;
  case '\\':
    out += '\\';
    break;
  case '/':
    out += '/';
    break;
  case 'b':
    out += '\b';
    break;
  case 'f':
    out += '\f';
    break;
  case 'n':
    out += '\n';
    break;
  case 'r':
    out += '\r';
    break;
  case 't':
    out += '\t';
    break;
  case 'u':
    advance();
    return parse_unicode_escape(start, out);
  default:
    if (at_end()) {
      return fail(start, "unterminated string");
    }
    return fail(start, fmt::format("invalid escape \\{} in string", describe_here()));
  }
  advance();
  return true;
}

bool Parser::parse_unicode_escape(SourcePos start, std::string& out) {
  std::uint32_t cp = 0;
  if (!parse_hex4(cp)) {
    return false;
  }
  if (cp >= 0xDC00 && cp <= 0xDFFF) {
    return fail(start, fmt::format("lone low surrogate \\u{:04X} in string", cp));
  }
  if (cp >= 0xD800 && cp <= 0xDBFF) {
    std::uint32_t low = 0;
    if (peek() != '\\' || peek(1) != 'u') {
      return fail(start, fmt::format("high surrogate \\u{:04X} not followed by a low one", cp));
    }
    advance(2);
    if (!parse_hex4(low)) {
      return false;
    }
    if (low < 0xDC00 || low > 0xDFFF) {
      return fail(start, fmt::format("high surrogate \\u{:04X} not followed by a low one", cp));
    }
    cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
  }
  append_utf8(out, cp);
  return true;
}

bool Parser::parse_number(Json& out) {
  const SourcePos start = here();
  const std::size_t begin = m_pos;
  auto digits = [this] {
    std::size_t n = 0;
    while (peek() >= '0' && peek() <= '9') {
      advance();
      ++n;
    }
    return n;
  };
  auto bad = [&](std::string_view why) {
    std::size_t end = m_pos;
    while (end < m_text.size() &&
           (std::isalnum(static_cast<unsigned char>(m_text[end])) || m_text[end] == '.' ||
            m_text[end] == '+' || m_text[end] == '-')) {
      ++end;
    }
    return fail(start,
                fmt::format("invalid number \"{}\": {}",
                            m_text.substr(begin, std::min<std::size_t>(end - begin, 40)), why));
  };
  if (peek() == '-') {
    advance();
  }
  if (peek() == '0' && peek(1) >= '0' && peek(1) <= '9') {
    return bad("leading zeros are not allowed");
  }
  if (digits() == 0) {
    return bad("expected a digit");
  }
  bool integral = true;
  if (peek() == '.') {
    integral = false;
    advance();
    if (digits() == 0) {
      return bad("expected a digit after '.'");
    }
  }
  if (peek() == 'e' || peek() == 'E') {
    integral = false;
    advance();
    if (peek() == '+' || peek() == '-') {
      advance();
    }
    if (digits() == 0) {
      return bad("expected a digit in the exponent");
    }
  }
  if (std::isalpha(static_cast<unsigned char>(peek())) || peek() == '.') {
    return bad("unexpected characters");
  }
  return convert_number(m_text.substr(begin, m_pos - begin), integral, start, out);
}

bool Parser::convert_number(std::string_view token, bool integral, SourcePos start, Json& out) {
  const char* first = token.data();
  const char* last = token.data() + token.size();
  if (integral) {
    std::int64_t i = 0;
    if (auto r = std::from_chars(first, last, i); r.ec == std::errc{} && r.ptr == last) {
      out = i;
      return true;
    }
    std::uint64_t u = 0;
    if (auto r = std::from_chars(first, last, u); r.ec == std::errc{} && r.ptr == last) {
      out = u;
      return true;
    }
  }
  double d = 0;
  const auto r = std::from_chars(first, last, d);
  if (r.ec != std::errc{} || r.ptr != last || !std::isfinite(d)) {
    return fail(start, fmt::format("number {} is out of range",
                                   token.substr(0, std::min<std::size_t>(token.size(), 40))));
  }
  out = d;
  return true;
}

bool Parser::parse_literal(Json& out) {
  const SourcePos start = here();
  std::size_t end = m_pos;
  while (end < m_text.size() &&
         (std::isalnum(static_cast<unsigned char>(m_text[end])) || m_text[end] == '_')) {
    ++end;
  }
  const std::string_view word = m_text.substr(m_pos, end - m_pos);
  if (word == "true" || word == "false" || word == "null") {
    out = word == "null" ? Json(nullptr) : Json(word == "true");
    advance(word.size());
    return true;
  }
  if (word.empty()) {
    const std::string hint = peek() == '\'' ? "; strings take double quotes" : "";
    return fail(start, fmt::format("expected a value, got {}{}", describe_here(), hint));
  }
  return fail(start, fmt::format("unexpected word \"{}\"; strings take double quotes and "
                                 "the only bare words are true, false and null",
                                 word.substr(0, std::min<std::size_t>(word.size(), 40))));
}

} // namespace

std::expected<JsoncDocument, JsoncError> parse_jsonc(std::string_view text, JsoncLimits limits) {
  return Parser(text, limits).run();
}

} // namespace ask::config
