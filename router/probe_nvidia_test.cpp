// parse_nvidia_smi and normalize_pci against recorded nvidia-smi outputs
// (tests/fixtures/gpu/README.md says where each came from).

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

} // namespace

TEST_CASE("normalize_pci: accepts the spellings tools print") {
  CHECK(normalize_pci("00000000:01:00.0") == "0000:01:00.0");
  CHECK(normalize_pci("0000:01:00.0") == "0000:01:00.0");
  CHECK(normalize_pci("01:00.0") == "0000:01:00.0");
  CHECK(normalize_pci(" 0000:01:00.0 \n") == "0000:01:00.0");
  CHECK(normalize_pci("0000:A3:00.0") == "0000:a3:00.0");
  CHECK(normalize_pci("00000000:0B:1F.7") == "0000:0b:1f.7");
  CHECK(normalize_pci("0000000F:01:00.0") == "000f:01:00.0");
  CHECK(normalize_pci("10000:e1:00.0") == "10000:e1:00.0"); // Intel VMD domain
}

TEST_CASE("normalize_pci: refuses what is not a PCI address") {
  for (const char* text : {"", "N/A", "[N/A]", "0000:01:00", "0000:01:20.0", "0000:01:00.8",
                           "0000:001:00.0", "0000:01:00.0.0", "zz:00.0", "123456789:01:00.0",
                           ":01:00.0", "0000::00.0", "GPU-3f6c2a9e", "-1:00.0"}) {
    CHECK_MESSAGE(normalize_pci(text).empty(), text);
  }
}

TEST_CASE("parse_nvidia_smi: reads two RTX 3090 from noheader,nounits rows") {
  const auto r = parse_nvidia_smi(gpu_fixture("synthetic-nvidia-smi-askd-query-2x-rtx3090.txt"));
  REQUIRE(r);
  REQUIRE(r->gpus.size() == 2);
  CHECK(r->warnings.empty());
  const ProbedGpu& a = r->gpus[0];
  CHECK(a.api == config::GpuApi::cuda);
  CHECK(a.index == 0);
  CHECK(a.name == "NVIDIA GeForce RTX 3090");
  CHECK(a.vendor == config::GpuVendor::nvidia);
  CHECK(a.pci == "0000:01:00.0");
  CHECK(a.uuid == "GPU-3f6c2a9e-8b1d-4e57-a0c4-1d2e3f4a5b6c");
  CHECK(a.total_bytes == 24576 * k_mib);
  CHECK(a.free_bytes == 24263 * k_mib);
  CHECK_FALSE(a.unified);
  CHECK_FALSE(a.cpu);
  CHECK(a.source == "nvidia-smi");
  CHECK(r->gpus[1].index == 1);
  CHECK(r->gpus[1].pci == "0000:03:00.0");
  CHECK(r->gpus[1].free_bytes == 6225 * k_mib);
}

TEST_CASE("parse_nvidia_smi: the seed workstation's RTX 3090 has an upper-case bus id") {
  const auto r =
      parse_nvidia_smi(gpu_fixture("synthetic-seed-nvidia-smi-askd-query-1x-rtx3090.txt"));
  REQUIRE(r);
  REQUIRE(r->gpus.size() == 1);
  CHECK(r->gpus[0].pci == "0000:0b:00.0");
  CHECK(r->gpus[0].uuid == "GPU-1b2c3d4e-5f60-4a7b-8c9d-0e1f2a3b4c5d");
}

TEST_CASE("parse_nvidia_smi: GB10 unified memory prints [N/A]: unified, total 0") {
  const auto r = parse_nvidia_smi(gpu_fixture("synthetic-nvidia-smi-askd-query-gb10.txt"));
  REQUIRE(r);
  REQUIRE(r->gpus.size() == 1);
  CHECK(r->gpus[0].unified);
  CHECK(r->gpus[0].total_bytes == 0);
  CHECK_FALSE(r->gpus[0].free_bytes);
  CHECK(r->gpus[0].pci == "000f:01:00.0");
  CHECK(r->gpus[0].name == "NVIDIA GB10");
}

TEST_CASE("parse_nvidia_smi: the recorded GB10 row reads as unified under its own header") {
  // The recording is noheader (memory.used,memory.total,utilization.memory); with the header
  // its query would have printed, the row is read by name.
  const auto r =
      parse_nvidia_smi("memory.used [MiB], memory.total [MiB], utilization.memory [%]\n" +
                       gpu_fixture("nvidia-smi-csv-gb10-unified-memory-na.txt"));
  REQUIRE(r);
  REQUIRE(r->gpus.size() == 1);
  CHECK(r->gpus[0].unified);
  CHECK(r->gpus[0].total_bytes == 0);
  CHECK(r->gpus[0].index == 0);
  CHECK(r->gpus[0].name == "NVIDIA GPU");
  // Without a header the three fields do not fit askd's seven columns.
  const auto bare = parse_nvidia_smi(gpu_fixture("nvidia-smi-csv-gb10-unified-memory-na.txt"));
  REQUIRE_FALSE(bare);
  CHECK(bare.error().kind == core::ErrorKind::bad_request);
  CHECK(bare.error().message.find("line 1") != std::string::npos);
}

TEST_CASE("parse_nvidia_smi: format=csv header with units in values (A10G)") {
  const auto r = parse_nvidia_smi(gpu_fixture("nvidia-smi-csv-1x-a10g.txt"));
  REQUIRE(r);
  REQUIRE(r->gpus.size() == 1);
  CHECK(r->gpus[0].name == "NVIDIA A10G");
  CHECK(r->gpus[0].total_bytes == 23028 * k_mib);
  CHECK(r->gpus[0].free_bytes == 215 * k_mib);
  CHECK(r->gpus[0].pci.empty());
  CHECK(r->gpus[0].uuid.empty());
}

TEST_CASE("parse_nvidia_smi: two RTX 5090 keep their index column") {
  const auto r = parse_nvidia_smi(gpu_fixture("nvidia-smi-csv-2x-rtx5090.txt"));
  REQUIRE(r);
  REQUIRE(r->gpus.size() == 2);
  CHECK(r->gpus[1].index == 1);
  CHECK(r->gpus[1].name == "NVIDIA GeForce RTX 5090");
  CHECK(r->gpus[1].total_bytes == 32607 * k_mib);
  CHECK(r->gpus[1].free_bytes == 30010 * k_mib);
}

TEST_CASE("parse_nvidia_smi: extra header columns (driver_version) are ignored") {
  const auto r = parse_nvidia_smi(gpu_fixture("nvidia-smi-csv-driver-gtx1050ti.txt"));
  REQUIRE(r);
  REQUIRE(r->gpus.size() == 1);
  CHECK(r->gpus[0].name == "NVIDIA GeForce GTX 1050 Ti");
  CHECK(r->gpus[0].total_bytes == 4096 * k_mib);
  CHECK(r->gpus[0].free_bytes == 4034 * k_mib);
}

TEST_CASE("parse_nvidia_smi: the compute-apps table after a blank line is not read as GPUs") {
  const auto r = parse_nvidia_smi(gpu_fixture("nvidia-smi-csv-1x-l40s-with-compute-apps.txt"));
  REQUIRE(r);
  REQUIRE(r->gpus.size() == 1);
  CHECK(r->gpus[0].name == "NVIDIA L40S");
  CHECK(r->gpus[0].free_bytes == 36346 * k_mib);
  CHECK(any_warning_has(*r, "nvidia-smi line 4: not a --query-gpu table"));
}

TEST_CASE("parse_nvidia_smi: no memory.free column: free = total - used (H200 vGPU)") {
  const auto r = parse_nvidia_smi(gpu_fixture("nvidia-smi-csv-uuid-4x-h200-141c-vgpu.txt"));
  REQUIRE(r);
  REQUIRE(r->gpus.size() == 4);
  CHECK(r->gpus[2].uuid == "GPU-7eb48ff1-3af1-11b3-9b3a-93ee06a0ff76");
  CHECK(r->gpus[2].name == "NVIDIA H200-141C");
  CHECK(r->gpus[2].total_bytes == 144384 * k_mib);
  CHECK(r->gpus[2].free_bytes == (144384 - 137255) * k_mib);
}

TEST_CASE("parse_nvidia_smi: nounits header with [N/A] fan and no index uses the row ordinal") {
  const auto r = parse_nvidia_smi(gpu_fixture("nvidia-smi-csv-nounits-tesla-p100.csv"));
  REQUIRE(r);
  REQUIRE(r->gpus.size() == 1);
  CHECK(r->gpus[0].index == 0);
  CHECK(r->gpus[0].name == "Tesla P100-PCIE-16GB");
  CHECK(r->gpus[0].uuid == "GPU-ef1b2c9b-38d8-2090-2bd1-f567a3eb42a6");
  CHECK(r->gpus[0].total_bytes == 0); // not queried
  CHECK(r->gpus[0].free_bytes == 16280 * k_mib);
  CHECK_FALSE(r->gpus[0].unified);
}

TEST_CASE("parse_nvidia_smi: a lost GPU's stderr line becomes a warning, the rest is read") {
  const auto r =
      parse_nvidia_smi("index, pci.bus_id, name\n" +
                       gpu_fixture("nvidia-smi-csv-noheader-8x-rtx3080-one-gpu-lost.txt"));
  REQUIRE(r);
  REQUIRE(r->gpus.size() == 7);
  CHECK(r->gpus[3].index == 4);
  CHECK(r->gpus[3].pci == "0000:05:00.0");
  CHECK(r->gpus[6].pci == "0000:08:00.0");
  CHECK(any_warning_has(*r, "nvidia-smi line 2: expected 3 fields, got 1: 'Unable to determine"));
  CHECK(any_warning_has(*r, "nvidia-smi line 6:"));
  CHECK(r->warnings.size() == 2);
}

TEST_CASE("parse_nvidia_smi: rows of another noheader query are refused, not misread") {
  // Seven fields like askd's query, but memory.total first: "2004" is no GPU index.
  const auto r = parse_nvidia_smi(gpu_fixture("nvidia-smi-csv-noheader-nounits-fan-na.txt"));
  REQUIRE_FALSE(r);
  CHECK(r.error().kind == core::ErrorKind::bad_request);
  CHECK(r.error().message.find("'2004' is not a GPU index") != std::string::npos);
  // The 3-field rows of the 8x RTX 3080 recording, without their header.
  CHECK_FALSE(parse_nvidia_smi(gpu_fixture("nvidia-smi-csv-noheader-8x-rtx3080-one-gpu-lost.txt")));
}

TEST_CASE("parse_nvidia_smi: driver failures are bad_request naming the message") {
  for (const char* name :
       {"nvidia-smi-error-couldnt-communicate.txt", "nvidia-smi-error-no-devices-found.txt",
        "nvidia-smi-error-nvml-mismatch-old.txt"}) {
    const auto r = parse_nvidia_smi(gpu_fixture(name));
    REQUIRE_FALSE(r);
    CHECK(r.error().kind == core::ErrorKind::bad_request);
    CHECK_MESSAGE(r.error().message.find("line 1") != std::string::npos, r.error().message);
  }
  const auto r = parse_nvidia_smi(gpu_fixture("nvidia-smi-error-no-devices-found.txt"));
  CHECK(r.error().message.find("No devices were found") != std::string::npos);
}

TEST_CASE("parse_nvidia_smi: empty and blank output is bad_request") {
  CHECK_FALSE(parse_nvidia_smi(""));
  CHECK_FALSE(parse_nvidia_smi("\n\n  \r\n"));
  CHECK_FALSE(parse_nvidia_smi("index, uuid, pci.bus_id, name, memory.total [MiB]\n"));
}

TEST_CASE("parse_nvidia_smi: malformed rows are skipped with a warning naming the line") {
  const std::string good = "1, GPU-a, 00000000:02:00.0, Card, 100, 10, 90\n";
  SUBCASE("negative memory") {
    const auto r = parse_nvidia_smi("0, GPU-x, 00000000:01:00.0, Card, -5, 1, 2\n" + good);
    REQUIRE(r);
    REQUIRE(r->gpus.size() == 1);
    CHECK(any_warning_has(*r, "nvidia-smi line 1: memory is not a number of MiB"));
  }
  SUBCASE("huge memory") {
    const auto r = parse_nvidia_smi(
        "0, GPU-x, 00000000:01:00.0, Card, 99999999999999999999999, 1, 2\n" + good);
    REQUIRE(r);
    CHECK(r->gpus.size() == 1);
    CHECK(r->gpus[0].index == 1);
  }
  SUBCASE("implausible memory (over 1 PiB)") {
    const auto r = parse_nvidia_smi("0, GPU-x, 00000000:01:00.0, Card, 4294967296, 1, 2\n" + good);
    REQUIRE(r);
    CHECK(r->gpus.size() == 1);
  }
  SUBCASE("truncated row") {
    const auto r = parse_nvidia_smi(good + "2, GPU-b, 00000000:03:00.0, Ca");
    REQUIRE(r);
    CHECK(r->gpus.size() == 1);
    CHECK(any_warning_has(*r, "nvidia-smi line 2: expected 7 fields, got 4"));
  }
  SUBCASE("garbage index and repeated index") {
    const auto r = parse_nvidia_smi("x, GPU-x, 00000000:01:00.0, Card, 1, 1, 0\n" + good + good);
    REQUIRE(r);
    CHECK(r->gpus.size() == 1);
    CHECK(any_warning_has(*r, "line 1: index 'x'"));
    CHECK(any_warning_has(*r, "line 3: index 1 repeated"));
  }
  SUBCASE("bad bus id keeps the GPU without one") {
    const auto r = parse_nvidia_smi("0, GPU-x, 01-00-0, Card, 100, 10, 90\r\n");
    REQUIRE(r);
    CHECK(r->gpus[0].pci.empty());
    CHECK(any_warning_has(*r, "pci.bus_id '01-00-0'"));
  }
}

TEST_CASE("parse_nvidia_smi: used above total and free above total are clamped") {
  const auto r = parse_nvidia_smi("index, memory.total [MiB], memory.used [MiB]\n0, 100, 150\n"
                                  "1, 100, 10\n");
  REQUIRE(r);
  CHECK(r->gpus[0].free_bytes == 0);
  CHECK(r->gpus[1].free_bytes == 90 * k_mib);
  const auto over = parse_nvidia_smi("0, u, 00000000:01:00.0, Card, 100, 10, 500\n");
  REQUIRE(over);
  CHECK(over->gpus[0].free_bytes == 100 * k_mib);
}

TEST_CASE("parse_nvidia_smi: names with control bytes are made printable") {
  const auto r =
      parse_nvidia_smi(std::string("0, u, 00000000:01:00.0, Bad\x01\xff Name, 1, 0, 1\n"));
  REQUIRE(r);
  CHECK(r->gpus[0].name == "Bad\\x01\\xff Name");
}

TEST_CASE("parse_nvidia_smi: the warning list is capped") {
  std::string text;
  for (int i = 0; i < 200; ++i) {
    text += "garbage line\n";
  }
  text += "0, u, 00000000:01:00.0, Card, 1, 0, 1\n";
  const auto r = parse_nvidia_smi(text);
  REQUIRE(r);
  CHECK(r->warnings.size() == 33);
  CHECK(r->warnings.back() == "nvidia-smi: further warnings dropped");
}

} // namespace ask::router
