// parse_list_devices and parse_llama_version: what a llama.cpp build says of itself
// (common_print_available_devices and llama_print_build_info in llama.cpp's common/).

#include <algorithm>
#include <cctype>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>

#include "router/probe.h"
#include "router/probe_detail.h"

namespace ask::router {
namespace {

using detail::add_warning;
using detail::quote;

constexpr std::string_view k_list_devices = "llama-server --list-devices";

bool is_decimal_digit(char c) {
  return c >= '0' && c <= '9';
}
bool is_alpha(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

// The API of a device-name prefix as ggml names its devices ("CUDA0", "ROCm1", "Vulkan0",
// "SYCL0", "MTL0"); nullopt for the others.
std::optional<config::GpuApi> api_of(std::string_view prefix) {
  if (prefix == "CUDA") {
    return config::GpuApi::cuda;
  }
  if (prefix == "ROCm") {
    return config::GpuApi::rocm;
  }
  if (prefix == "Vulkan") {
    return config::GpuApi::vulkan;
  }
  if (prefix == "SYCL") {
    return config::GpuApi::sycl;
  }
  if (prefix == "MTL") {
    return config::GpuApi::metal;
  }
  return std::nullopt;
}

// "<T> MiB, <F> MiB free" → (T, F) in MiB.
std::optional<std::pair<std::uint64_t, std::uint64_t>> memory_of(std::string_view text) {
  constexpr std::string_view k_mib_sep = " MiB, ";
  constexpr std::string_view k_free = " MiB free";
  const std::size_t comma = text.find(k_mib_sep);
  if (comma == std::string_view::npos || !text.ends_with(k_free)) {
    return std::nullopt;
  }
  const auto total = detail::parse_u64(text.substr(0, comma));
  const std::size_t free_at = comma + k_mib_sep.size();
  if (free_at > text.size() - k_free.size()) {
    return std::nullopt;
  }
  const auto free = detail::parse_u64(text.substr(free_at, text.size() - k_free.size() - free_at));
  if (!total || !free) {
    return std::nullopt;
  }
  return std::pair{*total, *free};
}

// One device line, or a reason it is not one.
struct DeviceLine {
  std::string name;        // "Vulkan0"
  std::string description; // "AMD Radeon RX 7600 (RADV NAVI33)"
  std::uint64_t total_mib = 0;
  std::uint64_t free_mib = 0;
  std::string pci; // from a " [PCI dddd:bb:dd.f]" suffix some patched builds print
};

// "  Vulkan0: AMD Radeon RX 7600 (RADV NAVI33) (8176 MiB, 4751 MiB free)". The description
// may hold parentheses and colons; the memory group is the last parenthesised one.
std::optional<DeviceLine> device_line(std::string_view text) {
  text = core::trim(text);
  const std::size_t colon = text.find(": ");
  if (colon == std::string_view::npos || colon == 0 || colon > 64) {
    return std::nullopt;
  }
  DeviceLine d;
  d.name = std::string(text.substr(0, colon));
  std::string_view rest = text.substr(colon + 2);
  if (rest.ends_with("]")) {
    const std::size_t open = rest.rfind(" [PCI ");
    if (open != std::string_view::npos) {
      d.pci = normalize_pci(rest.substr(open + 6, rest.size() - open - 7));
      rest = core::trim(rest.substr(0, open));
    }
  }
  if (!rest.ends_with(")")) {
    return std::nullopt;
  }
  const std::size_t open = rest.rfind(" (");
  if (open == std::string_view::npos) {
    return std::nullopt;
  }
  const auto memory = memory_of(rest.substr(open + 2, rest.size() - open - 3));
  if (!memory) {
    return std::nullopt;
  }
  d.total_mib = memory->first;
  d.free_mib = memory->second;
  d.description = detail::clean_text(rest.substr(0, open));
  return d;
}

// The prefix and ordinal of a device name ("Vulkan" and 12 of "Vulkan12"); ordinal nullopt
// when the name does not end in digits.
std::pair<std::string_view, std::optional<std::uint64_t>> split_name(std::string_view name) {
  std::size_t end = 0;
  while (end < name.size() && is_alpha(name[end])) {
    ++end;
  }
  const std::string_view digits = name.substr(end);
  const bool numbered =
      !digits.empty() && digits.size() <= 4 &&
      std::all_of(digits.begin(), digits.end(), [](char c) { return is_decimal_digit(c); });
  return {name.substr(0, end), numbered ? detail::parse_u64(digits) : std::nullopt};
}

// What `each` sees of one line of `--list-devices` output below "Available devices:": the
// line's number and text, and the device it lists (nullopt: not a device line).
struct ListedLine {
  std::size_t number = 0;
  std::string_view text;
  std::optional<DeviceLine> device;
};

// Walks `out`: lines `skip` takes (any line, before the list too) are passed over; then each
// line of the list that is not empty or "(none)" goes to `each`, until it returns false.
// False when the output has no "Available devices:" line.
template <class Skip, class Each>
bool walk_device_list(std::string_view out, Skip skip, Each each) {
  bool header = false;
  for (const detail::Line& line : detail::split_lines(out)) {
    const std::string_view text = core::trim(line.text);
    if (skip(text)) {
      continue;
    }
    if (!header) {
      header = text == "Available devices:";
      continue; // backend start-up logs before the list
    }
    if (text.empty() || text == "(none)") {
      continue;
    }
    if (!each(ListedLine{line.number, text, device_line(text)})) {
      break;
    }
  }
  return header;
}

} // namespace

Result<ProbeResult> parse_list_devices(std::string_view out) {
  ProbeResult result;
  std::set<std::pair<config::GpuApi, int>> seen;
  const auto no_skip = [](std::string_view) { return false; };
  const bool header = walk_device_list(out, no_skip, [&](const ListedLine& line) {
    const auto& d = line.device;
    if (!d) {
      add_warning(result, k_list_devices, line.number, "not a device line: " + quote(line.text));
      return true;
    }
    const auto [prefix, ordinal] = split_name(d->name);
    if (prefix == "BLAS" || prefix == "CPU" || prefix == "ACCEL") {
      return true; // host devices: no GPU memory to place on
    }
    const auto api = api_of(prefix);
    if (!api || !ordinal || *ordinal >= detail::k_max_devices) {
      add_warning(result, k_list_devices, line.number,
                  "device " + quote(d->name) +
                      (api ? " has no device number" : " is of a backend askd does not place on") +
                      "; ignored");
      return true;
    }
    const auto total = detail::mib_to_bytes(d->total_mib);
    const auto free = detail::mib_to_bytes(d->free_mib);
    if (!total || !free) {
      add_warning(result, k_list_devices, line.number,
                  "device " + quote(d->name) + ": implausible memory figures; ignored");
      return true;
    }
    if (!seen.emplace(*api, static_cast<int>(*ordinal)).second) {
      add_warning(result, k_list_devices, line.number,
                  "device " + quote(d->name) + " repeated; ignored");
      return true;
    }
    if (result.gpus.size() >= detail::k_max_devices) {
      add_warning(result, k_list_devices, line.number, "too many devices; the rest are ignored");
      return false;
    }
    ProbedGpu gpu;
    gpu.api = *api;
    gpu.index = static_cast<int>(*ordinal);
    gpu.device = d->name;
    gpu.name = d->description;
    gpu.vendor = *api == config::GpuApi::cuda    ? config::GpuVendor::nvidia
                 : *api == config::GpuApi::rocm  ? config::GpuVendor::amd
                 : *api == config::GpuApi::metal ? config::GpuVendor::apple
                                                 : detail::vendor_from_name(d->description);
    gpu.pci = d->pci;
    gpu.total_bytes = *total;
    gpu.free_bytes = std::min(*free, *total);
    gpu.source = "llama-server";
    result.gpus.push_back(std::move(gpu));
    return true;
  });
  if (!header) {
    return core::fail(core::Error::bad_request(
        "llama-server --list-devices: no \"Available devices:\" line in the output" +
        (core::trim(out).empty() ? std::string() : ": " + quote(out))));
  }
  return result;
}

Result<RpcListing> parse_rpc_list_devices(std::string_view out) {
  constexpr std::string_view k_tool = "llama-server --rpc … --list-devices";
  constexpr std::string_view k_failed = "Failed to connect to ";
  ProbeResult scratch; // add_warning's bounded list
  RpcListing listing;
  // ggml-rpc logs "0.00.010.306 E Failed to connect to HOST:PORT" on stderr for a server that
  // does not answer, and lists the others' devices.
  const auto unreachable = [&](std::string_view text) {
    const std::size_t at = text.find(k_failed);
    if (at == std::string_view::npos) {
      return false;
    }
    std::string endpoint = detail::clean_text(text.substr(at + k_failed.size()));
    if (!endpoint.empty() && listing.unreachable.size() < detail::k_max_devices &&
        std::ranges::find(listing.unreachable, endpoint) == listing.unreachable.end()) {
      listing.unreachable.push_back(std::move(endpoint));
    }
    return true;
  };
  const bool header = walk_device_list(out, unreachable, [&](const ListedLine& line) {
    const auto& d = line.device;
    if (!d) {
      add_warning(scratch, k_tool, line.number, "not a device line: " + quote(line.text));
      return true;
    }
    const auto [prefix, ordinal] = split_name(d->name);
    if (prefix != "RPC") {
      return true; // the asking build's own devices
    }
    const auto total = detail::mib_to_bytes(d->total_mib);
    const auto free = detail::mib_to_bytes(d->free_mib);
    if (!ordinal || !total || !free || d->description.empty()) {
      add_warning(scratch, k_tool, line.number,
                  "device " + quote(d->name) +
                      (!ordinal                 ? " has no device number"
                       : d->description.empty() ? " names no endpoint"
                                                : ": implausible memory figures") +
                      "; ignored");
      return true;
    }
    if (listing.devices.size() >= detail::k_max_devices) {
      add_warning(scratch, k_tool, line.number, "too many devices; the rest are ignored");
      return false;
    }
    listing.devices.push_back({d->name, d->description, *total, std::min(*free, *total)});
    return true;
  });
  if (!header) {
    return core::fail(core::Error::bad_request(
        std::string(k_tool) + ": no \"Available devices:\" line in the output" +
        (core::trim(out).empty() ? std::string() : ": " + quote(out))));
  }
  listing.warnings = std::move(scratch.warnings);
  return listing;
}

namespace {

// "10587 (3f545becc)" → build and commit; nullopt for another shape.
std::optional<LlamaVersion> old_shape(std::string_view rest) {
  const std::size_t space = rest.find(" (");
  if (space == std::string_view::npos || !rest.ends_with(")")) {
    return std::nullopt;
  }
  const auto build = detail::parse_u64(rest.substr(0, space));
  const std::string_view commit = rest.substr(space + 2, rest.size() - space - 3);
  if (!build || commit.empty()) {
    return std::nullopt;
  }
  return LlamaVersion{*build, std::string(commit), "", ""};
}

// "0.2.0-dev (build 10587, commit 3f545becc)" → version, build and commit.
std::optional<LlamaVersion> new_shape(std::string_view rest) {
  constexpr std::string_view k_build = " (build ";
  constexpr std::string_view k_commit = ", commit ";
  const std::size_t b = rest.find(k_build);
  if (b == std::string_view::npos || b == 0 || !rest.ends_with(")")) {
    return std::nullopt;
  }
  const std::string_view inner =
      rest.substr(b + k_build.size(), rest.size() - b - k_build.size() - 1);
  const std::size_t c = inner.find(k_commit);
  if (c == std::string_view::npos) {
    return std::nullopt;
  }
  const auto build = detail::parse_u64(inner.substr(0, c));
  const std::string_view commit = inner.substr(c + k_commit.size());
  if (!build || commit.empty()) {
    return std::nullopt;
  }
  return LlamaVersion{*build, std::string(commit), std::string(rest.substr(0, b)), ""};
}

// A commit as llama.cpp prints it: hex digits, or "unknown" for a build made without git.
bool plausible_commit(std::string_view commit) {
  return commit == "unknown" || (commit.size() >= 4 && commit.size() <= 40 &&
                                 std::all_of(commit.begin(), commit.end(), [](char c) {
                                   return is_decimal_digit(c) || (c >= 'a' && c <= 'f');
                                 }));
}

} // namespace

Result<LlamaVersion> parse_llama_version(std::string_view out) {
  std::optional<LlamaVersion> version;
  std::string built_with;
  for (const detail::Line& line : detail::split_lines(out)) {
    const std::string_view text = core::trim(line.text);
    if (!version && text.starts_with("version: ")) {
      const std::string_view rest = core::trim(text.substr(9));
      version = new_shape(rest);
      if (!version) {
        version = old_shape(rest);
      }
      if (!version || !plausible_commit(version->commit) || version->version.size() > 64) {
        return core::fail(core::Error::bad_request(
            "llama-server --version line " + std::to_string(line.number) +
            ": unrecognised version " + quote(text) +
            " (expected \"version: N (commit)\" or \"version: V (build N, commit C)\")"));
      }
      version->version = detail::clean_text(version->version);
    } else if (version && built_with.empty() && text.starts_with("built with ")) {
      built_with = detail::clean_text(text.substr(11));
    }
  }
  if (!version) {
    return core::fail(
        core::Error::bad_request("llama-server --version: no \"version:\" line in the output" +
                                 (core::trim(out).empty() ? std::string() : ": " + quote(out))));
  }
  version->built_with = std::move(built_with);
  return *version;
}

} // namespace ask::router
