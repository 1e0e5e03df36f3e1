#include "core/error.h"

#include <doctest/doctest.h>

using namespace ask::core;

TEST_CASE("Error: kinds have stable lower-case names") {
  CHECK(to_string(ErrorKind::connect) == "connect");
  CHECK(to_string(ErrorKind::timeout) == "timeout");
  CHECK(to_string(ErrorKind::upstream_status) == "upstream_status");
  CHECK(to_string(ErrorKind::overloaded) == "overloaded");
  CHECK(to_string(ErrorKind::bad_request) == "bad_request");
  CHECK(to_string(ErrorKind::not_found) == "not_found");
  CHECK(to_string(ErrorKind::internal) == "internal");
  CHECK(to_string(ErrorKind::cancelled) == "cancelled");
}

TEST_CASE("Error: maps each kind to the HTTP status askd answers with") {
  CHECK(Error::bad_request("x").status_for_client() == 400);
  CHECK(Error::not_found("x").status_for_client() == 404);
  CHECK(Error::overloaded("x").status_for_client() == 429);
  CHECK(Error::timeout("x").status_for_client() == 504);
  CHECK(Error::connect("x").status_for_client() == 502);
  CHECK(Error::internal("x").status_for_client() == 500);
  CHECK(Error::cancelled("client gone").status_for_client() == 499);
}

TEST_CASE("Error: an upstream 4xx passes through, 5xx and malformed replies are 502") {
  CHECK(Error::upstream(400, "x").status_for_client() == 400);
  CHECK(Error::upstream(401, "x").status_for_client() == 401);
  CHECK(Error::upstream(404, "x").status_for_client() == 404);
  CHECK(Error::upstream(413, "x").status_for_client() == 413);
  CHECK(Error::upstream(429, "x").status_for_client() == 429);
  CHECK(Error::upstream(499, "x").status_for_client() == 499);
  CHECK(Error::upstream(500, "x").status_for_client() == 502);
  CHECK(Error::upstream(503, "x").status_for_client() == 502);
  CHECK(Error::upstream(0, "x").status_for_client() == 502);
  CHECK(Error::upstream(302, "x").status_for_client() == 502);
  CHECK(Error::upstream(-1, "x").status_for_client() == 502);
  CHECK(Error::malformed_reply("x").status_for_client() == 502);

  CHECK(Error::upstream(400, "x").openai_type() == "invalid_request_error");
  CHECK(Error::upstream(422, "x").openai_type() == "invalid_request_error");
  CHECK(Error::upstream(404, "x").openai_type() == "not_found_error");
  CHECK(Error::upstream(429, "x").openai_type() == "rate_limit_error");
  CHECK(Error::upstream(503, "x").openai_type() == "server_error");
  CHECK(Error::upstream(0, "x").openai_type() == "server_error");
}

TEST_CASE("Error: malformed_reply is upstream_status with HTTP 502") {
  const auto e = Error::malformed_reply("garbled");
  CHECK(e.kind == ErrorKind::upstream_status);
  CHECK(e.http_status == 502);
  CHECK(e.message == "garbled");
}

TEST_CASE("Error: maps each kind to OpenAI's error type") {
  CHECK(Error::bad_request("x").openai_type() == "invalid_request_error");
  CHECK(Error::not_found("x").openai_type() == "not_found_error");
  CHECK(Error::overloaded("x").openai_type() == "rate_limit_error");
  CHECK(Error::timeout("x").openai_type() == "timeout_error");
  CHECK(Error::connect("x").openai_type() == "server_error");
  CHECK(Error::upstream(500, "x").openai_type() == "server_error");
  CHECK(Error::internal("x").openai_type() == "server_error");
  CHECK(Error::cancelled("x").openai_type() == "server_error");
}

TEST_CASE("Error: factories set kind, message and upstream status") {
  const auto e = Error::upstream(503, "Loading model");
  CHECK(e.kind == ErrorKind::upstream_status);
  CHECK(e.http_status == 503);
  CHECK(e.message == "Loading model");
  CHECK(Error::connect("refused").http_status == 0);
  CHECK(Error{}.kind == ErrorKind::internal);
}

TEST_CASE("Error: describe() gives kind and message, with the upstream status") {
  CHECK(Error::connect("connection refused").describe() == "connect: connection refused");
  CHECK(Error::upstream(503, "Loading model").describe() ==
        "upstream_status (HTTP 503): Loading model");
  CHECK(Error::upstream(0, "garbled reply").describe() == "upstream_status: garbled reply");
}

TEST_CASE("Error: Result carries a value or an error") {
  const auto half = [](int n) -> Result<int> {
    if (n % 2 != 0) {
      return fail(Error::bad_request("odd"));
    }
    return n / 2;
  };
  REQUIRE(half(4).has_value());
  CHECK(*half(4) == 2);
  REQUIRE_FALSE(half(3).has_value());
  CHECK(half(3).error().kind == ErrorKind::bad_request);
  CHECK(half(3).error().message == "odd");
}
