#include "core/duration.h"

#include <cmath>
#include <limits>

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include "core/openai.h"

using namespace ask::core;
using namespace std::chrono_literals;
using nlohmann::json;

namespace {

Duration ok(std::string_view text) {
  auto d = parse_duration(text);
  INFO("input: ", text);
  REQUIRE_MESSAGE(d.has_value(), (d ? "" : d.error().message));
  return *d;
}

std::string rejected(std::string_view text) {
  auto d = parse_duration(text);
  INFO("input: ", text);
  REQUIRE_FALSE(d.has_value());
  CHECK(d.error().kind == ErrorKind::bad_request);
  return d.error().message;
}

long long ms(std::string_view text) {
  return ok(text).value().count();
}

} // namespace

TEST_CASE("Duration: parses units as users write them") {
  CHECK(ms("15m") == 15 * 60'000);
  CHECK(ms("30s") == 30'000);
  CHECK(ms("1h30m") == 90 * 60'000);
  CHECK(ms("500ms") == 500);
  CHECK(ms("2.5s") == 2'500);
  CHECK(ms("1d") == 86'400'000);
  CHECK(ms("1d12h") == 36 * 3'600'000);
  CHECK(ms("1.5h") == 90 * 60'000);
  CHECK(ms("0.5m") == 30'000);
}

TEST_CASE("Duration: parses Go-style and Ollama keep_alive forms") {
  CHECK(ms("1h0m5s") == 3'605'000);
  CHECK(ms("5m") == 300'000);
  CHECK(ms("24h") == 86'400'000);
  CHECK(ms("1h1m1s1ms") == 3'661'001);
  CHECK(ok("-1").is_forever());
  CHECK(ok("-5m").is_forever());
  CHECK(ok("+5m") == Duration::seconds(300));
}

TEST_CASE("Duration: bare numbers are seconds, fractions allowed") {
  CHECK(ok("90") == Duration::seconds(90));
  CHECK(ms("1.5") == 1'500);
  CHECK(ms("0.25") == 250);
  CHECK(ms("3600") == 3'600'000);
}

TEST_CASE("Duration: zero means at once") {
  for (auto text : {"0", "0s", "0ms", "0h0m", "0.0", "-0", "-0s", "+0"}) {
    INFO(text);
    CHECK(ok(text).is_zero());
    CHECK_FALSE(ok(text).is_forever());
  }
}

TEST_CASE("Duration: negative values and keywords mean forever") {
  for (auto text : {"-1", "-1s", "-0.5", "-24h", "forever", "never", "infinite", "infinity", "inf",
                    "Forever", "NEVER"}) {
    INFO(text);
    CHECK(ok(text).is_forever());
  }
}

TEST_CASE("Duration: sub-millisecond fractions round to the nearest millisecond") {
  CHECK(ms("1.0004s") == 1'000);
  CHECK(ms("1.0006s") == 1'001);
  CHECK(ms("0.1ms") == 1); // non-zero never becomes "at once"
  CHECK(ms("0.0001") == 1);
  CHECK(ms("1.123456789123s") == 1'123);
}

TEST_CASE("Duration: rejects malformed text with a message quoting the input") {
  CHECK(rejected("").find("empty") != std::string::npos);
  CHECK(rejected("5 minutes").find("\"5 minutes\"") != std::string::npos);
  CHECK(rejected("5 minutes").find("unknown unit \" minutes\"") != std::string::npos);
  CHECK(rejected("5x").find("unknown unit \"x\"") != std::string::npos);
  CHECK(rejected("5M").find("unknown unit") != std::string::npos);
  CHECK(rejected("5us").find("unknown unit") != std::string::npos);
  CHECK(rejected("1h30").find("missing unit after \"30\"") != std::string::npos);
  CHECK(rejected("1.5.5s").find("\"1.5.5s\"") != std::string::npos);
  CHECK(rejected("1m1h").find("larger units first") != std::string::npos);
  CHECK(rejected("1s1s").find("repeated") != std::string::npos);
  CHECK(rejected("500ms1s").find("larger units first") != std::string::npos);
  CHECK(rejected(" 5m").find("whitespace") != std::string::npos);
  CHECK(rejected("5m\n").find("whitespace") != std::string::npos);
  CHECK(rejected("\t").find("whitespace") != std::string::npos);
}

TEST_CASE("Duration: rejects other malformed forms") {
  for (auto text : {"-", "+", "m", "h5", ".5s", "5.s", "1e3", "0x10", "1,5s", "--1", "+-1", "five",
                    "forever!", "5m ", "1h 30m", "NaN", "s5"}) {
    INFO(text);
    rejected(text);
  }
}

TEST_CASE("Duration: rejects durations that overflow") {
  CHECK(rejected("99999999999999999999999s").find("out of range") != std::string::npos);
  CHECK(rejected("9223372036854775807ms").find("out of range") != std::string::npos);
  CHECK(rejected("36501d").find("out of range") != std::string::npos);
  CHECK(rejected("36500d1ms").find("out of range") != std::string::npos);
  CHECK(ms("36500d") == 36'500LL * 86'400'000LL);
  CHECK(rejected("-99999999999999999999999s").find("out of range") != std::string::npos);
}

TEST_CASE("Duration: escapes control bytes and truncates long input in messages") {
  const auto msg = rejected(std::string("5\x01m"));
  CHECK(msg.find("\\x01") != std::string::npos);
  const auto long_msg = rejected(std::string(500, 'z'));
  CHECK(long_msg.find("...") != std::string::npos);
  CHECK(long_msg.size() < 400);
}

TEST_CASE("Duration: accepts JSON numbers and strings") {
  CHECK(*parse_duration(json(300)) == Duration::seconds(300));
  CHECK(*parse_duration(json(0)) == Duration::zero());
  CHECK(parse_duration(json(-1))->is_forever());
  CHECK(parse_duration(json(-0.5))->is_forever());
  CHECK(parse_duration(json(2.5))->value() == 2'500ms);
  CHECK(parse_duration(json(0.0))->is_zero());
  CHECK(parse_duration(json(-0.0))->is_zero());
  CHECK(*parse_duration(json(300u)) == Duration::seconds(300));
  CHECK(*parse_duration(json("15m")) == Duration::seconds(900));
  CHECK(parse_duration(json("forever"))->is_forever());
}

TEST_CASE("Duration: rejects JSON values that are not durations") {
  for (const auto& v : {json(true), json(nullptr), json::array({1}), json::object(), json(1e300),
                        json(std::numeric_limits<std::uint64_t>::max()), json(std::nan("")),
                        json(std::numeric_limits<double>::infinity()), json("5 minutes"),
                        json(9'999'999'999'999LL)}) {
    INFO(v.dump());
    auto d = parse_duration(v);
    REQUIRE_FALSE(d.has_value());
    CHECK(d.error().kind == ErrorKind::bad_request);
  }
  CHECK(parse_duration(json(true)).error().message.find("boolean") != std::string::npos);
  // Invalid UTF-8 inside a rejected value must not make the message itself throw.
  CHECK_FALSE(parse_duration(json::array({std::string("\xff\xfe")})).has_value());
  CHECK(parse_duration(json(nullptr)).error().message.find("null") != std::string::npos);
}

TEST_CASE("Duration: to_string is canonical") {
  CHECK(Duration::forever().to_string() == "forever");
  CHECK(Duration::zero().to_string() == "0s");
  CHECK(Duration::from(500ms).to_string() == "500ms");
  CHECK(Duration::seconds(900).to_string() == "15m");
  CHECK(Duration::seconds(5400).to_string() == "1h30m");
  CHECK(Duration::seconds(3605).to_string() == "1h0m5s");
  CHECK(Duration::seconds(86400).to_string() == "24h");
  CHECK(Duration::from(1500ms).to_string() == "1s500ms");
  CHECK(Duration::from(3'600'500ms).to_string() == "1h0m0s500ms");
  CHECK(ok("2.5s").to_string() == "2s500ms");
  CHECK(ok("1d").to_string() == "24h");
}

TEST_CASE("Duration: to_string round-trips through parse") {
  for (auto text : {"15m", "30s", "1h30m", "500ms", "2.5s", "1d", "90", "0", "-1", "forever",
                    "1h0m5s", "36500d", "1.0006s", "0.1ms", "123456789ms"}) {
    INFO(text);
    const Duration d = ok(text);
    CHECK(ok(d.to_string()) == d);
  }
  for (long long n : {1LL, 999LL, 1000LL, 59'999LL, 60'000LL, 3'599'999LL, 3'600'000LL,
                      86'400'001LL, 1'234'567'890LL}) {
    const Duration d = Duration::from(Duration::Millis{n});
    INFO(d.to_string());
    CHECK(ok(d.to_string()) == d);
  }
}

TEST_CASE("Duration: to_ollama_seconds") {
  CHECK(Duration::forever().to_ollama_seconds() == -1.0);
  CHECK(Duration::zero().to_ollama_seconds() == 0.0);
  CHECK(Duration::seconds(300).to_ollama_seconds() == 300.0);
  CHECK(Duration::from(2500ms).to_ollama_seconds() == 2.5);
}

TEST_CASE("Duration: messages stay valid UTF-8 when the input is cut or is not UTF-8") {
  const auto dumps_ok = [](const std::string& msg) {
    INFO(msg);
    CHECK_NOTHROW((void)to_json(error_body_for(Error::bad_request(msg))).dump());
  };
  // 63 ASCII bytes then a two-byte 'é': a cut at byte 64 would split it.
  const std::string split = std::string(63, '9') + "\xc3\xa9" + "m";
  const auto cut = rejected(split);
  CHECK(cut.find(std::string(63, '9') + "...\"") != std::string::npos);
  dumps_ok(cut);
  const auto invalid = rejected("5\xff\xfem");
  CHECK(invalid.find("\\xff\\xfe") != std::string::npos);
  dumps_ok(invalid);
  dumps_ok(rejected("\xe6\x97\xa5"));
  dumps_ok(rejected("5\xe6\x97\xa5"));
}

TEST_CASE("Duration: finite() is nullopt for forever, value() is 0 for it") {
  CHECK(Duration::forever().finite() == std::nullopt);
  CHECK(Duration::forever().value() == 0ms);
  CHECK(Duration::seconds(90).finite() == 90'000ms);
  CHECK(Duration::zero().finite() == 0ms);
  CHECK(ok("forever").finite() == std::nullopt);
  CHECK(ok("1h30m").finite() == 5'400'000ms);
}

TEST_CASE("Duration: from() and seconds() with a negative value mean forever, as parse does") {
  CHECK(Duration::from(-1ms).is_forever());
  CHECK(Duration::from(-1ms) == Duration::forever());
  CHECK(Duration::seconds(-5).is_forever());
  CHECK(Duration::from(0ms).is_zero());
  CHECK(Duration::from(1500ms).value() == 1500ms);
  static_assert(Duration::from(Duration::Millis{-1}).is_forever());
}
