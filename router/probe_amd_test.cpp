// parse_rocm_smi against recorded rocm-smi --json dumps, and read_amdgpu_sysfs against
// sysfs-like folders made per test.

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

void write(const std::filesystem::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  REQUIRE(out.good());
  out << text;
}

} // namespace

TEST_CASE("parse_rocm_smi: four MI100 from rocm-smi -a --json (ROCm 6.0.2)") {
  const auto r = parse_rocm_smi(gpu_fixture("rocm-smi-all-json-4x-mi100-rocm6.0.2.json"));
  REQUIRE(r);
  REQUIRE(r->gpus.size() == 4);
  CHECK(r->warnings.empty());
  const ProbedGpu& g = r->gpus[1];
  CHECK(g.api == config::GpuApi::rocm);
  CHECK(g.vendor == config::GpuVendor::amd);
  CHECK(g.index == 1);
  CHECK(g.name == "Arcturus GL-XL [Instinct MI100]");
  CHECK(g.pci == "0000:a3:00.0"); // printed upper-case
  CHECK(g.uuid == "0x4edfb117a17a07d");
  CHECK(g.total_bytes == 34342961152ULL);
  CHECK(g.free_bytes == 34342961152ULL - 6750208ULL);
  CHECK(g.source == "rocm-smi");
  CHECK(r->gpus[3].pci == "0000:e3:00.0");
  CHECK(r->gpus[3].index == 3);
}

TEST_CASE("parse_rocm_smi: MI50 on ROCm 4 (two-space indent, no final newline)") {
  const auto r = parse_rocm_smi(gpu_fixture("rocm-smi-all-json-mi50-32gb-rocm4.x.json"));
  REQUIRE(r);
  REQUIRE(r->gpus.size() == 1);
  CHECK(r->gpus[0].name == "Radeon Instinct MI50 32GB");
  CHECK(r->gpus[0].pci == "0000:63:00.0");
  CHECK(r->gpus[0].free_bytes == 34342961152ULL - 10850304ULL);
}

TEST_CASE("parse_rocm_smi: hex 'Card series' and 'Unique ID' N/A (RX 6700 XT, ROCm 4.3)") {
  const auto r = parse_rocm_smi(gpu_fixture("rocm-smi-all-json-rx6700xt-rocm4.3.0.json"));
  REQUIRE(r);
  REQUIRE(r->gpus.size() == 1);
  CHECK(r->gpus[0].name == "AMD GPU (0x73df)"); // the "GPU ID"; series and model were hex
  CHECK(r->gpus[0].uuid.empty());
  CHECK(r->gpus[0].total_bytes == 12868124672ULL);
  CHECK(r->gpus[0].free_bytes == 12868124672ULL - 1622728704ULL);
  CHECK(r->gpus[0].pci == "0000:07:00.0");
}

TEST_CASE("parse_rocm_smi: cards without VRAM figures are kept with total 0 and a warning") {
  const auto r = parse_rocm_smi(gpu_fixture("rocm-smi-json-showmemuse-2x-rx6800.json"));
  REQUIRE(r);
  REQUIRE(r->gpus.size() == 2);
  CHECK(r->gpus[1].index == 1);
  CHECK(r->gpus[1].total_bytes == 0);
  CHECK_FALSE(r->gpus[1].free_bytes);
  CHECK(r->gpus[1].name == "AMD GPU");
  REQUIRE(r->warnings.size() == 2);
  CHECK(r->warnings[0] == "rocm-smi line 2: card0: no readable \"VRAM Total Memory (B)\"; "
                          "memory unknown");
  CHECK(any_warning_has(*r, "rocm-smi line 6: card1"));
}

TEST_CASE("parse_rocm_smi: the seed workstation's four R9700 (Device Name, Card Series N/A)") {
  const auto r = parse_rocm_smi(gpu_fixture("synthetic-seed-rocm-smi-json-4x-r9700.json"));
  REQUIRE(r);
  REQUIRE(r->gpus.size() == 4);
  CHECK(r->warnings.empty());
  CHECK(r->gpus[0].name == "AMD Radeon AI PRO R9700");
  CHECK(r->gpus[0].total_bytes == 32624ULL << 20);
  CHECK(r->gpus[0].free_bytes == 34208743424ULL - 3149398016ULL);
  CHECK(r->gpus[0].pci == "0000:03:00.0");
  CHECK(r->gpus[3].pci == "0000:c3:00.0");
  CHECK(r->gpus[3].uuid == "0xa2b4c6d8e0f21304");
}

TEST_CASE("parse_rocm_smi: warning lines before the JSON are skipped - lines still count") {
  const std::string text =
      "WARNING: AMD GPU device(s) is/are in a low-power state. Check power control/runtime_status\n"
      "\n"
      "{\"card0\": {\"Card Series\": \"Radeon RX 7900 XTX\", \"VRAM Total Memory (B)\": "
      "\"25753026560\", \"VRAM Total Used Memory (B)\": \"1073741824\"},\n"
      " \"card1\": {\"PCI Bus\": \"bogus\"}}\n";
  const auto r = parse_rocm_smi(text);
  REQUIRE(r);
  REQUIRE(r->gpus.size() == 2);
  CHECK(r->gpus[0].name == "Radeon RX 7900 XTX");
  CHECK(r->gpus[0].free_bytes == 25753026560ULL - 1073741824ULL);
  CHECK(r->gpus[1].pci.empty());
  CHECK(any_warning_has(*r, "rocm-smi line 4: \"PCI Bus\" 'bogus'"));
  CHECK(any_warning_has(*r, "rocm-smi line 4: card1: no readable"));
}

TEST_CASE("parse_rocm_smi: index is N of cardN - odd members are skipped with a warning") {
  const auto r = parse_rocm_smi(R"json({"card2": {"VRAM Total Memory (B)": 1024},
    "cardX": {}, "card1": "not an object", "card3": {"VRAM Total Memory (B)": "-1"},
    "card99999": {}, "system": {"Driver version": "6.8"}})json");
  REQUIRE(r);
  REQUIRE(r->gpus.size() == 2);
  CHECK(r->gpus[0].index == 2);
  CHECK(r->gpus[0].total_bytes == 1024); // numbers accepted as well as strings
  CHECK(r->gpus[1].index == 3);
  CHECK(r->gpus[1].total_bytes == 0);
  CHECK(any_warning_has(*r, "ignored member 'cardX'"));
  CHECK(any_warning_has(*r, "ignored member 'card1'"));
  CHECK(any_warning_has(*r, "ignored member 'card99999'"));
  CHECK(any_warning_has(*r, "card3: no readable \"VRAM Total Memory (B)\" ('-1')"));
}

TEST_CASE("parse_rocm_smi: malformed output is bad_request") {
  for (const char* text : {"", "   \n", "ERROR: No AMD GPUs specified", "{\"card0\": {",
                           "{\"system\": {}}", "[1, 2]", "{}", "{\"card0\": {}} trailing",
                           // NOLINTNEXTLINE(bugprone-suspicious-missing-comma): one literal
                           "{\"card0\": [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["
                           "[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]"
                           "]]]]]]]]]]]]]]]]]]]]]]]]]}"}) {
    const auto r = parse_rocm_smi(text);
    REQUIRE_FALSE_MESSAGE(r, text);
    CHECK(r.error().kind == core::ErrorKind::bad_request);
  }
  const auto r = parse_rocm_smi("note\n{\"card0\": {,}}");
  REQUIRE_FALSE(r);
  CHECK(r.error().message.find("rocm-smi line 2: not JSON") != std::string::npos);
}

TEST_CASE("read_amdgpu_sysfs: reads VRAM, PCI slot and product name") {
  testing::TempDir dir("probe_sysfs");
  write(dir.path() / "mem_info_vram_total", "17095983104\n"); // RX 9060 XT, as posted
  write(dir.path() / "mem_info_vram_used", "1095983104\n");
  write(dir.path() / "uevent", "DRIVER=amdgpu\nPCI_CLASS=30000\nPCI_ID=1002:7590\n"
                               "PCI_SUBSYS_ID=1DA2:E491\nPCI_SLOT_NAME=0000:03:00.0\n"
                               "MODALIAS=pci:v00001002d00007590sv00001DA2sd0000E491bc03sc00i00\n");
  write(dir.path() / "product_name", "AMD Radeon RX 9060 XT\n");
  const auto g = read_amdgpu_sysfs(dir.path(), 2);
  REQUIRE(g);
  CHECK(g->index == 2);
  CHECK(g->api == config::GpuApi::rocm);
  CHECK(g->vendor == config::GpuVendor::amd);
  CHECK(g->source == "sysfs");
  CHECK(g->total_bytes == 17095983104ULL);
  CHECK(g->free_bytes == 16000000000ULL);
  CHECK(g->pci == "0000:03:00.0");
  CHECK(g->name == "AMD Radeon RX 9060 XT");
}

TEST_CASE("read_amdgpu_sysfs: optional files missing or garbage") {
  testing::TempDir dir("probe_sysfs");
  write(dir.path() / "mem_info_vram_total", "51539607552"); // 890M 48 GB carve-out, no newline
  SUBCASE("only the total") {
    const auto g = read_amdgpu_sysfs(dir.path(), 0);
    REQUIRE(g);
    CHECK(g->total_bytes == 51539607552ULL);
    CHECK_FALSE(g->free_bytes);
    CHECK(g->pci.empty());
    CHECK(g->name == "AMD GPU");
  }
  SUBCASE("garbage used, uevent without slot, empty product name") {
    write(dir.path() / "mem_info_vram_used", "lots\n");
    write(dir.path() / "uevent", "PCI_ID=1002:150E\nPCI_SLOT_NAME=not-a-slot\n");
    write(dir.path() / "product_name", "\n");
    const auto g = read_amdgpu_sysfs(dir.path(), 0);
    REQUIRE(g);
    CHECK_FALSE(g->free_bytes);
    CHECK(g->pci.empty());
    CHECK(g->name == "AMD GPU (1002:150E)");
  }
  SUBCASE("used above total clamps free to 0") {
    write(dir.path() / "mem_info_vram_used", "99999999999\n");
    const auto g = read_amdgpu_sysfs(dir.path(), 0);
    REQUIRE(g);
    CHECK(g->free_bytes == 0);
  }
}

TEST_CASE("read_amdgpu_sysfs: no readable total is an error") {
  testing::TempDir dir("probe_sysfs");
  SUBCASE("missing folder or file") {
    const auto none = read_amdgpu_sysfs(dir.path() / "nope", 0);
    REQUIRE_FALSE(none);
    CHECK(none.error().kind == core::ErrorKind::not_found);
    const auto missing = read_amdgpu_sysfs(dir.path(), 0);
    REQUIRE_FALSE(missing);
    CHECK(missing.error().message.find("mem_info_vram_total") != std::string::npos);
  }
  SUBCASE("the total is a folder") {
    std::filesystem::create_directory(dir.path() / "mem_info_vram_total");
    CHECK_FALSE(read_amdgpu_sysfs(dir.path(), 0));
  }
  SUBCASE("garbage, negative, fractional, huge") {
    for (const char* text : {"", "garbage\n", "-1\n", "1.5e10\n", "184467440737095516160\n",
                             "18446744073709551615\n", "0x400000000\n"}) {
      write(dir.path() / "mem_info_vram_total", text);
      const auto r = read_amdgpu_sysfs(dir.path(), 0);
      REQUIRE_FALSE_MESSAGE(r, text);
      CHECK(r.error().kind == core::ErrorKind::bad_request);
    }
  }
}

} // namespace ask::router
