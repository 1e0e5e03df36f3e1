#include "core/excerpt.h"

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

using ask::core::detail::is_valid_utf8;
using ask::core::detail::printable_excerpt;
using ask::core::detail::utf8_sequence_length;

namespace {

// What nlohmann::json thinks: dump() throws type_error.316 on invalid UTF-8.
bool dumps(const std::string& s) {
  try {
    (void)nlohmann::json(s).dump();
    return true;
  } catch (const nlohmann::json::type_error&) {
    return false;
  }
}

} // namespace

TEST_CASE("printable_excerpt: keeps printable ASCII and valid UTF-8 as they are") {
  CHECK(printable_excerpt("hello", 64) == "hello");
  CHECK(printable_excerpt("", 64).empty());
  CHECK(printable_excerpt("caf\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x98\x80", 64) ==
        "caf\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x98\x80");
  CHECK(printable_excerpt("a\"b\\c", 64) == "a\"b\\c");
  CHECK(printable_excerpt("a\"b\\c", 64, true) == "a\\\"b\\\\c");
}

TEST_CASE("printable_excerpt: escapes control bytes and bytes that are not UTF-8") {
  CHECK(printable_excerpt(std::string("a\x01\n\x7f", 4), 64) == "a\\x01\\x0a\\x7f");
  CHECK(printable_excerpt(std::string("\0", 1), 64) == "\\x00");
  CHECK(printable_excerpt("\xff\xfe", 64) == "\\xff\\xfe");
  CHECK(printable_excerpt("\xc0\xaf", 64) == "\\xc0\\xaf");                   // overlong '/'
  CHECK(printable_excerpt("\xed\xa0\x80", 64) == "\\xed\\xa0\\x80");          // a surrogate
  CHECK(printable_excerpt("\xf4\x90\x80\x80", 64) == "\\xf4\\x90\\x80\\x80"); // > U+10FFFF
  CHECK(printable_excerpt("\xe6\x97", 64) == "\\xe6\\x97");                   // cut short
  CHECK(printable_excerpt("\x80x", 64) == "\\x80x");                          // stray continuation
}

TEST_CASE("printable_excerpt: cuts at a code-point boundary, never inside one") {
  const std::string text = std::string(63, 'a') + "\xc3\xa9" + "tail";
  const auto cut = printable_excerpt(text, 64);
  CHECK(cut == std::string(63, 'a') + "...");
  CHECK(printable_excerpt(text, 65) == std::string(63, 'a') + "\xc3\xa9...");
  CHECK(printable_excerpt("abc", 3) == "abc");
  CHECK(printable_excerpt("abcd", 3) == "abc...");
  CHECK(printable_excerpt("abc", 0) == "...");
}

TEST_CASE("printable_excerpt: whatever goes in, valid UTF-8 comes out") {
  std::string all;
  for (int i = 0; i < 256; ++i) {
    all += static_cast<char>(i);
    all += static_cast<char>(255 - i);
  }
  for (std::size_t max : {0UL, 1UL, 7UL, 64UL, 511UL, 4096UL}) {
    for (std::size_t start = 0; start < 8; ++start) {
      const auto out = printable_excerpt(std::string_view(all).substr(start), max);
      INFO(max, " ", start);
      CHECK(is_valid_utf8(out));
      CHECK(dumps(out));
    }
  }
}

TEST_CASE("utf8: sequence lengths and validity agree with nlohmann") {
  CHECK(utf8_sequence_length("a", 0) == 1);
  CHECK(utf8_sequence_length("\xc3\xa9", 0) == 2);
  CHECK(utf8_sequence_length("\xe0\xa0\x80", 0) == 3);
  CHECK(utf8_sequence_length("\xe0\x9f\xbf", 0) == 0); // overlong
  CHECK(utf8_sequence_length("\xf0\x90\x80\x80", 0) == 4);
  CHECK(utf8_sequence_length("\xf0\x8f\xbf\xbf", 0) == 0); // overlong
  CHECK(utf8_sequence_length("abc", 3) == 0);
  for (const std::string s : {"ok", "\xc3\xa9", "\xef\xbf\xbd", "\xc3", "\xc3\x28", "\xed\xbf\xbf",
                              "\xee\x80\x80", "\xf4\x8f\xbf\xbf", "\xf5\x80\x80\x80"}) {
    INFO(s);
    CHECK(is_valid_utf8(s) == dumps(s));
  }
}
