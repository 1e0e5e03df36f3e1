#include "config/diagnostics.h"

#include <algorithm>
#include <cstdint>
#include <iterator>

#include <fmt/format.h>

namespace ask::config {

std::string Diagnostic::to_string() const {
  std::string out = source;
  if (line > 0) {
    out += fmt::format(":{}", line);
    if (column > 0) {
      out += fmt::format(":{}", column);
    }
  }
  if (!path.empty()) {
    out += out.empty() ? path : ": " + path;
  }
  out += out.empty() ? message : ": " + message;
  return out;
}

void Diagnostics::error(std::string path, int line, std::string message) {
  m_items.push_back({Severity::error, m_source, line, 0, std::move(path), std::move(message)});
}

void Diagnostics::warning(std::string path, int line, std::string message) {
  m_items.push_back({Severity::warning, m_source, line, 0, std::move(path), std::move(message)});
}

bool Diagnostics::has_errors() const {
  return std::ranges::any_of(m_items,
                             [](const Diagnostic& d) { return d.severity == Severity::error; });
}

std::vector<Diagnostic> Diagnostics::errors() const {
  std::vector<Diagnostic> out;
  std::ranges::copy_if(m_items, std::back_inserter(out),
                       [](const Diagnostic& d) { return d.severity == Severity::error; });
  return out;
}

std::vector<Diagnostic> Diagnostics::warnings() const {
  std::vector<Diagnostic> out;
  std::ranges::copy_if(m_items, std::back_inserter(out),
                       [](const Diagnostic& d) { return d.severity == Severity::warning; });
  return out;
}

void Diagnostics::sort_by_line() {
  std::ranges::stable_sort(m_items, [](const Diagnostic& a, const Diagnostic& b) {
    const int la = a.line == 0 ? INT32_MAX : a.line;
    const int lb = b.line == 0 ? INT32_MAX : b.line;
    return la < lb;
  });
}

std::vector<Diagnostic> ConfigError::errors() const {
  std::vector<Diagnostic> out;
  std::ranges::copy_if(diagnostics, std::back_inserter(out),
                       [](const Diagnostic& d) { return d.severity == Severity::error; });
  return out;
}

core::Error ConfigError::to_error() const {
  std::string message;
  for (const Diagnostic& d : errors()) {
    if (!message.empty()) {
      message += '\n';
    }
    message += d.to_string();
  }
  if (message.empty()) {
    message = "invalid configuration";
  }
  return core::Error{kind, std::move(message), 0};
}

} // namespace ask::config
