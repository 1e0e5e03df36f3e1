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

TEST_CASE("RequestLog: each line goes to the file and, the same, to the event history") {
  config::testing::TempDir dir;
  const auto file = dir.path() / "askd.jsonl";
  RequestLog log(file);
  EventLog events;
  log.publish_to(&events);
  for (int i = 1; i <= 3; ++i) {
    log.write(record_with_id(i));
  }
  const auto published = events.after(0, std::chrono::steady_clock::now());
  REQUIRE(published.events.size() == 3);
  CHECK(published.events[2].kind == "request");
  CHECK(published.events[2].data["id"] == "req-3");

  std::ifstream in(file);
  std::string line;
  std::vector<std::string> lines;
  while (std::getline(in, line)) {
    lines.push_back(line);
  }
  REQUIRE(lines.size() == 3);
  CHECK(nlohmann::json::parse(lines[2]) == published.events[2].data); // the very line
}

TEST_CASE("RequestLog: without a file the lines are still published") {
  RequestLog log(std::nullopt);
  EventLog events;
  log.write(record_with_id(0)); // not published yet: nowhere to go
  log.publish_to(&events);
  log.write(record_with_id(1));
  const auto published = events.after(0, std::chrono::steady_clock::now());
  REQUIRE(published.events.size() == 1);
  CHECK(published.events[0].data["id"] == "req-1");
}

} // namespace ask::proxy
