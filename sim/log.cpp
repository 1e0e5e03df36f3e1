#include "sim/log.h"

#include <cstdio>
#include <ctime>

namespace ask::sim {

namespace {

std::tm utc(long long unix_seconds) {
  std::time_t t = static_cast<std::time_t>(unix_seconds);
  std::tm tm{};
  ::gmtime_r(&t, &tm);
  return tm;
}

} // namespace

Log::Log(const core::Clock& clock, int verbosity)
    : Log(clock, verbosity, [](std::string_view line) {
        std::fwrite(line.data(), 1, line.size(), stderr);
        std::fflush(stderr);
      }) {}

Log::Log(const core::Clock& clock, int verbosity, Sink sink)
    : m_clock(clock), m_start(clock.now()), m_verbosity(verbosity), m_sink(std::move(sink)) {}

void Log::llama(int needed, char level, std::string_view text) {
  if (m_verbosity < needed) {
    return;
  }
  auto since = std::chrono::duration_cast<std::chrono::microseconds>(m_clock.now() - m_start);
  std::string line = llama_timestamp(since);
  line += ' ';
  line += level;
  line += ' ';
  line += text;
  write(std::move(line));
}

void Log::ollama(std::string_view level, std::string_view source, std::string_view text) {
  std::string line = "time=" + rfc3339_nano(m_clock.wall_now()) + " level=" + std::string(level) +
                     " source=" + std::string(source) + " msg=\"";
  for (char c : text) {
    if (c == '"' || c == '\\') {
      line += '\\';
    }
    line += c;
  }
  line += '"';
  write(std::move(line));
}

void Log::sim(std::string_view text) {
  write("llm-sim: " + std::string(text));
}

void Log::write(std::string line) {
  line += '\n';
  std::lock_guard lock(m_mutex);
  m_sink(line);
}

std::string llama_timestamp(std::chrono::microseconds since_start) {
  long long us = since_start.count();
  char buf[48];
  std::snprintf(buf, sizeof buf, "%lld.%02lld.%03lld.%03lld", us / 60'000'000,
                (us / 1'000'000) % 60, (us / 1000) % 1000, us % 1000);
  return buf;
}

std::string rfc3339_nano(long long unix_seconds, long long nanos) {
  std::tm tm = utc(unix_seconds);
  char buf[64];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  std::string out = buf;
  if (nanos > 0) {
    char frac[32];
    std::snprintf(frac, sizeof frac, ".%09lld", nanos);
    std::string f = frac;
    while (f.back() == '0') {
      f.pop_back();
    }
    out += f;
  }
  return out + "Z";
}

std::string rfc3339_nano(core::Clock::WallTime t) {
  auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
  long long secs = ns / 1'000'000'000;
  long long rem = ns % 1'000'000'000;
  if (rem < 0) {
    rem += 1'000'000'000;
    --secs;
  }
  return rfc3339_nano(secs, rem);
}

std::string http_date(core::Clock::WallTime t) {
  auto secs = std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
  std::tm tm = utc(secs);
  char buf[64];
  std::strftime(buf, sizeof buf, "%a, %d %b %Y %H:%M:%S GMT", &tm);
  return buf;
}

} // namespace ask::sim
