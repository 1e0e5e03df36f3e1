#pragma once
// What the tests of the history (history_test.cpp) and of `ask logs` (logs_test.cpp) share: a
// history in a temporary folder on a FakeClock, and an exchange appended in one line.

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <doctest/doctest.h>

#include "ask/history.h"
#include "core/clock.h"
#include "tests/support/temp_dir.h"

namespace ask::history::testing {

namespace fs = std::filesystem;
namespace hist = ask::history;

struct HistoryHarness {
  ask::testing::TempDir dir{"history_test"};
  ask::core::FakeClock clock;
  std::vector<std::string> warnings;

  fs::path db_path() const { return dir.path() / "history.sqlite"; }

  hist::History::Options options(int busy_timeout_ms = 3000) {
    hist::History::Options o;
    o.path = db_path();
    o.busy_timeout_ms = busy_timeout_ms;
    o.warn = [this](const std::string& line) { warnings.push_back(line); };
    return o;
  }

  std::unique_ptr<hist::History> open(int busy_timeout_ms = 3000) {
    auto h = hist::History::open(options(busy_timeout_ms), clock);
    REQUIRE_MESSAGE(h.has_value(), h.error().message);
    return std::move(*h);
  }
};

inline hist::Exchange history_exchange(std::string cid, std::string prompt, std::string answer) {
  hist::Exchange e;
  e.cid = std::move(cid);
  e.model = "fast-9b";
  e.served_by = "fast-9b";
  e.prompt = std::move(prompt);
  e.answer = std::move(answer);
  return e;
}

inline std::int64_t history_append_ok(hist::History& h, hist::Exchange e) {
  auto id = h.append(std::move(e));
  REQUIRE_MESSAGE(id.has_value(), id.error().message);
  return *id;
}

} // namespace ask::history::testing
