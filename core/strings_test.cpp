#include "core/strings.h"

#include <doctest/doctest.h>

using namespace ask::core;

TEST_CASE("iequals: folds the case of ASCII letters only") {
  CHECK(iequals("Content-Length", "content-length"));
  CHECK(iequals("CHUNKED", "chunked"));
  CHECK(iequals("", ""));
  CHECK_FALSE(iequals("close", "closed"));
  CHECK_FALSE(iequals("a", "b"));
  // '@' (0x40) and '`' (0x60), '[' and '{', '^' and '~' differ by 0x20 but are not letters;
  // a fold by `| 0x20` would call them equal.
  CHECK_FALSE(iequals("@", "`"));
  CHECK_FALSE(iequals("[", "{"));
  CHECK_FALSE(iequals("^", "~"));
  CHECK_FALSE(iequals("x@y", "x`y"));
  // Bytes above ASCII are compared as they are: no locale folds them.
  CHECK(iequals("caf\xc3\xa9", "CAF\xc3\xa9"));
  CHECK_FALSE(iequals("\xc3\xa9", "\xc3\x89"));
}

TEST_CASE("istarts_with: a case-insensitive prefix") {
  CHECK(istarts_with("Bearer abc", "bearer "));
  CHECK(istarts_with("x", ""));
  CHECK_FALSE(istarts_with("Bear", "bearer"));
  CHECK_FALSE(istarts_with("@x", "`"));
}

TEST_CASE("to_lower: lower-cases ASCII letters and leaves other bytes") {
  CHECK(to_lower("MiB @[`]{} 0-9") == "mib @[`]{} 0-9");
  CHECK(to_lower("\xc3\x89T\xc3\x89") == "\xc3\x89t\xc3\x89");
  CHECK(to_lower('Z') == 'z');
  CHECK(to_lower('@') == '@');
}

TEST_CASE("trim and trim_blanks: what each removes") {
  CHECK(trim("  \t a b \r\n") == "a b");
  CHECK(trim(" \r\n\t ").empty());
  CHECK(trim("").empty());
  CHECK(trim("\va\f") == "\va\f"); // only space, tab, CR and LF
  CHECK(trim_blanks(" \t a b \t ") == "a b");
  CHECK(trim_blanks("\r a \n") == "\r a \n");
  CHECK(trim_blanks("   ").empty());
}

TEST_CASE("contains_token: elements of a comma-separated list, any case") {
  CHECK(contains_token("keep-alive, Upgrade", "upgrade"));
  CHECK(contains_token("close", "CLOSE"));
  CHECK(contains_token(" \tgzip ,\tchunked\t", "chunked"));
  CHECK_FALSE(contains_token("closed", "close"));
  CHECK_FALSE(contains_token("keep-alive", "alive"));
  CHECK_FALSE(contains_token("", "close"));
  CHECK_FALSE(contains_token(",,", "close"));
  CHECK_FALSE(contains_token("a;close", "close")); // parameters are not split off
}

TEST_CASE(
    "split_trimmed: the elements of a header list, trimmed, empty ones dropped, at most max") {
  using V = std::vector<std::string_view>;
  CHECK(split_trimmed("a>b>c", '>') == V{"a", "b", "c"});
  CHECK(split_trimmed(" x=1 ,\ty=2, ,,z ", ',') == V{"x=1", "y=2", "z"});
  CHECK(split_trimmed("", ',').empty());
  CHECK(split_trimmed(" , ,", ',').empty());
  CHECK(split_trimmed("one", ',') == V{"one"});
  CHECK(split_trimmed("a,b,c,d", ',', 2) == V{"a", "b"});
  CHECK(split_trimmed("a,b", ',', 0).empty());
}
