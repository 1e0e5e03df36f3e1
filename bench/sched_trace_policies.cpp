// sched_trace's replays (sched_trace_policies.h): the policies' names, whether a model fits
// a rig, and replay(), which times one replay through askd's Scheduler
// (sched_trace_askd.cpp) or a baseline (sched_trace_baselines.cpp).

#include "bench/sched_trace_policies.h"

#include <chrono>

#include "bench/sched_trace_sim.h"
#include "router/placement.h"

namespace ask::bench::sched {

std::string_view to_string(Policy policy) {
  switch (policy) {
  case Policy::askd:
    return "askd";
  case Policy::askd_seed:
    return "askd-seed";
  case Policy::lru_models_max:
    return "lru-models-max";
  case Policy::swap:
    return "swap";
  case Policy::ollama:
    return "ollama";
  }
  return "unknown";
}

bool placeable(const Rig& rig, const SimModel& model) {
  return router::place(model.spec.estimate, rig.inventory, model.spec.placement).has_value();
}

Metrics replay(Policy policy, const Rig& rig, const std::vector<SimModel>& models,
               const std::vector<Arrival>& trace, const ReplayOptions& options) {
  const auto t0 = std::chrono::steady_clock::now();
  Metrics m;
  if (policy == Policy::askd || policy == Policy::askd_seed) {
    m = detail::replay_askd(policy, rig, models, trace, options);
  } else {
    m = detail::replay_baseline(policy, rig, models, trace, options);
  }
  m.wall_ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  return m;
}

} // namespace ask::bench::sched
