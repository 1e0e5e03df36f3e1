// sched_trace: a day (or more) of requests replayed in virtual time on the seed rigs, through askd's
// scheduler and three baseline policies (llama.cpp router mode's --models-max LRU,
// llama-swap's one-model-at-a-time swapping, Ollama's shortest-keep_alive eviction).
//
// The scheduler is a pure state machine over a Clock and a Spawner, so a trace can be
// replayed through it as it is, with a FakeClock and a spawner that only schedules "ready"
// and "exited" events. The baselines are one small simulator (sched_trace_baselines.cpp)
// sharing the load-time, service-time and slot model. Reported per rig and policy: cold
// loads (and of those, cold starts: the loads a request waited for), seconds requests waited
// for loads, peak memory per GPU and overcommits (which must be zero for askd: the program
// exits 1 otherwise). Target (the issue): fewer cold loads and less waiting than every
// baseline on every rig. Nothing here is tuned for that target; the verdict lines say where
// it is missed.
//
// This file holds the command line and the report (tables and JSON); the models, rigs and
// trace are in sched_trace_workload.cpp, the replays in sched_trace_policies.cpp.

#include <chrono>
#include <cmath>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "bench/sched_trace_policies.h"
#include "bench/sched_trace_workload.h"

namespace ask::bench::sched {
namespace {

// --- output ----------------------------------------------------------------------------

double gib(std::uint64_t bytes) {
  return static_cast<double>(bytes) / k_gib_d;
}

struct RigResult {
  const Rig* rig = nullptr;
  std::vector<SimModel> models;
  std::vector<std::pair<Policy, Metrics>> runs;
};

std::string keep_text(int s) {
  return s == 0 ? "0" : s % 60 == 0 ? std::to_string(s / 60) + " min" : std::to_string(s) + " s";
}

void print_header(WorkloadKind workload, std::uint64_t seed, double hours,
                  const std::vector<Arrival>& trace, const ReplayOptions& o) {
  const std::span<const ModelDef> defs = model_defs(workload);
  std::vector<std::size_t> per_model(defs.size(), 0);
  for (const Arrival& a : trace) {
    ++per_model[a.model];
  }
  fmt::print("sched_trace: workload {}, seed {}, {} h of virtual time, {} requests\n",
             to_string(workload), seed, hours, trace.size());
  fmt::print("load time = {} s + size / {} GiB/s; a stopped instance frees its memory {} s "
             "later; per-GPU memory as router::place() lays the model out\n",
             k_load_fixed_s, k_load_gib_per_s, static_cast<double>(o.exit_ms) / 1000);
  fmt::print("\n{:<12} {:>9} {:>7} {:>10} {:>5} {:>8} {:>9} {:>8}  {}\n", "model", "size",
             "load", "keep_alive", "slots", "replicas", "service", "requests", "as");
  const std::vector<SimModel> ms = sim_models(defs, config::GpuApi::cuda);
  for (std::size_t i = 0; i < ms.size(); ++i) {
    const ModelDef& d = defs[i];
    fmt::print("{:<12} {:>5.2f} GiB {:>5.1f} s {:>10} {:>5} {:>8} {:>3.0f}-{:<2.0f} s {:>8}  {}\n",
               d.name, gib(ms[i].bytes), static_cast<double>(ms[i].load_ms) / 1000,
               keep_text(d.keep_alive_s), d.parallel, d.max_replicas, d.service_lo_s,
               d.service_hi_s, per_model[i], d.what);
  }
  fmt::print("\nworkload {} (working hours {:.0f}:00-{:.0f}:00): {}\n", to_string(workload),
             k_work_start_h, k_work_end_h, traffic_text(workload));
  fmt::print(
      "policies: askd = Scheduler, reload_cost eviction; askd-seed = Scheduler, seed_score "
      "eviction (both due_horizon {} s, prewarm {}); lru-models-max = llama.cpp router mode, --models-max {}, LRU, no memory "
      "accounting{}; swap = llama-swap default group, one model at a time, FIFO{}; ollama = "
      "shortest keep_alive evicted first, OLLAMA_MAX_LOADED_MODELS {} x GPUs, one runner per "
      "model. Only askd runs replicas. Same slots, load and service times for all.\n",
      static_cast<double>(o.due_horizon_ms) / 1000, o.prewarm ? "on" : "off", o.models_max,
      o.baseline_ttl ? ", unloads after keep_alive" : ", never unloads when idle",
      o.baseline_ttl ? ", ttl = keep_alive" : ", no ttl", o.ollama_loaded_per_gpu);
  fmt::print(
      "columns: cold = loads of a model with no instance up (prewarms included); waited for = "
      "of those, loads a request waited for (cold starts: every baseline load; for askd, not "
      "a prewarm ready before its request came); prew = of the cold loads, loads before a "
      "request came / stopped unused (askd); +repl = further replicas (askd); "
      "evict = instances stopped for room; cold req = requests not handed to a running "
      "instance on arrival; load wait = their arrival -> service start (s, total / p50 / p95 "
      "/ max); wait = arrival -> service start of every request, slot queueing included (s, "
      "total / p95); overc = loads that pushed a GPU past its cap; peak = most GiB held per "
      "GPU\n");
}

void print_rig(const RigResult& r) {
  const Rig& rig = *r.rig;
  fmt::print("\n== rig {}: {}\n", rig.name, rig.description);
  std::string caps;
  for (const router::Gpu& g : rig.inventory.gpus) {
    caps += fmt::format(" {} {:.1f}", g.id, gib(g.cap_bytes));
  }
  fmt::print("caps (GiB):{}\n", caps);
  const Metrics& first = r.runs.front().second;
  std::string unplaceable;
  for (const auto& model : r.models) {
    if (!placeable(rig, model)) {
      unplaceable += fmt::format("{}{}", unplaceable.empty() ? "" : ", ", model.spec.name);
    }
  }
  if (!unplaceable.empty()) {
    fmt::print("cannot hold {} even alone: those {} requests fail under every policy and are "
               "left out below\n",
               unplaceable, first.unplaceable);
  }
  fmt::print("{:<15} {:>5} {:>4} {:>5} {:>6} {:>6} {:>5} {:>5} {:>5} {:>27} {:>15} {:>5}  {}\n",
             "policy", "reqs", "fail", "cold", "waited", "prew", "+repl", "evict", "cold",
             "load wait s", "wait s", "overc", "peak GiB per GPU");
  fmt::print("{:<15} {:>5} {:>4} {:>5} {:>6} {:>6} {:>5} {:>5} {:>5} {:>27} {:>15} {:>5}\n", "",
             "", "", "", "for", "", "", "", "req", "total/p50/p95/max", "total/p95", "");
  for (const auto& [policy, m] : r.runs) {
    std::string peak;
    for (std::uint64_t p : m.peak) {
      peak += fmt::format(" {:4.1f}", gib(p));
    }
    fmt::print(
        "{:<15} {:>5} {:>4} {:>5} {:>6} {:>6} {:>5} {:>5} {:>5} {:>27} {:>15} {:>5} {}\n",
        to_string(policy), m.requests, m.failed, m.cold_loads, m.cold_starts,
        fmt::format("{}/{}", m.prewarms, m.prewarms_unused), m.replica_loads, m.evictions,
        m.cold_requests,
        fmt::format("{:.0f}/{:.1f}/{:.1f}/{:.1f}", m.load_wait_s, m.load_wait_p50_s,
                    m.load_wait_p95_s, m.load_wait_max_s),
        fmt::format("{:.0f}/{:.1f}", m.total_wait_s, m.total_wait_p95_s), m.overcommits, peak);
  }
  std::string head = fmt::format("{:<15}", "cold loads by");
  for (const SimModel& m : r.models) {
    head += fmt::format(" {:>9}", m.spec.name);
  }
  fmt::print("{}\n", head);
  for (const auto& [policy, m] : r.runs) {
    std::string row = fmt::format("{:<15}", to_string(policy));
    for (const auto cold : m.cold_by_model) {
      row += fmt::format(" {:>9}", cold);
    }
    fmt::print("{}\n", row);
  }
  head = fmt::format("{:<15}", "load wait s by");
  for (const SimModel& m : r.models) {
    head += fmt::format(" {:>9}", m.spec.name);
  }
  fmt::print("{}\n", head);
  for (const auto& [policy, m] : r.runs) {
    std::string row = fmt::format("{:<15}", to_string(policy));
    for (double w : m.load_wait_by_model_s) {
      row += fmt::format(" {:>9.0f}", w);
    }
    fmt::print("{}\n", row);
  }
  for (const auto& [policy, m] : r.runs) {
    if (m.failed > 0) {
      std::string which;
      for (std::size_t i = 0; i < m.failed_by_model.size(); ++i) {
        if (m.failed_by_model[i] > 0) {
          which += fmt::format(" {} {}", r.models[i].spec.name, m.failed_by_model[i]);
        }
      }
      fmt::print("failed under {}:{}\n", to_string(policy), which);
    }
    if (m.stuck > 0 || !m.problems.empty()) {
      fmt::print("PROBLEM under {}: {} requests never served nor failed; {}\n", to_string(policy),
                 m.stuck, m.problems);
    }
  }
}

// " policy (theirs vs ours[, N overcommits])" when askd's figure is not below `theirs`, else "".
std::string lost_to(Policy policy, const Metrics& m, double ours, double theirs,
                    std::string_view unit) {
  if (ours < theirs) {
    return "";
  }
  // A policy that overcommitted got its numbers from memory it did not have.
  const std::string over = m.overcommits > 0 ? fmt::format(", {} overcommits", m.overcommits) : "";
  return fmt::format(" {} ({:.0f}{} vs {:.0f}{}{})", to_string(policy), theirs, unit, ours, unit,
                     over);
}

// "fewest (met)", or "NOT fewest, matched or beaten by" and the policies that did.
std::string outcome(std::string_view best, const std::string& lost) {
  return lost.empty() ? fmt::format("{} (met)", best)
                      : fmt::format("NOT {}, matched or beaten by{}", best, lost);
}

// Which baselines askd beats on cold starts, cold loads and load wait, and which it does not.
void print_verdict(const RigResult& r) {
  const Metrics* ours = nullptr;
  for (const auto& [policy, m] : r.runs) {
    ours = policy == Policy::askd ? &m : ours;
  }
  if (ours == nullptr) {
    return;
  }
  std::string loads_lost;
  std::string starts_lost;
  std::string wait_lost;
  for (const auto& [policy, m] : r.runs) {
    if (policy == Policy::askd || policy == Policy::askd_seed) {
      continue;
    }
    const auto count = [](std::size_t n) { return static_cast<double>(n); };
    loads_lost += lost_to(policy, m, count(ours->cold_loads), count(m.cold_loads), "");
    starts_lost += lost_to(policy, m, count(ours->cold_starts), count(m.cold_starts), "");
    wait_lost += lost_to(policy, m, ours->load_wait_s, m.load_wait_s, " s");
  }
  fmt::print("verdict {}: cold starts (loads a request waited for) {}; cold loads, prewarms "
             "included, {}; load wait {}{}\n",
             r.rig->name, outcome("fewest", starts_lost), outcome("fewest", loads_lost),
             outcome("least", wait_lost),
             ours->failed > 0 ? fmt::format("; askd failed {} requests", ours->failed) : "");
}

nlohmann::json metrics_json(const Metrics& m, const std::vector<SimModel>& models) {
  nlohmann::json by_model = nlohmann::json::object();
  nlohmann::json failed_by_model = nlohmann::json::object();
  nlohmann::json wait_by_model = nlohmann::json::object();
  for (std::size_t i = 0; i < models.size(); ++i) {
    by_model[models[i].spec.name] = m.cold_by_model[i];
    failed_by_model[models[i].spec.name] = m.failed_by_model[i];
    wait_by_model[models[i].spec.name] = m.load_wait_by_model_s[i];
  }
  nlohmann::json peak = nlohmann::json::array();
  for (std::uint64_t p : m.peak) {
    peak.push_back(p);
  }
  return {{"requests", m.requests},
          {"unplaceable", m.unplaceable},
          {"served", m.served},
          {"failed", m.failed},
          {"failed_by_model", failed_by_model},
          {"stuck", m.stuck},
          {"cold_loads", m.cold_loads},
          {"cold_loads_by_model", by_model},
          {"cold_starts", m.cold_starts},
          {"prewarms", m.prewarms},
          {"prewarms_unused", m.prewarms_unused},
          {"replica_loads", m.replica_loads},
          {"evictions", m.evictions},
          {"cold_requests", m.cold_requests},
          {"load_wait_s", m.load_wait_s},
          {"load_wait_p50_s", m.load_wait_p50_s},
          {"load_wait_p95_s", m.load_wait_p95_s},
          {"load_wait_max_s", m.load_wait_max_s},
          {"load_wait_by_model_s", wait_by_model},
          {"total_wait_s", m.total_wait_s},
          {"total_wait_p95_s", m.total_wait_p95_s},
          {"peak_bytes", peak},
          {"overcommits", m.overcommits},
          {"worst_over_bytes", m.worst_over},
          {"stuck_wakeups", m.stuck_wakeups},
          {"problems", m.problems},
          {"wall_ms", m.wall_ms}};
}

nlohmann::json report_json(WorkloadKind workload, std::uint64_t seed, double hours,
                           const ReplayOptions& o, const std::vector<Arrival>& trace,
                           const std::vector<RigResult>& results) {
  nlohmann::json models = nlohmann::json::array();
  const std::span<const ModelDef> defs = model_defs(workload);
  const std::vector<SimModel> ms = sim_models(defs, config::GpuApi::cuda);
  for (std::size_t i = 0; i < ms.size(); ++i) {
    const ModelDef& d = defs[i];
    models.push_back({{"name", d.name},
                      {"bytes", ms[i].bytes},
                      {"load_s", static_cast<double>(ms[i].load_ms) / 1000},
                      {"keep_alive_s", d.keep_alive_s},
                      {"parallel", d.parallel},
                      {"max_replicas", d.max_replicas},
                      {"service_s", {d.service_lo_s, d.service_hi_s}}});
  }
  nlohmann::json rigs = nlohmann::json::array();
  for (const RigResult& r : results) {
    nlohmann::json gpus = nlohmann::json::array();
    for (const router::Gpu& g : r.rig->inventory.gpus) {
      gpus.push_back({{"id", g.id},
                      {"name", g.name},
                      {"total_bytes", g.total_bytes},
                      {"cap_bytes", g.cap_bytes}});
    }
    nlohmann::json policies = nlohmann::json::object();
    for (const auto& [policy, m] : r.runs) {
      policies[std::string(to_string(policy))] = metrics_json(m, r.models);
    }
    rigs.push_back({{"name", r.rig->name},
                    {"description", r.rig->description},
                    {"gpus", gpus},
                    {"policies", policies}});
  }
  return {{"workload", to_string(workload)},
          {"seed", seed},
          {"hours", hours},
          {"requests", trace.size()},
          {"load_model", {{"fixed_s", k_load_fixed_s}, {"gib_per_s", k_load_gib_per_s}}},
          {"exit_s", static_cast<double>(o.exit_ms) / 1000},
          {"models_max", o.models_max},
          {"ollama_max_loaded_per_gpu", o.ollama_loaded_per_gpu},
          {"baseline_ttl", o.baseline_ttl},
          {"due_horizon_s", static_cast<double>(o.due_horizon_ms) / 1000},
          {"prewarm", o.prewarm},
          {"models", models},
          {"rigs", rigs}};
}

} // namespace
} // namespace ask::bench::sched

int main(int argc, char** argv) {
  using namespace ask::bench::sched;
  CLI::App app{"sched_trace: a request trace replayed in virtual time through askd's scheduler "
               "and the llama.cpp router, llama-swap and Ollama policies on the seed rigs"};
  std::uint64_t seed = 1;
  double hours = 24;
  std::string only_rig;
  ReplayOptions options;
  bool json = false;
  std::string workload_name = "day";
  app.add_option("--workload", workload_name,
                 "day: a team's agents, coding, cron digests, heavy and council requests on "
                 "five models; zoo: eight models kept an hour each on rigs that hold a few "
                 "(the eviction order's test)")
      ->check(CLI::IsMember({"day", "zoo"}))
      ->capture_default_str();
  app.add_option("--seed", seed, "workload seed (std::mt19937_64)")->capture_default_str();
  app.add_option("--hours", hours, "virtual hours of traffic, from midnight")
      ->check(CLI::Range(0.1, 24.0 * 365))
      ->capture_default_str();
  app.add_option("--rig", only_rig, "only this rig")
      ->check(CLI::IsMember({"big", "dual", "single", "laptop"}));
  app.add_option("--models-max", options.models_max, "lru-models-max: models loaded at most")
      ->check(CLI::Range(1, 64))
      ->capture_default_str();
  app.add_flag("--baseline-ttl", options.baseline_ttl,
               "lru-models-max and swap also unload idle models after their keep_alive");
  double due_horizon_s = 60;
  app.add_option("--due-horizon", due_horizon_s,
                 "askd: seconds ahead a model due at its usual gap is kept room for "
                 "(SchedulerOptions::due_horizon; 0 = off)")
      ->check(CLI::Range(0.0, 86400.0))
      ->capture_default_str();
  bool no_prewarm = false;
  app.add_flag("--no-prewarm", no_prewarm,
               "askd: do not load models due soon before their request comes "
               "(SchedulerOptions::prewarm)");
  app.add_flag("--json", json, "print one JSON object instead of tables");
  bool events = false;
  app.add_flag("--events", events,
               "write the scheduler's events of the askd replays to stderr (with --rig)");
  CLI11_PARSE(app, argc, argv);
  options.event_log = events ? stderr : nullptr;
  options.due_horizon_ms = std::llround(due_horizon_s * 1000);
  options.prewarm = !no_prewarm;
  const WorkloadKind workload = workload_name == "zoo" ? WorkloadKind::zoo : WorkloadKind::day;

  const auto t0 = std::chrono::steady_clock::now();
  const std::vector<Arrival> trace = generate_trace(workload, seed, hours);
  const std::vector<Rig> rigs = seed_rigs();
  std::vector<RigResult> results;
  bool broken = false;
  for (const Rig& rig : rigs) {
    if (!only_rig.empty() && rig.name != only_rig) {
      continue;
    }
    RigResult r;
    r.rig = &rig;
    r.models = sim_models(model_defs(workload), rig.api);
    for (Policy p : k_policies) {
      Metrics m = replay(p, rig, r.models, trace, options);
      const bool ours = p == Policy::askd || p == Policy::askd_seed;
      broken = broken || (ours && m.overcommits > 0) || m.stuck > 0 || !m.problems.empty();
      r.runs.emplace_back(p, std::move(m));
    }
    results.push_back(std::move(r));
  }
  const double wall_ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();

  if (json) {
    nlohmann::json out = report_json(workload, seed, hours, options, trace, results);
    out["wall_ms"] = wall_ms;
    fmt::print("{}\n", out.dump(2));
  } else {
    print_header(workload, seed, hours, trace, options);
    for (const RigResult& r : results) {
      print_rig(r);
      print_verdict(r);
    }
    fmt::print("\n{} replays in {:.0f} ms\n", results.size() * std::size(k_policies), wall_ms);
  }
  for (const RigResult& r : results) {
    for (const auto& [policy, m] : r.runs) {
      if ((policy == Policy::askd || policy == Policy::askd_seed) && m.overcommits > 0) {
        fmt::print(stderr, "sched_trace: {} overcommitted a GPU {} times on rig {}\n",
                   to_string(policy), m.overcommits, r.rig->name);
      }
    }
  }
  if (broken) {
    fmt::print(stderr, "sched_trace: the replay found a problem (see above)\n");
    return 1;
  }
  return 0;
}
