#include "ask/askd_client.h"

#include <doctest/doctest.h>

using ask::cli::FailureKind;
using ask::cli::parse_endpoint;

TEST_CASE("ask endpoint: host, port, https and a /v1 suffix") {
  auto plain = parse_endpoint("http://127.0.0.1:11436");
  REQUIRE(plain.has_value());
  CHECK(plain->host == "127.0.0.1");
  CHECK(plain->port == 11436);
  CHECK_FALSE(plain->tls);
  CHECK(plain->base_path.empty());
  auto v1 = parse_endpoint("http://localhost:8/v1/");
  REQUIRE(v1.has_value());
  CHECK(v1->base_path.empty());
  auto prefixed = parse_endpoint("https://gpu.example/askd/v1");
  REQUIRE(prefixed.has_value());
  CHECK(prefixed->tls);
  CHECK(prefixed->port == 443);
  CHECK(prefixed->base_path == "/askd");
  auto v6 = parse_endpoint("http://[::1]:9000");
  REQUIRE(v6.has_value());
  CHECK(v6->host == "::1");
  CHECK(v6->port == 9000);
  CHECK(parse_endpoint("http://h")->port == 80);
}

TEST_CASE("ask endpoint: malformed URLs are refused with the reason") {
  for (const char* bad : {"127.0.0.1:11436", "ftp://h:1", "http://", "http://:80", "http://h:0",
                          "http://h:65536", "http://h:12ab", "http://[::1:80", "http://[::1]x",
                          "http://u:p@h:1", "http://h:1/?q=1", "http://h:-1"}) {
    CAPTURE(bad);
    auto r = parse_endpoint(bad);
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().message.find(bad) != std::string::npos);
  }
}

TEST_CASE("ask client: askd's statuses map to failure kinds") {
  using J = nlohmann::json;
  J all_failed = {{"error", {{"code", "all_models_failed"}, {"message", "m"}}}};
  J overloaded = {{"error", {{"code", "overloaded"}}}};
  CHECK(ask::cli::classify_status(502, all_failed) == FailureKind::all_failed);
  CHECK(ask::cli::classify_status(429, overloaded) == FailureKind::all_failed);
  J unavailable = {{"error", {{"code", "unavailable"}}}};
  CHECK(ask::cli::classify_status(503, unavailable) == FailureKind::all_failed);
  CHECK(ask::cli::classify_status(404, J()) == FailureKind::rejected);
  CHECK(ask::cli::classify_status(401, J::array()) == FailureKind::rejected);
  CHECK(ask::cli::classify_status(504, J()) == FailureKind::timeout);
  CHECK(ask::cli::classify_status(500, J("x")) == FailureKind::other);
  CHECK(ask::cli::classify_status(501, {{"error", 3}}) == FailureKind::other);
  CHECK(ask::cli::exit_code_for(FailureKind::rejected) == ask::cli::ExitCode::usage);
  CHECK(static_cast<int>(ask::cli::exit_code_for(FailureKind::unreachable)) == 3);
  CHECK(static_cast<int>(ask::cli::exit_code_for(FailureKind::all_failed)) == 4);
  CHECK(static_cast<int>(ask::cli::exit_code_for(FailureKind::timeout)) == 5);
}

TEST_CASE("route_info: attempts from X-Fallback-Reasons with Server-Timing's durations") {
  ask::cli::ServedInfo s;
  s.served_by = "fast-1b";
  s.fallback_reasons = "fast-9b=not_pulled,fast-3b=connect";
  s.server_timing = R"(attempt;desc="fast-9b";dur=12.5, attempt;desc="fast-3b";dur=3.0, )"
                    R"(served;desc="fast-1b";dur=820.0, queue;dur=1.5, load;dur=750)";
  const auto r = ask::cli::route_info(s);
  REQUIRE(r.attempts.size() == 3);
  CHECK(r.attempts[0].model == "fast-9b");
  CHECK(r.attempts[0].reason == "not_pulled");
  CHECK(r.attempts[0].seconds == doctest::Approx(0.0125));
  CHECK(r.attempts[1].seconds == doctest::Approx(0.003));
  CHECK(r.attempts[2].model == "fast-1b");
  CHECK(r.attempts[2].reason.empty());
  CHECK(r.attempts[2].seconds == doctest::Approx(0.82));
  CHECK(r.queue_s == doctest::Approx(0.0015));
  CHECK(r.load_s == doctest::Approx(0.75));
  CHECK(ask::cli::reason_words("not_pulled") == "not pulled");
  CHECK(ask::cli::reason_words("status_502") == "HTTP 502");
  CHECK(ask::cli::reason_words("weird") == "weird");
}

TEST_CASE("route_info: malformed or missing headers give what can be read, never more") {
  ask::cli::ServedInfo s;
  s.served_by = "m";
  for (const char* timing :
       {"", ";;;", "attempt;desc=\"unterminated", "attempt;dur=abc", "served;dur=-5",
        "queue;dur=1e400", "load;desc", ",,,", "served;desc=\"m\";dur=1;dur=2"}) {
    CAPTURE(timing);
    s.server_timing = timing;
    s.fallback_reasons = "=x,a=,b,=,c=status_500";
    const auto r = ask::cli::route_info(s);
    REQUIRE_FALSE(r.attempts.empty());
    CHECK(r.attempts.back().model == "m");
    CHECK_FALSE(r.queue_s.has_value());
  }
}
