// parse_amd_smi against recorded `amd-smi static --json` / `amd-smi metric --json` output in
// both shapes amd-smi has printed (a top-level list; {"gpu_data": [...]}), the plain-number
// values of ROCm 6.0, and malformed input.

#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

#include <doctest/doctest.h>

#include "router/probe.h"
#include "router/testing.h"

namespace ask::router {
namespace {

using testkit::any_warning_has;
using testkit::gpu_fixture;
using testkit::k_mib;

const std::string k_static_list = "amd-smi-static-json-rx6600-list-value-unit.json";
const std::string k_metric_list = "amd-smi-metric-json-rx6600-list-value-unit.json";

} // namespace

TEST_CASE("parse_amd_smi: static and metric of one RX 6600 (list form, after a prompt line)") {
  const auto r = parse_amd_smi(gpu_fixture(k_static_list), gpu_fixture(k_metric_list));
  REQUIRE(r);
  CHECK(r->warnings.empty());
  REQUIRE(r->gpus.size() == 1);
  const ProbedGpu& g = r->gpus[0];
  CHECK(g.api == config::GpuApi::rocm);
  CHECK(g.vendor == config::GpuVendor::amd);
  CHECK(g.source == "amd-smi");
  CHECK(g.index == 0);
  CHECK(g.name == "Navi 23 [Radeon RX 6600/6600 XT"); // as amd-smi cut it
  CHECK(g.pci == "0000:0b:00.0");
  CHECK(g.total_bytes == 8176 * k_mib); // amd-smi's "MB" are MiB
  CHECK(g.free_bytes == 7974 * k_mib);
}

TEST_CASE("parse_amd_smi: either half alone") {
  const auto only_static = parse_amd_smi(gpu_fixture(k_static_list), "");
  REQUIRE(only_static);
  REQUIRE(only_static->gpus.size() == 1);
  CHECK(only_static->gpus[0].total_bytes == 8176 * k_mib);
  CHECK_FALSE(only_static->gpus[0].free_bytes);
  const auto only_metric = parse_amd_smi("", gpu_fixture(k_metric_list));
  REQUIRE(only_metric);
  REQUIRE(only_metric->gpus.size() == 1);
  CHECK(only_metric->gpus[0].name == "AMD GPU");
  CHECK(only_metric->gpus[0].pci.empty());
  CHECK(only_metric->gpus[0].total_bytes == 8176 * k_mib);
  CHECK(only_metric->gpus[0].free_bytes == 7974 * k_mib);
}

TEST_CASE("parse_amd_smi: the gpu_data shape of later versions") {
  SUBCASE("static: an MI210 whose bus section has no bdf") {
    const auto r = parse_amd_smi(gpu_fixture("amd-smi-static-json-mi210-gpu_data.json"), "");
    REQUIRE(r);
    CHECK(r->warnings.empty());
    REQUIRE(r->gpus.size() == 1);
    CHECK(r->gpus[0].name == "AMD Instinct MI210");
    CHECK(r->gpus[0].pci.empty());
    CHECK(r->gpus[0].total_bytes == 65520 * k_mib);
  }
  SUBCASE("metric: two 32 GB cards, one busy") {
    const auto r =
        parse_amd_smi("", gpu_fixture("amd-smi-metric-json-2x-rdna4-32gb-gpu_data.json"));
    REQUIRE(r);
    CHECK(r->warnings.empty());
    REQUIRE(r->gpus.size() == 2);
    CHECK(r->gpus[0].index == 0);
    CHECK(r->gpus[0].total_bytes == 30576 * k_mib);
    CHECK(r->gpus[0].free_bytes == 10126 * k_mib);
    CHECK(r->gpus[1].index == 1);
    CHECK(r->gpus[1].total_bytes == 32624 * k_mib);
    CHECK(r->gpus[1].free_bytes == 32567 * k_mib);
  }
  SUBCASE("a list-form static with a gpu_data metric") {
    const auto r = parse_amd_smi(gpu_fixture(k_static_list),
                                 gpu_fixture("amd-smi-metric-json-2x-rdna4-32gb-gpu_data.json"));
    REQUIRE(r);
    REQUIRE(r->gpus.size() == 2);
    CHECK(r->gpus[0].pci == "0000:0b:00.0");        // matched by the "gpu" number
    CHECK(r->gpus[0].total_bytes == 30576 * k_mib); // metric's live figure wins
    CHECK(r->gpus[1].name == "AMD GPU");
  }
}

TEST_CASE("parse_amd_smi: ROCm 6.0's plain numbers and vram_size_mb") {
  // The shape amd-smi 6.0.2 writes (its amdsmi_commands.py at tag rocm-6.0.2: no units, the
  // VRAM size under "vram_size_mb", mem_usage figures in MB); not a recording.
  const auto r = parse_amd_smi(R"([{"gpu": 0, "asic": {"market_name": "AMD Radeon RX 7900 XTX"},
      "bus": {"bdf": "0000:03:00.0"},
      "vram": {"vram_type": "GDDR6", "vram_vendor": "SAMSUNG", "vram_size_mb": 24560}}])",
                               R"([{"gpu": 0, "mem_usage": {"total_vram": 24560,
      "used_vram": 1024, "free_vram": 23536, "total_gtt": "N/A"}}])");
  REQUIRE(r);
  CHECK(r->warnings.empty());
  REQUIRE(r->gpus.size() == 1);
  CHECK(r->gpus[0].name == "AMD Radeon RX 7900 XTX");
  CHECK(r->gpus[0].total_bytes == 24560 * k_mib);
  CHECK(r->gpus[0].free_bytes == 23536 * k_mib);
}

TEST_CASE("parse_amd_smi: free from used when free is missing - units - N/A") {
  const auto r = parse_amd_smi(
      R"({"gpu_data": [{"gpu": 2, "asic": {"market_name": "N/A", "target_graphics_version": "gfx942"},
                        "board": {"product_name": "N/A"}, "bus": {"bdf": "N/A"},
                        "vram": {"size": {"value": 192, "unit": "GB"}}},
                       {"gpu": 3, "asic": {"market_name": "N/A"},
                        "board": {"product_name": "AMD Instinct MI300X OAM"},
                        "vram": {"size": "N/A"}}]})",
      R"({"gpu_data": [{"gpu": 2, "mem_usage": {"total_vram": {"value": "N/A", "unit": "MB"},
                        "used_vram": {"value": 1048576, "unit": "KB"}}}]})");
  REQUIRE(r);
  REQUIRE(r->gpus.size() == 2);
  CHECK(r->gpus[0].index == 2);
  CHECK(r->gpus[0].name == "AMD GPU (gfx942)");
  CHECK(r->gpus[0].total_bytes == 192 * 1024 * k_mib);
  CHECK(r->gpus[0].free_bytes == 191 * 1024 * k_mib); // total − 1 GiB used
  CHECK(r->gpus[1].name == "AMD Instinct MI300X OAM");
  CHECK(r->gpus[1].total_bytes == 0);
  REQUIRE(r->warnings.size() == 1);
  CHECK(r->warnings[0] == "amd-smi: GPU 3: no readable VRAM size; memory unknown");
}

TEST_CASE("parse_amd_smi: malformed entries are skipped with a warning naming the line") {
  const auto r = parse_amd_smi(R"(WARNING: User is missing the render group
[
  "not an object",
  {"asic": {"market_name": "no number"}},
  {"gpu": -1},
  {"gpu": 1.5},
  {"gpu": 0, "asic": {"market_name": "ok"}, "bus": {"bdf": "bogus"},
   "vram": {"size": {"value": 16, "unit": "furlongs"}}},
  {"gpu": 0, "asic": {"market_name": "again"}},
  {"gpu": 1, "vram": {"size": {"value": 99999999999999, "unit": "GB"}}},
  {"gpu": 2, "vram": {"size": {"value": -3, "unit": "MB"}}}
])",
                               "{\"gpu_data\": [{\"gpu\": 0, \"mem_usage\": \"N/A\"}]}");
  REQUIRE(r);
  REQUIRE(r->gpus.size() == 3);
  CHECK(r->gpus[0].name == "ok");
  CHECK(r->gpus[0].pci.empty());
  CHECK(r->gpus[0].total_bytes == 0);
  CHECK_FALSE(r->gpus[0].free_bytes);
  CHECK(any_warning_has(*r, "amd-smi static line 3: an entry is not an object; skipped"));
  CHECK(any_warning_has(*r, "amd-smi static line 4: an entry without a GPU number"));
  CHECK(any_warning_has(*r, "amd-smi static line 5: an entry without a GPU number"));
  CHECK(any_warning_has(*r, "amd-smi static line 6: an entry without a GPU number"));
  CHECK(any_warning_has(*r, "amd-smi static line 7: bus.bdf 'bogus' is not a PCI address"));
  CHECK(any_warning_has(*r, "amd-smi static line 7: vram.size is not a memory figure (unit "
                            "'furlongs'); ignored"));
  CHECK(any_warning_has(*r, "amd-smi static line 9: GPU 0 repeated; skipped"));
  CHECK(any_warning_has(*r, "amd-smi static line 10: vram.size is implausibly large; ignored"));
  CHECK(any_warning_has(*r, "amd-smi static line 11: vram.size is not a memory figure"));
  CHECK(any_warning_has(*r, "amd-smi: GPU 0: no readable VRAM size; memory unknown"));
}

TEST_CASE("parse_amd_smi: output with no GPU is bad_request, naming both halves") {
  for (const auto& [stat, metric] :
       std::vector<std::pair<std::string, std::string>>{{"", ""},
                                                        {"[]", "[]"},
                                                        {"{\"gpu_data\": []}", ""},
                                                        {"{\"other\": 1}", "not json at all"},
                                                        {"[1, 2]", "{"},
                                                        {"ERROR: amdgpu driver not loaded", ""}}) {
    CAPTURE(stat);
    const auto r = parse_amd_smi(stat, metric);
    REQUIRE_FALSE(r);
    CHECK(r.error().kind == core::ErrorKind::bad_request);
    CHECK(r.error().message.starts_with("amd-smi: no GPU in the output"));
  }
  const auto r = parse_amd_smi("{\"other\": 1}", "x\n[\n  {\"gpu\": 0,]");
  REQUIRE_FALSE(r);
  CHECK(r.error().message.find("amd-smi static: the JSON is neither a list of GPUs nor "
                               "{\"gpu_data\": [...]}") != std::string::npos);
  CHECK(r.error().message.find("amd-smi metric line 3: not JSON") != std::string::npos);
}

} // namespace ask::router
