#include "router/inventory.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>

#include "router/testing.h"
#include "tests/support/temp_dir.h"

namespace ask::router {
namespace {

using testkit::gpu_fixture;
using testkit::k_gib;
using testkit::k_mib;

using config::GpuApi;
using config::GpuVendor;

ProbedGpu rec(GpuApi api, int index, std::string name, std::string pci, std::uint64_t total,
              std::optional<std::uint64_t> free, std::string source) {
  ProbedGpu g;
  g.api = api;
  g.index = index;
  g.name = std::move(name);
  g.pci = std::move(pci);
  g.total_bytes = total;
  g.free_bytes = free;
  g.source = std::move(source);
  g.vendor = g.name.find("NVIDIA") != std::string::npos ? GpuVendor::nvidia : GpuVendor::amd;
  return g;
}

// The seed workstation: four Radeon AI PRO R9700 (ROCm and Vulkan) and an RTX 3090 (CUDA
// and Vulkan). Vulkan enumerates the 3090 first.
std::vector<ProbedGpu> seed_workstation() {
  std::vector<ProbedGpu> out;
  out.push_back(rec(GpuApi::cuda, 0, "NVIDIA GeForce RTX 3090", "0000:0a:00.0", 24576 * k_mib,
                    23800 * k_mib, "nvidia-smi"));
  const char* amd_pci[] = {"0000:03:00.0", "0000:23:00.0", "0000:43:00.0", "0000:63:00.0"};
  for (int i = 0; i < 4; ++i) {
    out.push_back(rec(GpuApi::rocm, i, "AMD Radeon AI PRO R9700", amd_pci[i], 32 * k_gib,
                      31 * k_gib, "rocm-smi"));
  }
  out.push_back(rec(GpuApi::vulkan, 0, "NVIDIA GeForce RTX 3090", "0000:0a:00.0", 24 * k_gib,
                    23 * k_gib, "vulkaninfo"));
  for (int i = 0; i < 4; ++i) {
    out.push_back(rec(GpuApi::vulkan, i + 1, "AMD Radeon AI PRO R9700 (RADV GFX1201)", amd_pci[i],
                      31 * k_gib, 30 * k_gib, "vulkaninfo"));
  }
  return out;
}

TEST_CASE("merge: one card seen through two APIs is one GPU carrying both indices") {
  const Inventory inv = merge(seed_workstation(), config::GpuConfig{});
  REQUIRE(inv.gpus.size() == 5);
  // PCI order: the four Radeons (03, 23, 43, 63) then the 3090 (0a sorts after 03).
  CHECK(inv.gpus[0].pci == "0000:03:00.0");
  CHECK(inv.gpus[1].pci == "0000:0a:00.0");
  const Gpu& rtx = inv.gpus[1];
  CHECK(rtx.id == "gpu1");
  CHECK(rtx.name == "NVIDIA GeForce RTX 3090");
  CHECK(rtx.vendor == GpuVendor::nvidia);
  CHECK(rtx.index_for(GpuApi::cuda) == 0);
  CHECK(rtx.index_for(GpuApi::vulkan) == 0);
  CHECK_FALSE(rtx.index_for(GpuApi::rocm).has_value());
  CHECK(rtx.total_bytes == 24576 * k_mib); // nvidia-smi's figure, not vulkaninfo's heap
  CHECK(rtx.free_bytes == 23 * k_gib);     // the more conservative reading
  CHECK(rtx.sources == std::vector<std::string>{"nvidia-smi", "vulkaninfo"});
  const Gpu& r2 = inv.gpus[2];
  CHECK(r2.name == "AMD Radeon AI PRO R9700"); // rocm-smi's name wins over the driver's
  CHECK(r2.index_for(GpuApi::rocm) == 1);
  CHECK(r2.index_for(GpuApi::vulkan) == 2);
  CHECK(r2.total_bytes == 32 * k_gib);
}

TEST_CASE("merge: NVIDIA's Vulkan deviceUUID matches its CUDA UUID when no PCI id is known") {
  ProbedGpu cuda = rec(GpuApi::cuda, 0, "NVIDIA GeForce RTX 3090", "", 24 * k_gib, std::nullopt,
                       "nvidia-smi");
  cuda.uuid = "GPU-6f2c1a3e-0b1d-4e2f-9a8b-7c6d5e4f3a2b";
  ProbedGpu vk = rec(GpuApi::vulkan, 1, "NVIDIA GeForce RTX 3090", "", 24 * k_gib, 20 * k_gib,
                     "vulkaninfo");
  vk.uuid = "6f2c1a3e0b1d4e2f9a8b7c6d5e4f3a2b";
  const Inventory inv = merge({cuda, vk}, config::GpuConfig{});
  REQUIRE(inv.gpus.size() == 1);
  CHECK(inv.gpus[0].index_for(GpuApi::vulkan) == 1);
  CHECK(inv.gpus[0].free_bytes == 20 * k_gib);
}

TEST_CASE("merge: records without PCI id or UUID stay separate - CPU devices are dropped") {
  ProbedGpu a = rec(GpuApi::vulkan, 0, "AMD Radeon Graphics", "", 2 * k_gib, std::nullopt,
                    "vulkaninfo");
  a.unified = true;
  ProbedGpu b = rec(GpuApi::vulkan, 1, "NVIDIA GeForce RTX 2050", "", 4 * k_gib, std::nullopt,
                    "vulkaninfo");
  ProbedGpu cpu = rec(GpuApi::vulkan, 2, "llvmpipe (LLVM 15.0.7, 256 bits)", "", 8 * k_gib,
                      std::nullopt, "vulkaninfo");
  cpu.cpu = true;
  const Inventory inv = merge({a, b, cpu}, config::GpuConfig{});
  REQUIRE(inv.gpus.size() == 2);
  CHECK(inv.gpus[0].unified);
  CHECK(inv.gpus[0].id == "gpu0");
  CHECK(inv.gpus[1].id == "gpu1");
}

TEST_CASE("merge: a declared device matches by PCI id and overrides what the probes said") {
  config::GpuConfig cfg;
  config::GpuSpec spec;
  spec.id = "rtx3090";
  spec.name = "rtx3090";
  spec.pci = "0000:0a:00.0";
  spec.display = true;
  spec.reserve = 1536 * k_mib;
  spec.backend_index = {{GpuApi::vulkan, 4}};
  cfg.devices.push_back(spec);
  const Inventory inv = merge(seed_workstation(), cfg);
  const Gpu* g = inv.find("rtx3090");
  REQUIRE(g != nullptr);
  CHECK(g->name == "NVIDIA GeForce RTX 3090"); // the id is not a better name than the probe's
  CHECK(g->display);
  CHECK(g->index_for(GpuApi::vulkan) == 4); // declared index wins
  CHECK(g->index_for(GpuApi::cuda) == 0);
  CHECK(g->reserve_bytes == 1536 * k_mib);
  // A display GPU defaults to an 85% cap.
  CHECK(g->cap_bytes == static_cast<std::uint64_t>(24576.0 * k_mib * k_display_cap));
  CHECK(g->sources.back() == "config");
  // Undeclared cards get generated ids that skip the declared ones.
  CHECK(inv.find("gpu0") != nullptr);
  CHECK(inv.gpus.size() == 5);
}

TEST_CASE("merge: a declared device matches by backend_index when it gives no PCI id") {
  config::GpuConfig cfg;
  config::GpuSpec spec;
  spec.id = "r9700-b";
  spec.name = "second radeon";
  spec.backend_index = {{GpuApi::rocm, 1}};
  spec.vram = 30 * k_gib;
  spec.cap.bytes = 28 * k_gib;
  cfg.devices.push_back(spec);
  const Inventory inv = merge(seed_workstation(), cfg);
  const Gpu* g = inv.find("r9700-b");
  REQUIRE(g != nullptr);
  CHECK(g->pci == "0000:23:00.0");
  CHECK(g->name == "second radeon");
  CHECK(g->total_bytes == 30 * k_gib);
  CHECK(g->free_bytes == 30 * k_gib); // probed 31/30 GiB free, capped by the declared vram
  CHECK(g->cap_bytes == 28 * k_gib);
}

TEST_CASE("merge: a declared device no probe saw is kept, with a warning that says why") {
  config::GpuConfig cfg;
  config::GpuSpec sized;
  sized.id = "egpu";
  sized.vram = 16 * k_gib;
  sized.backend_index = {{GpuApi::cuda, 7}};
  config::GpuSpec bare;
  bare.id = "ghost";
  bare.backend_index = {{GpuApi::vulkan, 9}};
  cfg.devices = {sized, bare};
  const Inventory inv = merge(seed_workstation(), cfg);
  REQUIRE(inv.find("egpu") != nullptr);
  REQUIRE(inv.find("ghost") != nullptr);
  CHECK(inv.find("ghost")->usable_bytes() == 0);
  REQUIRE(inv.warnings.size() == 2);
  CHECK(inv.warnings[0] ==
        "gpus: device \"egpu\" was not seen by any probe; using its declared vram");
  CHECK(inv.warnings[1] == "gpus: device \"ghost\" was not seen by any probe; it declares no "
                           "vram, so nothing goes on it");
}

TEST_CASE("merge: declared devices alone when probing is off, free unknown") {
  config::GpuConfig cfg;
  cfg.probe = false;
  cfg.reserve = 0;
  for (int i = 0; i < 2; ++i) {
    config::GpuSpec s;
    s.id = "gpu" + std::to_string(i);
    s.name = s.id;
    s.vram = 24 * k_gib;
    s.backend_index = {{GpuApi::cuda, i}};
    cfg.devices.push_back(s);
  }
  const Inventory inv = merge({}, cfg);
  REQUIRE(inv.gpus.size() == 2);
  CHECK_FALSE(inv.gpus[0].free_bytes.has_value());
  CHECK(inv.gpus[1].index_for(GpuApi::cuda) == 1);
  CHECK(inv.gpus[1].usable_bytes() ==
        static_cast<std::uint64_t>(24.0 * k_gib * k_default_cap));
  CHECK(inv.warnings.empty());
}

TEST_CASE("Gpu::usable_bytes: the smaller of the cap and free minus reserve, never negative") {
  Gpu g;
  g.total_bytes = 24 * k_gib;
  g.cap_bytes = 22 * k_gib;
  g.reserve_bytes = 1 * k_gib;
  CHECK(g.usable_bytes() == 22 * k_gib); // free unknown: total − reserve = 23 GiB, cap 22
  g.free_bytes = 10 * k_gib;
  CHECK(g.usable_bytes() == 9 * k_gib);
  g.free_bytes = 512 * k_mib;
  CHECK(g.usable_bytes() == 0);
}

// A ToolRunner that answers from a table and records what ran. An answer is found by the
// whole command line ("xpu-smi stats -d 0 -j"), else by the program's name.
struct FakeTools {
  std::map<std::string, Result<std::string>> answers;
  std::vector<std::string> ran;      // program names
  std::vector<std::string> commands; // whole command lines
  ToolRunner runner() {
    return [this](const std::vector<std::string>& argv) -> Result<std::string> {
      std::string line;
      for (const std::string& a : argv) {
        line += (line.empty() ? "" : " ") + a;
      }
      ran.push_back(argv[0]);
      commands.push_back(line);
      auto it = answers.find(line);
      if (it == answers.end()) {
        it = answers.find(argv[0]);
      }
      if (it == answers.end()) {
        return fail(Error::not_found(argv[0] + ": not found on PATH"));
      }
      return it->second;
    };
  }
};

TEST_CASE("probe: no tools installed gives an empty inventory without warnings") {
  FakeTools tools;
  testing::TempDir dir;
  const Inventory inv = probe(config::GpuConfig{}, tools.runner(), dir.path());
  CHECK(inv.gpus.empty());
  CHECK(inv.warnings.empty());
  CHECK(tools.ran ==
        std::vector<std::string>{"nvidia-smi", "amd-smi", "rocm-smi", "vulkaninfo", "xpu-smi"});
}

TEST_CASE("probe: a failing tool is a warning naming it - probe=false runs nothing") {
  FakeTools tools;
  tools.answers.emplace("nvidia-smi",
                        fail(Error::internal("exited with status 9: NVIDIA-SMI has failed")));
  testing::TempDir dir;
  const Inventory inv = probe(config::GpuConfig{}, tools.runner(), dir.path());
  REQUIRE(inv.warnings.size() == 1);
  CHECK(inv.warnings[0].starts_with("nvidia-smi: exited with status 9"));

  FakeTools none;
  config::GpuConfig off;
  off.probe = false;
  CHECK(probe(off, none.runner(), dir.path()).gpus.empty());
  CHECK(none.ran.empty());
}

TEST_CASE("probe: without rocm-smi, AMD cards come from the amdgpu sysfs files") {
  FakeTools tools;
  testing::TempDir dir;
  const auto card = [&](const std::string& name, const std::string& vendor, std::uint64_t total,
                        const std::string& slot) {
    const std::filesystem::path d = dir.path() / name / "device";
    std::filesystem::create_directories(d);
    std::ofstream(d / "vendor") << vendor << "\n";
    std::ofstream(d / "mem_info_vram_total") << total << "\n";
    std::ofstream(d / "mem_info_vram_used") << 1024 * k_mib << "\n";
    std::ofstream(d / "uevent") << "DRIVER=amdgpu\nPCI_SLOT_NAME=" << slot << "\n";
  };
  card("card1", "0x1002", 16 * k_gib, "0000:03:00.0");
  card("card0", "0x8086", 0, "0000:00:02.0"); // an Intel iGPU: not amdgpu
  std::filesystem::create_directories(dir.path() / "card1-DP-1"); // a connector, not a card
  const Inventory inv = probe(config::GpuConfig{}, tools.runner(), dir.path());
  REQUIRE(inv.gpus.size() == 1);
  CHECK(inv.gpus[0].pci == "0000:03:00.0");
  CHECK(inv.gpus[0].index_for(GpuApi::rocm) == 0);
  CHECK(inv.gpus[0].total_bytes == 16 * k_gib);
  CHECK(inv.gpus[0].free_bytes == 15 * k_gib);
}

TEST_CASE("probe: the seed workstation's three tools give five GPUs, each with its indices") {
  FakeTools tools;
  tools.answers.emplace("nvidia-smi",
                        gpu_fixture("synthetic-seed-nvidia-smi-askd-query-1x-rtx3090.txt"));
  tools.answers.emplace("rocm-smi", gpu_fixture("synthetic-seed-rocm-smi-json-4x-r9700.json"));
  tools.answers.emplace("vulkaninfo",
                        gpu_fixture("synthetic-seed-vulkaninfo-4x-r9700+rtx3090+llvmpipe.txt"));
  testing::TempDir dir;
  const Inventory inv = probe(config::GpuConfig{}, tools.runner(), dir.path());
  CHECK(inv.warnings.empty());
  REQUIRE(inv.gpus.size() == 5); // llvmpipe dropped
  const std::vector<std::string> pci = {"0000:03:00.0", "0000:07:00.0", "0000:0b:00.0",
                                        "0000:83:00.0", "0000:c3:00.0"};
  for (std::size_t i = 0; i < 5; ++i) {
    CAPTURE(i);
    const Gpu& g = inv.gpus[i];
    CHECK(g.id == "gpu" + std::to_string(i));
    CHECK(g.pci == pci[i]);
    CHECK(g.index_for(GpuApi::vulkan) == static_cast<int>(i)); // Vulkan lists them in PCI order
    CHECK(g.sources.size() == 2);
  }
  const Gpu& rtx = inv.gpus[2];
  CHECK(rtx.name == "NVIDIA GeForce RTX 3090");
  CHECK(rtx.index_for(GpuApi::cuda) == 0);
  CHECK_FALSE(rtx.index_for(GpuApi::rocm).has_value());
  CHECK(rtx.total_bytes == 24576 * k_mib);
  const Gpu& r0 = inv.gpus[0];
  CHECK(r0.name == "AMD Radeon AI PRO R9700");
  CHECK(r0.index_for(GpuApi::rocm) == 0);
  CHECK(r0.total_bytes == 34208743424ull);
  CHECK(r0.free_bytes <= 34208743424ull - 3149398016ull); // rocm-smi's used, or Vulkan's budget
  CHECK(inv.gpus[4].index_for(GpuApi::rocm) == 3);
}

TEST_CASE("merge: two cards that share a UUID but not a PCI address stay two cards") {
  // A cloned VM (or a vGPU listing) repeats one UUID on two devices at different addresses.
  const auto parsed =
      parse_nvidia_smi(gpu_fixture("synthetic-nvidia-smi-askd-query-cloned-vm-same-uuid.txt"));
  REQUIRE(parsed);
  REQUIRE(parsed->gpus.size() == 2);
  const Inventory inv = merge(parsed->gpus, config::GpuConfig{});
  REQUIRE(inv.gpus.size() == 2);
  CHECK(inv.gpus[0].pci == "0000:00:05.0");
  CHECK(inv.gpus[0].index_for(GpuApi::cuda) == 0);
  CHECK(inv.gpus[0].free_bytes == 98722 * k_mib);
  CHECK(inv.gpus[1].pci == "0000:00:06.0");
  CHECK(inv.gpus[1].index_for(GpuApi::cuda) == 1);
  CHECK(inv.gpus[1].free_bytes == 12914 * k_mib);
  REQUIRE(inv.warnings.size() == 1);
  CHECK(inv.warnings[0] == "UUID GPU-78aaaccb-3af1-11b3-b1f8-3828c251d9f2 is reported for two "
                           "cards, 0000:00:05.0 and 0000:00:06.0 (a cloned VM or a vGPU "
                           "listing?); they are kept as two GPUs");
}

TEST_CASE("merge: a record without a PCI address whose UUID names two cards is dropped") {
  const auto parsed =
      parse_nvidia_smi(gpu_fixture("synthetic-nvidia-smi-askd-query-cloned-vm-same-uuid.txt"));
  REQUIRE(parsed);
  std::vector<ProbedGpu> records = parsed->gpus;
  ProbedGpu vk =
      rec(GpuApi::vulkan, 0, "NVIDIA H200-141C", "", 140 * k_gib, 1 * k_gib, "vulkaninfo");
  vk.uuid = "78aaaccb3af111b3b1f83828c251d9f2";
  records.push_back(vk);
  ProbedGpu vk_at = vk; // the same UUID with an address: matched by the address
  vk_at.index = 1;
  vk_at.pci = "0000:00:06.0";
  records.push_back(vk_at);
  const Inventory inv = merge(records, config::GpuConfig{});
  REQUIRE(inv.gpus.size() == 2);
  CHECK_FALSE(inv.gpus[0].index_for(GpuApi::vulkan).has_value());
  CHECK(inv.gpus[0].free_bytes == 98722 * k_mib); // the dropped record's 1 GiB is not taken
  CHECK(inv.gpus[1].index_for(GpuApi::vulkan) == 1);
  CHECK(inv.gpus[1].free_bytes == 1 * k_gib);
  REQUIRE(inv.warnings.size() == 2);
  CHECK(inv.warnings[1] == "vulkaninfo vulkan device 0 (NVIDIA H200-141C): its UUID "
                           "78aaaccb3af111b3b1f83828c251d9f2 names 2 cards and it gives no PCI "
                           "address to tell which; ignored");
}

TEST_CASE("probe: nvidia-smi's own reason for failing reaches the warning") {
  // A real run: a stand-in nvidia-smi on PATH that prints the recorded message on stdout and
  // exits 18, as the real one does on a driver/library version mismatch.
  testing::TempDir dir;
  const std::filesystem::path bin = dir.path() / "bin";
  std::filesystem::create_directories(bin);
  std::ofstream(bin / "nvidia-smi")
      << "#!/bin/sh\ncat '" << ASK_SOURCE_DIR
      << "/tests/fixtures/gpu/nvidia-smi-error-nvml-mismatch-old.txt'\nexit 18\n";
  std::filesystem::permissions(bin / "nvidia-smi", std::filesystem::perms::owner_all);
  const std::string saved = std::getenv("PATH") != nullptr ? std::getenv("PATH") : "";
  ::setenv("PATH", (bin.string() + ":/usr/bin:/bin").c_str(), 1);
  const Inventory inv = probe(config::GpuConfig{}, system_tool_runner(), dir.path());
  ::setenv("PATH", saved.c_str(), 1);
  CHECK(inv.gpus.empty());
  REQUIRE_FALSE(inv.warnings.empty());
  CHECK(inv.warnings[0] ==
        "nvidia-smi: exited with status 18: Failed to initialize NVML: Driver/library version "
        "mismatch");
}

TEST_CASE("probe: the recorded nvidia-smi failures, as a runner reports them") {
  for (const char* file :
       {"nvidia-smi-error-couldnt-communicate.txt", "nvidia-smi-error-no-devices-found.txt",
        "nvidia-smi-error-nvml-mismatch-old.txt"}) {
    CAPTURE(file);
    std::string text = gpu_fixture(file);
    text.erase(text.find_last_not_of('\n') + 1);
    FakeTools tools;
    tools.answers.emplace("nvidia-smi",
                          fail(Error::internal("nvidia-smi: exited with status 9: " + text)));
    testing::TempDir dir;
    const Inventory inv = probe(config::GpuConfig{}, tools.runner(), dir.path());
    REQUIRE(inv.warnings.size() == 1);
    CHECK(inv.warnings[0] == "nvidia-smi: exited with status 9: " + text);
  }
}

namespace {

// The answers of amd-smi on the recorded RX 6600 machine (ROCm 6.x, list form).
void rx6600_amd_smi(FakeTools& tools) {
  tools.answers.emplace("amd-smi static --asic --bus --vram --board --json",
                        gpu_fixture("amd-smi-static-json-rx6600-list-value-unit.json"));
  tools.answers.emplace("amd-smi metric --mem-usage --json",
                        gpu_fixture("amd-smi-metric-json-rx6600-list-value-unit.json"));
}

} // namespace

TEST_CASE("probe: amd-smi is preferred to rocm-smi, which is then not asked") {
  FakeTools tools;
  rx6600_amd_smi(tools);
  tools.answers.emplace("rocm-smi", gpu_fixture("synthetic-seed-rocm-smi-json-4x-r9700.json"));
  testing::TempDir dir;
  const Inventory inv = probe(config::GpuConfig{}, tools.runner(), dir.path());
  CHECK(inv.warnings.empty());
  CHECK(std::find(tools.ran.begin(), tools.ran.end(), "rocm-smi") == tools.ran.end());
  REQUIRE(inv.gpus.size() == 1);
  const Gpu& g = inv.gpus[0];
  CHECK(g.name == "Navi 23 [Radeon RX 6600/6600 XT");
  CHECK(g.pci == "0000:0b:00.0");
  CHECK(g.index_for(GpuApi::rocm) == 0);
  CHECK(g.total_bytes == 8176 * k_mib);
  CHECK(g.free_bytes == 7974 * k_mib);
  CHECK(g.sources == std::vector<std::string>{"amd-smi"});
}

TEST_CASE("probe: amd-smi failing or empty falls back to rocm-smi, then to sysfs") {
  SUBCASE("amd-smi fails: rocm-smi, with amd-smi's reason as a warning") {
    FakeTools tools;
    tools.answers.emplace("amd-smi", fail(Error::internal("amd-smi: exited with status 1: "
                                                          "AMDSMI_STATUS_DRIVER_NOT_LOADED")));
    tools.answers.emplace("rocm-smi", gpu_fixture("synthetic-seed-rocm-smi-json-4x-r9700.json"));
    testing::TempDir dir;
    const Inventory inv = probe(config::GpuConfig{}, tools.runner(), dir.path());
    CHECK(inv.gpus.size() == 4);
    REQUIRE(inv.warnings.size() == 1);
    CHECK(inv.warnings[0] == "amd-smi: exited with status 1: AMDSMI_STATUS_DRIVER_NOT_LOADED");
  }
  SUBCASE("amd-smi prints no GPU and there is no rocm-smi: the amdgpu sysfs files") {
    FakeTools tools;
    tools.answers.emplace("amd-smi", std::string("[]\n"));
    testing::TempDir dir;
    const std::filesystem::path d = dir.path() / "card0" / "device";
    std::filesystem::create_directories(d);
    std::ofstream(d / "vendor") << "0x1002\n";
    std::ofstream(d / "mem_info_vram_total") << 8 * k_gib << "\n";
    const Inventory inv = probe(config::GpuConfig{}, tools.runner(), dir.path());
    REQUIRE(inv.gpus.size() == 1);
    CHECK(inv.gpus[0].sources == std::vector<std::string>{"sysfs"});
    REQUIRE(inv.warnings.size() == 1);
    CHECK(inv.warnings[0].starts_with("amd-smi: no GPU in the output"));
  }
}

namespace {

// An Intel card listed by `xpu-smi discovery -j` (the documentation's example: no memory).
void xpu_listing(FakeTools& tools) {
  tools.answers.emplace("xpu-smi discovery -j",
                        gpu_fixture("xpu-smi-discovery-json-docs-example.txt"));
}

} // namespace

TEST_CASE("probe: an Intel GPU's memory from xpu-smi discovery -d and stats") {
  FakeTools tools;
  xpu_listing(tools);
  tools.answers.emplace("xpu-smi discovery -d 0 -j",
                        std::string(R"({"device_id": 0, "device_name": "Intel(R) Graphics [0x020a]",
                           "pci_bdf_address": "0000:4d:00.0",
                           "memory_physical_size_byte": "34359738368"})"));
  tools.answers.emplace(
      "xpu-smi stats -d 0 -j",
      gpu_fixture("xpu-smi-stats-json-arc-device0-pasted-in-source-comment.json"));
  testing::TempDir dir;
  const Inventory inv = probe(config::GpuConfig{}, tools.runner(), dir.path());
  CHECK(inv.warnings.empty());
  REQUIRE(inv.gpus.size() == 1);
  CHECK(inv.gpus[0].total_bytes == 32 * k_gib);
  CHECK(inv.gpus[0].free_bytes == 32 * k_gib - 240320512); // 229.1875 MiB in use
  CHECK(inv.gpus[0].index_for(GpuApi::sycl) == 0);
}

TEST_CASE("probe: an Intel GPU's memory from the i915 or xe sysfs files when xpu-smi has none") {
  FakeTools tools;
  xpu_listing(tools);
  tools.answers.emplace("xpu-smi discovery -d 0 -j",
                        fail(Error::internal("xpu-smi: exited with status 1: Error")));
  testing::TempDir dir;
  const std::filesystem::path card = dir.path() / "card1";
  std::filesystem::create_directories(card / "device" / "tile0");
  std::ofstream(card / "device" / "uevent") << "DRIVER=xe\nPCI_SLOT_NAME=0000:4d:00.0\n";
  std::ofstream(card / "device" / "tile0" / "physical_vram_size_bytes") << 16 * k_gib << "\n";
  const Inventory inv = probe(config::GpuConfig{}, tools.runner(), dir.path());
  REQUIRE(inv.gpus.size() == 1);
  CHECK(inv.gpus[0].total_bytes == 16 * k_gib);
  CHECK_FALSE(inv.gpus[0].free_bytes.has_value());
  REQUIRE(inv.warnings.size() == 1);
  CHECK(inv.warnings[0] == "xpu-smi: exited with status 1: Error");
}

TEST_CASE("probe: an Intel GPU whose memory nothing gives is unknown, with a warning") {
  FakeTools tools;
  xpu_listing(tools);
  tools.answers.emplace("xpu-smi discovery -d 0 -j", std::string("{\"device_id\": 0}\n"));
  testing::TempDir dir;
  const Inventory inv = probe(config::GpuConfig{}, tools.runner(), dir.path());
  REQUIRE(inv.gpus.size() == 1);
  CHECK(inv.gpus[0].total_bytes == 0);
  CHECK(inv.gpus[0].usable_bytes() == 0);
  REQUIRE(inv.warnings.size() == 2);
  CHECK(inv.warnings[0].starts_with(
      "xpu-smi device 0: xpu-smi discovery -d 0 -j gives no memory size"));
  CHECK(inv.warnings[1] == "gpu0 (Intel(R) Graphics [0x020a]): no source could size its memory, "
                           "so nothing is placed on it; declare its \"vram\" in gpus.devices");
  CHECK(std::find(tools.commands.begin(), tools.commands.end(), "xpu-smi stats -d 0 -j") ==
        tools.commands.end()); // nothing to subtract the use from
}

} // namespace
} // namespace ask::router
