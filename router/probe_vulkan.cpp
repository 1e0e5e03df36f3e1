// parse_vulkaninfo: the text of `vulkaninfo` (every format since loader 1.1) and of
// `vulkaninfo --summary`, read line by line: "GPUn:" (or "GPUn", or "GPU id : n (name)")
// selects a device, "key = value" lines fill it, "memoryHeaps[i]" opens a heap.

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "router/probe.h"
#include "router/probe_detail.h"

namespace ask::router {
namespace {

using core::trim;
using detail::add_warning;
using detail::quote;

constexpr std::string_view k_vulkaninfo = "vulkaninfo";
constexpr std::size_t k_max_heaps = 64; // VK_MAX_MEMORY_HEAPS is 16

struct Heap {
  std::optional<std::uint64_t> size;
  std::optional<std::uint64_t> budget;
  std::optional<std::uint64_t> usage;
  bool device_local = false;
};

struct Device {
  std::string name;      // deviceName
  std::string name_hint; // from "GPU id : 0 (NVIDIA GeForce RTX 2050)"
  std::optional<std::uint64_t> vendor_id;
  std::string type; // deviceType
  std::string uuid;
  std::array<std::optional<std::uint64_t>, 4> pci{}; // domain, bus, device, function
  std::vector<Heap> heaps;
};

struct State {
  std::map<int, Device> devices;
  std::optional<int> device;       // the device the lines describe now
  std::optional<std::size_t> heap; // the heap they describe, inside memoryHeaps
  bool too_many = false;
};

// n from "GPU3" / "GPU3:"; nullopt for other lines.
std::optional<std::uint64_t> gpu_header(std::string_view t) {
  if (!t.starts_with("GPU")) {
    return std::nullopt;
  }
  t.remove_prefix(3);
  if (t.ends_with(':')) {
    t.remove_suffix(1);
  }
  return detail::parse_u64(t.empty() || t.front() == ' ' ? std::string_view("x") : t);
}

// n and the name from "GPU id : 1 (AMD Radeon(TM) Graphics) [VK_KHR_win32_surface]:" or
// "GPU id = 0 (NVIDIA GeForce RTX 2050)".
std::optional<std::pair<std::uint64_t, std::string_view>> gpu_id_line(std::string_view t) {
  if (!t.starts_with("GPU id")) {
    return std::nullopt;
  }
  t = trim(t.substr(6));
  if (t.empty() || (t.front() != ':' && t.front() != '=')) {
    return std::nullopt;
  }
  t = trim(t.substr(1));
  const auto n = detail::parse_leading_u64(t);
  if (!n) {
    return std::nullopt;
  }
  std::string_view name;
  const std::size_t open = t.find('(');
  const std::size_t close = t.rfind(") [");
  if (open != std::string_view::npos) {
    const std::size_t end = close != std::string_view::npos && close > open ? close : t.rfind(')');
    if (end != std::string_view::npos && end > open) {
      name = t.substr(open + 1, end - open - 1);
    }
  }
  return std::pair{*n, name};
}

// Makes GPU n the device the following lines describe; nullptr (one warning) past the cap.
Device* select(State& s, std::uint64_t n, std::size_t line, ProbeResult& result) {
  s.heap.reset();
  if (n >= detail::k_max_devices ||
      (!s.devices.contains(static_cast<int>(n)) && s.devices.size() >= detail::k_max_devices)) {
    if (!s.too_many) {
      add_warning(result, k_vulkaninfo, line, "too many GPUs; the rest are ignored");
    }
    s.too_many = true;
    s.device.reset();
    return nullptr;
  }
  s.device = static_cast<int>(n);
  return &s.devices[*s.device];
}

// The device a property line belongs to: the selected one, or GPU 0 for a section cut from a
// full output without its header. nullptr while lines of an ignored device are read.
Device* current(State& s) {
  if (!s.device) {
    if (s.too_many) {
      return nullptr;
    }
    s.device = 0;
  }
  return &s.devices[*s.device];
}

void heap_value(Heap& heap, std::string_view key, std::string_view value, std::size_t line,
                ProbeResult& result) {
  std::optional<std::uint64_t>* field = key == "size"     ? &heap.size
                                        : key == "budget" ? &heap.budget
                                        : key == "usage"  ? &heap.usage
                                                          : nullptr;
  if (field == nullptr) {
    if (key == "flags" && value.find("DEVICE_LOCAL") != std::string_view::npos) {
      heap.device_local = true;
    }
    return;
  }
  *field = detail::plausible_bytes(detail::parse_leading_u64(value));
  if (!*field) {
    add_warning(result, k_vulkaninfo, line,
                "heap " + std::string(key) + " " + quote(value) + " is not a byte count");
  }
}

void set_once(std::string& field, std::string_view value) {
  if (field.empty()) {
    field = detail::clean_text(value);
  }
}

constexpr std::array<std::string_view, 4> k_pci_keys = {"pciDomain", "pciBus", "pciDevice",
                                                        "pciFunction"};

bool is_device_key(std::string_view key) {
  for (const std::string_view k : {"deviceName", "deviceType", "deviceUUID", "vendorID"}) {
    if (key == k) {
      return true;
    }
  }
  for (const std::string_view k : k_pci_keys) {
    if (key == k) {
      return true;
    }
  }
  return false;
}

void device_value(Device& d, std::string_view key, std::string_view value) {
  if (key == "deviceName") {
    set_once(d.name, value);
  } else if (key == "deviceType") {
    set_once(d.type, value);
  } else if (key == "deviceUUID") {
    set_once(d.uuid, value);
  } else if (key == "vendorID") {
    if (!d.vendor_id) {
      d.vendor_id = detail::parse_u64_auto(value.substr(0, value.find(' ')));
    }
  } else {
    for (std::size_t i = 0; i < k_pci_keys.size(); ++i) {
      if (key == k_pci_keys[i] && !d.pci[i]) {
        d.pci[i] = detail::parse_u64_auto(value.substr(0, value.find(' ')));
      }
    }
  }
}

void read_vulkan_line(State& s, const detail::Line& line, ProbeResult& result) {
  const std::string_view t = trim(line.text);
  if (const auto n = gpu_header(t)) {
    select(s, *n, line.number, result);
    return;
  }
  if (const auto id = gpu_id_line(t)) {
    if (Device* d = select(s, id->first, line.number, result); d != nullptr) {
      set_once(d->name_hint, id->second);
    }
    return;
  }
  if (t.starts_with("memoryHeaps[")) {
    const auto i = detail::parse_leading_u64(t.substr(12));
    s.heap.reset();
    Device* d = current(s);
    if (d != nullptr && i && *i < k_max_heaps) {
      s.heap = static_cast<std::size_t>(*i);
      if (d->heaps.size() <= *s.heap) {
        d->heaps.resize(*s.heap + 1);
      }
    }
    return;
  }
  if (t.starts_with("memoryType") || t.starts_with("Vk") || t.starts_with("Device Extensions")) {
    s.heap.reset();
  }
  const std::size_t eq = t.find('=');
  const std::string_view key = eq == std::string_view::npos ? t : trim(t.substr(0, eq));
  const std::string_view value = eq == std::string_view::npos ? "" : trim(t.substr(eq + 1));
  if (s.heap) { // s.heap is only set while a device is selected
    Heap& heap = s.devices[*s.device].heaps[*s.heap];
    if (t.find("DEVICE_LOCAL") != std::string_view::npos &&
        t.find("PROPERTY") == std::string_view::npos) {
      heap.device_local = true;
    }
    if (eq != std::string_view::npos) {
      heap_value(heap, key, value, line.number, result);
    }
    return;
  }
  if (eq != std::string_view::npos && is_device_key(key)) {
    if (Device* d = current(s); d != nullptr) {
      device_value(*d, key, value);
    }
  }
}

std::string pci_of(const Device& d) {
  for (const auto& part : d.pci) {
    if (!part || *part > 0xffffffffULL) {
      return "";
    }
  }
  static constexpr char k_hex[] = "0123456789abcdef";
  std::string text;
  for (std::size_t i = 0; i < d.pci.size(); ++i) {
    std::string digits;
    std::uint64_t v = *d.pci[i];
    do {
      digits.insert(digits.begin(), k_hex[v & 0xf]);
      v >>= 4;
    } while (v != 0);
    text += digits;
    text += i < 2 ? ":" : (i == 2 ? "." : "");
  }
  return normalize_pci(text); // range checks (device <= 0x1f, function <= 7) happen there
}

ProbedGpu vulkan_gpu_of(int index, const Device& d, ProbeResult& result) {
  ProbedGpu gpu;
  gpu.api = config::GpuApi::vulkan;
  gpu.index = index;
  gpu.source = std::string(k_vulkaninfo);
  gpu.name = !d.name.empty()        ? d.name
             : !d.name_hint.empty() ? d.name_hint
                                    : "Vulkan GPU " + std::to_string(index);
  gpu.vendor =
      d.vendor_id ? detail::vendor_from_pci_id(*d.vendor_id) : detail::vendor_from_name(gpu.name);
  gpu.unified = d.type.find("INTEGRATED_GPU") != std::string::npos;
  gpu.cpu = d.type.ends_with("CPU");
  gpu.uuid = d.uuid;
  gpu.pci = pci_of(d);
  const Heap* best = nullptr;
  for (const Heap& heap : d.heaps) {
    if (heap.device_local && heap.size && (best == nullptr || *heap.size > *best->size)) {
      best = &heap;
    }
  }
  if (best == nullptr) {
    if (!d.heaps.empty()) {
      add_warning(result, k_vulkaninfo, 0,
                  "GPU" + std::to_string(index) + ": no DEVICE_LOCAL heap of known size");
    }
    return gpu;
  }
  gpu.total_bytes = *best->size;
  if (best->budget && best->usage) {
    const std::uint64_t budget = std::min(*best->budget, *best->size);
    gpu.free_bytes = *best->usage >= budget ? 0 : budget - *best->usage;
  }
  return gpu;
}

} // namespace

Result<ProbeResult> parse_vulkaninfo(std::string_view out) {
  ProbeResult result;
  State state;
  for (const detail::Line& line : detail::split_lines(out)) {
    read_vulkan_line(state, line, result);
  }
  for (const auto& [index, device] : state.devices) {
    result.gpus.push_back(vulkan_gpu_of(index, device, result));
  }
  if (result.gpus.empty()) {
    return core::fail(core::Error::bad_request(
        "vulkaninfo: no GPU in the output" +
        (trim(out).empty() ? std::string() : ": " + quote(out.substr(0, 200)))));
  }
  return result;
}

} // namespace ask::router
