// core/platform.h on Linux: pipe2, accept4 and SOCK_CLOEXEC set close-on-exec atomically,
// MSG_NOSIGNAL, POLLRDHUP, pidfd_open, PR_SET_PDEATHSIG, close_range and /proc.

#include "core/platform.h"

#include <fcntl.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <csignal>
#include <cstdlib>
#include <fstream>
#include <sstream>

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

namespace ask::core::platform {

std::string_view name() {
  return "linux";
}

bool make_pipe_cloexec(int fds[2], bool nonblocking) {
  return ::pipe2(fds, O_CLOEXEC | (nonblocking ? O_NONBLOCK : 0)) == 0;
}

int socket_cloexec(int domain, int type, int protocol, bool nonblocking) {
  return ::socket(domain, type | SOCK_CLOEXEC | (nonblocking ? SOCK_NONBLOCK : 0), protocol);
}

int accept_cloexec(int listen_fd, sockaddr* address, socklen_t* length) {
  return ::accept4(listen_fd, address, length, SOCK_CLOEXEC);
}

ssize_t send_nosignal(int fd, const void* data, std::size_t size) {
  return ::send(fd, data, size, MSG_NOSIGNAL);
}

ssize_t sendmsg_nosignal(int fd, const msghdr* message) {
  return ::sendmsg(fd, message, MSG_NOSIGNAL);
}

short hangup_events() {
  return POLLRDHUP;
}

bool peer_hung_up(pollfd& watched) {
  return (watched.revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL)) != 0;
}

ChildExitWatch::ChildExitWatch(pid_t pid)
    : m_pid(pid), m_fd(static_cast<int>(::syscall(SYS_pidfd_open, pid, 0))) {}

void ChildExitWatch::release() {
  if (m_fd >= 0) {
    ::close(m_fd);
    m_fd = -1;
  }
}

bool ChildExitWatch::exited() {
  return child_has_exited(m_pid); // a pidfd turns readable only at the exit: no stale wakes
}

bool die_with_parent(pid_t parent) {
  // If the parent died before the prctl, the child was already reparented: getppid() tells.
  return ::prctl(PR_SET_PDEATHSIG, SIGKILL) == 0 && ::getppid() == parent;
}

bool children_die_with_parent() {
  return true;
}

void close_fds_on_exec(int keep, int max_fd) {
  if (::syscall(SYS_close_range, 3U, ~0U, CLOSE_RANGE_CLOEXEC) == 0) {
    return; // `keep` too, which is close-on-exec already
  }
  for (int fd = 3; fd < max_fd; ++fd) { // Linux before 5.11
    if (fd != keep) {
      ::close(fd);
    }
  }
}

std::optional<std::filesystem::path> meminfo_file() {
  return std::filesystem::path("/proc/meminfo");
}

std::optional<double> group_cpu_seconds(pid_t pgid) {
  static const double ticks = static_cast<double>(::sysconf(_SC_CLK_TCK));
  double total = 0;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator("/proc", ec)) {
    const std::string name = entry.path().filename().string();
    if (name.empty() || name.find_first_not_of("0123456789") != std::string::npos) {
      continue;
    }
    std::ifstream in(entry.path() / "stat");
    std::string text;
    std::getline(in, text);
    const auto close = text.rfind(')');
    if (close == std::string::npos) {
      continue; // gone meanwhile
    }
    // After "pid (comm)": state ppid pgrp session tty tpgid flags minflt cminflt majflt
    // cmajflt utime stime ...
    std::istringstream fields(text.substr(close + 1));
    std::string field;
    long long pgrp = -1;
    long long utime = 0;
    long long stime = 0;
    for (int i = 0; i < 13 && fields >> field; ++i) {
      if (i == 2) {
        pgrp = std::atoll(field.c_str());
      } else if (i == 11) {
        utime = std::atoll(field.c_str());
      } else if (i == 12) {
        stime = std::atoll(field.c_str());
      }
    }
    if (pgrp == pgid) {
      total += static_cast<double>(utime + stime) / ticks;
    }
  }
  if (ec) {
    return std::nullopt;
  }
  return total;
}

std::optional<std::string> cpu_model() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("model name", 0) == 0) {
      const auto colon = line.find(':');
      if (colon != std::string::npos) {
        const auto start = line.find_first_not_of(" \t", colon + 1);
        return start == std::string::npos ? std::string() : line.substr(start);
      }
    }
  }
  return std::nullopt;
}

} // namespace ask::core::platform
