#include "config/bytes.h"

#include <array>
#include <cctype>

#include <fmt/format.h>

#include "core/strings.h"

namespace ask::config {

namespace {

__extension__ using U128 = unsigned __int128;

struct Unit {
  std::string_view name;
  std::uint64_t factor;
};

constexpr std::uint64_t k_ki = 1024;
constexpr std::array<Unit, 11> k_units{{
    {"B", 1},
    {"KiB", k_ki},
    {"MiB", k_ki* k_ki},
    {"GiB", k_ki* k_ki* k_ki},
    {"TiB", k_ki* k_ki* k_ki* k_ki},
    {"PiB", k_ki* k_ki* k_ki* k_ki* k_ki},
    {"KB", 1000},
    {"MB", 1000'000},
    {"GB", 1000'000'000},
    {"TB", 1000'000'000'000},
    {"PB", 1000'000'000'000'000},
}};

constexpr std::string_view k_accepted =
    "a number of bytes with an optional unit: B, KiB, MiB, GiB, TiB, PiB (powers of 1024) or "
    "KB, MB, GB, TB, PB (powers of 1000), e.g. \"24GiB\" or \"512 MiB\"";

core::Error bad(std::string_view text, std::string_view why) {
  return core::Error::bad_request(
      fmt::format("invalid size \"{}\": {}; expected {}", text, why, k_accepted));
}

core::Result<std::uint64_t> unit_factor(std::string_view text, std::string_view unit) {
  if (unit.empty()) {
    return 1;
  }
  for (const Unit& u : k_units) {
    if (core::iequals(unit, u.name)) {
      return u.factor;
    }
  }
  if (unit.size() == 1 && std::string_view("kmgtpKMGTP").find(unit[0]) != std::string_view::npos) {
    return core::fail(bad(text, fmt::format("\"{}\" is ambiguous (write {}iB for powers of 1024 "
                                            "or {}B for powers of 1000)",
                                            unit, unit, unit)));
  }
  return core::fail(bad(text, fmt::format("unknown unit \"{}\"", unit)));
}

} // namespace

core::Result<std::uint64_t> parse_bytes(std::string_view text) {
  std::size_t i = 0;
  std::uint64_t whole = 0;
  std::size_t whole_digits = 0;
  for (; i < text.size() && std::isdigit(static_cast<unsigned char>(text[i]));
       ++i, ++whole_digits) {
    if (__builtin_mul_overflow(whole, 10u, &whole) ||
        __builtin_add_overflow(whole, static_cast<std::uint64_t>(text[i] - '0'), &whole)) {
      return core::fail(bad(text, "too large"));
    }
  }
  std::uint64_t frac = 0;
  std::uint64_t frac_scale = 1;
  if (i < text.size() && text[i] == '.') {
    ++i;
    const std::size_t start = i;
    for (; i < text.size() && std::isdigit(static_cast<unsigned char>(text[i])); ++i) {
      if (i - start >= 9) {
        return core::fail(bad(text, "more than 9 decimal places"));
      }
      frac = frac * 10 + static_cast<std::uint64_t>(text[i] - '0');
      frac_scale *= 10;
    }
    if (i == start) {
      return core::fail(bad(text, "expected a digit after '.'"));
    }
  }
  if (whole_digits == 0 && frac_scale == 1) {
    return core::fail(bad(text, text.empty() ? "empty" : "expected a number"));
  }
  while (i < text.size() && text[i] == ' ') {
    ++i;
  }
  const auto factor = unit_factor(text, text.substr(i));
  if (!factor) {
    return core::fail(factor.error());
  }
  std::uint64_t bytes = 0;
  if (__builtin_mul_overflow(whole, *factor, &bytes)) {
    return core::fail(bad(text, "too large"));
  }
  // Exact: frac < 10^9 and factor <= 1000^5, so the product fits in 128 bits.
  const auto part = static_cast<U128>(frac) * *factor / frac_scale;
  if (__builtin_add_overflow(bytes, static_cast<std::uint64_t>(part), &bytes)) {
    return core::fail(bad(text, "too large"));
  }
  return bytes;
}

core::Result<std::uint64_t> parse_bytes(const Json& value) {
  if (value.is_string()) {
    return parse_bytes(std::string_view(value.get_ref<const std::string&>()));
  }
  if (value.is_number_unsigned()) {
    return value.get<std::uint64_t>();
  }
  if (value.is_number_integer()) {
    const auto v = value.get<std::int64_t>();
    if (v < 0) {
      return core::fail(
          core::Error::bad_request(fmt::format("invalid size {}: a size cannot be negative", v)));
    }
    return static_cast<std::uint64_t>(v);
  }
  if (value.is_number_float()) {
    return core::fail(core::Error::bad_request(
        fmt::format("invalid size {}: a number of bytes must be whole (or write a string "
                    "with a unit, such as \"1.5 GiB\")",
                    value.dump())));
  }
  return core::fail(core::Error::bad_request(
      fmt::format("expected a size (string such as \"24GiB\", or an integer number of bytes), "
                  "got {}",
                  type_name(value))));
}

std::string format_bytes(std::uint64_t bytes) {
  std::string best = fmt::format("{} B", bytes);
  std::uint64_t best_factor = 1;
  for (const Unit& u : k_units) {
    if (u.factor == 1 || bytes < u.factor) {
      continue;
    }
    const std::uint64_t whole = bytes / u.factor;
    const std::uint64_t rest = bytes % u.factor;
    std::string text;
    if (rest == 0) {
      text = fmt::format("{} {}", whole, u.name);
    } else if ((rest * 100) % u.factor == 0) { // rest < factor <= 1000^5: no overflow
      const std::uint64_t cents = rest * 100 / u.factor;
      text = cents % 10 == 0 ? fmt::format("{}.{} {}", whole, cents / 10, u.name)
                             : fmt::format("{}.{:02} {}", whole, cents, u.name);
    } else {
      continue;
    }
    if (text.size() < best.size() || (text.size() == best.size() && u.factor > best_factor)) {
      best = std::move(text); // ties go to the larger unit: "1.25 GiB", not "1280 MiB"
      best_factor = u.factor;
    }
  }
  return best;
}

} // namespace ask::config
