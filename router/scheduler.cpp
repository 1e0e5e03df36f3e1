// Scheduler: the state machine of router/scheduler.h. Every entry point updates the state,
// then pump() re-decides every waiting request in arrival order; decisions call the Spawner
// and record events. docs/scheduler.md gives the policy and the reasons for it. The
// time-driven part (tick(), next_wakeup(), expiry, backoff) is in scheduler_time.cpp.

#include "router/scheduler.h"

#include <algorithm>
#include <cmath>
#include <utility>

#include "router/scheduler_text.h"

namespace ask::router {
namespace {

using std::chrono::duration_cast;
using std::chrono::milliseconds;
using scheduler_detail::seconds_of;
using scheduler_detail::span_text;

constexpr std::size_t k_max_events = 4096;
constexpr std::size_t k_max_gaps = 16; // quiet gaps remembered per model

} // namespace

std::string describe_exit(const ExitInfo& info, bool last_line_only) {
  std::string text = info.signaled ? "killed by signal " + std::to_string(info.status)
                                   : "exit status " + std::to_string(info.status);
  std::string_view detail = info.detail;
  while (last_line_only && !detail.empty() && (detail.back() == '\n' || detail.back() == '\r')) {
    detail.remove_suffix(1);
  }
  if (last_line_only) {
    detail = detail.substr(detail.find_last_of('\n') + 1); // npos + 1 == 0: the whole text
  }
  if (!detail.empty()) {
    text += ": ";
    text += detail;
  }
  return text;
}

std::string_view to_string(InstanceState state) {
  switch (state) {
  case InstanceState::starting:
    return "starting";
  case InstanceState::ready:
    return "ready";
  case InstanceState::stopping:
    return "stopping";
  }
  return "unknown";
}

std::string_view to_string(EventRecord::Kind kind) {
  using K = EventRecord::Kind;
  switch (kind) {
  case K::load:
    return "load";
  case K::ready:
    return "ready";
  case K::stop:
    return "stop";
  case K::exit:
    return "exit";
  case K::crash:
    return "crash";
  case K::load_failed:
    return "load_failed";
  case K::cannot_place:
    return "cannot_place";
  }
  return "unknown";
}

Scheduler::Scheduler(const core::Clock& clock, Spawner& spawner, Inventory inventory,
                     std::vector<ModelSpec> models, SchedulerOptions options)
    : m_clock(clock), m_spawner(spawner), m_inventory(std::move(inventory)),
      m_models(std::move(models)), m_options(options), m_gpu(m_inventory.gpus.size()) {
  for (std::size_t g = 0; g < m_inventory.gpus.size(); ++g) {
    m_gpu[g].reading = m_inventory.gpus[g].free_bytes;
  }
}

const ModelSpec* Scheduler::spec(std::string_view model) const {
  for (const ModelSpec& m : m_models) {
    if (m.name == model) {
      return &m;
    }
  }
  return nullptr;
}

Scheduler::Instance* Scheduler::find_instance(InstanceId id) {
  const auto it = m_instances.find(id);
  return it == m_instances.end() ? nullptr : &it->second;
}

// --- requests --------------------------------------------------------------------------

RequestId Scheduler::submit(std::string_view model) {
  Request r;
  r.id = m_next_request++;
  r.model = std::string(model);
  r.submitted = m_clock.now();
  if (spec(model) == nullptr) {
    r.outcome = core::Error::not_found("no model named '" + r.model + "' is configured");
  } else {
    ModelState& st = m_state[r.model];
    if (st.last_request != SteadyTime{} &&
        r.submitted - st.last_request >= std::chrono::nanoseconds(m_options.session_gap)) {
      if (st.gaps.size() >= k_max_gaps) {
        st.gaps.erase(st.gaps.begin());
      }
      st.gaps.push_back(seconds_of(r.submitted - st.last_request));
    }
    const double decay = std::exp(-seconds_of(r.submitted - st.last_request) /
                                  seconds_of(m_options.rate_decay));
    st.rate_score = st.rate_score * (st.last_request == SteadyTime{} ? 0.0 : decay) + 1.0;
    st.last_request = r.submitted;
  }
  const RequestId id = r.id;
  m_requests.emplace(id, std::move(r));
  pump();
  return id;
}

Outcome Scheduler::outcome(RequestId request) const {
  const auto it = m_requests.find(request);
  if (it == m_requests.end()) {
    return core::Error::internal("request " + std::to_string(request) +
                                 " is not known to the scheduler (finished or never submitted)");
  }
  return it->second.outcome;
}

void Scheduler::finish(RequestId request) {
  const auto it = m_requests.find(request);
  if (it == m_requests.end()) {
    return;
  }
  if (const Assigned* a = std::get_if<Assigned>(&it->second.outcome)) {
    if (Instance* inst = find_instance(a->instance); inst != nullptr && inst->in_flight > 0) {
      if (--inst->in_flight == 0) {
        inst->idle_since = m_clock.now();
        settle_idle(*inst);
      }
    }
  }
  m_requests.erase(it);
  pump();
}

int Scheduler::waiting() const {
  int n = 0;
  for (const auto& [id, r] : m_requests) {
    n += !r.control && std::holds_alternative<Waiting>(r.outcome) ? 1 : 0;
  }
  return n;
}

// --- instances -------------------------------------------------------------------------

void Scheduler::ready(InstanceId id) {
  Instance* inst = find_instance(id);
  if (inst == nullptr || inst->state != InstanceState::starting) {
    return;
  }
  const SteadyTime now = m_clock.now();
  inst->state = InstanceState::ready;
  inst->was_ready = true;
  inst->ready_at = now;
  inst->idle_since = now;
  m_state[inst->model].last_load = duration_cast<milliseconds>(now - inst->started);
  event(EventRecord::Kind::ready, inst->model, id, "ready after " + span_text(now - inst->started));
  pump();
  if (inst->in_flight == 0) {
    settle_idle(*inst);
  }
}

void Scheduler::exited(InstanceId id, const ExitInfo& info) {
  const auto it = m_instances.find(id);
  if (it == m_instances.end()) {
    return;
  }
  const SteadyTime now = m_clock.now();
  Instance inst = std::move(it->second);
  m_instances.erase(it);
  for (const Share& s : inst.shares) {
    if (s.seen && s.bytes > s.unread) { // what the reading showed as used comes back
      m_gpu[s.gpu].pending.push_back({now, s.bytes - s.unread});
    }
  }
  ModelState& st = m_state[inst.model];
  if (inst.state == InstanceState::stopping) {
    if (inst.was_ready) {
      st.failures = 0;
    }
    event(EventRecord::Kind::exit, inst.model, id, "exited (" + inst.stop_reason + ")");
  } else {
    if (inst.was_ready &&
        now - inst.ready_at >= std::chrono::nanoseconds(m_options.stable_after)) {
      st.failures = 0;
    }
    ++st.failures;
    st.last_failure = now;
    st.last_failure_detail = describe_exit(info, /*last_line_only=*/true);
    event(EventRecord::Kind::crash, inst.model, id,
          std::string(inst.was_ready ? "crashed after " + span_text(now - inst.ready_at) + " up"
                                     : "crashed while loading") +
              " (" + describe_exit(info, /*last_line_only=*/false) + ")");
  }
  pump();
}

void Scheduler::set_reading(std::string_view gpu, std::uint64_t free_bytes) {
  for (std::size_t g = 0; g < m_inventory.gpus.size(); ++g) {
    if (m_inventory.gpus[g].id != gpu) {
      continue;
    }
    m_gpu[g].reading = free_bytes;
    m_gpu[g].pending.clear();
    m_gpu[g].trusted = 0;
    for (auto& [id, inst] : m_instances) {
      for (Share& s : inst.shares) {
        // A loading instance may not have allocated yet: it stays counted against the
        // reading until a reading taken after it was ready.
        s.seen = s.seen || (s.gpu == g && inst.was_ready);
      }
    }
    pump();
    return;
  }
}

// --- events ----------------------------------------------------------------------------

std::vector<EventRecord> Scheduler::take_events() { return std::exchange(m_events, {}); }

void Scheduler::event(EventRecord::Kind kind, const std::string& model, InstanceId id,
                      std::string detail) {
  if (m_events.size() >= k_max_events) { // nobody is reading them: keep the newest
    m_events.erase(m_events.begin(), m_events.begin() + k_max_events / 2);
  }
  m_events.push_back({kind, m_clock.now(), model, id, std::move(detail)});
}

// --- decisions -------------------------------------------------------------------------

void Scheduler::pump() {
  drain_for_due();
  Claims claimed; // groups an earlier waiting request is making room in
  m_reserved.assign(m_inventory.gpus.size(), 0);
  for (auto& [id, r] : m_requests) {
    if (!std::holds_alternative<Waiting>(r.outcome)) {
      continue;
    }
    serve(r, claimed);
    const ModelSpec* m = spec(r.model);
    if (m != nullptr && !m->group.empty() && std::holds_alternative<Waiting>(r.outcome)) {
      claimed.emplace_back(m->group, m->name);
    }
  }
  prewarm_due();
  std::erase_if(m_requests, [this](const auto& kv) {
    return kv.second.control && kv.first != m_loading &&
           !std::holds_alternative<Waiting>(kv.second.outcome);
  });
  m_reserved.clear();
}

void Scheduler::serve(Request& r, const Claims& claimed) {
  const ModelSpec* m = spec(r.model);
  if (m == nullptr) {
    fail(r, core::Error::not_found("model '" + r.model + "' was removed from the configuration"));
    return;
  }
  std::vector<Instance*> ready;
  Instance* starting = nullptr;
  int live = 0;
  for (auto& [id, inst] : m_instances) {
    if (inst.model != m->name || inst.state == InstanceState::stopping || inst.stop_when_idle) {
      continue;
    }
    ++live;
    if (inst.state == InstanceState::ready) {
      ready.push_back(&inst);
    } else if (starting == nullptr) {
      starting = &inst;
    }
  }

  if (!ready.empty()) {
    const bool all_busy = std::all_of(ready.begin(), ready.end(), [&](const Instance* i) {
      return i->in_flight >= m->parallel;
    });
    if (all_busy && starting == nullptr && live < m->max_replicas && !r.control) {
      if (auto plan = fit(*m, {}, false, nullptr); plan && leaves_room(*m, *plan)) {
        start(*m, std::move(*plan), "replica: all " + std::to_string(live) + " busy");
      }
    }
    Instance* best = *std::min_element(ready.begin(), ready.end(),
                                       [](const Instance* a, const Instance* b) {
                                         return a->in_flight < b->in_flight;
                                       });
    if (!r.control) {
      ++best->in_flight;
      best->prewarm_until.reset();
    }
    r.outcome = Assigned{best->id};
    r.drain_deadline.reset();
    return;
  }
  if (starting != nullptr) { // a load is under way: share it
    if (r.control) {
      r.outcome = Assigned{starting->id};
    }
    return;
  }

  // Cold: nothing of this model runs.
  const SteadyTime now = m_clock.now();
  if (const auto until = backoff_until(m->name); until && now < *until) {
    const ModelState& st = m_state[m->name];
    core::Error error = core::Error::overloaded(
        m->name + " crashed " + std::to_string(st.failures) + " times in a row (last: " +
        st.last_failure_detail + "); next start in " + span_text(*until - now));
    error.retry_after_s = static_cast<int>(
        std::ceil(std::min(seconds_of(*until - now), 86'400.0))); // a whole second at least
    fail(r, std::move(error));
    return;
  }
  if (!m->group.empty()) {
    const bool queued = std::any_of(claimed.begin(), claimed.end(), [&](const auto& c) {
      return c.first == m->group && c.second != m->name;
    });
    bool blocked = queued;
    std::string busy;
    for (auto& [id, inst] : m_instances) {
      const ModelSpec* other = spec(inst.model);
      if (inst.model == m->name || other == nullptr || other->group != m->group) {
        continue;
      }
      blocked = true;
      if (inst.state == InstanceState::ready && inst.in_flight == 0) {
        stop_instance(inst, "exclusive group " + m->group + ": making way for " + m->name);
      } else if (inst.state != InstanceState::stopping) {
        busy = inst.model;
      }
    }
    if (blocked) {
      wait(r, !busy.empty() || queued,
           busy.empty() ? "another member of exclusive group " + m->group + " goes first"
                        : busy + " of exclusive group " + m->group + " is busy");
      return;
    }
  }

  NoFit why;
  if (auto plan = fit(*m, {}, false, &why)) {
    const InstanceId id = start(*m, std::move(*plan), r.control ? "load" : "request");
    if (r.control) {
      r.outcome = Assigned{id};
    }
    r.drain_deadline.reset();
    return;
  }
  // Instances on their way out: stopping, or draining (unload, removal, scaled down) to stop
  // once their requests finish.
  std::vector<InstanceId> stopping;
  bool draining = false;
  for (const auto& [id, inst] : m_instances) {
    if (inst.state == InstanceState::stopping || inst.stop_when_idle) {
      stopping.push_back(id);
      draining = draining || inst.state != InstanceState::stopping;
    }
  }
  if (auto plan = fit(*m, stopping, true, nullptr)) {
    reserve(*plan);
    wait(r, draining, "memory being freed by stopping instances");
    return;
  }
  if (const Evictions ev = choose_evictions(*m, stopping); !ev.victims.empty()) {
    for (InstanceId v : ev.victims) {
      Instance& inst = m_instances.at(v);
      if (inst.in_flight == 0) {
        stop_instance(inst, "evicted to make room for " + m->name);
      } else if (!inst.stop_when_idle) { // a busy replica: no new requests, stops when done
        draining = true;
        inst.stop_when_idle = true;
        inst.stop_reason = "replica scaled down to make room for " + m->name;
        event(EventRecord::Kind::stop, inst.model, v, inst.stop_reason + " (once its requests finish)");
      }
    }
    reserve(ev.plan);
    wait(r, draining, draining ? "a replica to finish its requests" : "instances evicted for it to exit");
    return;
  }
  std::vector<InstanceId> all = stopping;
  std::string holders;
  std::string pinned; // models that keep their memory however short it is
  for (const auto& [id, inst] : m_instances) {
    const ModelSpec* other = spec(inst.model);
    const bool removable = other == nullptr || !other->pinned || inst.stop_when_idle;
    if (inst.state != InstanceState::stopping && !removable &&
        pinned.find(inst.model) == std::string::npos) {
      pinned += (pinned.empty() ? "" : ", ") + inst.model;
    }
    if (inst.state != InstanceState::stopping && removable) {
      all.push_back(id);
      if ((inst.in_flight > 0 || has_waiting(inst.model)) &&
          holders.find(inst.model) == std::string::npos) {
        holders += (holders.empty() ? "" : ", ") + inst.model;
      }
    }
  }
  if (fit(*m, all, true, nullptr)) {
    wait(r, true, "busy instances (" + (holders.empty() ? "loading" : holders) +
                      ") hold the memory it needs; " + why.reason);
    return;
  }
  const std::vector<std::uint64_t> reserved = std::exchange(m_reserved, {});
  const auto unreserved = fit(*m, all, true, nullptr);
  m_reserved = reserved;
  if (unreserved) { // an earlier request is making room that it needs too: it goes first
    wait(r, false, "an earlier request is making room for its model first");
    return;
  }
  NoFit empty;
  fit(*m, all, true, &empty);
  const std::string reason =
      (pinned.empty() ? std::string("it does not fit even with every other model unloaded: ")
                      : "it does not fit beside the pinned " + pinned +
                            " even with every other model unloaded: ") +
      empty.reason;
  event(EventRecord::Kind::cannot_place, m->name, 0, reason);
  fail(r, core::Error::overloaded("cannot place " + m->name + ": " + reason));
}

std::chrono::milliseconds Scheduler::drain_wait_of(const std::string& model) const {
  const ModelSpec* m = spec(model);
  return m != nullptr && m->drain_wait ? *m->drain_wait : m_options.drain_wait;
}

void Scheduler::wait(Request& r, bool bounded, std::string reason) {
  if (!bounded) {
    r.drain_deadline.reset();
  } else if (!r.drain_deadline) {
    r.drain_deadline = m_clock.now() + drain_wait_of(r.model);
  }
  r.wait_reason = std::move(reason);
}

InstanceId Scheduler::start(const ModelSpec& m, Plan plan, std::string_view why) {
  Instance inst;
  inst.id = m_next_instance++;
  inst.model = m.name;
  inst.started = m_clock.now();
  std::string where;
  for (const Charge& c : plan.charges()) {
    for (std::size_t g = 0; g < m_inventory.gpus.size(); ++g) {
      if (m_inventory.gpus[g].id == c.device) {
        inst.shares.push_back({g, c.bytes, c.unread, false});
      }
    }
    where += (where.empty() ? "" : ", ") + c.device + " " + human_bytes(c.bytes);
  }
  inst.plan = std::move(plan);
  const InstanceId id = inst.id;
  auto [it, inserted] = m_instances.emplace(id, std::move(inst));
  event(EventRecord::Kind::load, m.name, id,
        std::string(why) + "; on " + (where.empty() ? "the CPU" : where));
  m_spawner.start(id, m, it->second.plan);
  return id;
}

void Scheduler::stop_instance(Instance& inst, std::string reason) {
  if (inst.state == InstanceState::stopping) {
    return;
  }
  inst.state = InstanceState::stopping;
  inst.stop_reason = reason;
  event(EventRecord::Kind::stop, inst.model, inst.id, std::move(reason));
  m_spawner.stop(inst.id);
}

void Scheduler::fail(Request& r, core::Error error) {
  r.outcome = std::move(error);
  r.drain_deadline.reset();
}

} // namespace ask::router
