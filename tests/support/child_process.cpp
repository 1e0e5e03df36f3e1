#include "tests/support/child_process.h"

#include <csignal>
#include <cstring>
#include <fcntl.h>
#include <poll.h>
#include <regex>
#include <spawn.h>
#include <stdexcept>
#include <sys/wait.h>
#include <unistd.h>

extern char** environ; // NOLINT(readability-redundant-declaration): POSIX has it in no header

namespace ask::testing {

namespace {

using SteadyClock = std::chrono::steady_clock;

ExitStatus decode(int status) {
  ExitStatus s;
  if (WIFEXITED(status)) {
    s.exited = true;
    s.code = WEXITSTATUS(status);
  } else if (WIFSIGNALED(status)) {
    s.signal = WTERMSIG(status);
  }
  return s;
}

void check(int rc, const char* what) {
  if (rc != 0) {
    throw std::runtime_error(std::string(what) + ": " + std::strerror(rc));
  }
}

} // namespace

std::vector<std::string> environment_with(const std::vector<std::string>& changes) {
  std::vector<std::string> env;
  auto name_of = [](const std::string& entry) { return entry.substr(0, entry.find('=')); };
  for (char** e = environ; *e != nullptr; ++e) {
    const std::string entry = *e;
    bool replaced = false;
    for (const std::string& c : changes) {
      replaced = replaced || name_of(c) == name_of(entry);
    }
    if (!replaced) {
      env.push_back(entry);
    }
  }
  for (const std::string& c : changes) {
    if (c.find('=') != std::string::npos) {
      env.push_back(c);
    }
  }
  return env;
}

ChildProcess::ChildProcess(std::vector<std::string> argv) : ChildProcess(std::move(argv), {}) {}

ChildProcess::ChildProcess(std::vector<std::string> argv, ChildOptions options) {
  int out[2], err[2];
  if (!core::platform::make_pipe_cloexec(out) || !core::platform::make_pipe_cloexec(err)) {
    throw std::runtime_error(std::string("pipe: ") + std::strerror(errno));
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, out[1], STDOUT_FILENO);
  posix_spawn_file_actions_adddup2(&actions, err[1], STDERR_FILENO);
  if (options.stdin_path) {
    posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, options.stdin_path->c_str(),
                                     O_RDONLY, 0);
  }
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t none, defaults;
  sigemptyset(&none);
  sigemptyset(&defaults);
  for (int sig : {SIGTERM, SIGINT, SIGPIPE, SIGUSR1, SIGCHLD}) {
    sigaddset(&defaults, sig);
  }
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setsigdefault(&attr, &defaults);
  posix_spawnattr_setpgroup(&attr, 0);
  posix_spawnattr_setflags(&attr,
                           POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  std::vector<char*> args;
  args.reserve(argv.size() + 1);
  for (std::string& a : argv) {
    args.push_back(a.data());
  }
  args.push_back(nullptr);
  std::vector<std::string> env_text = environment_with(options.env);
  std::vector<char*> envp;
  envp.reserve(env_text.size() + 1);
  for (std::string& e : env_text) {
    envp.push_back(e.data());
  }
  envp.push_back(nullptr);
  int rc = posix_spawn(&m_pid, args[0], &actions, &attr, args.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  ::close(out[1]);
  ::close(err[1]);
  if (rc != 0) {
    ::close(out[0]);
    ::close(err[0]);
    check(rc, ("posix_spawn " + argv.at(0)).c_str());
  }
  m_exit_watch = core::platform::ChildExitWatch(m_pid);
  m_out_reader = std::thread([this, fd = out[0]] { read_loop(fd, &m_stdout); });
  m_err_reader = std::thread([this, fd = err[0]] { read_loop(fd, &m_stderr); });
}

ChildProcess::~ChildProcess() {
  ::kill(-m_pid, SIGKILL); // the whole group: grandchildren would keep the pipes open
  reap(true);
  m_out_reader.join();
  m_err_reader.join();
}

void ChildProcess::read_loop(int fd, std::string* own) {
  char buffer[4096];
  for (;;) {
    ssize_t n = ::read(fd, buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n <= 0) {
      break;
    }
    std::lock_guard lock(m_mutex);
    own->append(buffer, static_cast<std::size_t>(n));
    m_output.append(buffer, static_cast<std::size_t>(n));
    m_changed.notify_all();
  }
  ::close(fd);
  std::lock_guard lock(m_mutex);
  --m_open_streams;
  m_changed.notify_all();
}

std::string ChildProcess::output() const {
  std::lock_guard lock(m_mutex);
  return m_output;
}

std::string ChildProcess::stdout_text() const {
  std::lock_guard lock(m_mutex);
  return m_stdout;
}

std::string ChildProcess::stderr_text() const {
  std::lock_guard lock(m_mutex);
  return m_stderr;
}

std::optional<std::string> ChildProcess::wait_for_output(const std::string& pattern,
                                                         std::chrono::milliseconds timeout) {
  const std::regex re(pattern);
  const auto deadline = SteadyClock::now() + timeout;
  std::size_t scanned = 0; // complete lines before this offset were checked
  std::unique_lock lock(m_mutex);
  for (;;) {
    std::size_t eol;
    while ((eol = m_output.find('\n', scanned)) != std::string::npos) {
      std::string line = m_output.substr(scanned, eol - scanned);
      scanned = eol + 1;
      if (std::regex_search(line, re)) {
        return line;
      }
    }
    if (m_open_streams == 0) {
      return std::nullopt;
    }
    if (m_changed.wait_until(lock, deadline) == std::cv_status::timeout) {
      return std::nullopt;
    }
  }
}

bool ChildProcess::wait_output_closed(std::chrono::milliseconds timeout) {
  std::unique_lock lock(m_mutex);
  return m_changed.wait_for(lock, timeout, [this] { return m_open_streams == 0; });
}

void ChildProcess::signal(int sig) {
  if (!m_status) {
    ::kill(-m_pid, sig);
  }
}

std::optional<ExitStatus> ChildProcess::reap(bool block) {
  if (m_status) {
    return m_status;
  }
  int status = 0;
  pid_t r = ::waitpid(m_pid, &status, block ? 0 : WNOHANG);
  if (r == m_pid) {
    m_status = decode(status);
  }
  return m_status;
}

std::optional<ExitStatus> ChildProcess::wait_exit(std::chrono::milliseconds timeout) {
  const auto deadline = SteadyClock::now() + timeout;
  for (;;) {
    if (auto s = reap(false)) {
      return s;
    }
    auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - SteadyClock::now());
    if (left.count() <= 0) {
      return std::nullopt;
    }
    if (m_exit_watch.valid()) {
      if (!m_exit_watch.exited()) { // clears the portable path's wakes for other children
        pollfd p{m_exit_watch.fd(), POLLIN, 0};
        ::poll(&p, 1, static_cast<int>(left.count())); // readable once the process exits
      }
    } else {
      std::this_thread::sleep_for(std::min(left, std::chrono::milliseconds(5)));
    }
  }
}

ExitStatus ChildProcess::terminate(std::chrono::milliseconds grace) {
  signal(SIGTERM);
  if (auto s = wait_exit(grace)) {
    return *s;
  }
  signal(SIGKILL);
  return *reap(true);
}

bool ChildProcess::running() {
  return !reap(false).has_value();
}

std::optional<int> port_from_listening_line(std::string_view line) {
  static const std::regex re(
      R"((?:[Ll]istening on|bound) (?:https?://)?(?:\[[^\]]*\]|[^\s:\[]+):(\d+))");
  std::match_results<std::string_view::const_iterator> m;
  if (!std::regex_search(line.begin(), line.end(), m, re)) {
    return std::nullopt;
  }
  int port = std::stoi(m[1].str());
  return (port > 0 && port < 65536) ? std::optional<int>(port) : std::nullopt;
}

} // namespace ask::testing
