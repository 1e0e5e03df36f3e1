#include "proxy/aliases.h"

#include <doctest/doctest.h>

#include <fstream>

#include "config/testing.h"

namespace ask::proxy {

namespace {

constexpr std::string_view k_alias_config = R"({
  "backends": {"alpha": {"kind": "openai", "url": "http://127.0.0.1:9"}},
  "models": {
    "big": {"backend": "alpha"},
    "small": {"backend": "alpha"}
  },
  "councils": {"panel": {"members": [{"model": "big"}, {"model": "small"}], "chairman": "big"}},
  "aliases": {"fast": "small"}
})";

config::Config alias_config() {
  auto loaded = config::testing::parse(k_alias_config);
  REQUIRE_MESSAGE(loaded.has_value(),
                  (loaded ? std::string() : config::testing::dump(loaded.error().diagnostics)));
  return std::move(loaded->config);
}

std::string read_text(const std::filesystem::path& path) {
  std::ifstream in(path);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

const AliasEntry* entry_named(const std::vector<AliasEntry>& list, std::string_view name) {
  for (const AliasEntry& e : list) {
    if (e.name == name) {
      return &e;
    }
  }
  return nullptr;
}

} // namespace

TEST_CASE("AliasStore: a runtime alias routes at once, re-points a configured one, and goes") {
  const config::Config config = alias_config();
  AliasStore store(config, {});
  CHECK(store.resolve("fast")->name == "small");

  auto set = store.set("quick", "big");
  REQUIRE(set.has_value());
  CHECK(set->runtime);
  CHECK(store.resolve("quick")->name == "big");

  // A configured alias is re-pointed; the file's target is remembered and comes back.
  auto over = store.set("fast", "panel");
  REQUIRE(over.has_value());
  CHECK(over->config_model == "small");
  auto resolved = store.resolve("fast");
  REQUIRE(resolved.has_value());
  CHECK(resolved->council != nullptr);
  const auto list = store.list();
  REQUIRE(entry_named(list, "fast") != nullptr);
  CHECK(entry_named(list, "fast")->model == "panel");
  CHECK(entry_named(list, "fast")->config_model == "small");
  CHECK(entry_named(list, "quick")->runtime);

  auto removed = store.remove("fast");
  REQUIRE(removed.has_value());
  CHECK(*removed == "small");
  CHECK(store.resolve("fast")->name == "small");
  CHECK(store.remove("quick").has_value());
  CHECK_FALSE(store.resolve("quick").has_value());
}

TEST_CASE("AliasStore: what a change may not do") {
  const config::Config config = alias_config();
  AliasStore store(config, {});
  SUBCASE("shadow a model or a council") {
    for (const char* name : {"big", "panel"}) {
      auto r = store.set(name, "small");
      REQUIRE_FALSE(r.has_value());
      CHECK(r.error().status == 409);
      CHECK(r.error().message.find("cannot shadow") != std::string::npos);
    }
    CHECK(store.resolve("big")->name == "big");
  }
  SUBCASE("name an unknown model, or nothing") {
    auto r = store.set("quick", "bgi");
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().status == 404);
    CHECK(r.error().message.find("big") != std::string::npos); // the suggestion
    CHECK(store.set("quick", "").error().status == 400);
  }
  SUBCASE("point at another runtime alias (it could loop): only configured names") {
    REQUIRE(store.set("one", "big").has_value());
    CHECK(store.set("two", "one").error().status == 404);
  }
  SUBCASE("a configured alias is followed to its model") {
    auto r = store.set("quick", "fast");
    REQUIRE(r.has_value());
    CHECK(r->model == "small");
  }
  SUBCASE("bad names") {
    const std::vector<std::string> bad_names = {
        "",   "has space", "a/b", "new\nline", std::string(129, 'x'), std::string("nul\0x", 5),
        "ünï"};
    for (const std::string& bad : bad_names) {
      auto r = store.set(bad, "big");
      REQUIRE_FALSE(r.has_value());
      CHECK(r.error().status == 400);
    }
  }
  SUBCASE("delete what is not a runtime alias") {
    CHECK(store.remove("nothing").error().status == 404);
    auto config_alias = store.remove("fast");
    REQUIRE_FALSE(config_alias.has_value());
    CHECK(config_alias.error().status == 409);
    CHECK(store.resolve("fast")->name == "small");
  }
}

TEST_CASE("AliasStore: runtime aliases are kept in the state file and read back") {
  const config::Config config = alias_config();
  config::testing::TempDir dir;
  const auto file = dir.path() / "state" / "aliases.json";
  {
    AliasStore store(config, file);
    CHECK(store.problems().empty()); // no file yet: nothing to say
    REQUIRE(store.set("quick", "big").has_value());
    REQUIRE(store.set("fast", "big").has_value());
  }
  const std::string text = read_text(file);
  CHECK(text.find("\"quick\": \"big\"") != std::string::npos);
  {
    AliasStore store(config, file);
    CHECK(store.problems().empty());
    CHECK(store.resolve("quick")->name == "big");
    CHECK(store.resolve("fast")->name == "big");
    REQUIRE(store.remove("quick").has_value());
  }
  AliasStore again(config, file);
  CHECK_FALSE(again.resolve("quick").has_value());
  CHECK(again.resolve("fast")->name == "big");
}

TEST_CASE("AliasStore: a state file that does not hold is reported, and what holds is kept") {
  config::testing::TempDir dir;
  SUBCASE("entries against a changed config") {
    // Written by an askd whose config had other models: "tiny" is gone, "big" is now a model.
    const auto file = dir.write("aliases.json", R"({"version": 1, "aliases": {
      "quick": "big", "old": "tiny", "big": "small", "num": 7, "bad name": "big"}})");
    const config::Config config = alias_config();
    AliasStore store(config, file);
    CHECK(store.resolve("quick")->name == "big");
    CHECK_FALSE(store.resolve("old").has_value());
    CHECK(store.resolve("big")->name == "big"); // the model, not the stale alias
    REQUIRE(store.problems().size() == 4);
    const std::string all =
        store.problems()[0] + store.problems()[1] + store.problems()[2] + store.problems()[3];
    CHECK(all.find("\"old\" → \"tiny\" skipped: unknown model") != std::string::npos);
    CHECK(all.find("cannot shadow") != std::string::npos);
    CHECK(all.find("\"num\" is not a model name") != std::string::npos);
    CHECK(all.find("invalid alias name") != std::string::npos);
  }
  SUBCASE("a file that is not what askd writes") {
    const config::Config config = alias_config();
    for (const std::string& text : std::vector<std::string>{
             std::string("{\"aliases\": "), std::string("[1, 2]"), std::string("{\"aliases\": []}"),
             std::string("\xff\xfe{"), std::string(), std::string("{\"version\": 1}")}) {
      const auto file = dir.write("aliases.json", text);
      AliasStore store(config, file);
      REQUIRE(store.problems().size() == 1);
      CHECK(store.problems()[0].find(file.string()) != std::string::npos);
      CHECK(store.problems()[0].find("ignored") != std::string::npos);
      CHECK(store.resolve("fast")->name == "small");
    }
  }
  SUBCASE("a file too large to be one") {
    const config::Config config = alias_config();
    const auto file = dir.write("aliases.json", std::string((1 << 20) + 1, ' '));
    AliasStore store(config, file);
    REQUIRE(store.problems().size() == 1);
    CHECK(store.problems()[0].find("larger than 1 MiB") != std::string::npos);
  }
}

TEST_CASE("AliasStore: a state file that cannot be written leaves the alias in effect") {
  const config::Config config = alias_config();
  config::testing::TempDir dir;
  const auto blocker = dir.write("not-a-folder", "x"); // a file where the folder should be
  AliasStore store(config, blocker / "aliases.json");
  REQUIRE(store.set("quick", "big").has_value());
  CHECK(store.resolve("quick")->name == "big");
}

} // namespace ask::proxy
