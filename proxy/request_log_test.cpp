#include "proxy/request_log.h"

#include <doctest/doctest.h>

#include <fstream>

#include "config/testing.h"

namespace ask::proxy {

namespace {

RequestRecord record_with_id(int n) {
  RequestRecord r;
  r.id = "req-" + std::to_string(n);
  r.requested = "fast";
  r.model = "fast-9b";
  r.served_by = "fast-9b";
  r.status = 200;
  return r;
}

} // namespace

TEST_CASE("RequestLog: each line goes to the file, the recent ones and the event history") {
  config::testing::TempDir dir;
  const auto file = dir.path() / "askd.jsonl";
  RequestLog log(file);
  EventLog events;
  log.publish_to(&events);
  for (int i = 1; i <= 3; ++i) {
    log.write(record_with_id(i));
  }
  const auto recent = log.recent(2);
  REQUIRE(recent.size() == 2);
  CHECK(recent[0]["id"] == "req-2"); // oldest first
  CHECK(recent[1]["id"] == "req-3");
  CHECK(log.recent(100).size() == 3);
  CHECK(log.recent(0).empty());

  const auto published = events.after(0, std::chrono::steady_clock::now());
  REQUIRE(published.events.size() == 3);
  CHECK(published.events[2].kind == "request");
  CHECK(published.events[2].data == recent[1]); // the very line the file holds

  std::ifstream in(file);
  std::string line;
  int lines = 0;
  while (std::getline(in, line)) {
    ++lines;
  }
  CHECK(lines == 3);
}

TEST_CASE("RequestLog: without a file the recent lines are still kept, at most k_recent") {
  RequestLog log(std::nullopt);
  for (int i = 0; i < static_cast<int>(RequestLog::k_recent) + 5; ++i) {
    log.write(record_with_id(i));
  }
  const auto recent = log.recent(RequestLog::k_recent + 50);
  REQUIRE(recent.size() == RequestLog::k_recent);
  CHECK(recent.front()["id"] == "req-5");
  CHECK(recent.back()["id"] == "req-" + std::to_string(RequestLog::k_recent + 4));
}

} // namespace ask::proxy
