#include "core/clock.h"

namespace ask::core {

namespace {

// 2026-01-01T00:00:00Z.
constexpr std::chrono::sys_seconds k_fake_start{
    std::chrono::sys_days{std::chrono::year{2026} / std::chrono::January / 1}};

} // namespace

FakeClock::FakeClock() : FakeClock(WallTime{k_fake_start}) {}

FakeClock::FakeClock(WallTime start) : m_steady{}, m_wall(start) {}

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
  m_steady += std::chrono::duration_cast<SteadyTime::duration>(d);
  m_wall += std::chrono::duration_cast<WallTime::duration>(d);
}

double unix_seconds(Clock::WallTime t) {
  return std::chrono::duration<double>(t.time_since_epoch()).count();
}

} // namespace ask::core
