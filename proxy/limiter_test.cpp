#include "proxy/limiter.h"

#include <doctest/doctest.h>

#include <atomic>
#include <thread>
#include <vector>

namespace ask::proxy {

namespace {

using namespace std::chrono_literals;

Limiter::Time in(std::chrono::milliseconds d) {
  return std::chrono::steady_clock::now() + d;
}

const std::function<bool()> k_never = [] { return false; };

} // namespace

TEST_CASE("Limiter: unlimited never waits") {
  Limiter l("model", "m", 0, 0);
  std::vector<Permit> held;
  for (int i = 0; i < 100; ++i) {
    auto p = l.acquire(in(0ms), k_never);
    REQUIRE(p);
    held.push_back(std::move(*p));
  }
  CHECK(!l.limited());
}

TEST_CASE("Limiter: a full queue is refused at once with overloaded") {
  Limiter l("backend", "gpu0", 1, 0);
  auto first = l.acquire(in(1s), k_never);
  REQUIRE(first);
  CHECK(l.in_use() == 1);
  auto second = l.acquire(in(1s), k_never);
  REQUIRE(!second);
  CHECK(second.error().kind == core::ErrorKind::overloaded);
  CHECK(second.error().message.find("backend gpu0: queue full") == 0);
}

TEST_CASE("Limiter: a released permit lets the next waiter in") {
  Limiter l("model", "m", 1, 4);
  auto first = l.acquire(in(5s), k_never);
  REQUIRE(first);
  std::atomic<bool> got{false};
  std::thread waiter([&] {
    auto p = l.acquire(in(5s), k_never);
    got = p.has_value();
  });
  while (l.waiting() == 0) {
    std::this_thread::yield();
  }
  CHECK(!got);
  *first = Permit(); // release
  waiter.join();
  CHECK(got);
  CHECK(l.in_use() == 0);
  CHECK(l.waiting() == 0);
}

TEST_CASE("Limiter: waiters are served in arrival order") {
  Limiter l("model", "m", 1, 8);
  auto holder = l.acquire(in(5s), k_never);
  REQUIRE(holder);
  std::mutex mutex;
  std::vector<int> order;
  std::vector<std::thread> threads;
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&, i] {
      auto p = l.acquire(in(5s), k_never);
      REQUIRE(p);
      std::lock_guard lock(mutex);
      order.push_back(i);
    });
    while (l.waiting() != i + 1) { // the next thread arrives only after this one queued
      std::this_thread::yield();
    }
  }
  *holder = Permit();
  for (auto& t : threads) {
    t.join();
  }
  CHECK(order == std::vector<int>{0, 1, 2, 3});
}

TEST_CASE("Limiter: a waiter gives up at its deadline or when cancelled, and the queue moves on") {
  Limiter l("model", "m", 1, 4);
  auto holder = l.acquire(in(5s), k_never);
  REQUIRE(holder);
  auto late = l.acquire(in(50ms), k_never);
  REQUIRE(!late);
  CHECK(late.error().kind == core::ErrorKind::timeout);
  auto cancelled = l.acquire(in(5s), [] { return true; });
  REQUIRE(!cancelled);
  CHECK(cancelled.error().kind == core::ErrorKind::cancelled);
  CHECK(l.waiting() == 0);
  *holder = Permit();
  // The tickets of those who left are skipped: a new arrival is not stuck behind them.
  auto next = l.acquire(in(1s), k_never);
  CHECK(next);
}

} // namespace ask::proxy
