#pragma once
// The timeline of one answer, shared by both APIs: wait for the first token, emit tokens
// at the configured rate, and end as a mid-stream fault says (drop, hang, crash) or when
// the client goes away. The API decides what bytes a token is through a TokenSink.

#include <chrono>
#include <cstddef>
#include <functional>
#include <optional>

#include "sim/fault.h"
#include "sim/http.h"
#include "sim/introspection.h"

namespace ask::sim {

struct Pacing {
  std::chrono::nanoseconds ttft{0}; // before the first token
  double tokens_per_second = 0;     // 0 = no pacing
  std::optional<long long> drop_after;
  std::optional<long long> hang_after;
  std::optional<long long> crash_after;
};

// Builds the pacing for a request from the process defaults and its faults.
Pacing make_pacing(std::chrono::nanoseconds default_ttft, double default_tps,
                   const FaultSpec& fault);

class TokenSink {
public:
  virtual ~TokenSink() = default;
  // Called once, after the ttft and before the first token (a stream sends its headers).
  virtual bool open() = 0;
  // Token `index` of the answer.
  virtual bool token(std::size_t index) = 0;
  // Sends whatever open()/token() held back, before the connection is cut.
  virtual bool flush() = 0;
  // The end of the answer: final chunks, or the whole body of a non-streaming answer.
  virtual bool finish() = 0;
};

enum class Outcome {
  completed,   // finish() went out
  client_gone, // the client closed the connection first
  dropped,     // drop_after cut the connection
  hung,        // hang_after held the connection until the client left
  stopping,    // the server is shutting down
};

// The counter an outcome adds to: completed, client_gone (gone or hung), or other.
RequestEnd request_end(Outcome outcome);

// Hooks into the timeline of play().
struct PlayHooks {
  std::function<void(std::size_t decoded)> progress; // after each token
  // When the last token is out and before the end of the answer is sent: resources held for
  // generation (a slot, a loaded model) are released here, so a client that has read the
  // whole answer sees them released.
  std::function<void()> before_finish;
};

// Plays `n_tokens` tokens into `sink`. crash_after kills the process (see crash_now()).
Outcome play(Exchange& exchange, const Pacing& pacing, std::size_t n_tokens, TokenSink& sink,
             const PlayHooks& hooks = {});

// Holds the connection, sending nothing, until the client leaves or the server stops.
Outcome hang(Exchange& exchange);

// Ends the process at once the way a crash does: SIGKILL to itself (exit by signal 9, no
// shutdown lines, the kernel resets open connections).
[[noreturn]] void crash_now();

} // namespace ask::sim
