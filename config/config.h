#pragma once
// The config module's entry points: find and load the config file (or the built-in
// defaults), resolve logical model names, expand fallback chains, and print the resolved
// config. The types are in config/types.h, the diagnostics in config/diagnostics.h, and every
// key is described in docs/config.md.

#include <expected>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/diagnostics.h"
#include "config/jsonc.h"
#include "config/types.h"
#include "core/error.h"
#include "core/xdg.h"

namespace ask::config {

template <class T> using ConfigResult = std::expected<T, ConfigError>;

struct LoadedConfig {
  Config config;
  std::string source;                        // the file's path as named, or k_builtin_source
  std::optional<std::filesystem::path> path; // none for the built-in defaults
  std::vector<Diagnostic> warnings;
};

struct ParseOptions {
  std::string source_name = "config";
  // Relative paths in the file (gguf, draft, preset binaries, cache and log paths) are
  // anchored here; "" leaves them relative to the working directory.
  std::filesystem::path base_dir;
  core::EnvLookup env = core::process_env(); // for "env:" API keys, ~ and XDG defaults
};

// Parses and validates config text. On failure the error holds every diagnostic, errors and
// warnings, sorted by line; on success the warnings come back in the LoadedConfig.
ConfigResult<LoadedConfig> parse_config(std::string_view text, const ParseOptions& options);
ConfigResult<LoadedConfig> parse_config(std::string_view text, std::string_view source_name,
                                        const core::EnvLookup& env);

struct LoadOptions {
  std::optional<std::filesystem::path> explicit_path; // --config FILE
  core::EnvLookup env = core::process_env();
};

// Where the config comes from, in order: the explicit path, $ASK_CONFIG (when set and not
// empty), $XDG_CONFIG_HOME/ask/config.jsonc when that file exists, else the built-in defaults.
struct ConfigLocation {
  enum class Origin { explicit_path, env_var, xdg, builtin };
  Origin origin = Origin::builtin;
  std::optional<std::filesystem::path> path;
};
ConfigLocation locate_config(const LoadOptions& options);

// Locates, reads, parses and validates. A file named explicitly or by $ASK_CONFIG that does
// not exist is an error (kind not_found); so is a file that cannot be read or is larger
// than 4 MiB.
ConfigResult<LoadedConfig> load_config(const LoadOptions& options);

// What a requested name means after aliases: a model or a council.
struct ResolvedName {
  std::string name;             // the model's or council's own name
  const Model* model = nullptr; // exactly one of model and council is set
  const Council* council = nullptr;
};
// Resolves a logical model, council or alias name. Unknown names are not_found errors that
// suggest the closest name and list the known ones.
core::Result<ResolvedName> resolve_model_name(const Config& config, std::string_view name);

// A listen address as the "listen" key takes it ("127.0.0.1:11436", "[::1]:0"): host without
// brackets and port; bad_request naming the expected form otherwise. For askd --listen.
core::Result<std::pair<std::string, int>> parse_listen_address(std::string_view text);

// The order in which askd tries models for `name` (aliases resolved): the model, then its
// fallbacks, each followed depth-first by its own fallbacks, no model twice. not_found for
// unknown names; bad_request for a council (its members and chairman have chains of their
// own).
core::Result<std::vector<std::string>> fallback_chain(const Config& config, std::string_view name);

// The resolved config in the file's own schema (it parses back to the same Config): defaults
// filled in, aliases resolved, paths expanded, durations and sizes in canonical text. Secrets
// are masked: literal API keys print as "<redacted>" (or "****" and their last four characters
// when they are at least 16 long), and header or preset env values whose names suggest a
// secret (authorization, key, token, secret, password, cookie) as "<redacted>".
Json to_json(const Config& config);

} // namespace ask::config
