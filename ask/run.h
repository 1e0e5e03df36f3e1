#pragma once
// One question, end to end: choose the model, assemble the prompt, answer from the cache or
// from askd (streaming to the terminal), say when the answer was demoted, store it, and append
// the telemetry line. Returns the exit code.

#include <cstdio>
#include <string>

#include "ask/cli.h"
#include "ask/exit_code.h"
#include "ask/terminal.h"
#include "config/config.h"
#include "core/clock.h"
#include "core/xdg.h"

namespace ask::cli {

// What the process provides, so that tests could substitute it.
struct Process {
  core::EnvLookup env;
  const core::Clock& clock;
  int stdin_fd = 0;
  bool stdin_is_tty = true;
  int stop_fd = -1; // readable once SIGINT or SIGTERM arrived
};

ExitCode run_question(const AskOptions& options, const config::LoadedConfig& loaded,
                      const Process& process, Terminal& terminal);

// askd's address for --url, else $ASK_URL, else http://127.0.0.1:11436.
std::string askd_url(const std::optional<std::string>& flag, const core::EnvLookup& env);
// --api-key, else $ASK_API_KEY (empty means none).
std::optional<std::string> askd_api_key(const std::optional<std::string>& flag,
                                        const core::EnvLookup& env);

} // namespace ask::cli
