#include "config/bytes.h"

#include <doctest/doctest.h>

namespace ask::config {

namespace {

std::uint64_t bytes_ok(std::string_view text) {
  auto b = parse_bytes(text);
  if (!b) {
    FAIL("unexpected error: " << b.error().message);
  }
  return *b;
}

std::string bytes_err(std::string_view text) {
  auto b = parse_bytes(text);
  if (b) {
    FAIL("expected an error for \"" << text << "\", got " << *b);
  }
  CHECK(b.error().kind == core::ErrorKind::bad_request);
  return b.error().message;
}

constexpr std::uint64_t k_gib = 1ull << 30;

} // namespace

TEST_CASE("Bytes: reads binary and decimal units") {
  CHECK(bytes_ok("0") == 0);
  CHECK(bytes_ok("4096") == 4096);
  CHECK(bytes_ok("100B") == 100);
  CHECK(bytes_ok("1KiB") == 1024);
  CHECK(bytes_ok("1KB") == 1000);
  CHECK(bytes_ok("512MiB") == 512ull << 20);
  CHECK(bytes_ok("32GiB") == 32 * k_gib);
  CHECK(bytes_ok("24GB") == 24'000'000'000ull);
  CHECK(bytes_ok("2TiB") == 2ull << 40);
  CHECK(bytes_ok("1TB") == 1'000'000'000'000ull);
  CHECK(bytes_ok("1PiB") == 1ull << 50);
  CHECK(bytes_ok("1PB") == 1'000'000'000'000'000ull);
}

TEST_CASE("Bytes: units are case-insensitive and may follow a space") {
  CHECK(bytes_ok("1.5 GiB") == k_gib + k_gib / 2);
  CHECK(bytes_ok("1.5gib") == k_gib + k_gib / 2);
  CHECK(bytes_ok("24 gb") == 24'000'000'000ull);
  CHECK(bytes_ok("8   MiB") == 8ull << 20);
}

TEST_CASE("Bytes: fractions are exact and round down to whole bytes") {
  CHECK(bytes_ok(".5KiB") == 512);
  CHECK(bytes_ok("0.37 PB") == 370'000'000'000'000ull);
  CHECK(bytes_ok("0.1KiB") == 102); // 102.4
  CHECK(bytes_ok("1.999999999 B") == 1);
}

TEST_CASE("Bytes: reads JSON integers as bytes") {
  CHECK(parse_bytes(Json(1024)).value() == 1024);
  CHECK(parse_bytes(Json(UINT64_MAX)).value() == UINT64_MAX);
  CHECK(parse_bytes(Json("2GiB")).value() == 2 * k_gib);
  CHECK(parse_bytes(Json(-1)).error().message.find("cannot be negative") != std::string::npos);
  CHECK(parse_bytes(Json(1.5)).error().message.find("must be whole") != std::string::npos);
  CHECK(parse_bytes(Json(true)).error().message.find("got boolean") != std::string::npos);
  CHECK(parse_bytes(Json::array()).error().message.find("got array") != std::string::npos);
}

TEST_CASE("Bytes: rejects malformed sizes with a message that quotes them") {
  CHECK(bytes_err("").find("invalid size \"\": empty") != std::string::npos);
  CHECK(bytes_err("GiB").find("expected a number") != std::string::npos);
  CHECK(bytes_err("24G").find("\"G\" is ambiguous (write GiB") != std::string::npos);
  CHECK(bytes_err("24k").find("ambiguous") != std::string::npos);
  CHECK(bytes_err("24 GiBs").find("unknown unit \"GiBs\"") != std::string::npos);
  CHECK(bytes_err("-1GiB").find("expected a number") != std::string::npos);
  CHECK(bytes_err("1.GiB").find("digit after '.'") != std::string::npos);
  CHECK(bytes_err("1.0000000001 GiB").find("9 decimal places") != std::string::npos);
  CHECK(bytes_err("20000 PiB").find("too large") != std::string::npos);
  CHECK(bytes_err("99999999999999999999").find("too large") != std::string::npos);
  CHECK(bytes_err(" 1GiB").find("expected a number") != std::string::npos);
  CHECK(bytes_err("1e9").find("unknown unit \"e9\"") != std::string::npos);
}

TEST_CASE("Bytes: formats with the shortest exact unit") {
  CHECK(format_bytes(0) == "0 B");
  CHECK(format_bytes(100) == "100 B");
  CHECK(format_bytes(1024) == "1 KiB");
  CHECK(format_bytes(1000) == "1 KB");
  CHECK(format_bytes(32 * k_gib) == "32 GiB");
  CHECK(format_bytes(24'000'000'000ull) == "24 GB");
  CHECK(format_bytes(k_gib + k_gib / 2) == "1.5 GiB");
  CHECK(format_bytes(k_gib + k_gib / 4) == "1.25 GiB");
  CHECK(format_bytes(512ull << 20) == "512 MiB");
  CHECK(format_bytes(1023) == "1023 B");
}

TEST_CASE("Bytes: format_bytes reads back to the same value") {
  for (std::uint64_t v : {0ull, 1ull, 999ull, 1000ull, 1023ull, 1025ull, 1536ull, 123456789ull,
                          25769803776ull, 24000000000ull, 1610612736ull, 1ull << 50,
                          (1ull << 50) + 1, 18446744073709551615ull, 5ull * 1000 * 1000 + 1}) {
    CAPTURE(v);
    CHECK(parse_bytes(std::string_view(format_bytes(v))).value() == v);
  }
}

} // namespace ask::config
