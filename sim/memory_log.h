#pragma once
// The memory llama-server would allocate for a model and flags, and the startup log lines
// that report it, in llama.cpp's exact wording ("load_tensors:   CPU_Mapped model buffer
// size =     4.05 MiB", "llama_kv_cache: size = ...", "sched_reserve: ... compute buffer
// size = ..."), so askd's log-based calibration can be tested against the simulator.
//
// Model, output and KV sizes follow llama.cpp's arithmetic and match the recordings in
// tests/fixtures/llama-server exactly. The compute buffer is a heuristic (llama.cpp sizes
// it by allocating the worst-case graph), calibrated on the same recordings:
//   mask   = n_kv × n_ubatch × 2 bytes        (f16 KQ mask, n_kv = cells per stream)
//   acts   = n_ubatch × 4 × (2·n_embd + 3·n_ff) (residual, norm and FFN activations)
//   misc   = n_ubatch × 16                    (positions, output ids, graph bookkeeping)
//   + n_ubatch × (4·n_embd + 8) for models with sliding-window layers (second mask)
//   + n_kv × n_ubatch × 4 × (n_head + 1) without flash attention (f32 scores and mask)

#include <cstdint>
#include <string>
#include <vector>

#include "core/error.h"
#include "sim/model_info.h"
#include "sim/options.h"

namespace ask::sim {

struct CacheType {
  std::string name;        // "f16", "q8_0"
  std::uint32_t block = 1; // elements per block
  std::uint32_t bytes = 2; // bytes per block
  bool quantized() const { return block > 1; }
};

// The KV cache types llama-server accepts (f32 f16 bf16 q8_0 q4_0 q4_1 iq4_nl q5_0 q5_1).
core::Result<CacheType> cache_type(const std::string& name);

// The context llama-server builds from the flags and the model.
struct ContextPlan {
  long long n_ctx = 0;     // all slots together
  long long n_ctx_seq = 0; // per slot
  long long n_batch = 0;
  long long n_ubatch = 0;
  int n_seq = 1; // slots
  bool kv_unified = false;
  int n_stream = 1;       // KV streams: 1 when unified, else n_seq
  std::string flash_attn; // as printed: "auto", "enabled", "disabled"
  bool flash_attn_on = true;
  CacheType type_k, type_v;
  long long cells = 0;     // cells per stream of the full-attention cache
  long long swa_cells = 0; // ... of the sliding-window cache (0 without SWA layers)
};

// Errors (bad_request) carry llama.cpp's own message, e.g. "K cache type q8_0 with block
// size 32 does not divide n_embd_head_k=16".
core::Result<ContextPlan> plan_context(const Options& options, const ModelInfo& model);

struct DeviceMemory {
  std::string name; // "CUDA0", "Vulkan1", or the host: "CPU"
  std::uint64_t model = 0;
  std::uint64_t kv = 0;     // both caches
  std::uint64_t kv_swa = 0; // the sliding-window part of kv
  std::uint64_t compute = 0;
  int layers = 0; // repeating layers held
};

struct MemoryPlan {
  std::vector<DeviceMemory> gpus; // in -dev / -ts order
  DeviceMemory host;              // name "CPU"
  std::uint64_t output = 0;       // the logits buffer, in host memory
  int offloaded_layers = 0;       // repeating layers on GPUs
  bool output_offloaded = false;
  std::uint64_t k_bytes = 0, v_bytes = 0;         // full-attention cache
  std::uint64_t swa_k_bytes = 0, swa_v_bytes = 0; // sliding-window cache
  int kv_layers = 0, swa_layers = 0;

  std::uint64_t total_kv() const { return k_bytes + v_bytes + swa_k_bytes + swa_v_bytes; }
  // "CPU" without GPUs, else the backend's host buffer name: "CUDA_Host", "Vulkan_Host".
  std::string host_buffer_name() const;
};

MemoryPlan plan_memory(const Options& options, const ModelInfo& model, const ContextPlan& ctx);

// The compute-buffer heuristic above, for one device.
std::uint64_t compute_buffer_bytes(const ModelInfo& model, const ContextPlan& ctx);

// llama.cpp's "%8.2f" MiB figure: "    4.05".
std::string mib(std::uint64_t bytes, int width = 8);

// The lines llama-server prints while loading (verbosity 4), without timestamp and level:
// model loader summary, print_info, load_tensors, llama_context, llama_kv_cache,
// sched_reserve.
std::vector<std::string> load_log_lines(const ModelInfo& model, const ContextPlan& ctx,
                                        const MemoryPlan& mem);
// The memory breakdown table printed at exit (verbosity 4).
std::vector<std::string> breakdown_lines(const MemoryPlan& mem);

} // namespace ask::sim
