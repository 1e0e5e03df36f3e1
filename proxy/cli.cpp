#include "proxy/cli.h"

#include <iostream>
#include <optional>
#include <string>

#include <CLI/CLI.hpp>

#include "config/config.h"
#include "proxy/app.h"
#include "proxy/plan.h"
#include "router/inventory.h"

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
  GET  /ui/                   the operator page: models, GPUs, instances, requests, events
                              (its files from $ASK_UI_DIR instead of the built-in copy)

Subcommands:
  plan MODEL       estimate a GGUF model's memory and place it on this machine's GPUs
                   (askd plan --help)

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

constexpr const char* k_plan_footer = R"(
MODEL is a .gguf file (the first part of a split model is enough) or the name of a
llama-server model in the config, whose settings (ctx, parallel, kv_cache_type, batch,
ubatch, kv_unified, swa_full, kv_offload, mmap, override_tensors, n_cpu_moe, mmproj, gpus,
preset backend, draft or mtp) are used unless the options here override them (--draft
replaces the model's mtp and --mtp its draft: llama-server runs one draft context).
What neither sets is llama-server's own default, and the report marks it so: without
--parallel, 4 slots sharing one KV cache (llama-server's "auto"), passed as -np 4 -kvu.

The GPUs are probed (nvidia-smi, rocm-smi or amdgpu sysfs, vulkaninfo, xpu-smi) and merged
with the config's "gpus" section; --gpu describes a machine instead (any number of times;
its GPUs are gpu0, gpu1, … for --gpus, and a config model's own pins are ignored).
Host memory (/proc/meminfo, the installed size where there is no /proc, or the config's
gpus.host) must hold the plan's host buffers and the layers kept there; with --gpu it is not
checked unless --host-memory gives it. --rpc adds an llama.cpp rpc-server's device
(ggml-rpc-server): layers go there when the local GPUs cannot hold the model, and the plan
says what crosses the network per token. Without =SIZE (and no size in the config's gpus.rpc)
the server is asked with a preset's `llama-server --rpc HOST:PORT --list-devices`; a CPU
server reports its machine's whole memory.

The last line printed is the environment and llama-server command that realise the plan,
ready to paste; its flags follow llama-server b10587 (2026-08).

Exit status: 0 it fits, 1 it does not (the shortfall per GPU is printed), 2 bad input.
The formulas behind every figure: docs/vram.md.

Examples:
  askd plan ~/models/Qwen3-30B-A3B-Q4_K_M.gguf --ctx 32768 --parallel 2 --kv q8_0
  askd plan coder-30b --gpu vulkan:0:32GiB --gpu vulkan:1:32GiB
  askd plan model.gguf --backend rocm --gpus r9700-a,r9700-b --json
  askd plan model.gguf --ctx 8192 --measured llama-server-startup.log
  askd plan moe.gguf --ubatch 2048 --override-tensor 'blk\.[0-9]\.ffn_.*_exps=CPU'
  askd plan llama-70b.gguf --backend cpu --rpc 10.0.0.2:50052=48GiB --rpc 10.0.0.3:50052=48GiB
)";

CLI::App* add_plan_command(CLI::App& app, PlanOptions& p) {
  CLI::App* cmd = app.add_subcommand(
      "plan", "Estimate a model's memory and place it on this machine's GPUs (nothing is loaded)");
  cmd->footer(k_plan_footer);
  cmd->fallthrough(); // --config may come after MODEL
  cmd->add_option("MODEL", p.target, "A .gguf file, or a llama-server model of the config")
      ->required();
  cmd->add_option("--ctx,-c", p.ctx, "Context tokens over all slots (0 = the model's own)")
      ->check(CLI::Range(0, 1 << 24));
  cmd->add_option("--parallel", p.parallel, "Slots: requests served at once")
      ->check(CLI::Range(1, 256));
  cmd->add_option("--kv", p.kv, "KV cache type for K and V: f16, q8_0, q4_0, …");
  cmd->add_option("--kv-k", p.kv_k, "KV cache type for K only");
  cmd->add_option("--kv-v", p.kv_v, "KV cache type for V only");
  cmd->add_option("--flash-attn", p.flash_attn, "on, off or auto (auto counts as on)");
  cmd->add_option("--ngl", p.n_gpu_layers,
                  "Layers on GPUs, as llama-server's -ngl: the output layer counts as one, so "
                  "N keeps the last N-1 repeating layers (-1 = all)")
      ->check(CLI::Range(-1, 100000));
  cmd->add_option("--n-cpu-moe", p.n_cpu_moe, "Keep the experts of the first N layers in host memory")
      ->check(CLI::Range(0, 100000));
  cmd->add_option("--batch", p.batch, "Logical batch size, llama-server's -b (default 2048)")
      ->check(CLI::Range(1, 1 << 24));
  cmd->add_option("--ubatch", p.ubatch, "Physical batch size, llama-server's -ub (default 512)")
      ->check(CLI::Range(1, 1 << 24));
  auto* unified = cmd->add_flag_callback(
      "--kv-unified", [&p] { p.kv_unified = true; },
      "One KV cache shared by the slots (default: on when --parallel is not given)");
  auto* separate = cmd->add_flag_callback(
      "--no-kv-unified", [&p] { p.kv_unified = false; }, "A KV cache per slot");
  unified->excludes(separate);
  separate->excludes(unified);
  cmd->add_flag("--swa-full", p.swa_full, "Sliding-window layers keep a full-size KV cache");
  cmd->add_option("--override-tensor", p.override_tensors,
                  "Keep the tensors whose name matches PATTERN in host memory (llama-server's "
                  "-ot; any number of times, or comma-separated; replaces the model's)")
      ->type_name("PATTERN=CPU");
  cmd->add_flag("--no-kv-offload", p.no_kv_offload, "Keep the KV cache in host memory (-nkvo)");
  cmd->add_flag("--no-mmap", p.no_mmap, "Read the weights into memory instead of mapping them");
  cmd->add_option("--draft", p.draft,
                  "Speculative-decoding draft model (.gguf), or auto: the smallest compatible "
                  ".gguf beside the model");
  cmd->add_flag("--mtp", p.mtp,
                "Draft with the model's own MTP layers (llama-server --spec-type draft-mtp)");
  cmd->add_option("--mmproj", p.mmproj, "Multimodal projector (.gguf)");
  cmd->add_option("--gpus", p.gpus, "Only these GPU ids (comma-separated)")->delimiter(',');
  cmd->add_option("--backend", p.backend,
                  "GPU API of the llama-server build: cuda, rocm, vulkan, sycl, cpu "
                  "(default: the model's preset, else the first API the GPUs have)");
  cmd->add_option("--gpu", p.declare,
                  "Declare a GPU instead of probing: API:INDEX:SIZE[:FREE], e.g. vulkan:0:32GiB")
      ->type_name("SPEC");
  cmd->add_option("--rpc", p.rpc,
                  "An llama.cpp rpc-server's device to place on, instead of the config's "
                  "gpus.rpc (any number of times; SIZE is what it may use, else the config's, "
                  "else what the server reports)")
      ->type_name("HOST:PORT[=SIZE]");
  cmd->add_option("--host-memory", p.host_memory,
                  "Host memory instead of reading this machine's: SIZE[:FREE], e.g. 64GiB")
      ->type_name("SIZE[:FREE]");
  cmd->add_option("--measured", p.measured,
                  "Compare with this model's llama-server startup log (its buffer sizes)")
      ->type_name("LOG");
  cmd->add_flag("--allow-partial", p.allow_partial,
                "Keep the first layers in host memory when the GPUs are too small");
  cmd->add_flag("--json", p.json, "Print JSON instead of text");
  return cmd;
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
  PlanOptions plan;
  CLI::App* plan_cmd = add_plan_command(app, plan);
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
  if (plan_cmd->parsed()) {
    auto loaded = load(opts, err, env);
    if (!loaded) {
      return k_exit_usage;
    }
    print_diagnostics(loaded->warnings, err);
    return run_plan(plan, loaded->config, out, err, router::system_tool_runner());
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
  serve_opts.state_dir = core::XdgDirs::from_env(env).ask_state();
  serve_opts.ui_dir = env("ASK_UI_DIR").value_or("");
  return serve(std::move(*loaded), serve_opts, err);
}

int askd_main(int argc, char** argv) {
  return run_askd(argc, argv, std::cout, std::cerr, core::process_env());
}

} // namespace ask::proxy
