#pragma once
// Test helpers for code that reads configs: a temporary folder, a fake environment, and
// shorthands that parse config text and look for a diagnostic. Header-only; tests only.

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <map>
#include <string>
#include <string_view>
#include <system_error>

#include "config/config.h"

namespace ask::config::testing {

// A fresh folder under $TMPDIR (or /tmp), removed with everything in it on destruction.
class TempDir {
public:
  TempDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "ask-test-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) {
      throw std::system_error(errno, std::generic_category(), "mkdtemp");
    }
    m_path = pattern;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(m_path, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::filesystem::path& path() const { return m_path; }
  // Writes `text` to path()/name, creating folders on the way; returns the full path.
  std::filesystem::path write(const std::string& name, std::string_view text) const {
    auto file = m_path / name;
    std::filesystem::create_directories(file.parent_path());
    std::ofstream(file, std::ios::binary) << text;
    return file;
  }

private:
  std::filesystem::path m_path;
};

// An environment holding exactly `vars`.
inline core::EnvLookup fake_env(std::map<std::string, std::string> vars) {
  return [vars = std::move(vars)](const std::string& name) -> std::optional<std::string> {
    const auto it = vars.find(name);
    return it == vars.end() ? std::nullopt : std::optional(it->second);
  };
}

// The environment most tests use: HOME and the XDG folders under /home/test.
inline core::EnvLookup test_env() {
  return fake_env({{"HOME", "/home/test"}});
}

// Parses `text` as "test.jsonc" with test_env().
inline ConfigResult<LoadedConfig> parse(std::string_view text) {
  return parse_config(text, "test.jsonc", test_env());
}

// Whether some diagnostic has this line (0 = any), key path ("" = any) and a message that
// contains `needle`.
inline bool has_diag(const std::vector<Diagnostic>& diags, int line, std::string_view path,
                     std::string_view needle) {
  for (const Diagnostic& d : diags) {
    if ((line == 0 || d.line == line) && (path.empty() || d.path == path) &&
        d.message.find(needle) != std::string::npos) {
      return true;
    }
  }
  return false;
}

// Every diagnostic, one per line, for failure messages.
inline std::string dump(const std::vector<Diagnostic>& diags) {
  std::string out;
  for (const Diagnostic& d : diags) {
    out += (d.severity == Severity::error ? "error: " : "warning: ") + d.to_string() + "\n";
  }
  return out;
}

// Joins lines with '\n', so that element i is on line i + 1.
inline std::string lines(std::initializer_list<std::string_view> parts) {
  std::string out;
  for (std::string_view p : parts) {
    out += p;
    out += '\n';
  }
  return out;
}

// A valid file around one model section: line 4 holds the first entry of `models`, which
// may be followed by more sections (the file closes with "}}").
inline std::string with_models(std::initializer_list<std::string_view> models) {
  std::string out = "{\n\"backends\": {\"ollama\": {\"kind\": \"ollama\", \"url\": "
                    "\"http://127.0.0.1:11434\"}},\n\"models\": {\n";
  for (std::string_view m : models) {
    out += m;
    out += '\n';
  }
  return out + "}}\n";
}

// A file with a llama-server backend "l", presets "vulkan" (bare name) and "cuda" (a path
// that does not exist), and GPUs "gpu0" and "gpu1"; line 7 holds the first entry of
// `models`, closed like with_models.
inline std::string with_managed_models(std::initializer_list<std::string_view> models) {
  std::string out = lines({
      "{",
      R"("backends": {"l": {"kind": "llama-server"}},)",
      R"("presets": {"vulkan": {"binary": "llama-server", "backend": "vulkan"},)",
      R"(            "cuda": {"binary": "/nonexistent/llama-server", "backend": "cuda"}},)",
      R"("gpus": {"devices": [{"id": "gpu0"}, {"id": "gpu1"}]},)",
      R"("models": {)",
  });
  for (std::string_view m : models) {
    out += m;
    out += '\n';
  }
  return out + "}}\n";
}

} // namespace ask::config::testing

// In a doctest test: the diagnostic must exist; on failure, prints them all.
#define CHECK_DIAG(diags, line, path, needle)                                                      \
  CHECK_MESSAGE(::ask::config::testing::has_diag(diags, line, path, needle),                       \
                ::ask::config::testing::dump(diags))

// In a doctest test: the diagnostics of config text that must not load.
#define ERRORS_OF(text)                                                                            \
  [&] {                                                                                            \
    auto r_ = ::ask::config::testing::parse(text);                                                 \
    REQUIRE_MESSAGE(!r_.has_value(), "expected errors, but the config is valid");                  \
    return r_.error().diagnostics;                                                                 \
  }()

// In a doctest test: the LoadedConfig of config text that must load.
#define VALID(text)                                                                                \
  [&] {                                                                                            \
    auto r_ = ::ask::config::testing::parse(text);                                                 \
    REQUIRE_MESSAGE(r_.has_value(),                                                                \
                    (r_ ? std::string() : ::ask::config::testing::dump(r_.error().diagnostics)));  \
    return std::move(*r_);                                                                         \
  }()
