// parse_xpu_smi against xpu-smi discovery -j: the documentation's example and a synthetic
// two-card listing with the memory fields.

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include <doctest/doctest.h>

#include "router/probe.h"

namespace ask::router {
namespace {

std::string fixture(const std::string& name) {
  std::ifstream in(std::filesystem::path(ASK_SOURCE_DIR) / "tests/fixtures/gpu" / name,
                   std::ios::binary);
  REQUIRE_MESSAGE(in.good(), name);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

bool any_warning_has(const ProbeResult& result, const std::string& part) {
  for (const std::string& w : result.warnings) {
    if (w.find(part) != std::string::npos) {
      return true;
    }
  }
  return false;
}

} // namespace

TEST_CASE("parse_xpu_smi: the docs example (command line first, no memory field)") {
  const auto r = parse_xpu_smi(fixture("xpu-smi-discovery-json-docs-example.txt"));
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
  REQUIRE(r->warnings.size() == 1);
  CHECK(r->warnings[0] ==
        "xpu-smi line 4: device 0: no readable memory_physical_size_byte; memory unknown");
}

TEST_CASE("parse_xpu_smi: two Arc cards with memory sizes as strings") {
  const auto r = parse_xpu_smi(fixture("synthetic-xpu-smi-discovery-json-arc-a770+b580.txt"));
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
        "{\"device_list\": [{\"device_type\": \"NNP\"}]}"}) {
    const auto r = parse_xpu_smi(text);
    REQUIRE_FALSE_MESSAGE(r, text);
    CHECK(r.error().kind == core::ErrorKind::bad_request);
  }
  const auto r = parse_xpu_smi("xpu-smi discovery -j\n{\"device_list\": [}");
  REQUIRE_FALSE(r);
  CHECK(r.error().message.find("xpu-smi line 2: not JSON") != std::string::npos);
}

} // namespace ask::router
