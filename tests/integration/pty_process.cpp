#include "tests/integration/pty_process.h"

#include <algorithm>
#include <array>
#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <poll.h>
#include <stdexcept>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "core/platform.h"
#include "tests/support/child_process.h"

namespace ask::testing {
namespace {

using PtyClock = std::chrono::steady_clock;

// How long the output may stay open after the child has exited (a process it started still
// holding the terminal), before the group is killed and what came is returned.
constexpr std::chrono::milliseconds k_pty_linger{2000};

[[noreturn]] void pty_fail(const std::string& what) {
  throw std::runtime_error(what + ": " + std::strerror(errno));
}

// A file descriptor closed on scope exit.
class PtyFd {
public:
  PtyFd() = default;
  explicit PtyFd(int fd) : m_fd(fd) {}
  ~PtyFd() { reset(); }
  PtyFd(const PtyFd&) = delete;
  PtyFd& operator=(const PtyFd&) = delete;
  int get() const { return m_fd; }
  bool open() const { return m_fd >= 0; }
  void reset(int fd = -1) {
    if (m_fd >= 0) {
      ::close(m_fd);
    }
    m_fd = fd;
  }

private:
  int m_fd = -1;
};

void pty_set_flag(int fd, int flag_get, int flag_set, int flag) {
  const int flags = ::fcntl(fd, flag_get);
  if (flags < 0 || ::fcntl(fd, flag_set, flags | flag) < 0) {
    pty_fail("fcntl");
  }
}

// Standard input: a deleted temporary file holding `text`, or /dev/null.
int pty_stdin(const std::optional<std::string>& text) {
  if (!text) {
    const int fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      pty_fail("open /dev/null");
    }
    return fd;
  }
  std::string name = (std::filesystem::temp_directory_path() / "ask-pty-stdin-XXXXXX").string();
  const int fd = ::mkstemp(name.data());
  if (fd < 0) {
    pty_fail("mkstemp");
  }
  ::unlink(name.c_str());
  pty_set_flag(fd, F_GETFD, F_SETFD, FD_CLOEXEC);
  for (std::size_t done = 0; done < text->size();) {
    const ssize_t n = ::write(fd, text->data() + done, text->size() - done);
    if (n < 0 && errno != EINTR) {
      ::close(fd);
      pty_fail("write stdin file");
    }
    done += n > 0 ? static_cast<std::size_t>(n) : 0;
  }
  ::lseek(fd, 0, SEEK_SET);
  return fd;
}

// Reads what is there; false once the other side is gone (EOF, or EIO: Linux's answer on a
// terminal master when no process holds the slave open any more).
bool pty_drain(int fd, std::string& into) {
  std::array<char, 4096> buffer{};
  for (;;) {
    const ssize_t n = ::read(fd, buffer.data(), buffer.size());
    if (n > 0) {
      into.append(buffer.data(), static_cast<std::size_t>(n));
      continue;
    }
    if (n < 0 && errno == EINTR) {
      continue;
    }
    return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
  }
}

std::vector<char*> pty_pointers(std::vector<std::string>& strings) {
  std::vector<char*> out;
  out.reserve(strings.size() + 1);
  for (std::string& s : strings) {
    out.push_back(s.data());
  }
  out.push_back(nullptr);
  return out;
}

// In the forked child: only async-signal-safe calls until execve.
[[noreturn]] void pty_exec_child(int slave, int stdin_fd, int stdout_fd, int error_fd,
                                 char* const* argv, char* const* envp) {
  ::setsid();
  ::ioctl(slave, TIOCSCTTY, 0); // the controlling terminal (implicit on Linux, not on BSD)
  ::dup2(stdin_fd, STDIN_FILENO);
  ::dup2(stdout_fd, STDOUT_FILENO);
  ::dup2(slave, STDERR_FILENO);
  sigset_t none;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
  struct sigaction defaults {};
  defaults.sa_handler = SIG_DFL;
  for (int sig : {SIGTERM, SIGINT, SIGPIPE, SIGUSR1, SIGCHLD, SIGHUP, SIGWINCH}) {
    ::sigaction(sig, &defaults, nullptr);
  }
  ::execve(argv[0], argv, envp);
  const int error = errno;
  [[maybe_unused]] ssize_t ignored = ::write(error_fd, &error, sizeof error);
  ::_exit(127);
}

} // namespace

PtyResult run_on_pty(std::vector<std::string> argv, const PtyOptions& options) {
  if (argv.empty()) {
    throw std::invalid_argument("run_on_pty: no program");
  }
  PtyFd master(::posix_openpt(O_RDWR | O_NOCTTY));
  if (!master.open() || ::grantpt(master.get()) != 0 || ::unlockpt(master.get()) != 0) {
    pty_fail("posix_openpt");
  }
  pty_set_flag(master.get(), F_GETFD, F_SETFD, FD_CLOEXEC);
  const char* slave_name = ::ptsname(master.get());
  if (slave_name == nullptr) {
    pty_fail("ptsname");
  }
  PtyFd slave(::open(slave_name, O_RDWR | O_NOCTTY | O_CLOEXEC));
  if (!slave.open()) {
    pty_fail(std::string("open ") + slave_name);
  }
  winsize size{};
  size.ws_col = options.columns;
  size.ws_row = options.rows;
  if (::ioctl(slave.get(), TIOCSWINSZ, &size) != 0) {
    pty_fail("TIOCSWINSZ");
  }
  PtyFd in(pty_stdin(options.stdin_text));
  std::array<int, 2> out{-1, -1};
  if (options.stdout_to_pipe && !core::platform::make_pipe_cloexec(out.data())) {
    pty_fail("pipe");
  }
  PtyFd out_read(out[0]), out_write(out[1]);
  std::array<int, 2> exec_error{-1, -1};
  if (!core::platform::make_pipe_cloexec(exec_error.data())) {
    pty_fail("pipe");
  }
  PtyFd error_read(exec_error[0]), error_write(exec_error[1]);

  std::vector<std::string> changes = options.env;
  const bool term_given = std::ranges::any_of(
      changes, [](const std::string& c) { return c == "TERM" || c.starts_with("TERM="); });
  if (!term_given) {
    changes.emplace_back("TERM=xterm-256color");
  }
  std::vector<std::string> env = environment_with(changes);
  std::vector<char*> argv_ptrs = pty_pointers(argv);
  std::vector<char*> env_ptrs = pty_pointers(env);

  const pid_t pid = ::fork();
  if (pid < 0) {
    pty_fail("fork");
  }
  if (pid == 0) {
    pty_exec_child(slave.get(), in.get(), options.stdout_to_pipe ? out_write.get() : slave.get(),
                   error_write.get(), argv_ptrs.data(), env_ptrs.data());
  }
  // Only the child holds the slave and the write ends now: their close is our end of file.
  slave.reset();
  out_write.reset();
  error_write.reset();
  in.reset();
  int exec_errno = 0;
  while (::read(error_read.get(), &exec_errno, sizeof exec_errno) < 0 && errno == EINTR) {
  }
  if (exec_errno != 0) {
    ::waitpid(pid, nullptr, 0);
    errno = exec_errno;
    pty_fail("execve " + argv[0]);
  }

  pty_set_flag(master.get(), F_GETFL, F_SETFL, O_NONBLOCK);
  if (out_read.open()) {
    pty_set_flag(out_read.get(), F_GETFL, F_SETFL, O_NONBLOCK);
  }
  core::platform::ChildExitWatch exit_watch(pid);
  PtyResult result;
  std::optional<int> status;
  // Linux: once every slave descriptor is closed, the master reads EIO. The master stays open
  // until the child is reaped all the same: closing it hangs the terminal up, and a child
  // that closed its output but is still exiting (or writing its cache) would die of SIGHUP.
  bool tty_open = true;
  bool pipe_open = out_read.open();
  auto deadline = PtyClock::now() + options.timeout;
  bool killed = false;
  for (;;) {
    if (!status) {
      int s = 0;
      if (::waitpid(pid, &s, WNOHANG) == pid) {
        status = s;
        deadline = std::min(deadline, PtyClock::now() + k_pty_linger);
      }
    }
    if (status && !tty_open && !pipe_open) {
      break;
    }
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - PtyClock::now());
    if (left.count() <= 0) {
      if (killed || status) {
        break; // killed and still not closed, or output held open by a grandchild
      }
      ::kill(-pid, SIGKILL); // its session's group: it called setsid()
      ::kill(pid, SIGKILL);  // in case it had not yet
      killed = true;
      result.timed_out = true;
      deadline = PtyClock::now() + k_pty_linger;
      continue;
    }
    std::vector<pollfd> fds;
    if (tty_open) {
      fds.push_back({master.get(), POLLIN, 0});
    }
    if (pipe_open) {
      fds.push_back({out_read.get(), POLLIN, 0});
    }
    int wait_ms = static_cast<int>(left.count());
    if (!status) {
      if (exit_watch.valid() && !exit_watch.exited()) {
        fds.push_back({exit_watch.fd(), POLLIN, 0});
      } else if (!exit_watch.valid()) {
        wait_ms = std::min(wait_ms, 5); // no way to wait for the exit: look again soon
      } else {
        wait_ms = 0; // it has exited: reap it at the top
      }
    }
    if (::poll(fds.data(), fds.size(), wait_ms) < 0 && errno != EINTR) {
      pty_fail("poll");
    }
    tty_open = tty_open && pty_drain(master.get(), result.tty);
    pipe_open = pipe_open && pty_drain(out_read.get(), result.pipe);
  }
  if (!status) {
    ::kill(-pid, SIGKILL);
    int s = 0;
    ::waitpid(pid, &s, 0);
    status = s;
  } else if (tty_open || pipe_open) {
    ::kill(-pid, SIGKILL); // what still holds the output open
  }
  if (WIFEXITED(*status)) {
    result.code = WEXITSTATUS(*status);
  } else if (WIFSIGNALED(*status)) {
    result.signal = WTERMSIG(*status);
  }
  return result;
}

std::string pty_lines(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '\r' && i + 1 < text.size() && text[i + 1] == '\n') {
      continue;
    }
    out += text[i];
  }
  return out;
}

} // namespace ask::testing
