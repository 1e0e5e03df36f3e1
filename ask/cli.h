#pragma once
// ask's command line. The tier flags (--9b, --think, ...) come from the config, so the config
// is loaded before the command line is parsed: find_config_arg() digs --config out first.
// A subcommand (stats, cache, models, logs, completion) is the first word that is not one of
// the global options (--config, -q, -v, --url, --api-key) or their values: `ask -q stats` runs
// the command, while `ask --9b models of cars` (a question's option came first) and
// `ask -- stats` ask a question. A lone misspelt command (`ask cahce stats`) is an error with
// a suggestion, not a question.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ask/attach.h"
#include "ask/completion.h"
#include "ask/logs.h"
#include "config/types.h"
#include "core/duration.h"

namespace ask::cli {

// askd's address when neither --url nor $ASK_URL gives one.
inline constexpr std::string_view k_default_askd_url = "http://127.0.0.1:11436";

enum class Command {
  ask,
  stats,
  cache_stats,
  cache_prune,
  cache_clear,
  models,
  logs,
  completion,
  help,
  version
};

// The subcommands, as the first word of a command line.
inline constexpr std::string_view k_commands[] = {"stats", "cache", "models", "logs", "completion"};

struct AskOptions {
  std::vector<std::string> words;   // the prompt's words, joined with spaces
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
  std::vector<AttachmentArg> attachments; // -a FILE|URL|- and -f FILE|-, in the order given
  bool no_stdin = false;                  // never read standard input
  bool stream = false;                    // stream off a terminal too (default: all or nothing)
  bool continue_last = false;             // -c: continue the last conversation
  std::optional<std::string> cid;         // --cid ID: continue (or start) a named conversation
  bool no_history = false;                // keep this exchange out of the history
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
  LogsOptions logs;
  std::string shell; // completion: bash, zsh or fish
  std::string text;  // for help and version: what to print
};

// The value of --config FILE / --config=FILE anywhere before a "--", if given; a --config
// without a value is left for the parser to report.
std::optional<std::string> find_config_arg(int argc, const char* const* argv);

// What `ask completion SHELL` completes: the options of the question and of each command, read
// from the very parsers above (so the scripts cannot drift from them), and the config's models,
// councils and aliases for -m.
CompletionSpec completion_spec(const config::Config& config);

// Parses argv. A usage error is a bad_request error whose message names the problem (the
// caller prints it with a hint to run --help). `config` supplies the tier flags.
core::Result<Invocation> parse_command_line(int argc, const char* const* argv,
                                            const config::Config& config);

} // namespace ask::cli
