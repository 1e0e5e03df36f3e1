#include "sim/embedding.h"

#include <cmath>

#include <doctest/doctest.h>

namespace ask::sim {

namespace {

double dot(const std::vector<float>& a, const std::vector<float>& b) {
  double s = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    s += static_cast<double>(a[i]) * b[i];
  }
  return s;
}

} // namespace

TEST_CASE("embed_text: deterministic, unit length, different texts differ") {
  auto a = embed_text("the giant panda", 64);
  REQUIRE(a.size() == 64);
  CHECK(a == embed_text("the giant panda", 64));
  CHECK(std::abs(dot(a, a) - 1.0) < 1e-5);
  auto b = embed_text("a quiet harbor at dawn", 64);
  CHECK(a != b);
  // Shared words pull vectors together.
  auto c = embed_text("the giant panda eats bamboo", 64);
  CHECK(dot(a, c) > dot(a, b));
  CHECK(embed_text("x", 0).empty());
  auto e = embed_text("", 8);
  CHECK(e.size() == 8);
}

TEST_CASE("relevance: word overlap ranks the relevant document first") {
  const double good = relevance("What is a panda?", "The giant panda is a bear.");
  const double bad = relevance("What is a panda?", "hi");
  CHECK(good > bad);
  CHECK(good <= 1.0);
  CHECK(bad >= 0.0);
  CHECK(relevance("q", "d") == relevance("q", "d"));
}

TEST_CASE("base64_floats: little-endian float32") {
  CHECK(base64_floats({1.0F}) == "AACAPw==");
  CHECK(base64_floats({}).empty());
  CHECK(base64_floats({0.0F, 0.0F}) == "AAAAAAAAAAA=");
}

TEST_CASE("words_of: lower-cased alphanumeric words") {
  CHECK(words_of("Hello, World! 42x") == std::vector<std::string>{"hello", "world", "42x"});
  CHECK(words_of("  ").empty());
}

} // namespace ask::sim
