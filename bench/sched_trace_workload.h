#pragma once
// What sched_trace replays (sched_trace_workload.cpp): the model table, the seed rigs, and
// the synthetic request trace, a deterministic function of a seed and a number of hours.

#include <cstddef>
#include <cstdint>
#include <vector>

#include "bench/sched_trace_policies.h"
#include "config/types.h"

namespace ask::bench::sched {

inline constexpr double k_gib_d = 1024.0 * 1024.0 * 1024.0;
// Load model: a fixed start-up (process, CUDA/Vulkan context, warm-up) plus reading the
// weights at NVMe-through-page-cache speed.
inline constexpr double k_load_fixed_s = 2.0;
inline constexpr double k_load_gib_per_s = 1.5;
inline constexpr double k_work_start_h = 9;
inline constexpr double k_work_end_h = 18;

// --- models ----------------------------------------------------------------------------

enum ModelIndex : std::size_t { k_fast, k_coder, k_think, k_digest, k_heavy };

struct ModelDef {
  const char* name;
  double gib; // one instance on one GPU: weights, KV cache for its context, buffers
  int layers;
  int keep_alive_s;
  int parallel;
  int max_replicas;
  double service_lo_s;
  double service_hi_s;
  const char* what;
};

// The order matches ModelIndex.
inline constexpr ModelDef k_models[] = {
    {"fast-9b", 7.0, 36, 1800, 2, 2, 2, 15, "9B Q4_K_M, 2 slots x 16k ctx"},
    {"coder-30b", 20.0, 48, 1800, 1, 1, 5, 45, "30B-A3B MoE Q4_K_M, 64k ctx"},
    {"think-9b", 8.0, 36, 600, 1, 1, 15, 60, "9B Q5_K_M reasoning, 32k ctx"},
    {"digest-4b", 4.0, 36, 0, 1, 1, 3, 12, "4B Q6_K, 16k ctx"},
    {"heavy-70b", 42.0, 80, 300, 1, 1, 20, 60, "70B Q4_K_M, 16k ctx"},
};

// The table's models as the replays see them, each placed through `api`.
std::vector<SimModel> sim_models(config::GpuApi api);

// The four rigs: big (4x32 GiB Radeon + an RTX 4090), dual (2x RTX 3090), single (an RTX
// 4080) and laptop (24 GiB unified memory).
std::vector<Rig> seed_rigs();

// `hours` of requests from midnight, in arrival order; the same seed gives the same trace.
std::vector<Arrival> generate_trace(std::uint64_t seed, double hours);

} // namespace ask::bench::sched
