#pragma once
// The scheduler tests' fixture: a FakeClock, a spawner that records every call, and helpers
// that build GPUs and models of given sizes. Shared by scheduler_test.cpp and
// scheduler_lifecycle_test.cpp.

#include <doctest/doctest.h>

#include <algorithm>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "router/scheduler.h"
#include "router/testing.h"

namespace ask::router::sched_test {

using namespace std::chrono_literals;
using config::GpuApi;
using Kind = EventRecord::Kind;
using std::chrono::milliseconds;

// The one other router tests use: the scheduler tests' using-directives would make a second
// k_gib ambiguous in a unity batch.
using testkit::k_gib;

// An estimate of exactly `bytes` on one GPU: 8 equal layers, no fixed costs.
inline Estimate sized(std::uint64_t bytes) {
  Estimate e;
  e.arch = "llama";
  e.layers.assign(8, LayerEstimate{bytes / 8, 0, 0, 0});
  return e;
}

// A CUDA card with `cap_gib` usable, no reserve and no free reading.
inline Gpu gpu(std::string id, int ordinal, std::uint64_t cap_gib) {
  Gpu g;
  g.id = std::move(id);
  g.name = g.id;
  g.total_bytes = cap_gib * k_gib;
  g.cap_bytes = cap_gib * k_gib;
  g.reserve_bytes = 0;
  g.index = {{GpuApi::cuda, ordinal}};
  return g;
}

inline ModelSpec model(std::string name, std::uint64_t gib) {
  ModelSpec m;
  m.name = std::move(name);
  m.estimate = sized(gib * k_gib);
  m.placement = {GpuApi::cuda, {}, false, -1};
  return m;
}

inline std::optional<InstanceId> assigned(const Outcome& o) {
  if (const Assigned* a = std::get_if<Assigned>(&o)) {
    return a->instance;
  }
  return std::nullopt;
}
inline bool is_waiting(const Outcome& o) { return std::holds_alternative<Waiting>(o); }
inline std::optional<core::Error> error_of(const Outcome& o) {
  if (const core::Error* e = std::get_if<core::Error>(&o)) {
    return *e;
  }
  return std::nullopt;
}

inline bool has_event(const std::vector<EventRecord>& events, Kind kind, std::string_view model_name,
               std::string_view detail = "") {
  return std::any_of(events.begin(), events.end(), [&](const EventRecord& e) {
    return e.kind == kind && e.model == model_name && e.detail.find(detail) != std::string::npos;
  });
}

// Records every call; `live` holds the plans of instances started and not yet exited.
struct FakeSpawner final : Spawner {
  struct Start {
    InstanceId id = 0;
    std::string model;
    Plan plan;
  };
  std::vector<Start> starts;
  std::vector<InstanceId> stops;
  std::map<InstanceId, Plan> live;
  std::string problems; // starts of an id already live, stops of an id not live

  void start(InstanceId id, const ModelSpec& m, const Plan& plan) override {
    if (live.contains(id)) {
      problems += "start of live id " + std::to_string(id) + "; ";
    }
    starts.push_back({id, m.name, plan});
    live[id] = plan;
  }
  void stop(InstanceId id) override {
    if (!live.contains(id)) {
      problems += "stop of dead id " + std::to_string(id) + "; ";
    }
    stops.push_back(id);
  }
  std::uint64_t bytes_on(const std::string& gpu_id) const {
    std::uint64_t sum = 0;
    for (const auto& [id, plan] : live) {
      for (const GpuShare& s : plan.gpus) {
        sum += s.gpu == gpu_id ? s.bytes : 0;
      }
    }
    return sum;
  }
};

struct Fixture {
  core::FakeClock clock;
  FakeSpawner spawner;
  std::unique_ptr<Scheduler> sched;
  SteadyTime t0 = clock.now();

  void make(std::vector<Gpu> gpus, std::vector<ModelSpec> models, SchedulerOptions o = {}) {
    Inventory inv;
    inv.gpus = std::move(gpus);
    sched = std::make_unique<Scheduler>(clock, spawner, std::move(inv), std::move(models), o);
  }
  Scheduler& s() { return *sched; }
  void advance(milliseconds d) { clock.advance(d); }
  long long ms(SteadyTime t) const {
    return std::chrono::duration_cast<milliseconds>(t - t0).count();
  }
  long long now_ms() const { return ms(clock.now()); }
  void exit(InstanceId id, const ExitInfo& info = {}) {
    spawner.live.erase(id);
    sched->exited(id, info);
  }
  std::optional<InstanceView> view(InstanceId id) const {
    for (const InstanceView& v : sched->instances()) {
      if (v.id == id) {
        return v;
      }
    }
    return std::nullopt;
  }
  InstanceState state(InstanceId id) const {
    const auto v = view(id);
    REQUIRE(v.has_value());
    return v->state;
  }
  // Loads `name` through a request (taking `load` to become ready), serves and finishes it:
  // the instance is left ready and idle. Returns its id.
  InstanceId warm(std::string_view name, milliseconds load = 0ms) {
    const std::size_t before = spawner.starts.size();
    const RequestId r = sched->submit(name);
    REQUIRE(spawner.starts.size() == before + 1);
    const InstanceId id = spawner.starts.back().id;
    advance(load);
    sched->ready(id);
    REQUIRE(assigned(sched->outcome(r)) == id);
    sched->finish(r);
    return id;
  }
  // A request served at once by a ready instance, then finished.
  void serve_once(std::string_view name) {
    const RequestId r = sched->submit(name);
    REQUIRE(assigned(sched->outcome(r)).has_value());
    sched->finish(r);
  }
};

} // namespace ask::router::sched_test
