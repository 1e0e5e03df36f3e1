// The replay machinery sched_trace's policies share (sched_trace_sim.h): the slots, the
// per-GPU memory accounting, and the summary of a replay's tickets into its metrics.

#include "bench/sched_trace_sim.h"

#include <algorithm>
#include <cmath>

namespace ask::bench::sched::detail {

// Every keep_alive and backlog here is over within hours of the last arrival; a replay that
// still has work a day later is going round in circles (a livelock), and stops there with
// its unfinished requests counted as stuck.
constexpr Ms k_overrun_ms = 24 * 3'600'000;

Ms give_up_at(const std::vector<Arrival>& trace) {
  return (trace.empty() ? 0 : trace.back().at) + k_overrun_ms;
}

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

// --- Slots ---------------------------------------------------------------------------------

void Slots::assign(std::uint64_t instance, int parallel, std::size_t t, Ms now) {
  Queue& q = m_queues[instance];
  q.parallel = std::max(parallel, 1);
  m_tickets[t].instance = instance;
  if (q.busy < q.parallel) {
    begin(q, t, now);
  } else {
    q.waiting.push_back(t);
  }
}

std::uint64_t Slots::complete(std::size_t t, Ms now) {
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

int Slots::in_flight(std::uint64_t instance) const {
  const auto it = m_queues.find(instance);
  return it == m_queues.end() ? 0 : it->second.busy + static_cast<int>(it->second.waiting.size());
}

void Slots::begin(Queue& q, std::size_t t, Ms now) {
  ++q.busy;
  m_tickets[t].start = now;
  m_events.push(now + m_tickets[t].service, EventKind::done, t);
}

// --- Memory --------------------------------------------------------------------------------

Memory::Memory(const Rig& rig) {
  for (const router::Gpu& g : rig.inventory.gpus) {
    m_caps.push_back(g.cap_bytes);
  }
  m_used.assign(m_caps.size(), 0);
}

void Memory::add(const std::vector<std::uint64_t>& bytes, Metrics& m) {
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

void Memory::remove(const std::vector<std::uint64_t>& bytes) {
  for (std::size_t g = 0; g < m_caps.size(); ++g) {
    m_used[g] -= std::min(m_used[g], bytes[g]);
  }
}

std::uint64_t Memory::available(std::size_t g) const {
  return m_caps[g] > m_used[g] ? m_caps[g] - m_used[g] : 0;
}

// --- plans and summaries -------------------------------------------------------------------

std::vector<std::uint64_t> plan_bytes(const Rig& rig, const router::Plan& plan) {
  std::vector<std::uint64_t> out(rig.inventory.gpus.size(), 0);
  for (const router::GpuShare& s : plan.gpus) {
    for (std::size_t g = 0; g < out.size(); ++g) {
      out[g] += rig.inventory.gpus[g].id == s.gpu ? s.bytes : 0;
    }
  }
  return out;
}

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

} // namespace ask::bench::sched::detail
