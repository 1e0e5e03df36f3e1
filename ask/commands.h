#pragma once
// ask's other commands: `ask stats`, `ask cache stats|prune|clear`, `ask models`.

#include "ask/cli.h"
#include "ask/exit_code.h"
#include "ask/terminal.h"
#include "config/config.h"
#include "core/clock.h"
#include "core/xdg.h"

namespace ask::cli {

ExitCode run_stats(const StatsOptions& options, const config::Config& config,
                   const core::Clock& clock, Terminal& terminal);
ExitCode run_cache(Command command, const config::Config& config, const core::Clock& clock,
                   Terminal& terminal);
ExitCode run_models(const ModelsOptions& options, const core::EnvLookup& env, int stop_fd,
                    Terminal& terminal);

// A --since/--until value as unix seconds: a duration back from `now` ("7d", "36h", "90m")
// or a UTC date "YYYY-MM-DD" (its midnight) or "YYYY-MM-DDTHH:MM[:SS]".
core::Result<double> parse_when(std::string_view text, double now);

} // namespace ask::cli
