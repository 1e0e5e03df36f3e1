#pragma once
// The supervisor's process plumbing: preparing an execve (argument vector, environment,
// binary looked up on PATH) before fork, the child's side of fork, reading its exec report,
// close-on-exec pipes, and the /health probe. Internal to the supervisor (router/supervisor.cpp,
// supervisor_monitor.cpp, supervisor_impl.h).

#include <chrono>
#include <filesystem>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <sys/types.h>

#include "core/error.h"
#include "core/unique_fd.h"
#include "router/supervisor.h"

namespace ask::router::spawn {

inline constexpr int k_start_failed = 127; // as a shell reports a command it cannot run

// Everything the child needs between fork and execve, built beforehand: after fork in a
// threaded process only async-signal-safe calls are allowed, so nothing may allocate.
struct ExecPlan {
  std::string path;
  std::vector<std::string> argv_text;
  std::vector<std::string> env_text;
  std::vector<char*> argv;
  std::vector<char*> envp;
  pid_t parent = 0;
  int max_fd = 1024; // for core::platform::close_fds_on_exec's close loop
};

// The plan for `spec`: askd's environment with spec.env applied, the binary resolved on the
// child's PATH. Fails (not_found) when a bare name is on no PATH entry.
core::Result<ExecPlan> make_exec_plan(const LaunchSpec& spec);

// Child side of fork: async-signal-safe calls only. On failure writes errno to `status_fd`
// (close-on-exec, so a successful execve closes it unwritten) and exits with 127.
[[noreturn]] void exec_child(const ExecPlan& plan, int out_fd, int status_fd);

// The errno the child sent before exiting with 127, or nullopt once execve succeeded (the
// pipe closed unwritten) or nothing came within 10 s.
std::optional<int> read_exec_report(int fd);

// Milliseconds from now to `deadline` for poll(), between 0 and 60 s.
int ms_until(std::chrono::steady_clock::time_point deadline);

// GET /health on host:port. Anything but a 200 before the deadline (refused, 503 while the
// model loads, a timeout) means "not yet".
bool health_ok(const std::string& host, int port, std::chrono::milliseconds timeout);

} // namespace ask::router::spawn
