#include "ask/cli.h"

#include <algorithm>
#include <cstring>
#include <memory>
#include <string_view>

#include <CLI/CLI.hpp>

#include "ask/exit_code.h"
#include "ask/history.h"
#include "config/defaults.h"
#include "config/suggest.h"

namespace ask::cli {
namespace {

std::string main_footer() {
  std::string s;
  s += "The prompt is the arguments, standard input, or both: with both, the arguments come\n"
       "first, then a blank line, then the piped text:\n"
       "  git diff | ask --9b \"write a one-line commit message\"\n\n"
       "Attach images or text files with -a (repeatable); off a terminal the answer is\n"
       "printed only once it is complete (--stream prints it as it comes).\n\n"
       "Other commands (after the global options --config, -q, -v, --url, --api-key):\n"
       "  ask stats [--since 7d] [--json]     calls, cache hits, demotions, latency per model\n"
       "  ask cache stats | prune | clear     the prompt cache\n"
       "  ask models [--json]                 the logical models askd serves\n"
       "  ask logs [-n N] [-q TEXT] [--cid ID] [--json]   past questions and answers\n"
       "  ask completion bash | zsh | fish    a shell completion script\n"
       "A prompt that starts with one of these words: ask -- models of cars\n\n"
       "Environment:\n"
       "  ASK_URL          askd's address (else http://127.0.0.1:11436)\n"
       "  ASK_API_KEY      askd's API key\n"
       "  ASK_CONFIG       the config file (else $XDG_CONFIG_HOME/ask/config.jsonc)\n"
       "  NO_COLOR, TERM   no colour when NO_COLOR is set or TERM=dumb\n"
       "  XDG_CONFIG_HOME  where the config is looked for (~/.config)\n"
       "  XDG_CACHE_HOME   where the prompt cache lives (~/.cache/ask/cache.sqlite)\n"
       "  XDG_DATA_HOME    the telemetry log and the history (~/.local/share/ask/)\n"
       "  HOME             the base of the defaults above\n\n";
  s += k_exit_code_help;
  return s;
}

// CLI11 reports a usage error as an exception; turn it into a message.
core::Error usage_error(const CLI::ParseError& e) {
  std::string msg = e.what();
  return core::Error::bad_request(msg);
}

core::Result<core::Duration> parse_timeout(const std::string& text) {
  auto d = core::parse_duration(std::string_view(text));
  if (!d) {
    return core::fail(core::Error::bad_request("--timeout: " + d.error().message));
  }
  if (d->is_zero()) {
    return core::fail(core::Error::bad_request("--timeout: must be more than 0 (\"forever\" for "
                                               "no limit)"));
  }
  return *d;
}

// The question's command line: its App, with every option bound to `inv`.
struct AskApp {
  explicit AskApp(const config::Config& config);
  CLI::App app{"ask: one question to a local model through askd, answered on stdout.", "ask"};
  Invocation inv;
  AskOptions& o = inv.ask;
  std::vector<bool> tier_set;
  std::string timeout_text;
  std::string config_path;
  bool help = false;
  bool version = false;
};

AskApp::AskApp(const config::Config& config) : tier_set(config.tiers.size(), false) {
  app.set_help_flag(); // ours below, so that tier flags and the footer come with it
  app.add_flag("-h,--help", help, "Print this help and exit");
  app.add_flag("--version", version, "Print the version and exit");

  for (std::size_t i = 0; i < config.tiers.size(); ++i) {
    const config::Tier& t = config.tiers[i];
    std::string desc = "Ask " + t.target;
    if (t.flag == config.default_tier) {
      desc += " (the default)";
    }
    app.add_flag_callback(
           "--" + t.flag, [this, i] { tier_set[i] = true; }, desc)
        ->group("Tiers (from the config)");
  }
  app.add_option("-m,--model", o.model, "Any logical model, council or alias")->type_name("NAME");
  app.add_option("-s,--system", o.system, "A system prompt")->type_name("TEXT");
  app.add_option("--temperature", o.temperature, "Sampling temperature")
      ->type_name("T")
      ->check(CLI::Range(0.0, 2.0));
  app.add_option("--max-tokens", o.max_tokens, "Longest answer, in tokens")
      ->type_name("N")
      ->check(CLI::Range(1LL, 10'000'000LL));
  app.add_flag("--json", o.json, "Print askd's whole OpenAI response as JSON");
  app.add_option("--timeout", timeout_text, "Give up after this long (\"90s\", \"5m\"); exit 5")
      ->type_name("DURATION");
  app.add_option("--url", o.url,
                 "askd's address (default $ASK_URL, else " + std::string(k_default_askd_url) + ")")
      ->type_name("URL");
  app.add_option("--api-key", o.api_key, "askd's API key (default $ASK_API_KEY)")->type_name("KEY");
  app.add_flag("--no-cache", o.no_cache, "Neither read nor write the prompt cache");
  app.add_flag("--refresh", o.refresh, "Ask again and store the new answer in the cache");
  app.add_flag("--show-thinking", o.show_thinking, "Show the model's reasoning (on stderr)");
  app.add_flag("-v,--verbose", o.verbose, "Say on stderr who answered, how, and how fast");
  app.add_flag("-q,--quiet", o.quiet, "No progress line or notes (degradation is still said)");
  // Each -a and -f as it is parsed, so that they keep the order of the command line.
  app.add_option_function<std::string>(
         "-a,--attach",
         [this](const std::string& v) {
           o.attachments.push_back({v, false});
         },
         "Attach an image (PNG, JPEG, GIF, WebP) or a text file; a URL is passed on, "
         "- is standard input (repeatable)")
      ->type_name("FILE")
      ->trigger_on_parse();
  app.add_option_function<std::string>(
         "-f,--fragment",
         [this](const std::string& v) {
           o.attachments.push_back({v, true});
         },
         "Add a text file to the prompt (repeatable)")
      ->type_name("FILE")
      ->trigger_on_parse();
  app.add_flag("--no-stdin", o.no_stdin, "Never read standard input (for loops over a file)");
  app.add_flag("--stream", o.stream,
               "Print the answer as it comes even off a terminal (a broken stream leaves part)");
  app.add_flag("-c,--continue", o.continue_last, "Continue the last conversation");
  app.add_option("--cid", o.cid, "Continue, or start, the conversation with this id")
      ->type_name("ID");
  app.add_flag("--no-history", o.no_history, "Keep this question out of the history (ask logs)");
  app.add_option("--config", config_path,
                 "The config file (default $ASK_CONFIG, else "
                 "~/.config/ask/config.jsonc, else built-in)")
      ->type_name("FILE");
  app.add_option("prompt", o.words, "The question (quote it, or pipe text in)")->type_name("TEXT");
  app.footer(main_footer());
}

core::Result<Invocation> parse_ask(int argc, const char* const* argv,
                                   const config::Config& config) {
  AskApp parser(config);
  CLI::App& app = parser.app;
  Invocation& inv = parser.inv;
  AskOptions& o = inv.ask;
  const std::vector<bool>& tier_set = parser.tier_set;
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    core::Error err = usage_error(e);
    if (err.message.find("not expected") != std::string::npos && !config.tiers.empty()) {
      err.message += "; the tiers are";
      for (const config::Tier& t : config.tiers) {
        err.message += " --" + t.flag;
      }
    }
    return core::fail(std::move(err));
  }
  if (parser.help) {
    inv.command = Command::help;
    inv.text = app.help();
    return inv;
  }
  if (parser.version) {
    inv.command = Command::version;
    return inv;
  }
  for (std::size_t i = 0; i < tier_set.size(); ++i) {
    if (!tier_set[i]) {
      continue;
    }
    if (o.tier) {
      return core::fail(core::Error::bad_request("choose one tier: --" + *o.tier + " and --" +
                                                 config.tiers[i].flag + " were both given"));
    }
    o.tier = config.tiers[i].flag;
  }
  if (o.tier && o.model) {
    return core::fail(core::Error::bad_request("--" + *o.tier + " and --model " + *o.model +
                                               " both choose the model: give one"));
  }
  if (o.continue_last && o.cid) {
    return core::fail(core::Error::bad_request("-c continues the last conversation and --cid " +
                                               *o.cid + " a named one: give one"));
  }
  if (o.cid && !history::valid_cid(*o.cid)) {
    return core::fail(core::Error::bad_request(
        "--cid \"" + *o.cid + "\": a conversation id is 1 to 64 letters, digits, '.', '_' or '-'"));
  }
  if ((o.continue_last || o.cid) && o.no_history) {
    return core::fail(core::Error::bad_request(
        "--no-history cannot continue a conversation (it is kept in the history)"));
  }
  if (o.no_cache && o.refresh) {
    return core::fail(core::Error::bad_request(
        "--no-cache and --refresh contradict each other (--refresh writes the cache)"));
  }
  if (!parser.timeout_text.empty()) {
    auto t = parse_timeout(parser.timeout_text);
    if (!t) {
      return core::fail(t.error());
    }
    o.timeout = *t;
  }
  return inv;
}

// The options ask takes before a command word (and also after it): they are read by the
// pre-scan in parse_command_line and handed to the command.
struct Globals {
  bool quiet = false;
  bool verbose = false;
  std::optional<std::string> url;
  std::optional<std::string> api_key;
};

// Adds the global options to a command's App (after the command word, they are its options).
void add_globals(CLI::App& app, Globals& g, std::string& config_path) {
  app.add_option("--config", config_path, "The config file")->type_name("FILE");
  app.add_flag("-q,--quiet", g.quiet, "No notes on stderr");
  app.add_flag("-v,--verbose", g.verbose, "More on stderr");
  app.add_option("--url", g.url, "askd's address (default $ASK_URL)")->type_name("URL");
  app.add_option("--api-key", g.api_key, "askd's API key (default $ASK_API_KEY)")->type_name("KEY");
}

// Parses a command's own App over the words after the command word; --help leaves its help
// text in `inv`.
core::Result<void> parse_subcommand(CLI::App& app, const std::vector<std::string>& args,
                                    Invocation& inv) {
  std::vector<std::string> reversed(args.rbegin(), args.rend()); // CLI11 takes them backwards
  try {
    app.parse(reversed);
  } catch (const CLI::CallForHelp&) {
    inv.command = Command::help;
    inv.text = app.help();
  } catch (const CLI::ParseError& e) {
    return core::fail(core::Error::bad_request(app.get_name() + ": " + e.what()));
  }
  return {};
}

// The globals given before the command word and after it, together.
void merge_globals(const Globals& after, Globals& before) {
  before.quiet = before.quiet || after.quiet;
  before.verbose = before.verbose || after.verbose;
  if (after.url) {
    before.url = after.url;
  }
  if (after.api_key) {
    before.api_key = after.api_key;
  }
}

// A command's command line: its App, with every option bound to `inv` (and the globals given
// after the command word to `after`).
struct CommandApp {
  CommandApp(const std::string& description, const std::string& name) : app(description, name) {}
  CLI::App app;
  Invocation inv;
  Globals after;
  std::string config_path;
  CLI::App* stats = nullptr; // cache's own subcommands
  CLI::App* prune = nullptr;
  CLI::App* clear = nullptr;
};

std::unique_ptr<CommandApp> stats_app() {
  auto c = std::make_unique<CommandApp>(
      "ask stats: what the telemetry log says about each model: calls, where they were served, "
      "cache hits, demotions, latency, errors.",
      "ask stats");
  c->inv.command = Command::stats;
  c->app
      .add_option("--since", c->inv.stats.since,
                  "Only calls in the last DURATION (\"7d\", \"24h\") or since a date "
                  "(YYYY-MM-DD)")
      ->type_name("WHEN");
  c->app.add_option("--until", c->inv.stats.until, "Only calls before this (same forms)")
      ->type_name("WHEN");
  c->app.add_flag("--json", c->inv.stats.json, "Print the summary as JSON");
  add_globals(c->app, c->after, c->config_path);
  return c;
}

std::unique_ptr<CommandApp> cache_app() {
  auto c = std::make_unique<CommandApp>(
      "ask cache: the prompt cache (a SQLite file; see docs/cache.md).", "ask cache");
  c->app.require_subcommand(1);
  c->stats = c->app.add_subcommand("stats", "Entries, size, age, per model");
  c->prune = c->app.add_subcommand("prune", "Delete expired entries and compact the file");
  c->clear = c->app.add_subcommand("clear", "Delete every entry");
  add_globals(c->app, c->after, c->config_path);
  for (auto* sub : {c->stats, c->prune, c->clear}) {
    sub->add_option("--config", c->config_path, "The config file")->type_name("FILE");
  }
  return c;
}

std::unique_ptr<CommandApp> models_app() {
  auto c = std::make_unique<CommandApp>(
      "ask models: the logical models askd serves, with their state where askd knows it.",
      "ask models");
  c->inv.command = Command::models;
  c->app.add_flag("--json", c->inv.models.json, "Print askd's answer as JSON");
  add_globals(c->app, c->after, c->config_path);
  return c;
}

std::unique_ptr<CommandApp> logs_app() {
  auto c = std::make_unique<CommandApp>(
      "ask logs: past questions and answers from the history, newest first; -q searches them "
      "(every word must occur), --cid shows one conversation.",
      "ask logs");
  c->inv.command = Command::logs;
  c->app.add_option("-n", c->inv.logs.n, "How many exchanges (default 10; 0: all)")
      ->type_name("N")
      ->check(CLI::Range(0, 100'000'000));
  c->app
      .add_option("-q,--query", c->inv.logs.query,
                  "Only exchanges whose prompt or answer has these words")
      ->type_name("TEXT");
  c->app.add_option("--cid", c->inv.logs.cid, "One conversation, oldest first")->type_name("ID");
  c->app.add_flag("--json", c->inv.logs.json, "Print a JSON array");
  // -q is the query here: the quiet flag is a global only before the word `logs`.
  c->app.add_option("--config", c->config_path, "The config file")->type_name("FILE");
  return c;
}

std::unique_ptr<CommandApp> completion_app() {
  auto c = std::make_unique<CommandApp>(
      "ask completion: print a completion script for a shell. Load it with\n"
      "  bash: source <(ask completion bash)   (or save it as "
      "~/.local/share/bash-completion/completions/ask)\n"
      "  zsh:  ask completion zsh > ~/.zfunc/_ask   (with ~/.zfunc in $fpath)\n"
      "  fish: ask completion fish > ~/.config/fish/completions/ask.fish",
      "ask completion");
  c->inv.command = Command::completion;
  c->app.add_option("shell", c->inv.shell, "bash, zsh or fish")
      ->type_name("SHELL")
      ->required()
      ->check(CLI::IsMember({"bash", "zsh", "fish"}));
  add_globals(c->app, c->after, c->config_path);
  return c;
}

using CommandMaker = std::unique_ptr<CommandApp> (*)();
constexpr std::pair<std::string_view, CommandMaker> k_command_apps[] = {
    {"stats", stats_app},
    {"cache", cache_app},
    {"models", models_app},
    {"logs", logs_app},
    {"completion", completion_app}};

// Parses command `name` over the words after it; the globals before and after it together.
core::Result<Invocation> parse_command(std::string_view name, CommandMaker make,
                                       const std::vector<std::string>& args, Globals& g) {
  auto c = make();
  if (auto parsed = parse_subcommand(c->app, args, c->inv); !parsed) {
    return core::fail(parsed.error());
  }
  merge_globals(c->after, g);
  Invocation& inv = c->inv;
  if (inv.command == Command::help) {
    return std::move(inv);
  }
  if (name == "cache") {
    inv.command = c->stats->parsed()   ? Command::cache_stats
                  : c->prune->parsed() ? Command::cache_prune
                                       : Command::cache_clear;
  }
  if (inv.command == Command::logs && inv.logs.cid && !history::valid_cid(*inv.logs.cid)) {
    return core::fail(core::Error::bad_request("ask logs --cid \"" + *inv.logs.cid +
                                               "\": not a conversation id"));
  }
  return std::move(inv);
}

// A global option (as the pre-scan sees it): its names and whether it takes a value.
struct GlobalName {
  std::string_view name;
  bool takes_value;
};
constexpr GlobalName k_globals[] = {{"--config", true}, {"-q", false},        {"--quiet", false},
                                    {"-v", false},      {"--verbose", false}, {"--url", true},
                                    {"--api-key", true}};

// Reads global option `arg` (at argv[i]; its value may be argv[i + 1]) into `g`. Returns how
// many arguments it took, 0 when `arg` is not a global option.
int read_global(std::string_view arg, const char* next, Globals& g) {
  const auto eq = arg.find('=');
  const std::string_view name = arg.substr(0, eq);
  for (const GlobalName& known : k_globals) {
    if (name != known.name) {
      continue;
    }
    if (!known.takes_value) {
      if (eq != std::string_view::npos) {
        return 0;
      }
      (name == "-q" || name == "--quiet" ? g.quiet : g.verbose) = true;
      return 1;
    }
    std::optional<std::string> value;
    int used = 1;
    if (eq != std::string_view::npos) {
      value = std::string(arg.substr(eq + 1));
    } else if (next) {
      value = next;
      used = 2;
    } else {
      return 0; // no value: the question's parser reports it
    }
    if (name == "--url") {
      g.url = value;
    } else if (name == "--api-key") {
      g.api_key = value;
    }
    return used; // --config was read before parsing (find_config_arg)
  }
  return 0;
}

// The words a command takes after it, for the "did you mean" check.
std::vector<std::string> command_words(std::string_view command) {
  if (command == "cache") {
    return {"stats", "prune", "clear"};
  }
  if (command == "completion") {
    return {"bash", "zsh", "fish"};
  }
  return {};
}

// `ask cahce stats`, `ask modles`: a prompt of one or two words whose first is a misspelt
// command (and whose second, if any, is one of its words) is a typo, not a question.
std::optional<std::string> misspelt_command(const std::vector<std::string>& words) {
  if (words.empty() || words.size() > 2) {
    return std::nullopt;
  }
  const std::vector<std::string> commands(std::begin(k_commands), std::end(k_commands));
  auto command = config::closest_name(words[0], commands);
  if (!command || *command == words[0]) {
    return std::nullopt;
  }
  std::string suggestion = "ask " + *command;
  if (words.size() == 2) {
    const auto sub_words = command_words(*command);
    std::optional<std::string> sub;
    if (std::find(sub_words.begin(), sub_words.end(), words[1]) != sub_words.end()) {
      sub = words[1];
    } else {
      sub = config::closest_name(words[1], sub_words);
    }
    if (!sub) {
      return std::nullopt;
    }
    suggestion += " " + *sub;
  }
  return "\"" + words[0] + "\" is not a command; did you mean `" + suggestion +
         "`? (to ask it as a question: ask -- " + words[0] +
         (words.size() == 2 ? " " + words[1] : std::string()) + ")";
}

CompletionOption::Value completion_value(const CLI::Option& opt) {
  if (opt.get_expected_max() == 0) {
    return CompletionOption::Value::none; // a flag
  }
  std::string type = opt.get_type_name();
  type.resize(std::min(type.size(), type.find(':'))); // without a validator's ":{bash,zsh,fish}"
  if (type == "FILE") {
    return CompletionOption::Value::file;
  }
  if (type == "NAME") {
    return CompletionOption::Value::model;
  }
  if (type == "DURATION") {
    return CompletionOption::Value::duration;
  }
  if (type == "URL") {
    return CompletionOption::Value::url;
  }
  if (type == "SHELL") {
    return CompletionOption::Value::shell;
  }
  return CompletionOption::Value::text;
}

// The named options of `app`, as the completion scripts need them.
std::vector<CompletionOption> completion_options(const CLI::App& app) {
  std::vector<CompletionOption> out;
  for (const CLI::Option* opt : app.get_options()) {
    if (!opt->nonpositional()) {
      continue;
    }
    CompletionOption c;
    for (const std::string& n : opt->get_snames()) {
      c.names.push_back("-" + n);
    }
    for (const std::string& n : opt->get_lnames()) {
      c.names.push_back("--" + n);
    }
    c.help = opt->get_description();
    c.value = completion_value(*opt);
    out.push_back(std::move(c));
  }
  return out;
}

} // namespace

CompletionSpec completion_spec(const config::Config& config) {
  CompletionSpec spec;
  spec.options = completion_options(AskApp(config).app);
  for (const auto& [name, make] : k_command_apps) {
    auto c = make();
    CompletionCommand command;
    command.name = std::string(name);
    command.help = c->app.get_description();
    command.options = completion_options(c->app);
    for (const CLI::App* sub : c->app.get_subcommands({})) {
      command.subcommands.push_back(
          {sub->get_name(), sub->get_description(), completion_options(*sub), {}, {}});
    }
    for (const CLI::Option* opt : c->app.get_options()) {
      if (opt->get_positional()) {
        command.arguments = completion_value(*opt);
      }
    }
    spec.commands.push_back(std::move(command));
  }
  for (const config::Model& m : config.models) {
    spec.models.push_back(m.name);
  }
  for (const config::Council& c : config.councils) {
    spec.models.push_back(c.name);
  }
  for (const config::Alias& a : config.aliases) {
    spec.models.push_back(a.name);
  }
  return spec;
}

std::optional<std::string> find_config_arg(int argc, const char* const* argv) {
  std::optional<std::string> found;
  for (int i = 1; i < argc; ++i) {
    std::string_view a = argv[i];
    if (a == "--") {
      break;
    }
    if (a == "--config" && i + 1 < argc) {
      found = argv[++i];
    } else if (a.starts_with("--config=")) {
      found = std::string(a.substr(9));
    }
  }
  return found;
}

core::Result<Invocation> parse_command_line(int argc, const char* const* argv,
                                            const config::Config& config) {
  // The first word that is not a global option or its value decides: a command, or a question.
  Globals globals;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "--" || arg.empty()) {
      break;
    }
    if (arg.starts_with('-')) {
      const int used = read_global(arg, i + 1 < argc ? argv[i + 1] : nullptr, globals);
      if (used == 0) {
        break; // a question's option (a tier flag, -m, ...): this is a question
      }
      i += used - 1;
      continue;
    }
    for (const auto& [name, make] : k_command_apps) {
      if (arg == name) {
        auto inv =
            parse_command(name, make, std::vector<std::string>(argv + i + 1, argv + argc), globals);
        if (inv) {
          inv->ask.quiet = globals.quiet;
          inv->ask.verbose = globals.verbose;
          inv->models.url = globals.url;
          inv->models.api_key = globals.api_key;
        }
        return inv;
      }
    }
    break;
  }
  auto inv = parse_ask(argc, argv, config);
  if (inv && inv->command == Command::ask) {
    if (auto typo = misspelt_command(inv->ask.words)) {
      // `--` before the words makes them a question whatever they are.
      bool dashes = false;
      for (int i = 1; i < argc; ++i) {
        dashes = dashes || std::string_view(argv[i]) == "--";
      }
      if (!dashes) {
        return core::fail(core::Error::bad_request(*typo));
      }
    }
  }
  return inv;
}

} // namespace ask::cli
