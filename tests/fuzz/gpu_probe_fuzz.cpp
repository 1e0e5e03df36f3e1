// libFuzzer target for the GPU tool parsers (router/probe.h): feeds the same bytes to every
// string parser and to normalize_pci, and reads every field of what comes back. Seed corpus:
// tests/fixtures/gpu/.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "router/probe.h"

namespace {

// Touches every field so that a bad record (dangling string, uninitialised optional) shows.
std::size_t consume(const ask::router::Result<ask::router::ProbeResult>& result) {
  if (!result) {
    return result.error().message.size();
  }
  std::size_t n = 0;
  for (const ask::router::ProbedGpu& gpu : result->gpus) {
    n += gpu.name.size() + gpu.pci.size() + gpu.uuid.size() + gpu.source.size();
    n += static_cast<std::size_t>(gpu.index) + static_cast<std::size_t>(gpu.total_bytes & 1);
    n += gpu.free_bytes.value_or(0) & 1;
    n += (gpu.unified ? 1 : 0) + (gpu.cpu ? 1 : 0);
    if (!gpu.pci.empty() && ask::router::normalize_pci(gpu.pci) != gpu.pci) {
      __builtin_trap(); // a normalised address must be a fixed point
    }
  }
  for (const std::string& warning : result->warnings) {
    n += warning.size();
  }
  return n;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  volatile std::size_t sink = 0;
  sink = sink + consume(ask::router::parse_nvidia_smi(text));
  sink = sink + consume(ask::router::parse_rocm_smi(text));
  sink = sink + consume(ask::router::parse_vulkaninfo(text));
  sink = sink + consume(ask::router::parse_xpu_smi(text));
  sink = sink + ask::router::normalize_pci(text).size();
  return 0;
}
