#include "core/clock.h"

#include <thread>

#include <doctest/doctest.h>

using namespace ask::core;
using namespace std::chrono_literals;

TEST_CASE("FakeClock: starts at 2026-01-01T00:00:00Z") {
  FakeClock clock;
  CHECK(unix_seconds(clock.wall_now()) == 1'767'225'600.0);
  const auto t0 = clock.now();
  CHECK(clock.now() == t0); // does not move by itself
}

TEST_CASE("FakeClock: accepts another start") {
  FakeClock clock(Clock::WallTime{std::chrono::seconds{1'000}});
  CHECK(unix_seconds(clock.wall_now()) == 1'000.0);
}

TEST_CASE("FakeClock: advance moves steady and wall time together") {
  FakeClock clock;
  const auto steady0 = clock.now();
  const auto wall0 = clock.wall_now();
  clock.advance(90s);
  CHECK(clock.now() - steady0 == 90s);
  CHECK(clock.wall_now() - wall0 == 90s);
  clock.advance(1500ms);
  CHECK(clock.now() - steady0 == 91'500ms);
  CHECK(unix_seconds(clock.wall_now()) == doctest::Approx(1'767'225'691.5));
}

TEST_CASE("FakeClock: never moves backward") {
  FakeClock clock;
  const auto t0 = clock.now();
  clock.advance(-5s);
  clock.advance(0s);
  CHECK(clock.now() == t0);
}

TEST_CASE("FakeClock: steady time starts well away from the SteadyTime{} sentinel") {
  FakeClock clock;
  CHECK(clock.now() != Clock::SteadyTime{});
  CHECK(clock.now().time_since_epoch() == FakeClock::k_steady_start);
  CHECK(clock.now() - Clock::SteadyTime{} >= 1000h);
}

TEST_CASE("FakeClock: a huge advance saturates instead of wrapping") {
  FakeClock clock;
  const auto t0 = clock.now();
  const auto w0 = clock.wall_now();
  clock.advance(std::chrono::nanoseconds::max());
  CHECK(clock.now() > t0);
  CHECK(clock.wall_now() > w0);
  const auto t1 = clock.now();
  const auto w1 = clock.wall_now();
  clock.advance(std::chrono::nanoseconds::max());
  clock.advance(1s);
  CHECK(clock.now() >= t1);
  CHECK(clock.wall_now() >= w1);
  CHECK(clock.now() == Clock::SteadyTime::max());
  CHECK(clock.wall_now() == Clock::WallTime::max());
}

TEST_CASE("FakeClock: advance from two threads loses no time") {
  FakeClock clock;
  const auto t0 = clock.now();
  const auto w0 = clock.wall_now();
  constexpr int k_steps = 10'000;
  const auto work = [&clock] {
    for (int i = 0; i < k_steps; ++i) {
      clock.advance(1ms);
      (void)clock.now();
    }
  };
  std::thread a(work);
  std::thread b(work);
  a.join();
  b.join();
  CHECK(clock.now() - t0 == std::chrono::milliseconds(2 * k_steps));
  CHECK(clock.wall_now() - w0 == std::chrono::milliseconds(2 * k_steps));
}

TEST_CASE("SystemClock: moves forward") {
  SystemClock clock;
  const auto a = clock.now();
  const auto b = clock.now();
  CHECK(b >= a);
  CHECK(unix_seconds(clock.wall_now()) > 1'700'000'000.0);
}

TEST_CASE("unix_seconds: keeps the fraction") {
  const Clock::WallTime t{std::chrono::milliseconds{1'777'978'067'960}};
  CHECK(unix_seconds(t) == doctest::Approx(1'777'978'067.96));
  CHECK(unix_seconds(Clock::WallTime{}) == 0.0);
}
