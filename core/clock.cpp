#include "core/clock.h"

namespace ask::core {

namespace {

// 2026-01-01T00:00:00Z.
constexpr std::chrono::sys_seconds k_fake_start{
    std::chrono::sys_days{std::chrono::year{2026} / std::chrono::January / 1}};

// `t` moved forward by `d` (> 0), stopping at the largest time instead of overflowing.
template <class TimePoint> TimePoint saturating_add(TimePoint t, std::chrono::nanoseconds d) {
  using Dur = typename TimePoint::duration;
  const auto step = std::chrono::duration_cast<Dur>(d);
  const Dur since = t.time_since_epoch(); // a negative one cannot overflow when added to
  if (since > Dur::zero() && step > Dur::max() - since) {
    return TimePoint::max();
  }
  return t + step;
}

} // namespace

FakeClock::FakeClock() : FakeClock(WallTime{k_fake_start}) {}

FakeClock::FakeClock(WallTime start) : m_steady{k_steady_start}, m_wall(start) {}

Clock::SteadyTime FakeClock::now() const {
  std::lock_guard lock(m_mutex);
  return m_steady;
}

Clock::WallTime FakeClock::wall_now() const {
  std::lock_guard lock(m_mutex);
  return m_wall;
}

void FakeClock::advance(std::chrono::nanoseconds d) {
  if (d <= std::chrono::nanoseconds::zero()) {
    return; // never backward
  }
  std::lock_guard lock(m_mutex);
  m_steady = saturating_add(m_steady, d);
  m_wall = saturating_add(m_wall, d);
}

double unix_seconds(Clock::WallTime t) {
  return std::chrono::duration<double>(t.time_since_epoch()).count();
}

} // namespace ask::core
