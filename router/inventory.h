#pragma once
// The machine's GPUs: what the probes saw merged with what the config declares. One physical
// card seen through several APIs (CUDA and Vulkan, ROCm and Vulkan) is one Gpu, matched by
// PCI bus id, carrying its device index under each API — so a model can run a card through
// Vulkan or ROCm as its preset says. Each Gpu has a cap (the most askd may use of it) and a
// reserve (kept free for others). Each also knows the device name and number every asked
// llama.cpp build gives it ("Vulkan1" for one binary) and the memory that build sees free.
// docs/inventory.md describes the sources, their order and the merge rules.

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/types.h"
#include "router/llama_build.h"
#include "router/probe.h"
#include "router/tool_runner.h"

namespace ask::router {

// A card as one llama.cpp build names and sees it (`llama-server --list-devices`).
struct BuildDevice {
  std::string binary; // the preset's llama-server that listed it
  std::string device; // "Vulkan1": what that binary's --device takes for this card
  config::GpuApi api = config::GpuApi::cuda;
  int ordinal = 0;  // the number in `device`
  std::string name; // the build's description ("AMD Radeon RX 7600 (RADV NAVI33)")
  std::uint64_t total_bytes = 0;
  std::uint64_t free_bytes = 0; // as that build saw it when asked
};

// What an inventory entry is. Placement puts layers on GPUs and rpc devices; host memory
// holds no layers of a GPU plan but is charged every plan's host buffers (and everything of a
// host-only one, and every load on a unified GPU). The scheduler budgets all three alike.
enum class DeviceKind { gpu, rpc, host };
std::string_view to_string(DeviceKind kind);

// The inventory id of host memory (config ids may not take it).
inline constexpr std::string_view k_host_id = "host";

// A device askd budgets: mostly a GPU, also host memory and an rpc-server's device (kind).
struct Gpu {
  std::string id; // the config's id, else "gpu0", "gpu1" … in PCI order; "host"
  std::string name;
  config::GpuVendor vendor = config::GpuVendor::other;
  std::string pci;  // normalised bus id; "" when no tool could say
  std::string uuid;
  std::uint64_t total_bytes = 0;
  std::optional<std::uint64_t> free_bytes; // the most conservative reading of any tool
  bool unified = false;
  bool display = false;
  std::vector<std::pair<config::GpuApi, int>> index; // device ordinal per API
  std::vector<std::string> sources;                  // tools (and "config") that saw it
  std::vector<BuildDevice> build_devices;            // per asked build, its view of the card
  std::uint64_t cap_bytes = 0;     // the most askd may use of it
  std::uint64_t reserve_bytes = 0; // kept free
  DeviceKind kind = DeviceKind::gpu;
  std::string endpoint; // rpc: the server's "host:port"
  int rpc_device = 0;   // rpc: the device's number on that server

  std::optional<int> index_for(config::GpuApi api) const;
  // How `binary` names this card ("Vulkan1"), or null when that build did not list it.
  const BuildDevice* build_device(std::string_view binary) const;
  // What askd may place on it now: min(cap, free − reserve), never negative; with `free`
  // unknown, min(cap, total − reserve).
  std::uint64_t usable_bytes() const;
};

// Default cap when the config sets none: 95% of the card (slack for the driver and for
// fragmentation; llama.cpp's own --fit keeps 1 GiB free per device), 85% for a GPU that
// drives a display, whose usage moves under us.
inline constexpr double k_default_cap = 0.95;
inline constexpr double k_display_cap = 0.85;

struct Inventory {
  std::vector<Gpu> gpus;
  std::vector<std::string> warnings; // from the probes and the merge
  std::vector<LlamaBuild> builds;    // the llama.cpp builds asked, with their versions

  const Gpu* find(std::string_view id) const;
  // The host-memory entry; null when host memory is not budgeted (its size unknown).
  const Gpu* host() const;
};

// Merges probe records and the config's declared devices:
// - records with the same PCI id are one card (each API's index kept);
// - records with the same UUID are one card too (NVIDIA's Vulkan deviceUUID is its CUDA
//   UUID) — unless both PCI ids are known and differ: then they are two cards that share a
//   UUID (a cloned VM, a vGPU listing), kept apart with a warning naming both addresses, and
//   a record without a PCI id whose UUID names several cards is dropped with a warning;
//   otherwise a record without a PCI id stands alone;
// - name and total come from the vendor's tool when it saw the card (nvidia-smi, amd-smi,
//   rocm-smi, xpu-smi, sysfs, then vulkaninfo, then llama-server); free is the smallest any
//   source reports;
// - CPU devices (llvmpipe) are dropped;
// - a declared device matches a probed card by `pci`, else by its backend_index; declared
//   values (vram, name, display, cap, reserve) override probed ones; a declared device no
//   probe saw is kept with free unknown;
// - llama-server records (source "llama-server") are then matched to cards, per binary and
//   API: by PCI id when the build printed one, else by name, else by position among the cards
//   with an index under that API, else the one card of that vendor; one that matches nothing
//   becomes a card of its own when no card of its vendor exists, and is dropped with a warning
//   otherwise (docs/inventory.md);
// - a card whose memory no source could size is kept with total 0 (nothing is placed on it)
//   and a warning.
Inventory merge(const std::vector<ProbedGpu>& probed, const config::GpuConfig& declared);

// The sysfs DRM class directory probe() reads by default.
inline constexpr std::string_view k_sysfs_drm = "/sys/class/drm";

// Probes this machine unless `declared.probe` is false, then merges (docs/inventory.md):
// nvidia-smi; amd-smi, else rocm-smi, else the amdgpu sysfs files; vulkaninfo; xpu-smi, with
// each Intel GPU's memory from `xpu-smi discovery -d N -j`, `xpu-smi stats -d N -j` and the
// i915/xe sysfs files; and each of `builds` (ask_llama_build). A tool that is missing is
// silent; one that fails (with its own words and exit status) or prints garbage, and a build
// binary that is missing or fails, add a warning.
Inventory probe(const config::GpuConfig& declared, const ToolRunner& run,
                const std::filesystem::path& sysfs_drm = std::filesystem::path(k_sysfs_drm),
                const std::vector<LlamaBinary>& builds = {});

} // namespace ask::router
