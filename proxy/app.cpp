#include "proxy/app.h"

#include <csignal>
#include <pthread.h>
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <optional>
#include <thread>

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include "config/config.h"
#include "core/clock.h"
#include "proxy/cli.h"
#include "proxy/managed_router.h"
#include "proxy/server.h"
#include "router/host_devices.h"
#include "router/llama_build.h"
#include "router/placement.h"

namespace ask::proxy {

namespace {

void setup_logging(const std::string& level) {
  auto logger = spdlog::stderr_color_mt("askd");
  logger->set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ %v");
  logger->set_level(spdlog::level::from_str(level));
  spdlog::set_default_logger(logger);
}

// A proxy holds two descriptors per stream (client and backend): raise the soft limit on
// open files to the hard one, as servers do, so that the default 1024 is not the ceiling.
void raise_open_file_limit() {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    setrlimit(RLIMIT_NOFILE, &limit);
  }
}

// SIGINT and SIGTERM stop askd; SIGHUP reloads the config.
sigset_t handled_signals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGHUP);
  return set;
}

// What the GPU tools say is free now (unless the GPUs are only declared), and host memory's
// MemAvailable (unless its size is declared), for the scheduler's periodic re-reading.
GpuReading read_free_memory(const config::GpuConfig& gpus) {
  // A short limit: a hung tool must not hold the reading back for long.
  static const router::ToolRunner runner = router::system_tool_runner(std::chrono::seconds(3));
  GpuReading out;
  if (gpus.probe) {
    for (const router::Gpu& g : router::probe(gpus, runner).gpus) {
      if (g.free_bytes) {
        out.emplace_back(g.id, *g.free_bytes);
      }
    }
  }
  if (!gpus.host.memory) {
    if (const auto host = router::read_meminfo(); host && host->available) {
      out.emplace_back(std::string(router::k_host_id), *host->available);
    }
  }
  return out;
}

// The llama.cpp build of every preset's binary: what the inventory asked (GPU presets),
// else `BINARY --version` alone (a CPU build has no devices to list). Logged once each; a
// binary that does not answer is an unknown build.
std::map<std::string, int, std::less<>> preset_builds(const config::Config& cfg,
                                                      const router::Inventory& inventory) {
  std::map<std::string, int, std::less<>> out;
  const router::ToolRunner run = router::system_tool_runner(std::chrono::seconds(5));
  for (const config::Preset& p : cfg.presets) {
    const std::string binary = p.binary.string();
    std::optional<core::Result<router::LlamaVersion>> version;
    for (const router::LlamaBuild& b : inventory.builds) {
      if (b.binary == binary) {
        version = b.version;
      }
    }
    if (!version) {
      auto text = run(router::ToolCommand({binary, "--version"}, p.env, true));
      version = text ? router::parse_llama_version(*text)
                     : core::Result<router::LlamaVersion>(core::fail(std::move(text.error())));
    }
    if (*version) {
      out[p.name] = static_cast<int>((*version)->build);
      spdlog::info("preset {}: {} is llama.cpp build {} ({})", p.name, binary, (*version)->build,
                   (*version)->commit.empty() ? "commit unknown" : (*version)->commit);
    } else {
      spdlog::warn("preset {}: the llama.cpp build of {} is unknown ({}); memory estimates "
                   "assume b{}",
                   p.name, binary, version->error().message, router::k_recorded_build);
    }
  }
  return out;
}

std::unique_ptr<ModelRouter> make_router(const config::Config& cfg, const core::Clock& clock,
                                         const std::filesystem::path& state_dir) {
  const bool managed = std::any_of(cfg.models.begin(), cfg.models.end(),
                                   [](const config::Model& m) { return m.managed.has_value(); });
  if (!managed) {
    return std::make_unique<UnavailableRouter>();
  }
  router::Inventory inventory = router::probe(cfg.gpus, router::system_tool_runner(),
                                              router::k_sysfs_drm, router::llama_binaries(cfg));
  // rpc devices without a declared memory: asked once, 5 s each at most (docs/inventory.md).
  router::add_rpc_devices(
      inventory, cfg.gpus.rpc, cfg.gpus.reserve,
      router::ask_rpc_servers(cfg.gpus.rpc, router::rpc_binaries(cfg),
                              router::system_tool_runner(std::chrono::seconds(5))));
  router::add_host(inventory, cfg.gpus.host, router::read_meminfo());
  for (const std::string& w : inventory.warnings) {
    spdlog::warn("gpus: {}", w);
  }
  for (const router::Gpu& g : inventory.gpus) {
    switch (g.kind) {
    case router::DeviceKind::gpu:
      spdlog::info("gpu {}: {} ({} usable of {}{})", g.id, g.name, router::human_bytes(g.cap_bytes),
                   router::human_bytes(g.total_bytes),
                   g.unified ? ", unified: charged to host memory too" : "");
      break;
    case router::DeviceKind::rpc:
      spdlog::info("rpc {}: device {} of {} ({} usable)", g.id, g.rpc_device, g.endpoint,
                   router::human_bytes(g.cap_bytes));
      break;
    case router::DeviceKind::host:
      spdlog::info("host memory: {} total, {} usable now (cap {}, reserve {}; {})",
                   router::human_bytes(g.total_bytes), router::human_bytes(g.usable_bytes()),
                   router::human_bytes(g.cap_bytes), router::human_bytes(g.reserve_bytes),
                   g.free_bytes ? "MemAvailable read every 5 s" : "declared: not read");
      break;
    }
  }
  ManagedRouterOptions options;
  options.preset_builds = preset_builds(cfg, inventory);
  // Beside askd's request log: $XDG_STATE_HOME/ask/llama-server/MODEL-ID.log.
  if (!cfg.telemetry.askd_log.empty()) {
    options.log_dir = cfg.telemetry.askd_log.parent_path() / "llama-server";
  }
  if (!state_dir.empty()) { // measured memory, kept across restarts (docs/vram.md)
    options.calibration_file = state_dir / "calibration.json";
  }
  // Declared GPUs and a declared host size have nothing to read: our accounting alone.
  if (cfg.gpus.probe || !cfg.gpus.host.memory) {
    options.gpu_reader = [gpus = cfg.gpus] { return read_free_memory(gpus); };
  }
  return std::make_unique<ManagedRouter>(cfg, std::move(inventory), clock, options);
}

// What a reload changes in the listener: the API keys are applied; the address, the request
// size limit and the server section need a restart. Adds to `report`.
void reload_listener(const config::Config& fresh, const config::Config& running,
                     bool listen_overridden, ProxyServer& server, ReloadReport& report) {
  const std::vector<config::ApiKey>& keys = fresh.listen.api_keys;
  if (keys.empty() && !running.listen.is_loopback()) {
    report.problems.push_back("api_keys: the file has none, and askd listens on " +
                              running.listen.to_string() +
                              " beyond loopback: the keys in use stay until a restart");
  } else {
    const ProxyServer::KeyChange change = server.set_api_keys(keys);
    std::string added;
    for (std::size_t i : change.added) { // where each new key is in the file; never the key
      added += (added.empty() ? "" : ", ") + ("api_keys[" + std::to_string(i) + "]") +
               (keys[i].env_var.empty() ? "" : " (env:" + keys[i].env_var + ")") +
               (keys[i].file.empty() ? "" : " (file:" + keys[i].file.string() + ")");
    }
    if (change.added.empty() && change.removed == 0) {
      spdlog::info("reload: api_keys unchanged ({} accepted)", keys.size());
    } else {
      report.applied.push_back(
          "api_keys: " + std::to_string(keys.size()) + " accepted; " +
          (added.empty() ? "none new" : "new: " + added) + "; " +
          std::to_string(change.removed) + " no longer accepted; " +
          std::to_string(change.kept) + " unchanged");
    }
  }
  if (!listen_overridden && fresh.listen.to_string() != running.listen.to_string()) {
    report.restart.push_back("listen: " + fresh.listen.to_string() + " (askd listens on " +
                             running.listen.to_string() + ")");
  }
  if (fresh.listen.max_request_body != running.listen.max_request_body) {
    report.restart.push_back("max_request_body");
  }
  const config::Json fresh_server = config::to_json(fresh)["server"];
  const config::Json running_server = config::to_json(running)["server"];
  for (const auto& [key, value] : fresh_server.items()) {
    if (running_server.value(key, config::Json()) != value) {
      report.restart.push_back("server." + key);
    }
  }
}

// SIGHUP: the config file is read again and what can change while askd runs is applied
// (the API keys, the managed models' settings); the rest is named as needing a restart.
void reload(const config::LoadedConfig& loaded, const config::Config& running,
            bool listen_overridden, ModelRouter& router, ProxyServer& server) {
  if (!loaded.path) {
    spdlog::info("reload: askd runs on the built-in defaults; there is no file to read again");
    return;
  }
  config::LoadOptions load;
  load.explicit_path = *loaded.path;
  auto fresh = config::load_config(load);
  if (!fresh) {
    spdlog::error("reload: {} is not applied; askd runs on as it was:", loaded.path->string());
    for (const config::Diagnostic& d : fresh.error().diagnostics) {
      spdlog::error("config: {}", d.to_string());
    }
    return;
  }
  for (const config::Diagnostic& d : fresh->warnings) {
    spdlog::warn("config: {}", d.to_string());
  }
  ReloadReport report;
  reload_listener(fresh->config, running, listen_overridden, server, report);
  fresh->config.listen = running.listen; // applied above, or needing a restart
  fresh->config.server = running.server;
  if (auto* managed = dynamic_cast<ManagedRouter*>(&router)) {
    ReloadReport models = managed->reload(fresh->config);
    for (auto list : {&ReloadReport::applied, &ReloadReport::restart, &ReloadReport::problems}) {
      (report.*list).insert((report.*list).end(), (models.*list).begin(), (models.*list).end());
    }
  } else {
    spdlog::info("reload: askd manages no llama-server models; changes to models, backends "
                 "and councils need a restart");
  }
  for (const std::string& a : report.applied) {
    spdlog::info("reload: applied: {}", a);
  }
  for (const std::string& r : report.restart) {
    spdlog::warn("reload: needs a restart of askd: {}", r);
  }
  for (const std::string& p : report.problems) {
    spdlog::warn("reload: {}", p);
  }
  spdlog::info("reload: {} done: {} applied, {} need a restart, {} problems",
               loaded.path->string(), report.applied.size(), report.restart.size(),
               report.problems.size());
}

} // namespace

int serve(config::LoadedConfig loaded, const ServeOptions& options, std::ostream& err) {
  config::Config& cfg = loaded.config;
  if (options.listen) {
    auto address = config::parse_listen_address(*options.listen);
    if (!address) {
      err << "askd: --listen: " << address.error().message << '\n';
      return k_exit_usage;
    }
    cfg.listen.host = address->first;
    cfg.listen.port = address->second;
  }
  if (!cfg.listen.is_loopback() && cfg.listen.api_keys.empty()) {
    err << "askd: refusing to listen on " << cfg.listen.to_string()
        << " without api_keys: anyone who can reach it could use your models (add "
           "\"api_keys\" to the config, or listen on 127.0.0.1)\n";
    return k_exit_usage;
  }
  const auto level = spdlog::level::from_str(options.log_level);
  if (level == spdlog::level::off && options.log_level != "off") {
    err << "askd: --log-level: expected trace, debug, info, warn, error, critical or off\n";
    return k_exit_usage;
  }
  setup_logging(options.log_level);
  raise_open_file_limit();

  std::optional<std::filesystem::path> log_path;
  if (options.request_log) {
    if (*options.request_log != "off") {
      log_path = *options.request_log;
    }
  } else if (cfg.telemetry.enabled) {
    log_path = cfg.telemetry.askd_log;
  }

  // Signals go to one thread that stops the server; every other thread blocks them. The
  // broken-pipe signal is ignored: a client that goes away is noticed by write errors.
  std::signal(SIGPIPE, SIG_IGN);
  sigset_t signals = handled_signals();
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  core::SystemClock clock;
  RequestLog request_log(log_path);
  // llama-server models: the GPUs are probed (or declared) once, at start.
  std::unique_ptr<ModelRouter> router = make_router(cfg, clock, options.state_dir);
  // Runtime aliases (PUT /api/aliases) outlive a restart beside the calibrations.
  ProxyServer server(
      cfg, *router, request_log, clock,
      {options.state_dir.empty() ? std::filesystem::path() : options.state_dir / "aliases.json",
       options.ui_dir});
  auto port = server.listen(cfg.listen.host, cfg.listen.port);
  if (!port) {
    err << "askd: cannot listen on " << cfg.listen.to_string() << ": " << port.error().message
        << '\n';
    return k_exit_failure;
  }
  for (const config::Diagnostic& d : loaded.warnings) {
    spdlog::warn("config: {}", d.to_string());
  }
  const bool v6 = cfg.listen.host.find(':') != std::string::npos;
  const std::string url = "http://" + (v6 ? "[" + cfg.listen.host + "]" : cfg.listen.host) + ":" +
                          std::to_string(*port);
  spdlog::info("askd {} listening on {} ({} models, config {}, request log {})", ASK_VERSION, url,
               cfg.models.size(), loaded.source,
               log_path ? log_path->string() : std::string("off"));
  if (auto* managed = dynamic_cast<ManagedRouter*>(router.get())) {
    for (const std::string& problem : managed->problems()) {
      spdlog::warn("managed model {}", problem);
    }
    for (const core::Error& e : managed->preload()) {
      spdlog::warn("preload: {}", e.message);
    }
  }
  // Tests and scripts wait for this exact line on stderr.
  err << "askd: listening on " << url << std::endl;

  std::thread waiter([&] {
    int sig = 0;
    while (sigwait(&signals, &sig) == 0 && sig == SIGHUP) {
      spdlog::info("askd: SIGHUP: reading {} again", loaded.source);
      reload(loaded, cfg, options.listen.has_value(), *router, server);
    }
    spdlog::info("askd: signal {}, stopping", sig);
    server.stop();
  });
  server.serve();
  // serve() returns only after stop(); make sure the waiter is not left blocked. SIGTERM is
  // what its sigwait() waits for: this wakes it, it does not kill it.
  pthread_kill(waiter.native_handle(), SIGTERM); // NOLINT(bugprone-bad-signal-to-kill-thread)
  waiter.join();
  spdlog::info("askd: stopped");
  spdlog::shutdown();
  return k_exit_ok;
}

} // namespace ask::proxy
