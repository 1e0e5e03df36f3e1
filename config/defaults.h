#pragma once
// What applies when nothing is configured: the built-in configuration (used when no config
// file is found) and the names ask keeps for its own options.

#include <array>
#include <string_view>

namespace ask::config {

// The source name diagnostics and `askd --check-config` give the built-in configuration.
inline constexpr std::string_view k_builtin_source = "built-in defaults";

// The built-in configuration, as JSONC: one Ollama backend at http://127.0.0.1:11434 and the
// eight logical models of examples/config.jsonc (fast-9b, fast-3b, fast-1b, think-9b,
// coder-30b, heavy, vision-4b, council) with the tiers 9b, think, heavy and council.
extern const std::string_view k_builtin_config;

// Long options of `ask` itself; a tier flag may not take one of these names.
inline constexpr std::array<std::string_view, 16> k_reserved_tier_flags{
    "help",    "model",    "system",  "temperature",   "max-tokens", "json",   "timeout", "url",
    "api-key", "no-cache", "refresh", "show-thinking", "version",    "config", "verbose", "quiet"};

} // namespace ask::config
