#pragma once
// `askd plan MODEL`: what a model would cost and where it would go on this machine (or on a
// declared one) before anyone loads it — the estimate's breakdown, the inventory, and the
// placement with the llama-server command line, or why it does not fit.

#include <filesystem>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "config/types.h"
#include "router/inventory.h"

namespace ask::proxy {

struct PlanOptions {
  std::string target; // a .gguf file, or the name of a llama-server model in the config
  std::optional<int> ctx;
  std::optional<int> parallel;
  std::optional<std::string> kv;   // both K and V
  std::optional<std::string> kv_k; // overrides kv for K
  std::optional<std::string> kv_v;
  std::optional<std::string> flash_attn; // on, off, auto
  std::optional<int> n_gpu_layers;
  std::optional<int> n_cpu_moe;
  std::optional<int> batch;                  // -b
  std::optional<int> ubatch;                 // -ub
  std::optional<bool> kv_unified;            // --kv-unified / --no-kv-unified
  bool swa_full = false;                     // --swa-full
  std::vector<std::string> override_tensors; // PATTERN=CPU[,…]; replace the model's
  bool no_kv_offload = false;
  bool no_mmap = false;
  std::optional<std::string> draft; // a .gguf file, or "auto" (router/draft.h)
  bool mtp = false;                 // draft with the model's own MTP layers
  std::optional<std::string> mmproj;
  std::vector<std::string> gpus;    // pins, by GPU id
  std::optional<std::string> backend;
  std::vector<std::string> declare; // --gpu API:INDEX:SIZE[:FREE], instead of probing
  // --rpc HOST:PORT[=SIZE]: rpc-server devices, instead of the config's gpus.rpc; without a
  // size, the config's entry for that endpoint gives it, else the server is asked.
  std::vector<std::string> rpc;
  std::optional<std::string> host_memory; // --host-memory SIZE[:FREE], instead of reading it
  // A meminfo file to read host memory from (tests); none: this machine's (read_meminfo()).
  std::optional<std::filesystem::path> meminfo;
  std::optional<std::string> measured; // a llama-server startup log of this model to compare
  bool allow_partial = false;
  bool json = false;
};

// The API to place with when neither the model's preset nor --backend names one: cuda,
// rocm, sycl, vulkan in that order among those some GPU has, a ROCm index only the amdgpu
// sysfs files gave ranking below Vulkan (no rocm-smi and no rocm index in `declared`:
// likely no ROCm); else the CPU.
config::GpuApi default_api(const router::Inventory& inv, const config::GpuConfig& declared);

// Exit status: 0 the model fits, 1 it does not (the shortfall is printed), 2 bad input (an
// unreadable GGUF file, an unknown model or setting), each error naming what is wrong.
int run_plan(const PlanOptions& opts, const config::Config& config, std::ostream& out,
             std::ostream& err, const router::ToolRunner& run);

} // namespace ask::proxy
