#pragma once
// Runs a tool that reports on the machine (nvidia-smi, amd-smi, vulkaninfo, a preset's
// llama-server --list-devices …) and hands back what it printed. The real runner forks and
// execs with an argument vector (no shell) under a deadline; tests substitute a table.

#include <chrono>
#include <functional>
#include <initializer_list>
#include <string>
#include <utility>
#include <vector>

#include "core/error.h"

namespace ask::router {

// One run of a tool.
struct ToolCommand {
  ToolCommand(std::initializer_list<std::string> args) : argv(args) {}
  ToolCommand(std::vector<std::string> args,
              std::vector<std::pair<std::string, std::string>> vars = {}, bool both = false)
      : argv(std::move(args)), env(std::move(vars)), merge_stderr(both) {}

  // A runner that only looks at the arguments may take the vector itself.
  operator const std::vector<std::string>&() const { return argv; }

  std::vector<std::string> argv; // argv[0] is looked up on PATH
  // Set on top of askd's environment (a preset's "env"), replacing variables of those names.
  std::vector<std::pair<std::string, std::string>> env;
  // stderr is read into the output too, interleaved as written (llama-server prints its
  // --version on stderr).
  bool merge_stderr = false;
};

// Returns the tool's output, or an error saying why there is none: not installed
// (not_found), timed out (timeout), or exited with a non-zero status or a signal (internal;
// the message carries the status and the tool's own first line of complaint, from stderr or,
// when stderr is silent, from stdout, as nvidia-smi prints "Failed to initialize NVML: …").
using ToolRunner = std::function<core::Result<std::string>(const ToolCommand& command)>;

// The real runner: fork + execvp, stdin /dev/null, stdout kept up to 8 MiB, a 10 s limit
// after which the child is killed (SIGKILL) and reaped.
ToolRunner system_tool_runner();
// The same with another limit.
ToolRunner system_tool_runner(std::chrono::milliseconds timeout);

} // namespace ask::router
