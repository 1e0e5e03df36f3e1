#pragma once
// The council: a logical model that asks several members in parallel, hands their answers to
// a chairman anonymised as "Response A", "Response B", ... in an order shuffled per request,
// and lets the chairman write the answer (docs/council.md). This module prepares and runs the
// members' part through a core::Completer and builds the chairman's request; the proxy sends
// that request down the chairman's chain (streamed or not) like any other.

#include <cstdint>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "config/types.h"
#include "core/completer.h"
#include "core/error.h"
#include "core/openai.h"

namespace ask::council {

// What happened to one member.
struct MemberOutcome {
  std::string model;                 // the configured member model
  std::string label;                 // its label in logs and headers (config; default model)
  std::string served_by;             // who answered ("" when it failed)
  std::string fallback_path;         // as askd's header says it
  std::optional<std::string> answer; // the content, reasoning left out; none when it failed
  std::optional<core::Error> error;  // why it failed
  std::optional<core::Usage> usage;
};

struct Deliberation {
  std::vector<MemberOutcome> members; // in config order
  // The answered members in the order the chairman sees them: order[0] is "Response A".
  std::vector<std::size_t> order;
  std::string rankings;         // the aggregate ranking text; "" without peer review
  core::Json chairman_request;  // the request for the chairman's chain (model = chairman)
  core::Usage usage;            // members' (and reviewers') tokens summed

  // "fast-9b,fast-3b": who served each member, in config order; a failed member is "-".
  std::string served_list() const;
  // Members that answered.
  std::size_t answered() const { return order.size(); }
};

// The question the council deliberates: the text of the last user message (earlier turns are
// not sent to members; system messages are). bad_request when there is no user message.
core::Result<std::string> question_of(const core::ChatRequest& request);

// Runs the members of `council` on `request` in parallel through `completer` (each member's
// own fallback chain applies), optionally the peer-review stage, and builds the chairman's
// request. `rng` shuffles the labels. Errors: bad_request (no question); when every member
// failed, upstream_status 502 whose message names each member and its failure.
core::Result<Deliberation> deliberate(const config::Council& council,
                                      const core::ChatRequest& request, core::Completer& completer,
                                      std::mt19937_64& rng);

// The "Response A: ..." blocks of the answered members in `order`.
std::string responses_text(const std::vector<MemberOutcome>& members,
                           const std::vector<std::size_t>& order);
// "Response A", "Response B", ..., "Response Z", "Response AA", ...
std::string response_label(std::size_t position);

} // namespace ask::council
