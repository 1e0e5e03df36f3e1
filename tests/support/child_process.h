#pragma once
// A child process for integration tests: spawned with posix_spawn from an argument vector
// (no shell) in its own process group, stdout and stderr captured by reader threads, and
// awaited with deadlines (a condition variable, never a fixed sleep). The destructor kills
// the whole group, so a failing test leaves nothing running.

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <sys/types.h>
#include <thread>
#include <vector>

#include "core/platform.h"

namespace ask::testing {

struct ExitStatus {
  bool exited = false; // exit() / return from main
  int code = -1;       // when exited
  int signal = 0;      // when killed by a signal
};

struct ChildOptions {
  // "NAME=value" entries that replace or add to the test's environment; "NAME" alone removes
  // the variable.
  std::vector<std::string> env;
  // The file standard input reads from ("/dev/null" for none); unset: the test's own stdin.
  std::optional<std::string> stdin_path;
};

class ChildProcess {
public:
  // Starts argv[0] (a path) with argv. Throws std::runtime_error when it cannot be spawned.
  explicit ChildProcess(std::vector<std::string> argv);
  ChildProcess(std::vector<std::string> argv, ChildOptions options);
  ~ChildProcess();
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  pid_t pid() const { return m_pid; }
  // Everything written so far: stdout and stderr interleaved as they arrived.
  std::string output() const;
  std::string stdout_text() const;
  std::string stderr_text() const;

  // Waits until a complete output line matches `pattern` (ECMAScript regex, searched
  // anywhere in the line); returns that line, or nullopt after `timeout` or when the
  // process closed its output without printing one.
  std::optional<std::string> wait_for_output(const std::string& pattern,
                                             std::chrono::milliseconds timeout);

  // Waits until the child (and any process that inherited its output) has closed stdout and
  // stderr and everything written is read; false after `timeout`. After wait_exit(), call it
  // before reading the output in full.
  bool wait_output_closed(std::chrono::milliseconds timeout);

  // Sends `sig` to the process group.
  void signal(int sig);
  // Waits for the process to end; nullopt when it is still running after `timeout`.
  std::optional<ExitStatus> wait_exit(std::chrono::milliseconds timeout);
  // SIGTERM, then SIGKILL when it has not ended after `grace`; returns how it ended.
  ExitStatus terminate(std::chrono::milliseconds grace = std::chrono::milliseconds(3000));
  bool running();

private:
  void read_loop(int fd, std::string* own);
  std::optional<ExitStatus> reap(bool block);

  pid_t m_pid = -1;
  core::platform::ChildExitWatch m_exit_watch; // invalid: wait_exit polls every 5 ms
  std::optional<ExitStatus> m_status;
  mutable std::mutex m_mutex;
  std::condition_variable m_changed;
  std::string m_output;
  std::string m_stdout;
  std::string m_stderr;
  int m_open_streams = 2;
  std::thread m_out_reader;
  std::thread m_err_reader;
};

// The test's environment with `changes` applied ("NAME=value" sets, "NAME" removes), for
// children started other ways (tests/integration/pty_process.h).
std::vector<std::string> environment_with(const std::vector<std::string>& changes);

// The port in a listening line: llama-server's "listening on http://127.0.0.1:8080",
// llm-sim's "bound http://127.0.0.1:8080", Ollama's "Listening on 127.0.0.1:11434".
std::optional<int> port_from_listening_line(std::string_view line);

} // namespace ask::testing
