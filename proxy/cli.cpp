#include "proxy/cli.h"

#include <iostream>
#include <optional>
#include <string>

#include <CLI/CLI.hpp>

#include "config/config.h"
#include "proxy/app.h"

namespace ask::proxy {

namespace {

constexpr const char* k_footer = R"(
Configuration file, first found of:
  1. --config FILE (or the FILE given to --check-config)
  2. $ASK_CONFIG
  3. $XDG_CONFIG_HOME/ask/config.jsonc (default ~/.config/ask/config.jsonc)
  4. the built-in defaults: one Ollama at http://127.0.0.1:11434 and the eight models
     of examples/config.jsonc
A file named by 1 or 2 must exist; a missing file at 3 falls through to 4.
The format and every key: docs/config.md.

Exit status:
  0  success: stopped by SIGINT/SIGTERM, or --check-config found the config valid
     (warnings may have been printed)
  1  askd could not do its work (e.g. the address is in use)
  2  bad command line, an invalid config (each error printed on stderr as
     "error: FILE:LINE: KEY.PATH: message"), or an address beyond loopback
     without api_keys

Endpoints (OpenAI-compatible; docs/operations.md):
  POST /v1/chat/completions   streaming and not; X-Served-By names the model that answered
  GET  /v1/models             logical models, councils and aliases
  GET  /health                200 while askd runs
  GET  /metrics               Prometheus text

Examples:
  askd                                     serve with the config found as above
  askd --config examples/config.jsonc --listen 127.0.0.1:0
  askd --check-config                      check the config askd would use
  askd --check-config examples/config.jsonc
)";

struct Options {
  std::optional<std::string> config;
  bool check = false;
  std::optional<std::string> check_file;
};

void print_diagnostics(const std::vector<config::Diagnostic>& diags, std::ostream& err) {
  for (const config::Diagnostic& d : diags) {
    err << (d.severity == config::Severity::error ? "error: " : "warning: ") << d.to_string()
        << '\n';
  }
}

// Loads the config the options name; prints its errors and returns nullopt when invalid.
std::optional<config::LoadedConfig> load(const Options& opts, std::ostream& err,
                                         const core::EnvLookup& env) {
  config::LoadOptions load;
  load.env = env;
  if (opts.check_file) {
    load.explicit_path = *opts.check_file;
  } else if (opts.config) {
    load.explicit_path = *opts.config;
  }
  auto loaded = config::load_config(load);
  if (!loaded) {
    print_diagnostics(loaded.error().diagnostics, err);
    return std::nullopt;
  }
  return std::move(*loaded);
}

int check_config(const Options& opts, std::ostream& out, std::ostream& err,
                 const core::EnvLookup& env) {
  auto loaded = load(opts, err, env);
  if (!loaded) {
    return k_exit_usage;
  }
  print_diagnostics(loaded->warnings, err);
  out << "config OK: " << loaded->source << '\n' << config::to_json(loaded->config).dump(2) << '\n';
  return k_exit_ok;
}

} // namespace

int run_askd(int argc, const char* const* argv, std::ostream& out, std::ostream& err,
             const core::EnvLookup& env) {
  CLI::App app("askd: an OpenAI-compatible proxy for local models, with fallback chains "
               "across model families",
               "askd");
  app.footer(k_footer);
  app.set_version_flag("--version", std::string("askd ") + ASK_VERSION);
  Options opts;
  std::string config_path;
  std::string check_path;
  auto* config_opt = app.add_option("--config", config_path, "Read the configuration from FILE")
                         ->type_name("FILE");
  auto* check_opt =
      app.add_option("--check-config", check_path,
                     "Check the configuration (FILE, or the one askd would use), print it "
                     "resolved, and exit")
          ->type_name("[FILE]")
          ->expected(0, 1);
  ServeOptions serve_opts;
  std::string listen;
  std::string request_log;
  auto* listen_opt =
      app.add_option("--listen", listen,
                     "Listen on HOST:PORT instead of the config's \"listen\" (port 0: any free "
                     "port; the address is printed)")
          ->type_name("HOST:PORT");
  app.add_option("--log-level", serve_opts.log_level,
                 "trace, debug, info, warn, error or off (default info; requests are logged "
                 "at debug, fallbacks and failures at warn)")
      ->type_name("LEVEL");
  auto* request_log_opt =
      app.add_option("--request-log", request_log,
                     "Write the request log (one JSON line per request) to FILE, or \"off\"; "
                     "default: the config's telemetry.askd_log")
          ->type_name("FILE");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e, out, err) == 0 ? k_exit_ok : k_exit_usage;
  }
  if (config_opt->count() > 0) {
    opts.config = config_path;
  }
  opts.check = check_opt->count() > 0;
  if (opts.check && !check_path.empty()) {
    opts.check_file = check_path;
  }
  if (opts.config && opts.check_file && *opts.config != *opts.check_file) {
    err << "askd: --config " << *opts.config << " and --check-config " << *opts.check_file
        << " name different files; give one\n";
    return k_exit_usage;
  }
  if (opts.check) {
    return check_config(opts, out, err, env);
  }
  auto loaded = load(opts, err, env);
  if (!loaded) {
    return k_exit_usage;
  }
  if (listen_opt->count() > 0) {
    serve_opts.listen = listen;
  }
  if (request_log_opt->count() > 0) {
    serve_opts.request_log = request_log;
  }
  return serve(std::move(*loaded), serve_opts, err);
}

int askd_main(int argc, char** argv) {
  return run_askd(argc, argv, std::cout, std::cerr, core::process_env());
}

} // namespace ask::proxy
