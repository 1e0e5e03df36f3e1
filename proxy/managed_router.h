#pragma once
// ManagedRouter: askd's ModelRouter for llama-server backends. It reads each managed model's
// GGUF header (the estimate), keeps the scheduler's state machine (router/scheduler.h)
// behind one mutex, starts and stops llama-server processes through the Supervisor, and
// hands each request a lease on an instance once the scheduler assigns it one. A timer
// thread drives the scheduler's timed work (keep_alive, load timeouts, drain limits); a
// reader thread re-reads the GPUs' free memory. Each instance's startup log is parsed for
// the buffers llama.cpp allocated: the measured memory shows in the status, and the
// model's next estimate is corrected by it. With a state file the calibrations outlive askd:
// a model whose file, llama.cpp build and settings are unchanged starts with its stored
// correction (router/calibration_store.h). Every load, unload, eviction, crash and
// calibration is logged with its reason and published as an event (GET /api/events).
// A reloaded configuration applies new settings to the managed models (reload()).
// docs/scheduler.md.

#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "config/types.h"
#include "core/clock.h"
#include "proxy/upstream.h"
#include "router/calibration.h"
#include "router/calibration_store.h"
#include "router/inventory.h"
#include "router/scheduler.h"
#include "router/server_args.h"
#include "router/supervisor.h"

namespace ask::proxy {

// Free memory per GPU id as the tools read it now (bytes, before the reserve), and of host
// memory ("host": MemAvailable); GPUs the tools could not read are left out.
using GpuReading = std::vector<std::pair<std::string, std::uint64_t>>;
using GpuReader = std::function<GpuReading()>;

struct ManagedRouterOptions {
  router::SchedulerOptions scheduler;
  router::SupervisorOptions supervisor;
  std::filesystem::path log_dir; // per-instance llama-server logs; "" = none (ring only)
  // Re-reads the GPUs' free memory every `gpu_refresh` on a thread of its own; none = the
  // first reading stands (and our own accounting does the rest).
  GpuReader gpu_reader;
  std::chrono::milliseconds gpu_refresh{5'000};
  std::size_t event_history = 1'024; // events kept for GET /api/events readers that lag
  // Calibrations kept across restarts ($XDG_STATE_HOME/ask/calibration.json in askd); "" =
  // they last as long as the router.
  std::filesystem::path calibration_file;
  // The llama.cpp build number of each preset's binary (`llama-server --version`), by preset
  // name; a preset not listed, or 0, is an unknown build (the estimate assumes the recorded
  // one and says so).
  std::map<std::string, int, std::less<>> preset_builds;
};

// What reload() did.
struct ReloadReport {
  std::vector<std::string> applied;   // "fast-9b: keep_alive 5m → 30m", …
  std::vector<std::string> restart;   // changes that take effect only when askd restarts
  std::vector<std::string> problems;  // models left as they were, and why
};

class ManagedRouter final : public ModelRouter {
public:
  // Reads the GGUF header of every managed model in `config`. A model whose file cannot be
  // read or estimated stays configured but unavailable: its requests fail (overloaded, so
  // fallback chains move on) naming the file and the problem; the problems are also in
  // problems(). `clock` must outlive the router; `config` is copied.
  ManagedRouter(config::Config config, router::Inventory inventory, const core::Clock& clock,
                ManagedRouterOptions options = {});
  ~ManagedRouter() override; // stops the threads; the supervisor kills what still runs

  core::Result<std::unique_ptr<Lease>> acquire(const config::Model& model,
                                               std::chrono::steady_clock::time_point deadline,
                                               const net::Watch& watch) override;
  core::Json status() const override;
  core::Result<core::Json> load(std::string_view model) override;
  core::Result<core::Json> unload(std::string_view model) override;
  core::Result<core::Json> pin(std::string_view model, bool on) override;

  // Loads the models marked "preload"; returns the errors of those that could not start.
  std::vector<core::Error> preload();
  const std::vector<std::string>& problems() const { return m_problems; }

  // Reads the GPUs now (what the reader thread does every gpu_refresh).
  void refresh_gpus();
  // Applies a reloaded configuration to the managed models askd started with: keep_alive,
  // replicas, pins, groups and load timeouts at once (running instances included); the
  // process settings (file, context, slots, KV types, draft, preset, arguments) to instances
  // started from now on. Models added or removed, and everything that is not a managed
  // model's setting, need a restart: the report says which.
  ReloadReport reload(const config::Config& fresh);

private:
  // The correction a model's estimate uses, and where it was measured.
  struct Corrected {
    router::Correction correction;       // 1, 1, 1 when not corrected
    std::optional<double> calibrated_at; // Unix seconds of the load that measured (or, within
                                         // 2%, confirmed) it; none = not calibrated
    bool from_state_file = false;        // loaded at start (or reload), not measured by this run
  };
  struct Managed {
    config::Model model; // a copy: reload() replaces it
    std::optional<config::Preset> preset;
    router::ModelSpec spec;      // spec.estimate carries input.correction
    router::Estimate base;       // the same, with no correction: what calibration compares
    router::ServerFiles files;
    router::EstimateInput input; // input.draft is null (the header is not kept)
    router::CalibrationKey key;  // file, build and settings: what a calibration holds for
    Corrected corrected;         // input.correction, and where it came from
  };
  struct Running {
    std::string model;
    int port = 0;
    int pid = 0;
    std::vector<std::string> devices; // llama.cpp's names, in plan order ("CUDA0", "RPC1", …)
    std::vector<std::string> buffers; // the same devices as its log names their buffers
    router::CalibrationKey key;       // its model's when it started
    std::optional<router::Calibration> measured; // from its startup log, once ready
    bool stopping = false; // the scheduler asked it to stop: its exit is no crash
  };
  // What a calibration found: the correction to apply when it differs from the one in use,
  // and the entry for the state file.
  struct Calibrated {
    std::optional<router::Correction> apply;
    std::optional<router::StoredCalibration> entry;
  };
  class Spawner;
  class ManagedLease;

  // Picks the correction for a model being built, from its key and what is built before it:
  // model, preset, files, input and the uncorrected estimate (not spec).
  using ChooseCorrection = std::function<Corrected(const Managed&)>;
  // Reads only m_options besides its arguments: callable off the lock.
  core::Result<Managed> make_managed(const config::Config& config, const config::Model& model,
                                     const ChooseCorrection& choose) const;
  std::vector<router::ModelSpec> specs() const; // with m_mutex held

  void on_ready(std::uint64_t id);
  void on_exited(std::uint64_t id, const router::ProcessExit& exit);
  // With m_mutex held: records what instance `id` measured; returns the correction to apply
  // to its model when it differs from the one in use, and the entry to keep (none when the
  // model's file or settings changed since the instance started).
  Calibrated calibrate(std::uint64_t id, const router::Calibration& cal);
  // Rebuilds `model` with `correction`, unless its key is no longer `measured_for`.
  void apply_correction(const std::string& model, const Corrected& correction,
                        const router::CalibrationKey& measured_for);
  // The state file's correction for `mm`'s key on the GPUs it may use (none without a state
  // file or an entry that holds); says in the log why an entry of that model does not hold.
  Corrected stored_correction(const Managed& mm) const;
  // Writes `entry` to the state file and logs what happened.
  void keep(router::StoredCalibration entry);
  // Logs the stored correction `mm` starts with, if any.
  static void log_stored(const Managed& mm);
  double unix_now() const; // the wall clock, in Unix seconds
  // The GPUs `mm` may run on (its preset's API, its pins), as calibrations name them; none
  // for a model on the CPU.
  std::vector<router::CalibratedDevice> usable_gpus(const Managed& mm) const;
  void log_events(); // with m_mutex held
  void publish(std::string kind, core::Json data); // with m_mutex held
  void finish(router::RequestId request);
  // ManagedLease::crash(): waits up to `wait` for instance `id` to be reaped, then says how it
  // crashed, if it did.
  std::optional<std::string> crash_of(router::InstanceId id, std::chrono::milliseconds wait);
  void timer_loop();
  void reader_loop();

  const core::Clock& m_clock;
  ManagedRouterOptions m_options;
  config::Config m_config; // the managed models' settings as last (re)loaded
  std::map<std::string, Managed, std::less<>> m_managed;
  std::map<std::string, std::string, std::less<>> m_unavailable; // model → why; fixed
  std::vector<std::string> m_problems;
  std::vector<router::Gpu> m_gpus; // the inventory at start: ids and names for calibrations

  // The state file of calibrations (none without one): its own lock, so that file I/O never
  // holds m_mutex.
  mutable std::mutex m_store_mutex;
  std::unique_ptr<router::CalibrationStore> m_store;

  mutable std::mutex m_mutex;
  std::condition_variable m_changed; // any scheduler state change, any event
  std::map<std::uint64_t, Running> m_running;
  std::map<std::uint64_t, std::string> m_crashes; // instance → how it crashed; the latest 64
  std::unique_ptr<Spawner> m_spawner;
  std::unique_ptr<router::Scheduler> m_scheduler;
  std::unique_ptr<router::Supervisor> m_supervisor;
  bool m_stopping = false;
  std::thread m_timer;
  std::thread m_reader;
};

} // namespace ask::proxy
