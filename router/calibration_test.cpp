#include "router/calibration.h"

#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

namespace {

using ask::router::Calibration;
using ask::router::DeviceBuffers;
using ask::router::feed_line;
using ask::router::parse_startup_log;

std::string read_fixture(const std::string& rel) {
  const auto path = std::filesystem::path(ASK_SOURCE_DIR) / "tests/fixtures/llama-server" / rel;
  std::ifstream in(path, std::ios::binary);
  REQUIRE_MESSAGE(in.good(), "missing fixture " << path.string());
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

Calibration parse_fixture(const std::string& rel) {
  return parse_startup_log(read_fixture(rel));
}

const DeviceBuffers& device(const Calibration& cal, std::string_view name) {
  const DeviceBuffers* d = cal.find(name);
  REQUIRE_MESSAGE(d != nullptr, "no device " << std::string(name));
  return *d;
}

std::vector<std::string> names(const Calibration& cal) {
  std::vector<std::string> out;
  out.reserve(cal.devices.size());
  for (const auto& d : cal.devices) {
    out.push_back(d.device);
  }
  return out;
}

Calibration one(std::string_view line) {
  Calibration cal;
  feed_line(cal, line);
  return cal;
}

} // namespace

TEST_CASE("parse_startup_log: reads the CPU buffers of a recorded tiny llama start") {
  const Calibration cal = parse_fixture("startup-tiny-llama-2L-f16.log");
  CHECK(names(cal) == std::vector<std::string>{"CPU_Mapped", "CPU"});
  CHECK(device(cal, "CPU_Mapped").model == 4246733); // 4.05 MiB
  const DeviceBuffers& cpu = device(cal, "CPU");
  CHECK(cpu.model == 0);
  CHECK(cpu.kv == 262144);       // 0.25 MiB
  CHECK(cpu.output == 251658);   // 0.24 MiB
  CHECK(cpu.compute == 1583350); // 1.51 MiB
  CHECK(cpu.total() == 262144 + 251658 + 1583350);
  CHECK(cal.gpu_total() == 0);
  CHECK(cal.layers_offloaded == -1);
  CHECK(cal.layers_total == -1);
}

TEST_CASE("parse_startup_log: figures follow context size and KV type in recorded starts") {
  const Calibration defaults = parse_fixture("startup-tiny-llama-2L-f16-defaults.log");
  CHECK(device(defaults, "CPU").kv == 524288);       // 0.50 MiB
  CHECK(device(defaults, "CPU").output == 513802);   // 0.49 MiB
  CHECK(device(defaults, "CPU").compute == 3156214); // 3.01 MiB
  const Calibration np4 = parse_fixture("startup-tiny-llama-2L-f16-c4096-np4-fa.log");
  CHECK(device(np4, "CPU").kv == 1048576);
  CHECK(device(np4, "CPU").compute == 2107638); // 2.01 MiB
  const Calibration q8 = parse_fixture("startup-tiny-llama-2L-hd32-f16-c4096-np4-q8kv-fa.log");
  CHECK(device(q8, "CPU").kv == 555745); // 0.53 MiB
  CHECK(device(q8, "CPU_Mapped").model == 4246733);
}

TEST_CASE("parse_startup_log: the two KV caches of a SWA model add up") {
  const Calibration cal = parse_fixture("startup-tiny-gemma3-2L-swa-f16.log");
  const DeviceBuffers& cpu = device(cal, "CPU");
  CHECK(cpu.kv == 2 * 125829); // two lines of 0.12 MiB; the "size =" summaries do not count
  CHECK(cpu.compute == 1719665);
  CHECK(cpu.output == 251658);
}

TEST_CASE("parse_startup_log: failed starts and the shutdown log give what they printed") {
  CHECK(parse_fixture("startup-fail-missing-model.log").devices.empty());
  CHECK(parse_fixture("startup-fail-port-in-use.log").devices.empty());
  const Calibration q8 = parse_fixture("startup-fail-q8kv-headdim16.log");
  CHECK(names(q8) == std::vector<std::string>{"CPU_Mapped"});
  CHECK(q8.devices[0].model == 4246733);
  CHECK(parse_fixture("shutdown.log").devices.empty()); // memory breakdown table is not read
  CHECK(parse_startup_log("").devices.empty());
}

TEST_CASE("parse_startup_log: 2024 two-GPU CUDA log with kind-less model lines") {
  const Calibration cal = parse_fixture("gpu-logs/cuda-2gpu-llm_load_tensors-2024-03.log");
  CHECK(names(cal) == std::vector<std::string>{"CPU", "CUDA0", "CUDA1", "CUDA_Host"});
  CHECK(device(cal, "CPU").model == 1720314757);
  const DeviceBuffers& c0 = device(cal, "CUDA0");
  CHECK(c0.model == 5698360443);
  CHECK(c0.kv == 1610612736);
  CHECK(c0.compute == 704653558);
  const DeviceBuffers& c1 = device(cal, "CUDA1");
  CHECK(c1.model == 14669085409);
  CHECK(c1.kv == 3758096384);
  CHECK(c1.compute == 0); // its line was not in the paste
  CHECK(device(cal, "CUDA_Host").output == 2044723);
  CHECK(cal.layers_offloaded == 41);
  CHECK(cal.layers_total == 41);
  CHECK(cal.gpu_total() == c0.total() + c1.total());
}

TEST_CASE("parse_startup_log: CUDA model with KV kept in CUDA_Host memory") {
  const Calibration cal = parse_fixture("gpu-logs/cuda-cpu-mapped-koboldcpp-2024-11.log");
  CHECK(device(cal, "CPU_Mapped").model == 112638034);
  CHECK(device(cal, "CUDA0").model == 9116539945);
  CHECK(device(cal, "CUDA_Host").kv == 5138022400);
  CHECK(device(cal, "CUDA_Host").output == 125829);
  CHECK(cal.gpu_total() == 9116539945);
}

TEST_CASE("parse_startup_log: a model split over CUDA0 and CUDA2 inside ollama's log") {
  const Calibration cal = parse_fixture("gpu-logs/cuda-2of3gpu-load_tensors-ollama-2025-08.log");
  CHECK(names(cal) == std::vector<std::string>{"CUDA0", "CUDA2", "CPU_Mapped"});
  CHECK(device(cal, "CUDA0").model == 25457065984);
  CHECK(device(cal, "CUDA2").model == 48393785180);
  CHECK(device(cal, "CPU_Mapped").model == 1116334981);
  CHECK(cal.layers_offloaded == 81);
  CHECK(cal.layers_total == 81);
  CHECK(cal.gpu_total() == 25457065984 + 48393785180);
}

TEST_CASE("parse_startup_log: CUDA_Host model buffer is host memory") {
  const Calibration cal = parse_fixture("gpu-logs/cuda-host-model-buffer-ollama.log");
  CHECK(device(cal, "CPU").model == 605552640);
  CHECK(device(cal, "CUDA_Host").model == 13473792655);
  CHECK(device(cal, "CUDA_Host").is_host());
  CHECK(cal.gpu_total() == 3304964751);
}

TEST_CASE("parse_startup_log: 'init:' prefix and four CUDA compute buffers") {
  const Calibration cal = parse_fixture("gpu-logs/cuda-4gpu-init-prefix.log");
  CHECK(names(cal) == std::vector<std::string>{"CUDA2", "CUDA3", "CUDA0", "CUDA1", "CUDA_Host"});
  CHECK(device(cal, "CUDA2").kv == 737673216);
  CHECK(device(cal, "CUDA3").kv == 676205691);
  CHECK(device(cal, "CUDA0").kv == 0);
  CHECK(device(cal, "CUDA1").compute == 2053772411);
  CHECK(device(cal, "CUDA_Host").compute == 65672315);
  CHECK(cal.gpu_total() == 737673216ULL + 676205691 + 4ULL * 2053772411);
}

TEST_CASE("parse_startup_log: ROCm two-GPU KV and compute, ROCm_Host output") {
  const Calibration cal = parse_fixture("gpu-logs/rocm-2gpu-kv-unified.log");
  CHECK(names(cal) == std::vector<std::string>{"ROCm_Host", "ROCm0", "ROCm1"});
  CHECK(device(cal, "ROCm0").kv == 1677721600);
  CHECK(device(cal, "ROCm0").compute == 125829120);
  CHECK(device(cal, "ROCm1").kv == 1543503872);
  CHECK(device(cal, "ROCm1").compute == 315359232);
  CHECK(device(cal, "ROCm_Host").output == 608174);
  CHECK(device(cal, "ROCm_Host").compute == 71313654);
  CHECK(cal.gpu_total() == 1677721600ULL + 125829120 + 1543503872 + 315359232);
}

TEST_CASE("parse_startup_log: failed allocations are not buffers") {
  const Calibration rocm = parse_fixture("gpu-logs/rocm-host-output-oom-ollama-2024-04.log");
  CHECK(names(rocm) == std::vector<std::string>{"ROCm_Host"});
  CHECK(rocm.devices[0].output == 1153434);
  const Calibration vk = parse_fixture("gpu-logs/vulkan-kv-oom-2025-04.log");
  CHECK(names(vk) == std::vector<std::string>{"Vulkan0"});
  CHECK(vk.devices[0].kv == 14470348800);
  CHECK(vk.devices[0].compute == 0);
  const Calibration cuda = parse_fixture("gpu-logs/cuda-oom-ik_llama-kv-init.log");
  CHECK(names(cuda) ==
        std::vector<std::string>{"CUDA11", "CUDA12", "CUDA13", "CUDA14", "CUDA_Host"});
  CHECK(device(cuda, "CUDA13").kv == 113246208);
  CHECK(device(cuda, "CUDA_Host").output == 1038090);
}

TEST_CASE("parse_startup_log: Vulkan two-GPU model and KV, Vulkan_Host compute") {
  const Calibration cal = parse_fixture("gpu-logs/vulkan-2gpu-2025-01.log");
  CHECK(names(cal) == std::vector<std::string>{"Vulkan0", "Vulkan1", "CPU_Mapped"});
  CHECK(device(cal, "Vulkan0").model == 17519985295);
  CHECK(device(cal, "Vulkan0").kv == 1006632960);
  CHECK(device(cal, "Vulkan1").model == 1887426314);
  CHECK(device(cal, "Vulkan1").kv == 67108864);
  CHECK(device(cal, "CPU_Mapped").model == 437948252);
  const Calibration vc = parse_fixture("gpu-logs/vulkan-compute-2025-04.log");
  CHECK(device(vc, "Vulkan0").kv == 20132659200);
  CHECK(device(vc, "Vulkan0").compute == 1231028224);
  CHECK(device(vc, "Vulkan_Host").compute == 18884854);
  CHECK(vc.gpu_total() == 20132659200 + 1231028224);
}

TEST_CASE("parse_startup_log: coloured timestamps, with and without escape bytes") {
  const Calibration cal = parse_fixture("gpu-logs/cuda-colour-timestamps.log");
  CHECK(names(cal) == std::vector<std::string>{"CUDA_Host", "CUDA0"});
  CHECK(device(cal, "CUDA_Host").output == 513802);
  CHECK(device(cal, "CUDA0").kv == 191627264);
  const Calibration esc =
      one("\x1b[34m1.14.610.021\x1b[0m \x1b[32mI \x1b[0mllama_kv_cache:      CUDA0 KV buffer size "
          "=   182.75 MiB");
  CHECK(device(esc, "CUDA0").kv == 191627264);
}

TEST_CASE("parse_startup_log: recurrent-state buffers and words between device and kind") {
  const Calibration cal = parse_fixture("gpu-logs/cuda-8gpu-recurrent-rs.log");
  CHECK(names(cal) == std::vector<std::string>{"CUDA5", "CUDA6", "CUDA7", "CUDA0", "CUDA1"});
  CHECK(device(cal, "CUDA5").recurrent == 10485760);
  CHECK(device(cal, "CUDA6").recurrent == 12582912);
  CHECK(device(cal, "CUDA7").recurrent == 8388608);
  CHECK(device(cal, "CUDA0").kv == 1031798784); // "CUDA0 DeepSeek4 compressed KV buffer size"
  CHECK(device(cal, "CUDA1").kv == 1535115264);
}

TEST_CASE("parse_startup_log: fifteen GPUs with two-digit ordinals") {
  const Calibration cal = parse_fixture("gpu-logs/cuda-15gpu-ik_llama-compute.log");
  REQUIRE(cal.devices.size() == 15);
  CHECK(cal.devices.front().device == "CUDA1");
  CHECK(device(cal, "CUDA10").compute == 5995768054);
  CHECK(device(cal, "CUDA14").compute == 5995778540);
  CHECK(device(cal, "CUDA_Host").compute == 182473196);
  CHECK(cal.gpu_total() == 13ULL * 5995768054 + 5995778540);
}

TEST_CASE("parse_startup_log: 2024 CPU-only log - the input buffer kind is ignored") {
  const Calibration cal = parse_fixture("gpu-logs/cpu-only-2024-01.log");
  REQUIRE(names(cal) == std::vector<std::string>{"CPU"});
  const DeviceBuffers& cpu = cal.devices[0];
  CHECK(cpu.model == 12281939231);
  CHECK(cpu.kv == 67108864);
  CHECK(cpu.compute == 120093409);
  CHECK(cpu.total() == 12281939231 + 67108864 + 120093409);
  CHECK(cal.layers_offloaded == 0);
  CHECK(cal.layers_total == 33);
}

TEST_CASE("parse_startup_log: repeated lines for one device add up") {
  const Calibration cal = parse_fixture("gpu-logs/cpu-repeated-buffers-ik_llama.log");
  REQUIRE(cal.devices.size() == 1);
  CHECK(cal.devices[0].model == 5ULL * 3170893824);
}

TEST_CASE("DeviceBuffers::is_host: host buffer types versus GPUs") {
  for (const char* host :
       {"CPU", "CPU_Mapped", "CPU_REPACK", "CUDA_Host", "ROCm_Host", "Vulkan_Host", "SYCL_Host"}) {
    CHECK_MESSAGE(DeviceBuffers{.device = host}.is_host(), host);
  }
  for (const char* gpu : {"CUDA0", "CUDA14", "ROCm1", "Vulkan0", "SYCL0", "Metal", "Host"}) {
    CHECK_MESSAGE(!DeviceBuffers{.device = gpu}.is_host(), gpu);
  }
}

TEST_CASE("feed_line: units and rounding to the nearest byte") {
  CHECK(one("llama_context: CUDA0 compute buffer size = 1.5 KiB").devices[0].compute == 1536);
  CHECK(one("llama_context: CUDA0 compute buffer size = 2.25 GiB").devices[0].compute ==
        2415919104);
  CHECK(one("llama_context: CUDA0 compute buffer size = 7 MiB").devices[0].compute == 7340032);
  CHECK(one("llama_context: CUDA0 compute buffer size = 0.000001 GiB").devices[0].compute ==
        1074); // 1073.74 bytes
  CHECK(one("llama_context: CUDA0 compute buffer size = 0.00 MiB").devices[0].compute == 0);
  CHECK(one("load_tensors: CUDA0 model buffer size = 1.00 MiB\r").devices[0].model == 1048576);
  CHECK(one("load_tensors: RPC[127.0.0.1:50052] model buffer size = 1.00 MiB").devices[0].device ==
        "RPC[127.0.0.1:50052]");
}

TEST_CASE("feed_line: malformed buffer lines are ignored") {
  const char* bad[] = {
      "",
      "garbage \x01\xff\xfe buffer size = = =",
      "load_tensors: CUDA0 model buffer size = 12.00",             // no unit
      "load_tensors: CUDA0 model buffer size = 12.00 MB",          // not a binary unit
      "load_tensors: CUDA0 model buffer size = 12.00MiB",          // no blank before the unit
      "load_tensors: CUDA0 model buffer size = -12.00 MiB",        // negative
      "load_tensors: CUDA0 model buffer size = 1234567890.00 MiB", // ten integer digits
      "load_tensors: CUDA0 model buffer size = 1.1234567 MiB",     // seven decimals
      "load_tensors: CUDA0 model buffer size = 99999999999999999999999 GiB",
      "load_tensors: CUDA0 model buffer size = ",    // truncated
      "load_tensors: CUDA0 model buffer size = 12.", // truncated
      "load_tensors: CUDA0 model buffer size = 12. MiB",
      "load_tensors: CUDA0 model buffer size = .5 MiB",
      "load_tensors: CUDA0 model buffer size = 1e3 MiB",
      "load_tensors: CUDA0 model buffer size = 12.00 MiB extra",
      "load_tensors: CUDA0 model buffer size 12.00 MiB", // no '='
      "load_tensors: CUDA0 model buffer size",
      "load_tensors: CUDA0 mod",
      "CUDA0 model buffer size = 1.00 MiB",                // no "prefix: "
      "llama_context: CUDA0 buffer size = 1.00 MiB",       // kind-less outside load_tensors
      "llama_context: CUDA0 input buffer size = 1.00 MiB", // unknown kind
      "llama_context: model buffer size = 1.00 MiB",       // no device
      "load_tensors: model buffer size = 1.00 MiB",
      "load_tensors:  buffer size = 1.00 MiB",
      "llama_context: CUDA\x01 compute buffer size = 1.00 MiB",        // control byte in the name
      "llama_context: a b c d e f g h compute buffer size = 1.00 MiB", // too many words
      "ggml_gallocr_reserve_n: failed to allocate CUDA0 buffer of size 9332334592",
      "ggml_vulkan: Requested buffer size exceeds device memory allocation limit",
      "llama_kv_cache: size =    0.25 MiB (   512 cells,   2 layers,  2/2 seqs)",
  };
  for (const char* line : bad) {
    const Calibration cal = one(line);
    CHECK_MESSAGE(cal.devices.empty(), line);
  }
  const std::string long_name =
      "llama_context: " + std::string(65, 'X') + " compute buffer size = 1.00 MiB";
  CHECK(one(long_name).devices.empty());
  CHECK(one(std::string(100000, 'a') + " load_tensors: CUDA0 model buffer size = 1.00 MiB")
            .devices.empty()); // over the line bound
}

TEST_CASE("feed_line: offloaded layers, strictly") {
  CHECK(one("load_tensors: offloaded 33/33 layers to GPU").layers_offloaded == 33);
  CHECK(one("load_tensors: offloaded 20/33 layers to GPU").layers_total == 33);
  for (const char* bad :
       {"load_tensors: offloaded 34/33 layers to GPU",
        "load_tensors: offloaded -1/33 layers to GPU", "load_tensors: offloaded 33 layers to GPU",
        "load_tensors: offloaded 33/ layers to GPU",
        "load_tensors: offloaded 12345678/12345678 layers to GPU",
        "load_tensors: offloaded 3/33 layers to CPU", "load_tensors: offloaded 3/33"}) {
    const Calibration cal = one(bad);
    CHECK_MESSAGE(cal.layers_offloaded == -1, bad);
    CHECK_MESSAGE(cal.layers_total == -1, bad);
  }
}

TEST_CASE("feed_line: sums saturate and devices are bounded") {
  Calibration cal;
  for (int i = 0; i < 40; ++i) {
    feed_line(cal, "load_tensors: CUDA0 model buffer size = 999999999.99 GiB");
    feed_line(cal, "llama_kv_cache: CUDA0 KV buffer size = 999999999.99 GiB");
    feed_line(cal, "sched_reserve: CUDA0 compute buffer size = 999999999.99 GiB");
  }
  const DeviceBuffers& d = device(cal, "CUDA0");
  CHECK(d.model == (std::uint64_t{1} << 60));
  CHECK(d.total() == 3 * (std::uint64_t{1} << 60)); // no wrap-around
  Calibration many;
  for (int i = 0; i < 100; ++i) {
    feed_line(many, "load_tensors: CUDA" + std::to_string(i) + " model buffer size = 1.00 MiB");
  }
  CHECK(many.devices.size() == 64);
  CHECK(many.find("CUDA63") != nullptr);
  CHECK(many.find("CUDA64") == nullptr);
}

TEST_CASE("feed_line: line by line gives the same result as the whole log") {
  const std::string log = read_fixture("gpu-logs/cuda-2gpu-llm_load_tensors-2024-03.log");
  Calibration fed;
  std::istringstream in(log);
  for (std::string line; std::getline(in, line);) {
    feed_line(fed, line + "\r"); // as a Windows log would arrive
  }
  const Calibration whole = parse_startup_log(log);
  REQUIRE(fed.devices.size() == whole.devices.size());
  for (std::size_t i = 0; i < fed.devices.size(); ++i) {
    CHECK(fed.devices[i].device == whole.devices[i].device);
    CHECK(fed.devices[i].total() == whole.devices[i].total());
  }
  CHECK(fed.gpu_total() == whole.gpu_total());
  CHECK(fed.layers_total == whole.layers_total);
}
