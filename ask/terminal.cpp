#include "ask/terminal.h"

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>

#include <unistd.h>

namespace ask::cli {
namespace {

constexpr const char* k_spinner[] = {"⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"};
constexpr std::chrono::milliseconds k_redraw{100};

} // namespace

TerminalSettings detect_terminal(bool quiet) {
  TerminalSettings s;
  s.stdout_is_tty = ::isatty(1) == 1;
  s.stderr_is_tty = ::isatty(2) == 1;
  const char* no_color = std::getenv("NO_COLOR");
  const char* term = std::getenv("TERM");
  bool dumb = term && std::string_view(term) == "dumb";
  s.color = s.stderr_is_tty && !dumb && !(no_color && *no_color);
  s.progress = s.stderr_is_tty && !quiet && !dumb;
  return s;
}

Terminal::Terminal(TerminalSettings settings, std::FILE* out, std::FILE* err)
    : m_settings(settings), m_out(out), m_err(err) {}

Terminal::~Terminal() {
  stop_progress();
}

void Terminal::start_progress(std::string label) {
  if (!m_settings.progress) {
    return;
  }
  std::lock_guard lock(m_mutex);
  if (m_progress_on) {
    return;
  }
  m_label = std::move(label);
  m_progress_on = true;
  m_thread = std::thread([this] { progress_loop(); });
}

void Terminal::relabel_progress(std::string label) {
  std::lock_guard lock(m_mutex);
  if (m_progress_on) {
    m_label = std::move(label);
  }
}

void Terminal::stop_progress() {
  {
    std::lock_guard lock(m_mutex);
    if (!m_progress_on) {
      return;
    }
    m_progress_on = false;
    erase_progress_locked();
  }
  m_cv.notify_all();
  if (m_thread.joinable()) {
    m_thread.join();
  }
}

void Terminal::progress_loop() {
  const auto t0 = std::chrono::steady_clock::now();
  std::unique_lock lock(m_mutex);
  for (int frame = 0; m_progress_on; ++frame) {
    double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::fprintf(m_err, "\r%s %s %.1fs", k_spinner[frame % 10], m_label.c_str(), s);
    std::fflush(m_err);
    m_progress_drawn = true;
    m_cv.wait_for(lock, k_redraw, [this] { return !m_progress_on; });
  }
}

void Terminal::erase_progress_locked() {
  if (m_progress_drawn) {
    std::fputs("\r\033[K", m_err);
    std::fflush(m_err);
    m_progress_drawn = false;
  }
}

bool Terminal::answer(std::string_view text) {
  if (text.empty()) {
    return !m_out_failed;
  }
  std::lock_guard lock(m_mutex);
  erase_progress_locked();
  if (m_in_reasoning) {
    if (m_settings.color) {
      std::fputs("\033[0m", m_err);
    }
    std::fputs("\n", m_err);
    std::fflush(m_err);
    m_in_reasoning = false;
  }
  if (m_out_failed) {
    return false;
  }
  if (std::fwrite(text.data(), 1, text.size(), m_out) != text.size() || std::fflush(m_out) != 0) {
    m_out_failed = true;
    m_out_errno = errno;
    return false;
  }
  m_wrote_answer = true;
  m_answer_ends_newline = text.back() == '\n';
  return true;
}

void Terminal::end_answer() {
  std::lock_guard lock(m_mutex);
  if (m_wrote_answer && !m_answer_ends_newline && !m_out_failed) {
    m_out_failed = std::fputc('\n', m_out) == EOF || std::fflush(m_out) != 0;
    m_out_errno = m_out_failed ? errno : 0;
    m_answer_ends_newline = true;
  }
}

std::string Terminal::answer_error() const {
  return m_out_errno != 0 ? std::strerror(m_out_errno) : "write failed";
}

void Terminal::reasoning(std::string_view text) {
  std::lock_guard lock(m_mutex);
  erase_progress_locked();
  if (!m_in_reasoning && m_settings.color) {
    std::fputs("\033[2m", m_err);
  }
  m_in_reasoning = true;
  std::fwrite(text.data(), 1, text.size(), m_err);
  std::fflush(m_err);
}

void Terminal::note(std::string_view line, bool highlight) {
  std::lock_guard lock(m_mutex);
  erase_progress_locked();
  if (m_in_reasoning) {
    std::fputs(m_settings.color ? "\033[0m\n" : "\n", m_err);
    m_in_reasoning = false;
  }
  bool colored = highlight && m_settings.color;
  std::fprintf(m_err, "%s%.*s%s\n", colored ? "\033[33m" : "", static_cast<int>(line.size()),
               line.data(), colored ? "\033[0m" : "");
  std::fflush(m_err);
}

void Terminal::error(std::string_view message) {
  std::lock_guard lock(m_mutex);
  erase_progress_locked();
  if (m_in_reasoning) {
    std::fputs(m_settings.color ? "\033[0m\n" : "\n", m_err);
    m_in_reasoning = false;
  }
  std::fprintf(m_err, "%sask:%s %.*s\n", m_settings.color ? "\033[31m" : "",
               m_settings.color ? "\033[0m" : "", static_cast<int>(message.size()), message.data());
  std::fflush(m_err);
}

} // namespace ask::cli
