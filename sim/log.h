#pragma once
// llm-sim's log, written the way the simulated server writes it so tools that read real
// logs (the router's calibration, people) read ours: llama-server's
// "0.00.003.525 I srv  llama_server: ..." lines or Ollama's "time=... level=INFO ..." lines,
// plus llm-sim's own "llm-sim: ..." lines. Thread-safe; every line is flushed at once.

#include <chrono>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>

#include "core/clock.h"

namespace ask::sim {

class Log {
public:
  using Sink = std::function<void(std::string_view line)>;

  // Writes to stderr.
  Log(const core::Clock& clock, int verbosity);
  // Writes each finished line (with its '\n') to `sink`; for tests.
  Log(const core::Clock& clock, int verbosity, Sink sink);

  // A llama-server line shown when the verbosity is at least `needed` (3 = default).
  // `level` is llama.cpp's letter: 'I', 'W', 'E', 'D'.
  void llama(int needed, char level, std::string_view text);
  // An Ollama line: time=... level=LEVEL source=FILE msg="TEXT".
  void ollama(std::string_view level, std::string_view source, std::string_view text);
  // "llm-sim: TEXT", always shown.
  void sim(std::string_view text);

  int verbosity() const { return m_verbosity; }

private:
  void write(std::string line);

  const core::Clock& m_clock;
  core::Clock::SteadyTime m_start;
  int m_verbosity;
  Sink m_sink;
  std::mutex m_mutex;
};

// llama.cpp's timestamp prefix: minutes.seconds.millis.micros since start, "0.00.003.525".
std::string llama_timestamp(std::chrono::microseconds since_start);

// RFC 3339 UTC with nanoseconds, trailing zeros trimmed as Go does:
// "2026-01-01T00:00:00.5Z".
std::string rfc3339_nano(core::Clock::WallTime t);
// The same for a time given as seconds since the epoch (may be far in the future).
std::string rfc3339_nano(long long unix_seconds, long long nanos);

// RFC 7231 date for the HTTP Date header: "Thu, 01 Jan 2026 00:00:00 GMT".
std::string http_date(core::Clock::WallTime t);

} // namespace ask::sim
