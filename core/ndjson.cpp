#include "core/ndjson.h"

#include <algorithm>

namespace ask::core {

namespace {

bool is_blank(std::string_view line) {
  return std::all_of(line.begin(), line.end(), [](char c) {
    return c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v';
  });
}

// Drops the "\r" of a "\r\n" line end and skips blank lines.
void emit(std::string_view line, std::vector<std::string>& out) {
  if (!line.empty() && line.back() == '\r') {
    line.remove_suffix(1);
  }
  if (!is_blank(line)) {
    out.emplace_back(line);
  }
}

} // namespace

NdjsonSplitter::NdjsonSplitter(std::size_t max_line_bytes) : m_max_line(max_line_bytes) {}

void NdjsonSplitter::feed(std::string_view bytes, std::vector<std::string>& out) {
  std::size_t pos = 0;
  while (!m_failed && pos < bytes.size()) {
    const auto eol = bytes.find('\n', pos);
    const auto piece =
        bytes.substr(pos, eol == std::string_view::npos ? bytes.size() - pos : eol - pos);
    // The limit counts the line without its "\n" or "\r\n".
    const std::size_t total = m_partial.size() + piece.size();
    const char last = piece.empty() ? (m_partial.empty() ? '\0' : m_partial.back()) : piece.back();
    if ((last == '\r' ? total - 1 : total) > m_max_line) {
      m_failed = true;
      m_error = "NDJSON line longer than " + std::to_string(m_max_line) + " bytes";
      m_partial.clear();
      return;
    }
    if (eol == std::string_view::npos) {
      m_partial.append(piece);
      return;
    }
    pos = eol + 1;
    if (m_partial.empty()) {
      emit(piece, out);
    } else {
      m_partial.append(piece);
      emit(m_partial, out);
      m_partial.clear();
    }
  }
}

std::vector<std::string> NdjsonSplitter::feed(std::string_view bytes) {
  std::vector<std::string> out;
  feed(bytes, out);
  return out;
}

void NdjsonSplitter::finish(std::vector<std::string>& out) {
  if (m_failed) {
    return;
  }
  emit(m_partial, out);
  m_partial.clear();
}

} // namespace ask::core
