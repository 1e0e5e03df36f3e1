#pragma once
// Scheduler: which llama-server instances run on which GPUs, and which request goes to which
// instance. A pure state machine: no threads, no sleeping, no processes. Time comes from a
// core::Clock; processes are started and stopped through a Spawner; everything that happens
// outside (an instance became ready or exited, a request finished, the GPUs were read again)
// is told to it by a call, after which it has already made every decision that follows. The
// live router wraps it in a mutex and condition variables; bench/sched_trace replays request
// traces through it in virtual time. docs/scheduler.md describes the policy. Host memory and
// rpc-server devices are inventory entries too (router/inventory.h DeviceKind), budgeted by
// the same rules: what a plan takes of each entry is Plan::charges().
//
// Rules it keeps:
// - never overcommit: an instance starts only where placement() fits it in what is free, free
//   being the smaller of our own accounting (cap − what our instances hold, stopping ones
//   included until they have exited) and the last reading of the GPU (free − reserve);
// - never stop an instance with requests in flight (keep_alive, eviction, groups, unload and
//   reload all wait for it to drain);
// - concurrent requests for a cold model share one load;
// - keep_alive counts from the end of the last request: zero stops at once, forever never.

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "core/clock.h"
#include "core/duration.h"
#include "core/error.h"
#include "router/estimate.h"
#include "router/inventory.h"
#include "router/placement.h"

namespace ask::router {

using InstanceId = std::uint64_t;
using RequestId = std::uint64_t;
using SteadyTime = core::Clock::SteadyTime;

// What the scheduler needs to know of a logical model that runs on llama-server.
struct ModelSpec {
  std::string name;
  Estimate estimate;          // with the model's settings (ctx, parallel, KV types, draft, …)
  PlacementRequest placement; // API, pins, partial offload, -ngl
  core::Duration keep_alive = core::Duration::seconds(300);
  int parallel = 1;     // slots per instance: requests it serves at once
  int max_replicas = 1; // instances of this model at most
  bool pinned = false;  // never unloaded by the scheduler (neither keep_alive nor eviction)
  std::string group;    // the exclusive group it belongs to; "" = none
  std::chrono::milliseconds load_timeout{600'000}; // start to ready
  // How long its requests wait for busy instances to free room; none = SchedulerOptions's.
  std::optional<std::chrono::milliseconds> drain_wait;
};

// In which order idle instances are evicted when room is needed.
enum class EvictionOrder {
  // Lowest expected cost first: the chance the model is asked for again soon (from its recent
  // request rate) × the seconds its reload would take, per byte it frees.
  reload_cost,
  // The seed router's score ln(idle_s + 1) + 1 / log2(GiB + 1), highest first.
  seed_score,
};

struct SchedulerOptions {
  EvictionOrder eviction = EvictionOrder::reload_cost;
  // How long a request whose model cannot be placed waits for busy instances to finish before
  // it fails with "cannot place", unless its model sets its own (ModelSpec::drain_wait).
  std::chrono::milliseconds drain_wait{120'000};
  // How long memory freed by an exited instance may take to show in a GPU reading; past it,
  // the scheduler trusts its own accounting for that memory.
  std::chrono::milliseconds release_wait{10'000};
  // Crash-loop backoff: after the second failure in a row the next start waits base, then 2×,
  // 4×, … up to max. An instance that stayed up `stable_after` ends the run of failures.
  std::chrono::milliseconds backoff_base{1'000};
  std::chrono::milliseconds backoff_max{300'000};
  std::chrono::milliseconds stable_after{60'000};
  // Request-rate memory of the reload_cost order (exponential decay time constant) and how
  // far ahead it looks for the next request.
  std::chrono::milliseconds rate_decay{1'800'000};
  std::chrono::milliseconds reuse_horizon{600'000};
  // An idle replica (not its model's oldest instance) stops after this, or after the model's
  // keep_alive when shorter: the first instance keeps the model warm. Idle replicas are also
  // the first to be evicted, in either order.
  std::chrono::milliseconds replica_idle{600'000};
  // Models due soon. A request after `session_gap` of quiet starts a new session of its model,
  // and the quiet before it is remembered (the last 16). A model is due when, of its
  // remembered gaps that have not yet gone by (give or take `due_horizon`; three at least),
  // three quarters or more end within `due_horizon` from now: an hourly job at the top of the
  // hour, say.
  // A replica does not start in room a model due soon needs, and replicas that hold such room
  // drain (take no new request, stop when their last one ends) before it comes. 0 turns this
  // off.
  std::chrono::milliseconds due_horizon{60'000};
  std::chrono::milliseconds session_gap{60'000};
  // Prewarm: a model due soon with nothing up that fits in free room (nothing is evicted for
  // it, room a waiting request holds is not taken) is loaded before its request comes, at
  // most once per quiet gap. Unused, it stays up 2 × due_horizon + its last load time (or its
  // keep_alive, if longer), then stops; once it has served a request, keep_alive as usual.
  bool prewarm = true;
};

// Starts and stops llama-server processes. The scheduler calls these while deciding; the
// outcome comes back later through Scheduler::ready() and Scheduler::exited().
class Spawner {
public:
  virtual ~Spawner() = default;
  virtual void start(InstanceId id, const ModelSpec& model, const Plan& plan) = 0;
  // SIGTERM, then SIGKILL after a grace period; exited() follows.
  virtual void stop(InstanceId id) = 0;
};

enum class InstanceState { starting, ready, stopping };
std::string_view to_string(InstanceState state);

struct InstanceView {
  InstanceId id = 0;
  std::string model;
  InstanceState state = InstanceState::starting;
  Plan plan;
  int in_flight = 0;
  SteadyTime started{};
  SteadyTime ready_at{};               // unset while starting
  SteadyTime idle_since{};             // unset while requests are in flight
  std::optional<SteadyTime> expires;   // keep_alive deadline; none = never or busy
  std::string stop_reason;             // why it is stopping
  bool prewarmed = false;              // loaded before a request came, none served yet
};

struct GpuView {
  std::string id;
  DeviceKind kind = DeviceKind::gpu; // a GPU, an rpc device, or host memory
  std::uint64_t total = 0;
  std::uint64_t cap = 0;       // the most askd may use
  std::uint64_t ours = 0;      // held by our instances (stopping ones until they exit)
  std::uint64_t available = 0; // what a new instance may take now
  std::optional<std::uint64_t> reading; // last free reading, if any
};

struct EventRecord {
  enum class Kind { load, ready, stop, exit, crash, load_failed, cannot_place };
  Kind kind = Kind::load;
  SteadyTime at{};
  std::string model;
  InstanceId instance = 0; // 0 for cannot_place
  std::string detail;      // the reason, in a sentence ("evicted to make room for coder-30b")
};
std::string_view to_string(EventRecord::Kind kind);

// What became of a request: still waiting (for a load, room, or a drain), given an instance,
// or failed (overloaded: cannot place / crash-loop backoff; timeout: load timed out).
struct Waiting {};
struct Assigned {
  InstanceId instance = 0;
};
using Outcome = std::variant<Waiting, Assigned, core::Error>;

// How an instance ended.
struct ExitInfo {
  int status = 0;      // exit status, or the signal number when `signaled`
  bool signaled = false;
  std::string detail;  // the last lines of its log, for the crash message
};
// "exit status 1: <detail>", "killed by signal 9: <detail>"; with `last_line_only`, only the
// detail's last non-empty line (for the error a client gets: not llama-server's whole
// start-up log).
std::string describe_exit(const ExitInfo& info, bool last_line_only);

class Scheduler {
public:
  // `inventory` gives the GPUs, their caps and reserves (free readings, where present, are
  // the first reading). The clock and spawner must outlive the scheduler.
  Scheduler(const core::Clock& clock, Spawner& spawner, Inventory inventory,
            std::vector<ModelSpec> models, SchedulerOptions options = {});

  // A request for `model`. Unknown models fail at once (not_found).
  RequestId submit(std::string_view model);
  // Waiting, Assigned or failed. An id already finished (or never issued) reads as an
  // internal error.
  Outcome outcome(RequestId request) const;
  // The request is over: it was served (its instance's slot is free again) or abandoned
  // while waiting. Its outcome is forgotten.
  void finish(RequestId request);

  // The instance answers /health.
  void ready(InstanceId instance);
  // The process has gone (reaped). Its memory is free in our accounting at once. An exit the
  // scheduler did not ask for is a crash: the requests waiting for the load go on to the next
  // start, or fail when the model is in backoff.
  void exited(InstanceId instance, const ExitInfo& info);
  // A new free-memory reading of one GPU (bytes free as the tool says, before the reserve),
  // or of host memory ("host": MemAvailable).
  void set_reading(std::string_view gpu, std::uint64_t free_bytes);

  // Time-driven work: keep_alive expiry, load timeouts, drain-wait limits, backoff ends,
  // release-wait ends. Call it at next_wakeup() (and any time; it is idempotent).
  void tick();
  // When tick() next has something to do; none = nothing timed is pending.
  std::optional<SteadyTime> next_wakeup() const;

  // Control: start an instance of `model` unless one is loaded or loading (preload, the API's
  // load), evicting idle instances if it must. Returns the instance loaded or loading, or 0
  // when it is queued behind the evictions (it starts when they have exited). Fails
  // (overloaded) when it cannot be placed even then; not_found for an unknown model.
  core::Result<InstanceId> load(std::string_view model);
  // Stops every instance of `model`: idle ones now, busy ones when they drain. Returns how
  // many instances it affects.
  core::Result<int> unload(std::string_view model);
  // preload: every model marked so, in order; the errors of those that could not start.
  std::vector<core::Error> preload(const std::vector<std::string>& models);
  // A reloaded configuration: new settings apply to running instances (keep_alive is
  // recomputed from their idle time); instances of models no longer listed stop when idle.
  void update_models(std::vector<ModelSpec> models);

  std::vector<InstanceView> instances() const;
  std::vector<GpuView> gpus() const;
  int waiting() const; // requests not yet assigned
  // Events since the last call (load, ready, stop with its reason, exit, crash, …).
  std::vector<EventRecord> take_events();

private:
  // One device's part of an instance. `seen`: a free reading taken after the instance was
  // ready includes it (until then it is subtracted from the reading as well). `unread`: the
  // part no reading ever shows as used (mapped file pages), always subtracted.
  struct Share {
    std::size_t gpu = 0; // index into m_inventory.gpus
    std::uint64_t bytes = 0;
    std::uint64_t unread = 0;
    bool seen = false;
  };
  struct Instance {
    InstanceId id = 0;
    std::string model;
    InstanceState state = InstanceState::starting;
    bool was_ready = false;
    Plan plan;
    std::vector<Share> shares;
    int in_flight = 0;
    SteadyTime started{};
    SteadyTime ready_at{};
    SteadyTime idle_since{};
    bool stop_when_idle = false; // unload or removal asked while busy
    std::string stop_reason;
    std::optional<SteadyTime> prewarm_until; // prewarmed and no request yet: kept until then
  };
  struct Request {
    RequestId id = 0;
    std::string model;
    SteadyTime submitted{};
    Outcome outcome = Waiting{};
    bool control = false;                     // load(): takes no slot, gone once placed
    std::optional<SteadyTime> drain_deadline; // set while it waits for busy instances
    std::string wait_reason;
  };
  struct ModelState {
    double rate_score = 0; // request count decayed with rate_decay (reload_cost order)
    SteadyTime last_request{};
    int failures = 0;      // failed starts or crashes in a row
    SteadyTime last_failure{};
    std::string last_failure_detail;
    std::chrono::milliseconds last_load{0}; // measured start → ready of the last load
    std::vector<double> gaps; // seconds of quiet before its recent sessions, oldest first
    SteadyTime last_prewarm{};
  };
  struct Release {
    SteadyTime at{};
    std::uint64_t bytes = 0;
  };
  struct GpuState {
    std::optional<std::uint64_t> reading; // free bytes, as the tool said
    std::uint64_t trusted = 0;            // freed since the reading, past release_wait
    std::vector<Release> pending;         // freed since the reading, not yet trusted
  };
  using Claims = std::vector<std::pair<std::string, std::string>>; // group, model

  const ModelSpec* spec(std::string_view model) const;
  Instance* find_instance(InstanceId id);
  void pump();
  void serve(Request& r, const Claims& claimed = {});
  void wait(Request& r, bool bounded, std::string reason);
  // The model's own drain_wait, else SchedulerOptions's.
  std::chrono::milliseconds drain_wait_of(const std::string& model) const;
  InstanceId start(const ModelSpec& m, Plan plan, std::string_view why);
  void stop_instance(Instance& inst, std::string reason);
  void fail(Request& r, core::Error error);
  void settle_idle(Instance& inst);
  std::optional<SteadyTime> expiry(const Instance& inst) const;
  std::optional<SteadyTime> backoff_until(const std::string& model) const;
  // What a new instance may take on GPU `g` if the instances in `freed` were gone (and, with
  // `trust_pending`, memory freed since the last reading already showed in it).
  std::uint64_t available(std::size_t g, const std::vector<InstanceId>& freed,
                          bool trust_pending) const;
  std::optional<Plan> fit(const ModelSpec& m, const std::vector<InstanceId>& freed,
                          bool trust_pending, NoFit* why) const;
  struct Evictions {
    std::vector<InstanceId> victims; // idle ones stop now, busy replicas drain first
    Plan plan;                       // where the model goes once they are gone
  };
  Evictions choose_evictions(const ModelSpec& m, const std::vector<InstanceId>& stopping) const;
  // Holds room for an earlier waiting request until the end of this pump() pass.
  void reserve(const Plan& plan);
  bool has_waiting(std::string_view model) const;
  // Not the oldest live instance of its model: started for load, scaled down first.
  bool is_replica(const Instance& inst) const;
  double eviction_key(const Instance& inst) const;
  // Models due soon (see SchedulerOptions::due_horizon) with nothing up or loading, and not
  // in backoff.
  std::vector<const ModelSpec*> due_cold() const;
  // Whether a replica of `m` placed at `plan` leaves room for every model due soon that fits
  // now. Called inside pump() (it uses the reservations).
  bool leaves_room(const ModelSpec& m, const Plan& plan);
  // Drains the replicas that hold room a model due soon needs.
  void drain_for_due();
  // Loads the models due soon that fit in free room (SchedulerOptions::prewarm). Called at
  // the end of pump(), with the waiting requests' reservations in place.
  void prewarm_due();
  // When a model may next become due, while replicas run or prewarm is on (next_wakeup()).
  std::optional<SteadyTime> next_due_change() const;
  void event(EventRecord::Kind kind, const std::string& model, InstanceId id, std::string detail);

  const core::Clock& m_clock;
  Spawner& m_spawner;
  Inventory m_inventory;
  std::vector<ModelSpec> m_models;
  SchedulerOptions m_options;
  std::vector<GpuState> m_gpu; // per GPU of m_inventory
  std::vector<std::uint64_t> m_reserved; // per GPU, during pump(): see reserve()

  std::map<InstanceId, Instance> m_instances;
  std::map<RequestId, Request> m_requests; // in arrival order
  std::map<std::string, ModelState, std::less<>> m_state;
  std::vector<EventRecord> m_events;
  InstanceId m_next_instance = 1;
  RequestId m_next_request = 1;
  RequestId m_loading = 0; // the control request load() is placing
};

} // namespace ask::router
