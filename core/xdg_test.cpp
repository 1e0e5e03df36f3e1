#include "core/xdg.h"

#include <map>

#include <doctest/doctest.h>

using namespace ask::core;
namespace fs = std::filesystem;

namespace {

// An environment made of a table; names not in it are unset.
EnvLookup fake_env(std::map<std::string, std::string> vars) {
  return [vars = std::move(vars)](const std::string& name) -> std::optional<std::string> {
    const auto it = vars.find(name);
    if (it == vars.end()) {
      return std::nullopt;
    }
    return it->second;
  };
}

} // namespace

TEST_CASE("XdgDirs: defaults under HOME when the variables are unset") {
  const auto dirs = XdgDirs::from_env(fake_env({{"HOME", "/home/ada"}}));
  CHECK(dirs.config_home == fs::path("/home/ada/.config"));
  CHECK(dirs.data_home == fs::path("/home/ada/.local/share"));
  CHECK(dirs.cache_home == fs::path("/home/ada/.cache"));
  CHECK(dirs.state_home == fs::path("/home/ada/.local/state"));
  CHECK(dirs.ask_config() == fs::path("/home/ada/.config/ask"));
  CHECK(dirs.ask_data() == fs::path("/home/ada/.local/share/ask"));
  CHECK(dirs.ask_cache() == fs::path("/home/ada/.cache/ask"));
  CHECK(dirs.ask_state() == fs::path("/home/ada/.local/state/ask"));
}

TEST_CASE("XdgDirs: absolute overrides are honoured") {
  const auto dirs = XdgDirs::from_env(fake_env({{"HOME", "/home/ada"},
                                                {"XDG_CONFIG_HOME", "/etc/xdg-ada"},
                                                {"XDG_DATA_HOME", "/data"},
                                                {"XDG_CACHE_HOME", "/var/cache/ada"},
                                                {"XDG_STATE_HOME", "/state"}}));
  CHECK(dirs.config_home == fs::path("/etc/xdg-ada"));
  CHECK(dirs.data_home == fs::path("/data"));
  CHECK(dirs.cache_home == fs::path("/var/cache/ada"));
  CHECK(dirs.state_home == fs::path("/state"));
  CHECK(dirs.ask_cache() == fs::path("/var/cache/ada/ask"));
}

TEST_CASE("XdgDirs: empty and relative overrides are ignored") {
  const auto dirs = XdgDirs::from_env(fake_env({{"HOME", "/home/ada"},
                                                {"XDG_CONFIG_HOME", ""},
                                                {"XDG_DATA_HOME", "relative/data"},
                                                {"XDG_CACHE_HOME", "./cache"},
                                                {"XDG_STATE_HOME", "~/state"}}));
  CHECK(dirs.config_home == fs::path("/home/ada/.config"));
  CHECK(dirs.data_home == fs::path("/home/ada/.local/share"));
  CHECK(dirs.cache_home == fs::path("/home/ada/.cache"));
  CHECK(dirs.state_home == fs::path("/home/ada/.local/state"));
}

TEST_CASE("XdgDirs: without a usable HOME falls back to an absolute home") {
  for (const auto& env :
       {fake_env({}), fake_env({{"HOME", ""}}), fake_env({{"HOME", "relative"}})}) {
    const auto dirs = XdgDirs::from_env(env);
    CHECK(dirs.config_home.is_absolute());
    CHECK(dirs.config_home.filename() == ".config");
    CHECK(dirs.config_home.parent_path() != fs::path("relative"));
  }
  // The overrides still work without HOME.
  const auto dirs = XdgDirs::from_env(fake_env({{"XDG_CACHE_HOME", "/c"}}));
  CHECK(dirs.cache_home == fs::path("/c"));
}

TEST_CASE("XdgDirs: the process environment is read") {
  const auto env = process_env();
  CHECK_FALSE(env("ASK_SURELY_UNSET_VARIABLE_FOR_TESTS").has_value());
  const auto path = env("PATH");
  CHECK((!path || !path->empty()));
}

TEST_CASE("expand_home: expands a leading ~ only") {
  const auto env = fake_env({{"HOME", "/home/ada"}});
  CHECK(expand_home("~", env) == fs::path("/home/ada"));
  CHECK(expand_home("~/", env) == fs::path("/home/ada/"));
  CHECK(expand_home("~/models/x.gguf", env) == fs::path("/home/ada/models/x.gguf"));
  CHECK(expand_home("~//etc/passwd", env) == fs::path("/home/ada/etc/passwd"));
  CHECK(expand_home("/abs/~/x", env) == fs::path("/abs/~/x"));
  CHECK(expand_home("rel/x", env) == fs::path("rel/x"));
  CHECK(expand_home("~bob/x", env) == fs::path("~bob/x"));
  CHECK(expand_home("", env) == fs::path(""));
}

TEST_CASE("expand_home: without HOME uses the fallback home") {
  const auto p = expand_home("~/x", fake_env({}));
  CHECK(p.is_absolute());
  CHECK(p.filename() == "x");
}
