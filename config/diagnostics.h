#pragma once
// What config validation found: errors (the config is refused) and warnings (it loads, but
// something is probably not what was meant), each naming the file, line and key path, e.g.
//   config.jsonc:14: models.fast-9b.fallbacks[1]: unknown model "fast-2b" (did you mean "fast-3b"?)

#include <string>
#include <string_view>
#include <vector>

#include "core/error.h"

namespace ask::config {

enum class Severity { error, warning };

struct Diagnostic {
  Severity severity = Severity::error;
  std::string source; // file path, or "built-in defaults"
  int line = 0;       // 0 when unknown
  int column = 0;     // set for syntax errors only; 0 when unknown
  std::string path;   // key path such as "models.fast-9b.keep_alive"; "" for the whole file
  std::string message;

  // "source:line: path: message" ("source:line:column: message" for syntax errors), leaving
  // out what is unknown.
  std::string to_string() const;
};

// Every diagnostic of one load, errors and warnings together.
class Diagnostics {
public:
  explicit Diagnostics(std::string source = {}) : m_source(std::move(source)) {}

  void error(std::string path, int line, std::string message);
  void warning(std::string path, int line, std::string message);
  void add(Diagnostic d) { m_items.push_back(std::move(d)); }

  bool has_errors() const;
  const std::vector<Diagnostic>& all() const { return m_items; }
  std::vector<Diagnostic> errors() const;
  std::vector<Diagnostic> warnings() const;
  const std::string& source() const { return m_source; }
  // Orders by line (unknown lines last), keeping the order of discovery within a line.
  void sort_by_line();

private:
  std::string m_source;
  std::vector<Diagnostic> m_items;
};

// Why a config could not be loaded: the file could not be read (kind not_found or internal)
// or it is invalid (kind bad_request, with every diagnostic, warnings included).
struct ConfigError {
  core::ErrorKind kind = core::ErrorKind::bad_request;
  std::vector<Diagnostic> diagnostics;

  std::vector<Diagnostic> errors() const;
  // One core::Error whose message holds every error, one per line.
  core::Error to_error() const;
};

} // namespace ask::config
