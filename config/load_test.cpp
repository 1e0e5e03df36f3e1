// Finding and reading the config file: the lookup order, missing and unreadable files, and
// paths anchored at the file's folder.

#include <doctest/doctest.h>

#include "config/defaults.h"
#include "config/testing.h"

namespace ask::config {

namespace {

using testing::TempDir;

constexpr std::string_view k_one_model = R"({
  "backends": {"o": {"kind": "ollama", "url": "http://127.0.0.1:11434"}},
  "models": {"MODEL": {"backend": "o"}}
})";

std::string config_with_model(std::string_view name) {
  std::string text(k_one_model);
  text.replace(text.find("MODEL"), 5, name);
  return text;
}

// An environment whose XDG config folder is dir/xdg.
std::map<std::string, std::string> env_in(const TempDir& dir) {
  return {{"HOME", dir.path().string()}, {"XDG_CONFIG_HOME", (dir.path() / "xdg").string()}};
}

LoadOptions options(std::map<std::string, std::string> env,
                    std::optional<std::filesystem::path> path = std::nullopt) {
  LoadOptions o;
  o.env = testing::fake_env(std::move(env));
  o.explicit_path = std::move(path);
  return o;
}

std::string only_model(const ConfigResult<LoadedConfig>& loaded) {
  REQUIRE_MESSAGE(loaded.has_value(), (loaded ? "" : testing::dump(loaded.error().diagnostics)));
  REQUIRE(loaded->config.models.size() == 1);
  return loaded->config.models[0].name;
}

} // namespace

TEST_CASE("Load: an explicit path comes first") {
  TempDir dir;
  const auto explicit_file = dir.write("explicit.jsonc", config_with_model("from-flag"));
  dir.write("env.jsonc", config_with_model("from-env"));
  dir.write("xdg/ask/config.jsonc", config_with_model("from-xdg"));
  auto env = env_in(dir);
  env["ASK_CONFIG"] = (dir.path() / "env.jsonc").string();

  const auto loaded = load_config(options(env, explicit_file));
  CHECK(only_model(loaded) == "from-flag");
  CHECK(loaded->source == explicit_file.string());
  CHECK(loaded->path == explicit_file);
  CHECK(locate_config(options(env, explicit_file)).origin == ConfigLocation::Origin::explicit_path);
}

TEST_CASE("Load: $ASK_CONFIG comes before the XDG file") {
  TempDir dir;
  dir.write("env.jsonc", config_with_model("from-env"));
  dir.write("xdg/ask/config.jsonc", config_with_model("from-xdg"));
  auto env = env_in(dir);
  env["ASK_CONFIG"] = (dir.path() / "env.jsonc").string();
  CHECK(only_model(load_config(options(env))) == "from-env");
  CHECK(locate_config(options(env)).origin == ConfigLocation::Origin::env_var);
}

TEST_CASE("Load: an empty $ASK_CONFIG is ignored") {
  TempDir dir;
  dir.write("xdg/ask/config.jsonc", config_with_model("from-xdg"));
  auto env = env_in(dir);
  env["ASK_CONFIG"] = "";
  CHECK(only_model(load_config(options(env))) == "from-xdg");
}

TEST_CASE("Load: the XDG config file comes before the built-in defaults") {
  TempDir dir;
  const auto xdg = dir.write("xdg/ask/config.jsonc", config_with_model("from-xdg"));
  const auto loaded = load_config(options(env_in(dir)));
  CHECK(only_model(loaded) == "from-xdg");
  CHECK(loaded->source == xdg.string());
}

TEST_CASE("Load: without any file, the built-in defaults") {
  TempDir dir;
  const auto loaded = load_config(options(env_in(dir)));
  REQUIRE(loaded.has_value());
  CHECK(loaded->source == k_builtin_source);
  CHECK_FALSE(loaded->path.has_value());
  CHECK(loaded->config.find_model("fast-9b") != nullptr);
  CHECK(locate_config(options(env_in(dir))).origin == ConfigLocation::Origin::builtin);
}

TEST_CASE("Load: XDG_CONFIG_HOME unset means ~/.config") {
  TempDir dir;
  dir.write(".config/ask/config.jsonc", config_with_model("from-home"));
  CHECK(only_model(load_config(options({{"HOME", dir.path().string()}}))) == "from-home");
}

TEST_CASE("Load: an explicit file that does not exist is an error") {
  TempDir dir;
  const auto missing = dir.path() / "missing.jsonc";
  const auto loaded = load_config(options(env_in(dir), missing));
  REQUIRE_FALSE(loaded.has_value());
  CHECK(loaded.error().kind == core::ErrorKind::not_found);
  CHECK(loaded.error().to_error().message == missing.string() + ": no such file");
}

TEST_CASE("Load: a file named by $ASK_CONFIG that does not exist is an error naming it") {
  TempDir dir;
  dir.write("xdg/ask/config.jsonc", config_with_model("from-xdg"));
  auto env = env_in(dir);
  env["ASK_CONFIG"] = (dir.path() / "nope.jsonc").string();
  const auto loaded = load_config(options(env));
  REQUIRE_FALSE(loaded.has_value());
  CHECK(loaded.error().kind == core::ErrorKind::not_found);
  CHECK(loaded.error().to_error().message.find("named by $ASK_CONFIG") != std::string::npos);
}

TEST_CASE("Load: a folder or an oversized file is refused") {
  TempDir dir;
  std::filesystem::create_directories(dir.path() / "folder.jsonc");
  const auto folder = load_config(options(env_in(dir), dir.path() / "folder.jsonc"));
  REQUIRE_FALSE(folder.has_value());
  CHECK(folder.error().to_error().message.find("is a directory") != std::string::npos);

  const auto big = dir.write("big.jsonc", std::string(5u << 20, ' '));
  const auto oversized = load_config(options(env_in(dir), big));
  REQUIRE_FALSE(oversized.has_value());
  CHECK(oversized.error().to_error().message.find("at most 4194304 bytes") != std::string::npos);
}

TEST_CASE("Load: errors in a file name the file and the line") {
  TempDir dir;
  const auto file = dir.write("bad.jsonc", "{\n  \"models\": {\"m\": {\"backend\": \"x\"}}\n}\n");
  const auto loaded = load_config(options(env_in(dir), file));
  REQUIRE_FALSE(loaded.has_value());
  CHECK(loaded.error().kind == core::ErrorKind::bad_request);
  const core::Error e = loaded.error().to_error();
  CHECK(e.kind == core::ErrorKind::bad_request);
  CHECK(e.message == file.string() + ":2: models.m.backend: unknown backend \"x\"");
}

TEST_CASE("Load: relative paths are anchored at the config file's folder") {
  TempDir dir;
  const auto file = dir.write("conf/config.jsonc", R"({
    "backends": {"l": {"kind": "llama-server"}},
    "presets": {"p": {"binary": "bin/llama-server", "backend": "cpu"},
                "q": {"binary": "llama-server", "backend": "cpu"}},
    "models": {"m": {"backend": "l", "preset": "p", "gguf": "models/m.gguf",
                     "draft": "~/d.gguf"}},
    "cache": {"path": "cache.sqlite"}
  })");
  const auto loaded = load_config(options(env_in(dir), file));
  REQUIRE(loaded.has_value());
  const Config& c = loaded->config;
  const auto conf = dir.path() / "conf";
  CHECK(c.find_model("m")->managed->gguf == conf / "models/m.gguf");
  CHECK(c.find_model("m")->managed->draft == dir.path() / "d.gguf");
  CHECK(c.find_preset("p")->binary == conf / "bin/llama-server");
  CHECK(c.find_preset("q")->binary == "llama-server"); // a bare name: looked up on PATH
  CHECK(c.cache.path == conf / "cache.sqlite");
}

TEST_CASE("Load: warnings come back with a valid config") {
  TempDir dir;
  const auto file = dir.write("w.jsonc", R"({
    "backends": {"o": {"kind": "openai", "url": "http://h:1", "api_key_env": "NOT_SET"}}
  })");
  const auto loaded = load_config(options(env_in(dir), file));
  REQUIRE(loaded.has_value());
  REQUIRE(loaded->warnings.size() == 1);
  CHECK(loaded->warnings[0].severity == Severity::warning);
  CHECK(loaded->warnings[0].to_string() ==
        file.string() + ":2: backends.o.api_key_env: environment variable NOT_SET is not set; "
                        "requests to backend \"o\" go without an API key until askd is "
                        "started with it");
}

} // namespace ask::config
