// What sched_trace replays (sched_trace_workload.h): the model table turned into sized
// models with load times, the seed rigs, and the request trace, drawn from mt19937_64 per
// kind of traffic (sub-agent bursts, coding sessions, thinking, digests, heavy, councils).

#include "bench/sched_trace_workload.h"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <random>
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

class Workload {
public:
  Workload(std::uint64_t seed, double hours) : m_seed(seed), m_horizon_s(hours * 3600) {}

  std::vector<Arrival> generate() {
    sub_agents();
    coding_sessions();
    thinking();
    digests();
    heavy();
    councils();
    std::stable_sort(m_out.begin(), m_out.end(),
                     [](const Arrival& a, const Arrival& b) { return a.at < b.at; });
    return std::move(m_out);
  }

private:
  static bool working(double t_s) {
    const double h = std::fmod(t_s / 3600, 24);
    return h >= k_work_start_h && h < k_work_end_h;
  }
  int days() const { return static_cast<int>(std::ceil(m_horizon_s / 86400)); }
  void add(double t_s, std::size_t model, Rng& rng) {
    if (t_s < 0 || t_s >= m_horizon_s) {
      return;
    }
    const ModelDef& def = k_models[model];
    const double service = rng.uniform(def.service_lo_s, def.service_hi_s);
    m_out.push_back({std::llround(t_s * 1000), model, std::llround(service * 1000)});
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

} // namespace

std::vector<SimModel> sim_models(config::GpuApi api) {
  std::vector<SimModel> out;
  for (const ModelDef& def : k_models) {
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

std::vector<Arrival> generate_trace(std::uint64_t seed, double hours) {
  return Workload(seed, hours).generate();
}

} // namespace ask::bench::sched
