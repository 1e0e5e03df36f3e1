#pragma once
// Terminal: where ask's output goes and how it looks. The answer goes to stdout as it
// arrives; everything else (progress, notes, the degraded line, reasoning) to stderr. The
// progress line ("⠋ fast-9b 1.2s") is drawn only when stderr is a terminal, redrawn by a
// thread every 100 ms, and erased before any other output. Colour only on a terminal and
// never with NO_COLOR set.

#include <cerrno>
#include <condition_variable>
#include <cstdio>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>

namespace ask::cli {

struct TerminalSettings {
  bool stdout_is_tty = false;
  bool stderr_is_tty = false;
  bool color = false;    // stderr_is_tty and NO_COLOR unset or empty
  bool progress = false; // stderr_is_tty and not --quiet
};

class Terminal {
public:
  Terminal(TerminalSettings settings, std::FILE* out, std::FILE* err);
  ~Terminal();
  Terminal(const Terminal&) = delete;
  Terminal& operator=(const Terminal&) = delete;

  // Starts the progress line for `label` (no-op unless settings.progress).
  void start_progress(std::string label);
  // Changes what the progress line says ("fast-9b thinking"), if it is running.
  void relabel_progress(std::string label);
  // Erases the progress line and stops its thread (idempotent).
  void stop_progress();

  // A piece of the answer, written and flushed at once. False once stdout has failed (a
  // closed pipe): the caller goes on without printing.
  bool answer(std::string_view text);
  // Ends the answer with a newline unless it already ended with one or nothing was written.
  void end_answer();
  // True once writing the answer to stdout failed (a full disk, a closed pipe).
  bool answer_failed() const { return m_out_failed; }
  // The OS's reason for that failure ("No space left on device").
  std::string answer_error() const;
  // True when that failure was a closed pipe (`ask … | head -c 10`): the reader has gone
  // away on purpose, nothing to report.
  bool answer_pipe_closed() const { return m_out_failed && m_out_errno == EPIPE; }
  // A piece of reasoning on stderr (dim when coloured).
  void reasoning(std::string_view text);
  // One line on stderr; `highlight` makes it yellow when coloured.
  void note(std::string_view line, bool highlight = false);
  // "ask: <message>" on stderr (red "ask:" when coloured).
  void error(std::string_view message);

  const TerminalSettings& settings() const { return m_settings; }

private:
  void progress_loop();
  void erase_progress_locked();

  TerminalSettings m_settings;
  std::FILE* m_out;
  std::FILE* m_err;
  std::mutex m_mutex;
  std::condition_variable m_cv;
  std::thread m_thread;
  std::string m_label;
  bool m_progress_on = false;
  bool m_progress_drawn = false;
  bool m_in_reasoning = false;
  bool m_out_failed = false;
  int m_out_errno = 0;
  bool m_wrote_answer = false;
  bool m_answer_ends_newline = false;
};

// Settings for the real process: isatty on fds 1 and 2, NO_COLOR, --quiet.
TerminalSettings detect_terminal(bool quiet);

} // namespace ask::cli
