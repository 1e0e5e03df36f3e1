#include "proxy/managed_router.h"

#include <algorithm>
#include <cmath>

#include <spdlog/spdlog.h>

#include "core/gguf.h"
#include "router/estimate.h"

namespace ask::proxy {

using router::EventRecord;

namespace {

constexpr const char* k_host = "127.0.0.1";

double span_seconds(router::SteadyTime from, router::SteadyTime to) {
  return std::chrono::duration<double>(to - from).count();
}

// The exclusive group `model` belongs to, "" for none.
std::string group_of(const config::Config& config, const std::string& model) {
  for (const config::Group& g : config.groups) {
    if (g.exclusive && std::find(g.members.begin(), g.members.end(), model) != g.members.end()) {
      return g.name;
    }
  }
  return "";
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
    launch.binary = mm.preset != nullptr ? mm.preset->binary : "llama-server";
    if (mm.preset != nullptr) {
      launch.args = mm.preset->args;
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
                                 mm.model->upstream}) {
      launch.args.push_back(a);
    }
    launch.args.insert(launch.args.end(), mm.model->managed->extra_args.begin(),
                       mm.model->managed->extra_args.end());
    launch.env.insert(launch.env.end(), plan.env.begin(), plan.env.end());
    if (!m_owner.m_options.log_dir.empty()) {
      launch.log_file = m_owner.m_options.log_dir / (spec.name + "-" + std::to_string(id) + ".log");
    }
    const int pid = m_owner.m_supervisor->launch(id, launch);
    m_owner.m_running[id] = {spec.name, launch.port, pid};
    spdlog::info("llama-server for {} (instance {}): pid {}, port {}: {} {}", spec.name, id, pid,
                 launch.port, launch.binary.string(), router::shell_quote(launch.args));
  }

  void stop(router::InstanceId id) override { m_owner.m_supervisor->terminate(id); }

private:
  ManagedRouter& m_owner;
};

// A request's hold on an instance; finishing it frees the slot.
class ManagedRouter::ManagedLease final : public Lease {
public:
  ManagedLease(ManagedRouter& owner, router::RequestId request, int port)
      : m_owner(owner), m_request(request), m_port(port) {}
  ~ManagedLease() override { m_owner.finish(m_request); }
  const std::string& host() const override { return m_host; }
  int port() const override { return m_port; }

private:
  ManagedRouter& m_owner;
  router::RequestId m_request;
  std::string m_host = k_host;
  int m_port;
};

// --- the router --------------------------------------------------------------------------

ManagedRouter::ManagedRouter(const config::Config& config, router::Inventory inventory,
                             const core::Clock& clock, ManagedRouterOptions options)
    : m_config(config), m_clock(clock), m_options(std::move(options)) {
  std::vector<router::ModelSpec> specs;
  for (const config::Model& model : config.models) {
    if (!model.managed) {
      continue;
    }
    const config::ManagedSpec& s = *model.managed;
    auto unavailable = [&](const std::string& why) {
      m_unavailable[model.name] = why;
      m_problems.push_back(model.name + ": " + why);
    };
    Managed mm;
    mm.model = &model;
    mm.preset = config.find_preset(s.preset);
    mm.input = router::estimate_input(s);
    mm.files.model = s.gguf;
    auto file = core::gguf::read_model(s.gguf);
    if (!file) {
      unavailable(s.gguf.string() + ": " + file.error().message);
      continue;
    }
    std::optional<core::gguf::SplitModel> draft;
    if (s.draft) {
      auto d = core::gguf::read_model(*s.draft);
      if (!d) {
        unavailable("draft " + s.draft->string() + ": " + d.error().message);
        continue;
      }
      draft = std::move(*d);
      mm.input.draft = &*draft;
      mm.files.draft = *s.draft;
    }
    auto est = router::estimate(*file, mm.input);
    mm.input.draft = nullptr; // the draft's header is not kept
    if (!est) {
      unavailable(s.gguf.string() + ": " + est.error().message);
      continue;
    }
    router::ModelSpec& spec = mm.spec;
    spec.name = model.name;
    spec.estimate = std::move(*est);
    spec.placement.api = mm.preset != nullptr ? mm.preset->api : config::GpuApi::cpu;
    spec.placement.pins = s.gpus;
    spec.placement.allow_partial = s.allow_partial_offload;
    spec.placement.n_layers_request = mm.input.n_gpu_layers;
    spec.keep_alive = model.keep_alive.value_or(config::k_default_keep_alive);
    spec.parallel = s.parallel;
    spec.max_replicas = s.max_replicas;
    spec.pinned = s.pinned;
    spec.group = group_of(config, model.name);
    spec.load_timeout = s.load_timeout.finite().value_or(std::chrono::hours(24 * 365));
    specs.push_back(spec);
    m_managed.emplace(model.name, std::move(mm));
  }
  m_spawner = std::make_unique<Spawner>(*this);
  m_scheduler = std::make_unique<router::Scheduler>(m_clock, *m_spawner, std::move(inventory),
                                                    std::move(specs), m_options.scheduler);
  m_supervisor = std::make_unique<router::Supervisor>(
      router::Supervisor::Callbacks{
          [this](std::uint64_t id) { on_ready(id); },
          [this](std::uint64_t id, const router::ProcessExit& e) { on_exited(id, e); }},
      m_options.supervisor);
  m_timer = std::thread([this] { timer_loop(); });
}

ManagedRouter::~ManagedRouter() {
  {
    std::lock_guard lock(m_mutex);
    m_stopping = true;
  }
  m_changed.notify_all();
  m_timer.join();
  // Kills and reaps every llama-server; its callbacks may still take m_mutex meanwhile.
  m_supervisor.reset();
}

void ManagedRouter::on_ready(std::uint64_t id) {
  {
    std::lock_guard lock(m_mutex);
    if (m_stopping) { // the supervisor is going: start nothing new
      return;
    }
    m_scheduler->ready(id);
    log_events();
  }
  m_changed.notify_all();
}

void ManagedRouter::on_exited(std::uint64_t id, const router::ProcessExit& exit) {
  {
    std::lock_guard lock(m_mutex);
    m_running.erase(id);
    if (m_stopping) {
      return;
    }
    m_scheduler->exited(id, {exit.status, exit.signaled, exit.tail});
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

void ManagedRouter::log_events() {
  for (const EventRecord& e : m_scheduler->take_events()) {
    const auto kind = router::to_string(e.kind);
    switch (e.kind) {
    case EventRecord::Kind::crash:
    case EventRecord::Kind::load_failed:
    case EventRecord::Kind::cannot_place:
      spdlog::warn("scheduler: {} {} (instance {}): {}", kind, e.model, e.instance, e.detail);
      break;
    default:
      spdlog::info("scheduler: {} {} (instance {}): {}", kind, e.model, e.instance, e.detail);
    }
  }
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

core::Result<std::unique_ptr<Lease>>
ManagedRouter::acquire(const config::Model& model, std::chrono::steady_clock::time_point deadline,
                       const net::Watch& watch) {
  if (const auto it = m_unavailable.find(model.name); it != m_unavailable.end()) {
    return core::fail(core::Error::overloaded("cannot place " + model.name + ": " + it->second));
  }
  std::unique_lock lock(m_mutex);
  const router::RequestId request = m_scheduler->submit(model.name);
  log_events();
  for (;;) {
    const router::Outcome outcome = m_scheduler->outcome(request);
    if (const auto* a = std::get_if<router::Assigned>(&outcome)) {
      const int port = m_running.count(a->instance) ? m_running.at(a->instance).port : 0;
      return std::unique_ptr<Lease>(std::make_unique<ManagedLease>(*this, request, port));
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

core::Json ManagedRouter::status() const {
  std::lock_guard lock(m_mutex);
  const auto now = m_clock.now();
  core::Json gpus = core::Json::array();
  for (const router::GpuView& g : m_scheduler->gpus()) {
    core::Json j = {{"id", g.id}, {"cap_bytes", g.cap}, {"used_by_askd_bytes", g.ours},
                    {"available_bytes", g.available}};
    j["free_reading_bytes"] = g.reading ? core::Json(*g.reading) : core::Json(nullptr);
    gpus.push_back(std::move(j));
  }
  core::Json instances = core::Json::array();
  for (const router::InstanceView& v : m_scheduler->instances()) {
    core::Json devices = core::Json::array();
    std::uint64_t bytes = 0;
    for (const router::GpuShare& s : v.plan.gpus) {
      devices.push_back({{"gpu", s.gpu}, {"layers", s.layers}, {"estimated_bytes", s.bytes}});
      bytes += s.bytes;
    }
    core::Json j = {{"id", v.id},
                    {"model", v.model},
                    {"state", router::to_string(v.state)},
                    {"devices", std::move(devices)},
                    {"estimated_bytes", bytes},
                    {"in_flight", v.in_flight},
                    {"up_s", std::round(span_seconds(v.started, now))}};
    if (const auto it = m_running.find(v.id); it != m_running.end()) {
      j["pid"] = it->second.pid;
      j["port"] = it->second.port;
    }
    j["idle_s"] = v.in_flight == 0 && v.state == router::InstanceState::ready
                      ? core::Json(std::round(span_seconds(v.idle_since, now)))
                      : core::Json(nullptr);
    j["expires_in_s"] =
        v.expires ? core::Json(std::max(0.0, std::round(span_seconds(now, *v.expires))))
                  : core::Json(nullptr);
    if (!v.stop_reason.empty()) {
      j["stop_reason"] = v.stop_reason;
    }
    instances.push_back(std::move(j));
  }
  core::Json unavailable = core::Json::object();
  for (const auto& [name, why] : m_unavailable) {
    unavailable[name] = why;
  }
  return {{"managed", true},
          {"gpus", std::move(gpus)},
          {"instances", std::move(instances)},
          {"queued", m_scheduler->waiting()},
          {"unavailable", std::move(unavailable)}};
}

core::Result<core::Json> ManagedRouter::load(std::string_view model) {
  if (const auto it = m_unavailable.find(model); it != m_unavailable.end()) {
    return core::fail(core::Error::overloaded("cannot place " + std::string(model) + ": " +
                                              it->second));
  }
  core::Result<router::InstanceId> id;
  {
    std::lock_guard lock(m_mutex);
    id = m_scheduler->load(model);
    log_events();
  }
  m_changed.notify_all();
  if (!id) {
    return core::fail(std::move(id.error()));
  }
  return core::Json{{"model", std::string(model)},
                    {"instance", *id == 0 ? core::Json(nullptr) : core::Json(*id)},
                    {"status", *id == 0 ? "queued behind evictions" : "loading or loaded"}};
}

core::Result<core::Json> ManagedRouter::unload(std::string_view model) {
  core::Result<int> n;
  {
    std::lock_guard lock(m_mutex);
    n = m_scheduler->unload(model);
    log_events();
  }
  m_changed.notify_all();
  if (!n) {
    return core::fail(std::move(n.error()));
  }
  return core::Json{{"model", std::string(model)}, {"instances", *n}};
}

std::vector<core::Error> ManagedRouter::preload() {
  std::vector<std::string> names;
  for (const config::Model& m : m_config.models) {
    if (m.managed && m.managed->preload && m_managed.contains(m.name)) {
      names.push_back(m.name);
    }
  }
  std::vector<core::Error> errors;
  {
    std::lock_guard lock(m_mutex);
    errors = m_scheduler->preload(names);
    log_events();
  }
  m_changed.notify_all();
  return errors;
}

} // namespace ask::proxy
