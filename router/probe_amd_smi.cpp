// parse_amd_smi: `amd-smi static --json` and `amd-smi metric --json`, ROCm 6.0 and later.

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "config/jsonc.h"
#include "router/probe.h"
#include "router/probe_detail.h"

namespace ask::router {
namespace {

using config::Json;
using detail::add_warning;
using detail::quote;

constexpr std::string_view k_static = "amd-smi static";
constexpr std::string_view k_metric = "amd-smi metric";

// One amd-smi JSON document and where its list of GPUs is in it: the top level (ROCm 6.0 to
// 6.3) or "gpu_data" (later versions).
struct Document {
  config::JsoncDocument doc;
  std::string list_path;         // "" or "gpu_data"
  std::size_t lines_skipped = 0; // lead lines before the JSON ("WARNING: …")

  const Json& list() const { return list_path.empty() ? doc.value : doc.value.at(list_path); }
  // The line entry `i` of the list starts on; 0 when unknown.
  std::size_t line_of(std::size_t i) const {
    const auto line = static_cast<std::size_t>(doc.position(config::path_index(list_path, i)).line);
    return line == 0 ? 0 : line + lines_skipped;
  }
};

// The document in `out`, or why there is none.
Result<Document> document_of(std::string_view out, std::string_view tool) {
  const auto start = detail::find_json_start(out);
  if (!start) {
    return core::fail(
        core::Error::bad_request(std::string(tool) + ": no JSON in the output" +
                                 (core::trim(out).empty() ? std::string() : ": " + quote(out))));
  }
  auto doc = config::parse_jsonc(out.substr(start->offset));
  if (!doc) {
    return core::fail(core::Error::bad_request(
        std::string(tool) + " line " +
        std::to_string(static_cast<std::size_t>(doc.error().pos.line) + start->lines_skipped) +
        ": not JSON: " + doc.error().message));
  }
  Document d{std::move(*doc), "", start->lines_skipped};
  const Json& root = d.doc.value;
  if (root.is_object() && root.contains("gpu_data") && root["gpu_data"].is_array()) {
    d.list_path = "gpu_data";
  } else if (!root.is_array()) {
    return core::fail(core::Error::bad_request(
        std::string(tool) + ": the JSON is neither a list of GPUs nor {\"gpu_data\": [...]}"));
  }
  return d;
}

// The member `key` of `object`, or null when `object` is not an object or lacks it.
const Json* member(const Json& object, const char* key) {
  if (!object.is_object()) {
    return nullptr;
  }
  const auto it = object.find(key);
  return it == object.end() ? nullptr : &*it;
}

// A string member's text; "" for anything else.
std::string amd_text_of(const Json* value) {
  return value != nullptr && value->is_string() ? value->get<std::string>() : std::string();
}

// A non-negative number (integer, or a double rounded down); nullopt otherwise.
std::optional<std::uint64_t> count_of(const Json& value) {
  if (value.is_number_unsigned()) {
    return value.get<std::uint64_t>();
  }
  if (value.is_number_integer()) {
    const auto v = value.get<std::int64_t>();
    return v < 0 ? std::nullopt : std::optional<std::uint64_t>(static_cast<std::uint64_t>(v));
  }
  if (value.is_number_float()) {
    const double v = value.get<double>();
    if (!std::isfinite(v) || v < 0 || v >= 1.8e19) {
      return std::nullopt;
    }
    return static_cast<std::uint64_t>(v);
  }
  return std::nullopt;
}

// Bytes in one `unit` as amd-smi writes it; its "MB" is 2^20 bytes (it divides by 1024*1024).
std::optional<std::uint64_t> amd_unit_bytes(std::string_view unit) {
  if (unit == "B") {
    return 1;
  }
  if (unit == "KB" || unit == "KiB") {
    return std::uint64_t{1} << 10;
  }
  if (unit == "MB" || unit == "MiB") {
    return std::uint64_t{1} << 20;
  }
  if (unit == "GB" || unit == "GiB") {
    return std::uint64_t{1} << 30;
  }
  return std::nullopt;
}

// A memory figure: {"value": N, "unit": "MB"} (ROCm 6.1 on) or a bare number of MB (6.0).
// nullopt for "N/A" and absent values (silently) and for anything unreadable (with a warning).
std::optional<std::uint64_t> bytes_of(const Json* value, std::string_view what,
                                      std::string_view tool, std::size_t line,
                                      ProbeResult& result) {
  if (value == nullptr || (value->is_string() && detail::is_unknown_value(amd_text_of(value)))) {
    return std::nullopt;
  }
  const Json* number = value;
  std::string unit = "MB";
  if (value->is_object()) {
    number = member(*value, "value");
    const Json* u = member(*value, "unit");
    if (u != nullptr) {
      unit = amd_text_of(u);
    }
    if (number == nullptr ||
        (number->is_string() && detail::is_unknown_value(amd_text_of(number)))) {
      return std::nullopt;
    }
  }
  const auto n = count_of(*number);
  const auto scale = amd_unit_bytes(unit);
  if (!n || !scale) {
    add_warning(result, tool, line,
                std::string(what) + " is not a memory figure" +
                    (scale ? std::string() : " (unit " + quote(unit) + ")") + "; ignored");
    return std::nullopt;
  }
  if (*n > detail::k_max_plausible_bytes / *scale) {
    add_warning(result, tool, line, std::string(what) + " is implausibly large; ignored");
    return std::nullopt;
  }
  return *n * *scale;
}

// The "gpu" number of an entry; nullopt (after a warning) when missing or out of range.
std::optional<int> gpu_index(const Json& entry, std::string_view tool, std::size_t line,
                             ProbeResult& result) {
  const Json* gpu = member(entry, "gpu");
  const auto n = gpu != nullptr && !gpu->is_number_float() ? count_of(*gpu) : std::nullopt;
  if (!n || *n >= detail::k_max_devices) {
    add_warning(result, tool, line,
                entry.is_object() ? "an entry without a GPU number (\"gpu\"); skipped"
                                  : "an entry is not an object; skipped");
    return std::nullopt;
  }
  return static_cast<int>(*n);
}

ProbedGpu blank(int index) {
  ProbedGpu gpu;
  gpu.api = config::GpuApi::rocm;
  gpu.vendor = config::GpuVendor::amd;
  gpu.source = "amd-smi";
  gpu.index = index;
  return gpu;
}

// The name from asic.market_name, else board.product_name, else the gfx target.
std::string amd_name_of(const Json& entry) {
  const Json* asic = member(entry, "asic");
  for (const std::string& name :
       {amd_text_of(asic != nullptr ? member(*asic, "market_name") : nullptr),
        amd_text_of(member(entry, "board") != nullptr
                        ? member(*member(entry, "board"), "product_name")
                        : nullptr)}) {
    if (!detail::is_unknown_value(name)) {
      return detail::clean_text(name);
    }
  }
  const std::string gfx =
      amd_text_of(asic != nullptr ? member(*asic, "target_graphics_version") : nullptr);
  return detail::is_unknown_value(gfx) ? "AMD GPU" : "AMD GPU (" + detail::clean_text(gfx) + ")";
}

// Fills name, PCI address and the VRAM size from one `amd-smi static` entry.
void take_static(const Json& entry, std::size_t line, ProbedGpu& gpu, ProbeResult& result) {
  gpu.name = amd_name_of(entry);
  const Json* bus = member(entry, "bus");
  const std::string bdf = amd_text_of(bus != nullptr ? member(*bus, "bdf") : nullptr);
  if (!detail::is_unknown_value(bdf)) {
    gpu.pci = normalize_pci(bdf);
    if (gpu.pci.empty()) {
      add_warning(result, k_static, line, "bus.bdf " + quote(bdf) + " is not a PCI address");
    }
  }
  const Json* vram = member(entry, "vram");
  if (vram != nullptr && vram->is_object()) {
    // ROCm 6.1 on: "size": {"value", "unit"}; ROCm 6.0: "vram_size_mb": N.
    const Json* size = member(*vram, "size");
    const auto total = size != nullptr ? bytes_of(size, "vram.size", k_static, line, result)
                                       : bytes_of(member(*vram, "vram_size_mb"),
                                                  "vram.vram_size_mb", k_static, line, result);
    gpu.total_bytes = total.value_or(0);
  }
}

// Fills total and free VRAM from one `amd-smi metric` entry.
void take_metric(const Json& entry, std::size_t line, ProbedGpu& gpu, ProbeResult& result) {
  const Json* usage = member(entry, "mem_usage");
  if (usage == nullptr || !usage->is_object()) {
    return;
  }
  const auto total =
      bytes_of(member(*usage, "total_vram"), "mem_usage.total_vram", k_metric, line, result);
  const auto used =
      bytes_of(member(*usage, "used_vram"), "mem_usage.used_vram", k_metric, line, result);
  const auto free =
      bytes_of(member(*usage, "free_vram"), "mem_usage.free_vram", k_metric, line, result);
  if (total) {
    gpu.total_bytes = *total;
  }
  const std::optional<std::uint64_t> known_total =
      gpu.total_bytes > 0 ? std::optional<std::uint64_t>(gpu.total_bytes) : std::nullopt;
  if (free) {
    gpu.free_bytes = known_total ? std::min(*free, *known_total) : *free;
  } else {
    gpu.free_bytes = detail::free_from_used(known_total, used);
  }
}

} // namespace

Result<ProbeResult> parse_amd_smi(std::string_view static_json, std::string_view metric_json) {
  ProbeResult result;
  std::map<int, ProbedGpu> gpus;
  std::vector<std::string> failures;
  const auto read = [&](std::string_view out, std::string_view tool, bool is_static) {
    if (core::trim(out).empty()) {
      return;
    }
    const Result<Document> d = document_of(out, tool);
    if (!d) {
      failures.push_back(d.error().message);
      return;
    }
    const Json& list = d->list();
    std::map<int, bool> seen;
    for (std::size_t i = 0; i < list.size(); ++i) {
      const Json& entry = list[i];
      const std::size_t line = d->line_of(i);
      const auto index = gpu_index(entry, tool, line, result);
      if (!index) {
        continue;
      }
      if (seen[*index]) {
        add_warning(result, tool, line, "GPU " + std::to_string(*index) + " repeated; skipped");
        continue;
      }
      seen[*index] = true;
      if (!gpus.contains(*index) && gpus.size() >= detail::k_max_devices) {
        add_warning(result, tool, line, "too many GPUs; the rest are ignored");
        break;
      }
      ProbedGpu& gpu = gpus.try_emplace(*index, blank(*index)).first->second;
      if (is_static) {
        take_static(entry, line, gpu, result);
      } else {
        take_metric(entry, line, gpu, result);
      }
    }
  };
  read(static_json, k_static, true);
  read(metric_json, k_metric, false);
  for (auto& [index, gpu] : gpus) {
    if (gpu.name.empty()) {
      gpu.name = "AMD GPU";
    }
    if (gpu.total_bytes == 0) {
      add_warning(result, "amd-smi", 0,
                  "GPU " + std::to_string(index) + ": no readable VRAM size; memory unknown");
    }
    result.gpus.push_back(std::move(gpu));
  }
  if (result.gpus.empty()) {
    std::string message = "amd-smi: no GPU in the output";
    for (const std::string& f : failures) {
      message += "; " + f;
    }
    if (failures.empty() && !result.warnings.empty()) {
      message += " (" + result.warnings.front() + ")";
    }
    return core::fail(core::Error::bad_request(std::move(message)));
  }
  for (const std::string& f : failures) {
    result.warnings.push_back(f);
  }
  return result;
}

} // namespace ask::router
