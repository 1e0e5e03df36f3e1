#pragma once
// The fallback rules (docs/fallback.md): which failures move a request on to the next
// model of its chain, the short reason recorded for each failed attempt, and the error
// askd answers when every model failed.

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/error.h"
#include "core/openai.h"

namespace ask::proxy {

// One failed try at one logical model.
struct Attempt {
  std::string model;
  std::string backend;
  std::string reason; // "connect", "timeout", "status_503", "queue_full", "empty_stream",
                      // "context", "capability", ...
  core::Error error;
  double seconds = 0; // from the attempt's start to its failure (0: skipped without a call)
};

// True when `error` should move the request on to the next model: connect failures,
// timeouts, overloaded (a full queue, a model that cannot be placed), a prompt too long for
// the model's context window, a backend's 5xx, 429,
// 408, and 401/403/404 (the backend's own configuration: a missing model or a wrong key, not
// the client's request). False for the client's own mistakes (bad_request, not_found, a
// backend's other 4xx: the request would fail everywhere), cancelled and internal.
bool falls_back(const core::Error& error);

// The short reason for metrics and logs: the error kind, "status_NNN" for upstream statuses
// ("status_502" also for malformed replies).
std::string reason_for(const core::Error& error);

// The answer when every attempt failed: 400 "context_length_exceeded" when the prompt fit no
// model's context window (the others could not do the operation at all), naming the tokens
// and each window; 429 when each attempt found a full queue (too many
// requests: try again in a second); 503 when each failed for lack of capacity in some other
// way (a managed model that cannot be placed, or in crash-loop backoff), with the soonest
// retry_after_s of the attempts as Retry-After where one is known; else 502. The body is
// OpenAI's error shape, with the message naming each attempt and an "attempts" array
// [{"model","backend","reason","message"}].
struct ChainFailure {
  int status = 502;
  core::Json body;
  int retry_after_s = 0; // Retry-After for a 503; 0 = none
};
ChainFailure chain_failure(const std::vector<Attempt>& attempts);

// The models tried, joined with '>' ("fast-9b>fast-3b>fast-1b"): the X-Fallback-Path header.
std::string path_text(const std::vector<std::string>& path);

// Why each failed attempt failed, in order, "model=reason" joined with ','
// ("fast-9b=context,fast-3b=status_503"): the X-Fallback-Reasons header.
std::string reasons_text(const std::vector<Attempt>& attempts);

// How long each attempt and its waits took, as a W3C Server-Timing header value (milliseconds):
// `attempt;desc="fast-9b";dur=12.3` for each attempt in order (failed ones, then `served` when
// one is answering, measured up to the headers), then `queue;dur=…` (waiting for a concurrency
// permit) and `load;dur=…` (waiting for a managed llama-server to be ready) when nonzero.
struct Timings {
  const std::vector<Attempt>* failed = nullptr;
  std::optional<std::pair<std::string, double>> served; // model, seconds so far
  double queue_s = 0;
  double load_s = 0;
};
std::string server_timing_text(const Timings& timings);

} // namespace ask::proxy
