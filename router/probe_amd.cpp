// parse_rocm_smi (rocm-smi --json) and read_amdgpu_sysfs (/sys/class/drm/cardN/device).

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <system_error>

#include "config/jsonc.h"
#include "router/probe.h"
#include "router/probe_detail.h"

namespace ask::router {
namespace {

using config::Json;
using detail::add_warning;
using detail::quote;

constexpr std::string_view k_rocm_smi = "rocm-smi";

// A member's text: strings as they are, non-negative integers printed; "" for anything else or
// absent.
std::string text_of(const Json& card, const char* key) {
  const auto it = card.find(key);
  if (it == card.end()) {
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

bool is_hex_id(std::string_view text) {
  return core::istarts_with(text, "0x");
}

// "Device Name" (rocm-smi 6 --showid), else the series (older builds print it lower-case and
// sometimes as a hex id), else the model, else "AMD GPU (gfx1201)" from what is known.
std::string name_of(const Json& card) {
  for (const char* key :
       {"Device Name", "Card Series", "Card series", "Card Model", "Card model"}) {
    const std::string value = text_of(card, key);
    if (!detail::is_unknown_value(value) && !is_hex_id(core::trim(value))) {
      return detail::clean_text(value);
    }
  }
  for (const char* key : {"GFX Version", "Device ID", "GPU ID"}) {
    const std::string value = text_of(card, key);
    if (!detail::is_unknown_value(value)) {
      return "AMD GPU (" + detail::clean_text(value) + ")";
    }
  }
  return "AMD GPU";
}

// The index N of "cardN", nullopt for other keys.
std::optional<int> card_index(std::string_view key) {
  if (key.size() < 5 || key.substr(0, 4) != "card") {
    return std::nullopt;
  }
  const auto n = detail::parse_u64(key.substr(4));
  if (!n || *n >= detail::k_max_devices || key.size() > 8) {
    return std::nullopt;
  }
  return static_cast<int>(*n);
}

ProbedGpu gpu_of(const Json& card, int index, std::size_t line, ProbeResult& result) {
  ProbedGpu gpu;
  gpu.api = config::GpuApi::rocm;
  gpu.vendor = config::GpuVendor::amd;
  gpu.source = std::string(k_rocm_smi);
  gpu.index = index;
  gpu.name = name_of(card);
  const std::string total_text = text_of(card, "VRAM Total Memory (B)");
  const auto total = detail::plausible_bytes(detail::parse_u64(total_text));
  const auto used =
      detail::plausible_bytes(detail::parse_u64(text_of(card, "VRAM Total Used Memory (B)")));
  if (!total) {
    add_warning(result, k_rocm_smi, line,
                "card" + std::to_string(index) + ": no readable \"VRAM Total Memory (B)\"" +
                    (total_text.empty() ? std::string() : " (" + quote(total_text) + ")") +
                    "; memory unknown");
  }
  gpu.total_bytes = total.value_or(0);
  gpu.free_bytes = detail::free_from_used(total, used);
  const std::string pci = text_of(card, "PCI Bus");
  if (!detail::is_unknown_value(pci)) {
    gpu.pci = normalize_pci(pci);
    if (gpu.pci.empty()) {
      add_warning(result, k_rocm_smi, line, "\"PCI Bus\" " + quote(pci) + " is not a PCI address");
    }
  }
  const std::string uuid = text_of(card, "Unique ID");
  gpu.uuid = detail::is_unknown_value(uuid) ? "" : detail::clean_text(uuid);
  return gpu;
}

// Reads at most 64 KiB of a small sysfs file; nullopt when it cannot be opened.
std::optional<std::string> read_small_file(const std::filesystem::path& path) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) {
    return std::nullopt;
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return std::nullopt;
  }
  std::string text(64 * 1024, '\0');
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  text.resize(static_cast<std::size_t>(in.gcount()));
  return text;
}

// PCI_SLOT_NAME (normalised) and PCI_ID ("1002:7551") from a uevent file.
void read_uevent(std::string_view text, ProbedGpu& gpu, std::string& pci_id) {
  for (const detail::Line& line : detail::split_lines(text)) {
    const std::string_view t = core::trim(line.text);
    if (t.starts_with("PCI_SLOT_NAME=")) {
      gpu.pci = normalize_pci(t.substr(14));
    } else if (t.starts_with("PCI_ID=")) {
      pci_id = detail::clean_text(t.substr(7));
    }
  }
}

} // namespace

Result<ProbeResult> parse_rocm_smi(std::string_view out) {
  const auto start = detail::find_json_start(out);
  if (!start) {
    return core::fail(
        core::Error::bad_request("rocm-smi: no JSON in the output" +
                                 (core::trim(out).empty() ? std::string() : ": " + quote(out))));
  }
  auto doc = config::parse_jsonc(out.substr(start->offset));
  if (!doc) {
    return core::fail(core::Error::bad_request(
        "rocm-smi line " + std::to_string(doc.error().pos.line + start->lines_skipped) +
        ": not JSON: " + doc.error().message));
  }
  if (!doc->value.is_object()) {
    return core::fail(core::Error::bad_request("rocm-smi: the JSON is not an object of cards"));
  }
  ProbeResult result;
  std::set<int> seen;
  for (const auto& [key, card] : doc->value.items()) {
    const std::size_t pos =
        static_cast<std::size_t>(doc->position(config::path_member("", key)).line);
    const std::size_t line = pos == 0 ? 0 : pos + start->lines_skipped;
    if (key == "system") {
      continue;
    }
    const auto index = card_index(key);
    if (!index || !card.is_object()) {
      add_warning(result, k_rocm_smi, line, "ignored member " + quote(key));
      continue;
    }
    if (!seen.insert(*index).second) {
      continue;
    }
    if (result.gpus.size() >= detail::k_max_devices) {
      add_warning(result, k_rocm_smi, line, "too many GPUs; the rest are ignored");
      break;
    }
    result.gpus.push_back(gpu_of(card, *index, line, result));
  }
  if (result.gpus.empty()) {
    return core::fail(core::Error::bad_request("rocm-smi: no \"cardN\" object in the JSON"));
  }
  return result;
}

Result<ProbedGpu> read_amdgpu_sysfs(const std::filesystem::path& device_dir, int index) {
  const auto where = [&](const char* file) { return (device_dir / file).string(); };
  const auto total_text = read_small_file(device_dir / "mem_info_vram_total");
  if (!total_text) {
    return core::fail(core::Error::not_found("sysfs: cannot read " + where("mem_info_vram_total")));
  }
  const auto total = detail::plausible_bytes(detail::parse_u64(*total_text));
  if (!total) {
    return core::fail(core::Error::bad_request("sysfs: " + where("mem_info_vram_total") +
                                               " holds " + quote(*total_text) +
                                               ", not a byte count"));
  }
  ProbedGpu gpu;
  gpu.api = config::GpuApi::rocm;
  gpu.vendor = config::GpuVendor::amd;
  gpu.source = "sysfs";
  gpu.index = index;
  gpu.total_bytes = *total;
  if (const auto used_text = read_small_file(device_dir / "mem_info_vram_used")) {
    gpu.free_bytes =
        detail::free_from_used(total, detail::plausible_bytes(detail::parse_u64(*used_text)));
  }
  std::string pci_id;
  if (const auto uevent = read_small_file(device_dir / "uevent")) {
    read_uevent(*uevent, gpu, pci_id);
  }
  const auto product = read_small_file(device_dir / "product_name");
  if (product && !detail::is_unknown_value(*product)) {
    gpu.name = detail::clean_text(*product);
  } else {
    gpu.name = pci_id.empty() ? "AMD GPU" : "AMD GPU (" + pci_id + ")";
  }
  return gpu;
}

} // namespace ask::router
