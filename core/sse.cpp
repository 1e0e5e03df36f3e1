#include "core/sse.h"

#include <algorithm>
#include <charconv>
#include <cstring>

namespace ask::core {

namespace {

constexpr std::string_view k_bom = "\xEF\xBB\xBF";

// Finds line breaks ('\r' or '\n') in one piece of text, front to back, in linear time
// overall: it remembers where the next '\n' is (or that there is none), so text with only
// '\r' line ends is not scanned to its end once per line, and it looks for a '\r' only up
// to that '\n'.
class LineBreakFinder {
public:
  explicit LineBreakFinder(std::string_view text) : m_text(text) {}

  // The position of the first '\r' or '\n' at or after `pos`, or npos. Calls must come
  // with non-decreasing `pos`.
  std::size_t find(std::size_t pos) {
    if (pos >= m_text.size()) {
      return std::string_view::npos;
    }
    if (!m_lf_known || (m_lf != std::string_view::npos && m_lf < pos)) {
      m_lf = find_byte('\n', pos, m_text.size());
      m_lf_known = true;
    }
    const std::size_t cr_end = m_lf == std::string_view::npos ? m_text.size() : m_lf;
    const std::size_t cr = find_byte('\r', pos, cr_end);
    return cr != std::string_view::npos ? cr : m_lf;
  }

private:
  std::size_t find_byte(char c, std::size_t from, std::size_t to) const {
    if (from >= to) {
      return std::string_view::npos;
    }
    const auto* hit = static_cast<const char*>(std::memchr(m_text.data() + from, c, to - from));
    return hit == nullptr ? std::string_view::npos : static_cast<std::size_t>(hit - m_text.data());
  }

  std::string_view m_text;
  std::size_t m_lf = std::string_view::npos;
  bool m_lf_known = false;
};

bool all_digits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

bool all_space(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) {
    return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f' || c == '\v';
  });
}

// Calls `fn` with each line of `text`, split at "\r\n", "\n" or "\r".
template <class Fn> void for_each_line(std::string_view text, Fn fn) {
  LineBreakFinder breaks(text);
  std::size_t pos = 0;
  while (true) {
    const auto eol = breaks.find(pos);
    if (eol == std::string_view::npos) {
      fn(text.substr(pos));
      return;
    }
    fn(text.substr(pos, eol - pos));
    pos = eol + 1;
    if (text[eol] == '\r' && pos < text.size() && text[pos] == '\n') {
      ++pos;
    }
  }
}

} // namespace

SseParser::SseParser(std::size_t max_line_bytes) : m_max_line(max_line_bytes) {}

void SseParser::fail_with(std::string message) {
  m_failed = true;
  m_error = std::move(message);
  m_line.clear();
  m_pending = {};
}

void SseParser::feed(std::string_view bytes, std::vector<SseEvent>& out) {
  LineBreakFinder breaks(bytes);
  std::size_t pos = 0;
  while (!m_failed && pos < bytes.size()) {
    if (m_last_was_cr) {
      // A "\r\n" split across two feeds, or within this one: the "\n" ends nothing new.
      m_last_was_cr = false;
      if (bytes[pos] == '\n') {
        ++pos;
        continue;
      }
    }
    const auto eol = breaks.find(pos);
    const auto piece =
        bytes.substr(pos, eol == std::string_view::npos ? bytes.size() - pos : eol - pos);
    if (m_line.size() + piece.size() > m_max_line) {
      fail_with("SSE line longer than " + std::to_string(m_max_line) + " bytes");
      return;
    }
    if (eol == std::string_view::npos) {
      m_line.append(piece);
      return;
    }
    m_last_was_cr = bytes[eol] == '\r';
    pos = eol + 1;
    if (m_line.empty()) {
      process_line(piece, out); // the common case: no copy
    } else {
      m_line.append(piece);
      process_line(m_line, out);
      m_line.clear();
    }
  }
}

std::vector<SseEvent> SseParser::feed(std::string_view bytes) {
  std::vector<SseEvent> out;
  feed(bytes, out);
  return out;
}

bool SseParser::finish() {
  const bool clean = !m_failed && all_space(m_line) && !m_saw_any_field;
  m_line.clear();
  m_pending = {};
  m_has_data = false;
  m_saw_any_field = false;
  m_last_was_cr = false;
  return clean;
}

void SseParser::process_line(std::string_view line, std::vector<SseEvent>& out) {
  if (m_at_start) {
    m_at_start = false;
    if (line.starts_with(k_bom)) {
      line.remove_prefix(k_bom.size());
    }
  }
  if (line.empty()) {
    dispatch(out);
    return;
  }
  if (line.front() == ':') {
    return; // a comment
  }
  const auto colon = line.find(':');
  if (colon == std::string_view::npos) {
    process_field(line, {});
    return;
  }
  auto value = line.substr(colon + 1);
  if (!value.empty() && value.front() == ' ') {
    value.remove_prefix(1);
  }
  process_field(line.substr(0, colon), value);
}

void SseParser::process_field(std::string_view name, std::string_view value) {
  if (name == "data") {
    if (m_pending.data.size() + value.size() + 1 > m_max_line) {
      fail_with("SSE event data longer than " + std::to_string(m_max_line) + " bytes");
      return;
    }
    if (m_has_data) {
      m_pending.data += '\n';
    }
    m_pending.data.append(value);
    m_has_data = true;
  } else if (name == "event") {
    m_pending.event.assign(value);
  } else if (name == "id") {
    if (value.find('\0') == std::string_view::npos) {
      m_pending.id.assign(value);
    }
  } else if (name == "retry") {
    long ms = 0;
    const auto* end = value.data() + value.size();
    if (all_digits(value) && std::from_chars(value.data(), end, ms).ec == std::errc{}) {
      m_pending.retry_ms = ms;
    }
  } else {
    return; // unknown fields are ignored
  }
  m_saw_any_field = true;
}

void SseParser::dispatch(std::vector<SseEvent>& out) {
  if (m_has_data) {
    out.push_back(std::move(m_pending));
  }
  m_pending = {};
  m_has_data = false;
  m_saw_any_field = false;
}

std::string encode_sse(std::string_view data, std::string_view event, std::string_view id) {
  std::string out;
  out.reserve(data.size() + event.size() + id.size() + 24);
  const auto field = [&out](std::string_view name, std::string_view value) {
    out += name;
    out += ": ";
    for (char c : value) {
      if (c != '\0') {
        out += (c == '\r' || c == '\n') ? ' ' : c;
      }
    }
    out += '\n';
  };
  if (!event.empty()) {
    field("event", event);
  }
  if (!id.empty()) {
    field("id", id);
  }
  for_each_line(data, [&out](std::string_view line) {
    out += "data: ";
    out.append(line);
    out += '\n';
  });
  out += '\n';
  return out;
}

std::string encode_sse_done() {
  return "data: [DONE]\n\n";
}

std::string encode_sse_comment(std::string_view text) {
  std::string out;
  for_each_line(text, [&out](std::string_view line) {
    out += ": ";
    out.append(line);
    out += '\n';
  });
  out += '\n';
  return out;
}

} // namespace ask::core
