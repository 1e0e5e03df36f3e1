#pragma once
// A program run on a pseudo-terminal, for tests of what people see: ask's progress line,
// colours and notes only appear when stdout or stderr is a terminal. The child gets its own
// session with the terminal (80x24 unless told otherwise) as its controlling terminal, on
// stdout and stderr, or on stderr only with stdout on a pipe (`ask … | less` typed at a
// terminal). Standard input is the given text or /dev/null, never the terminal.
//
// Unlike ChildProcess this runs to the end before it returns: fork and execve (a terminal
// cannot be given through posix_spawn's file actions portably), one thread reading the
// terminal and the pipe until the child has exited and closed them, killed at the timeout.

#include <chrono>
#include <optional>
#include <string>
#include <vector>

namespace ask::testing {

struct PtyOptions {
  // "NAME=value" entries that replace or add to the test's environment; "NAME" alone removes
  // the variable (as ChildOptions::env). TERM is xterm-256color unless set here.
  std::vector<std::string> env;
  std::optional<std::string> stdin_text; // unset: /dev/null
  bool stdout_to_pipe = false;           // stdout on a pipe, stderr still the terminal
  unsigned short columns = 80;
  unsigned short rows = 24;
  // Past it the child's process group is killed (SIGKILL) and the result says timed_out.
  std::chrono::milliseconds timeout{30'000};
};

struct PtyResult {
  int code = -1;          // the exit code; -1 when killed by a signal
  int signal = 0;         // the signal that ended it, if one did
  bool timed_out = false; // the timeout passed and the child was killed
  // Everything written to the terminal, as the terminal delivered it: with the default
  // settings a "\n" arrives as "\r\n" (the tty's ONLCR), like on a real terminal.
  std::string tty;
  std::string pipe; // stdout, with stdout_to_pipe
};

// Runs argv[0] (a path) with argv on a new pseudo-terminal and waits for it to end. Throws
// std::runtime_error when the terminal cannot be made or the program cannot be started.
PtyResult run_on_pty(std::vector<std::string> argv, const PtyOptions& options = {});

// `text` with the terminal's "\r\n" turned back into "\n" (a lone "\r" is kept: the progress
// line's redraws use it).
std::string pty_lines(const std::string& text);

} // namespace ask::testing
