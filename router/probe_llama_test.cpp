// parse_list_devices and parse_llama_version against recorded llama-server output (several
// machines and backends, and build b10587 itself).

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
using testkit::k_mib;

using config::GpuApi;
using config::GpuVendor;

ProbeResult devices(const std::string& name) {
  auto r = parse_list_devices(gpu_fixture(name));
  REQUIRE_MESSAGE(r, name);
  return *r;
}

} // namespace

TEST_CASE("parse_list_devices: CUDA, two different cards") {
  const ProbeResult r = devices("llama-list-devices-cuda-rtx3090+rtx3060.txt");
  CHECK(r.warnings.empty());
  REQUIRE(r.gpus.size() == 2);
  const ProbedGpu& a = r.gpus[0];
  CHECK(a.api == GpuApi::cuda);
  CHECK(a.index == 0);
  CHECK(a.device == "CUDA0");
  CHECK(a.name == "NVIDIA GeForce RTX 3090");
  CHECK(a.vendor == GpuVendor::nvidia);
  CHECK(a.total_bytes == 24117 * k_mib);
  CHECK(a.free_bytes == 6672 * k_mib);
  CHECK(a.source == "llama-server");
  CHECK(a.pci.empty());
  CHECK(r.gpus[1].device == "CUDA1");
  CHECK(r.gpus[1].name == "NVIDIA GeForce RTX 3060");
  CHECK(r.gpus[1].free_bytes == 9837 * k_mib);
}

TEST_CASE("parse_list_devices: host devices (BLAS) are skipped, Vulkan cards of two vendors") {
  const ProbeResult r = devices("llama-list-devices-blas+vulkan-intel-uhd-icl+mx250.txt");
  CHECK(r.warnings.empty());
  REQUIRE(r.gpus.size() == 2);
  CHECK(r.gpus[0].device == "Vulkan0");
  CHECK(r.gpus[0].name == "Intel(R) UHD Graphics (ICL GT1)");
  CHECK(r.gpus[0].vendor == GpuVendor::intel);
  CHECK(r.gpus[1].name == "NVIDIA GeForce MX250");
  CHECK(r.gpus[1].vendor == GpuVendor::nvidia);
  CHECK(r.gpus[1].total_bytes == 2294 * k_mib);
}

TEST_CASE("parse_list_devices: Metal's MTL0 and BLAS after it") {
  const ProbeResult r = devices("llama-list-devices-metal-m3max-mtl0+blas.txt");
  CHECK(r.warnings.empty());
  REQUIRE(r.gpus.size() == 1);
  CHECK(r.gpus[0].api == GpuApi::metal);
  CHECK(r.gpus[0].device == "MTL0");
  CHECK(r.gpus[0].vendor == GpuVendor::apple);
  CHECK(r.gpus[0].total_bytes == 53084 * k_mib);
  CHECK(r.gpus[0].free_bytes == 53083 * k_mib);
}

TEST_CASE("parse_list_devices: one iGPU through ROCm and Vulkan, a prompt line first") {
  const ProbeResult r = devices("llama-list-devices-rocm+vulkan-same-strix-halo-gpu-twice.txt");
  CHECK(r.warnings.empty());
  REQUIRE(r.gpus.size() == 2);
  CHECK(r.gpus[0].api == GpuApi::rocm);
  CHECK(r.gpus[0].name == "AMD Radeon 8060S Graphics");
  CHECK(r.gpus[0].free_bytes == 19195 * k_mib);
  CHECK(r.gpus[1].api == GpuApi::vulkan);
  CHECK(r.gpus[1].name == "AMD Radeon 8060S Graphics (RADV STRIX_HALO)");
  CHECK(r.gpus[1].total_bytes == 114163 * k_mib);
}

TEST_CASE("parse_list_devices: backend start-up lines before the list are ignored") {
  const ProbeResult rocm =
      devices("llama-list-devices-rocm-gfx1151-windows-with-ggml_cuda_init.txt");
  CHECK(rocm.warnings.empty());
  REQUIRE(rocm.gpus.size() == 1);
  CHECK(rocm.gpus[0].device == "ROCm0");
  CHECK(rocm.gpus[0].name == "AMD Radeon(TM) Graphics");
  const ProbeResult vk = devices("llama-list-devices-vulkan-rtx2060-freebsd.txt");
  CHECK(vk.warnings.empty());
  REQUIRE(vk.gpus.size() == 1);
  CHECK(vk.gpus[0].name == "NVIDIA GeForce RTX 2060");
  CHECK(vk.gpus[0].total_bytes == 6144 * k_mib);
}

TEST_CASE("parse_list_devices: a patched build's PCI suffix gives the card's address") {
  const ProbeResult r =
      devices("llama-list-devices-vulkan-2x-r9700+apu-patched-pci-suffix-warnings.txt");
  CHECK(r.warnings.empty());
  REQUIRE(r.gpus.size() == 3);
  CHECK(r.gpus[0].pci == "0000:03:00.0");
  CHECK(r.gpus[0].name == "AMD Radeon AI PRO R9700 (RADV GFX1201)");
  CHECK(r.gpus[0].free_bytes == 29059 * k_mib);
  CHECK(r.gpus[1].pci == "0000:07:00.0");
  CHECK(r.gpus[2].pci == "0000:13:00.0");
  CHECK(r.gpus[2].name == "AMD Ryzen 9 9950X 16-Core Processor (RADV RAPHAEL_MENDOCINO)");
}

TEST_CASE("parse_list_devices: the other recorded listings") {
  struct Case {
    const char* file;
    std::size_t count;
    const char* last_name;
    std::uint64_t last_total_mib;
    std::uint64_t last_free_mib;
  };
  for (const Case& c : {
           Case{"llama-list-devices-rocm-mi50-mi60.txt", 1, "AMD Instinct MI50/MI60", 32752, 32730},
           Case{"llama-list-devices-vulkan-intel-mac-pro5600m+uhd630+blas.txt", 2,
                "Intel(R) UHD Graphics 630", 65536, 1527},
           Case{"llama-list-devices-vulkan-rx7600+rx7900xt-small-first.txt", 2,
                "AMD Radeon RX 7900 XT (RADV NAVI31)", 20464, 20437},
           Case{"llama-list-devices-vulkan-rx7900xtx+radeon-igpu.txt", 2, "AMD Radeon(TM) Graphics",
                16209, 15398},
       }) {
    CAPTURE(c.file);
    const ProbeResult r = devices(c.file);
    CHECK(r.warnings.empty());
    REQUIRE(r.gpus.size() == c.count);
    CHECK(r.gpus.back().name == c.last_name);
    CHECK(r.gpus.back().total_bytes == c.last_total_mib * k_mib);
    CHECK(r.gpus.back().free_bytes == c.last_free_mib * k_mib);
    CHECK(r.gpus.back().index == static_cast<int>(c.count) - 1);
  }
}

TEST_CASE("parse_list_devices: b10587 on a CPU-only machine and with an RPC server") {
  // Recorded here from the b10587 CPU build: a list of no GPU is an answer, not a failure.
  const ProbeResult none = devices("llama-list-devices-cpu-only-none-b10587.txt");
  CHECK(none.gpus.empty());
  CHECK(none.warnings.empty());
  const ProbeResult rpc = devices("llama-list-devices-rpc-cpu-b10587.txt");
  CHECK(rpc.gpus.empty());
  REQUIRE(rpc.warnings.size() == 1);
  CHECK(rpc.warnings[0] == "llama-server --list-devices line 2: device 'RPC0' is of a backend "
                           "askd does not place on; ignored");
}

TEST_CASE("parse_list_devices: unreadable lines are skipped with a warning naming them") {
  const auto r = parse_list_devices("ggml_vulkan: Found 2 Vulkan devices:\n"
                                    "Available devices:\n"
                                    "  Vulkan0: A: weird (name) (100 MiB, 50 MiB free)\n"
                                    "  garbage line\n"
                                    "  Vulkan1: no memory group\n"
                                    "  Vulkan2: B (x MiB, 1 MiB free)\n"
                                    "  Vulkan: C (1 MiB, 1 MiB free)\n"
                                    "  CANN0: Ascend (1 MiB, 1 MiB free)\n"
                                    "  Vulkan0: again (1 MiB, 1 MiB free)\n"
                                    "  Vulkan3: huge (99999999999 MiB, 1 MiB free)\n"
                                    "  Vulkan4: free above total (10 MiB, 20 MiB free)\r\n");
  REQUIRE(r);
  REQUIRE(r->gpus.size() == 2);
  CHECK(r->gpus[0].name == "A: weird (name)"); // colons and parentheses in a description
  CHECK(r->gpus[0].total_bytes == 100 * k_mib);
  CHECK(r->gpus[1].device == "Vulkan4");
  CHECK(r->gpus[1].free_bytes == 10 * k_mib); // clamped to the total
  CHECK(any_warning_has(*r, "line 4: not a device line: 'garbage line'"));
  CHECK(any_warning_has(*r, "line 5: not a device line"));
  CHECK(any_warning_has(*r, "line 6: not a device line"));
  CHECK(any_warning_has(*r, "line 7: device 'Vulkan' has no device number"));
  CHECK(any_warning_has(*r, "line 8: device 'CANN0' is of a backend askd does not place on"));
  CHECK(any_warning_has(*r, "line 9: device 'Vulkan0' repeated"));
  CHECK(any_warning_has(*r, "line 10: device 'Vulkan3': implausible memory figures"));
  CHECK(r->warnings.size() == 7);
}

TEST_CASE("parse_list_devices: no list at all is bad_request") {
  for (const char* text :
       {"", "\n\n", "error: unknown argument: --list-devices\n",
        "  CUDA0: NVIDIA GeForce RTX 3090 (24117 MiB, 6672 MiB free)\n", "available devices:\n"}) {
    const auto r = parse_list_devices(text);
    REQUIRE_FALSE_MESSAGE(r, text);
    CHECK(r.error().kind == core::ErrorKind::bad_request);
    CHECK(r.error().message.starts_with("llama-server --list-devices: no \"Available devices:\""));
  }
}

namespace {

// `llama-server --rpc … --list-devices 2>&1` of b10587, tests/fixtures/llama-server/`name`.
RpcListing rpc_listing(const std::string& name) {
  std::ifstream in(std::filesystem::path(ASK_SOURCE_DIR) / "tests/fixtures/llama-server" / name,
                   std::ios::binary);
  REQUIRE_MESSAGE(in.good(), name);
  std::ostringstream text;
  text << in.rdbuf();
  auto r = parse_rpc_list_devices(text.str());
  REQUIRE_MESSAGE(r, name);
  return *r;
}

} // namespace

TEST_CASE("parse_rpc_list_devices: two servers, each device described by its endpoint") {
  const RpcListing two = rpc_listing("list-devices-rpc2.txt");
  CHECK(two.warnings.empty());
  CHECK(two.unreachable.empty());
  REQUIRE(two.devices.size() == 2);
  CHECK(two.devices[0].device == "RPC0");
  CHECK(two.devices[0].endpoint == "127.0.0.1:50252");
  CHECK(two.devices[0].total_bytes == 24105 * k_mib);
  CHECK(two.devices[0].free_bytes == 24105 * k_mib);
  CHECK(two.devices[1].device == "RPC1");
  CHECK(two.devices[1].endpoint == "127.0.0.1:50253");
}

TEST_CASE("parse_rpc_list_devices: a server that does not answer is named, not listed") {
  const RpcListing one = rpc_listing("list-devices-rpc-one-down.txt");
  CHECK(one.unreachable == std::vector<std::string>{"127.0.0.1:50299"});
  REQUIRE(one.devices.size() == 1);
  CHECK(one.devices[0].endpoint == "127.0.0.1:50252");
  const RpcListing none = rpc_listing("list-devices-rpc-down.txt");
  CHECK(none.devices.empty());
  CHECK(none.unreachable == std::vector<std::string>{"127.0.0.1:50299"});
  CHECK(none.warnings.empty());
}

TEST_CASE("parse_rpc_list_devices: the asking build's own devices are skipped") {
  const auto r =
      parse_rpc_list_devices("ggml_cuda_init: found 1 CUDA devices:\n"
                             "Available devices:\n"
                             "  CUDA0: NVIDIA GeForce RTX 3090 (24135 MiB, 23811 MiB free)\n"
                             "  RPC0: [fe80::1]:50052 (8176 MiB, 7000 MiB free)\n"
                             "  RPC1: [fe80::1]:50052 (8176 MiB, 9000 MiB free)\n");
  REQUIRE(r);
  CHECK(r->warnings.empty());
  REQUIRE(r->devices.size() == 2);
  CHECK(r->devices[0].endpoint == "[fe80::1]:50052");
  CHECK(r->devices[0].free_bytes == 7000 * k_mib);
  CHECK(r->devices[1].free_bytes == 8176 * k_mib); // never more than the total
}

TEST_CASE("parse_rpc_list_devices: malformed lines are skipped with a warning naming them") {
  const auto r = parse_rpc_list_devices("Available devices:\n"
                                        "  RPC0: 10.0.0.2:50052 (8176 MiB, lots free)\n"
                                        "  RPC: 10.0.0.2:50052 (8176 MiB, 8000 MiB free)\n"
                                        "  RPC1: (8176 MiB, 8000 MiB free)\n"
                                        "  RPC2: 10.0.0.2:50052 (99999999999 MiB, 1 MiB free)\n"
                                        "garbage\n"
                                        "  RPC3: 10.0.0.3:50052 (8176 MiB, 8000 MiB free)\n");
  REQUIRE(r);
  REQUIRE(r->devices.size() == 1);
  CHECK(r->devices[0].device == "RPC3");
  REQUIRE(r->warnings.size() == 5);
  CHECK(r->warnings[0] == "llama-server --rpc … --list-devices line 2: not a device line: "
                          "'RPC0: 10.0.0.2:50052 (8176 MiB, lots free)'");
  CHECK(r->warnings[1].ends_with("device 'RPC' has no device number; ignored"));
  CHECK(r->warnings[2].ends_with("not a device line: 'RPC1: (8176 MiB, 8000 MiB free)'"));
  CHECK(r->warnings[3].ends_with("device 'RPC2': implausible memory figures; ignored"));
  CHECK(r->warnings[4].ends_with("line 6: not a device line: 'garbage'"));
  for (const char* text :
       {"", "error: invalid argument: --rpc\n", "RPC0: h:1 (1 MiB, 1 MiB free)\n"}) {
    const auto bad = parse_rpc_list_devices(text);
    REQUIRE_FALSE_MESSAGE(bad, text);
    CHECK(bad.error().kind == core::ErrorKind::bad_request);
    CHECK(bad.error().message.starts_with("llama-server --rpc … --list-devices: no \"Available "
                                          "devices:\" line"));
  }
}

TEST_CASE("parse_llama_version: the shapes llama.cpp has printed") {
  SUBCASE("b10587 built here without git: build 0, commit unknown") {
    const auto v = parse_llama_version(gpu_fixture("llama-server-version-b10587-cpu-no-git.txt"));
    REQUIRE(v);
    CHECK(v->build == 0);
    CHECK(v->commit == "unknown");
    CHECK(v->version == "0.2.0-dev");
    CHECK(v->built_with == "GNU 12.2.0 for Linux x86_64");
  }
  SUBCASE("b10587 from its git checkout (tests/fixtures/README.md)") {
    const auto v = parse_llama_version("version: 0.2.0-dev (build 10587, commit 3f545becc)\n"
                                       "built with GNU 12.2.0 for Linux x86_64\n");
    REQUIRE(v);
    CHECK(v->build == 10587);
    CHECK(v->commit == "3f545becc");
    CHECK(v->version == "0.2.0-dev");
  }
  SUBCASE("the older shape, after a backend's start-up lines (b7747, Windows, Vulkan)") {
    const auto v = parse_llama_version(
        gpu_fixture("llama-init-vulkan-8060s-windows-amd-proprietary-version.txt"));
    REQUIRE(v);
    CHECK(v->build == 7747);
    CHECK(v->commit == "a04c2b06a");
    CHECK(v->version.empty());
    CHECK(v->built_with == "MSVC 19.44.35222.0 for x64");
  }
  SUBCASE("llm-sim's imitation, no built-with line") {
    const auto v = parse_llama_version("version: 10587 (3f545becc)\r\n");
    REQUIRE(v);
    CHECK(v->build == 10587);
    CHECK(v->built_with.empty());
  }
}

TEST_CASE("parse_llama_version: anything else is bad_request naming what was seen") {
  for (const char* text :
       {"", "llama-server: error: unknown argument --version\n", "version: \n", "version: 10587\n",
        "version: abc (3f545becc)\n", "version: 10587 (not hex!)\n", "version: 10587 (3f5)\n",
        "version: 1.2.3 (build x, commit 3f545becc)\n", "version: 1.2.3 (build 12, commit )\n",
        "version: 99999999999999999999999 (3f545becc)\n", "Version: 10587 (3f545becc)\n"}) {
    const auto v = parse_llama_version(text);
    REQUIRE_FALSE_MESSAGE(v, text);
    CHECK(v.error().kind == core::ErrorKind::bad_request);
    CHECK(v.error().message.starts_with("llama-server --version"));
  }
  const auto v = parse_llama_version("ggml_vulkan: Found 1 Vulkan devices:\nversion: 7747 x\n");
  REQUIRE_FALSE(v);
  CHECK(v.error().message == "llama-server --version line 2: unrecognised version "
                             "'version: 7747 x' (expected \"version: N (commit)\" or "
                             "\"version: V (build N, commit C)\")");
}

} // namespace ask::router
