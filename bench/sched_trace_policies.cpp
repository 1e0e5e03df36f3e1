// sched_trace's replays (sched_trace_policies.h). Both kinds are discrete-event loops over
// virtual milliseconds: events (an instance ready, an instance exited, a request's service
// done, a keep_alive deadline) come off one queue in time order, trace arrivals are merged
// in, and nothing ever sleeps.
//
// Shared by every policy, so that only the decisions differ:
// - a load takes the model's load_ms from start to ready; a stop takes exit_ms until the
//   process has gone, and its memory is held until then;
// - requests handed to an instance are served FIFO in its `parallel` slots (llama-server
//   queues the rest), each for its service time;
// - a request is "cold" when it is not handed to a running instance on arrival: it waits
//   for a load, for room, or (swap, ollama) behind a request that does;
// - memory per GPU is the per-GPU bytes of router::place()'s plan. The VRAM-aware baselines
//   (swap, ollama) place with it on what their own accounting leaves free, as askd does, so
//   that a split or a fit is the same decision for all of them.

#include "bench/sched_trace_policies.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <deque>
#include <limits>
#include <map>
#include <optional>
#include <queue>
#include <utility>

#include "core/clock.h"
#include "router/placement.h"

namespace ask::bench::sched {
namespace {

constexpr Ms k_never = std::numeric_limits<Ms>::max();
// A scheduler whose next_wakeup() keeps answering a time it has already ticked at, with
// nothing else happening, would spin the replay forever; past this many such answers the
// replay stops and reports it.
constexpr std::size_t k_max_stuck_wakeups = 1000;
// Every keep_alive and backlog here is over within hours of the last arrival; a replay that
// still has work a day later is going round in circles (a livelock), and stops there with
// its unfinished requests counted as stuck.
constexpr Ms k_overrun_ms = 24 * 3'600'000;

Ms give_up_at(const std::vector<Arrival>& trace) {
  return (trace.empty() ? 0 : trace.back().at) + k_overrun_ms;
}

enum class EventKind { ready, exited, done, expire };

struct Event {
  Ms at = 0;
  std::uint64_t seq = 0; // insertion order: events at the same time keep it
  EventKind kind = EventKind::done;
  std::uint64_t id = 0;    // instance, or ticket for `done`
  std::uint64_t epoch = 0; // expire: the instance's idle period it was set for
};

struct Later {
  bool operator()(const Event& a, const Event& b) const {
    return a.at != b.at ? a.at > b.at : a.seq > b.seq;
  }
};

class EventQueue {
public:
  void push(Ms at, EventKind kind, std::uint64_t id, std::uint64_t epoch = 0) {
    m_heap.push({at, m_seq++, kind, id, epoch});
  }
  Ms next_at() const { return m_heap.empty() ? k_never : m_heap.top().at; }
  Event pop() {
    Event e = m_heap.top();
    m_heap.pop();
    return e;
  }

private:
  std::priority_queue<Event, std::vector<Event>, Later> m_heap;
  std::uint64_t m_seq = 0;
};

// One request of the trace as one policy saw it.
struct Ticket {
  Ms arrival = 0;
  Ms service = 0;
  std::size_t model = 0;
  Ms start = -1;     // service start; -1 = never served
  bool cold = false; // not handed to a running instance on arrival
  bool failed = false;
  bool unplaceable = false;   // failed because no set of the rig's GPUs holds the model
  std::uint64_t instance = 0; // 0 = not handed to one yet
  router::RequestId rid = 0;  // askd only
};

std::vector<Ticket> tickets_of(const std::vector<Arrival>& trace) {
  std::vector<Ticket> out;
  out.reserve(trace.size());
  for (const Arrival& a : trace) {
    Ticket t;
    t.arrival = a.at;
    t.service = a.service;
    t.model = a.model;
    out.push_back(t);
  }
  return out;
}

// The slots of every instance: a request handed to an instance starts service when one of
// its `parallel` slots is free, in the order they were handed over.
class Slots {
public:
  Slots(std::vector<Ticket>& tickets, EventQueue& events) : m_tickets(tickets), m_events(events) {}

  void assign(std::uint64_t instance, int parallel, std::size_t t, Ms now) {
    Queue& q = m_queues[instance];
    q.parallel = std::max(parallel, 1);
    m_tickets[t].instance = instance;
    if (q.busy < q.parallel) {
      begin(q, t, now);
    } else {
      q.waiting.push_back(t);
    }
  }
  // Ticket `t` is done; the next request queued on its instance starts. Returns the instance.
  std::uint64_t complete(std::size_t t, Ms now) {
    const std::uint64_t instance = m_tickets[t].instance;
    Queue& q = m_queues.at(instance);
    --q.busy;
    if (!q.waiting.empty()) {
      const std::size_t next = q.waiting.front();
      q.waiting.pop_front();
      begin(q, next, now);
    }
    if (q.busy == 0) {
      m_queues.erase(instance);
    }
    return instance;
  }
  // Requests served or queued on `instance`.
  int in_flight(std::uint64_t instance) const {
    const auto it = m_queues.find(instance);
    return it == m_queues.end() ? 0 : it->second.busy + static_cast<int>(it->second.waiting.size());
  }

private:
  struct Queue {
    int parallel = 1;
    int busy = 0;
    std::deque<std::size_t> waiting;
  };
  void begin(Queue& q, std::size_t t, Ms now) {
    ++q.busy;
    m_tickets[t].start = now;
    m_events.push(now + m_tickets[t].service, EventKind::done, t);
  }

  std::vector<Ticket>& m_tickets;
  EventQueue& m_events;
  std::map<std::uint64_t, Queue> m_queues;
};

// Bytes held per GPU, with the peaks and every load that went past a cap.
class Memory {
public:
  explicit Memory(const Rig& rig) {
    for (const router::Gpu& g : rig.inventory.gpus) {
      m_caps.push_back(g.cap_bytes);
    }
    m_used.assign(m_caps.size(), 0);
  }
  void add(const std::vector<std::uint64_t>& bytes, Metrics& m) {
    bool over = false;
    m.peak.resize(m_caps.size(), 0);
    for (std::size_t g = 0; g < m_caps.size(); ++g) {
      m_used[g] += bytes[g];
      m.peak[g] = std::max(m.peak[g], m_used[g]);
      if (m_used[g] > m_caps[g]) {
        over = true;
        m.worst_over = std::max(m.worst_over, m_used[g] - m_caps[g]);
      }
    }
    m.overcommits += over ? 1 : 0;
  }
  void remove(const std::vector<std::uint64_t>& bytes) {
    for (std::size_t g = 0; g < m_caps.size(); ++g) {
      m_used[g] -= std::min(m_used[g], bytes[g]);
    }
  }
  std::uint64_t available(std::size_t g) const {
    return m_caps[g] > m_used[g] ? m_caps[g] - m_used[g] : 0;
  }
  std::size_t size() const { return m_caps.size(); }

private:
  std::vector<std::uint64_t> m_caps;
  std::vector<std::uint64_t> m_used;
};

std::vector<std::uint64_t> plan_bytes(const Rig& rig, const router::Plan& plan) {
  std::vector<std::uint64_t> out(rig.inventory.gpus.size(), 0);
  for (const router::GpuShare& s : plan.gpus) {
    for (std::size_t g = 0; g < out.size(); ++g) {
      out[g] += rig.inventory.gpus[g].id == s.gpu ? s.bytes : 0;
    }
  }
  return out;
}

// Nearest-rank percentile of sorted values.
double percentile(const std::vector<double>& sorted, double p) {
  if (sorted.empty()) {
    return 0;
  }
  const auto rank = static_cast<std::size_t>(std::ceil(p * static_cast<double>(sorted.size())));
  return sorted[std::clamp<std::size_t>(rank, 1, sorted.size()) - 1];
}

void summarise(const std::vector<Ticket>& tickets, std::size_t n_models, Metrics& m) {
  m.cold_by_model.resize(n_models, 0);
  m.failed_by_model.assign(n_models, 0);
  m.load_wait_by_model_s.assign(n_models, 0);
  std::vector<double> cold_waits;
  std::vector<double> waits;
  for (const Ticket& t : tickets) {
    if (t.unplaceable) {
      ++m.unplaceable;
      continue;
    }
    ++m.requests;
    if (t.failed) {
      ++m.failed;
      ++m.failed_by_model[t.model];
      continue;
    }
    if (t.start < 0) {
      ++m.stuck;
      continue;
    }
    ++m.served;
    const double wait = static_cast<double>(t.start - t.arrival) / 1000.0;
    waits.push_back(wait);
    if (t.cold) {
      cold_waits.push_back(wait);
      m.load_wait_by_model_s[t.model] += wait;
    }
  }
  std::sort(cold_waits.begin(), cold_waits.end());
  std::sort(waits.begin(), waits.end());
  m.cold_requests = cold_waits.size();
  for (double w : cold_waits) {
    m.load_wait_s += w;
  }
  for (double w : waits) {
    m.total_wait_s += w;
  }
  m.load_wait_p50_s = percentile(cold_waits, 0.50);
  m.load_wait_p95_s = percentile(cold_waits, 0.95);
  m.load_wait_max_s = cold_waits.empty() ? 0 : cold_waits.back();
  m.total_wait_p95_s = percentile(waits, 0.95);
}

// --- askd: the Scheduler itself ----------------------------------------------------------

class AskdReplay {
public:
  AskdReplay(Policy policy, const Rig& rig, const std::vector<SimModel>& models,
             const std::vector<Arrival>& trace, const ReplayOptions& options)
      : m_rig(rig), m_models(models), m_trace(trace), m_options(options),
        m_label(rig.name + "/" + std::string(to_string(policy))), m_base(m_clock.now()),
        m_spawner(*this),
        m_sched(m_clock, m_spawner, rig.inventory, specs(models),
                scheduler_options(policy, options)),
        m_tickets(tickets_of(trace)), m_slots(m_tickets, m_events), m_memory(rig) {
    for (std::size_t i = 0; i < models.size(); ++i) {
      m_index.emplace(models[i].spec.name, i);
    }
    m_metrics.peak.assign(m_memory.size(), 0);
    m_metrics.cold_by_model.assign(models.size(), 0);
  }

  Metrics run() {
    std::size_t next = 0;
    Ms last_tick = -1;
    bool event_since_tick = true;
    while (true) {
      const Ms te = m_events.next_at();
      const Ms ta = next < m_trace.size() ? m_trace[next].at : k_never;
      Ms tw = wakeup();
      if (tw != k_never && tw <= last_tick && !event_since_tick) {
        if (++m_metrics.stuck_wakeups > k_max_stuck_wakeups) {
          m_metrics.problems += "next_wakeup() stayed at a time already ticked; replay stopped; ";
          break;
        }
        tw = last_tick + 1;
      }
      const Ms t = std::min({te, ta, tw});
      if (t == k_never) {
        break;
      }
      if (t > give_up_at(m_trace)) {
        m_metrics.problems += "still busy a day after the last arrival; replay stopped; ";
        break;
      }
      m_clock.advance(std::chrono::milliseconds(t - now()));
      if (te == t) {
        handle(m_events.pop());
        event_since_tick = true;
      } else if (ta == t) {
        arrive(next++);
        event_since_tick = true;
      } else {
        m_sched.tick();
        last_tick = t;
        event_since_tick = false;
        poll();
      }
      count_events();
    }
    summarise(m_tickets, m_models.size(), m_metrics);
    return m_metrics;
  }

private:
  // Starts and stops nothing: it only schedules the instance's ready (after the model's
  // load time) or exit, which the replay loop then tells the scheduler.
  class SimSpawner final : public router::Spawner {
  public:
    explicit SimSpawner(AskdReplay& owner) : m_owner(owner) {}
    void start(router::InstanceId id, const router::ModelSpec& model,
               const router::Plan& plan) override {
      m_owner.on_start(id, model, plan);
    }
    void stop(router::InstanceId id) override { m_owner.on_stop(id); }

  private:
    AskdReplay& m_owner;
  };

  struct Live {
    std::size_t model = 0;
    std::vector<std::uint64_t> bytes;
    bool stopping = false;
  };

  static std::vector<router::ModelSpec> specs(const std::vector<SimModel>& models) {
    std::vector<router::ModelSpec> out;
    for (const SimModel& m : models) {
      out.push_back(m.spec);
    }
    return out;
  }
  static router::SchedulerOptions scheduler_options(Policy policy, const ReplayOptions& options) {
    router::SchedulerOptions o;
    o.eviction = policy == Policy::askd_seed ? router::EvictionOrder::seed_score
                                             : router::EvictionOrder::reload_cost;
    o.due_horizon = std::chrono::milliseconds(options.due_horizon_ms);
    o.prewarm = options.prewarm;
    return o;
  }

  Ms now() const {
    return std::chrono::duration_cast<std::chrono::milliseconds>(m_clock.now() - m_base).count();
  }
  Ms wakeup() const {
    const auto at = m_sched.next_wakeup();
    if (!at) {
      return k_never;
    }
    // Rounded up: a timer is due at or after its deadline, never before.
    const auto ns = (*at - m_base).count();
    return std::max<Ms>(now(), (ns + 999'999) / 1'000'000);
  }

  void on_start(router::InstanceId id, const router::ModelSpec& spec, const router::Plan& plan) {
    if (m_live.contains(id)) {
      m_metrics.problems += "start of live instance " + std::to_string(id) + "; ";
    }
    Live live;
    live.model = m_index.at(spec.name);
    live.bytes = plan_bytes(m_rig, plan);
    const bool replica = std::any_of(m_live.begin(), m_live.end(), [&](const auto& kv) {
      return kv.second.model == live.model && !kv.second.stopping;
    });
    if (replica) {
      ++m_metrics.replica_loads;
    } else {
      ++m_metrics.cold_loads;
      ++m_metrics.cold_by_model[live.model];
    }
    m_memory.add(live.bytes, m_metrics);
    m_events.push(now() + m_models[live.model].load_ms, EventKind::ready, id);
    m_live[id] = std::move(live);
  }
  void on_stop(router::InstanceId id) {
    const auto it = m_live.find(id);
    if (it == m_live.end() || it->second.stopping) {
      m_metrics.problems += "stop of an instance not running: " + std::to_string(id) + "; ";
      return;
    }
    it->second.stopping = true;
    m_events.push(now() + m_options.exit_ms, EventKind::exited, id);
  }

  void handle(const Event& e) {
    switch (e.kind) {
    case EventKind::ready:
      m_sched.ready(e.id);
      break;
    case EventKind::exited:
      if (const auto it = m_live.find(e.id); it != m_live.end()) {
        m_memory.remove(it->second.bytes);
        m_live.erase(it);
      }
      m_sched.exited(e.id, {});
      break;
    case EventKind::done: {
      m_slots.complete(e.id, now());
      m_sched.finish(m_tickets[e.id].rid);
      break;
    }
    case EventKind::expire:
      break;
    }
    poll();
  }

  void arrive(std::size_t t) {
    Ticket& ticket = m_tickets[t];
    ticket.rid = m_sched.submit(m_models[ticket.model].spec.name);
    const router::Outcome out = m_sched.outcome(ticket.rid);
    if (const auto* a = std::get_if<router::Assigned>(&out)) {
      m_slots.assign(a->instance, m_models[ticket.model].spec.parallel, t, now());
    } else if (std::holds_alternative<router::Waiting>(out)) {
      ticket.cold = true;
      m_waiting.push_back(t);
    } else {
      fail(t);
    }
    poll();
  }

  void fail(std::size_t t) {
    Ticket& ticket = m_tickets[t];
    ticket.failed = true;
    ticket.unplaceable = !placeable(m_rig, m_models[ticket.model]);
    m_sched.finish(ticket.rid); // forgets it
  }

  // Hands over every waiting request the scheduler has decided, in arrival order, until
  // nothing changes (forgetting a failed one lets the scheduler decide again).
  void poll() {
    bool changed = true;
    while (changed) {
      changed = false;
      for (std::size_t k = 0; k < m_waiting.size();) {
        const std::size_t t = m_waiting[k];
        const router::Outcome out = m_sched.outcome(m_tickets[t].rid);
        if (std::holds_alternative<router::Waiting>(out)) {
          ++k;
          continue;
        }
        m_waiting.erase(m_waiting.begin() + static_cast<std::ptrdiff_t>(k));
        changed = true;
        if (const auto* a = std::get_if<router::Assigned>(&out)) {
          m_slots.assign(a->instance, m_models[m_tickets[t].model].spec.parallel, t, now());
        } else {
          fail(t);
        }
      }
    }
  }

  void count_events() {
    for (const router::EventRecord& e : m_sched.take_events()) {
      if (m_options.event_log != nullptr) {
        const Ms at = std::chrono::duration_cast<std::chrono::milliseconds>(e.at - m_base).count();
        std::fprintf(
            m_options.event_log, "%s %02lld:%02lld:%06.3f %-12s %-10s #%llu %s\n", m_label.c_str(),
            static_cast<long long>(at / 3'600'000), static_cast<long long>(at / 60'000 % 60),
            static_cast<double>(at % 60'000) / 1000, std::string(router::to_string(e.kind)).c_str(),
            e.model.c_str(), static_cast<unsigned long long>(e.instance), e.detail.c_str());
      }
      if (e.kind == router::EventRecord::Kind::stop && e.detail.starts_with("evicted")) {
        ++m_metrics.evictions;
      }
      if (e.kind == router::EventRecord::Kind::load && e.detail.starts_with("prewarm")) {
        ++m_metrics.prewarms;
      }
      if (e.kind == router::EventRecord::Kind::stop && e.detail.starts_with("prewarmed")) {
        ++m_metrics.prewarms_unused;
      }
    }
  }

  const Rig& m_rig;
  const std::vector<SimModel>& m_models;
  const std::vector<Arrival>& m_trace;
  ReplayOptions m_options;
  std::string m_label; // rig/policy, for the event log
  core::FakeClock m_clock;
  router::SteadyTime m_base;
  SimSpawner m_spawner;
  router::Scheduler m_sched;
  EventQueue m_events;
  std::vector<Ticket> m_tickets;
  Slots m_slots;
  Memory m_memory;
  Metrics m_metrics;
  std::map<std::string, std::size_t> m_index;
  std::map<router::InstanceId, Live> m_live;
  std::vector<std::size_t> m_waiting; // tickets the scheduler has not decided yet
};

// --- baselines -----------------------------------------------------------------------------
//
// One simulator, three policies. Each holds at most one instance per model (none of the
// three runs replicas) and the same slots as askd.
// - lru-models-max (llama.cpp router mode): at most models_max instances; a request for a
//   model not loaded starts it, first unloading the least recently used idle instance when
//   the count is reached (the load begins once that one has exited; with every instance
//   busy the request waits). No memory accounting: the load goes where the memory it can
//   see is free (as llama-server's --fit would), else where it would go on an idle machine,
//   overlapping what is there; every load that pushes a GPU past its cap is an overcommit
//   (an out-of-memory failure in reality; here it proceeds so the rest can be measured). No
//   idle unload (router mode has none) unless baseline_ttl.
// - swap (llama-swap's default group): one model at a time, requests in arrival order
//   behind one lock: a request for another model waits for the running one's requests to
//   finish, then for its exit and the new load; requests behind it wait too. No ttl (its
//   default) unless baseline_ttl.
// - ollama: memory-aware with the same caps. One pending queue handled in order (its
//   processPending loop): a loaded (or loading) model is used; else the model is loaded if
//   it fits and fewer than 3 × GPUs are loaded; else one runner is unloaded — the idle one
//   with the shortest keep_alive (ties: least recently used), or, when all are busy, the
//   shortest-keep_alive one once it drains — and the queue waits for its exit before trying
//   again. keep_alive as configured.

class BaselineReplay {
public:
  BaselineReplay(Policy policy, const Rig& rig, const std::vector<SimModel>& models,
                 const std::vector<Arrival>& trace, const ReplayOptions& options)
      : m_policy(policy), m_rig(rig), m_models(models), m_trace(trace), m_options(options),
        m_tickets(tickets_of(trace)), m_slots(m_tickets, m_events), m_memory(rig) {
    for (const SimModel& m : models) {
      m_placeable.push_back(placeable(rig, m));
    }
    m_metrics.peak.assign(m_memory.size(), 0);
    m_metrics.cold_by_model.assign(models.size(), 0);
  }

  Metrics run() {
    std::size_t next = 0;
    while (true) {
      const Ms te = m_events.next_at();
      const Ms ta = next < m_trace.size() ? m_trace[next].at : k_never;
      m_now = std::min(te, ta);
      if (m_now == k_never) {
        break;
      }
      if (m_now > give_up_at(m_trace)) {
        m_metrics.problems += "still busy a day after the last arrival; replay stopped; ";
        break;
      }
      if (te == m_now) {
        handle(m_events.pop());
      } else {
        arrive(next++);
      }
    }
    summarise(m_tickets, m_models.size(), m_metrics);
    return m_metrics;
  }

private:
  enum class State { queued, loading, ready, stopping };
  struct Instance {
    std::uint64_t id = 0;
    std::size_t model = 0;
    State state = State::queued;
    std::vector<std::uint64_t> bytes;
    Ms last_used = 0;
    bool unload_when_idle = false;
    std::uint64_t epoch = 0; // bumped by every request: an older expire event is stale
    std::uint64_t after = 0; // queued: starts loading when this instance has exited
  };

  const SimModel& model_of(const Instance& inst) const { return m_models[inst.model]; }

  Instance* live_of(std::size_t model) {
    for (auto& [id, inst] : m_instances) {
      if (inst.model == model && inst.state != State::stopping) {
        return &inst;
      }
    }
    return nullptr;
  }
  std::size_t live_count() const {
    return static_cast<std::size_t>(
        std::count_if(m_instances.begin(), m_instances.end(),
                      [](const auto& kv) { return kv.second.state != State::stopping; }));
  }
  bool stopping_any() const {
    return std::any_of(m_instances.begin(), m_instances.end(),
                       [](const auto& kv) { return kv.second.state == State::stopping; });
  }
  bool keeps_alive() const { return m_policy == Policy::ollama || m_options.baseline_ttl; }

  // The plan on what this policy's accounting leaves free; none when it does not fit.
  std::optional<std::vector<std::uint64_t>> fit_free(std::size_t model) const {
    router::Inventory inv = m_rig.inventory;
    for (std::size_t g = 0; g < inv.gpus.size(); ++g) {
      router::Gpu& gpu = inv.gpus[g];
      gpu.cap_bytes = m_memory.available(g);
      gpu.total_bytes = std::max(gpu.total_bytes, gpu.cap_bytes);
      gpu.free_bytes.reset();
      gpu.reserve_bytes = 0;
    }
    auto plan = router::place(m_models[model].spec.estimate, inv, m_models[model].spec.placement);
    if (!plan) {
      return std::nullopt;
    }
    return plan_bytes(m_rig, *plan);
  }
  // The plan on the rig with nothing else loaded (the model is known to be placeable).
  std::vector<std::uint64_t> layout_alone(std::size_t model) const {
    auto plan = router::place(m_models[model].spec.estimate, m_rig.inventory,
                              m_models[model].spec.placement);
    return plan ? plan_bytes(m_rig, *plan) : std::vector<std::uint64_t>(m_memory.size(), 0);
  }

  Instance& create(std::size_t model) {
    Instance inst;
    inst.id = m_next_id++;
    inst.model = model;
    inst.last_used = m_now;
    return m_instances.emplace(inst.id, std::move(inst)).first->second;
  }
  void start_load(Instance& inst, std::vector<std::uint64_t> bytes) {
    inst.bytes = std::move(bytes);
    inst.state = State::loading;
    m_memory.add(inst.bytes, m_metrics);
    ++m_metrics.cold_loads;
    ++m_metrics.cold_by_model[inst.model];
    m_events.push(m_now + model_of(inst).load_ms, EventKind::ready, inst.id);
  }
  void stop(Instance& inst) {
    inst.state = State::stopping;
    m_events.push(m_now + m_options.exit_ms, EventKind::exited, inst.id);
  }
  void evict(Instance& inst) {
    ++m_metrics.evictions;
    if (m_slots.in_flight(inst.id) == 0) {
      stop(inst);
    } else {
      inst.unload_when_idle = true;
    }
  }
  void dispatch(std::size_t t, Instance& inst) {
    ++inst.epoch;
    inst.last_used = m_now;
    m_slots.assign(inst.id, model_of(inst).spec.parallel, t, m_now);
  }
  // An instance with nothing in flight: unload it if asked to or as keep_alive says.
  void settle_idle(Instance& inst) {
    if (inst.state != State::ready || m_slots.in_flight(inst.id) > 0) {
      return;
    }
    if (inst.unload_when_idle) {
      stop(inst);
      return;
    }
    const core::Duration keep = model_of(inst).spec.keep_alive;
    if (!keeps_alive() || keep.is_forever()) {
      return;
    }
    if (keep.is_zero()) {
      stop(inst);
    } else {
      m_events.push(m_now + keep.value().count(), EventKind::expire, inst.id, inst.epoch);
    }
  }

  void handle(const Event& e) {
    switch (e.kind) {
    case EventKind::ready:
      if (const auto it = m_instances.find(e.id); it != m_instances.end()) {
        it->second.state = State::ready;
        it->second.last_used = m_now;
      }
      break;
    case EventKind::exited:
      if (const auto it = m_instances.find(e.id); it != m_instances.end()) {
        m_memory.remove(it->second.bytes);
        m_instances.erase(it);
      }
      m_awaiting = m_awaiting == e.id ? 0 : m_awaiting;
      for (auto& [id, inst] : m_instances) {
        if (inst.state == State::queued && inst.after == e.id) {
          start_load(inst, fit_free(inst.model).value_or(layout_alone(inst.model)));
        }
      }
      break;
    case EventKind::done: {
      const std::uint64_t id = m_slots.complete(e.id, m_now);
      if (const auto it = m_instances.find(id); it != m_instances.end()) {
        it->second.last_used = m_now;
        settle_idle(it->second);
      }
      break;
    }
    case EventKind::expire:
      if (const auto it = m_instances.find(e.id);
          it != m_instances.end() && it->second.state == State::ready &&
          it->second.epoch == e.epoch && m_slots.in_flight(e.id) == 0) {
        stop(it->second);
      }
      break;
    }
    pump();
    // An instance that became ready with nothing handed to it starts its idle period now.
    if (e.kind == EventKind::ready) {
      if (const auto it = m_instances.find(e.id); it != m_instances.end()) {
        settle_idle(it->second);
      }
    }
  }

  void arrive(std::size_t t) {
    Ticket& ticket = m_tickets[t];
    if (!m_placeable[ticket.model]) {
      ticket.failed = true;
      ticket.unplaceable = true;
      return;
    }
    m_pending.push_back(t);
    pump();
    ticket.cold = ticket.instance == 0;
  }

  void pump() {
    switch (m_policy) {
    case Policy::lru_models_max:
      pump_lru();
      break;
    case Policy::swap:
      pump_swap();
      break;
    case Policy::ollama:
      pump_ollama();
      break;
    case Policy::askd:
    case Policy::askd_seed:
      break;
    }
  }

  void pump_lru() {
    for (std::size_t k = 0; k < m_pending.size();) {
      const std::size_t t = m_pending[k];
      const std::size_t model = m_tickets[t].model;
      Instance* inst = live_of(model);
      if (inst != nullptr && inst->state == State::ready) {
        dispatch(t, *inst);
        m_pending.erase(m_pending.begin() + static_cast<std::ptrdiff_t>(k));
        continue;
      }
      if (inst == nullptr) {
        if (live_count() < static_cast<std::size_t>(m_options.models_max)) {
          Instance& fresh = create(model);
          start_load(fresh, fit_free(model).value_or(layout_alone(model)));
        } else if (Instance* victim = least_recent_idle()) {
          evict(*victim);
          Instance& fresh = create(model);
          fresh.after = victim->id;
        }
      }
      ++k;
    }
  }
  Instance* least_recent_idle() {
    Instance* best = nullptr;
    for (auto& [id, inst] : m_instances) {
      if (inst.state == State::ready && m_slots.in_flight(id) == 0 &&
          (best == nullptr || inst.last_used < best->last_used)) {
        best = &inst;
      }
    }
    return best;
  }

  void pump_swap() {
    while (!m_pending.empty()) {
      const std::size_t t = m_pending.front();
      const std::size_t model = m_tickets[t].model;
      Instance* current = nullptr;
      for (auto& [id, inst] : m_instances) {
        current = inst.state != State::stopping ? &inst : current;
      }
      if (current != nullptr && current->model == model) {
        if (current->state != State::ready) {
          return; // loading
        }
        dispatch(t, *current);
        m_pending.pop_front();
        continue;
      }
      if (current != nullptr) {
        if (m_slots.in_flight(current->id) == 0) {
          ++m_metrics.evictions;
          stop(*current);
        }
        return; // busy: its requests finish first
      }
      if (!stopping_any()) {
        start_load(create(model), layout_alone(model));
      }
      return;
    }
  }

  void pump_ollama() {
    const std::size_t max_loaded =
        static_cast<std::size_t>(m_options.ollama_loaded_per_gpu) * m_memory.size();
    for (std::size_t k = 0; k < m_pending.size();) {
      const std::size_t t = m_pending[k];
      const std::size_t model = m_tickets[t].model;
      if (Instance* inst = live_of(model)) {
        if (inst->state == State::ready) {
          dispatch(t, *inst);
          m_pending.erase(m_pending.begin() + static_cast<std::ptrdiff_t>(k));
        } else {
          ++k; // loading: it waits for that load, the queue moves on
        }
        continue;
      }
      if (m_awaiting != 0) {
        return; // an unload is under way for the request ahead
      }
      if (live_count() < max_loaded) {
        if (auto bytes = fit_free(model)) {
          start_load(create(model), std::move(*bytes));
          ++k;
          continue;
        }
      }
      Instance* victim = ollama_victim();
      if (victim == nullptr) {
        return; // only loads and exits under way: wait for them
      }
      m_awaiting = victim->id;
      evict(*victim);
      return;
    }
  }
  Instance* ollama_victim() {
    std::vector<Instance*> loaded;
    for (auto& [id, inst] : m_instances) {
      if (inst.state == State::ready && !inst.unload_when_idle) {
        loaded.push_back(&inst);
      }
    }
    const auto keep = [this](const Instance* i) {
      const core::Duration d = model_of(*i).spec.keep_alive;
      return d.is_forever() ? std::numeric_limits<Ms>::max() : d.value().count();
    };
    std::sort(loaded.begin(), loaded.end(), [&](const Instance* a, const Instance* b) {
      if (keep(a) != keep(b)) {
        return keep(a) < keep(b);
      }
      return a->last_used != b->last_used ? a->last_used < b->last_used : a->id < b->id;
    });
    for (Instance* i : loaded) {
      if (m_slots.in_flight(i->id) == 0) {
        return i;
      }
    }
    return loaded.empty() ? nullptr : loaded.front();
  }

  Policy m_policy;
  const Rig& m_rig;
  const std::vector<SimModel>& m_models;
  const std::vector<Arrival>& m_trace;
  ReplayOptions m_options;
  EventQueue m_events;
  std::vector<Ticket> m_tickets;
  Slots m_slots;
  Memory m_memory;
  Metrics m_metrics;
  std::vector<bool> m_placeable;
  std::map<std::uint64_t, Instance> m_instances;
  std::deque<std::size_t> m_pending; // tickets not yet handed to an instance, arrival order
  std::uint64_t m_next_id = 1;
  std::uint64_t m_awaiting = 0; // ollama: the runner whose exit the queue waits for
  Ms m_now = 0;
};

} // namespace

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
    m = AskdReplay(policy, rig, models, trace, options).run();
  } else {
    m = BaselineReplay(policy, rig, models, trace, options).run();
  }
  m.wall_ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  return m;
}

} // namespace ask::bench::sched
