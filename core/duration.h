#pragma once
// Durations as users write them in config files and requests: "15m", "30s", "1h30m",
// "500ms", bare numbers and numeric strings as seconds, 0 (at once), and negative numbers or
// "forever" (never). Used for keep_alive, timeouts and TTLs.

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json_fwd.hpp>

#include "core/error.h"

namespace ask::core {

class Duration {
public:
  using Millis = std::chrono::milliseconds;

  constexpr Duration() = default;
  static constexpr Duration zero() { return {Millis{0}, false}; }
  static constexpr Duration forever() { return {Millis{0}, true}; }
  // A negative length means forever, as in parse_duration.
  static constexpr Duration from(Millis ms) {
    return ms.count() < 0 ? forever() : Duration(ms, false);
  }
  // A negative count means forever, as in parse_duration.
  static constexpr Duration seconds(long long s) { return from(Millis{s * 1000}); }

  constexpr bool is_forever() const { return m_forever; }
  constexpr bool is_zero() const { return !m_forever && m_value.count() == 0; }
  // The finite length; only meaningful when !is_forever() (it is 0 for forever, so
  // `now + d.value()` would expire a forever entry at once). Prefer finite().
  constexpr Millis value() const { return m_value; }
  // The finite length, or nullopt for forever.
  constexpr std::optional<Millis> finite() const {
    return m_forever ? std::nullopt : std::optional<Millis>(m_value);
  }

  // Canonical text: "forever", "0s", "500ms", "15m", "1h30m", "1h0m5s".
  std::string to_string() const;
  // Seconds for Ollama's keep_alive field: -1 for forever, else whole or fractional seconds.
  double to_ollama_seconds() const;

  friend constexpr bool operator==(const Duration&, const Duration&) = default;

private:
  constexpr Duration(Millis v, bool forever) : m_value(v), m_forever(forever) {}
  Millis m_value{0};
  bool m_forever = false;
};

// Parses "15m", "1h30m", "500ms", "2.5s", "90" (seconds), "-1" / "forever" / "never" /
// "infinite" (forever). Units: ms, s, m, h, d. Errors are bad_request with a message that
// quotes the input and says what is accepted.
// The grammar, close to Go's time.ParseDuration (which Ollama uses for keep_alive):
//   [+|-] ( number | (number unit)+ ),  number = digits [ "." digits ]
// - A lone number means seconds ("90", "2.5"); once a unit appears every number needs one,
//   so "1h30" is rejected ("missing unit after \"30\"") rather than guessed at.
// - Units go from larger to smaller, each at most once: "1h30m" and "1h0m5s" parse, "30m1h"
//   and "1s1s" do not (Go accepts those; they are almost always typos).
// - Any negative value means forever (as Ollama treats keep_alive); "-0" is zero.
// - The keywords forever / never / infinite / infinity / inf are case-insensitive.
// - Precision is a millisecond: finer fractions round to the nearest one, but a non-zero
//   duration never rounds down to 0, which would mean "at once".
// - Rejected: empty text, leading or trailing whitespace, unknown units ("5 minutes", "5x",
//   "5M", "5us"), exponents, ".5s" / "5.s", and anything beyond 36500 days.
Result<Duration> parse_duration(std::string_view text);
// Accepts a JSON number (seconds, fractions allowed; negative = forever) or a string as
// above; booleans, null, arrays, objects, NaN and infinities are bad_request.
Result<Duration> parse_duration(const nlohmann::json& value);

} // namespace ask::core
