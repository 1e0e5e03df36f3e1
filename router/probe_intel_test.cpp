// parse_xpu_smi against xpu-smi discovery -j: the documentation's example and a synthetic
// two-card listing with the memory fields.

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include <doctest/doctest.h>

#include "router/probe.h"
#include "router/testing.h"
#include "tests/support/temp_dir.h"

namespace ask::router {
namespace {

using testkit::any_warning_has;
using testkit::gpu_fixture;

} // namespace

TEST_CASE("parse_xpu_smi: the docs example (command line first, no memory field)") {
  const auto r = parse_xpu_smi(gpu_fixture("xpu-smi-discovery-json-docs-example.txt"));
  REQUIRE(r);
  REQUIRE(r->gpus.size() == 1);
  const ProbedGpu& g = r->gpus[0];
  CHECK(g.api == config::GpuApi::sycl);
  CHECK(g.vendor == config::GpuVendor::intel);
  CHECK(g.index == 0);
  CHECK(g.name == "Intel(R) Graphics [0x020a]");
  CHECK(g.pci == "0000:4d:00.0");
  CHECK(g.uuid == "00000000-0000-0000-0000-020a00008086");
  CHECK(g.total_bytes == 0);
  CHECK_FALSE(g.free_bytes);
  CHECK(g.source == "xpu-smi");
  // The list never carries the memory (probe() asks for it per device): no warning for that.
  CHECK(r->warnings.empty());
}

TEST_CASE("parse_xpu_smi: two Arc cards with memory sizes as strings") {
  const auto r = parse_xpu_smi(gpu_fixture("synthetic-xpu-smi-discovery-json-arc-a770+b580.txt"));
  REQUIRE(r);
  REQUIRE(r->gpus.size() == 2);
  CHECK(r->warnings.empty());
  CHECK(r->gpus[0].name == "Intel(R) Arc(TM) A770 Graphics");
  CHECK(r->gpus[0].total_bytes == 17079205888ULL);
  CHECK(r->gpus[0].free_bytes == 16225665024ULL);
  CHECK(r->gpus[1].index == 1);
  CHECK(r->gpus[1].pci == "0000:0a:00.0");
  CHECK(r->gpus[1].total_bytes == 12700352512ULL);
  CHECK_FALSE(r->gpus[1].free_bytes);
}

TEST_CASE("parse_xpu_smi: numbers, non-GPU devices, a single-device object") {
  SUBCASE("numeric memory and an NNP device") {
    const auto r = parse_xpu_smi(R"json({"device_list": [
      {"device_id": 3, "device_type": "GPU", "device_name": "Intel(R) Data Center GPU Max 1100",
       "memory_physical_size_byte": 51539607552, "memory_free_size_byte": 99999999999999},
      {"device_id": 4, "device_type": "NNP", "device_name": "Gaudi"}]})json");
    REQUIRE(r);
    REQUIRE(r->gpus.size() == 1);
    CHECK(r->gpus[0].index == 3);
    CHECK(r->gpus[0].total_bytes == 51539607552ULL);
    CHECK(r->gpus[0].free_bytes == 51539607552ULL); // clamped to the total
    CHECK(any_warning_has(*r, "xpu-smi line 4: device of type 'NNP' ignored"));
  }
  SUBCASE("discovery -d 0 -j prints one device's object") {
    const auto r = parse_xpu_smi(R"json({"device_id": 0, "device_name": "Intel(R) Arc(TM) B580",
      "pci_bdf_address": "0000:03:00.0", "memory_physical_size_byte": "12700352512"})json");
    REQUIRE(r);
    REQUIRE(r->gpus.size() == 1);
    CHECK(r->gpus[0].pci == "0000:03:00.0");
    CHECK(r->gpus[0].total_bytes == 12700352512ULL);
  }
  SUBCASE("a top-level array, ids missing: the ordinal") {
    const auto r = parse_xpu_smi(R"json([{"device_name": "A"}, {"device_name": "B"}])json");
    REQUIRE(r);
    REQUIRE(r->gpus.size() == 2);
    CHECK(r->gpus[1].index == 1);
    CHECK(r->gpus[1].name == "B");
  }
}

TEST_CASE("parse_xpu_smi: malformed entries are skipped with a warning") {
  const auto r = parse_xpu_smi(R"json({"device_list": [
    "not an object",
    {"device_id": -1, "device_name": "neg"},
    {"device_id": "x", "device_name": "bad"},
    {"device_id": 0, "device_name": "ok", "pci_bdf_address": "bogus",
     "memory_physical_size_byte": "-5"},
    {"device_id": 0, "device_name": "dup"}]})json");
  REQUIRE(r);
  REQUIRE(r->gpus.size() == 2);
  CHECK(r->gpus[0].name == "neg"); // a negative id is no id: the ordinal 1
  CHECK(r->gpus[0].index == 1);
  CHECK(r->gpus[1].name == "ok");
  CHECK(r->gpus[1].pci.empty());
  CHECK(r->gpus[1].total_bytes == 0);
  CHECK(any_warning_has(*r, "xpu-smi line 2: a device_list entry is not an object"));
  CHECK(any_warning_has(*r, "xpu-smi line 4: device_id 'x' is not an index"));
  CHECK(any_warning_has(*r, "pci_bdf_address 'bogus'"));
  CHECK(any_warning_has(*r, "xpu-smi line 7: device_id 0 repeated; skipped"));
}

TEST_CASE("parse_xpu_smi: output without a GPU is bad_request") {
  for (const char* text :
       {"", "xpu-smi discovery -j\n", "Error: Level Zero initialization failed\n", "{",
        "{\"device_list\": []}", "{\"device_list\": {}}", "{\"other\": 1}", "[]", "[1, 2, 3]",
        R"({"device_list": [{"device_type": "NNP"}]})"}) {
    const auto r = parse_xpu_smi(text);
    REQUIRE_FALSE_MESSAGE(r, text);
    CHECK(r.error().kind == core::ErrorKind::bad_request);
  }
  const auto r = parse_xpu_smi("xpu-smi discovery -j\n{\"device_list\": [}");
  REQUIRE_FALSE(r);
  CHECK(r.error().message.find("xpu-smi line 2: not JSON") != std::string::npos);
}

TEST_CASE("parse_xpu_smi_stats: the memory in use, in MiB, from device_level") {
  const auto r = parse_xpu_smi_stats(
      gpu_fixture("xpu-smi-stats-json-arc-device0-pasted-in-source-comment.json"));
  REQUIRE(r);
  CHECK(r->device == 0);
  CHECK(r->used_bytes == 240320512ULL); // 229.1875 MiB
  CHECK(r->warnings.empty());
  const auto rounded =
      parse_xpu_smi_stats("xpu-smi stats -d 3 -j\n{\"device_id\": 3, \"device_level\": ["
                          "{\"metrics_type\": \"XPUM_STATS_MEMORY_USED\", \"value\": 0.0000001}]}");
  REQUIRE(rounded);
  CHECK(rounded->device == 3);
  CHECK(rounded->used_bytes == 1ULL); // a fraction of a byte counts as a byte
}

TEST_CASE("parse_xpu_smi_stats: errors and output without the figure are bad_request") {
  const char* power_only = R"({"device_id": 0, "device_level": )"
                           R"([{"metrics_type": "XPUM_STATS_POWER", "value": 44.69}]})";
  for (const char* text : {"", "Error: device not found\n", "{", "[]", R"({"device_id": 0})",
                           R"({"device_id": 0, "device_level": {}})", power_only}) {
    const auto r = parse_xpu_smi_stats(text);
    REQUIRE_FALSE_MESSAGE(r, text);
    CHECK(r.error().kind == core::ErrorKind::bad_request);
    CHECK(r.error().message.starts_with("xpu-smi stats"));
  }
  const auto error = parse_xpu_smi_stats(R"({"error": "device not found", "errno": 3})");
  REQUIRE_FALSE(error);
  CHECK(error.error().message == "xpu-smi stats: device not found");
  const auto bad =
      parse_xpu_smi_stats("{\"device_level\": [\n"
                          "  {\"metrics_type\": \"XPUM_STATS_MEMORY_USED\", \"value\": \"x\"},\n"
                          "  {\"metrics_type\": \"XPUM_STATS_MEMORY_USED\", \"value\": -4}\n"
                          "]}");
  REQUIRE_FALSE(bad);
  CHECK(bad.error().message ==
        "xpu-smi stats: no XPUM_STATS_MEMORY_USED in \"device_level\" (xpu-smi stats line 2: "
        "XPUM_STATS_MEMORY_USED is not a number of MiB)");
}

TEST_CASE("read_intel_sysfs_memory: i915's lmem files, xe's tiles, nothing, garbage") {
  testing::TempDir dir;
  const std::filesystem::path i915 = dir.path() / "card0";
  std::filesystem::create_directories(i915 / "device");
  std::ofstream(i915 / "lmem_total_bytes") << "17179869184\n";
  std::ofstream(i915 / "lmem_avail_bytes") << "16000000000\n";
  const auto a = read_intel_sysfs_memory(i915);
  REQUIRE(a);
  CHECK(a->total_bytes == 17179869184ULL);
  CHECK(a->free_bytes == 16000000000ULL);
  CHECK(a->file == (i915 / "lmem_total_bytes").string());

  const std::filesystem::path xe = dir.path() / "card1";
  for (const char* tile : {"tile0", "tile1"}) {
    std::filesystem::create_directories(xe / "device" / tile);
    std::ofstream(xe / "device" / tile / "physical_vram_size_bytes") << "8589934592\n";
  }
  std::filesystem::create_directories(xe / "device" / "tiles"); // not a tile
  const auto b = read_intel_sysfs_memory(xe);
  REQUIRE(b);
  CHECK(b->total_bytes == 2 * 8589934592ULL);
  CHECK_FALSE(b->free_bytes);

  const std::filesystem::path igpu = dir.path() / "card2";
  std::filesystem::create_directories(igpu / "device");
  const auto c = read_intel_sysfs_memory(igpu);
  REQUIRE_FALSE(c);
  CHECK(c.error().kind == core::ErrorKind::not_found);

  const std::filesystem::path odd = dir.path() / "card3";
  std::filesystem::create_directories(odd / "device");
  std::ofstream(odd / "lmem_total_bytes") << "lots\n";
  const auto d = read_intel_sysfs_memory(odd);
  REQUIRE_FALSE(d);
  CHECK(d.error().kind == core::ErrorKind::bad_request);
  CHECK(d.error().message ==
        "sysfs: " + (odd / "lmem_total_bytes").string() + " holds 'lots', not a byte count");
}

} // namespace ask::router
