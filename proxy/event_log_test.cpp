#include "proxy/event_log.h"

#include <doctest/doctest.h>

#include <thread>

namespace ask::proxy {

namespace {

using namespace std::chrono_literals;

std::chrono::steady_clock::time_point event_deadline(std::chrono::milliseconds d) {
  return std::chrono::steady_clock::now() + d;
}

} // namespace

TEST_CASE("EventLog: numbered in order - a reader that lagged past the history is told") {
  EventLog log(3);
  CHECK(log.last() == 0);
  CHECK(log.publish("load", {{"model", "a"}}) == 1);
  CHECK(log.publish("ready", {{"model", "a"}}) == 2);
  auto got = log.after(0, event_deadline(0ms));
  CHECK(got.resumed);
  REQUIRE(got.events.size() == 2);
  CHECK(got.events[0].kind == "load");
  CHECK(got.events[1].seq == 2);
  CHECK(got.events[1].data["model"] == "a");

  for (int i = 0; i < 3; ++i) {
    log.publish("request", {{"n", i}});
  }
  CHECK(log.last() == 5);
  auto lagged = log.after(1, event_deadline(0ms)); // 2 was dropped: 3, 4, 5 are kept
  CHECK_FALSE(lagged.resumed);
  CHECK(lagged.events.size() == 3);
  auto fine = log.after(2, event_deadline(0ms));
  CHECK(fine.resumed);
  CHECK(fine.events.front().seq == 3);
  CHECK(log.after(5, event_deadline(0ms)).events.empty()); // none came in time

  log.set_capacity(1);
  CHECK(log.after(3, event_deadline(0ms)).events.size() == 1);
  CHECK_FALSE(log.after(3, event_deadline(0ms)).resumed);
}

TEST_CASE("EventLog: the newest events of one kind, oldest first") {
  EventLog log(5);
  for (int i = 0; i < 4; ++i) {
    log.publish("request", {{"n", i}});
    log.publish("load", {{"n", i}});
  }
  // Held: request 2, load 2, request 3, load 3 and one more load.
  log.publish("load", {{"n", 4}});
  const auto two = log.newest("request", 10);
  REQUIRE(two.size() == 2);
  CHECK(two[0].data["n"] == 2);
  CHECK(two[1].data["n"] == 3);
  const auto one = log.newest("request", 1);
  REQUIRE(one.size() == 1);
  CHECK(one[0].data["n"] == 3);
  CHECK(log.newest("alias", 10).empty());
  CHECK(log.newest("load", 0).empty());
}

TEST_CASE("EventLog: a waiting reader wakes for an event published on another thread") {
  EventLog log;
  std::thread publisher([&] { log.publish("alias", {{"name", "x"}}); });
  // Generous: the wait ends as soon as the event is in, not at the deadline.
  auto got = log.after(0, event_deadline(10s));
  publisher.join();
  REQUIRE(got.events.size() == 1);
  CHECK(got.events[0].kind == "alias");
}

} // namespace ask::proxy
