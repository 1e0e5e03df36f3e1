// parse_vulkaninfo against recorded vulkaninfo outputs: a full one, memory sections cut from
// full ones (old and current formats), --summary, and the synthetic seed workstation.

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include <doctest/doctest.h>

#include "router/probe.h"
#include "router/testing.h"

namespace ask::router {
namespace {

using testkit::any_warning_has;
using testkit::gpu_fixture;

// One device's memory section in the current format: heap 0 device-local.
std::string heap_section(const std::string& size, const std::string& budget,
                         const std::string& usage) {
  return "VkPhysicalDeviceMemoryProperties:\n=================================\n"
         "memoryHeaps: count = 1\n\tmemoryHeaps[0]:\n\t\tsize   = " +
         size + "\n\t\tbudget = " + budget + "\n\t\tusage  = " + usage +
         "\n\t\tflags: count = 1\n\t\t\tMEMORY_HEAP_DEVICE_LOCAL_BIT\nmemoryTypes: count = 0\n";
}

} // namespace

TEST_CASE("parse_vulkaninfo: full output, NVIDIA dGPU + AMD iGPU (Windows, loader 1.4.328)") {
  const auto r = parse_vulkaninfo(gpu_fixture("vulkaninfo-full-rtx2050+amd-igpu-windows.txt"));
  REQUIRE(r);
  REQUIRE(r->gpus.size() == 2);
  CHECK(r->warnings.empty());
  const ProbedGpu& nv = r->gpus[0];
  CHECK(nv.api == config::GpuApi::vulkan);
  CHECK(nv.index == 0);
  CHECK(nv.name == "NVIDIA GeForce RTX 2050");
  CHECK(nv.vendor == config::GpuVendor::nvidia);
  CHECK(nv.pci == "0000:01:00.0");
  CHECK(nv.uuid == "c6485f0e-115b-4564-918a-7de1e02eef21");
  CHECK(nv.total_bytes == 4156555264ULL);
  CHECK(nv.free_bytes == 3533071975ULL);
  CHECK_FALSE(nv.unified);
  CHECK_FALSE(nv.cpu);
  CHECK(nv.source == "vulkaninfo");
  const ProbedGpu& amd = r->gpus[1];
  CHECK(amd.index == 1);
  CHECK(amd.name == "AMD Radeon(TM) Graphics");
  CHECK(amd.vendor == config::GpuVendor::amd);
  CHECK(amd.unified);
  CHECK(amd.pci.empty()); // this driver prints no VkPhysicalDevicePCIBusInfoPropertiesEXT
  CHECK(amd.uuid == "00000000-7400-0000-0000-000000000000");
  CHECK(amd.total_bytes == 8521711616ULL); // heap 1 is the DEVICE_LOCAL one
  CHECK(amd.free_bytes == 8095626240ULL);
}

TEST_CASE("parse_vulkaninfo: the seed workstation: 4x R9700, RTX 3090, llvmpipe") {
  const auto r =
      parse_vulkaninfo(gpu_fixture("synthetic-seed-vulkaninfo-4x-r9700+rtx3090+llvmpipe.txt"));
  REQUIRE(r);
  REQUIRE(r->gpus.size() == 6);
  CHECK(r->warnings.empty());
  CHECK(r->gpus[0].name == "AMD Radeon AI PRO R9700 (RADV GFX1201)");
  CHECK(r->gpus[0].pci == "0000:03:00.0");
  CHECK(r->gpus[0].total_bytes == 34208743424ULL);
  CHECK(r->gpus[0].free_bytes == 31059345408ULL);
  CHECK(r->gpus[1].pci == "0000:07:00.0");
  const ProbedGpu& nv = r->gpus[2];
  CHECK(nv.index == 2);
  CHECK(nv.vendor == config::GpuVendor::nvidia);
  CHECK(nv.pci == "0000:0b:00.0");
  CHECK(nv.uuid == "1b2c3d4e-5f60-4a7b-8c9d-0e1f2a3b4c5d");
  CHECK(nv.total_bytes == 25769803776ULL); // the largest of two DEVICE_LOCAL heaps
  CHECK(nv.free_bytes == 25441599488ULL);
  CHECK(r->gpus[3].pci == "0000:83:00.0");
  CHECK(r->gpus[4].pci == "0000:c3:00.0");
  const ProbedGpu& cpu = r->gpus[5];
  CHECK(cpu.cpu);
  CHECK(cpu.vendor == config::GpuVendor::other);
  CHECK(cpu.pci.empty());
  CHECK(cpu.name == "llvmpipe (LLVM 15.0.6, 256 bits)");
}

TEST_CASE("parse_vulkaninfo: the old 1.1 format (memoryHeaps[0] :, no budget)") {
  const auto r =
      parse_vulkaninfo(gpu_fixture("vulkaninfo-memprops-quadro-k620-old-1.1-format.txt"));
  REQUIRE(r);
  REQUIRE(r->gpus.size() == 1);
  CHECK(r->gpus[0].index == 0);
  CHECK(r->gpus[0].total_bytes == 2147483648ULL);
  CHECK_FALSE(r->gpus[0].free_bytes);
  CHECK(r->gpus[0].name == "Vulkan GPU 0");
}

TEST_CASE("parse_vulkaninfo: an old full output with 'GPU0' headers and short device types") {
  const std::string text = "Device Properties and Extensions :\n"
                           "==================================\n"
                           "GPU0\n"
                           "VkPhysicalDeviceProperties:\n"
                           "===========================\n"
                           "        apiVersion     = 0x402085  (1.2.133)\n"
                           "        vendorID       = 0x8086\n"
                           "        deviceType     = INTEGRATED_GPU\n"
                           "        deviceName     = Intel(R) UHD Graphics 620\n"
                           "GPU1\n"
                           "        vendorID       = 0x10005\n"
                           "        deviceType     = CPU\n"
                           "        deviceName     = llvmpipe (LLVM 9.0, 256 bits)\n" +
                           gpu_fixture("vulkaninfo-memprops-quadro-k620-old-1.1-format.txt");
  const auto r = parse_vulkaninfo(text);
  REQUIRE(r);
  REQUIRE(r->gpus.size() == 2);
  CHECK(r->gpus[0].vendor == config::GpuVendor::intel);
  CHECK(r->gpus[0].unified);
  CHECK(r->gpus[0].total_bytes == 0);
  CHECK(r->gpus[1].cpu);
  CHECK(r->gpus[1].total_bytes == 2147483648ULL); // the heaps printed after "GPU1"
}

TEST_CASE("parse_vulkaninfo: memory sections cut from full outputs (current format)") {
  SUBCASE("Intel Xe iGPU: one heap with budget") {
    const auto r = parse_vulkaninfo(gpu_fixture("vulkaninfo-memprops-intel-xe-tgl-mesa-2020.txt"));
    REQUIRE(r);
    REQUIRE(r->gpus.size() == 1);
    CHECK(r->gpus[0].total_bytes == 6099397632ULL);
    CHECK(r->gpus[0].free_bytes == 6098518016ULL);
  }
  SUBCASE("RX 470 small BAR: the 3.75 GiB heap, not the 256 MiB one") {
    const auto r = parse_vulkaninfo(gpu_fixture("vulkaninfo-memprops-rx470-radv-small-bar.txt"));
    REQUIRE(r);
    CHECK(r->gpus[0].total_bytes == 4026531840ULL);
    CHECK(r->gpus[0].free_bytes == 2580123648ULL);
  }
  SUBCASE("RX 6650 XT: tab-indented, free = budget - usage") {
    const auto r = parse_vulkaninfo(gpu_fixture("vulkaninfo-memprops-rx6650xt-windows-amd.txt"));
    REQUIRE(r);
    CHECK(r->gpus[0].total_bytes == 8304721920ULL);
    CHECK(r->gpus[0].free_bytes == 7468990976ULL - 524288ULL);
  }
}

TEST_CASE("parse_vulkaninfo: --summary, Intel iGPU + NVIDIA laptop dGPU: no heaps, total 0") {
  const auto r =
      parse_vulkaninfo(gpu_fixture("vulkaninfo-summary-intel-rpl-igpu+rtx4070-laptop-linux.txt"));
  REQUIRE(r);
  REQUIRE(r->gpus.size() == 2);
  CHECK(r->warnings.empty());
  CHECK(r->gpus[0].name == "Intel(R) Graphics (RPL-S)");
  CHECK(r->gpus[0].vendor == config::GpuVendor::intel);
  CHECK(r->gpus[0].unified);
  CHECK(r->gpus[0].uuid == "868088a7-0400-0000-0002-000000000000");
  CHECK(r->gpus[0].total_bytes == 0);
  CHECK_FALSE(r->gpus[0].free_bytes);
  CHECK(r->gpus[1].name == "NVIDIA GeForce RTX 4070 Laptop GPU");
  CHECK(r->gpus[1].vendor == config::GpuVendor::nvidia);
  CHECK_FALSE(r->gpus[1].unified);
  CHECK(r->gpus[1].pci.empty());
}

TEST_CASE("parse_vulkaninfo: --summary on a Jetson (prompt line, elided extensions)") {
  const auto r = parse_vulkaninfo(gpu_fixture("vulkaninfo-summary-jetson-orin-nano.txt"));
  REQUIRE(r);
  REQUIRE(r->gpus.size() == 1);
  CHECK(r->gpus[0].name == "NVIDIA Tegra Orin (nvgpu)");
  CHECK(r->gpus[0].vendor == config::GpuVendor::nvidia);
  CHECK(r->gpus[0].unified);
}

TEST_CASE("parse_vulkaninfo: 'GPU id' lines name a device that has no property section") {
  const auto r = parse_vulkaninfo("Presentable Surfaces:\n=====================\n"
                                  "GPU id : 0 (AMD Radeon RX 7900 XTX (RADV NAVI31)) "
                                  "[VK_KHR_xcb_surface]:\n\tSurface type = VK_KHR_xcb_surface\n");
  REQUIRE(r);
  REQUIRE(r->gpus.size() == 1);
  CHECK(r->gpus[0].name == "AMD Radeon RX 7900 XTX (RADV NAVI31)");
  CHECK(r->gpus[0].vendor == config::GpuVendor::amd); // guessed from the name
  CHECK(r->gpus[0].total_bytes == 0);
}

TEST_CASE("parse_vulkaninfo: budget and usage are clamped") {
  SUBCASE("usage above budget") {
    const auto r = parse_vulkaninfo(heap_section("1000 (0x3e8)", "500", "900"));
    REQUIRE(r);
    CHECK(r->gpus[0].total_bytes == 1000);
    CHECK(r->gpus[0].free_bytes == 0);
  }
  SUBCASE("budget above size") {
    const auto r = parse_vulkaninfo(heap_section("1000", "5000", "100"));
    REQUIRE(r);
    CHECK(r->gpus[0].free_bytes == 900);
  }
}

TEST_CASE("parse_vulkaninfo: unreadable heap figures are warnings naming the line") {
  const auto r = parse_vulkaninfo("GPU0:\n" + heap_section("-5", "lots", "0") +
                                  heap_section("99999999999999999999999", "1", "0"));
  REQUIRE(r);
  REQUIRE(r->gpus.size() == 1);
  CHECK(r->gpus[0].total_bytes == 0);
  CHECK(any_warning_has(*r, "vulkaninfo line 6: heap size '-5' is not a byte count"));
  CHECK(any_warning_has(*r, "vulkaninfo line 7: heap budget 'lots'"));
  CHECK(any_warning_has(*r, "vulkaninfo: GPU0: no DEVICE_LOCAL heap of known size"));
}

TEST_CASE("parse_vulkaninfo: out-of-range PCI fields and indexes are dropped") {
  const auto r = parse_vulkaninfo("GPU0:\n\tpciDomain = 0\n\tpciBus = 300\n\tpciDevice = 0\n"
                                  "\tpciFunction = 0\nGPU1:\n\tpciDomain = 0\n\tpciBus = 1\n"
                                  "\tpciDevice = 0\n\tpciFunction = 9\nGPU2:\n\tpciBus = 1\n"
                                  "GPU99999:\n\tdeviceName = ghost\n\tmemoryHeaps[70]:\n"
                                  "\t\tsize = 1\n");
  REQUIRE(r);
  REQUIRE(r->gpus.size() == 3);
  CHECK(r->gpus[0].pci.empty());
  CHECK(r->gpus[1].pci.empty());
  CHECK(r->gpus[2].pci.empty()); // incomplete
  CHECK(any_warning_has(*r, "vulkaninfo line 13: too many GPUs"));
}

TEST_CASE("parse_vulkaninfo: a truncated output keeps what was read") {
  const std::string full = gpu_fixture("vulkaninfo-full-rtx2050+amd-igpu-windows.txt");
  const std::size_t cut = full.find("memoryHeaps[1]:");
  REQUIRE(cut != std::string::npos);
  const auto r = parse_vulkaninfo(full.substr(0, cut + 5));
  REQUIRE(r);
  REQUIRE(r->gpus.size() == 2); // GPU1 is known from the surface sections
  CHECK(r->gpus[0].total_bytes == 4156555264ULL);
  CHECK(r->gpus[1].name == "AMD Radeon(TM) Graphics");
  CHECK(r->gpus[1].total_bytes == 0);
}

TEST_CASE("parse_vulkaninfo: output without a device is bad_request") {
  for (const std::string& text :
       {std::string(), std::string("\n\n"), std::string("==========\nVULKANINFO\n==========\n"),
        std::string("ERROR: [Loader Message] Code 0 : vkCreateInstance: Found no drivers!\n"
                    "Cannot create Vulkan instance.\n"),
        std::string("\x01\x02\xff garbage = =\n", 16)}) {
    const auto r = parse_vulkaninfo(text);
    REQUIRE_FALSE(r);
    CHECK(r.error().kind == core::ErrorKind::bad_request);
  }
}

} // namespace ask::router
