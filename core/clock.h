#pragma once
// Clock: where time comes from. SystemClock reads the OS; FakeClock (tests, trace-replay
// benchmarks) moves only when advance() is called. Code that waits, expires or measures
// takes a Clock& so tests never sleep.

#include <chrono>
#include <mutex>

namespace ask::core {

class Clock {
public:
  using SteadyTime = std::chrono::steady_clock::time_point;
  using WallTime = std::chrono::system_clock::time_point;

  virtual ~Clock() = default;
  // Monotonic time for deadlines, idle times and latencies.
  virtual SteadyTime now() const = 0;
  // Wall-clock time for timestamps shown to people (created, expires_at, telemetry ts).
  virtual WallTime wall_now() const = 0;
};

class SystemClock final : public Clock {
public:
  SteadyTime now() const override { return std::chrono::steady_clock::now(); }
  WallTime wall_now() const override { return std::chrono::system_clock::now(); }
};

// Starts at a fixed wall time (2026-01-01T00:00:00Z) unless told otherwise, and at a steady
// time of 1000 hours (k_steady_start), so no time it returns equals SteadyTime{}, which code
// uses as an "unset" sentinel; thread-safe.
class FakeClock final : public Clock {
public:
  static constexpr std::chrono::hours k_steady_start{1000};

  FakeClock();
  explicit FakeClock(WallTime start);

  SteadyTime now() const override;
  WallTime wall_now() const override;
  // Moves both clocks forward by `d`. A zero or negative `d` is ignored (the clocks never go
  // backward); a step past the largest representable time stops there instead of wrapping.
  void advance(std::chrono::nanoseconds d);

private:
  mutable std::mutex m_mutex;
  SteadyTime m_steady;
  WallTime m_wall;
};

// Seconds since the Unix epoch with a fractional part, for JSON timestamps.
double unix_seconds(Clock::WallTime t);

} // namespace ask::core
