#include "router/llama_build.h"

#include <algorithm>
#include <string_view>

namespace ask::router {

std::vector<LlamaBinary> llama_binaries(const config::Config& config) {
  std::vector<LlamaBinary> out;
  for (const config::Preset& preset : config.presets) {
    if (preset.api == config::GpuApi::cpu || preset.binary.empty()) {
      continue;
    }
    LlamaBinary b{preset.binary, preset.env};
    if (std::find(out.begin(), out.end(), b) == out.end()) {
      out.push_back(std::move(b));
    }
  }
  return out;
}

LlamaBuild ask_llama_build(const LlamaBinary& binary, const ToolRunner& run) {
  std::vector<std::pair<std::string, std::string>> env = binary.env;
  constexpr std::string_view k_order = "CUDA_DEVICE_ORDER";
  if (std::none_of(env.begin(), env.end(), [&](const auto& e) { return e.first == k_order; })) {
    env.emplace_back(k_order, "PCI_BUS_ID");
  }
  const std::string path = binary.binary.string();
  LlamaBuild build{path, core::fail(core::Error::internal("not asked")),
                   core::fail(core::Error::internal("not asked"))};
  const auto prefixed = [&](core::Error e) {
    // The runner's messages start with argv[0] already; a parser's do not.
    if (!e.message.starts_with(path + ": ")) {
      e.message = path + ": " + e.message;
    }
    return e;
  };
  Result<std::string> out = run(ToolCommand({path, "--version"}, env, true));
  if (out) {
    build.version = parse_llama_version(*out);
  } else {
    build.version = core::fail(out.error());
  }
  if (!build.version) {
    build.version = core::fail(prefixed(build.version.error()));
  }
  out = run(ToolCommand({path, "--list-devices"}, env, true));
  if (out) {
    build.devices = parse_list_devices(*out);
  } else {
    build.devices = core::fail(out.error());
  }
  if (!build.devices) {
    build.devices = core::fail(prefixed(build.devices.error()));
    return build;
  }
  for (ProbedGpu& gpu : build.devices->gpus) {
    gpu.binary = path;
  }
  return build;
}

} // namespace ask::router
