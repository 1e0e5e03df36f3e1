#include "core/duration.h"

#include <array>
#include <cctype>
#include <cmath>
#include <optional>

#include <nlohmann/json.hpp>

#include "core/excerpt.h"
#include "core/json_text.h"
#include "core/strings.h"

namespace ask::core {

namespace {

struct Unit {
  std::string_view name;
  long long ms;
};

// Largest first: components must appear in this order, each at most once.
constexpr std::array<Unit, 5> k_units = {{
    {"d", 86'400'000LL},
    {"h", 3'600'000LL},
    {"m", 60'000LL},
    {"s", 1'000LL},
    {"ms", 1LL},
}};
constexpr long long k_max_ms = 36'500LL * 86'400'000LL; // 100 years of 365 days
constexpr long long k_frac_scale = 1'000'000'000LL;     // fraction digits kept: 9
constexpr std::size_t k_frac_digits = 9;
constexpr std::size_t k_quote_limit = 64;
constexpr std::array<std::string_view, 5> k_forever_words = {"forever", "never", "infinite",
                                                             "infinity", "inf"};

// The input in double quotes: control bytes and invalid UTF-8 escaped, long inputs cut
// short at a code-point boundary, so the message stays valid UTF-8.
std::string quote(std::string_view text) {
  return "\"" + detail::printable_excerpt(text, k_quote_limit, true) + "\"";
}

Error duration_error(std::string_view input, std::string_view reason) {
  std::string msg = "invalid duration " + quote(input) + ": ";
  msg += reason;
  msg += " (expected e.g. \"15m\", \"1h30m\", \"500ms\", \"2.5s\", \"1d\", \"90\" for seconds, "
         "\"0\" for at once, or \"forever\" / a negative number for never)";
  return Error::bad_request(std::move(msg));
}

std::string out_of_range_reason() {
  return "out of range (the longest finite duration is 36500d; use \"forever\" for no limit)";
}

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

bool is_forever_word(std::string_view text) {
  for (auto word : k_forever_words) {
    if (iequals(text, word)) {
      return true;
    }
  }
  return false;
}

// "digits" or "digits.digits" at the front of a component.
struct Number {
  std::string_view whole;
  std::string_view frac;
  bool nonzero = false;
};

std::optional<Number> read_number(std::string_view s, std::size_t& pos) {
  Number n;
  const std::size_t start = pos;
  while (pos < s.size() && is_digit(s[pos])) {
    ++pos;
  }
  n.whole = s.substr(start, pos - start);
  if (n.whole.empty()) {
    return std::nullopt;
  }
  if (pos < s.size() && s[pos] == '.') {
    const std::size_t frac_start = ++pos;
    while (pos < s.size() && is_digit(s[pos])) {
      ++pos;
    }
    n.frac = s.substr(frac_start, pos - frac_start);
    if (n.frac.empty()) {
      return std::nullopt;
    }
  }
  for (char c : s.substr(start, pos - start)) {
    n.nonzero = n.nonzero || (c >= '1' && c <= '9');
  }
  return n;
}

// number × unit in milliseconds, the fraction rounded to the nearest millisecond; nullopt
// past k_max_ms.
std::optional<long long> scaled_ms(const Number& n, long long unit_ms) {
  long long whole = 0;
  for (char c : n.whole) {
    whole = whole * 10 + (c - '0');
    if (whole > k_max_ms) {
      return std::nullopt;
    }
  }
  if (whole > k_max_ms / unit_ms) {
    return std::nullopt;
  }
  long long frac = 0;
  for (std::size_t i = 0; i < k_frac_digits; ++i) {
    frac = frac * 10 + (i < n.frac.size() ? n.frac[i] - '0' : 0);
  }
  const long long total = whole * unit_ms + (frac * unit_ms + k_frac_scale / 2) / k_frac_scale;
  if (total > k_max_ms) {
    return std::nullopt;
  }
  return total;
}

std::optional<std::size_t> find_unit(std::string_view name) {
  for (std::size_t i = 0; i < k_units.size(); ++i) {
    if (k_units[i].name == name) {
      return i;
    }
  }
  return std::nullopt;
}

// The unit text after a number: everything up to the next digit or '.' (as Go does), so
// "5 minutes" reports the unit " minutes".
std::string_view read_unit(std::string_view s, std::size_t& pos) {
  const std::size_t start = pos;
  while (pos < s.size() && !is_digit(s[pos]) && s[pos] != '.') {
    ++pos;
  }
  return s.substr(start, pos - start);
}

struct Magnitude {
  long long ms = 0;
  bool nonzero = false;
};

// A component sequence such as "1h30m" or a bare number of seconds, without sign.
Result<Magnitude> parse_components(std::string_view input, std::string_view body) {
  Magnitude mag;
  std::size_t pos = 0;
  std::optional<std::size_t> last_unit;
  while (pos < body.size()) {
    const auto number = read_number(body, pos);
    if (!number) {
      return fail(duration_error(input, "expected a number at " + quote(body.substr(pos))));
    }
    const std::string_view number_text =
        number->frac.empty() ? number->whole
                             : std::string_view(number->whole.data(),
                                                number->whole.size() + 1 + number->frac.size());
    const std::string_view unit_text = read_unit(body, pos);
    if (unit_text.empty() && last_unit.has_value()) {
      return fail(duration_error(input, "missing unit after " + quote(number_text)));
    }
    if (unit_text.empty() && pos < body.size()) {
      return fail(duration_error(input, "missing unit after " + quote(number_text)));
    }
    std::size_t unit_index = 3; // a lone number means seconds
    if (!unit_text.empty()) {
      const auto found = find_unit(unit_text);
      if (!found) {
        return fail(duration_error(input, "unknown unit " + quote(unit_text) +
                                              " (units are ms, s, m, h and d)"));
      }
      unit_index = *found;
      if (last_unit && *found == *last_unit) {
        return fail(duration_error(input, "unit " + quote(unit_text) + " repeated"));
      }
      if (last_unit && *found < *last_unit) {
        return fail(duration_error(input, "unit " + quote(unit_text) + " after " +
                                              quote(k_units[*last_unit].name) +
                                              " (write larger units first, as in \"1h30m\")"));
      }
      last_unit = found;
    }
    const auto part = scaled_ms(*number, k_units[unit_index].ms);
    if (!part || mag.ms + *part > k_max_ms) {
      return fail(duration_error(input, out_of_range_reason()));
    }
    mag.ms += *part;
    mag.nonzero = mag.nonzero || number->nonzero;
  }
  return mag;
}

bool has_edge_space(std::string_view text) {
  const auto space = [](char c) { return std::isspace(static_cast<unsigned char>(c)) != 0; };
  return !text.empty() && (space(text.front()) || space(text.back()));
}

} // namespace

Result<Duration> parse_duration(std::string_view text) {
  if (text.empty()) {
    return fail(duration_error(text, "empty"));
  }
  if (has_edge_space(text)) {
    return fail(duration_error(text, "leading or trailing whitespace"));
  }
  if (is_forever_word(text)) {
    return Duration::forever();
  }
  std::string_view body = text;
  const bool negative = body.front() == '-';
  if (body.front() == '-' || body.front() == '+') {
    body.remove_prefix(1);
  }
  if (body.empty()) {
    return fail(duration_error(text, "a sign without a number"));
  }
  const auto mag = parse_components(text, body);
  if (!mag) {
    return fail(mag.error());
  }
  if (!mag->nonzero) {
    return Duration::zero();
  }
  if (negative) {
    return Duration::forever();
  }
  // A non-zero duration never rounds down to 0, which would mean "at once".
  return Duration::from(Duration::Millis{mag->ms == 0 ? 1 : mag->ms});
}

namespace {

Result<Duration> from_seconds(double s, const nlohmann::json& value) {
  if (std::isnan(s) || std::isinf(s)) {
    return fail(duration_error(dump_json(value), "not a finite number"));
  }
  if (s == 0.0) {
    return Duration::zero();
  }
  if (s < 0.0) {
    return Duration::forever();
  }
  const double ms = std::round(s * 1000.0);
  if (ms > static_cast<double>(k_max_ms)) {
    return fail(duration_error(dump_json(value), out_of_range_reason()));
  }
  const auto whole = static_cast<long long>(ms);
  return Duration::from(Duration::Millis{whole == 0 ? 1 : whole});
}

} // namespace

Result<Duration> parse_duration(const nlohmann::json& value) {
  if (value.is_string()) {
    return parse_duration(std::string_view(value.get_ref<const std::string&>()));
  }
  if (value.is_number_integer() && !value.is_number_unsigned()) {
    const auto n = value.get<long long>();
    if (n < 0) {
      return Duration::forever();
    }
    if (n > k_max_ms / 1000) {
      return fail(duration_error(dump_json(value), out_of_range_reason()));
    }
    return n == 0 ? Duration::zero() : Duration::seconds(n);
  }
  if (value.is_number_unsigned()) {
    const auto n = value.get<unsigned long long>();
    if (n > static_cast<unsigned long long>(k_max_ms / 1000)) {
      return fail(duration_error(dump_json(value), out_of_range_reason()));
    }
    const auto s = static_cast<long long>(n);
    return s == 0 ? Duration::zero() : Duration::seconds(s);
  }
  if (value.is_number_float()) {
    return from_seconds(value.get<double>(), value);
  }
  return fail(Error::bad_request(std::string("invalid duration: expected a number of seconds or "
                                             "a string such as \"15m\", got ") +
                                 value.type_name() + " " + quote(dump_json(value))));
}

std::string Duration::to_string() const {
  if (m_forever) {
    return "forever";
  }
  long long rest = m_value.count();
  if (rest <= 0) {
    return "0s";
  }
  // Components from hours down; zero components are written only between non-zero ones
  // ("1h0m5s"), as Go's time.Duration does.
  static constexpr std::array<Unit, 4> k_print = {
      {{"h", 3'600'000LL}, {"m", 60'000LL}, {"s", 1'000LL}, {"ms", 1LL}}};
  std::string out;
  for (const auto& unit : k_print) {
    const long long n = rest / unit.ms;
    rest %= unit.ms;
    if (n != 0 || !out.empty()) {
      if (n == 0 && rest == 0) {
        break;
      }
      out += std::to_string(n);
      out += unit.name;
    }
  }
  return out;
}

double Duration::to_ollama_seconds() const {
  if (m_forever) {
    return -1.0;
  }
  return static_cast<double>(m_value.count()) / 1000.0;
}

} // namespace ask::core
