#include "ask/cli.h"

#include <cstring>
#include <string_view>

#include <CLI/CLI.hpp>

#include "ask/exit_code.h"
#include "config/defaults.h"

namespace ask::cli {
namespace {

std::string main_footer() {
  std::string s;
  s += "The prompt is the arguments, standard input, or both: with both, the arguments come\n"
       "first, then a blank line, then the piped text:\n"
       "  git diff | ask --9b \"write a one-line commit message\"\n\n"
       "Other commands (first argument only):\n"
       "  ask stats [--since 7d] [--json]   calls, cache hits, demotions, latency per model\n"
       "  ask cache stats | prune | clear   the prompt cache\n"
       "  ask models [--json]               the logical models askd serves\n\n"
       "Environment: ASK_URL, ASK_API_KEY, ASK_CONFIG, NO_COLOR, XDG_CACHE_HOME, XDG_DATA_HOME\n\n";
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

core::Result<Invocation> parse_ask(int argc, const char* const* argv,
                                   const config::Config& config) {
  Invocation inv;
  AskOptions& o = inv.ask;
  CLI::App app("ask: one question to a local model through askd, answered on stdout.", "ask");
  app.set_help_flag(); // ours below, so that tier flags and the footer come with it
  bool help = false;
  bool version = false;
  app.add_flag("-h,--help", help, "Print this help and exit");
  app.add_flag("--version", version, "Print the version and exit");

  std::vector<bool> tier_set(config.tiers.size(), false);
  std::vector<CLI::Option*> tier_opts;
  for (std::size_t i = 0; i < config.tiers.size(); ++i) {
    const config::Tier& t = config.tiers[i];
    std::string desc = "Ask " + t.target;
    if (t.flag == config.default_tier) {
      desc += " (the default)";
    }
    auto* opt = app.add_flag_callback("--" + t.flag, [&tier_set, i] { tier_set[i] = true; }, desc);
    opt->group("Tiers (from the config)");
    tier_opts.push_back(opt);
  }
  app.add_option("-m,--model", o.model, "Any logical model, council or alias")
      ->type_name("NAME");
  app.add_option("-s,--system", o.system, "A system prompt")->type_name("TEXT");
  app.add_option("--temperature", o.temperature, "Sampling temperature")
      ->type_name("T")
      ->check(CLI::Range(0.0, 2.0));
  app.add_option("--max-tokens", o.max_tokens, "Longest answer, in tokens")
      ->type_name("N")
      ->check(CLI::Range(1LL, 10'000'000LL));
  app.add_flag("--json", o.json, "Print askd's whole OpenAI response as JSON");
  std::string timeout_text;
  app.add_option("--timeout", timeout_text, "Give up after this long (\"90s\", \"5m\"); exit 5")
      ->type_name("DURATION");
  app.add_option("--url", o.url,
                 "askd's address (default $ASK_URL, else " + std::string(k_default_askd_url) + ")")
      ->type_name("URL");
  app.add_option("--api-key", o.api_key, "askd's API key (default $ASK_API_KEY)")
      ->type_name("KEY");
  app.add_flag("--no-cache", o.no_cache, "Neither read nor write the prompt cache");
  app.add_flag("--refresh", o.refresh, "Ask again and store the new answer in the cache");
  app.add_flag("--show-thinking", o.show_thinking, "Show the model's reasoning (on stderr)");
  app.add_flag("-v,--verbose", o.verbose, "Say on stderr who answered, how, and how fast");
  app.add_flag("-q,--quiet", o.quiet, "No progress line or notes (degradation is still said)");
  std::string config_path;
  app.add_option("--config", config_path, "The config file (default $ASK_CONFIG, else "
                                          "~/.config/ask/config.jsonc, else built-in)")
      ->type_name("FILE");
  app.add_option("prompt", o.words, "The question (quote it, or pipe text in)")
      ->type_name("TEXT");
  app.footer(main_footer());

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
  if (help) {
    inv.command = Command::help;
    inv.text = app.help();
    return inv;
  }
  if (version) {
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
  if (o.no_cache && o.refresh) {
    return core::fail(core::Error::bad_request(
        "--no-cache and --refresh contradict each other (--refresh writes the cache)"));
  }
  if (!timeout_text.empty()) {
    auto t = parse_timeout(timeout_text);
    if (!t) {
      return core::fail(t.error());
    }
    o.timeout = *t;
  }
  return inv;
}

// Parses a subcommand's own App (argv[1] is the subcommand's name); --help leaves its help
// text in `inv`. Every subcommand also takes --config (read before parsing, see cli.h).
core::Result<void> parse_subcommand(CLI::App& app, int argc, const char* const* argv,
                                    Invocation& inv) {
  std::string config_path;
  app.add_option("--config", config_path, "The config file")->type_name("FILE");
  try {
    app.parse(argc - 1, argv + 1);
  } catch (const CLI::CallForHelp&) {
    inv.command = Command::help;
    inv.text = app.help();
  } catch (const CLI::ParseError& e) {
    return core::fail(usage_error(e));
  }
  return {};
}

core::Result<Invocation> parse_stats(int argc, const char* const* argv) {
  Invocation inv;
  inv.command = Command::stats;
  CLI::App app("ask stats: what the telemetry log says about each model: calls, where they "
               "were served, cache hits, demotions, latency, errors.",
               "ask stats");
  app.add_option("--since", inv.stats.since,
                 "Only calls in the last DURATION (\"7d\", \"24h\") or since a date (YYYY-MM-DD)")
      ->type_name("WHEN");
  app.add_option("--until", inv.stats.until, "Only calls before this (same forms)")
      ->type_name("WHEN");
  app.add_flag("--json", inv.stats.json, "Print the summary as JSON");
  if (auto parsed = parse_subcommand(app, argc, argv, inv); !parsed) {
    return core::fail(parsed.error());
  }
  return inv;
}

core::Result<Invocation> parse_cache(int argc, const char* const* argv) {
  Invocation inv;
  CLI::App app("ask cache: the prompt cache (a SQLite file; see docs/cache.md).", "ask cache");
  app.require_subcommand(1);
  auto* stats = app.add_subcommand("stats", "Entries, size, age, per model");
  auto* prune = app.add_subcommand("prune", "Delete expired entries and compact the file");
  auto* clear = app.add_subcommand("clear", "Delete every entry");
  std::string config_path;
  for (auto* sub : {stats, prune, clear}) {
    sub->add_option("--config", config_path, "The config file")->type_name("FILE");
  }
  if (auto parsed = parse_subcommand(app, argc, argv, inv); !parsed) {
    return core::fail(parsed.error());
  }
  if (inv.command == Command::help) {
    return inv;
  }
  inv.command = stats->parsed()   ? Command::cache_stats
                : prune->parsed() ? Command::cache_prune
                                  : Command::cache_clear;
  return inv;
}

core::Result<Invocation> parse_models(int argc, const char* const* argv) {
  Invocation inv;
  inv.command = Command::models;
  CLI::App app("ask models: the logical models askd serves, with their state where askd "
               "knows it.",
               "ask models");
  app.add_option("--url", inv.models.url, "askd's address (default $ASK_URL)")->type_name("URL");
  app.add_option("--api-key", inv.models.api_key, "askd's API key (default $ASK_API_KEY)")
      ->type_name("KEY");
  app.add_flag("--json", inv.models.json, "Print askd's answer as JSON");
  if (auto parsed = parse_subcommand(app, argc, argv, inv); !parsed) {
    return core::fail(parsed.error());
  }
  return inv;
}

} // namespace

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
  if (argc >= 2) {
    std::string_view first = argv[1];
    if (first == "stats") {
      return parse_stats(argc, argv);
    }
    if (first == "cache") {
      return parse_cache(argc, argv);
    }
    if (first == "models") {
      return parse_models(argc, argv);
    }
  }
  return parse_ask(argc, argv, config);
}

} // namespace ask::cli
