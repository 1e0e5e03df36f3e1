#include "config/suggest.h"

#include <algorithm>
#include <cctype>

#include <fmt/format.h>

#include "core/strings.h"

namespace ask::config {

namespace {

template <class Name>
std::optional<std::string> closest_impl(std::string_view word, std::span<const Name> candidates) {
  const std::size_t limit = word.size() <= 3 ? 1 : 2;
  std::optional<std::string> best;
  std::size_t best_distance = limit + 1;
  for (const auto& candidate : candidates) {
    const std::string_view c(candidate);
    if (c == word) {
      continue; // the word itself is no suggestion
    }
    const std::size_t d = edit_distance(word, c);
    if (d < best_distance && d < word.size()) { // "n" -> "m" replaces everything: no hint
      best_distance = d;
      best = std::string(c);
    }
  }
  return best;
}

template <class Name>
std::string join_impl(std::span<const Name> names, std::string_view separator) {
  std::string out;
  for (const auto& name : names) {
    if (!out.empty()) {
      out += separator;
    }
    out += name;
  }
  return out;
}

} // namespace

std::size_t edit_distance(std::string_view a, std::string_view b) {
  // Three rolling rows of the optimal-string-alignment table.
  std::vector<std::size_t> before(b.size() + 1), prev(b.size() + 1), cur(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) {
    prev[j] = j;
  }
  for (std::size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t cost = core::to_lower(a[i - 1]) == core::to_lower(b[j - 1]) ? 0 : 1;
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost});
      if (i > 1 && j > 1 && core::to_lower(a[i - 1]) == core::to_lower(b[j - 2]) &&
          core::to_lower(a[i - 2]) == core::to_lower(b[j - 1])) {
        cur[j] = std::min(cur[j], before[j - 2] + 1);
      }
    }
    std::swap(before, prev);
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

std::optional<std::string> closest_name(std::string_view word,
                                        std::span<const std::string> candidates) {
  return closest_impl(word, candidates);
}

std::optional<std::string> closest_name(std::string_view word,
                                        std::span<const std::string_view> candidates) {
  return closest_impl(word, candidates);
}

std::string did_you_mean(std::string_view word, std::span<const std::string> candidates) {
  const auto best = closest_name(word, candidates);
  return best ? fmt::format(" (did you mean \"{}\"?)", *best) : std::string();
}

std::string did_you_mean(std::string_view word, std::span<const std::string_view> candidates) {
  const auto best = closest_name(word, candidates);
  return best ? fmt::format(" (did you mean \"{}\"?)", *best) : std::string();
}

std::string join_names(std::span<const std::string> names, std::string_view separator) {
  return join_impl(names, separator);
}

std::string join_names(std::span<const std::string_view> names, std::string_view separator) {
  return join_impl(names, separator);
}

} // namespace ask::config
