#pragma once
// A llama.cpp build as it describes itself: `BINARY --version` (build number, commit) and
// `BINARY --list-devices` (the GPUs it sees, named and numbered as it numbers them, with the
// free memory it sees). Asked once per preset binary when askd starts and by `askd plan`;
// inventory.h folds the devices into the machine's GPUs (docs/inventory.md).

#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "config/types.h"
#include "router/probe.h"
#include "router/tool_runner.h"

namespace ask::router {

// A llama-server to ask: a preset's binary with the preset's environment.
struct LlamaBinary {
  std::filesystem::path binary;
  std::vector<std::pair<std::string, std::string>> env;

  bool operator==(const LlamaBinary&) const = default;
};

// What one binary said; either half may have failed on its own.
struct LlamaBuild {
  std::string binary;
  Result<LlamaVersion> version;
  Result<ProbeResult> devices; // llama-server records, `binary` set on each
};

// The binaries of the config's presets that run on a GPU (backend other than "cpu"), each
// binary and environment once, in the order the presets are written.
std::vector<LlamaBinary> llama_binaries(const config::Config& config);

// Runs `BINARY --version` and `BINARY --list-devices` through `run` (argument vector, no
// shell, the runner's timeout), stderr read with stdout, in the preset's environment plus
// CUDA_DEVICE_ORDER=PCI_BUS_ID unless the preset sets it — the order askd's own launches use,
// so that CUDA's device numbers are nvidia-smi's.
LlamaBuild ask_llama_build(const LlamaBinary& binary, const ToolRunner& run);

} // namespace ask::router
