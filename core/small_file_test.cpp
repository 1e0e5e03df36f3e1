#include "core/small_file.h"

#include <doctest/doctest.h>

#include "tests/support/temp_dir.h"

namespace {

using ask::core::ReadProblem;

} // namespace

TEST_CASE("small files: written whole, read back within their cap, and why not otherwise") {
  ask::testing::TempDir dir;
  const auto file = dir.path() / "deeper" / "state.json";
  REQUIRE_FALSE(ask::core::write_atomically(file, "{\"a\": 1}\n").has_value()); // folder made
  auto text = ask::core::read_small_file(file, 100);
  REQUIRE(text.has_value());
  CHECK(*text == "{\"a\": 1}\n");
  CHECK(ask::core::read_small_file(file, 9).has_value()); // exactly the cap
  auto large = ask::core::read_small_file(file, 8);
  REQUIRE_FALSE(large.has_value());
  CHECK(large.error().kind == ReadProblem::Kind::too_large);
  CHECK(large.error().size == 9);
  CHECK(ask::core::read_small_file(dir.path() / "none", 100).error().kind ==
        ReadProblem::Kind::missing);
  CHECK(ask::core::read_small_file(dir.path() / "deeper", 100).error().kind ==
        ReadProblem::Kind::directory);
  // A file where the folder should be: the write says why, naming the folder.
  const auto blocked = ask::core::write_atomically(file / "x", "y");
  REQUIRE(blocked.has_value());
  CHECK(blocked->find(file.string()) != std::string::npos);
}
