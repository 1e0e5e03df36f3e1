#include "net/response_parser.h"

#include <algorithm>
#include <charconv>
#include <limits>

#include "net/http_request.h"

namespace ask::net {

namespace {

constexpr std::string_view k_http_prefix = "HTTP/";
constexpr std::string_view k_version_prefix = "1.";
constexpr std::size_t k_quoted_max = 32;

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') {
    return c - '0';
  }
  if (c >= 'a' && c <= 'f') {
    return c - 'a' + 10;
  }
  if (c >= 'A' && c <= 'F') {
    return c - 'A' + 10;
  }
  return -1;
}

// RFC 9110 field-value: visible characters, obs-text, spaces and tabs; no other controls.
bool is_field_text(std::string_view s) {
  return std::none_of(s.begin(), s.end(), [](char c) {
    const auto u = static_cast<unsigned char>(c);
    return (u < 0x20 && c != '\t') || u == 0x7f;
  });
}

// Calls `fn` on each trimmed, non-empty element of a comma-separated list; stops early (and
// returns false) when `fn` does.
template <class Fn> bool for_each_element(std::string_view list, Fn fn) {
  while (!list.empty()) {
    const std::size_t comma = list.find(',');
    const std::string_view item = core::trim_blanks(list.substr(0, comma));
    if (!item.empty() && !fn(item)) {
      return false;
    }
    if (comma == std::string_view::npos) {
      break;
    }
    list.remove_prefix(comma + 1);
  }
  return true;
}

// `text` between quotes for an error message: at most k_quoted_max bytes, anything but
// printable ASCII as \xNN.
std::string quoted(std::string_view text) {
  static constexpr char k_hex[] = "0123456789abcdef";
  std::string out = "\"";
  for (char c : text.substr(0, k_quoted_max)) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u >= 0x7f || c == '"' || c == '\\') {
      out += "\\x";
      out += k_hex[u >> 4];
      out += k_hex[u & 0xf];
    } else {
      out += c;
    }
  }
  out += text.size() > k_quoted_max ? "...\"" : "\"";
  return out;
}

// Whether `s` can still begin "HTTP/1."; nullptr when it can, else what is wrong.
const char* version_prefix_error(std::string_view s) {
  const std::size_t n = std::min(s.size(), k_http_prefix.size());
  if (s.substr(0, n) != k_http_prefix.substr(0, n)) {
    return "not an HTTP response";
  }
  if (s.size() > k_http_prefix.size()) {
    const std::string_view rest = s.substr(k_http_prefix.size(), k_version_prefix.size());
    if (rest != k_version_prefix.substr(0, rest.size())) {
      return "unsupported HTTP version (not HTTP/1.x)";
    }
  }
  return nullptr;
}

// What the head says about the connection and the body's framing.
struct FramingFields {
  bool close = false;      // Connection: close
  bool keep_alive = false; // Connection: keep-alive
  int te_fields = 0;       // Transfer-Encoding fields
  int chunked = 0;         // "chunked" codings among them
  std::string_view other_coding;
  std::optional<std::uint64_t> length;
  bool bad_length = false; // unparseable, or lengths that disagree
};

FramingFields scan_framing_fields(const ClientHeaders& headers) {
  FramingFields f;
  for (const auto& [name, value] : headers) {
    if (iequals(name, "Connection")) {
      for_each_element(value, [&](std::string_view token) {
        f.close = f.close || iequals(token, "close");
        f.keep_alive = f.keep_alive || iequals(token, "keep-alive");
        return true;
      });
    } else if (iequals(name, "Transfer-Encoding")) {
      ++f.te_fields;
      for_each_element(value, [&](std::string_view coding) {
        if (iequals(coding, "chunked")) {
          ++f.chunked;
          return true;
        }
        f.other_coding = coding;
        return false;
      });
    } else if (iequals(name, "Content-Length")) {
      // "5, 5" and repeated fields are one length when they agree (RFC 9110 section 8.6).
      int values = 0;
      const bool ok = for_each_element(value, [&](std::string_view text) {
        std::uint64_t n = 0;
        auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
        if (ec != std::errc() || end != text.data() + text.size() || (f.length && *f.length != n)) {
          return false;
        }
        f.length = n;
        ++values;
        return true;
      });
      f.bad_length = f.bad_length || !ok || values == 0;
    }
  }
  return f;
}

} // namespace

std::optional<std::string_view> ResponseHead::header(std::string_view name) const {
  for (const auto& [key, value] : headers) {
    if (iequals(key, name)) {
      return std::string_view(value);
    }
  }
  return std::nullopt;
}

ResponseParser::ResponseParser(ResponseLimits limits) : m_limits(limits) {}

void ResponseParser::reset(bool head_request) {
  m_head_request = head_request;
  m_state = State::head;
  m_step = Step::status_line;
  m_line.clear();
  m_head_bytes = 0;
  m_fields = 0;
  m_interim_heads = 0;
  m_started = false;
  m_http10 = false;
  m_keep_alive = false;
  m_saw_cr = false;
  m_framing = BodyFraming::none;
  m_content_length = 0;
  m_remaining = 0;
  m_head = {};
  m_error.clear();
}

std::size_t ResponseParser::feed(std::string_view bytes, std::string& body) {
  if (m_state == State::complete || m_state == State::failed || bytes.empty()) {
    return 0;
  }
  m_started = true;
  std::string_view in = bytes;
  if (m_state == State::head) {
    on_head_bytes(in);
    return bytes.size() - in.size();
  }
  while (!in.empty() && m_state == State::body) {
    std::string_view line;
    switch (m_step) {
    case Step::length_body:
    case Step::chunk_data: {
      const auto n = static_cast<std::size_t>(std::min<std::uint64_t>(m_remaining, in.size()));
      body.append(in.data(), n);
      in.remove_prefix(n);
      m_remaining -= n;
      if (m_remaining == 0) {
        if (m_step == Step::length_body) {
          m_state = State::complete;
          m_step = Step::done;
        } else {
          m_step = Step::chunk_data_end;
        }
      }
      break;
    }
    case Step::close_body:
      body.append(in);
      in = {};
      break;
    case Step::chunk_size: {
      const Line got = next_line(in, m_limits.max_chunk_line_bytes, line);
      if (got == Line::too_long) {
        fail("chunk size line longer than " + std::to_string(m_limits.max_chunk_line_bytes) +
             " bytes");
      } else if (got == Line::complete) {
        parse_chunk_size(line);
        m_line.clear();
      }
      break;
    }
    case Step::chunk_data_end:
      on_chunk_data_end(in);
      break;
    case Step::trailer_line: {
      const Line got = next_line(in, m_limits.max_head_bytes - m_head_bytes, line);
      if (got == Line::too_long) {
        fail("trailer fields larger than " + std::to_string(m_limits.max_head_bytes) + " bytes");
      } else if (got == Line::complete) {
        on_trailer_line(line);
        m_line.clear();
      }
      break;
    }
    case Step::status_line:
    case Step::header_line:
    case Step::done:
      fail("internal: body bytes in a wrong step"); // unreachable: state() says body
      break;
    }
  }
  return bytes.size() - in.size();
}

ResponseParser::State ResponseParser::finish() {
  if (m_state == State::body && m_step == Step::close_body) {
    m_state = State::complete;
    m_step = Step::done;
  } else if (m_state == State::head) {
    fail(m_started ? "the response head was cut off" : "no response");
  } else if (m_state == State::body) {
    fail("the body was cut off");
  }
  return m_state;
}

ResponseParser::Line ResponseParser::next_line(std::string_view& in, std::size_t limit,
                                               std::string_view& line) {
  const std::size_t nl = in.find('\n');
  if (nl == std::string_view::npos) {
    if (m_line.size() + in.size() > limit) {
      return Line::too_long;
    }
    m_line.append(in);
    in = {};
    return Line::partial;
  }
  const std::size_t raw_size = m_line.size() + nl + 1;
  if (raw_size > limit) {
    return Line::too_long;
  }
  if (m_line.empty()) {
    line = in.substr(0, nl);
  } else {
    m_line.append(in.data(), nl);
    line = m_line;
  }
  in.remove_prefix(nl + 1);
  if (!line.empty() && line.back() == '\r') {
    line.remove_suffix(1);
  }
  if (m_step == Step::status_line || m_step == Step::header_line || m_step == Step::trailer_line) {
    m_head_bytes += raw_size;
  }
  return Line::complete;
}

bool ResponseParser::on_head_bytes(std::string_view& in) {
  while (!in.empty()) {
    if (m_step == Step::status_line && m_line.size() < k_http_prefix.size() + 2) {
      // Fail fast on what is not HTTP at all, before a line end or the head limit.
      char start[k_http_prefix.size() + 2];
      const std::size_t have = m_line.copy(start, sizeof start);
      const std::size_t more = in.copy(start + have, sizeof start - have);
      if (const char* error = version_prefix_error(std::string_view(start, have + more))) {
        return fail(error);
      }
    }
    std::string_view line;
    const Line got = next_line(in, m_limits.max_head_bytes - m_head_bytes, line);
    if (got == Line::too_long) {
      return fail("response head larger than " + std::to_string(m_limits.max_head_bytes) +
                  " bytes");
    }
    if (got == Line::partial) {
      return true;
    }
    bool ok = false;
    if (m_step == Step::status_line) {
      ok = parse_status_line(line);
    } else if (line.empty()) {
      ok = end_of_head();
    } else {
      ok = parse_header_line(line);
    }
    m_line.clear(); // `line` may point into it: used up now
    if (!ok) {
      return false;
    }
    if (m_state != State::head) {
      return true; // the final head is complete: stop here so the caller can look at it
    }
  }
  return true;
}

bool ResponseParser::parse_status_line(std::string_view line) {
  // HTTP-version SP 3DIGIT [SP reason-phrase]; a missing reason is tolerated.
  if (const char* error = version_prefix_error(line)) {
    return fail(error);
  }
  constexpr std::size_t k_status_at = 9; // after "HTTP/1.x "
  if (line.size() < k_status_at + 3 || !is_digit(line[7]) || line[8] != ' ' || !is_digit(line[9]) ||
      !is_digit(line[10]) || !is_digit(line[11]) ||
      (line.size() > k_status_at + 3 && line[k_status_at + 3] != ' ')) {
    return fail("bad status line " + quoted(line));
  }
  const int status = (line[9] - '0') * 100 + (line[10] - '0') * 10 + (line[11] - '0');
  if (status < 100 || status > 599) {
    return fail("bad status code " + std::to_string(status));
  }
  if (status == 101) {
    return fail("unexpected 101 Switching Protocols");
  }
  const std::string_view reason =
      line.size() > k_status_at + 3 ? line.substr(k_status_at + 4) : std::string_view();
  if (!is_field_text(reason)) {
    return fail("bad status line " + quoted(line));
  }
  m_http10 = line[7] == '0';
  m_head.status = status;
  m_head.reason.assign(reason);
  m_step = Step::header_line;
  return true;
}

bool ResponseParser::parse_header_line(std::string_view line) {
  if (line.front() == ' ' || line.front() == '\t') {
    // Obsolete line folding (RFC 9112 section 5.2): a user agent replaces it with a space.
    const std::string_view more = core::trim_blanks(line);
    if (m_head.headers.empty() || !is_field_text(more)) {
      return fail("malformed header line " + quoted(line));
    }
    std::string& value = m_head.headers.back().second;
    if (!more.empty()) {
      if (!value.empty()) {
        value += ' ';
      }
      value.append(more);
    }
    return true;
  }
  if (++m_fields > m_limits.max_headers) {
    return fail("more than " + std::to_string(m_limits.max_headers) + " header fields");
  }
  const std::size_t colon = line.find(':');
  if (colon == std::string_view::npos || !is_token(line.substr(0, colon))) {
    return fail("malformed header line " + quoted(line));
  }
  const std::string_view value = core::trim_blanks(line.substr(colon + 1));
  if (!is_field_text(value)) {
    return fail("malformed value in header line " + quoted(line));
  }
  m_head.headers.emplace_back(line.substr(0, colon), value);
  return true;
}

bool ResponseParser::end_of_head() {
  if (m_head.status >= 200) {
    return decide_framing();
  }
  // An interim response (100 Continue, 102, 103 Early Hints): skip it, read the next head.
  if (++m_interim_heads > m_limits.max_interim_heads) {
    return fail("more than " + std::to_string(m_limits.max_interim_heads) +
                " interim (1xx) responses");
  }
  m_head.headers.clear();
  m_head.reason.clear();
  m_head.status = 0;
  m_head_bytes = 0;
  m_fields = 0;
  m_step = Step::status_line;
  return true;
}

bool ResponseParser::decide_framing() {
  const FramingFields f = scan_framing_fields(m_head.headers);
  m_keep_alive = m_http10 ? (f.keep_alive && !f.close) : !f.close;
  if (m_head_request || m_head.status == 204 || m_head.status == 304) {
    m_framing = BodyFraming::none;
    m_state = State::complete;
    m_step = Step::done;
    return true;
  }
  if (f.te_fields > 0) {
    if (!f.other_coding.empty()) {
      return fail("unsupported Transfer-Encoding " + quoted(f.other_coding));
    }
    if (f.chunked != 1) {
      return fail("bad Transfer-Encoding (chunked must appear once)");
    }
    // Both headers: Transfer-Encoding wins, and the connection must not be reused (RFC 9112
    // section 6.3, item 3).
    m_keep_alive = m_keep_alive && !f.length && !f.bad_length;
    m_framing = BodyFraming::chunked;
    m_state = State::body;
    m_step = Step::chunk_size;
    return true;
  }
  if (f.bad_length) {
    return fail("bad Content-Length");
  }
  if (f.length) {
    m_framing = BodyFraming::length;
    m_content_length = *f.length;
    m_remaining = *f.length;
    m_state = *f.length == 0 ? State::complete : State::body;
    m_step = *f.length == 0 ? Step::done : Step::length_body;
    return true;
  }
  m_framing = BodyFraming::until_close;
  m_keep_alive = false;
  m_state = State::body;
  m_step = Step::close_body;
  return true;
}

bool ResponseParser::parse_chunk_size(std::string_view line) {
  // chunk-size [BWS] *( ";" chunk-ext ): the extensions are allowed and ignored.
  std::uint64_t size = 0;
  std::size_t i = 0;
  for (; i < line.size() && hex_value(line[i]) >= 0; ++i) {
    if (size > (std::numeric_limits<std::uint64_t>::max() >> 4)) {
      return fail("chunk size too large");
    }
    size = size * 16 + static_cast<std::uint64_t>(hex_value(line[i]));
  }
  if (i == 0) {
    return fail("bad chunk size line " + quoted(line));
  }
  while (i < line.size() && (line[i] == ' ' || line[i] == '\t')) {
    ++i;
  }
  if ((i < line.size() && line[i] != ';') || !is_field_text(line.substr(i))) {
    return fail("bad chunk size line " + quoted(line));
  }
  if (size == 0) {
    m_step = Step::trailer_line;
    m_head_bytes = 0;
    m_fields = 0;
  } else {
    m_remaining = size;
    m_step = Step::chunk_data;
  }
  return true;
}

void ResponseParser::on_chunk_data_end(std::string_view& in) {
  const char c = in.front();
  if (c == '\r' && !m_saw_cr) {
    m_saw_cr = true;
    in.remove_prefix(1);
  } else if (c == '\n') {
    m_saw_cr = false;
    in.remove_prefix(1);
    m_step = Step::chunk_size;
  } else {
    fail("missing CRLF after chunk data");
  }
}

bool ResponseParser::on_trailer_line(std::string_view line) {
  if (line.empty()) {
    m_state = State::complete;
    m_step = Step::done;
    return true;
  }
  const bool folded = line.front() == ' ' || line.front() == '\t';
  if (folded ? m_fields == 0 : ++m_fields > m_limits.max_headers) {
    return fail(folded ? "malformed trailer line " + quoted(line)
                       : "more than " + std::to_string(m_limits.max_headers) + " trailer fields");
  }
  const std::size_t colon = line.find(':');
  if (!is_field_text(line) ||
      (!folded && (colon == std::string_view::npos || !is_token(line.substr(0, colon))))) {
    return fail("malformed trailer line " + quoted(line));
  }
  return true; // trailers are checked, then dropped: nothing askd relays needs them
}

bool ResponseParser::fail(std::string message) {
  m_state = State::failed;
  m_step = Step::done;
  m_error = std::move(message);
  return false;
}

} // namespace ask::net
