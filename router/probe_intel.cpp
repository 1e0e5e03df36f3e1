// parse_xpu_smi: `xpu-smi discovery -j` ({"device_list": [...]}) and the single-device
// object of `xpu-smi discovery -d N -j`. Intel GPUs, indexed for the SYCL backend.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <string_view>

#include "config/jsonc.h"
#include "router/probe.h"
#include "router/probe_detail.h"

namespace ask::router {
namespace {

using config::Json;
using detail::add_warning;
using detail::quote;

constexpr std::string_view k_tool = "xpu-smi";

// A member's text: strings as they are, non-negative integers printed; "" otherwise.
std::string text_of(const Json& device, const char* key) {
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
std::optional<ProbedGpu> gpu_of(const Json& device, std::size_t ordinal, std::size_t line,
                                ProbeResult& result) {
  if (!device.is_object()) {
    add_warning(result, k_tool, line, "a device_list entry is not an object");
    return std::nullopt;
  }
  const std::string type = text_of(device, "device_type");
  if (!type.empty() && type != "GPU") {
    add_warning(result, k_tool, line, "device of type " + quote(type) + " ignored");
    return std::nullopt;
  }
  ProbedGpu gpu;
  gpu.api = config::GpuApi::sycl;
  gpu.vendor = config::GpuVendor::intel;
  gpu.source = std::string(k_tool);
  gpu.index = static_cast<int>(ordinal);
  const std::string id = text_of(device, "device_id");
  if (!id.empty()) {
    const auto n = detail::parse_u64(id);
    if (!n || *n >= detail::k_max_devices) {
      add_warning(result, k_tool, line, "device_id " + quote(id) + " is not an index; skipped");
      return std::nullopt;
    }
    gpu.index = static_cast<int>(*n);
  }
  const std::string name = text_of(device, "device_name");
  gpu.name = detail::is_unknown_value(name) ? "Intel GPU" : detail::clean_text(name);
  const std::string uuid = text_of(device, "uuid");
  gpu.uuid = detail::is_unknown_value(uuid) ? "" : detail::clean_text(uuid);
  const std::string pci = text_of(device, "pci_bdf_address");
  if (!detail::is_unknown_value(pci)) {
    gpu.pci = normalize_pci(pci);
    if (gpu.pci.empty()) {
      add_warning(result, k_tool, line, "pci_bdf_address " + quote(pci) + " is not a PCI address");
    }
  }
  const auto total =
      detail::plausible_bytes(detail::parse_u64(text_of(device, "memory_physical_size_byte")));
  if (!total) {
    add_warning(result, k_tool, line,
                "device " + std::to_string(gpu.index) +
                    ": no readable memory_physical_size_byte; memory unknown");
  }
  gpu.total_bytes = total.value_or(0);
  const auto free =
      detail::plausible_bytes(detail::parse_u64(text_of(device, "memory_free_size_byte")));
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
                                 (detail::trim(out).empty() ? std::string() : ": " + quote(out))));
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
    auto gpu = gpu_of(device, i, line, result);
    if (!gpu) {
      return;
    }
    if (!seen.insert(gpu->index).second) {
      add_warning(result, k_tool, line,
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
