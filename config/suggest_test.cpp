#include "config/suggest.h"

#include <doctest/doctest.h>

#include <array>

namespace ask::config {

TEST_CASE("Suggest: edit distance counts swaps of neighbours as one edit") {
  CHECK(edit_distance("", "") == 0);
  CHECK(edit_distance("abc", "") == 3);
  CHECK(edit_distance("kitten", "sitting") == 3);
  CHECK(edit_distance("keepalive", "keep_alive") == 1);
  CHECK(edit_distance("fallbakcs", "fallbacks") == 1);
  CHECK(edit_distance("ca", "abc") == 3); // optimal string alignment, not full Damerau
  CHECK(edit_distance("Fast-9B", "fast-9b") == 0);
}

TEST_CASE("Suggest: offers the closest name when it is a likely typo") {
  const std::array<std::string, 4> names{"fast-9b", "fast-3b", "think-9b", "keep_alive"};
  CHECK(closest_name("fast-2b", names) == "fast-9b"); // ties go to the first
  CHECK(closest_name("think9b", names) == "think-9b");
  CHECK(closest_name("keepalive", names) == "keep_alive");
  CHECK(closest_name("FAST-3B", names) == "fast-3b");
  CHECK_FALSE(closest_name("coder-30b", names).has_value());
  const std::array<std::string, 1> itself{"fast-9b"};
  CHECK_FALSE(closest_name("fast-9b", itself).has_value()); // the name itself is no hint
}

TEST_CASE("Suggest: short words get at most one edit") {
  const std::array<std::string_view, 3> keys{"ctx", "gpus", "url"};
  CHECK(closest_name("cts", keys) == "ctx");
  CHECK_FALSE(closest_name("abc", keys).has_value());
  CHECK(closest_name("gpu", keys) == "gpus");
  CHECK_FALSE(closest_name("x", keys).has_value());
  const std::array<std::string_view, 2> one_letter{"m", "9b"};
  CHECK_FALSE(closest_name("n", one_letter).has_value()); // every character replaced
  CHECK(closest_name("9c", one_letter) == "9b");
}

TEST_CASE("Suggest: did_you_mean and join_names build message parts") {
  const std::array<std::string, 2> names{"ollama", "openai"};
  CHECK(did_you_mean("olama", names) == " (did you mean \"ollama\"?)");
  CHECK(did_you_mean("vllm-server", names).empty());
  CHECK(join_names(names) == "ollama, openai");
  CHECK(join_names(names, " -> ") == "ollama -> openai");
  CHECK(join_names(std::span<const std::string>{}).empty());
}

} // namespace ask::config
