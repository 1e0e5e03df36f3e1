#pragma once
// Scheduler's text helpers for durations, shared by scheduler.cpp and scheduler_time.cpp:
// seconds as a double, and the short form of a duration in log lines and error messages.
// Internal to the scheduler's files.

#include <chrono>
#include <cstdio>
#include <string>

namespace ask::router::scheduler_detail {

inline double seconds_of(std::chrono::nanoseconds d) {
  return std::chrono::duration<double>(d).count();
}

// "0.8 s", "42 s", "3.5 min", "2.0 h": a duration for log lines and error messages.
inline std::string span_text(std::chrono::nanoseconds d) {
  const double s = seconds_of(d);
  char buf[32];
  if (s < 10) {
    std::snprintf(buf, sizeof buf, "%.1f s", s);
  } else if (s < 120) {
    std::snprintf(buf, sizeof buf, "%.0f s", s);
  } else if (s < 7200) {
    std::snprintf(buf, sizeof buf, "%.1f min", s / 60);
  } else {
    std::snprintf(buf, sizeof buf, "%.1f h", s / 3600);
  }
  return buf;
}

} // namespace ask::router::scheduler_detail
