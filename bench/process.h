#pragma once
// Child processes for the benchmarks (llm-sim, askd, nginx): spawned with posix_spawn from an
// argument vector (no shell), each in its own process group, stdout and stderr appended to a
// log file that start-up lines are read from. Every group is killed when its Process is
// destroyed, when the benchmark exits, and when it is stopped by SIGINT, SIGTERM or SIGHUP
// (install_cleanup_handlers). Only a SIGKILL of the benchmark itself can leave children
// behind; llm-sim is also given --sim-parent-pid so it goes away even then.

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ask::bench {

// Kills every live child group on SIGINT/SIGTERM/SIGHUP and at exit(). Call once, early.
void install_cleanup_handlers();

class Process {
public:
  // Starts argv[0] (a path) with argv and the current environment. Throws std::runtime_error
  // when it cannot be spawned.
  Process(std::vector<std::string> argv, std::filesystem::path log_file);
  ~Process();
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;

  pid_t pid() const { return m_pid; }
  const std::vector<std::string>& argv() const { return m_argv; }
  const std::filesystem::path& log_file() const { return m_log; }

  // Waits until a line of the log contains `needle`; returns that line, or nullopt after
  // `timeout` or once the process has exited without printing it.
  std::optional<std::string> wait_for_line(std::string_view needle,
                                           std::chrono::milliseconds timeout);
  // True while the process has not exited (reaps it when it has).
  bool running();
  // The raw wait status once exited.
  std::optional<int> exit_status() const { return m_status; }
  // SIGTERM to the group, then SIGKILL after `grace`; reaps. Idempotent.
  void stop(std::chrono::milliseconds grace = std::chrono::milliseconds(2000));
  // The last `max_bytes` of the log, for error messages.
  std::string log_tail(std::size_t max_bytes = 2000) const;

private:
  void reap(bool block);

  std::vector<std::string> m_argv;
  std::filesystem::path m_log;
  pid_t m_pid = -1;
  std::optional<int> m_status;
};

// "exited 1", "killed by signal 9".
std::string describe_wait_status(int status);

// Waits for `p`'s start-up line beginning with `line_start` (llm-sim's "llama_server:
// listening on", askd's "askd: listening on") and returns the port in it; throws
// std::runtime_error naming `what` with the end of its log when it does not come in 15 s.
int start_port_of(Process& p, std::string_view line_start, std::string_view what);

// A loopback TCP port that was free a moment ago (bound to port 0, then closed).
int free_port();
// Waits until something accepts connections on 127.0.0.1:port.
bool wait_for_port(int port, std::chrono::milliseconds timeout);
// The port in "...http://127.0.0.1:PORT..." (askd's and llm-sim's start-up lines).
std::optional<int> port_in_line(std::string_view line);
// argv[0]'s absolute path when `name` is found on PATH (or in /usr/sbin, /sbin).
std::optional<std::filesystem::path> find_program(const std::string& name);

// A temporary folder, removed with its contents unless keep() was called.
class TempDir {
public:
  explicit TempDir(std::string_view prefix);
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return m_path; }
  std::filesystem::path write(const std::string& name, const std::string& text) const;
  void keep() { m_keep = true; }

private:
  std::filesystem::path m_path;
  bool m_keep = false;
};

} // namespace ask::bench
