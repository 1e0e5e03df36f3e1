// ManagedRouter's control side: the status view, load/unload/preload, the event history
// behind GET /api/events, calibration from startup logs (kept in the state file), and
// configuration reload.

#include "proxy/managed_router.h"

#include <algorithm>
#include <cmath>
#include <ctime>

#include <spdlog/spdlog.h>

#include "config/config.h"
#include "router/estimate.h"
#include "router/placement.h"

namespace ask::proxy {

using router::EventRecord;

namespace {

double span_seconds(router::SteadyTime from, router::SteadyTime to) {
  return std::chrono::duration<double>(to - from).count();
}

double unix_seconds(core::Clock::WallTime t) {
  const auto ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
  return static_cast<double>(ms) / 1000.0;
}

// A correction differs from the one in use when a component moved by more than 2%: less is
// noise between loads (the compute buffer depends on the GPU count, the KV on rounding).
bool differs(const router::Correction& a, const router::Correction& b) {
  auto off = [](double x, double y) { return std::abs(x - y) > 0.02 * std::max(x, y); };
  return off(a.weights, b.weights) || off(a.kv, b.kv) || off(a.compute, b.compute);
}

core::Json correction_json(const router::Correction& c) {
  auto round3 = [](double v) { return std::round(v * 1000.0) / 1000.0; };
  return {{"weights", round3(c.weights)}, {"kv", round3(c.kv)}, {"compute", round3(c.compute)}};
}

std::string keep_alive_text(const router::ModelSpec& spec) { return spec.keep_alive.to_string(); }

// "2026-05-04T10:07:47Z", for the log.
std::string utc_text(double unix_seconds) {
  const auto t = static_cast<std::time_t>(unix_seconds);
  std::tm tm{};
  char text[32] = "?";
  if (::gmtime_r(&t, &tm) != nullptr) {
    std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &tm);
  }
  return text;
}

} // namespace

// --- status ------------------------------------------------------------------------------

core::Json ManagedRouter::status() const {
  std::lock_guard lock(m_mutex);
  const auto now = m_clock.now();
  core::Json gpus = core::Json::array();
  core::Json host = nullptr; // host memory not budgeted
  for (const router::GpuView& g : m_scheduler->gpus()) {
    core::Json j = {{"id", g.id},
                    {"kind", router::to_string(g.kind)},
                    {"total_bytes", g.total},
                    {"cap_bytes", g.cap},
                    {"used_by_askd_bytes", g.ours},
                    {"available_bytes", g.available}};
    j["free_reading_bytes"] = g.reading ? core::Json(*g.reading) : core::Json(nullptr);
    if (g.kind == router::DeviceKind::host) {
      host = std::move(j);
      continue;
    }
    const auto inv = std::find_if(m_gpus.begin(), m_gpus.end(),
                                  [&](const router::Gpu& x) { return x.id == g.id; });
    if (g.kind == router::DeviceKind::rpc && inv != m_gpus.end()) {
      j["endpoint"] = inv->endpoint;
    }
    if (inv != m_gpus.end() && inv->unified) {
      j["unified"] = true; // its memory is the host's: loads on it are charged there too
    }
    gpus.push_back(std::move(j));
  }
  core::Json instances = core::Json::array();
  for (const router::InstanceView& v : m_scheduler->instances()) {
    const auto running = m_running.find(v.id);
    const Running* r = running != m_running.end() ? &running->second : nullptr;
    const router::Calibration* measured = r != nullptr && r->measured ? &*r->measured : nullptr;
    core::Json devices = core::Json::array();
    std::uint64_t bytes = 0;
    for (std::size_t i = 0; i < v.plan.gpus.size(); ++i) {
      const router::GpuShare& s = v.plan.gpus[i];
      core::Json d = {{"gpu", s.gpu}, {"layers", s.layers}, {"estimated_bytes", s.bytes}};
      if (r != nullptr && i < r->devices.size()) {
        d["device"] = r->devices[i];
        const router::DeviceBuffers* b =
            measured != nullptr && i < r->buffers.size() ? measured->find(r->buffers[i]) : nullptr;
        d["measured_bytes"] = b != nullptr ? core::Json(b->total()) : core::Json(nullptr);
      }
      devices.push_back(std::move(d));
      bytes += s.bytes;
    }
    core::Json j = {{"id", v.id},
                    {"model", v.model},
                    {"state", router::to_string(v.state)},
                    {"devices", std::move(devices)},
                    {"estimated_bytes", bytes},
                    {"measured_bytes", measured != nullptr ? core::Json(measured->gpu_total())
                                                           : core::Json(nullptr)},
                    {"in_flight", v.in_flight},
                    {"up_s", std::round(span_seconds(v.started, now))}};
    // Host memory: its buffers and the layers kept there (estimated; measured from the log),
    // and what host memory's budget is charged (with the shares on unified GPUs).
    j["host"] = {{"layers", v.plan.host_layers},
                 {"estimated_bytes", v.plan.host_bytes},
                 {"charged_bytes",
                  v.plan.host.empty() ? core::Json(nullptr) : core::Json(v.plan.host_charge)},
                 {"measured_bytes",
                  measured != nullptr ? core::Json(measured->host_total()) : core::Json(nullptr)}};
    if (r != nullptr) {
      j["pid"] = r->pid;
      j["port"] = r->port;
    }
    j["idle_s"] = v.in_flight == 0 && v.state == router::InstanceState::ready
                      ? core::Json(std::round(span_seconds(v.idle_since, now)))
                      : core::Json(nullptr);
    j["expires_in_s"] =
        v.expires ? core::Json(std::max(0.0, std::round(span_seconds(now, *v.expires))))
                  : core::Json(nullptr);
    j["prewarmed"] = v.prewarmed; // loaded before its request came, none served yet
    if (!v.stop_reason.empty()) {
      j["stop_reason"] = v.stop_reason;
    }
    instances.push_back(std::move(j));
  }
  core::Json models = core::Json::object();
  for (const auto& [name, mm] : m_managed) {
    const Corrected& c = mm.corrected;
    // Where its preset puts it: all of it on one GPU, or all of it in host memory.
    const bool on_host = mm.spec.placement.api == config::GpuApi::cpu;
    models[name] = {
        {"estimated_bytes",
         on_host ? mm.spec.estimate.host_only_bytes() : mm.spec.estimate.single_gpu_bytes()},
        {"estimated_for", on_host ? "host" : "one gpu"},
        {"keep_alive", keep_alive_text(mm.spec)},
        {"pinned", mm.spec.pinned},
        {"correction", correction_json(mm.input.correction)},
        {"corrected", c.calibrated_at.has_value()},
        {"calibrated_at", c.calibrated_at ? core::Json(*c.calibrated_at) : core::Json(nullptr)},
        {"correction_source", !c.calibrated_at    ? core::Json(nullptr)
                              : c.from_state_file ? core::Json("state file")
                                                  : core::Json("this run")},
        // The llama.cpp build its estimate follows, and the margin an uncertain estimate
        // carries (docs/vram.md, "Margin").
        {"llama_build", mm.input.build},
        {"margin", mm.spec.estimate.margin},
        {"margin_reason", mm.spec.estimate.margin_reason}};
  }
  core::Json unavailable = core::Json::object();
  for (const auto& [name, why] : m_unavailable) {
    unavailable[name] = why;
  }
  return {{"managed", true},
          {"gpus", std::move(gpus)},
          {"host", std::move(host)},
          {"instances", std::move(instances)},
          {"models", std::move(models)},
          {"queued", m_scheduler->waiting()},
          {"unavailable", std::move(unavailable)},
          {"last_event", events().last()}};
}

// --- control -----------------------------------------------------------------------------

core::Result<core::Json> ManagedRouter::load(std::string_view model) {
  core::Result<router::InstanceId> id;
  {
    std::lock_guard lock(m_mutex);
    if (const auto it = m_unavailable.find(model); it != m_unavailable.end()) {
      return core::fail(core::Error::overloaded("cannot place " + std::string(model) + ": " +
                                                it->second));
    }
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

core::Result<core::Json> ManagedRouter::pin(std::string_view model, bool on) {
  {
    std::lock_guard lock(m_mutex);
    const auto it = m_managed.find(model);
    if (it == m_managed.end()) {
      return core::fail(core::Error::not_found("no llama-server model named '" +
                                               std::string(model) + "' is managed by askd"));
    }
    if (it->second.spec.pinned != on) {
      it->second.spec.pinned = on;
      m_scheduler->update_models(specs());
      spdlog::info("{} {} through the API", on ? "pinned" : "unpinned", model);
      publish("pin", {{"model", std::string(model)}, {"pinned", on}});
      log_events();
    }
  }
  m_changed.notify_all(); // unpinned: keep_alive may be due now
  return core::Json{{"model", std::string(model)}, {"pinned", on}};
}

std::vector<core::Error> ManagedRouter::preload() {
  std::vector<core::Error> errors;
  {
    std::lock_guard lock(m_mutex);
    std::vector<std::string> names;
    for (const config::Model& m : m_config.models) {
      if (m.managed && m.managed->preload && m_managed.contains(m.name)) {
        names.push_back(m.name);
      }
    }
    errors = m_scheduler->preload(names);
    log_events();
  }
  m_changed.notify_all();
  return errors;
}

// --- events ------------------------------------------------------------------------------

void ManagedRouter::publish(std::string kind, core::Json data) {
  data["time"] = unix_seconds(m_clock.wall_now());
  events().publish(std::move(kind), std::move(data));
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
    publish(std::string(kind),
            {{"model", e.model},
             {"instance", e.instance == 0 ? core::Json(nullptr) : core::Json(e.instance)},
             {"detail", e.detail}});
  }
}

// --- calibration -------------------------------------------------------------------------

ManagedRouter::Calibrated ManagedRouter::calibrate(std::uint64_t id,
                                                   const router::Calibration& cal) {
  const auto running = m_running.find(id);
  if (running == m_running.end()) {
    return {};
  }
  Running& r = running->second;
  r.measured = cal;
  const auto it = m_managed.find(r.model);
  if (it == m_managed.end()) {
    return {};
  }
  const Managed& mm = it->second;
  if (r.key != mm.key) { // a reload changed its settings (or file) since it started
    spdlog::info("calibration: {} (instance {}): its file or settings changed since it started; "
                 "its measurement is shown, not used",
                 r.model, id);
    return {};
  }
  const router::Correction c = router::correction_from(mm.base, cal);
  Calibrated out;
  out.entry = router::StoredCalibration{mm.key, {}, r.model, cal, c, unix_now()};
  std::uint64_t estimated = 0;
  for (const router::InstanceView& v : m_scheduler->instances()) {
    if (v.id != id) {
      continue;
    }
    estimated = v.plan.gpu_bytes;
    for (std::size_t i = 0; i < v.plan.gpus.size(); ++i) {
      const std::string& gpu = v.plan.gpus[i].gpu;
      const auto g = std::find_if(m_gpus.begin(), m_gpus.end(),
                                  [&](const router::Gpu& x) { return x.id == gpu; });
      out.entry->devices.push_back(
          {gpu, g != m_gpus.end() ? g->name : "", i < r.devices.size() ? r.devices[i] : ""});
    }
  }
  spdlog::info("calibration: {} (instance {}): llama-server allocated {} on GPUs, {} estimated; "
               "measured/estimated: weights {:.3f}, kv {:.3f}, compute {:.3f}",
               r.model, id, router::human_bytes(cal.gpu_total()), router::human_bytes(estimated),
               c.weights, c.kv, c.compute);
  publish("calibrated", {{"model", r.model},
                         {"instance", id},
                         {"measured_bytes", cal.gpu_total()},
                         {"estimated_bytes", estimated},
                         {"correction", correction_json(c)}});
  if (differs(c, mm.input.correction)) {
    out.apply = c;
  } else { // within 2% of the one in use, which stays: this run's load confirms it
    it->second.corrected.calibrated_at = out.entry->calibrated_at;
    it->second.corrected.from_state_file = false;
  }
  return out;
}

void ManagedRouter::apply_correction(const std::string& model, const Corrected& correction,
                                     const router::CalibrationKey& measured_for) {
  config::Config settings; // a copy: reload() may change m_config meanwhile
  {
    std::lock_guard lock(m_mutex);
    if (m_stopping || !m_managed.contains(model)) {
      return;
    }
    settings = m_config;
  }
  const auto m = std::find_if(settings.models.begin(), settings.models.end(),
                              [&](const config::Model& x) { return x.name == model; });
  if (m == settings.models.end()) {
    return;
  }
  // Reads the header again (milliseconds), off the lock; the header is not kept in memory.
  auto mm = make_managed(settings, *m, [&](const Managed&) { return correction; });
  std::lock_guard lock(m_mutex);
  const auto it = m_managed.find(model);
  if (m_stopping || it == m_managed.end()) {
    return;
  }
  if (!mm) {
    spdlog::warn("calibration: {}: the correction is not applied: {}", model, mm.error().message);
    return;
  }
  if (mm->key != measured_for || it->second.key != measured_for) {
    spdlog::info("calibration: {}: its file or settings changed meanwhile; the correction is not "
                 "applied",
                 model);
    return;
  }
  spdlog::info("calibration: {}: next placements use {} instead of {}", model,
               router::human_bytes(mm->spec.estimate.single_gpu_bytes()),
               router::human_bytes(it->second.spec.estimate.single_gpu_bytes()));
  // What the API set since the config was read stays: a pin (POST /api/models/NAME/pin) is
  // not undone by the calibration that follows a load.
  mm->spec.pinned = it->second.spec.pinned;
  it->second = std::move(*mm);
  m_scheduler->update_models(specs());
  log_events();
}

// --- the state file ----------------------------------------------------------------------

double ManagedRouter::unix_now() const {
  return core::unix_seconds(m_clock.wall_now());
}

std::vector<router::CalibratedDevice> ManagedRouter::usable_gpus(const Managed& mm) const {
  // From the preset and the model's settings: make_managed() asks before mm.spec is filled.
  std::vector<router::CalibratedDevice> out;
  const config::GpuApi api = mm.preset ? mm.preset->api : config::GpuApi::cpu;
  if (mm.input.n_gpu_layers == 0) {
    return out;
  }
  const std::vector<std::string>& pins = mm.model.managed->gpus;
  for (const router::Gpu& g : m_gpus) {
    const bool pinned_in = pins.empty() || std::find(pins.begin(), pins.end(), g.id) != pins.end();
    if (g.kind == router::DeviceKind::rpc && pinned_in) {
      out.push_back({g.id, g.name, "RPC"}); // numbered per plan, by the servers it uses
      continue;
    }
    const auto index = g.index_for(api);
    if (index && g.kind == router::DeviceKind::gpu && pinned_in) {
      out.push_back({g.id, g.name, router::device_name(api, *index)});
    }
  }
  return out;
}

ManagedRouter::Corrected ManagedRouter::stored_correction(const Managed& mm) const {
  if (!m_store) {
    return {};
  }
  const auto present = usable_gpus(mm);
  std::lock_guard lock(m_store_mutex);
  if (const router::StoredCalibration* e = m_store->find(mm.key, present)) {
    return {e->correction, e->calibrated_at, true};
  }
  if (const auto why = m_store->why_not(mm.model.name, mm.key, present)) {
    spdlog::info("calibration: {}: the stored calibration is not used: {}; its next load "
                 "calibrates it again",
                 mm.model.name, *why);
  }
  return {};
}

void ManagedRouter::log_stored(const Managed& mm) {
  const Corrected& c = mm.corrected;
  if (!c.from_state_file || !c.calibrated_at) {
    return;
  }
  spdlog::info("calibration: {}: uses the correction measured {} (state file): weights {:.3f}, "
               "kv {:.3f}, compute {:.3f}; estimated {} instead of {}",
               mm.model.name, utc_text(*c.calibrated_at), c.correction.weights, c.correction.kv,
               c.correction.compute, router::human_bytes(mm.spec.estimate.single_gpu_bytes()),
               router::human_bytes(mm.base.single_gpu_bytes()));
}

void ManagedRouter::keep(router::StoredCalibration entry) {
  if (!m_store) {
    return;
  }
  const std::string model = entry.model;
  std::vector<std::string> problems;
  std::size_t count = 0;
  {
    std::lock_guard lock(m_store_mutex);
    problems = m_store->save(std::move(entry), unix_now());
    count = m_store->entries().size();
  }
  for (const std::string& p : problems) {
    spdlog::warn("{}", p);
  }
  spdlog::info("calibration: {}: kept in {} ({} {})", model, m_options.calibration_file.string(),
               count, count == 1 ? "calibration" : "calibrations");
}

// --- reload ------------------------------------------------------------------------------

namespace {

// The config without what reload() applies (the managed models' settings, presets, groups):
// what is left must be unchanged, or needs a restart.
config::Config beyond_reload(config::Config c) {
  for (config::Model& m : c.models) {
    if (m.managed) {
      m.managed.reset();
      m.keep_alive.reset();
      m.upstream.clear();
    }
  }
  c.presets.clear();
  c.groups.clear();
  return c;
}

// Top-level keys (and models, by name) that differ between two configs' JSON.
std::vector<std::string> differences(const core::Json& a, const core::Json& b) {
  std::vector<std::string> out;
  auto keys = [](const core::Json& j) {
    std::vector<std::string> k;
    if (j.is_object()) {
      for (const auto& [key, v] : j.items()) {
        k.push_back(key);
      }
    }
    return k;
  };
  std::vector<std::string> all = keys(a);
  for (const std::string& k : keys(b)) {
    if (std::find(all.begin(), all.end(), k) == all.end()) {
      all.push_back(k);
    }
  }
  for (const std::string& k : all) {
    const core::Json none;
    const core::Json& x = a.contains(k) ? a.at(k) : none;
    const core::Json& y = b.contains(k) ? b.at(k) : none;
    if (x == y) {
      continue;
    }
    if (k == "models" && x.is_object() && y.is_object()) {
      for (const std::string& m : differences(x, y)) {
        out.push_back("models." + m);
      }
    } else {
      out.push_back(k);
    }
  }
  return out;
}

// What a spawn runs, but the port and the placement: a change applies to the next spawn.
std::vector<std::string> process_of(const config::Model& model,
                                    const std::optional<config::Preset>& preset,
                                    const router::ServerFiles& files,
                                    const router::EstimateInput& input,
                                    const router::Estimate& estimate) {
  std::vector<std::string> argv;
  if (preset) {
    argv.push_back(preset->binary.string());
    argv.insert(argv.end(), preset->args.begin(), preset->args.end());
    for (const auto& [k, v] : preset->env) {
      argv.push_back(k + "=" + v);
    }
  }
  const auto args = router::server_args(files, input, estimate, router::Plan{});
  argv.insert(argv.end(), args.begin(), args.end());
  argv.push_back(model.upstream);
  argv.insert(argv.end(), model.managed->extra_args.begin(), model.managed->extra_args.end());
  return argv;
}

} // namespace

ReloadReport ManagedRouter::reload(const config::Config& fresh) {
  ReloadReport report;
  // A model keeps its correction while its key (file, build, settings) stays; with a new key
  // it takes the state file's for that key, if any.
  std::map<std::string, std::pair<router::CalibrationKey, Corrected>, std::less<>> corrections;
  std::vector<std::string> elsewhere;
  {
    std::lock_guard lock(m_mutex);
    for (const auto& [name, mm] : m_managed) {
      corrections[name] = {mm.key, mm.corrected};
    }
    elsewhere = differences(config::to_json(beyond_reload(m_config)),
                            config::to_json(beyond_reload(fresh)));
  }
  // The GGUF headers are read off the lock.
  std::map<std::string, core::Result<Managed>, std::less<>> built;
  for (const config::Model& m : fresh.models) {
    if (m.managed) {
      built.emplace(m.name, make_managed(fresh, m, [&](const Managed& mm) {
                      const auto c = corrections.find(m.name);
                      return c != corrections.end() && c->second.first == mm.key
                                 ? c->second.second
                                 : stored_correction(mm);
                    }));
    }
  }
  {
    std::lock_guard lock(m_mutex);
    if (m_stopping) {
      return report;
    }
    for (const std::string& d : elsewhere) {
      report.restart.push_back(d + " changed");
    }
    for (config::Model& model : m_config.models) {
      if (!model.managed) {
        continue;
      }
      const auto b = built.find(model.name);
      if (b == built.end()) {
        continue; // removed, or no longer managed: `elsewhere` names it
      }
      core::Result<Managed>& mm = b->second;
      const std::string& name = model.name;
      if (!mm) {
        report.problems.push_back(name + ": kept as it was: " + mm.error().message);
        continue;
      }
      const auto it = m_managed.find(name);
      if (it == m_managed.end()) { // its file could not be read at start; now it can
        report.applied.push_back(name + ": available now");
        m_unavailable.erase(name);
        model = mm->model;
        m_managed.emplace(name, std::move(*mm));
        continue;
      }
      Managed& now = it->second;
      if (now.spec.keep_alive.to_string() != mm->spec.keep_alive.to_string()) {
        report.applied.push_back(name + ": keep_alive " + keep_alive_text(now.spec) + " → " +
                                 keep_alive_text(mm->spec));
      }
      if (now.spec.max_replicas != mm->spec.max_replicas) {
        report.applied.push_back(name + ": max_replicas " + std::to_string(now.spec.max_replicas) +
                                 " → " + std::to_string(mm->spec.max_replicas));
      }
      if (now.spec.pinned != mm->spec.pinned || now.spec.group != mm->spec.group ||
          now.spec.load_timeout != mm->spec.load_timeout ||
          now.spec.drain_wait != mm->spec.drain_wait) {
        report.applied.push_back(name + ": pinned, group, load_timeout or drain_wait");
      }
      if (process_of(now.model, now.preset, now.files, now.input, now.spec.estimate) !=
          process_of(mm->model, mm->preset, mm->files, mm->input, mm->spec.estimate)) {
        report.applied.push_back(name + ": llama-server settings, for instances started from "
                                        "now on (running ones keep theirs until they stop)");
      }
      if (now.key != mm->key && now.corrected.calibrated_at != mm->corrected.calibrated_at) {
        report.applied.push_back(
            name + ": its file, build or settings changed: " +
            (mm->corrected.calibrated_at
                 ? "it uses the state file's correction measured " +
                       utc_text(*mm->corrected.calibrated_at) + " for them"
                 : std::string("its correction no longer holds; its next load measures it")));
      }
      model = mm->model;
      now = std::move(*mm);
    }
    m_config.presets = fresh.presets;
    m_config.groups = fresh.groups;
    m_scheduler->update_models(specs());
    log_events();
    publish("reload", {{"applied", report.applied},
                       {"restart", report.restart},
                       {"problems", report.problems}});
  }
  m_changed.notify_all();
  return report;
}

} // namespace ask::proxy
