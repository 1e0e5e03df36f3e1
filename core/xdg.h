#pragma once
// XDG base directories (config, data, cache, state) with the environment's overrides, and
// the ask-specific folders beneath them. The environment comes in as a lookup function so
// tests need not touch the process environment.

#include <filesystem>
#include <functional>
#include <optional>
#include <string>

namespace ask::core {

using EnvLookup = std::function<std::optional<std::string>(const std::string& name)>;

// Reads the real process environment.
EnvLookup process_env();

struct XdgDirs {
  std::filesystem::path config_home; // $XDG_CONFIG_HOME or ~/.config
  std::filesystem::path data_home;   // $XDG_DATA_HOME or ~/.local/share
  std::filesystem::path cache_home;  // $XDG_CACHE_HOME or ~/.cache
  std::filesystem::path state_home;  // $XDG_STATE_HOME or ~/.local/state

  // Resolves from the environment. Per the XDG spec a variable that is unset, empty or not an
  // absolute path is ignored. Without HOME, falls back to the user's home from getpwuid, then
  // to "/tmp".
  static XdgDirs from_env(const EnvLookup& env);

  // The "ask" subfolder of each: ~/.config/ask, ~/.local/share/ask, ~/.cache/ask, ...
  std::filesystem::path ask_config() const { return config_home / "ask"; }
  std::filesystem::path ask_data() const { return data_home / "ask"; }
  std::filesystem::path ask_cache() const { return cache_home / "ask"; }
  std::filesystem::path ask_state() const { return state_home / "ask"; }
};

// Expands a leading "~/" (or a lone "~") with $HOME; other paths come back unchanged.
std::filesystem::path expand_home(const std::string& path, const EnvLookup& env);

} // namespace ask::core
