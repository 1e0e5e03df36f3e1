// askd's command line: in process through run_askd, and as the real binary.

#include "proxy/cli.h"

#include <doctest/doctest.h>

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>

#include <fstream>
#include <sstream>
#include <vector>

#include "config/testing.h"

namespace ask::proxy {

namespace {

using config::testing::TempDir;

struct Outcome {
  int status = -1;
  std::string out;
  std::string err;
};

Outcome run(std::vector<std::string> args, const core::EnvLookup& env) {
  args.insert(args.begin(), "askd");
  std::vector<const char*> argv;
  for (const std::string& a : args) {
    argv.push_back(a.c_str());
  }
  std::ostringstream out;
  std::ostringstream err;
  Outcome o;
  o.status = run_askd(static_cast<int>(argv.size()), argv.data(), out, err, env);
  o.out = out.str();
  o.err = err.str();
  return o;
}

// An environment with HOME and the XDG folders inside `dir`, so no real config is found.
core::EnvLookup env_in(const TempDir& dir) {
  return config::testing::fake_env({{"HOME", dir.path().string()}});
}

constexpr std::string_view k_good = R"({
  // a comment
  "backends": {"o": {"kind": "openai", "url": "http://127.0.0.1:8080",
                     "api_key_env": "UNSET_VAR_FOR_TEST"}},
  "models": {"m": {"backend": "o"}},
})";

constexpr std::string_view k_bad = "{\n"
                                   "  \"backends\": {\"o\": {\"kind\": \"ollama\", \"url\": "
                                   "\"http://127.0.0.1:11434\"}},\n"
                                   "  \"models\": {\n"
                                   "    \"m\": {\"backend\": \"o\", \"fallbacks\": [\"n\"]},\n"
                                   "    \"x\": {\"backend\": \"olama\"}\n"
                                   "  }\n"
                                   "}\n";

bool has_text(const std::string& s, std::string_view needle) {
  return s.find(needle) != std::string::npos;
}

} // namespace

TEST_CASE("askd: --check-config FILE prints OK, the resolved config and warnings") {
  TempDir dir;
  const auto file = dir.write("good.jsonc", k_good);
  const Outcome o = run({"--check-config", file.string()}, env_in(dir));
  CHECK(o.status == k_exit_ok);
  REQUIRE(o.out.starts_with("config OK: " + file.string() + "\n"));
  const auto json = nlohmann::json::parse(o.out.substr(o.out.find('\n') + 1));
  CHECK(json["models"]["m"]["backend"] == "o");
  CHECK(o.err == "warning: " + file.string() +
                     ":4: backends.o.api_key_env: environment variable UNSET_VAR_FOR_TEST is "
                     "not set; requests to backend \"o\" go without an API key until askd is "
                     "started with it\n");
}

TEST_CASE("askd: --check-config prints every error with file, line and path, exit 2") {
  TempDir dir;
  const auto file = dir.write("bad.jsonc", k_bad);
  const Outcome o = run({"--check-config", file.string()}, env_in(dir));
  CHECK(o.status == k_exit_usage);
  CHECK(o.out.empty());
  CHECK(o.err == "error: " + file.string() + ":4: models.m.fallbacks[0]: unknown model \"n\"\n" +
                     "error: " + file.string() +
                     ":5: models.x.backend: unknown backend \"olama\"\n");
}

TEST_CASE("askd: --check-config without FILE checks the config askd would use") {
  TempDir dir;
  SUBCASE("the built-in defaults") {
    const Outcome o = run({"--check-config"}, env_in(dir));
    CHECK(o.status == k_exit_ok);
    CHECK(o.out.starts_with("config OK: built-in defaults\n"));
  }
  SUBCASE("the XDG file") {
    const auto file = dir.write(".config/ask/config.jsonc", k_bad);
    const Outcome o = run({"--check-config"}, env_in(dir));
    CHECK(o.status == k_exit_usage);
    CHECK(has_text(o.err, "error: " + file.string() + ":5: models.x.backend"));
  }
  SUBCASE("the --config file") {
    const auto file = dir.write("c.jsonc", k_good);
    const Outcome o = run({"--check-config", "--config", file.string()}, env_in(dir));
    CHECK(o.status == k_exit_ok);
    CHECK(o.out.starts_with("config OK: " + file.string()));
  }
  SUBCASE("the = form") {
    const auto file = dir.write("c.jsonc", k_good);
    const Outcome o = run({"--check-config=" + file.string()}, env_in(dir));
    CHECK(o.status == k_exit_ok);
  }
}

TEST_CASE("askd: a missing config file is an error naming it") {
  TempDir dir;
  const auto missing = (dir.path() / "missing.jsonc").string();
  const Outcome o = run({"--check-config", missing}, env_in(dir));
  CHECK(o.status == k_exit_usage);
  CHECK(o.err == "error: " + missing + ": no such file\n");
}

TEST_CASE("askd: --config and --check-config naming different files is a usage error") {
  TempDir dir;
  const Outcome o = run({"--config", "a.jsonc", "--check-config", "b.jsonc"}, env_in(dir));
  CHECK(o.status == k_exit_usage);
  CHECK(has_text(o.err, "name different files"));
}

TEST_CASE("askd: refuses to serve with an invalid config, a bad --listen or an open address") {
  TempDir dir;
  const auto bad = dir.write("bad.jsonc", k_bad);
  CHECK(run({"--config", bad.string()}, env_in(dir)).status == k_exit_usage);
  const auto good = dir.write("good.jsonc", k_good);
  const Outcome junk = run({"--config", good.string(), "--listen", "nowhere"}, env_in(dir));
  CHECK(junk.status == k_exit_usage);
  CHECK(has_text(junk.err, "askd: --listen: invalid address \"nowhere\""));
  const Outcome open = run({"--config", good.string(), "--listen", "0.0.0.0:0"}, env_in(dir));
  CHECK(open.status == k_exit_usage);
  CHECK(has_text(open.err, "refusing to listen on 0.0.0.0:0 without api_keys"));
  const Outcome level =
      run({"--config", good.string(), "--log-level", "loud", "--listen", "127.0.0.1:0"},
          env_in(dir));
  CHECK(level.status == k_exit_usage);
  CHECK(has_text(level.err, "--log-level"));
}

TEST_CASE("askd: usage errors exit 2, --help and --version exit 0") {
  TempDir dir;
  const Outcome bogus = run({"--bogus"}, env_in(dir));
  CHECK(bogus.status == k_exit_usage);
  CHECK(has_text(bogus.err, "--bogus"));
  const Outcome help = run({"--help"}, env_in(dir));
  CHECK(help.status == k_exit_ok);
  CHECK(has_text(help.out, "--check-config [FILE]"));
  CHECK(has_text(help.out, "$ASK_CONFIG"));
  CHECK(has_text(help.out, "Exit status:"));
  const Outcome version = run({"--version"}, env_in(dir));
  CHECK(version.status == k_exit_ok);
  CHECK(version.out.starts_with("askd "));
}

namespace {

// Runs the askd binary (no shell) with exactly `env`, capturing its output in files.
Outcome run_binary(const TempDir& dir, std::vector<std::string> args,
                   const std::vector<std::string>& env) {
  args.insert(args.begin(), ASKD_PATH);
  std::vector<char*> argv;
  for (std::string& a : args) {
    argv.push_back(a.data());
  }
  argv.push_back(nullptr);
  std::vector<std::string> env_copy = env;
  std::vector<char*> envp;
  for (std::string& e : env_copy) {
    envp.push_back(e.data());
  }
  envp.push_back(nullptr);
  const auto out_path = dir.path() / "stdout";
  const auto err_path = dir.path() / "stderr";
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC,
                                   0600);
  posix_spawn_file_actions_addopen(&actions, 2, err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC,
                                   0600);
  pid_t pid = 0;
  const int rc = posix_spawn(&pid, ASKD_PATH, &actions, nullptr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  REQUIRE(rc == 0);
  int status = 0;
  REQUIRE(waitpid(pid, &status, 0) == pid);
  auto slurp = [](const std::filesystem::path& p) {
    std::ifstream in(p);
    return std::string(std::istreambuf_iterator<char>(in), {});
  };
  Outcome o;
  o.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  o.out = slurp(out_path);
  o.err = slurp(err_path);
  return o;
}

} // namespace

TEST_CASE("askd binary: --check-config on a good file exits 0 and says config OK") {
  TempDir dir;
  const auto file = dir.write("good.jsonc", k_good);
  const Outcome o =
      run_binary(dir, {"--check-config", file.string()}, {"HOME=" + dir.path().string()});
  CHECK(o.status == 0);
  CHECK(o.out.starts_with("config OK: " + file.string() + "\n{"));
  CHECK(o.err.starts_with("warning: " + file.string() + ":4: backends.o.api_key_env"));
}

TEST_CASE("askd binary: --check-config on a bad file exits 2 naming file:line and path") {
  TempDir dir;
  const auto file = dir.write("bad.jsonc", k_bad);
  const Outcome o =
      run_binary(dir, {"--check-config", file.string()}, {"HOME=" + dir.path().string()});
  CHECK(o.status == 2);
  CHECK(o.out.empty());
  CHECK(has_text(o.err, "error: " + file.string() + ":4: models.m.fallbacks[0]: unknown model"));
  CHECK(has_text(o.err, "error: " + file.string() + ":5: models.x.backend: unknown backend"));
}

TEST_CASE("askd binary: $ASK_CONFIG names the file to check") {
  TempDir dir;
  const auto file = dir.write("env.jsonc", k_bad);
  const Outcome o = run_binary(dir, {"--check-config"},
                               {"HOME=" + dir.path().string(), "ASK_CONFIG=" + file.string()});
  CHECK(o.status == 2);
  CHECK(has_text(o.err, file.string() + ":5: models.x.backend"));
}

} // namespace ask::proxy
