// What sched_trace replays (sched_trace_workload.h): the model tables turned into sized
// models with load times, the seed rigs, and the request traces, drawn from mt19937_64 per
// kind of traffic (day: sub-agent bursts, coding sessions, thinking, digests, heavy,
// councils; zoo: bursts per model at its own rate).

#include "bench/sched_trace_workload.h"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <random>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "core/duration.h"
#include "router/estimate.h"
#include "router/inventory.h"

namespace ask::bench::sched {
namespace {

constexpr std::uint64_t k_gib = 1ull << 30;

// A synthetic estimate of `def.gib` on one GPU, with the fixed costs a split pays again on
// every further GPU (overhead and a compute buffer), so multi-GPU placement behaves as for
// a real model.
router::Estimate synthetic_estimate(const ModelDef& def) {
  const auto total = static_cast<std::uint64_t>(def.gib * k_gib_d);
  router::Estimate e;
  e.arch = "llama";
  e.gpu_overhead = k_gib / 4;
  e.compute_output = k_gib / 2;
  e.compute_layer = k_gib / 4;
  e.output_weights = total / 64;
  const std::uint64_t fixed = e.gpu_overhead + e.compute_output + e.output_weights;
  e.layers.assign(
      static_cast<std::size_t>(def.layers),
      router::LayerEstimate{(total - fixed) / static_cast<std::uint64_t>(def.layers), 0, 0, 0});
  return e;
}

router::Gpu make_gpu(int i, std::string name, double total_gib, double cap_gib,
                     config::GpuVendor vendor, std::vector<std::pair<config::GpuApi, int>> index,
                     bool unified = false) {
  router::Gpu g;
  g.id = "gpu" + std::to_string(i);
  g.name = std::move(name);
  g.vendor = vendor;
  g.total_bytes = static_cast<std::uint64_t>(total_gib * k_gib_d);
  g.cap_bytes = static_cast<std::uint64_t>(cap_gib * k_gib_d);
  g.reserve_bytes = 0;
  g.unified = unified;
  g.index = std::move(index);
  g.sources = {"sched_trace"};
  return g;
}

// --- workload --------------------------------------------------------------------------

// Draws from mt19937_64 with our own conversions: std's distributions may differ between
// standard libraries, and the trace must not.
class Rng {
public:
  Rng(std::uint64_t seed, std::uint64_t stream) {
    std::seed_seq seq{static_cast<std::uint32_t>(seed), static_cast<std::uint32_t>(seed >> 32),
                      static_cast<std::uint32_t>(stream)};
    m_gen.seed(seq);
  }
  double unit() { return static_cast<double>(m_gen() >> 11) * 0x1.0p-53; }
  double uniform(double lo, double hi) { return lo + (hi - lo) * unit(); }
  int between(int lo, int hi) { // inclusive
    return lo + static_cast<int>(m_gen() % static_cast<std::uint64_t>(hi - lo + 1));
  }
  double exponential(double mean) { return -mean * std::log1p(-unit()); }

private:
  std::mt19937_64 m_gen;
};

// Indices into k_day_models.
enum DayModel : std::size_t { k_fast, k_coder, k_think, k_digest, k_heavy };

bool working(double t_s) {
  const double h = std::fmod(t_s / 3600, 24);
  return h >= k_work_start_h && h < k_work_end_h;
}

// Adds a request for `defs[model]` at `t_s` to `out`, with a service time drawn from the
// model's range, unless it falls outside [0, horizon).
void add_arrival(std::vector<Arrival>& out, std::span<const ModelDef> defs, double horizon_s,
                 double t_s, std::size_t model, Rng& rng) {
  if (t_s < 0 || t_s >= horizon_s) {
    return;
  }
  const ModelDef& def = defs[model];
  const double service = rng.uniform(def.service_lo_s, def.service_hi_s);
  out.push_back({std::llround(t_s * 1000), model, std::llround(service * 1000)});
}

void sort_by_arrival(std::vector<Arrival>& out) {
  std::stable_sort(out.begin(), out.end(),
                   [](const Arrival& a, const Arrival& b) { return a.at < b.at; });
}

class DayWorkload {
public:
  DayWorkload(std::uint64_t seed, double hours) : m_seed(seed), m_horizon_s(hours * 3600) {}

  std::vector<Arrival> generate() {
    sub_agents();
    coding_sessions();
    thinking();
    digests();
    heavy();
    councils();
    sort_by_arrival(m_out);
    return std::move(m_out);
  }

private:
  int days() const { return static_cast<int>(std::ceil(m_horizon_s / 86400)); }
  void add(double t_s, std::size_t model, Rng& rng) {
    add_arrival(m_out, k_day_models, m_horizon_s, t_s, model, rng);
  }

  // fast-9b: sub-agent fan-out, bursts of 5–40 requests 1–6 s apart; a burst every 4 min
  // on average in working hours, every 45 min outside them.
  void sub_agents() {
    Rng rng(m_seed, 1);
    for (double t = 0;;) {
      t += rng.exponential(working(t) ? 4 * 60 : 45 * 60);
      if (t >= m_horizon_s) {
        return;
      }
      const int n = rng.between(5, 40);
      double at = t;
      for (int i = 0; i < n; ++i) {
        add(at, k_fast, rng);
        at += rng.uniform(1, 6);
      }
    }
  }
  // coder-30b: coding sessions of 30–90 min in working hours, a request every 10–60 s,
  // sessions 20 min into the day then 45 min apart on average.
  void coding_sessions() {
    Rng rng(m_seed, 2);
    for (int d = 0; d < days(); ++d) {
      const double day = d * 86400.0;
      double t = day + k_work_start_h * 3600 + rng.exponential(20 * 60);
      while (t < day + k_work_end_h * 3600) {
        const double end = t + rng.uniform(30, 90) * 60;
        for (double at = t; at < end; at += rng.uniform(10, 60)) {
          add(at, k_coder, rng);
        }
        t = end + rng.exponential(45 * 60);
      }
    }
  }
  // think-9b: occasional, every 30 min on average in working hours and 3 h outside, with a
  // follow-up half the time.
  void thinking() {
    Rng rng(m_seed, 3);
    for (double t = 0;;) {
      t += rng.exponential(working(t) ? 30 * 60 : 3 * 3600);
      if (t >= m_horizon_s) {
        return;
      }
      add(t, k_think, rng);
      if (rng.unit() < 0.5) {
        add(t + rng.uniform(30, 120), k_think, rng);
      }
    }
  }
  // digest-4b: an hourly cron job at :00, 8–12 requests 0.5–3 s apart, all day.
  void digests() {
    Rng rng(m_seed, 4);
    for (double t = 0; t < m_horizon_s; t += 3600) {
      const int n = rng.between(8, 12);
      double at = t;
      for (int i = 0; i < n; ++i) {
        add(at, k_digest, rng);
        at += rng.uniform(0.5, 3);
      }
    }
  }
  // heavy-70b: 3–5 times a working day, one or two requests 30–180 s apart.
  void heavy() {
    Rng rng(m_seed, 5);
    for (int d = 0; d < days(); ++d) {
      const int n = rng.between(3, 5);
      for (int i = 0; i < n; ++i) {
        const double t = d * 86400.0 + rng.uniform(k_work_start_h, k_work_end_h) * 3600;
        add(t, k_heavy, rng);
        if (rng.unit() < 0.5) {
          add(t + rng.uniform(30, 180), k_heavy, rng);
        }
      }
    }
  }
  // council: 3–5 times a working day, fast-9b, think-9b and coder-30b asked at once.
  void councils() {
    Rng rng(m_seed, 6);
    for (int d = 0; d < days(); ++d) {
      const int n = rng.between(3, 5);
      for (int i = 0; i < n; ++i) {
        const double t = d * 86400.0 + rng.uniform(k_work_start_h, k_work_end_h) * 3600;
        add(t, k_fast, rng);
        add(t, k_think, rng);
        add(t, k_coder, rng);
      }
    }
  }

  std::uint64_t m_seed;
  double m_horizon_s;
  std::vector<Arrival> m_out;
};

// How often each zoo model is asked: bursts with exponential gaps (mean at work, mean
// outside working hours; 0 = not outside them) of `lo`-`hi` requests `gap_lo_s`-`gap_hi_s`
// apart. The order matches k_zoo_models.
struct ZooTraffic {
  double every_work_s;
  double every_off_s;
  int lo;
  int hi;
  double gap_lo_s;
  double gap_hi_s;
};
constexpr ZooTraffic k_zoo_traffic[] = {
    {5 * 60, 60 * 60, 2, 6, 5, 20},         // chat-8b
    {8 * 60, 0, 3, 10, 10, 40},             // coder-14b
    {3 * 60, 30 * 60, 10, 30, 0.2, 1},      // embed-1b
    {40 * 60, 4 * 3600, 1, 3, 10, 60},      // vision-7b
    {15 * 60, 2 * 3600, 1, 4, 5, 30},       // translate-4b
    {60 * 60, 0, 1, 2, 60, 300},            // review-12b
    {2 * 3600, 2 * 3600, 1, 3, 10, 60},     // sql-7b
    {3 * 3600, 3 * 3600, 1, 2, 60, 300},    // math-14b
};
static_assert(std::size(k_zoo_traffic) == std::size(k_zoo_models));

std::vector<Arrival> zoo_trace(std::uint64_t seed, double hours) {
  const double horizon_s = hours * 3600;
  std::vector<Arrival> out;
  for (std::size_t i = 0; i < std::size(k_zoo_traffic); ++i) {
    const ZooTraffic& z = k_zoo_traffic[i];
    Rng rng(seed, 100 + i);
    for (double t = 0; t < horizon_s;) {
      const bool at_work = working(t);
      if (!at_work && z.every_off_s <= 0) { // next working day's start
        const double day = std::floor(t / 86400) * 86400;
        const double start = day + k_work_start_h * 3600;
        t = t < start ? start : start + 86400;
        continue;
      }
      t += rng.exponential(at_work ? z.every_work_s : z.every_off_s);
      const int n = rng.between(z.lo, z.hi);
      double at = t;
      for (int k = 0; k < n; ++k) {
        add_arrival(out, k_zoo_models, horizon_s, at, i, rng);
        at += rng.uniform(z.gap_lo_s, z.gap_hi_s);
      }
    }
  }
  sort_by_arrival(out);
  return out;
}

} // namespace

std::string_view to_string(WorkloadKind kind) {
  return kind == WorkloadKind::zoo ? "zoo" : "day";
}

std::span<const ModelDef> model_defs(WorkloadKind kind) {
  if (kind == WorkloadKind::zoo) {
    return k_zoo_models;
  }
  return k_day_models;
}

std::string_view traffic_text(WorkloadKind kind) {
  if (kind == WorkloadKind::zoo) {
    return "one user's eight models, each kept an hour, asked in bursts at its own rate "
           "(chat-8b every ~5 min at work, coder-14b ~8 min at work only, embed-1b indexing "
           "bursts of 10-30 every ~3 min, vision-7b ~40 min, translate-4b ~15 min, review-12b "
           "~hourly at work, sql-7b ~2 h, math-14b ~3 h; less often outside working hours)";
  }
  return "fast-9b sub-agent bursts of 5-40 requests 1-6 s apart, every ~4 min at work and "
         "~45 min otherwise; coder-30b sessions of 30-90 min, a request every 10-60 s; "
         "think-9b every ~30 min at work, ~3 h otherwise; digest-4b cron at every :00, 8-12 "
         "requests; heavy-70b 3-5 times a day; council (fast-9b + think-9b + coder-30b at "
         "once) 3-5 times a day";
}

std::vector<SimModel> sim_models(std::span<const ModelDef> defs, config::GpuApi api) {
  std::vector<SimModel> out;
  for (const ModelDef& def : defs) {
    SimModel m;
    m.spec.name = def.name;
    m.spec.estimate = synthetic_estimate(def);
    m.spec.placement = {api, {}, false, -1};
    m.spec.keep_alive = core::Duration::seconds(def.keep_alive_s);
    m.spec.parallel = def.parallel;
    m.spec.max_replicas = def.max_replicas;
    m.bytes = m.spec.estimate.single_gpu_bytes();
    m.load_ms = std::llround(
        1000.0 * (k_load_fixed_s + static_cast<double>(m.bytes) / k_gib_d / k_load_gib_per_s));
    out.push_back(std::move(m));
  }
  return out;
}

std::vector<Rig> seed_rigs() {
  using config::GpuApi;
  using config::GpuVendor;
  const double cap = router::k_default_cap;
  std::vector<Rig> rigs(4);
  rigs[0].name = "big";
  rigs[0].description = "4x32 GiB Radeon (Vulkan) + 1x24 GiB RTX 4090 (CUDA, also Vulkan4); "
                        "models run through Vulkan, which sees all five; caps 95%";
  rigs[0].api = GpuApi::vulkan;
  for (int i = 0; i < 4; ++i) {
    rigs[0].inventory.gpus.push_back(
        make_gpu(i, "Radeon AI PRO R9700", 32, 32 * cap, GpuVendor::amd, {{GpuApi::vulkan, i}}));
  }
  rigs[0].inventory.gpus.push_back(make_gpu(4, "RTX 4090", 24, 24 * cap, GpuVendor::nvidia,
                                            {{GpuApi::cuda, 0}, {GpuApi::vulkan, 4}}));
  rigs[1].name = "dual";
  rigs[1].description = "2x24 GiB RTX 3090 (CUDA); caps 95%";
  rigs[1].api = GpuApi::cuda;
  for (int i = 0; i < 2; ++i) {
    rigs[1].inventory.gpus.push_back(
        make_gpu(i, "RTX 3090", 24, 24 * cap, GpuVendor::nvidia, {{GpuApi::cuda, i}}));
  }
  rigs[2].name = "single";
  rigs[2].description = "1x16 GiB RTX 4080 (CUDA); cap 95%";
  rigs[2].api = GpuApi::cuda;
  rigs[2].inventory.gpus.push_back(
      make_gpu(0, "RTX 4080", 16, 16 * cap, GpuVendor::nvidia, {{GpuApi::cuda, 0}}));
  rigs[3].name = "laptop";
  rigs[3].description = "24 GiB unified memory (Metal); cap 16 GiB, the OS and apps share "
                        "the rest";
  rigs[3].api = GpuApi::metal;
  rigs[3].inventory.gpus.push_back(
      make_gpu(0, "Apple M4 Pro", 24, 16, GpuVendor::apple, {{GpuApi::metal, 0}}, true));
  return rigs;
}

std::vector<Arrival> generate_trace(WorkloadKind kind, std::uint64_t seed, double hours) {
  if (kind == WorkloadKind::zoo) {
    return zoo_trace(seed, hours);
  }
  return DayWorkload(seed, hours).generate();
}

} // namespace ask::bench::sched
