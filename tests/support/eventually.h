#pragma once
// eventually(): polls a condition about something a test cannot drive with a FakeClock (a
// real process, another thread, a socket) until it holds or a deadline passes.

#include <chrono>
#include <thread>

namespace ask::testing {

// True once `cond()` holds; false when `timeout` passed first. Looks every `every`.
template <class F>
bool eventually(F cond, std::chrono::milliseconds timeout,
                std::chrono::milliseconds every = std::chrono::milliseconds(5)) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!cond()) {
    if (std::chrono::steady_clock::now() >= deadline) {
      return false;
    }
    std::this_thread::sleep_for(every);
  }
  return true;
}

} // namespace ask::testing
