#pragma once
// The peer-review stage of a council (llm-council's): each member ranks the anonymised
// responses, ending its text with "FINAL RANKING:" and lines "1. Response C". These parse one
// ballot (untrusted model output: anything may come back) and fold the ballots into the
// aggregate ranking the chairman sees.

#include <string>
#include <string_view>
#include <vector>

namespace ask::council {

// The labels ("Response C") in the order a ballot ranks them, from the lines after the last
// "FINAL RANKING:"; labels not among `labels`, repeats and lines without one are skipped.
// Empty when the ballot has no such section.
std::vector<std::string> parse_ballot(std::string_view text, const std::vector<std::string>& labels);

struct RankedLabel {
  std::string label;
  double average_position = 0; // 1 = best; over the ballots that ranked it
  int ballots = 0;             // how many ballots ranked it
};

// Labels by average position (ties: more ballots first, then label order); labels no ballot
// ranked come last with 0 ballots.
std::vector<RankedLabel> aggregate(const std::vector<std::vector<std::string>>& ballots,
                                   const std::vector<std::string>& labels);

// The chairman's {{rankings}} text: "Peer review (N ballots), best first:\n1. Response B
// (average position 1.5)\n..."; "" when no ballot could be read.
std::string rankings_text(const std::vector<RankedLabel>& ranked, std::size_t ballots);

} // namespace ask::council
