// normalize_pci and the helpers every GPU tool parser shares (probe_detail.h).

#include <cctype>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/excerpt.h"
#include "router/probe.h"
#include "router/probe_detail.h"

namespace ask::router {
namespace detail {

namespace {

std::optional<std::uint64_t> parse_hex(std::string_view text) {
  if (text.empty() || text.size() > 16) {
    return std::nullopt;
  }
  std::uint64_t value = 0;
  for (const char c : text) {
    const char l = core::to_lower(c);
    int digit = 0;
    if (l >= '0' && l <= '9') {
      digit = l - '0';
    } else if (l >= 'a' && l <= 'f') {
      digit = l - 'a' + 10;
    } else {
      return std::nullopt;
    }
    value = (value << 4) | static_cast<std::uint64_t>(digit);
  }
  return value;
}

std::string hex(std::uint64_t value, int min_digits) {
  static constexpr char k_digits[] = "0123456789abcdef";
  std::string out;
  do {
    out.insert(out.begin(), k_digits[value & 0xf]);
    value >>= 4;
  } while (value != 0);
  while (static_cast<int>(out.size()) < min_digits) {
    out.insert(out.begin(), '0');
  }
  return out;
}

} // namespace

std::vector<Line> split_lines(std::string_view text) {
  std::vector<Line> lines;
  std::size_t number = 1;
  std::size_t start = 0;
  while (start < text.size()) {
    std::size_t end = text.find('\n', start);
    const std::size_t next = end == std::string_view::npos ? text.size() : end + 1;
    if (end == std::string_view::npos) {
      end = text.size();
    }
    std::string_view line = text.substr(start, end - start);
    if (!line.empty() && line.back() == '\r') {
      line.remove_suffix(1);
    }
    lines.push_back({number++, line});
    start = next;
  }
  return lines;
}

std::vector<std::string_view> split_csv(std::string_view line) {
  std::vector<std::string_view> fields;
  std::size_t start = 0;
  while (true) {
    const std::size_t comma = line.find(',', start);
    if (comma == std::string_view::npos) {
      fields.push_back(core::trim(line.substr(start)));
      break;
    }
    fields.push_back(core::trim(line.substr(start, comma - start)));
    start = comma + 1;
  }
  return fields;
}

std::optional<std::uint64_t> parse_u64(std::string_view text) {
  text = core::trim(text);
  if (text.empty()) {
    return std::nullopt;
  }
  std::uint64_t value = 0;
  for (const char c : text) {
    if (c < '0' || c > '9') {
      return std::nullopt;
    }
    const auto digit = static_cast<std::uint64_t>(c - '0');
    if (value > (UINT64_MAX - digit) / 10) {
      return std::nullopt;
    }
    value = value * 10 + digit;
  }
  return value;
}

std::optional<std::uint64_t> parse_u64_auto(std::string_view text) {
  text = core::trim(text);
  if (core::istarts_with(text, "0x")) {
    return parse_hex(text.substr(2));
  }
  return parse_u64(text);
}

std::optional<std::uint64_t> parse_leading_u64(std::string_view text) {
  text = core::trim(text);
  std::size_t n = 0;
  while (n < text.size() && text[n] >= '0' && text[n] <= '9') {
    ++n;
  }
  return parse_u64(text.substr(0, n));
}

std::optional<std::uint64_t> mib_to_bytes(std::uint64_t mib) {
  if (mib > (k_max_plausible_bytes >> 20)) {
    return std::nullopt;
  }
  return mib << 20;
}

std::optional<std::uint64_t> plausible_bytes(std::optional<std::uint64_t> bytes) {
  if (bytes && *bytes > k_max_plausible_bytes) {
    return std::nullopt;
  }
  return bytes;
}

std::optional<std::uint64_t> free_from_used(std::optional<std::uint64_t> total,
                                            std::optional<std::uint64_t> used) {
  if (!total || !used) {
    return std::nullopt;
  }
  return *used >= *total ? 0 : *total - *used;
}

bool is_unknown_value(std::string_view text) {
  text = core::trim(text);
  if (text.empty()) {
    return true;
  }
  if (text.front() == '[' && text.back() == ']') {
    return true; // [N/A], [Not Supported], [Unknown Error], [Insufficient Permissions], [GPU Lost]
  }
  for (const std::string_view word : {"N/A", "NA", "unknown", "unsupported", "not supported"}) {
    if (core::iequals(text, word)) {
      return true;
    }
  }
  return false;
}

std::string clean_text(std::string_view text) {
  return core::printable_excerpt(core::trim(text), k_max_text_bytes);
}

config::GpuVendor vendor_from_pci_id(std::uint64_t vendor_id) {
  switch (vendor_id) {
  case 0x10de:
    return config::GpuVendor::nvidia;
  case 0x1002:
  case 0x1022:
    return config::GpuVendor::amd;
  case 0x8086:
    return config::GpuVendor::intel;
  case 0x106b:
    return config::GpuVendor::apple;
  default:
    return config::GpuVendor::other;
  }
}

config::GpuVendor vendor_from_name(std::string_view name) {
  std::string lower;
  for (const char c : name.substr(0, 256)) {
    lower.push_back(core::to_lower(c));
  }
  const auto has = [&](std::string_view word) { return lower.find(word) != std::string::npos; };
  if (has("nvidia") || has("geforce") || has("quadro") || has("tesla")) {
    return config::GpuVendor::nvidia;
  }
  if (has("amd") || has("radeon") || has("instinct")) {
    return config::GpuVendor::amd;
  }
  if (has("intel")) {
    return config::GpuVendor::intel;
  }
  if (has("apple")) {
    return config::GpuVendor::apple;
  }
  return config::GpuVendor::other;
}

void add_warning(ProbeResult& result, std::string_view tool, std::size_t line,
                 std::string_view what) {
  if (result.warnings.size() > k_max_warnings) {
    return;
  }
  if (result.warnings.size() == k_max_warnings) {
    result.warnings.push_back(std::string(tool) + ": further warnings dropped");
    return;
  }
  std::string text(tool);
  if (line > 0) {
    text += " line " + std::to_string(line);
  }
  text += ": ";
  text += what;
  result.warnings.push_back(std::move(text));
}

std::string quote(std::string_view text) {
  return "'" + core::printable_excerpt(core::trim(text), 60) + "'";
}

std::optional<JsonStart> find_json_start(std::string_view text) {
  std::size_t skipped = 0;
  for (const Line& line : split_lines(text)) {
    const std::string_view t = core::trim(line.text);
    if (!t.empty() && (t.front() == '{' || t.front() == '[')) {
      return JsonStart{static_cast<std::size_t>(line.text.data() - text.data()), skipped};
    }
    ++skipped;
  }
  return std::nullopt;
}

} // namespace detail

std::string normalize_pci(std::string_view text) {
  using detail::parse_hex;
  text = core::trim(text);
  // [domain:]bus:device.function, the domain 4 to 8 hex digits (nvidia-smi prints 8).
  const std::size_t dot = text.rfind('.');
  if (dot == std::string_view::npos || text.size() > 32) {
    return "";
  }
  const std::string_view function = text.substr(dot + 1);
  const std::string_view head = text.substr(0, dot);
  const std::size_t colon2 = head.rfind(':');
  if (colon2 == std::string_view::npos) {
    return "";
  }
  const std::string_view device = head.substr(colon2 + 1);
  const std::string_view rest = head.substr(0, colon2);
  const std::size_t colon1 = rest.rfind(':');
  const std::string_view bus = colon1 == std::string_view::npos ? rest : rest.substr(colon1 + 1);
  const std::string_view domain =
      colon1 == std::string_view::npos ? std::string_view("0") : rest.substr(0, colon1);
  const auto d = parse_hex(domain);
  const auto b = parse_hex(bus);
  const auto v = parse_hex(device);
  const auto f = parse_hex(function);
  if (!d || !b || !v || !f || domain.size() > 8 || bus.size() > 2 || device.size() > 2 ||
      function.size() != 1 || *v > 0x1f || *f > 7) {
    return "";
  }
  return detail::hex(*d, 4) + ":" + detail::hex(*b, 2) + ":" + detail::hex(*v, 2) + "." +
         detail::hex(*f, 1);
}

} // namespace ask::router
