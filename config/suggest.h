#pragma once
// "Did you mean" for config errors: the closest of a set of known names to a misspelt one,
// by optimal-string-alignment (Damerau-Levenshtein) distance.

#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace ask::config {

// Edits (insert, delete, substitute, swap two neighbours) that turn `a` into `b`;
// comparison is case-insensitive.
std::size_t edit_distance(std::string_view a, std::string_view b);

// The candidate closest to `word` if it is close enough to be a likely typo: at most 1 edit
// for words of up to 3 characters, else at most 2, and fewer edits than `word` has
// characters. Ties go to the earlier candidate.
std::optional<std::string> closest_name(std::string_view word,
                                        std::span<const std::string> candidates);
std::optional<std::string> closest_name(std::string_view word,
                                        std::span<const std::string_view> candidates);

// " (did you mean \"x\"?)" when closest_name finds one, else "".
std::string did_you_mean(std::string_view word, std::span<const std::string> candidates);
std::string did_you_mean(std::string_view word, std::span<const std::string_view> candidates);

// "a, b, c" - for "known names are ..." messages.
std::string join_names(std::span<const std::string> names, std::string_view separator = ", ");
std::string join_names(std::span<const std::string_view> names, std::string_view separator = ", ");

} // namespace ask::config
