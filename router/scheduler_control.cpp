// Scheduler, its control and views: load, unload, preload and configuration reloads (the
// API's and askd's start-up), and the snapshots /api/status shows. docs/scheduler.md.

#include "router/scheduler.h"

namespace ask::router {

// --- control ---------------------------------------------------------------------------

core::Result<InstanceId> Scheduler::load(std::string_view model) {
  if (spec(model) == nullptr) {
    return core::fail(core::Error::not_found("no model named '" + std::string(model) +
                                             "' is configured"));
  }
  for (const auto& [id, inst] : m_instances) {
    if (inst.model == model && inst.state != InstanceState::stopping && !inst.stop_when_idle) {
      return id;
    }
  }
  Request r;
  r.id = m_next_request++;
  r.model = std::string(model);
  r.submitted = m_clock.now();
  r.control = true;
  const RequestId id = r.id;
  m_requests.emplace(id, std::move(r));
  m_loading = id; // pump() keeps it for us to read
  pump();
  m_loading = 0;
  const auto it = m_requests.find(id);
  const Outcome out = it->second.outcome;
  if (!std::holds_alternative<Waiting>(out)) {
    m_requests.erase(it);
  }
  if (const core::Error* e = std::get_if<core::Error>(&out)) {
    return core::fail(*e);
  }
  if (const Assigned* a = std::get_if<Assigned>(&out)) {
    return a->instance;
  }
  return InstanceId{0}; // queued: it starts when the instances evicted for it have exited
}

core::Result<int> Scheduler::unload(std::string_view model) {
  int affected = 0;
  for (auto& [id, inst] : m_instances) {
    if (inst.model != model || inst.state == InstanceState::stopping || inst.stop_when_idle) {
      continue;
    }
    ++affected;
    if (inst.in_flight == 0) {
      stop_instance(inst, "unloaded");
    } else {
      inst.stop_when_idle = true;
      inst.stop_reason = "unloaded (once its requests finished)";
    }
  }
  if (affected == 0 && spec(model) == nullptr) {
    return core::fail(core::Error::not_found("no model named '" + std::string(model) +
                                             "' is configured or running"));
  }
  for (auto& [rid, r] : m_requests) {
    if (r.model == model && std::holds_alternative<Waiting>(r.outcome)) {
      fail(r, core::Error::overloaded(r.model + " was unloaded while the request waited for it"));
    }
  }
  std::erase_if(m_requests, [](const auto& kv) {
    return kv.second.control && !std::holds_alternative<Waiting>(kv.second.outcome);
  });
  pump();
  return affected;
}

std::vector<core::Error> Scheduler::preload(const std::vector<std::string>& models) {
  std::vector<core::Error> errors;
  for (const std::string& name : models) {
    if (auto r = load(name); !r) {
      errors.push_back(r.error());
    }
  }
  return errors;
}

void Scheduler::update_models(std::vector<ModelSpec> models) {
  m_models = std::move(models);
  for (auto& [id, inst] : m_instances) {
    if (inst.state == InstanceState::stopping) {
      continue;
    }
    if (spec(inst.model) == nullptr) {
      if (inst.in_flight == 0) {
        stop_instance(inst, "removed from the configuration");
      } else {
        inst.stop_when_idle = true;
        inst.stop_reason = "removed from the configuration (once its requests finished)";
      }
    } else if (inst.state == InstanceState::ready && inst.in_flight == 0) {
      settle_idle(inst);
    }
  }
  tick(); // a shorter keep_alive may have expired already
}

// --- views -----------------------------------------------------------------------------

std::vector<InstanceView> Scheduler::instances() const {
  std::vector<InstanceView> out;
  out.reserve(m_instances.size());
  for (const auto& [id, inst] : m_instances) {
    InstanceView v;
    v.id = id;
    v.model = inst.model;
    v.state = inst.state;
    v.plan = inst.plan;
    v.in_flight = inst.in_flight;
    v.started = inst.started;
    v.ready_at = inst.ready_at;
    v.idle_since = inst.in_flight == 0 ? inst.idle_since : SteadyTime{};
    v.expires = expiry(inst);
    v.stop_reason = inst.stop_reason;
    v.prewarmed = inst.prewarm_until.has_value();
    out.push_back(std::move(v));
  }
  return out;
}

std::vector<GpuView> Scheduler::gpus() const {
  std::vector<GpuView> out;
  for (std::size_t g = 0; g < m_inventory.gpus.size(); ++g) {
    GpuView v;
    v.id = m_inventory.gpus[g].id;
    v.kind = m_inventory.gpus[g].kind;
    v.total = m_inventory.gpus[g].total_bytes;
    v.cap = m_inventory.gpus[g].cap_bytes;
    for (const auto& [id, inst] : m_instances) {
      for (const Share& s : inst.shares) {
        v.ours += s.gpu == g ? s.bytes : 0;
      }
    }
    v.available = available(g, {}, false);
    v.reading = m_gpu[g].reading;
    out.push_back(std::move(v));
  }
  return out;
}

} // namespace ask::router
