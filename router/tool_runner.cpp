// system_tool_runner(): runs a probe tool (nvidia-smi, amd-smi, vulkaninfo, llama-server …) with
// fork and execvp, no shell; stdin is /dev/null, stdout (and stderr when asked) is captured up
// to a bound, the tool's own first line of complaint goes into the error message of a failed
// run, and the child is always reaped, killed if it overruns.

#include "router/tool_runner.h"

#include <algorithm>
#include <array>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <ctime>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <fcntl.h>
#include <poll.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/excerpt.h"
#include "core/platform.h"
#include "core/unique_fd.h"

extern char** environ; // NOLINT(readability-redundant-declaration): POSIX has it in no header

namespace ask::router {

namespace {

using Clock = std::chrono::steady_clock;
using core::Error;
using core::fail;
using core::Result;

constexpr std::size_t k_max_stdout = 8 * 1024 * 1024;
constexpr std::size_t k_max_stderr = 4096; // kept for the message; the rest is drained
constexpr std::size_t k_max_message = 200; // the tool's own words in an error message
constexpr std::size_t k_chunk = 64 * 1024;
constexpr std::chrono::milliseconds k_default_timeout{10'000};
constexpr std::chrono::milliseconds k_tool_reap_poll{5}; // without a ChildExitWatch

using Fd = core::UniqueFd;

struct Pipe {
  Fd read;
  Fd write;
};

// A close-on-exec pipe whose both ends lie above the standard descriptors.
std::optional<Pipe> make_pipe() {
  Pipe p;
  if (!core::open_cloexec_pipe(p.read, p.write)) {
    return std::nullopt;
  }
  return p;
}

// Child side, between fork and exec: async-signal-safe calls only. On failure writes errno to
// `status_fd` (close-on-exec, so a successful exec closes it silently) and exits with 127.
// `envp` null: askd's own environment.
[[noreturn]] void exec_tool_child(char* const* argv, char* const* envp, int out_fd, int err_fd,
                                  int status_fd) {
  sigset_t none;
  ::sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
  ::signal(SIGPIPE, SIG_DFL);
  const int null_fd = ::open("/dev/null", O_RDONLY);
  if (null_fd >= 0 && ::dup2(null_fd, 0) >= 0 && ::dup2(out_fd, 1) >= 0 && ::dup2(err_fd, 2) >= 0) {
    if (null_fd > 2) {
      ::close(null_fd);
    }
    if (envp != nullptr) {
      // execvpe is GNU-only: execvp with the new environment in place does the same, except
      // that PATH is looked up in the new environment (as the child will see it).
      environ = const_cast<char**>(envp);
    }
    ::execvp(argv[0], argv);
  }
  const int err = errno;
  [[maybe_unused]] const ssize_t n = ::write(status_fd, &err, sizeof err);
  ::_exit(127);
}

int ms_left(Clock::time_point deadline) {
  const auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - Clock::now());
  return static_cast<int>(std::clamp<long long>(left.count(), 0, 60'000));
}

// What the exec report pipe said: exec failed (with errno), succeeded, or nothing came by
// the deadline.
struct ExecReport {
  std::optional<int> err;
  bool timed_out = false;
};

// Waits for the exec report: the write end closes on a successful exec, or carries errno.
ExecReport read_tool_exec_report(int fd, Clock::time_point deadline) {
  int err = 0;
  std::size_t got = 0;
  while (got < sizeof err) {
    pollfd p{fd, POLLIN, 0};
    const int ready = ::poll(&p, 1, ms_left(deadline));
    if (ready == 0) {
      return {std::nullopt, true};
    }
    const ssize_t n =
        ready < 0 ? -1 : ::read(fd, reinterpret_cast<char*>(&err) + got, sizeof err - got);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n <= 0) {
      break;
    }
    got += static_cast<std::size_t>(n);
  }
  return {got == sizeof err ? std::optional<int>(err) : std::nullopt, false};
}

struct Captured {
  std::string out;
  std::string err;
  bool too_large = false;
  bool timed_out = false;
};

// Reads one chunk from `fd` into `into` (up to `limit` bytes kept). Returns false at EOF or
// on error; sets `overflow` when more than `limit` bytes arrived and `strict` is set.
bool read_chunk(int fd, std::string& into, std::size_t limit, bool strict, bool& overflow) {
  std::array<char, k_chunk> buf;
  const ssize_t n = ::read(fd, buf.data(), buf.size());
  if (n < 0) {
    return errno == EINTR || errno == EAGAIN;
  }
  if (n == 0) {
    return false;
  }
  const auto got = static_cast<std::size_t>(n);
  const std::size_t room = limit - std::min(limit, into.size());
  into.append(buf.data(), std::min(got, room));
  if (strict && got > room) {
    overflow = true;
  }
  return true;
}

// Reads stdout and stderr until both close, stdout overflows or the deadline passes.
void drain(int out_fd, int err_fd, Clock::time_point deadline, Captured& c) {
  std::array<pollfd, 2> fds{pollfd{out_fd, POLLIN, 0}, pollfd{err_fd, POLLIN, 0}};
  while (fds[0].fd >= 0 || fds[1].fd >= 0) {
    const int wait = ms_left(deadline);
    if (wait == 0) {
      c.timed_out = true;
      return;
    }
    const int ready = ::poll(fds.data(), fds.size(), wait);
    if (ready < 0 && errno != EINTR) {
      return;
    }
    for (std::size_t i = 0; ready > 0 && i < fds.size(); ++i) {
      if (fds[i].fd < 0 || fds[i].revents == 0) {
        continue;
      }
      const bool open = i == 0 ? read_chunk(fds[i].fd, c.out, k_max_stdout, true, c.too_large)
                               : read_chunk(fds[i].fd, c.err, k_max_stderr, false, c.too_large);
      if (c.too_large) {
        return;
      }
      if (!open) {
        fds[i].fd = -1; // poll ignores negative descriptors
      }
    }
  }
}

int wait_for_exit(pid_t pid) {
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return status;
}

// Reaps the child; kills it first when `kill_now`, or when it outlives the deadline.
int reap(pid_t pid, Clock::time_point deadline, bool kill_now, bool& timed_out) {
  if (!kill_now) {
    core::platform::ChildExitWatch watch(pid);
    for (;;) {
      if (watch.valid() ? watch.exited() : core::platform::child_has_exited(pid)) {
        return wait_for_exit(pid);
      }
      const int wait = ms_left(deadline);
      if (wait == 0) {
        timed_out = true;
        break;
      }
      if (watch.valid()) {
        pollfd p{watch.fd(), POLLIN, 0};
        ::poll(&p, 1, wait); // readable, timed out or EINTR: the loop looks again
      } else {
        const timespec pause{0, std::chrono::nanoseconds(k_tool_reap_poll).count()};
        ::nanosleep(&pause, nullptr);
      }
    }
  }
  ::kill(pid, SIGKILL); // still ours until reaped, so never another process
  return wait_for_exit(pid);
}

// The first line of `text` that says something: not blank, not a banner rule ("=====",
// "-----"), trimmed and made printable; "" when there is none.
std::string first_words(std::string_view text) {
  std::size_t start = 0;
  while (start < text.size()) {
    std::size_t end = text.find('\n', start);
    if (end == std::string_view::npos) {
      end = text.size();
    }
    std::string_view line = text.substr(start, end - start);
    start = end + 1;
    const std::size_t first = line.find_first_not_of(" \t\r");
    if (first == std::string_view::npos) {
      continue;
    }
    line.remove_prefix(first);
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ' || line.back() == '\t')) {
      line.remove_suffix(1);
    }
    if (line.starts_with("===") || line.starts_with("---") || line.starts_with("***")) {
      continue;
    }
    return core::printable_excerpt(line, k_max_message);
  }
  return {};
}

// "<tool>: exited with status 18: Failed to initialize NVML: Driver/library version mismatch":
// the status and the tool's own words, from stderr or, when stderr says nothing, from stdout
// (nvidia-smi prints its failures there).
Error exit_error(const std::string& name, int status, const std::string& err,
                 const std::string& out) {
  std::string msg = name + ": ";
  if (WIFSIGNALED(status)) {
    msg += "killed by signal " + std::to_string(WTERMSIG(status));
  } else {
    msg += "exited with status " + std::to_string(WEXITSTATUS(status));
  }
  std::string words = first_words(err);
  if (words.empty()) {
    words = first_words(out);
  }
  if (!words.empty()) {
    msg += ": " + words;
  }
  return Error::internal(std::move(msg));
}

// Forks and execs; the parent gets the pid and the read ends. Returns an error on failure.
struct Spawned {
  pid_t pid = -1;
  Fd out;
  Fd err;
  Fd status;
};

// askd's environment with `changes` replacing or adding variables, as "NAME=value" strings.
std::vector<std::string>
tool_environment(const std::vector<std::pair<std::string, std::string>>& changes) {
  std::vector<std::string> env;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    const std::string_view entry(*e);
    const std::string_view name = entry.substr(0, entry.find('='));
    if (std::none_of(changes.begin(), changes.end(),
                     [&](const auto& c) { return c.first == name; })) {
      env.emplace_back(entry);
    }
  }
  for (const auto& [name, value] : changes) {
    env.push_back(name + "=" + value);
  }
  return env;
}

std::vector<char*> c_strings(std::vector<std::string>& strings) {
  std::vector<char*> out;
  out.reserve(strings.size() + 1);
  for (std::string& s : strings) {
    out.push_back(s.data());
  }
  out.push_back(nullptr);
  return out;
}

Result<Spawned> spawn(const ToolCommand& command) {
  // Built before fork: the child must not allocate.
  std::vector<std::string> argv = command.argv;
  std::vector<char*> args = c_strings(argv);
  std::vector<std::string> env;
  std::vector<char*> envp;
  if (!command.env.empty()) {
    env = tool_environment(command.env);
    envp = c_strings(env);
  }
  auto out = make_pipe();
  auto err = make_pipe();
  auto status = make_pipe();
  if (!out || !err || !status) {
    return fail(Error::internal(argv[0] + ": cannot create pipes: " + std::strerror(errno)));
  }
  const pid_t pid = ::fork();
  if (pid < 0) {
    return fail(Error::internal(argv[0] + ": fork failed: " + std::strerror(errno)));
  }
  if (pid == 0) {
    const int err_fd = command.merge_stderr ? out->write.get() : err->write.get();
    exec_tool_child(args.data(), envp.empty() ? nullptr : envp.data(), out->write.get(), err_fd,
                    status->write.get());
  }
  return Spawned{pid, std::move(out->read), std::move(err->read), std::move(status->read)};
}

Result<std::string> run_tool(const ToolCommand& command, std::chrono::milliseconds timeout) {
  const std::vector<std::string>& argv = command.argv;
  if (argv.empty() || argv[0].empty()) {
    return fail(Error::bad_request("tool runner: empty command"));
  }
  const Clock::time_point deadline = Clock::now() + timeout;
  auto spawned = spawn(command);
  if (!spawned) {
    return fail(spawned.error());
  }
  const std::string& name = argv[0];
  const ExecReport report = read_tool_exec_report(spawned->status.get(), deadline);
  if (report.err) {
    bool ignored = false;
    reap(spawned->pid, deadline, false, ignored);
    if (*report.err == ENOENT || *report.err == ENOTDIR) {
      return fail(Error::not_found(name + ": not installed (not found on PATH)"));
    }
    return fail(Error::internal(name + ": cannot run: " + std::strerror(*report.err)));
  }
  Captured c;
  c.timed_out = report.timed_out;
  if (!c.timed_out) {
    drain(spawned->out.get(), spawned->err.get(), deadline, c);
  }
  spawned->out.reset();
  spawned->err.reset();
  const int status = reap(spawned->pid, deadline, c.too_large || c.timed_out, c.timed_out);
  if (c.too_large) {
    return fail(Error::internal(name + ": output too large (over 8 MiB)"));
  }
  if (c.timed_out) {
    return fail(
        Error::timeout(name + ": timed out after " + std::to_string(timeout.count()) + " ms"));
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    return fail(exit_error(name, status, c.err, c.out));
  }
  return std::move(c.out);
}

} // namespace

ToolRunner system_tool_runner() {
  return system_tool_runner(k_default_timeout);
}

ToolRunner system_tool_runner(std::chrono::milliseconds timeout) {
  return [timeout](const ToolCommand& command) { return run_tool(command, timeout); };
}

} // namespace ask::router
