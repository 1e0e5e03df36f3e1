#pragma once
// Faults llm-sim injects on purpose, chosen for the whole process (--sim-fault SPEC), per
// request with a directive in the last user message ("[[sim: status=503]]"), or with an
// "X-Sim-Fault: status=503" header. SPEC is a comma- or space-separated list of key=value
// items (values may be quoted: repeat="all work and no play"). Key by key, a header
// overrides a directive, which overrides the process-wide spec.

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

#include "core/error.h"

namespace ask::sim {

struct FaultSpec {
  std::optional<std::chrono::milliseconds> ttft; // delay before the first byte
  std::optional<int> status;                     // answer with this HTTP status
  std::optional<int> retry_after;                // seconds, sent with status=429 (default 1)
  bool close_before_headers = false;             // close (FIN) without any response
  bool reset = false;                            // reset (RST) without any response
  std::optional<long long> drop_after;           // close after N tokens, mid-stream
  bool hang = false;                             // never answer until the client goes
  std::optional<long long> hang_after;           // stop sending after N tokens, keep open
  bool crash = false;                            // the process dies (SIGKILL) at once
  std::optional<long long> crash_after;          // ... after N tokens
  std::optional<std::string> repeat;             // stream PHRASE until a limit
  std::optional<long long> tokens;               // exact answer length
  std::optional<double> tps;                     // tokens per second for this request
  bool think = false;                            // emit reasoning before the answer
  std::optional<std::string> tool;               // call this tool ("" = the first one)

  // Fields set in `over` replace those set here.
  void merge(const FaultSpec& over);
  // True when nothing is set.
  bool empty() const;
  // The spec in the grammar parse_fault_spec() accepts, keys in a fixed order.
  std::string to_string() const;
};

// Parses SPEC. Errors (bad_request) name the offending key: an unknown key lists the known
// ones, a bad value says what was expected.
core::Result<FaultSpec> parse_fault_spec(std::string_view text);

// The keys parse_fault_spec() accepts, in the order --help documents them.
std::string_view fault_keys();

struct DirectiveSplit {
  std::string text;                // the message with every "[[sim: ...]]" removed
  std::optional<std::string> spec; // the directives' specs joined with ","; nullopt if none
};

// Finds "[[sim: SPEC]]" directives in a message (any number, anywhere) and removes them,
// along with one space that separated them from the text, so the rest hashes the same as a
// message that never had them.
DirectiveSplit extract_directives(std::string_view text);

} // namespace ask::sim
