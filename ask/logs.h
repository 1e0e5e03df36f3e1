#pragma once
// `ask logs`: reads the conversation history (ask/history.h) and prints exchanges, as text
// for people or as one JSON array for jq. docs/history.md.

#include <optional>
#include <string>
#include <vector>

#include "ask/exit_code.h"
#include "ask/history.h"
#include "ask/terminal.h"
#include "config/types.h"
#include "core/clock.h"

namespace ask::cli {

struct LogsOptions {
  int n = 10;                       // -n: at most this many, the newest; 0 = all
  std::optional<std::string> query; // -q TEXT: words that must all occur (history::Query)
  std::optional<std::string> cid;   // --cid ID: one conversation, printed oldest first
  bool json = false;                // --json
};

// Prints the newest exchanges (matching the query, of the conversation) on stdout: newest
// first, except with a cid, where the newest n read top-down, oldest first. No history file
// yet: a note on stderr, nothing on stdout (`[]` with --json), ExitCode::ok. A bad -n or
// --cid is ExitCode::usage; a history that cannot be read, ExitCode::failure.
ExitCode run_logs(const LogsOptions& options, const config::Config& config,
                  const core::Clock& clock, Terminal& terminal);

// The text form of exchanges: per exchange a header line (local time "2026-12-06 14:02",
// model, "served by X" when it differs, cid), the prompt with each line after "> ", then the
// answer; a blank line between exchanges.
std::string render_exchanges(const std::vector<history::Exchange>& exchanges);

} // namespace ask::cli
