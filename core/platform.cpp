// The parts of core/platform.h that are the same on every system; the rest is in
// platform_linux.cpp or platform_posix.cpp (one of them is built, core/CMakeLists.txt).

#include "core/platform.h"

#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <utility>

namespace ask::core::platform {

ChildExitWatch::ChildExitWatch(ChildExitWatch&& other) noexcept
    : m_pid(std::exchange(other.m_pid, 0)), m_fd(std::exchange(other.m_fd, -1)),
      m_slot(std::exchange(other.m_slot, -1)) {}

ChildExitWatch& ChildExitWatch::operator=(ChildExitWatch&& other) noexcept {
  if (this != &other) {
    release();
    m_pid = std::exchange(other.m_pid, 0);
    m_fd = std::exchange(other.m_fd, -1);
    m_slot = std::exchange(other.m_slot, -1);
  }
  return *this;
}

ChildExitWatch::~ChildExitWatch() {
  release();
}

bool child_has_exited(pid_t pid) {
  for (;;) {
    siginfo_t info{};
    if (::waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOHANG | WNOWAIT) == 0) {
      return info.si_pid != 0;
    }
    if (errno != EINTR) {
      return errno == ECHILD;
    }
  }
}

bool peer_closed(int fd) {
  pollfd p{fd, hangup_events(), 0};
  int rc = 0;
  do {
    rc = ::poll(&p, 1, 0);
  } while (rc < 0 && errno == EINTR);
  return rc > 0 && peer_hung_up(p);
}

std::optional<std::uint64_t> physical_memory_bytes() {
  const long pages = ::sysconf(_SC_PHYS_PAGES);
  const long page_size = ::sysconf(_SC_PAGESIZE);
  if (pages <= 0 || page_size <= 0) {
    return std::nullopt;
  }
  return static_cast<std::uint64_t>(pages) * static_cast<std::uint64_t>(page_size);
}

} // namespace ask::core::platform
