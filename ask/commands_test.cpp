#include "ask/commands.h"

#include <doctest/doctest.h>

using ask::cli::parse_when;

TEST_CASE("ask stats: --since takes a duration back from now or a UTC date") {
  const double now = 1'800'000'000;
  CHECK(parse_when("7d", now) == doctest::Approx(now - 7 * 86400));
  CHECK(parse_when("36h", now) == doctest::Approx(now - 36 * 3600));
  CHECK(parse_when("90m", now) == doctest::Approx(now - 5400));
  CHECK(parse_when("2026-11-01", now) == doctest::Approx(1'793'491'200));
  CHECK(parse_when("1970-01-02", now) == doctest::Approx(86400));
  CHECK(parse_when("2026-11-01T12:30", now) == doctest::Approx(1'793'491'200 + 45000));
  CHECK(parse_when("2026-11-01T12:30:15", now) == doctest::Approx(1'793'491'200 + 45015));
}

TEST_CASE("ask stats: a bad --since says what it expected") {
  for (const char* bad :
       {"soon", "forever", "2026-13-01", "2026-11-01T25:00", "2026-11-01X", "", "7 days ago"}) {
    CAPTURE(bad);
    auto r = parse_when(bad, 1e9);
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().message.find("YYYY-MM-DD") != std::string::npos);
  }
}
