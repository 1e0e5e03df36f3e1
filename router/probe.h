#pragma once
// Parsers for what GPU tools print: nvidia-smi (CSV), amd-smi and rocm-smi (JSON), the amdgpu
// and Intel sysfs files, vulkaninfo (full text and --summary), xpu-smi (JSON), and a llama.cpp
// build's own `llama-server --list-devices` and `--version`. Each turns one tool's output into
// ProbedGpu records, one per device *as that API (or build) sees it*; inventory.h merges the
// records of one physical card (matched by PCI bus id) into one Gpu (docs/inventory.md). Tool
// output is untrusted: a parser never throws, skips rows it cannot read with a warning naming
// the line, and fails (bad_request) only when nothing in the output is usable.

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/types.h"
#include "core/error.h"

namespace ask::router {

using core::Error;
using core::Result;
using core::fail;

// One device as one tool reports it.
struct ProbedGpu {
  config::GpuApi api = config::GpuApi::cuda; // the API whose device index `index` is
  int index = 0;           // ordinal under `api` (CUDA_VISIBLE_DEVICES, GGML_VK_VISIBLE_DEVICES…)
  std::string name;        // "NVIDIA GeForce RTX 3090"
  config::GpuVendor vendor = config::GpuVendor::other;
  std::string pci;         // normalised "dddd:bb:dd.f", lower-case hex; "" when unknown
  std::string uuid;        // "GPU-…" for NVIDIA, the Vulkan deviceUUID, …; "" when unknown
  std::uint64_t total_bytes = 0;           // device memory (VRAM, or the UMA heap)
  std::optional<std::uint64_t> free_bytes; // as reported now; nullopt when the tool cannot say
  bool unified = false;    // integrated / unified memory shared with the CPU
  bool cpu = false;        // a software rasteriser (llvmpipe) or CPU device: never placed on
  std::string source;      // "nvidia-smi", "amd-smi", "rocm-smi", "sysfs", "vulkaninfo",
                           // "xpu-smi", "llama-server", "config"
  // llama-server records only: the build's own name for the device ("Vulkan0", "CUDA1"; its
  // number is `index`) and the binary that listed it.
  std::string device;
  std::string binary;
};

struct ProbeResult {
  std::vector<ProbedGpu> gpus;
  std::vector<std::string> warnings; // rows skipped, fields unreadable ("line 3: …")
};

// "0000:01:00.0" from "00000000:01:00.0", "01:00.0", "0000:01:00.0 " … ; "" when `text`
// is not a PCI address.
std::string normalize_pci(std::string_view text);

// The query askd runs:
//   nvidia-smi --query-gpu=<k_nvidia_smi_fields> --format=csv,noheader,nounits
inline constexpr std::string_view k_nvidia_smi_fields =
    "index,uuid,pci.bus_id,name,memory.total,memory.used,memory.free";
// Rows in k_nvidia_smi_fields order, or — when the first line is a CSV header (format=csv)
// — in the header's order, with or without units ("memory.total [MiB]", "24576 MiB").
// "[N/A]" / "[Not Supported]" values read as unknown. Memory in MiB.
Result<ProbeResult> parse_nvidia_smi(std::string_view out);

// rocm-smi --showid --showbus --showproductname --showmeminfo vram --showuniqueid --json
// (and the full `-a --json` dumps, which hold the same keys): "card0" … objects; "system"
// is ignored. Values are strings; VRAM in bytes.
Result<ProbeResult> parse_rocm_smi(std::string_view out);

// amd-smi (ROCm 6.0 and later; rocm-smi's successor): `amd-smi static --json` (asic.market_name,
// bus.bdf, vram size) and `amd-smi metric --json` (mem_usage: total/used/free VRAM), matched by
// their "gpu" index, which is the device's ROCm index. Either may be empty (not run, failed).
// Both shapes amd-smi has printed are read: a top-level list (ROCm 6.0 to 6.3) or an object
// holding it under "gpu_data" (later); values plain numbers in MB (ROCm 6.0) or
// {"value": N, "unit": "MB"} objects (6.1 on), "N/A" when unknown.
Result<ProbeResult> parse_amd_smi(std::string_view static_json, std::string_view metric_json);

// The amdgpu sysfs files of one card, /sys/class/drm/cardN/device: mem_info_vram_total,
// mem_info_vram_used, uevent (PCI_SLOT_NAME), product_name (optional).
Result<ProbedGpu> read_amdgpu_sysfs(const std::filesystem::path& device_dir, int index);

// vulkaninfo (full text output, any format since loader 1.1) or vulkaninfo --summary.
// Device index = the "GPUn" ordinal (vkEnumeratePhysicalDevices order, which
// GGML_VK_VISIBLE_DEVICES uses). Memory: the largest DEVICE_LOCAL heap; free = its budget
// minus usage when VK_EXT_memory_budget is printed. The summary has no heaps: total 0.
Result<ProbeResult> parse_vulkaninfo(std::string_view out);

// xpu-smi discovery -j (device_list[]) — Intel GPUs for the SYCL backend — and the one device
// of xpu-smi discovery -d N -j, which also gives its memory (the list does not).
Result<ProbeResult> parse_xpu_smi(std::string_view out);

// What `xpu-smi stats -d N -j` says of one device's memory: XPUM_STATS_MEMORY_USED of
// "device_level" (MiB, a decimal number).
struct XpuStats {
  int device = 0;
  std::optional<std::uint64_t> used_bytes;
  std::vector<std::string> warnings;
};
Result<XpuStats> parse_xpu_smi_stats(std::string_view out);

// Device memory an Intel driver publishes in sysfs for /sys/class/drm/cardN (`card_dir`):
// lmem_total_bytes and lmem_avail_bytes (i915 from Intel's backports package), else the sum
// of device/tile*/physical_vram_size_bytes (xe, total only). not_found when neither is there.
struct SysfsMemory {
  std::uint64_t total_bytes = 0;
  std::optional<std::uint64_t> free_bytes;
  std::string file; // where the total came from, for messages
};
Result<SysfsMemory> read_intel_sysfs_memory(const std::filesystem::path& card_dir);

// `llama-server --list-devices` (stdout and stderr together): after "Available devices:", one
// line per device, "  Vulkan0: AMD Radeon RX 7600 (RADV NAVI33) (8176 MiB, 4751 MiB free)",
// as that build names and numbers it. CUDA, ROCm, Vulkan, SYCL and MTL (Metal) devices become
// records (source "llama-server", `device` its name, `index` its number, memory in whole MiB);
// BLAS and CPU are skipped, other backends (RPC, CANN, MUSA …) skipped with a warning. Lines
// before the header (backend start-up logs) are ignored. A list with no GPU ("(none)") is an
// answer, not a failure; no header at all is.
Result<ProbeResult> parse_list_devices(std::string_view out);

// One device of an rpc-server as `llama-server --rpc ENDPOINT,… --list-devices` lists it:
// "  RPC0: 127.0.0.1:50052 (24105 MiB, 24105 MiB free)" (b10587, ggml-rpc.cpp).
struct RpcListedDevice {
  std::string device;   // "RPC0": numbered across the servers of --rpc, in their order
  std::string endpoint; // its description: the endpoint as given to --rpc
  std::uint64_t total_bytes = 0;
  std::uint64_t free_bytes = 0; // at most the total
};
struct RpcListing {
  std::vector<RpcListedDevice> devices; // as listed: each server's in its own device order
  // Endpoints of "Failed to connect to ENDPOINT" lines: servers that did not answer (then
  // listed with no device).
  std::vector<std::string> unreachable;
  std::vector<std::string> warnings;
};
// The rpc devices of that output (stdout and stderr together); the asking build's own devices
// (CPU, a local GPU) are skipped, malformed device lines skipped with a warning. bad_request
// without an "Available devices:" line.
Result<RpcListing> parse_rpc_list_devices(std::string_view out);

// `llama-server --version` (stderr): "version: 0.2.0-dev (build 10587, commit 3f545becc)" (from
// 2026) or "version: 10587 (3f545becc)" (before), then "built with <compiler> for <target>".
struct LlamaVersion {
  std::uint64_t build = 0; // 0 when the build had no git (llama.cpp prints commit "unknown")
  std::string commit;      // "3f545becc"
  std::string version;     // "0.2.0-dev"; "" in the older shape
  std::string built_with;  // "GNU 12.2.0 for Linux x86_64"; "" when the line is missing
};
// bad_request, naming what was seen, for any other output.
Result<LlamaVersion> parse_llama_version(std::string_view out);

} // namespace ask::router
