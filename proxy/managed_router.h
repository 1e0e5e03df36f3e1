#pragma once
// ManagedRouter: askd's ModelRouter for llama-server backends. It reads each managed model's
// GGUF header once (the estimate), keeps the scheduler's state machine (router/scheduler.h)
// behind one mutex, starts and stops llama-server processes through the Supervisor, and
// hands each request a lease on an instance once the scheduler assigns it one. A timer
// thread drives the scheduler's timed work (keep_alive, load timeouts, drain limits).
// Every load, unload, eviction and crash is logged with its reason. docs/scheduler.md.

#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "config/types.h"
#include "core/clock.h"
#include "proxy/upstream.h"
#include "router/inventory.h"
#include "router/scheduler.h"
#include "router/server_args.h"
#include "router/supervisor.h"

namespace ask::proxy {

struct ManagedRouterOptions {
  router::SchedulerOptions scheduler;
  router::SupervisorOptions supervisor;
  std::filesystem::path log_dir; // per-instance llama-server logs; "" = none (ring only)
};

class ManagedRouter final : public ModelRouter {
public:
  // Reads the GGUF header of every managed model in `config`. A model whose file cannot be
  // read or estimated stays configured but unavailable: its requests fail (overloaded, so
  // fallback chains move on) naming the file and the problem; the problems are also in
  // problems(). `config` and `clock` must outlive the router.
  ManagedRouter(const config::Config& config, router::Inventory inventory,
                const core::Clock& clock, ManagedRouterOptions options = {});
  ~ManagedRouter() override; // stops the timer; the supervisor kills what still runs

  core::Result<std::unique_ptr<Lease>> acquire(const config::Model& model,
                                               std::chrono::steady_clock::time_point deadline,
                                               const net::Watch& watch) override;
  core::Json status() const override;
  core::Result<core::Json> load(std::string_view model) override;
  core::Result<core::Json> unload(std::string_view model) override;

  // Loads the models marked "preload"; returns the errors of those that could not start.
  std::vector<core::Error> preload();
  const std::vector<std::string>& problems() const { return m_problems; }

private:
  struct Managed {
    const config::Model* model = nullptr;
    const config::Preset* preset = nullptr;
    router::ModelSpec spec;
    router::ServerFiles files;
    router::EstimateInput input;
  };
  struct Running {
    std::string model;
    int port = 0;
    int pid = 0;
  };
  class Spawner;
  class ManagedLease;

  void on_ready(std::uint64_t id);
  void on_exited(std::uint64_t id, const router::ProcessExit& exit);
  void log_events(); // with m_mutex held
  void finish(router::RequestId request);
  void timer_loop();

  const config::Config& m_config;
  const core::Clock& m_clock;
  ManagedRouterOptions m_options;
  std::map<std::string, Managed, std::less<>> m_managed;
  std::map<std::string, std::string, std::less<>> m_unavailable; // model → why
  std::vector<std::string> m_problems;

  mutable std::mutex m_mutex;
  std::condition_variable m_changed; // any scheduler state change
  std::map<std::uint64_t, Running> m_running;
  std::unique_ptr<Spawner> m_spawner;
  std::unique_ptr<router::Scheduler> m_scheduler;
  std::unique_ptr<router::Supervisor> m_supervisor;
  bool m_stopping = false;
  std::thread m_timer;
};

} // namespace ask::proxy
