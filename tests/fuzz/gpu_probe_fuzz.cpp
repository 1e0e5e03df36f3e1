// libFuzzer target for the GPU tool parsers (router/probe.h): feeds the same bytes to every
// string parser (amd-smi also with the input cut in two, static and metric), to
// normalize_pci, and — parsed as llama-server --list-devices and as nvidia-smi and vulkaninfo
// output — to merge(), which matches a build's devices to the tools' cards; and reads every
// field of what comes back. Seed corpus: tests/fixtures/gpu/.

#include <cstddef>
#include <cstdint>
#include <set>
#include <string>
#include <utility>
#include <string_view>
#include <vector>

#include "router/inventory.h"
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
    n += (gpu.unified ? 1 : 0) + (gpu.cpu ? 1 : 0) + gpu.device.size() + gpu.binary.size();
    if (!gpu.pci.empty() && ask::router::normalize_pci(gpu.pci) != gpu.pci) {
      __builtin_trap(); // a normalised address must be a fixed point
    }
  }
  for (const std::string& warning : result->warnings) {
    n += warning.size();
  }
  return n;
}

std::size_t consume(const ask::router::Result<ask::router::LlamaVersion>& v) {
  if (!v) {
    return v.error().message.size();
  }
  return static_cast<std::size_t>(v->build & 1) + v->commit.size() + v->version.size() +
         v->built_with.size();
}

std::size_t consume(const ask::router::Result<ask::router::XpuStats>& s) {
  if (!s) {
    return s.error().message.size();
  }
  std::size_t n = static_cast<std::size_t>(s->device) + (s->used_bytes.value_or(0) & 1);
  for (const std::string& w : s->warnings) {
    n += w.size();
  }
  return n;
}

// The records of every parser that reads `text`, as one machine's probe would give them.
std::vector<ask::router::ProbedGpu> records(std::string_view text) {
  std::vector<ask::router::ProbedGpu> out;
  for (auto parsed : {ask::router::parse_nvidia_smi(text), ask::router::parse_vulkaninfo(text),
                      ask::router::parse_amd_smi(text, "")}) {
    if (parsed) {
      out.insert(out.end(), parsed->gpus.begin(), parsed->gpus.end());
    }
  }
  if (auto listed = ask::router::parse_list_devices(text)) {
    for (ask::router::ProbedGpu& g : listed->gpus) {
      g.binary = "llama-server";
      out.push_back(g);
    }
  }
  return out;
}

// merge() must hold its own invariants whatever the records: every card has an id, a known
// card's cap never exceeds its memory, and one build gives a card at most one device per API
// (and no two cards the same device).
std::size_t consume(const ask::router::Inventory& inv) {
  std::size_t n = inv.warnings.size();
  std::set<std::pair<std::string, std::string>> devices; // (binary, device)
  for (const ask::router::Gpu& g : inv.gpus) {
    if (g.id.empty() || (g.total_bytes > 0 && g.cap_bytes > g.total_bytes)) {
      __builtin_trap();
    }
    std::set<std::pair<std::string, ask::config::GpuApi>> apis;
    for (const ask::router::BuildDevice& d : g.build_devices) {
      if (!apis.emplace(d.binary, d.api).second || !devices.emplace(d.binary, d.device).second) {
        __builtin_trap();
      }
      n += d.device.size() + d.name.size() + (d.free_bytes & 1);
    }
    n += g.usable_bytes() & 1;
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
  sink = sink + consume(ask::router::parse_xpu_smi_stats(text));
  sink = sink + consume(ask::router::parse_amd_smi(text, text));
  sink = sink + consume(ask::router::parse_amd_smi(text.substr(0, size / 2), text.substr(size / 2)));
  sink = sink + consume(ask::router::parse_list_devices(text));
  sink = sink + consume(ask::router::parse_llama_version(text));
  sink = sink + consume(ask::router::merge(records(text), ask::config::GpuConfig{}));
  sink = sink + ask::router::normalize_pci(text).size();
  return 0;
}
