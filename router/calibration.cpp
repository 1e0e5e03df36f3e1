#include "router/calibration.h"

#include <algorithm>
#include <optional>

#include "core/strings.h"

namespace ask::router {

namespace {

// Bounds on what one log may make us keep: a device name, how many devices, one figure.
constexpr std::size_t k_max_line = 64 * 1024;
constexpr std::size_t k_max_device_name = 64;
constexpr std::size_t k_max_devices = 64;
constexpr std::size_t k_max_tokens = 8;
constexpr std::size_t k_max_int_digits = 9;                   // 999999999 GiB still fits in 64 bits
constexpr std::size_t k_max_frac_digits = 6;                  // llama.cpp prints 2
constexpr std::uint64_t k_max_field = std::uint64_t{1} << 60; // 1 EiB: sums never overflow
constexpr int k_max_layers = 1'000'000;
constexpr std::size_t k_max_layer_digits = 7;

enum class Kind { model, kv, recurrent, compute, output };

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

// Reads 1..max_digits decimal digits from the front of `s`; nullopt when none or too many.
std::optional<std::uint64_t> take_digits(std::string_view& s, std::size_t max_digits,
                                         std::size_t* count = nullptr) {
  std::size_t n = 0;
  std::uint64_t value = 0;
  while (n < s.size() && is_digit(s[n])) {
    if (n == max_digits) {
      return std::nullopt;
    }
    value = value * 10 + static_cast<std::uint64_t>(s[n] - '0');
    ++n;
  }
  if (n == 0) {
    return std::nullopt;
  }
  s.remove_prefix(n);
  if (count != nullptr) {
    *count = n;
  }
  return value;
}

std::optional<std::uint64_t> unit_bytes(std::string_view unit) {
  if (unit == "KiB") {
    return std::uint64_t{1} << 10;
  }
  if (unit == "MiB") {
    return std::uint64_t{1} << 20;
  }
  if (unit == "GiB") {
    return std::uint64_t{1} << 30;
  }
  return std::nullopt;
}

// "1234.56 MiB" -> bytes, rounded to the nearest byte. Anything else -> nullopt.
std::optional<std::uint64_t> parse_size(std::string_view s) {
  s = core::trim(s);
  const auto whole = take_digits(s, k_max_int_digits);
  if (!whole) {
    return std::nullopt;
  }
  std::uint64_t frac = 0;
  std::uint64_t scale = 1;
  if (!s.empty() && s.front() == '.') {
    s.remove_prefix(1);
    std::size_t digits = 0;
    const auto f = take_digits(s, k_max_frac_digits, &digits);
    if (!f) {
      return std::nullopt;
    }
    frac = *f;
    for (std::size_t i = 0; i < digits; ++i) {
      scale *= 10;
    }
  }
  if (s.empty() || !core::is_space(s.front())) {
    return std::nullopt;
  }
  const auto unit = unit_bytes(core::trim(s));
  if (!unit) {
    return std::nullopt;
  }
  // whole < 1e9 and unit <= 2^30: < 2^60. frac < 1e6: frac * unit < 2^50.
  return *whole * *unit + (frac * *unit + scale / 2) / scale;
}

std::optional<Kind> kind_of(std::string_view word) {
  if (word == "model") {
    return Kind::model;
  }
  if (word == "KV") {
    return Kind::kv;
  }
  if (word == "RS") {
    return Kind::recurrent;
  }
  if (word == "compute") {
    return Kind::compute;
  }
  if (word == "output") {
    return Kind::output;
  }
  return std::nullopt;
}

bool valid_device(std::string_view name) {
  if (name.empty() || name.size() > k_max_device_name || name.back() == ':') {
    return false;
  }
  return std::all_of(name.begin(), name.end(), [](char c) { return c > ' ' && c < 0x7f; });
}

// Splits on blanks; nullopt when there are more than k_max_tokens words.
std::optional<std::vector<std::string_view>> split_words(std::string_view s) {
  std::vector<std::string_view> words;
  s = core::trim(s);
  while (!s.empty()) {
    if (words.size() == k_max_tokens) {
      return std::nullopt;
    }
    std::size_t n = 0;
    while (n < s.size() && !core::is_space(s[n])) {
      ++n;
    }
    words.push_back(s.substr(0, n));
    s = core::trim(s.substr(n));
  }
  return words;
}

struct BufferLine {
  std::string_view device;
  Kind kind = Kind::model;
  std::uint64_t bytes = 0;
};

// "<prefix>: <device> [words…] <kind> buffer size = <size>"; the 2024 model line has no kind
// ("llm_load_tensors: CUDA0 buffer size = …").
std::optional<BufferLine> parse_buffer_line(std::string_view line) {
  constexpr std::string_view k_marker = " buffer size";
  const std::size_t at = line.find(k_marker);
  if (at == std::string_view::npos) {
    return std::nullopt;
  }
  std::string_view rest = core::trim(line.substr(at + k_marker.size()));
  if (rest.empty() || rest.front() != '=') {
    return std::nullopt;
  }
  const auto bytes = parse_size(rest.substr(1));
  const std::string_view head = line.substr(0, at);
  const std::size_t colon = head.rfind(": ");
  if (!bytes || colon == std::string_view::npos) {
    return std::nullopt;
  }
  const auto words = split_words(head.substr(colon + 2));
  if (!words || words->empty()) {
    return std::nullopt;
  }
  BufferLine out{words->front(), Kind::model, *bytes};
  if (words->size() == 1) {
    if (!core::trim(head.substr(0, colon)).ends_with("load_tensors") || kind_of(out.device)) {
      return std::nullopt;
    }
  } else {
    const auto kind = kind_of(words->back());
    if (!kind) {
      return std::nullopt;
    }
    out.kind = *kind;
  }
  if (!valid_device(out.device)) {
    return std::nullopt;
  }
  return out;
}

// "offloaded N/M layers to GPU" -> {N, M}.
std::optional<std::pair<int, int>> parse_offloaded(std::string_view line) {
  constexpr std::string_view k_head = "offloaded ";
  const std::size_t at = line.find(k_head);
  if (at == std::string_view::npos) {
    return std::nullopt;
  }
  std::string_view s = line.substr(at + k_head.size());
  const auto done = take_digits(s, k_max_layer_digits);
  if (!done || s.empty() || s.front() != '/') {
    return std::nullopt;
  }
  s.remove_prefix(1);
  const auto total = take_digits(s, k_max_layer_digits);
  if (!total || core::trim(s) != "layers to GPU") {
    return std::nullopt;
  }
  if (*done > *total || *total > static_cast<std::uint64_t>(k_max_layers)) {
    return std::nullopt;
  }
  return std::pair{static_cast<int>(*done), static_cast<int>(*total)};
}

void add_capped(std::uint64_t& field, std::uint64_t bytes) {
  field = std::min(field + std::min(bytes, k_max_field), k_max_field);
}

std::uint64_t& field_for(DeviceBuffers& d, Kind kind) {
  switch (kind) {
  case Kind::model:
    return d.model;
  case Kind::kv:
    return d.kv;
  case Kind::recurrent:
    return d.recurrent;
  case Kind::compute:
    return d.compute;
  case Kind::output:
    break;
  }
  return d.output;
}

DeviceBuffers* find_or_add(Calibration& cal, std::string_view device) {
  for (auto& d : cal.devices) {
    if (d.device == device) {
      return &d;
    }
  }
  if (cal.devices.size() >= k_max_devices) {
    return nullptr;
  }
  cal.devices.push_back(DeviceBuffers{.device = std::string(device)});
  return &cal.devices.back();
}

} // namespace

bool DeviceBuffers::is_host() const {
  return device.starts_with("CPU") || device.ends_with("_Host");
}

std::uint64_t Calibration::gpu_total() const {
  std::uint64_t sum = 0;
  for (const auto& d : devices) {
    if (!d.is_host()) {
      const std::uint64_t t = d.total();
      sum = (sum > UINT64_MAX - t) ? UINT64_MAX : sum + t;
    }
  }
  return sum;
}

std::uint64_t Calibration::host_total() const {
  std::uint64_t sum = 0;
  for (const auto& d : devices) {
    if (d.is_host()) {
      const std::uint64_t t = d.total();
      sum = (sum > UINT64_MAX - t) ? UINT64_MAX : sum + t;
    }
  }
  return sum;
}

const DeviceBuffers* Calibration::find(std::string_view device) const {
  for (const auto& d : devices) {
    if (d.device == device) {
      return &d;
    }
  }
  return nullptr;
}

void feed_line(Calibration& cal, std::string_view line) {
  if (line.size() > k_max_line) {
    return;
  }
  if (const auto buffer = parse_buffer_line(line)) {
    if (DeviceBuffers* d = find_or_add(cal, buffer->device)) {
      add_capped(field_for(*d, buffer->kind), buffer->bytes);
    }
    return;
  }
  if (const auto layers = parse_offloaded(line)) {
    cal.layers_offloaded = layers->first;
    cal.layers_total = layers->second;
  }
}

Calibration parse_startup_log(std::string_view log) {
  Calibration cal;
  while (!log.empty()) {
    const std::size_t nl = log.find('\n');
    const std::string_view line = log.substr(0, nl);
    feed_line(cal, line);
    if (nl == std::string_view::npos) {
      break;
    }
    log.remove_prefix(nl + 1);
  }
  return cal;
}

} // namespace ask::router
