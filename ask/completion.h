#pragma once
// `ask completion bash|zsh|fish`: prints a completion script for the shell from a spec of the
// command line. The caller fills the spec from the parser itself (ask/cli.cpp) and the models
// from the config, so the script completes what ask really accepts.
//
// What the scripts complete: subcommand names as the first word that is not an option (also
// after options: `ask --config F cache prune`), the options of the command in effect, model
// names after -m/--model, files after options that take a file, shells after `completion`.
// Nothing after `--` (the rest is the prompt). Names and help text are quoted for each shell:
// nothing in them is ever expanded or run.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ask::cli {

enum class Shell { bash, zsh, fish };

// "bash", "zsh" or "fish"; nullopt for anything else.
std::optional<Shell> parse_shell(std::string_view name);
std::string_view to_string(Shell shell);

struct CompletionOption {
  // What the option's value is, so the script knows both that the next word is a value (not a
  // command) and what to offer for it.
  enum class Value { none, text, file, model, shell, duration, url };

  std::vector<std::string> names; // "-m", "--model"
  std::string help;
  Value value = Value::none; // none: a flag
};

struct CompletionCommand {
  std::string name; // "cache"
  std::string help;
  std::vector<CompletionOption> options;
  std::vector<CompletionCommand> subcommands; // cache: stats, prune, clear
  // What its positional words are (completion: a shell); none or text: nothing is offered.
  CompletionOption::Value arguments = CompletionOption::Value::none;
};

struct CompletionSpec {
  std::vector<CompletionOption> options;   // the question's options, tier flags included
  std::vector<CompletionCommand> commands; // stats, cache, models, logs, completion
  std::vector<std::string> models;         // logical models, councils and aliases (for -m)
};

// The script for `shell`. Command and option names must be plain words ("cache", "--9b":
// letters, digits, '_', '.', '-'); a name that is not is left out of the script. Model names
// may hold anything but control characters (those with one are left out).
std::string completion_script(Shell shell, const CompletionSpec& spec);

} // namespace ask::cli
