// ask_llama_build through a fake runner (the commands, their environment) and through real
// processes; llama_binaries over a config's presets.

#include "router/llama_build.h"

#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <string>
#include <vector>

#include "router/testing.h"
#include "tests/support/temp_dir.h"

namespace ask::router {
namespace {

using testkit::gpu_fixture;

using config::GpuApi;

} // namespace

namespace {

// A runner that answers from a table keyed by argv[1] and records every command.
struct FakeRunner {
  std::map<std::string, Result<std::string>> answers;
  std::vector<ToolCommand> ran;
  ToolRunner runner() {
    return [this](const ToolCommand& cmd) -> Result<std::string> {
      ran.push_back(cmd);
      const auto it = answers.find(cmd.argv.size() > 1 ? cmd.argv[1] : "");
      return it == answers.end() ? core::fail(core::Error::not_found(cmd.argv[0] + ": not found"))
                                 : it->second;
    };
  }
};

std::string env_value(const ToolCommand& cmd, const std::string& name) {
  for (const auto& [n, v] : cmd.env) {
    if (n == name) {
      return v;
    }
  }
  return "<unset>";
}

} // namespace

TEST_CASE("ask_llama_build: both questions asked in the preset's environment, stderr included") {
  FakeRunner fake;
  fake.answers.emplace("--version", gpu_fixture("llama-server-version-b10587-cpu-no-git.txt"));
  fake.answers.emplace("--list-devices",
                       gpu_fixture("llama-list-devices-cuda-rtx3090+rtx3060.txt"));
  const LlamaBuild b =
      ask_llama_build({"/opt/llama/cuda/llama-server", {{"GGML_CUDA_NO_VMM", "1"}}}, fake.runner());
  REQUIRE(fake.ran.size() == 2);
  CHECK(fake.ran[0].argv == std::vector<std::string>{"/opt/llama/cuda/llama-server", "--version"});
  CHECK(fake.ran[1].argv ==
        std::vector<std::string>{"/opt/llama/cuda/llama-server", "--list-devices"});
  for (const ToolCommand& cmd : fake.ran) {
    CHECK(cmd.merge_stderr);
    CHECK(env_value(cmd, "GGML_CUDA_NO_VMM") == "1");
    CHECK(env_value(cmd, "CUDA_DEVICE_ORDER") == "PCI_BUS_ID"); // as askd's launches
  }
  CHECK(b.binary == "/opt/llama/cuda/llama-server");
  REQUIRE(b.version);
  CHECK(b.version->version == "0.2.0-dev");
  REQUIRE(b.devices);
  REQUIRE(b.devices->gpus.size() == 2);
  CHECK(b.devices->gpus[1].binary == "/opt/llama/cuda/llama-server");
  CHECK(b.devices->gpus[1].device == "CUDA1");
}

TEST_CASE("ask_llama_build: a preset's own CUDA_DEVICE_ORDER is kept - halves fail apart") {
  FakeRunner fake;
  fake.answers.emplace("--version", "llama-server: unknown option\n");
  fake.answers.emplace("--list-devices",
                       core::fail(core::Error::internal(
                           "llama-server: exited with status 127: error while loading shared "
                           "libraries: libcuda.so.1")));
  const LlamaBuild b =
      ask_llama_build({"llama-server", {{"CUDA_DEVICE_ORDER", "FASTEST_FIRST"}}}, fake.runner());
  REQUIRE(fake.ran.size() == 2);
  CHECK(env_value(fake.ran[0], "CUDA_DEVICE_ORDER") == "FASTEST_FIRST");
  CHECK(fake.ran[0].env.size() == 1);
  REQUIRE_FALSE(b.version);
  CHECK(b.version.error().message.starts_with("llama-server: llama-server --version: no"));
  REQUIRE_FALSE(b.devices);
  CHECK(b.devices.error().message ==
        "llama-server: exited with status 127: error while loading shared libraries: libcuda.so.1");
}

TEST_CASE("ask_llama_build: real processes, argument vector and environment") {
  testing::TempDir dir;
  const std::filesystem::path bin = dir.path() / "llama-server";
  {
    std::ofstream script(bin);
    script << "#!/bin/sh\n"
              "if [ \"$1\" = --version ]; then\n"
              "  echo 'version: 0.2.0-dev (build 10587, commit 3f545becc)' >&2\n"
              "  echo 'built with GNU 12.2.0 for Linux x86_64' >&2\n"
              "elif [ \"$1\" = --list-devices ]; then\n"
              "  echo 'ggml_cuda_init: found 1 CUDA devices:' >&2\n"
              "  echo 'Available devices:'\n"
              "  echo \"  CUDA0: order $CUDA_DEVICE_ORDER, $ASK_PRESET_VAR (24117 MiB, 6672 MiB "
              "free)\"\n"
              "else\n"
              "  exit 3\n"
              "fi\n";
  }
  std::filesystem::permissions(bin, std::filesystem::perms::owner_all);
  const LlamaBuild b =
      ask_llama_build({bin, {{"ASK_PRESET_VAR", "from the preset"}}}, system_tool_runner());
  REQUIRE(b.version);
  CHECK(b.version->build == 10587);
  REQUIRE(b.devices);
  REQUIRE(b.devices->gpus.size() == 1);
  CHECK(b.devices->gpus[0].name == "order PCI_BUS_ID, from the preset");
  CHECK(b.devices->gpus[0].binary == bin.string());

  const LlamaBuild missing = ask_llama_build({dir.path() / "absent", {}}, system_tool_runner());
  REQUIRE_FALSE(missing.version);
  CHECK(missing.version.error().kind == core::ErrorKind::not_found);
  REQUIRE_FALSE(missing.devices);
  CHECK(missing.devices.error().kind == core::ErrorKind::not_found);
}

TEST_CASE("llama_binaries: each GPU preset's binary and environment once, in file order") {
  config::Config cfg;
  const auto preset = [](std::string name, std::string binary, GpuApi api,
                         std::vector<std::pair<std::string, std::string>> env = {}) {
    config::Preset p;
    p.name = std::move(name);
    p.binary = std::move(binary);
    p.api = api;
    p.env = std::move(env);
    return p;
  };
  cfg.presets = {preset("cpu", "/opt/llama/cpu/llama-server", GpuApi::cpu),
                 preset("vk", "/opt/llama/vk/llama-server", GpuApi::vulkan),
                 preset("cuda", "/opt/llama/cuda/llama-server", GpuApi::cuda),
                 preset("vk-fast", "/opt/llama/vk/llama-server", GpuApi::vulkan),
                 preset("vk-env", "/opt/llama/vk/llama-server", GpuApi::vulkan, {{"A", "1"}})};
  const std::vector<LlamaBinary> b = llama_binaries(cfg);
  REQUIRE(b.size() == 3);
  CHECK(b[0].binary == "/opt/llama/vk/llama-server");
  CHECK(b[1].binary == "/opt/llama/cuda/llama-server");
  CHECK(b[2].binary == "/opt/llama/vk/llama-server");
  CHECK(b[2].env.size() == 1);
}

} // namespace ask::router
