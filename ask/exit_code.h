#pragma once
// ask's exit codes, documented in `ask --help`, the README and docs/ask.md. Never 0 on
// failure: cron jobs and scripts branch on these.

#include <string_view>

namespace ask::cli {

enum class ExitCode : int {
  ok = 0,           // the answer was printed (from askd or the cache)
  failure = 1,      // anything else: askd answered 5xx, the stream broke, a local error
  usage = 2,        // bad option, bad config, unknown model, empty prompt, askd said 4xx
  unreachable = 3,  // askd could not be reached (not running, wrong --url)
  all_failed = 4,   // every model in the fallback chain failed (askd's 502 / 429)
  timeout = 5,      // --timeout passed, or askd's backend timed out (504)
  interrupted = 130 // SIGINT / SIGTERM
};

// The telemetry "error_kind" for a failure: usage, rejected, context, unreachable, all_failed,
// timeout, interrupted, other. `rejected` (askd refused the request with a 4xx) and `context`
// (the prompt fits no model's context window) share ExitCode::usage with local usage errors.
enum class FailureKind {
  usage,
  rejected,
  context,
  unreachable,
  all_failed,
  timeout,
  interrupted,
  other
};

constexpr ExitCode exit_code_for(FailureKind kind) {
  switch (kind) {
  case FailureKind::usage:
  case FailureKind::rejected:
  case FailureKind::context:
    return ExitCode::usage;
  case FailureKind::unreachable:
    return ExitCode::unreachable;
  case FailureKind::all_failed:
    return ExitCode::all_failed;
  case FailureKind::timeout:
    return ExitCode::timeout;
  case FailureKind::interrupted:
    return ExitCode::interrupted;
  case FailureKind::other:
    return ExitCode::failure;
  }
  return ExitCode::failure;
}

constexpr std::string_view to_string(FailureKind kind) {
  switch (kind) {
  case FailureKind::usage:
    return "usage";
  case FailureKind::rejected:
    return "rejected";
  case FailureKind::context:
    return "context";
  case FailureKind::unreachable:
    return "unreachable";
  case FailureKind::all_failed:
    return "all_failed";
  case FailureKind::timeout:
    return "timeout";
  case FailureKind::interrupted:
    return "interrupted";
  case FailureKind::other:
    return "other";
  }
  return "other";
}

// The exit-code table for --help.
inline constexpr std::string_view k_exit_code_help =
    "Exit codes:\n"
    "  0    the answer was printed (from askd or the cache)\n"
    "  1    another failure (askd error, the answer broke off mid-stream)\n"
    "  2    usage: bad option or config, unknown model, empty prompt, request refused,\n"
    "       the prompt fits no model's context window\n"
    "  3    askd is unreachable (is it running? see --url)\n"
    "  4    every model in the fallback chain failed\n"
    "  5    timed out (--timeout, or the backend's own timeout)\n"
    "  130  interrupted\n";

} // namespace ask::cli
