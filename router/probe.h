#pragma once
// Parsers for what GPU tools print: nvidia-smi (CSV), rocm-smi (JSON), the amdgpu sysfs
// files, vulkaninfo (full text and --summary), xpu-smi (JSON). Each turns one tool's output
// into ProbedGpu records, one per device *as that API sees it*; inventory.h merges the
// records of one physical card (matched by PCI bus id) into one Gpu. Tool output is
// untrusted: a parser never throws, skips rows it cannot read with a warning naming the
// line, and fails (bad_request) only when nothing in the output is usable.

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
  std::string source;      // "nvidia-smi", "rocm-smi", "sysfs", "vulkaninfo", "xpu-smi", "config"
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

// The amdgpu sysfs files of one card, /sys/class/drm/cardN/device: mem_info_vram_total,
// mem_info_vram_used, uevent (PCI_SLOT_NAME), product_name (optional).
Result<ProbedGpu> read_amdgpu_sysfs(const std::filesystem::path& device_dir, int index);

// vulkaninfo (full text output, any format since loader 1.1) or vulkaninfo --summary.
// Device index = the "GPUn" ordinal (vkEnumeratePhysicalDevices order, which
// GGML_VK_VISIBLE_DEVICES uses). Memory: the largest DEVICE_LOCAL heap; free = its budget
// minus usage when VK_EXT_memory_budget is printed. The summary has no heaps: total 0.
Result<ProbeResult> parse_vulkaninfo(std::string_view out);

// xpu-smi discovery -j (device_list[]) — Intel GPUs for the SYCL backend.
Result<ProbeResult> parse_xpu_smi(std::string_view out);

} // namespace ask::router
