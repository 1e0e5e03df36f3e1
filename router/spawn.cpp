#include "router/spawn.h"

#include <algorithm>
#include <array>
#include <cerrno>
#include <csignal>
#include <memory>

#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/platform.h"

extern char** environ; // NOLINT(readability-redundant-declaration): POSIX has it in no header

namespace ask::router::spawn {
namespace {

using SupClock = std::chrono::steady_clock;

// A child that neither execs nor fails within this is left to the monitor as if started.
constexpr std::chrono::milliseconds k_exec_report_timeout{10'000};

std::string env_name(std::string_view entry) {
  return std::string(entry.substr(0, entry.find('=')));
}

// askd's environment with `changes` replacing or adding variables.
std::vector<std::string>
environment_with(const std::vector<std::pair<std::string, std::string>>& changes) {
  std::vector<std::string> env;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    const std::string name = env_name(*e);
    const bool replaced =
        std::any_of(changes.begin(), changes.end(), [&](const auto& c) { return c.first == name; });
    if (!replaced) {
      env.emplace_back(*e);
    }
  }
  for (const auto& [name, value] : changes) {
    env.push_back(name + "=" + value);
  }
  return env;
}

bool is_executable_file(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) && ::access(path.c_str(), X_OK) == 0;
}

// execve does not search PATH: a bare name is looked up here, in the PATH the child gets.
core::Result<std::string> resolve_binary(const std::filesystem::path& binary,
                                         const std::vector<std::string>& env) {
  const std::string name = binary.string();
  if (name.empty()) {
    return core::fail(core::Error::bad_request("no binary to start"));
  }
  if (name.find('/') != std::string::npos) {
    return name; // execve reports a missing or unusable file
  }
  std::string search = "/usr/local/bin:/usr/bin:/bin";
  for (const std::string& e : env) {
    if (e.starts_with("PATH=")) {
      search = e.substr(5);
    }
  }
  std::size_t start = 0;
  for (;;) {
    const std::size_t end = search.find(':', start);
    std::string dir = search.substr(start, end == std::string::npos ? end : end - start);
    const std::string candidate = (dir.empty() ? std::string(".") : dir) + "/" + name;
    if (is_executable_file(candidate)) {
      return candidate;
    }
    if (end == std::string::npos) {
      return core::fail(core::Error::not_found(name + ": not found on PATH (" + search + ")"));
    }
    start = end + 1;
  }
}

// Sends the request and reads the status line; true for "HTTP/1.x 200".
bool health_exchange(int fd, const std::string& request, SupClock::time_point deadline) {
  if (core::platform::send_nosignal(fd, request.data(), request.size()) !=
      static_cast<ssize_t>(request.size())) {
    return false; // a few dozen bytes fit any fresh socket buffer at once
  }
  std::string head;
  std::array<char, 512> buf;
  while (head.find("\r\n") == std::string::npos && head.size() < 4096) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, ms_until(deadline)) <= 0) {
      return false;
    }
    const ssize_t n = ::recv(fd, buf.data(), buf.size(), 0);
    if (n <= 0) {
      return false;
    }
    head.append(buf.data(), static_cast<std::size_t>(n));
  }
  return head.starts_with("HTTP/1.") && head.size() >= 12 && head.compare(8, 4, " 200") == 0;
}

} // namespace

core::Result<ExecPlan> make_exec_plan(const LaunchSpec& spec) {
  ExecPlan plan;
  plan.env_text = environment_with(spec.env);
  auto path = resolve_binary(spec.binary, plan.env_text);
  if (!path) {
    return core::fail(path.error());
  }
  plan.path = std::move(*path);
  plan.argv_text.push_back(spec.binary.string());
  plan.argv_text.insert(plan.argv_text.end(), spec.args.begin(), spec.args.end());
  for (std::string& a : plan.argv_text) {
    plan.argv.push_back(a.data());
  }
  plan.argv.push_back(nullptr);
  for (std::string& e : plan.env_text) {
    plan.envp.push_back(e.data());
  }
  plan.envp.push_back(nullptr);
  plan.parent = ::getpid();
  const long open_max = ::sysconf(_SC_OPEN_MAX);
  plan.max_fd = static_cast<int>(std::clamp<long>(open_max, 256, 65536));
  return plan;
}

void exec_child(const ExecPlan& plan, int out_fd, int status_fd) {
  int err = 0;
  // Its own group, so that terminate() and the destructor reach anything it starts.
  ::setpgid(0, 0);
  // askd dying, even by SIGKILL, takes the child along (Linux; elsewhere askd's shutdown
  // kills the group, core/platform.h). An askd already gone fails the start.
  if (!core::platform::die_with_parent(plan.parent)) {
    err = ESRCH;
  } else {
    // askd may block signals (a sigwait thread) and ignore SIGPIPE; both would be inherited.
    sigset_t none;
    ::sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    struct sigaction dfl {};
    dfl.sa_handler = SIG_DFL;
    for (int sig = 1; sig < NSIG; ++sig) {
      ::sigaction(sig, &dfl, nullptr); // fails harmlessly for SIGKILL, SIGSTOP and glibc's own
    }
    const int null_fd = ::open("/dev/null", O_RDWR);
    if (null_fd < 0 || ::dup2(null_fd, 0) < 0 || ::dup2(out_fd, 1) < 0 || ::dup2(out_fd, 2) < 0) {
      err = errno;
    } else {
      // Nothing else of askd's (sockets, other children's pipes) may leak into the server.
      core::platform::close_fds_on_exec(status_fd, plan.max_fd);
      ::execve(plan.path.c_str(), plan.argv.data(), plan.envp.data());
      err = errno;
    }
  }
  [[maybe_unused]] const ssize_t n = ::write(status_fd, &err, sizeof err);
  ::_exit(k_start_failed);
}

int ms_until(SupClock::time_point deadline) {
  const auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - SupClock::now());
  return static_cast<int>(std::clamp<long long>(left.count(), 0, 60'000));
}

std::optional<int> read_exec_report(int fd) {
  const auto deadline = SupClock::now() + k_exec_report_timeout;
  int err = 0;
  std::size_t got = 0;
  while (got < sizeof err) {
    pollfd p{fd, POLLIN, 0};
    const int ready = ::poll(&p, 1, ms_until(deadline));
    if (ready < 0 && errno == EINTR) {
      continue;
    }
    if (ready <= 0) {
      return std::nullopt;
    }
    const ssize_t n = ::read(fd, reinterpret_cast<char*>(&err) + got, sizeof err - got);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n <= 0) {
      break;
    }
    got += static_cast<std::size_t>(n);
  }
  return got == sizeof err ? std::optional<int>(err) : std::nullopt;
}

bool health_ok(const std::string& host, int port, std::chrono::milliseconds timeout) {
  if (port <= 0 || port > 65535) {
    return false;
  }
  const auto deadline = SupClock::now() + timeout;
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV;
  addrinfo* found = nullptr;
  if (::getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &found) != 0) {
    return false;
  }
  const std::unique_ptr<addrinfo, decltype(&::freeaddrinfo)> guard(found, &::freeaddrinfo);
  const std::string request = "GET /health HTTP/1.1\r\nHost: " + host + ":" + std::to_string(port) +
                              "\r\nConnection: close\r\n\r\n";
  for (const addrinfo* ai = found; ai != nullptr; ai = ai->ai_next) {
    core::UniqueFd fd(core::platform::socket_cloexec(ai->ai_family, ai->ai_socktype, 0, true));
    if (!fd.valid()) {
      continue;
    }
    if (::connect(fd.get(), ai->ai_addr, ai->ai_addrlen) != 0) {
      if (errno != EINPROGRESS) {
        continue;
      }
      pollfd p{fd.get(), POLLOUT, 0};
      int err = 0;
      socklen_t len = sizeof err;
      if (::poll(&p, 1, ms_until(deadline)) <= 0 ||
          ::getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err != 0) {
        continue;
      }
    }
    return health_exchange(fd.get(), request, deadline);
  }
  return false;
}

} // namespace ask::router::spawn
