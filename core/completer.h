#pragma once
// Completer: one whole chat completion of a logical model, through askd's fallback chain,
// for code that needs answers rather than a client connection (the council's members and
// peer reviewers). The proxy implements it; council tests use a fake that records requests.

#include <string>

#include "core/error.h"
#include "core/openai.h"

namespace ask::core {

struct Completion {
  ChatResponse response;     // the served model's whole answer (reasoning included)
  std::string served_by;     // the logical model that answered (a fallback when demoted)
  std::string fallback_path; // "fast-9b>fast-3b" when it went past its first model
};

class Completer {
public:
  virtual ~Completer() = default;
  // Answers `request` (an OpenAI chat request; "model" names a logical model, "stream" is
  // false). Thread-safe: the council calls it from several threads at once. Errors are the
  // chain's: every model of `model`'s chain failed, or the caller went away (cancelled).
  virtual Result<Completion> complete(const Json& request) = 0;
};

} // namespace ask::core
