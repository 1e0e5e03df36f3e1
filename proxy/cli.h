#pragma once
// askd's command line: --config, --listen, --log-level, --request-log, --check-config [FILE],
// --version, --help. Serving itself is in app.h.

#include <ostream>

#include "core/xdg.h"

namespace ask::proxy {

inline constexpr int k_exit_ok = 0;
inline constexpr int k_exit_failure = 1; // askd could not do its work
inline constexpr int k_exit_usage = 2;   // bad command line or invalid config

// main() of askd, with the real streams and environment.
int askd_main(int argc, char** argv);

// The same, with output, errors and the environment given, for tests.
int run_askd(int argc, const char* const* argv, std::ostream& out, std::ostream& err,
             const core::EnvLookup& env);

} // namespace ask::proxy
