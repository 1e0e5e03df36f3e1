#pragma once
// What sched_trace replays (sched_trace_workload.cpp): the workloads (a model table and a
// synthetic request trace, a deterministic function of a seed and a number of hours) and
// the seed rigs.

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
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

// --- workloads -------------------------------------------------------------------------

// `day`: a team's day of agents, coding sessions, cron digests, heavy and council requests on
// five models of mixed keep_alive; the default. `zoo`: one user's eight specialised models
// kept an hour each, asked at very different rates, on rigs that hold a few of them at once:
// what the eviction order decides.
enum class WorkloadKind { day, zoo };
std::string_view to_string(WorkloadKind kind);

// The `day` workload's models; sched_trace_workload.cpp's generator uses this order.
inline constexpr ModelDef k_day_models[] = {
    {"fast-9b", 7.0, 36, 1800, 2, 2, 2, 15, "9B Q4_K_M, 2 slots x 16k ctx"},
    {"coder-30b", 20.0, 48, 1800, 1, 1, 5, 45, "30B-A3B MoE Q4_K_M, 64k ctx"},
    {"think-9b", 8.0, 36, 600, 1, 1, 15, 60, "9B Q5_K_M reasoning, 32k ctx"},
    {"digest-4b", 4.0, 36, 0, 1, 1, 3, 12, "4B Q6_K, 16k ctx"},
    {"heavy-70b", 42.0, 80, 300, 1, 1, 20, 60, "70B Q4_K_M, 16k ctx"},
};

// The `zoo` workload's models: one slot and no replica each, so that only loads and
// evictions differ between the policies.
inline constexpr ModelDef k_zoo_models[] = {
    {"chat-8b", 6.0, 32, 3600, 1, 1, 3, 15, "8B Q5_K_M chat, every ~5 min at work"},
    {"coder-14b", 10.0, 48, 3600, 1, 1, 5, 30, "14B Q5_K_M, editor sessions, ~8 min"},
    {"embed-1b", 1.2, 28, 3600, 1, 1, 0.2, 1, "embeddings, indexing bursts, ~3 min"},
    {"vision-7b", 6.5, 28, 3600, 1, 1, 5, 20, "7B VL, screenshots, ~40 min"},
    {"translate-4b", 3.5, 36, 3600, 1, 1, 2, 8, "4B, ~15 min at work"},
    {"review-12b", 8.5, 40, 3600, 1, 1, 20, 60, "12B, code review, ~hourly at work"},
    {"sql-7b", 5.5, 28, 3600, 1, 1, 3, 10, "7B, reports, ~2 h"},
    {"math-14b", 10.0, 48, 3600, 1, 1, 20, 60, "14B reasoning, ~3 h"},
};

// A workload's model table.
std::span<const ModelDef> model_defs(WorkloadKind kind);
// A one-paragraph description of the traffic, for the report.
std::string_view traffic_text(WorkloadKind kind);

// `defs` as the replays see them, each placed through `api`.
std::vector<SimModel> sim_models(std::span<const ModelDef> defs, config::GpuApi api);

// The four rigs: big (4x32 GiB Radeon + an RTX 4090), dual (2x RTX 3090), single (an RTX
// 4080) and laptop (24 GiB unified memory).
std::vector<Rig> seed_rigs();

// `hours` of requests from midnight, in arrival order; the same seed gives the same trace.
// Arrival::model indexes model_defs(kind).
std::vector<Arrival> generate_trace(WorkloadKind kind, std::uint64_t seed, double hours);

} // namespace ask::bench::sched
