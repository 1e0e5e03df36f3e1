#pragma once
// Supervisor: the llama-server processes behind the scheduler. It starts each with execve
// and an argument vector (never a shell) in its own process group, captures its stdout and
// stderr (a bounded ring in memory for the API, and a log file), polls GET /health on its
// port until it answers 200, stops it with SIGTERM then SIGKILL after a grace period, reaps
// it, and reports through callbacks: ready once /health answers, exited once reaped (with
// the exit status and the last log lines). On Linux children get PR_SET_PDEATHSIG(SIGKILL),
// so askd dying — even by SIGKILL — takes them along; the destructor kills and reaps any
// left, which is all the portable path has (core/platform.h die_with_parent).
//
// Thread-safe. Callbacks run on the supervisor's own threads, never inside launch() or
// terminate(), so a caller may hold its lock while calling those and take it in callbacks.
// They are serialised (one at a time), ready() never follows exited() for the same id, and
// exited() comes exactly once per launch, after the process is reaped and its output read to
// the end. A callback may call launch() and terminate() (even for the id it is told about),
// but must not destroy the Supervisor.
//
// Every fork happens on one long-lived thread of the supervisor: PR_SET_PDEATHSIG fires when
// the *thread* that forked ends, so a short-lived caller thread must not be the parent.

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/error.h"

namespace ask::router {

struct LaunchSpec {
  std::filesystem::path binary;  // a path, or a bare name looked up on the child's PATH
  std::vector<std::string> args; // argv[1..]; the supervisor adds nothing
  std::vector<std::pair<std::string, std::string>> env; // added to (or replacing in) askd's
  std::string host = "127.0.0.1";
  int port = 0;                   // where /health is polled; must be in args already
  std::filesystem::path log_file; // "" = no file, the ring only; appended to, folders
                                  // created; if it fails the ring says so and the process
                                  // runs on
};

struct ProcessExit {
  int status = 0; // exit status, or the signal number when `signaled`; 127 for a
                  // failed start; -1 when the status was lost (SIGCHLD ignored)
  bool signaled = false;
  std::string tail; // the last lines of its output (at most ~2 KiB), for messages
};

struct SupervisorOptions {
  std::chrono::milliseconds stop_grace{10'000};   // SIGTERM → SIGKILL
  std::chrono::milliseconds health_interval{250}; // between /health polls
  std::size_t ring_bytes = 64 * 1024;             // output kept per process
};

class Supervisor {
public:
  struct Callbacks {
    std::function<void(std::uint64_t id)> ready;
    std::function<void(std::uint64_t id, const ProcessExit& exit)> exited;
  };

  Supervisor(Callbacks callbacks, SupervisorOptions options = {});
  ~Supervisor(); // SIGKILL to every process group still running, then reaps them
  Supervisor(const Supervisor&) = delete;
  Supervisor& operator=(const Supervisor&) = delete;

  // Starts a process for instance `id`. A failure to start (no such binary, not executable)
  // is reported as an exit (status 127 and the reason as its tail), not as an error here, so
  // the scheduler sees one path for every failed start. Returns the pid, or 0 on that path.
  // `id` must not be in use (its exited() already delivered); a launch for an id in use, or
  // one while the Supervisor is being destroyed, returns 0 without any callback.
  int launch(std::uint64_t id, const LaunchSpec& spec);
  // SIGTERM to its process group now, SIGKILL after stop_grace; exited() follows. An id that
  // is unknown, already stopping or already reaped is ignored. A process being stopped is
  // never reported ready.
  void terminate(std::uint64_t id);

  // Its output so far (the ring: the most recent ring_bytes); "" for an unknown id and once
  // exited() is under way (its tail carries the end of the output).
  std::string output(std::uint64_t id) const;
  // The pid while the process runs (or is dead but not yet reaped); nullopt otherwise.
  std::optional<int> pid(std::uint64_t id) const;

private:
  struct Impl;
  std::unique_ptr<Impl> m_impl;
};

// A free TCP port on 127.0.0.1 (bound to port 0, read back, closed). Another process may
// take it before the child binds it; the child then fails to start and the scheduler
// retries on a new port.
core::Result<int> free_loopback_port();

} // namespace ask::router
