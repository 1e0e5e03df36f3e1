#pragma once
// sched_trace's replays: one request trace run in virtual time through askd's Scheduler
// (over a FakeClock and a spawner that only schedules events) and through three baseline
// policies modelled on llama.cpp's router mode, llama-swap and Ollama. Every policy gets
// the same trace, load times, service times and slot model, so the numbers differ only by
// what each policy decides.

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

#include "config/types.h"
#include "router/inventory.h"
#include "router/scheduler.h"

namespace ask::bench::sched {

using Ms = std::int64_t; // virtual milliseconds since the trace began

struct SimModel {
  router::ModelSpec spec;  // name, estimate, placement, keep_alive, parallel, max_replicas
  std::uint64_t bytes = 0; // what one instance takes on one GPU
  Ms load_ms = 0;          // start to ready
};

struct Rig {
  std::string name;
  std::string description;
  config::GpuApi api = config::GpuApi::cuda; // the backend every model runs through
  router::Inventory inventory;               // caps set, no free readings
};

struct Arrival {
  Ms at = 0;
  std::size_t model = 0; // index into the models
  Ms service = 0;        // time in a slot once served
};

enum class Policy { askd, askd_seed, lru_models_max, swap, ollama };
std::string_view to_string(Policy policy);
inline constexpr Policy k_policies[] = {Policy::askd, Policy::askd_seed, Policy::lru_models_max,
                                        Policy::swap, Policy::ollama};

struct ReplayOptions {
  int models_max = 4;             // lru-models-max: llama.cpp's --models-max default
  int ollama_loaded_per_gpu = 3;  // OLLAMA_MAX_LOADED_MODELS default: 3 × GPUs
  bool baseline_ttl = false;      // lru and swap also unload after keep_alive (llama-swap ttl)
  Ms exit_ms = 1000;              // stop to exited: memory is held until then
  Ms due_horizon_ms = 60'000;     // askd: SchedulerOptions::due_horizon (0 = off)
  bool prewarm = true;            // askd: SchedulerOptions::prewarm
  std::FILE* event_log = nullptr; // askd replays write the scheduler's events here
};

struct Metrics {
  std::size_t requests = 0;    // for models the rig can hold
  std::size_t unplaceable = 0; // for models no set of the rig's GPUs can hold
  std::size_t served = 0;
  std::size_t failed = 0;        // placeable, yet failed (askd: drain_wait elapsed)
  std::size_t stuck = 0;         // neither served nor failed when the replay ran out of events
  std::size_t cold_loads = 0;    // loads of a model with no instance up (prewarms included)
  std::size_t cold_starts = 0;   // of those, loads a request waited for: every baseline load;
                                 // for askd, not a prewarm that was ready when its request came
  std::size_t prewarms = 0;      // askd: of those, loads before a request came (prewarm)
  std::size_t prewarms_unused = 0; // prewarmed instances stopped with no request served
  std::size_t replica_loads = 0; // a further instance next to a running one
  std::size_t evictions = 0;     // instances stopped to make room (not keep_alive expiry)
  std::size_t cold_requests = 0; // not handed to a running instance on arrival
  double load_wait_s = 0;        // Σ arrival → service start over the cold requests
  double load_wait_p50_s = 0;
  double load_wait_p95_s = 0;
  double load_wait_max_s = 0;
  double total_wait_s = 0; // Σ arrival → service start over every served request
  double total_wait_p95_s = 0;
  std::vector<std::uint64_t> peak;        // per GPU, bytes held at once
  std::size_t overcommits = 0;            // loads that pushed a GPU past its cap
  std::uint64_t worst_over = 0;           // most bytes past a cap at once
  std::vector<std::size_t> cold_by_model; // per model index
  std::vector<std::size_t> failed_by_model;
  std::vector<double> load_wait_by_model_s; // load_wait_s split per model index
  std::size_t stuck_wakeups = 0;            // askd: next_wakeup() not after a tick at the same time
  std::string problems; // spawner misuse, a stuck next_wakeup(), a replay that never ends
  double wall_ms = 0;   // real time the replay took
};

// Replays `trace` under `policy` on `rig`. Deterministic: the same inputs give the same
// metrics (wall_ms aside).
Metrics replay(Policy policy, const Rig& rig, const std::vector<SimModel>& models,
               const std::vector<Arrival>& trace, const ReplayOptions& options);

// Whether `model` fits on `rig` with nothing else loaded.
bool placeable(const Rig& rig, const SimModel& model);

} // namespace ask::bench::sched
