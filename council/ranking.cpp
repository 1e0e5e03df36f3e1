#include "council/ranking.h"

#include <algorithm>
#include <cstdio>
#include <map>

namespace ask::council {

std::vector<std::string> parse_ballot(std::string_view text,
                                      const std::vector<std::string>& labels) {
  constexpr std::string_view k_marker = "FINAL RANKING:";
  const std::size_t at = text.rfind(k_marker);
  if (at == std::string_view::npos) {
    return {};
  }
  std::vector<std::string> out;
  std::string_view rest = text.substr(at + k_marker.size());
  while (!rest.empty()) {
    const std::size_t nl = rest.find('\n');
    const std::string_view line = rest.substr(0, nl);
    // The longest label the line names wins ("Response AB" over "Response A").
    const std::string* found = nullptr;
    for (const std::string& label : labels) {
      if (line.find(label) != std::string_view::npos &&
          (found == nullptr || label.size() > found->size())) {
        found = &label;
      }
    }
    if (found != nullptr && std::find(out.begin(), out.end(), *found) == out.end()) {
      out.push_back(*found);
    }
    if (nl == std::string_view::npos) {
      break;
    }
    rest.remove_prefix(nl + 1);
  }
  return out;
}

std::vector<RankedLabel> aggregate(const std::vector<std::vector<std::string>>& ballots,
                                   const std::vector<std::string>& labels) {
  std::vector<RankedLabel> ranked;
  for (const std::string& label : labels) {
    RankedLabel r;
    r.label = label;
    double sum = 0;
    for (const auto& ballot : ballots) {
      const auto it = std::find(ballot.begin(), ballot.end(), label);
      if (it != ballot.end()) {
        sum += static_cast<double>(it - ballot.begin() + 1);
        ++r.ballots;
      }
    }
    r.average_position = r.ballots > 0 ? sum / r.ballots : 0;
    ranked.push_back(std::move(r));
  }
  std::stable_sort(ranked.begin(), ranked.end(), [](const RankedLabel& a, const RankedLabel& b) {
    if ((a.ballots > 0) != (b.ballots > 0)) {
      return a.ballots > 0;
    }
    if (a.average_position != b.average_position) {
      return a.average_position < b.average_position;
    }
    return a.ballots > b.ballots;
  });
  return ranked;
}

std::string rankings_text(const std::vector<RankedLabel>& ranked, std::size_t ballots) {
  if (ballots == 0) {
    return {};
  }
  std::string out = "Peer review (" + std::to_string(ballots) +
                    (ballots == 1 ? " ballot" : " ballots") + "), best first:\n";
  int position = 1;
  for (const RankedLabel& r : ranked) {
    if (r.ballots == 0) {
      continue;
    }
    char avg[32];
    std::snprintf(avg, sizeof avg, "%.2g", r.average_position);
    out += std::to_string(position++) + ". " + r.label + " (average position " + avg + ")\n";
  }
  if (!out.empty()) {
    out.pop_back();
  }
  return out;
}

} // namespace ask::council
