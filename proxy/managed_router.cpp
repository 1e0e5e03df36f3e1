#include "proxy/managed_router.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>

#include <spdlog/spdlog.h>

#include "core/gguf.h"
#include "core/sha256.h"
#include "router/draft.h"
#include "router/estimate.h"

namespace ask::proxy {

using router::EventRecord;

namespace {

constexpr const char* k_host = "127.0.0.1";

// The exclusive group `model` belongs to, "" for none.
std::string group_of(const config::Config& config, const std::string& model) {
  for (const config::Group& g : config.groups) {
    if (g.exclusive && std::find(g.members.begin(), g.members.end(), model) != g.members.end()) {
      return g.name;
    }
  }
  return "";
}

// What a calibration of this model holds for: every part of the model file, the build and
// binary, and the settings that change memory (the estimator's, the API, the draft file, and
// the arguments and environment askd does not read, hashed: they may hold an API key).
router::CalibrationKey calibration_key(const std::vector<std::filesystem::path>& parts,
                                       const std::optional<config::Preset>& preset,
                                       const router::EstimateInput& input,
                                       const router::ServerFiles& files,
                                       const config::ManagedSpec& spec) {
  router::CalibrationKey key;
  for (const std::filesystem::path& p : parts) {
    key.model.push_back(router::identify_file(p).value_or(router::FileIdentity{p.string()}));
  }
  key.build = input.build;
  if (preset) {
    // The PATH the supervisor searches: the preset's, else askd's own.
    const char* own = std::getenv("PATH");
    std::string path_var = own != nullptr ? own : "/usr/local/bin:/usr/bin:/bin";
    std::string process;
    for (const std::string& a : preset->args) {
      process += a + '\0';
    }
    for (const auto& [k, v] : preset->env) {
      process += k + '=' + v + '\0';
      if (k == "PATH") {
        path_var = v;
      }
    }
    key.binary = router::identify_binary(preset->binary, path_var);
    process += '\0';
    for (const std::string& a : spec.extra_args) {
      process += a + '\0';
    }
    key.settings = router::memory_settings(input);
    key.settings["args_sha256"] = core::sha256_hex(process);
  } else {
    key.settings = router::memory_settings(input);
  }
  key.settings["api"] = std::string(config::to_string(preset ? preset->api : config::GpuApi::cpu));
  // The draft and projector files, like the model's: replaced, they are another calibration.
  const auto file_json = [](const std::filesystem::path& p) -> core::Json {
    if (p.empty()) {
      return nullptr;
    }
    const auto id = router::identify_file(p).value_or(router::FileIdentity{p.string()});
    return {{"path", id.path}, {"size", id.size}, {"mtime_ns", id.mtime_ns}};
  };
  key.settings["draft"] = file_json(files.draft);
  key.settings["projector"] = file_json(files.projector);
  return key;
}

} // namespace

// --- the Spawner the scheduler drives: argv, port, environment, log file -----------------

class ManagedRouter::Spawner final : public router::Spawner {
public:
  explicit Spawner(ManagedRouter& owner) : m_owner(owner) {}

  // Called by the scheduler with m_mutex held; Supervisor::launch never calls back inline.
  void start(router::InstanceId id, const router::ModelSpec& spec,
             const router::Plan& plan) override {
    const Managed& mm = m_owner.m_managed.at(spec.name);
    router::LaunchSpec launch;
    launch.binary = mm.preset ? mm.preset->binary : "llama-server";
    // Verbosity 4 makes llama-server log its buffer sizes (3, the default, does not): the
    // measured memory. First, so that a -lv in the preset or extra_args wins.
    launch.args = {"-lv", "4"};
    if (mm.preset) {
      launch.args.insert(launch.args.end(), mm.preset->args.begin(), mm.preset->args.end());
      launch.env = mm.preset->env;
    }
    const auto port = router::free_loopback_port();
    if (!port) { // the load then times out and its requests fail: say why now
      spdlog::error("no free loopback port for {} (instance {}): {}", spec.name, id,
                    port.error().message);
    }
    launch.port = port.value_or(0);
    const std::vector<std::string> args =
        router::server_args(mm.files, mm.input, spec.estimate, plan);
    launch.args.insert(launch.args.end(), args.begin(), args.end());
    for (const std::string& a : {std::string("--host"), std::string(k_host), std::string("--port"),
                                 std::to_string(launch.port), std::string("-a"),
                                 mm.model.upstream}) {
      launch.args.push_back(a);
    }
    launch.args.insert(launch.args.end(), mm.model.managed->extra_args.begin(),
                       mm.model.managed->extra_args.end());
    launch.env.insert(launch.env.end(), plan.env.begin(), plan.env.end());
    if (!m_owner.m_options.log_dir.empty()) {
      launch.log_file = m_owner.m_options.log_dir / (spec.name + "-" + std::to_string(id) + ".log");
    }
    const int pid = m_owner.m_supervisor->launch(id, launch);
    Running& running = m_owner.m_running[id];
    running = {spec.name, launch.port, pid, {}, {}, mm.key, std::nullopt};
    for (const router::GpuShare& share : plan.gpus) {
      running.devices.push_back(share.device);
      running.buffers.push_back(share.buffer);
    }
    spdlog::info("llama-server for {} (instance {}): pid {}, port {}: {} {}", spec.name, id, pid,
                 launch.port, launch.binary.string(), router::shell_quote(launch.args));
  }

  void stop(router::InstanceId id) override {
    if (const auto it = m_owner.m_running.find(id); it != m_owner.m_running.end()) {
      it->second.stopping = true;
    }
    m_owner.m_supervisor->terminate(id);
  }

private:
  ManagedRouter& m_owner;
};

// A request's hold on an instance; finishing it frees the slot.
class ManagedRouter::ManagedLease final : public Lease {
public:
  ManagedLease(ManagedRouter& owner, router::RequestId request, router::InstanceId instance,
               int port)
      : m_owner(owner), m_request(request), m_instance(instance), m_port(port) {}
  ~ManagedLease() override { m_owner.finish(m_request); }
  const std::string& host() const override { return m_host; }
  int port() const override { return m_port; }
  std::optional<std::string> crash(std::chrono::milliseconds wait) const override {
    return m_owner.crash_of(m_instance, wait);
  }

private:
  ManagedRouter& m_owner;
  router::RequestId m_request;
  router::InstanceId m_instance;
  std::string m_host = k_host;
  int m_port;
};

// --- the router --------------------------------------------------------------------------

core::Result<ManagedRouter::Managed>
ManagedRouter::make_managed(const config::Config& config, const config::Model& model,
                            const ChooseCorrection& choose) const {
  const config::ManagedSpec& s = *model.managed;
  Managed mm;
  mm.model = model;
  if (const config::Preset* preset = config.find_preset(s.preset)) {
    mm.preset = *preset;
  }
  mm.input = router::estimate_input(s);
  mm.input.api = mm.preset ? mm.preset->api : config::GpuApi::cpu;
  mm.input.embeddings = model.has_capability("embedding");
  mm.input.reranking = model.has_capability("rerank");
  if (const auto b = m_options.preset_builds.find(s.preset); b != m_options.preset_builds.end()) {
    mm.input.build = b->second;
  }
  mm.files.model = s.gguf;
  auto file = core::gguf::read_model(s.gguf);
  if (!file) {
    return core::fail(core::Error::bad_request(s.gguf.string() + ": " + file.error().message));
  }
  // An explicit draft, the one "auto" finds beside the model, or none.
  auto draft_path = router::resolve_draft(s);
  if (!draft_path) {
    return core::fail(std::move(draft_path.error()));
  }
  std::optional<core::gguf::SplitModel> draft;
  if (*draft_path) {
    auto d = core::gguf::read_model(**draft_path);
    if (!d) {
      return core::fail(core::Error::bad_request("draft " + (*draft_path)->string() + ": " +
                                                 d.error().message));
    }
    draft = std::move(*d);
    mm.input.draft = &*draft;
    mm.files.draft = **draft_path;
  }
  // A multimodal projector goes whole to the output GPU (server_args' -mmdev).
  if (s.mmproj) {
    auto projector = core::gguf::read_model(*s.mmproj);
    if (!projector) {
      return core::fail(core::Error::bad_request("mmproj " + s.mmproj->string() + ": " +
                                                 projector.error().message));
    }
    mm.input.projector_bytes = projector->tensor_bytes();
    mm.files.projector = *s.mmproj;
  }
  auto base = router::estimate(*file, mm.input);
  if (!base) {
    return core::fail(core::Error::bad_request(s.gguf.string() + ": " + base.error().message));
  }
  mm.base = std::move(*base);
  mm.key = calibration_key(file->paths, mm.preset, mm.input, mm.files, s);
  mm.corrected = choose(mm);
  mm.input.correction = mm.corrected.correction;
  auto est = router::estimate(*file, mm.input);
  mm.input.draft = nullptr; // the draft's header is not kept
  if (!est) {
    return core::fail(core::Error::bad_request(s.gguf.string() + ": " + est.error().message));
  }
  router::ModelSpec& spec = mm.spec;
  spec.name = model.name;
  spec.estimate = std::move(*est);
  spec.placement.api = mm.preset ? mm.preset->api : config::GpuApi::cpu;
  spec.placement.pins = s.gpus;
  spec.placement.allow_partial = s.allow_partial_offload;
  spec.placement.n_layers_request = mm.input.n_gpu_layers;
  spec.placement.mmap = mm.input.mmap;
  spec.placement.kv_offload = mm.input.kv_offload;
  spec.keep_alive = model.keep_alive.value_or(config::k_default_keep_alive);
  spec.parallel = s.slots();
  spec.max_replicas = s.max_replicas;
  spec.pinned = s.pinned;
  spec.group = group_of(config, model.name);
  constexpr std::chrono::hours k_forever{24 * 365}; // a "forever" limit: longer than askd runs
  spec.load_timeout = s.load_timeout.finite().value_or(k_forever);
  if (s.drain_wait) {
    spec.drain_wait = s.drain_wait->finite().value_or(k_forever);
  }
  return mm;
}

ManagedRouter::ManagedRouter(config::Config config, router::Inventory inventory,
                             const core::Clock& clock, ManagedRouterOptions options)
    : m_clock(clock), m_options(std::move(options)), m_config(std::move(config)),
      m_gpus(inventory.gpus) { // a copy: the scheduler takes the inventory below
  events().set_capacity(m_options.event_history);
  if (!m_options.calibration_file.empty()) {
    m_store = std::make_unique<router::CalibrationStore>(m_options.calibration_file);
    for (const std::string& problem : m_store->load(unix_now())) {
      spdlog::warn("{}", problem);
    }
    const std::size_t n = m_store->entries().size();
    spdlog::info("calibration: {} holds {} {}", m_options.calibration_file.string(), n,
                 n == 1 ? "calibration" : "calibrations");
  }
  for (const config::Model& model : m_config.models) {
    if (!model.managed) {
      continue;
    }
    auto mm = make_managed(m_config, model,
                           [this](const Managed& m) { return stored_correction(m); });
    if (!mm) {
      m_unavailable[model.name] = mm.error().message;
      m_problems.push_back(model.name + ": " + mm.error().message);
      continue;
    }
    log_stored(*mm);
    m_managed.emplace(model.name, std::move(*mm));
  }
  m_spawner = std::make_unique<Spawner>(*this);
  m_scheduler = std::make_unique<router::Scheduler>(m_clock, *m_spawner, std::move(inventory),
                                                    specs(), m_options.scheduler);
  m_supervisor = std::make_unique<router::Supervisor>(
      router::Supervisor::Callbacks{
          [this](std::uint64_t id) { on_ready(id); },
          [this](std::uint64_t id, const router::ProcessExit& e) { on_exited(id, e); }},
      m_options.supervisor);
  m_timer = std::thread([this] { timer_loop(); });
  if (m_options.gpu_reader) {
    m_reader = std::thread([this] { reader_loop(); });
  }
}

ManagedRouter::~ManagedRouter() {
  {
    std::lock_guard lock(m_mutex);
    m_stopping = true;
  }
  m_changed.notify_all();
  m_timer.join();
  if (m_reader.joinable()) {
    m_reader.join();
  }
  // Kills and reaps every llama-server; its callbacks may still take m_mutex meanwhile.
  m_supervisor.reset();
}

std::vector<router::ModelSpec> ManagedRouter::specs() const {
  std::vector<router::ModelSpec> out;
  for (const config::Model& m : m_config.models) { // in the config's order
    if (const auto it = m_managed.find(m.name); it != m_managed.end()) {
      out.push_back(it->second.spec);
    }
  }
  return out;
}

void ManagedRouter::on_ready(std::uint64_t id) {
  // The buffers llama.cpp allocated are in the startup log, before /health answered.
  const router::Calibration measured = router::parse_startup_log(m_supervisor->output(id));
  Calibrated calibrated;
  {
    std::lock_guard lock(m_mutex);
    if (m_stopping) { // the supervisor is going: start nothing new
      return;
    }
    m_scheduler->ready(id);
    log_events();
    if (!measured.devices.empty()) {
      calibrated = calibrate(id, measured);
    }
  }
  m_changed.notify_all();
  if (!calibrated.entry) {
    return;
  }
  const router::StoredCalibration& entry = *calibrated.entry;
  if (calibrated.apply) {
    apply_correction(entry.model, {*calibrated.apply, entry.calibrated_at, false}, entry.key);
  }
  keep(std::move(*calibrated.entry));
}

void ManagedRouter::on_exited(std::uint64_t id, const router::ProcessExit& exit) {
  {
    std::lock_guard lock(m_mutex);
    const router::ExitInfo info{exit.status, exit.signaled, exit.tail};
    if (const auto it = m_running.find(id);
        it != m_running.end() && !it->second.stopping && !m_stopping) {
      if (m_crashes.size() >= 64) {
        m_crashes.erase(m_crashes.begin());
      }
      m_crashes[id] = "llama-server pid " + std::to_string(it->second.pid) +
                      " crashed while serving the request (" +
                      router::describe_exit(info, /*last_line_only=*/true) + ")";
    }
    m_running.erase(id);
    if (m_stopping) {
      return;
    }
    m_scheduler->exited(id, info);
    log_events();
  }
  m_changed.notify_all();
}

void ManagedRouter::finish(router::RequestId request) {
  {
    std::lock_guard lock(m_mutex);
    if (m_stopping) {
      return;
    }
    m_scheduler->finish(request);
    log_events();
  }
  m_changed.notify_all();
}

std::optional<std::string> ManagedRouter::crash_of(router::InstanceId id,
                                                   std::chrono::milliseconds wait) {
  std::unique_lock lock(m_mutex);
  m_changed.wait_for(lock, wait, [&] { return m_stopping || !m_running.contains(id); });
  if (const auto it = m_crashes.find(id); it != m_crashes.end()) {
    return it->second;
  }
  return std::nullopt;
}

void ManagedRouter::timer_loop() {
  std::unique_lock lock(m_mutex);
  while (!m_stopping) {
    const auto next = m_scheduler->next_wakeup();
    if (next) {
      m_changed.wait_until(lock, *next);
    } else {
      m_changed.wait(lock);
    }
    if (m_stopping) {
      break;
    }
    m_scheduler->tick();
    log_events();
    lock.unlock();
    m_changed.notify_all();
    lock.lock();
  }
}

void ManagedRouter::reader_loop() {
  std::unique_lock lock(m_mutex);
  while (!m_stopping) {
    // Woken by every state change too; only the interval counts.
    const auto until = std::chrono::steady_clock::now() + m_options.gpu_refresh;
    m_changed.wait_until(lock, until, [&] {
      return m_stopping || std::chrono::steady_clock::now() >= until;
    });
    if (m_stopping) {
      break;
    }
    lock.unlock();
    refresh_gpus();
    lock.lock();
  }
}

void ManagedRouter::refresh_gpus() {
  if (!m_options.gpu_reader) {
    return;
  }
  const GpuReading reading = m_options.gpu_reader(); // runs the tools: not under the lock
  {
    std::lock_guard lock(m_mutex);
    if (m_stopping) {
      return;
    }
    for (const auto& [gpu, free] : reading) {
      m_scheduler->set_reading(gpu, free);
    }
    log_events();
  }
  m_changed.notify_all();
}

core::Result<std::unique_ptr<Lease>>
ManagedRouter::acquire(const config::Model& model, std::chrono::steady_clock::time_point deadline,
                       const net::Watch& watch) {
  std::unique_lock lock(m_mutex);
  if (const auto it = m_unavailable.find(model.name); it != m_unavailable.end()) {
    return core::fail(core::Error::overloaded("cannot place " + model.name + ": " + it->second));
  }
  const router::RequestId request = m_scheduler->submit(model.name);
  log_events();
  m_changed.notify_all(); // the timer thread: a waiting request may bring its wakeup forward
  for (;;) {
    const router::Outcome outcome = m_scheduler->outcome(request);
    if (const auto* a = std::get_if<router::Assigned>(&outcome)) {
      const int port = m_running.count(a->instance) ? m_running.at(a->instance).port : 0;
      return std::unique_ptr<Lease>(
          std::make_unique<ManagedLease>(*this, request, a->instance, port));
    }
    const auto now = std::chrono::steady_clock::now();
    std::optional<core::Error> error;
    if (const auto* e = std::get_if<core::Error>(&outcome)) {
      error = *e;
    } else if (now >= deadline) {
      error = core::Error::timeout("no instance of " + model.name +
                                   " became ready before the first-byte timeout");
    } else if (net::watch_fired(watch)) {
      error = core::Error::cancelled("the client went away while " + model.name + " loaded");
    }
    if (error) {
      m_scheduler->finish(request);
      log_events();
      lock.unlock();
      m_changed.notify_all();
      return core::fail(std::move(*error));
    }
    // Wake at least every 100 ms to notice a client that hung up.
    m_changed.wait_until(lock, std::min(deadline, now + std::chrono::milliseconds(100)));
  }
}

} // namespace ask::proxy
