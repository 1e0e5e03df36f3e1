#pragma once
// ask's command line. The tier flags (--9b, --think, ...) come from the config, so the config
// is loaded before the command line is parsed: find_config_arg() digs --config out first.
// Subcommands (stats, cache, models) are recognised only as the very first argument, so a
// prompt may contain those words: `ask --9b models of cars` asks a question.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/types.h"
#include "core/duration.h"

namespace ask::cli {

// askd's address when neither --url nor $ASK_URL gives one.
inline constexpr std::string_view k_default_askd_url = "http://127.0.0.1:11436";

enum class Command { ask, stats, cache_stats, cache_prune, cache_clear, models, help, version };

struct AskOptions {
  std::vector<std::string> words; // the prompt's words, joined with spaces
  std::optional<std::string> tier;  // a tier flag from the config, without "--"
  std::optional<std::string> model; // -m/--model
  std::optional<std::string> system;
  std::optional<double> temperature;
  std::optional<long long> max_tokens;
  bool json = false;
  std::optional<core::Duration> timeout;
  std::optional<std::string> url;     // --url (else $ASK_URL, else the default)
  std::optional<std::string> api_key; // --api-key (else $ASK_API_KEY)
  bool no_cache = false;
  bool refresh = false;
  bool show_thinking = false;
  bool verbose = false;
  bool quiet = false;
};

struct StatsOptions {
  std::optional<std::string> since; // "7d", "24h", "2026-11-01"
  std::optional<std::string> until;
  bool json = false;
};

struct ModelsOptions {
  std::optional<std::string> url;
  std::optional<std::string> api_key;
  bool json = false;
};

struct Invocation {
  Command command = Command::ask;
  AskOptions ask;
  StatsOptions stats;
  ModelsOptions models;
  std::string text; // for help and version: what to print
};

// The value of --config FILE / --config=FILE anywhere before a "--", if given; a --config
// without a value is left for the parser to report.
std::optional<std::string> find_config_arg(int argc, const char* const* argv);

// Parses argv. A usage error is a bad_request error whose message names the problem (the
// caller prints it with a hint to run --help). `config` supplies the tier flags.
core::Result<Invocation> parse_command_line(int argc, const char* const* argv,
                                            const config::Config& config);

} // namespace ask::cli
