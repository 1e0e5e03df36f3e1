#pragma once
// main() of ask: loads the config (for the tier flags), parses the command line, installs the
// SIGINT/SIGTERM pipe and runs the command.

namespace ask::cli {

int ask_main(int argc, char** argv);

} // namespace ask::cli
