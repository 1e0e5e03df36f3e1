// merge() with llama-server --list-devices records: which card each build's device is, the
// name and number the build gives it, and the free memory it sees (router/inventory_builds.cpp).

#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <string>
#include <vector>

#include "router/inventory.h"
#include "router/testing.h"
#include "tests/support/temp_dir.h"

namespace ask::router {
namespace {

using testkit::gpu_fixture;
using testkit::k_gib;
using testkit::k_mib;

using config::GpuApi;
using config::GpuVendor;

ProbedGpu tool(GpuApi api, int index, std::string name, std::string pci, std::uint64_t total,
               std::optional<std::uint64_t> free, std::string source, GpuVendor vendor) {
  ProbedGpu g;
  g.api = api;
  g.index = index;
  g.name = std::move(name);
  g.pci = std::move(pci);
  g.total_bytes = total;
  g.free_bytes = free;
  g.source = std::move(source);
  g.vendor = vendor;
  return g;
}

// The records one binary's --list-devices gives (a recorded listing).
std::vector<ProbedGpu> listed(const std::string& file, const std::string& binary) {
  auto parsed = parse_list_devices(gpu_fixture(file));
  REQUIRE_MESSAGE(parsed, file);
  for (ProbedGpu& g : parsed->gpus) {
    g.binary = binary;
  }
  return parsed->gpus;
}

std::vector<ProbedGpu> operator+(std::vector<ProbedGpu> a, const std::vector<ProbedGpu>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

const std::string k_cuda = "/opt/llama/cuda/llama-server";
const std::string k_vk = "/opt/llama/vulkan/llama-server";
const std::string k_rocm = "/opt/llama/rocm/llama-server";

} // namespace

TEST_CASE("merge: a CUDA build's devices are nvidia-smi's cards, its free memory the smaller") {
  const std::vector<ProbedGpu> smi = {
      tool(GpuApi::cuda, 0, "NVIDIA GeForce RTX 3090", "0000:01:00.0", 24576 * k_mib, 23000 * k_mib,
           "nvidia-smi", GpuVendor::nvidia),
      tool(GpuApi::cuda, 1, "NVIDIA GeForce RTX 3060", "0000:02:00.0", 12288 * k_mib, 9000 * k_mib,
           "nvidia-smi", GpuVendor::nvidia)};
  const Inventory inv =
      merge(smi + listed("llama-list-devices-cuda-rtx3090+rtx3060.txt", k_cuda), {});
  CHECK(inv.warnings.empty());
  REQUIRE(inv.gpus.size() == 2);
  const BuildDevice* a = inv.gpus[0].build_device(k_cuda);
  REQUIRE(a != nullptr);
  CHECK(a->device == "CUDA0");
  CHECK(a->api == GpuApi::cuda);
  CHECK(a->ordinal == 0);
  CHECK(a->free_bytes == 6672 * k_mib);
  CHECK(a->total_bytes == 24117 * k_mib);
  CHECK(inv.gpus[0].free_bytes == 6672 * k_mib);   // the build sees less free than nvidia-smi
  CHECK(inv.gpus[0].total_bytes == 24576 * k_mib); // the vendor tool's total stays
  CHECK(inv.gpus[0].name == "NVIDIA GeForce RTX 3090");
  CHECK(inv.gpus[0].sources == std::vector<std::string>{"nvidia-smi", "llama-server"});
  REQUIRE(inv.gpus[1].build_device(k_cuda) != nullptr);
  CHECK(inv.gpus[1].build_device(k_cuda)->device == "CUDA1");
  CHECK(inv.gpus[1].free_bytes == 9000 * k_mib); // here nvidia-smi's is the smaller
  CHECK(inv.gpus[1].build_device(k_vk) == nullptr);
}

TEST_CASE("merge: a Vulkan build numbers the cards without the CPU device vulkaninfo lists") {
  // vulkaninfo: GPU0 llvmpipe (a CPU), GPU1 and GPU2 the Radeons; the build's Vulkan0 and
  // Vulkan1 are GPU1 and GPU2.
  ProbedGpu cpu = tool(GpuApi::vulkan, 0, "llvmpipe (LLVM 15.0.7, 256 bits)", "", 32 * k_gib,
                       std::nullopt, "vulkaninfo", GpuVendor::other);
  cpu.cpu = true;
  const std::vector<ProbedGpu> vk = {
      cpu,
      tool(GpuApi::vulkan, 1, "AMD Radeon RX 7600 (RADV NAVI33)", "0000:03:00.0", 8176 * k_mib,
           8000 * k_mib, "vulkaninfo", GpuVendor::amd),
      tool(GpuApi::vulkan, 2, "AMD Radeon RX 7900 XT (RADV NAVI31)", "0000:07:00.0", 20464 * k_mib,
           20000 * k_mib, "vulkaninfo", GpuVendor::amd)};
  const Inventory inv =
      merge(vk + listed("llama-list-devices-vulkan-rx7600+rx7900xt-small-first.txt", k_vk), {});
  CHECK(inv.warnings.empty());
  REQUIRE(inv.gpus.size() == 2);
  REQUIRE(inv.gpus[0].build_device(k_vk) != nullptr);
  CHECK(inv.gpus[0].build_device(k_vk)->device == "Vulkan0");
  CHECK(inv.gpus[0].index_for(GpuApi::vulkan) == 1); // GGML_VK_VISIBLE_DEVICES's number stays
  CHECK(inv.gpus[0].free_bytes == 4751 * k_mib);
  REQUIRE(inv.gpus[1].build_device(k_vk) != nullptr);
  CHECK(inv.gpus[1].build_device(k_vk)->device == "Vulkan1");
  CHECK(inv.gpus[1].index_for(GpuApi::vulkan) == 2);
}

TEST_CASE("merge: a ROCm build that names cards otherwise is matched by position") {
  const std::vector<ProbedGpu> smi = {
      tool(GpuApi::rocm, 0,
           "Strix Halo [Radeon Graphics / Radeon 8050S Graphics / Radeon 8060S "
           "Graphics]",
           "0000:c4:00.0", 96 * k_gib, 80 * k_gib, "amd-smi", GpuVendor::amd)};
  const Inventory inv = merge(
      smi + listed("llama-list-devices-rocm-gfx1151-windows-with-ggml_cuda_init.txt", k_rocm), {});
  CHECK(inv.warnings.empty());
  REQUIRE(inv.gpus.size() == 1);
  const BuildDevice* d = inv.gpus[0].build_device(k_rocm);
  REQUIRE(d != nullptr);
  CHECK(d->device == "ROCm0");
  CHECK(d->name == "AMD Radeon(TM) Graphics");
  CHECK(inv.gpus[0].name.starts_with("Strix Halo")); // amd-smi's name stays
}

TEST_CASE("merge: one iGPU seen by a ROCm and a Vulkan build is one card with both names") {
  // Only vulkaninfo saw the card (no ROCm tool): ROCm0 is found by its name, the Vulkan
  // driver's note left out. Each build's free memory is its own; the card keeps the least.
  const std::vector<ProbedGpu> vk = {
      tool(GpuApi::vulkan, 0, "AMD Radeon 8060S Graphics (RADV STRIX_HALO)", "0000:c5:00.0",
           114163 * k_mib, 90000 * k_mib, "vulkaninfo", GpuVendor::amd)};
  auto both = listed("llama-list-devices-rocm+vulkan-same-strix-halo-gpu-twice.txt", k_vk);
  const Inventory inv = merge(vk + both, {});
  CHECK(inv.warnings.empty());
  REQUIRE(inv.gpus.size() == 1);
  const Gpu& g = inv.gpus[0];
  REQUIRE(g.build_devices.size() == 2);
  CHECK(g.build_devices[0].device == "ROCm0");
  CHECK(g.build_devices[1].device == "Vulkan0");
  CHECK(g.index_for(GpuApi::rocm) == 0); // HIP's number, which no tool gave
  CHECK(g.index_for(GpuApi::vulkan) == 0);
  CHECK(g.free_bytes == 19195 * k_mib);
  CHECK(g.total_bytes == 114163 * k_mib);
}

TEST_CASE("merge: a patched build's PCI addresses pick the cards - identical names in order") {
  std::vector<ProbedGpu> rocm;
  for (int i = 0; i < 2; ++i) {
    rocm.push_back(tool(GpuApi::rocm, i, "AMD Radeon AI PRO R9700",
                        i == 0 ? "0000:03:00.0" : "0000:07:00.0", 32624 * k_mib, 32000 * k_mib,
                        "rocm-smi", GpuVendor::amd));
  }
  const Inventory inv = merge(
      rocm + listed("llama-list-devices-vulkan-2x-r9700+apu-patched-pci-suffix-warnings.txt", k_vk),
      {});
  CHECK(inv.warnings.empty());
  REQUIRE(inv.gpus.size() == 3); // the APU only the build listed is a card of its own
  CHECK(inv.gpus[0].build_device(k_vk)->device == "Vulkan0");
  CHECK(inv.gpus[0].free_bytes == 29059 * k_mib);
  CHECK(inv.gpus[1].build_device(k_vk)->device == "Vulkan1");
  CHECK(inv.gpus[2].pci == "0000:13:00.0");
  CHECK(inv.gpus[2].index_for(GpuApi::vulkan) == 2);
  CHECK(inv.gpus[2].sources == std::vector<std::string>{"llama-server"});
}

TEST_CASE("merge: with no tool at all, a Metal build's device is the machine's GPU") {
  const Inventory inv = merge(listed("llama-list-devices-metal-m3max-mtl0+blas.txt", k_vk), {});
  CHECK(inv.warnings.empty());
  REQUIRE(inv.gpus.size() == 1);
  const Gpu& g = inv.gpus[0];
  CHECK(g.id == "gpu0");
  CHECK(g.name == "Apple M3 Max");
  CHECK(g.vendor == GpuVendor::apple);
  CHECK(g.index_for(GpuApi::metal) == 0);
  CHECK(g.total_bytes == 53084 * k_mib);
  CHECK(g.free_bytes == 53083 * k_mib);
  CHECK(g.cap_bytes > 0);
}

TEST_CASE("merge: a build's device that could be either of two cards is dropped, with a warning") {
  const std::vector<ProbedGpu> vk = {
      tool(GpuApi::vulkan, 0, "AMD Radeon RX 7900 XTX (RADV NAVI31)", "0000:03:00.0", 24560 * k_mib,
           24000 * k_mib, "vulkaninfo", GpuVendor::amd),
      tool(GpuApi::vulkan, 1, "AMD Radeon 780M (RADV PHOENIX)", "0000:74:00.0", 16209 * k_mib,
           15000 * k_mib, "vulkaninfo", GpuVendor::amd)};
  // A ROCm build naming a card neither tool named, with no ROCm index to go by.
  ProbedGpu rocm = tool(GpuApi::rocm, 0, "AMD Radeon Graphics", "", 16 * k_gib, 1 * k_gib,
                        "llama-server", GpuVendor::amd);
  rocm.device = "ROCm0";
  rocm.binary = k_rocm;
  const Inventory inv = merge(vk + std::vector<ProbedGpu>{rocm}, {});
  REQUIRE(inv.gpus.size() == 2);
  CHECK(inv.gpus[0].build_devices.empty());
  CHECK(inv.gpus[1].build_devices.empty());
  CHECK(inv.gpus[1].free_bytes == 15000 * k_mib);
  REQUIRE(inv.warnings.size() == 1);
  CHECK(inv.warnings[0] == k_rocm + " ROCm0 (AMD Radeon Graphics) matches none of the cards the "
                                    "tools saw; ignored");
}

TEST_CASE("merge: a build's device of another vendor than the card at its number is not it") {
  const std::vector<ProbedGpu> vk = {tool(GpuApi::vulkan, 0, "NVIDIA GeForce RTX 2060",
                                          "0000:01:00.0", 6 * k_gib, 5 * k_gib, "vulkaninfo",
                                          GpuVendor::nvidia)};
  ProbedGpu other = tool(GpuApi::vulkan, 0, "Intel(R) Arc(TM) A770 Graphics", "", 16 * k_gib,
                         1 * k_gib, "llama-server", GpuVendor::intel);
  other.device = "Vulkan0";
  other.binary = k_vk;
  const Inventory inv = merge(vk + std::vector<ProbedGpu>{other}, {});
  // No Intel card among the tools': a device no tool saw, kept as a card of its own.
  REQUIRE(inv.gpus.size() == 2);
  CHECK(inv.gpus[0].build_devices.empty());
  CHECK(inv.gpus[0].free_bytes == 5 * k_gib);
  CHECK(inv.gpus[1].name == "Intel(R) Arc(TM) A770 Graphics");
  CHECK(inv.warnings.empty());
}

TEST_CASE("merge: a build that sees far more or less memory than the tools is questioned") {
  const std::vector<ProbedGpu> smi = {tool(GpuApi::cuda, 0, "NVIDIA GeForce RTX 3090",
                                           "0000:01:00.0", 24576 * k_mib, 20000 * k_mib,
                                           "nvidia-smi", GpuVendor::nvidia)};
  ProbedGpu small = tool(GpuApi::cuda, 0, "NVIDIA GeForce RTX 3090", "", 8 * k_gib, 4 * k_gib,
                         "llama-server", GpuVendor::nvidia);
  small.device = "CUDA0";
  small.binary = k_cuda;
  const Inventory inv = merge(smi + std::vector<ProbedGpu>{small}, {});
  REQUIRE(inv.gpus.size() == 1);
  CHECK(inv.gpus[0].free_bytes == 4 * k_gib);
  REQUIRE(inv.warnings.size() == 1);
  CHECK(inv.warnings[0] == k_cuda + " CUDA0 (NVIDIA GeForce RTX 3090) reports 8192 MiB, the tools "
                                    "24576 MiB for NVIDIA GeForce RTX 3090; is it the same card? "
                                    "(its free memory is used as it is)");
}

namespace {

// Answers by the whole command line; records the command lines.
struct Tools {
  std::map<std::string, Result<std::string>> answers;
  std::vector<ToolCommand> ran;
  ToolRunner runner() {
    return [this](const ToolCommand& cmd) -> Result<std::string> {
      ran.push_back(cmd);
      std::string line;
      for (const std::string& a : cmd.argv) {
        line += (line.empty() ? "" : " ") + a;
      }
      const auto it = answers.find(line);
      return it == answers.end() ? fail(Error::not_found(cmd.argv[0] + ": not found on PATH"))
                                 : it->second;
    };
  }
};

} // namespace

TEST_CASE("probe: each preset binary is asked its version and devices, then merged") {
  Tools tools;
  tools.answers.emplace(
      "nvidia-smi --query-gpu=index,uuid,pci.bus_id,name,memory.total,memory.used,memory.free "
      "--format=csv,noheader,nounits",
      std::string("0, GPU-3f6c2a9e-8b1d-4e57-a0c4-1d2e3f4a5b6c, 00000000:01:00.0, NVIDIA GeForce "
                  "RTX 3090, 24576, 4, 24263\n1, GPU-9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d, "
                  "00000000:02:00.0, NVIDIA GeForce RTX 3060, 12288, 18, 12000\n"));
  tools.answers.emplace(k_cuda + " --version",
                        std::string("version: 0.2.0-dev (build 10587, commit 3f545becc)\n"
                                    "built with GNU 12.2.0 for Linux x86_64\n"));
  tools.answers.emplace(k_cuda + " --list-devices",
                        gpu_fixture("llama-list-devices-cuda-rtx3090+rtx3060.txt"));
  testing::TempDir dir;
  const Inventory inv =
      probe(config::GpuConfig{}, tools.runner(), dir.path(),
            {{k_cuda, {{"GGML_CUDA_ENABLE_UNIFIED_MEMORY", "1"}}}, {"/absent/llama-server", {}}});
  REQUIRE(inv.gpus.size() == 2);
  CHECK(inv.gpus[0].build_device(k_cuda)->device == "CUDA0");
  CHECK(inv.gpus[0].free_bytes == 6672 * k_mib);
  CHECK(inv.gpus[1].build_device(k_cuda)->device == "CUDA1");
  REQUIRE(inv.builds.size() == 2);
  CHECK(inv.builds[0].binary == k_cuda);
  REQUIRE(inv.builds[0].version);
  CHECK(inv.builds[0].version->build == 10587);
  CHECK_FALSE(inv.builds[1].version);
  // The missing binary is named, once for each question.
  REQUIRE(inv.warnings.size() == 2);
  CHECK(inv.warnings[0] == "/absent/llama-server: not found on PATH");
  CHECK(inv.warnings[1] == "/absent/llama-server: not found on PATH; its device list is not used");
  bool asked_in_env = false;
  for (const ToolCommand& cmd : tools.ran) {
    if (cmd.argv[0] == k_cuda) {
      asked_in_env = cmd.merge_stderr && cmd.env.size() == 2 &&
                     cmd.env[0].first == "GGML_CUDA_ENABLE_UNIFIED_MEMORY";
    }
  }
  CHECK(asked_in_env);
}

TEST_CASE("probe: a build listing no GPU is a warning - probe=false asks no build") {
  Tools tools;
  tools.answers.emplace(k_vk + " --version",
                        gpu_fixture("llama-server-version-b10587-cpu-no-git.txt"));
  tools.answers.emplace(k_vk + " --list-devices",
                        gpu_fixture("llama-list-devices-cpu-only-none-b10587.txt"));
  testing::TempDir dir;
  const Inventory inv = probe(config::GpuConfig{}, tools.runner(), dir.path(), {{k_vk, {}}});
  CHECK(inv.gpus.empty());
  REQUIRE(inv.warnings.size() == 1);
  CHECK(inv.warnings[0] ==
        k_vk + " --list-devices lists no GPU: a model on its preset would run on the CPU");

  Tools none;
  config::GpuConfig off;
  off.probe = false;
  const Inventory declared = probe(off, none.runner(), dir.path(), {{k_vk, {}}});
  CHECK(none.ran.empty());
  CHECK(declared.builds.empty());
}

} // namespace ask::router
