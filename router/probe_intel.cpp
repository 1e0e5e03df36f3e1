// parse_xpu_smi: `xpu-smi discovery -j` ({"device_list": [...]}) and the single-device
// object of `xpu-smi discovery -d N -j`. Intel GPUs, indexed for the SYCL backend.
// parse_xpu_smi_stats: the memory in use from `xpu-smi stats -d N -j`.
// read_intel_sysfs_memory: what the i915 (backports) and xe drivers publish in sysfs.

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "config/jsonc.h"
#include "router/probe.h"
#include "router/probe_detail.h"

namespace ask::router {
namespace {

using config::Json;
using detail::add_warning;
using detail::quote;

constexpr std::string_view k_xpu_smi = "xpu-smi";

// A member's text: strings as they are, non-negative integers printed; "" otherwise.
std::string xpu_text_of(const Json& device, const char* key) {
  const auto it = device.find(key);
  if (it == device.end()) {
    return "";
  }
  if (it->is_string()) {
    return it->get_ref<const std::string&>();
  }
  if (it->is_number_unsigned() || (it->is_number_integer() && it->get<std::int64_t>() >= 0)) {
    return std::to_string(it->get<std::uint64_t>());
  }
  return "";
}

// One device, or nullopt (after a warning) for a non-GPU device or an unreadable one.
// `listed`: from the device_list of `xpu-smi discovery -j`, which never carries the memory
// (probe() asks `xpu-smi discovery -d N -j` for it), so its absence there is no news.
std::optional<ProbedGpu> xpu_gpu_of(const Json& device, std::size_t ordinal, std::size_t line,
                                    bool listed, ProbeResult& result) {
  if (!device.is_object()) {
    add_warning(result, k_xpu_smi, line, "a device_list entry is not an object");
    return std::nullopt;
  }
  const std::string type = xpu_text_of(device, "device_type");
  if (!type.empty() && type != "GPU") {
    add_warning(result, k_xpu_smi, line, "device of type " + quote(type) + " ignored");
    return std::nullopt;
  }
  ProbedGpu gpu;
  gpu.api = config::GpuApi::sycl;
  gpu.vendor = config::GpuVendor::intel;
  gpu.source = std::string(k_xpu_smi);
  gpu.index = static_cast<int>(ordinal);
  const std::string id = xpu_text_of(device, "device_id");
  if (!id.empty()) {
    const auto n = detail::parse_u64(id);
    if (!n || *n >= detail::k_max_devices) {
      add_warning(result, k_xpu_smi, line, "device_id " + quote(id) + " is not an index; skipped");
      return std::nullopt;
    }
    gpu.index = static_cast<int>(*n);
  }
  const std::string name = xpu_text_of(device, "device_name");
  gpu.name = detail::is_unknown_value(name) ? "Intel GPU" : detail::clean_text(name);
  const std::string uuid = xpu_text_of(device, "uuid");
  gpu.uuid = detail::is_unknown_value(uuid) ? "" : detail::clean_text(uuid);
  const std::string pci = xpu_text_of(device, "pci_bdf_address");
  if (!detail::is_unknown_value(pci)) {
    gpu.pci = normalize_pci(pci);
    if (gpu.pci.empty()) {
      add_warning(result, k_xpu_smi, line,
                  "pci_bdf_address " + quote(pci) + " is not a PCI address");
    }
  }
  const std::string total_text = xpu_text_of(device, "memory_physical_size_byte");
  const auto total = detail::plausible_bytes(detail::parse_u64(total_text));
  if (!total && !(listed && !device.contains("memory_physical_size_byte"))) {
    add_warning(result, k_xpu_smi, line,
                "device " + std::to_string(gpu.index) +
                    ": no readable memory_physical_size_byte; memory unknown");
  }
  gpu.total_bytes = total.value_or(0);
  const auto free =
      detail::plausible_bytes(detail::parse_u64(xpu_text_of(device, "memory_free_size_byte")));
  if (free && total) {
    gpu.free_bytes = std::min(*free, *total);
  }
  return gpu;
}

} // namespace

Result<ProbeResult> parse_xpu_smi(std::string_view out) {
  const auto start = detail::find_json_start(out);
  if (!start) {
    return core::fail(
        core::Error::bad_request("xpu-smi: no JSON in the output" +
                                 (core::trim(out).empty() ? std::string() : ": " + quote(out))));
  }
  auto doc = config::parse_jsonc(out.substr(start->offset));
  if (!doc) {
    return core::fail(core::Error::bad_request(
        "xpu-smi line " + std::to_string(doc.error().pos.line + start->lines_skipped) +
        ": not JSON: " + doc.error().message));
  }
  const Json& root = doc->value;
  const Json* list = nullptr;
  std::string list_path;
  if (root.is_array()) {
    list = &root;
  } else if (root.is_object() && root.contains("device_list") && root["device_list"].is_array()) {
    list = &root["device_list"];
    list_path = "device_list";
  }
  ProbeResult result;
  std::set<int> seen;
  const auto take = [&](const Json& device, std::size_t i, std::size_t pos) {
    const std::size_t line = pos == 0 ? 0 : pos + start->lines_skipped;
    auto gpu = xpu_gpu_of(device, i, line, list != nullptr, result);
    if (!gpu) {
      return;
    }
    if (!seen.insert(gpu->index).second) {
      add_warning(result, k_xpu_smi, line,
                  "device_id " + std::to_string(gpu->index) + " repeated; skipped");
      return;
    }
    result.gpus.push_back(std::move(*gpu));
  };
  if (list != nullptr) {
    for (std::size_t i = 0; i < list->size() && i < detail::k_max_devices; ++i) {
      const auto pos = doc->position(config::path_index(list_path, i)).line;
      take((*list)[i], i, static_cast<std::size_t>(pos));
    }
  } else if (root.is_object() && (root.contains("device_id") || root.contains("device_name"))) {
    take(root, 0, 1); // discovery -d N -j: one device's object
  }
  if (result.gpus.empty()) {
    std::string message = "xpu-smi: no GPU in the JSON";
    if (!result.warnings.empty()) {
      message += " (" + result.warnings.front() + ")";
    }
    return core::fail(core::Error::bad_request(std::move(message)));
  }
  return result;
}

} // namespace ask::router

namespace ask::router {
namespace {

// A small sysfs file's first line; nullopt when it cannot be read.
std::optional<std::string> read_first_line(const std::filesystem::path& path) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) {
    return std::nullopt;
  }
  std::ifstream in(path, std::ios::binary);
  std::string text(256, '\0');
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  if (in.bad()) {
    return std::nullopt;
  }
  text.resize(static_cast<std::size_t>(in.gcount()));
  return std::string(core::trim(text.substr(0, text.find('\n'))));
}

// A byte count from a sysfs file; nullopt (with `bad` set) when the file holds something else.
std::optional<std::uint64_t> bytes_in(const std::filesystem::path& path, std::string& bad) {
  const auto text = read_first_line(path);
  if (!text) {
    return std::nullopt;
  }
  const auto n = detail::plausible_bytes(detail::parse_u64(*text));
  if (!n) {
    bad = path.string() + " holds " + quote(*text) + ", not a byte count";
  }
  return n;
}

} // namespace

Result<XpuStats> parse_xpu_smi_stats(std::string_view out) {
  const auto start = detail::find_json_start(out);
  if (!start) {
    return core::fail(
        core::Error::bad_request("xpu-smi stats: no JSON in the output" +
                                 (core::trim(out).empty() ? std::string() : ": " + quote(out))));
  }
  auto doc = config::parse_jsonc(out.substr(start->offset));
  if (!doc) {
    return core::fail(core::Error::bad_request(
        "xpu-smi stats line " +
        std::to_string(static_cast<std::size_t>(doc.error().pos.line) + start->lines_skipped) +
        ": not JSON: " + doc.error().message));
  }
  const Json& root = doc->value;
  if (!root.is_object()) {
    return core::fail(core::Error::bad_request("xpu-smi stats: the JSON is not an object"));
  }
  if (const std::string error = xpu_text_of(root, "error"); !error.empty()) {
    return core::fail(core::Error::bad_request("xpu-smi stats: " + detail::clean_text(error)));
  }
  XpuStats stats;
  const std::string id = xpu_text_of(root, "device_id");
  if (const auto n = detail::parse_u64(id); n && *n < detail::k_max_devices) {
    stats.device = static_cast<int>(*n);
  }
  const auto levels = root.find("device_level");
  if (levels == root.end() || !levels->is_array()) {
    return core::fail(core::Error::bad_request("xpu-smi stats: no \"device_level\" list"));
  }
  for (std::size_t i = 0; i < levels->size(); ++i) {
    const Json& metric = (*levels)[i];
    if (!metric.is_object() || xpu_text_of(metric, "metrics_type") != "XPUM_STATS_MEMORY_USED") {
      continue;
    }
    const auto pos = doc->position(config::path_index("device_level", i)).line;
    const std::size_t line = pos == 0 ? 0 : static_cast<std::size_t>(pos) + start->lines_skipped;
    const auto value = metric.find("value");
    const bool number = value != metric.end() && value->is_number() && value->get<double>() >= 0 &&
                        value->get<double>() < 1e9;
    if (!number) {
      ProbeResult sink;
      add_warning(sink, "xpu-smi stats", line, "XPUM_STATS_MEMORY_USED is not a number of MiB");
      stats.warnings.insert(stats.warnings.end(), sink.warnings.begin(), sink.warnings.end());
      continue;
    }
    // MiB as a decimal number (229.1875): rounded up to whole bytes.
    stats.used_bytes =
        static_cast<std::uint64_t>(std::ceil(value->get<double>() * 1024.0 * 1024.0));
    break;
  }
  if (!stats.used_bytes) {
    std::string message = "xpu-smi stats: no XPUM_STATS_MEMORY_USED in \"device_level\"";
    if (!stats.warnings.empty()) {
      message += " (" + stats.warnings.front() + ")";
    }
    return core::fail(core::Error::bad_request(std::move(message)));
  }
  return stats;
}

Result<SysfsMemory> read_intel_sysfs_memory(const std::filesystem::path& card_dir) {
  std::string bad;
  SysfsMemory memory;
  // i915 from Intel's backports package: on the DRM minor, summed over local memory regions.
  if (const auto total = bytes_in(card_dir / "lmem_total_bytes", bad); total && *total > 0) {
    memory.total_bytes = *total;
    memory.file = (card_dir / "lmem_total_bytes").string();
    if (const auto avail = bytes_in(card_dir / "lmem_avail_bytes", bad)) {
      memory.free_bytes = std::min(*avail, *total);
    }
    return memory;
  }
  // xe: per tile, on the PCI device (the 6.8-era xe_tile_sysfs.c has it; 6.12's does not).
  std::error_code ec;
  std::vector<std::filesystem::path> tiles;
  for (const auto& entry : std::filesystem::directory_iterator(card_dir / "device", ec)) {
    const std::string name = entry.path().filename().string();
    if (name.starts_with("tile") && detail::parse_u64(std::string_view(name).substr(4))) {
      tiles.push_back(entry.path() / "physical_vram_size_bytes");
    }
  }
  std::sort(tiles.begin(), tiles.end());
  for (const auto& file : tiles) {
    if (const auto size = bytes_in(file, bad)) {
      memory.total_bytes += *size;
      memory.file = memory.file.empty() ? file.string() : memory.file;
    }
  }
  if (memory.total_bytes > 0 && memory.total_bytes <= detail::k_max_plausible_bytes) {
    return memory;
  }
  return core::fail(bad.empty() ? core::Error::not_found("sysfs: " + card_dir.string() +
                                                         " publishes no device memory size")
                                : core::Error::bad_request("sysfs: " + bad));
}

} // namespace ask::router
