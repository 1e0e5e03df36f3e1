#include "council/ranking.h"

#include <doctest/doctest.h>

using namespace ask::council;

namespace {
const std::vector<std::string> k_labels = {"Response A", "Response B", "Response C"};
} // namespace

TEST_CASE("parse_ballot: the lines after the last FINAL RANKING:") {
  CHECK(parse_ballot("Thoughts.\nFINAL RANKING:\n1. Response C\n2. Response A\n3. Response B",
                     k_labels) == std::vector<std::string>{"Response C", "Response A", "Response B"});
  // The last marker counts; prose, repeats and unknown labels are skipped.
  CHECK(parse_ballot("FINAL RANKING: draft\n1. Response A\nFINAL RANKING:\n- Response B is best\n"
                     "nothing here\n- Response B again\n- Response Q\n- Response A",
                     k_labels) == std::vector<std::string>{"Response B", "Response A"});
  CHECK(parse_ballot("no ranking at all", k_labels).empty());
  CHECK(parse_ballot("", k_labels).empty());
  CHECK(parse_ballot("FINAL RANKING:", k_labels).empty());
  // "Response AB" is not "Response A".
  const std::vector<std::string> many = {"Response A", "Response AB"};
  CHECK(parse_ballot("FINAL RANKING:\n1. Response AB\n2. Response A", many) ==
        std::vector<std::string>{"Response AB", "Response A"});
}

TEST_CASE("aggregate: by average position - unranked labels last") {
  auto ranked = aggregate({{"Response B", "Response A"}, {"Response A", "Response B"},
                           {"Response B"}},
                          k_labels);
  REQUIRE(ranked.size() == 3);
  CHECK(ranked[0].label == "Response B");
  CHECK(ranked[0].average_position == doctest::Approx(4.0 / 3));
  CHECK(ranked[0].ballots == 3);
  CHECK(ranked[1].label == "Response A");
  CHECK(ranked[1].average_position == doctest::Approx(1.5));
  CHECK(ranked[2].label == "Response C");
  CHECK(ranked[2].ballots == 0);
  const std::string text = rankings_text(ranked, 3);
  CHECK(text == "Peer review (3 ballots), best first:\n1. Response B (average position 1.3)\n"
                "2. Response A (average position 1.5)");
  CHECK(rankings_text(aggregate({}, k_labels), 0).empty());
}
