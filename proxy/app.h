#pragma once
// askd serving: wires the config, the proxy server, the request log and signal handling
// together and runs until SIGINT or SIGTERM. Called by the command line (cli.cpp).

#include <filesystem>
#include <optional>
#include <ostream>
#include <string>

#include "config/config.h"

namespace ask::proxy {

struct ServeOptions {
  std::optional<std::string> listen;      // --listen: overrides the config's "listen"
  std::string log_level = "info";         // --log-level
  std::optional<std::string> request_log; // --request-log: a path, or "off"
  // $XDG_STATE_HOME/ask: calibration.json (measured memory kept across restarts); "" = none.
  std::filesystem::path state_dir;
  // $ASK_UI_DIR: the operator page's files read from there at each request; "" = built in.
  std::filesystem::path ui_dir;
};

// Serves until a signal; returns the exit status (0 after a clean stop, 1 when the address
// cannot be bound, 2 for an address beyond loopback without api_keys).
int serve(config::LoadedConfig loaded, const ServeOptions& options, std::ostream& err);

} // namespace ask::proxy
