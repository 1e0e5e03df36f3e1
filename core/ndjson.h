#pragma once
// Newline-delimited JSON framing (Ollama's streams): splits bytes arriving in any pieces
// into whole lines. Parsing each line is left to the caller.

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace ask::core {

class NdjsonSplitter {
public:
  explicit NdjsonSplitter(std::size_t max_line_bytes = 16 * 1024 * 1024);

  // Appends each line completed by `bytes` to `out`, without its "\n" (or "\r\n"); blank
  // lines are skipped. After a failure (a line over the limit), does nothing.
  void feed(std::string_view bytes, std::vector<std::string>& out);
  std::vector<std::string> feed(std::string_view bytes);
  // The end of input: a last line without a trailing newline is appended to `out`.
  void finish(std::vector<std::string>& out);

  bool failed() const { return m_failed; }
  const std::string& error() const { return m_error; }

private:
  std::size_t m_max_line;
  std::string m_partial;
  bool m_failed = false;
  std::string m_error;
};

} // namespace ask::core
