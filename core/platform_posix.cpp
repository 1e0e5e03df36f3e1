// core/platform.h with POSIX calls only, for macOS and the BSDs, and for Linux when CMake's
// ASK_PORTABLE is ON (so CI runs this path too): fcntl after the call for close-on-exec,
// SO_NOSIGPIPE or an ignored SIGPIPE, POLLIN plus a MSG_PEEK for a hang-up, a SIGCHLD
// self-pipe for child exits, getppid() and process groups instead of PR_SET_PDEATHSIG, and
// no /proc.

#include "core/platform.h"

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cerrno>
#include <csignal>
#include <mutex>

namespace ask::core::platform {
namespace {

bool set_cloexec(int fd) {
  const int flags = ::fcntl(fd, F_GETFD);
  return flags >= 0 && ::fcntl(fd, F_SETFD, flags | FD_CLOEXEC) == 0;
}

bool set_nonblocking(int fd, bool on) {
  const int flags = ::fcntl(fd, F_GETFL);
  return flags >= 0 && ::fcntl(fd, F_SETFL, on ? flags | O_NONBLOCK : flags & ~O_NONBLOCK) == 0;
}

// Closes `fd` keeping errno, for the failure paths.
int close_failed(int fd) {
  const int saved = errno;
  ::close(fd);
  errno = saved;
  return -1;
}

void no_sigpipe_option([[maybe_unused]] int fd) {
#ifdef SO_NOSIGPIPE
  const int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_NOSIGPIPE, &one, sizeof one);
#endif
}

// Without SO_NOSIGPIPE (and without MSG_NOSIGNAL on this path) only an ignored SIGPIPE keeps
// a write to a closed connection from ending the process. Checked at every send, not once:
// a program may set it back (a forked child before exec does). A handler someone installed
// stays. Only systems without SO_NOSIGPIPE pay the extra call (Linux with ASK_PORTABLE).
void ignore_sigpipe() {
#ifndef SO_NOSIGPIPE
  struct sigaction current {};
  if (::sigaction(SIGPIPE, nullptr, &current) == 0 && (current.sa_flags & SA_SIGINFO) == 0 &&
      current.sa_handler == SIG_DFL) {
    struct sigaction ignore {};
    ignore.sa_handler = SIG_IGN;
    sigemptyset(&ignore.sa_mask);
    ::sigaction(SIGPIPE, &ignore, nullptr);
  }
#endif
}

// ---- the SIGCHLD self-pipes ---------------------------------------------------------------
// A pool of pipes, one per live ChildExitWatch. The handler writes a byte to every pipe the
// pool has made; a pipe is never closed (a slot freed keeps its pipe for the next watch), so
// the handler can never write into a descriptor number that was reused for something else.

constexpr std::size_t k_slots = 64;

struct Slot {
  std::atomic<int> write_fd{-1}; // read by the handler: set once, never reset
  int read_fd = -1;
  bool in_use = false; // guarded by g_pool_mutex
};

std::array<Slot, k_slots> g_slots;
std::mutex g_pool_mutex;
struct sigaction g_previous {};
bool g_installed = false;
bool g_unusable = false; // SIGCHLD was ignored: exits are reaped by the kernel, no signal

static_assert(std::atomic<int>::is_always_lock_free, "the SIGCHLD handler reads it");

extern "C" void on_sigchld(int sig, siginfo_t* info, void* context) {
  const int saved = errno;
  for (Slot& slot : g_slots) {
    const int fd = slot.write_fd.load(std::memory_order_acquire);
    if (fd >= 0) {
      const char byte = 1;
      [[maybe_unused]] const ssize_t n = ::write(fd, &byte, 1); // full: a wake is pending
    }
  }
  if ((g_previous.sa_flags & SA_SIGINFO) != 0) {
    if (g_previous.sa_sigaction != nullptr) {
      g_previous.sa_sigaction(sig, info, context);
    }
  } else if (g_previous.sa_handler != SIG_DFL && g_previous.sa_handler != SIG_IGN) {
    g_previous.sa_handler(sig);
  }
  errno = saved;
}

// Called with g_pool_mutex held.
bool install_handler() {
  if (g_installed || g_unusable) {
    return g_installed;
  }
  struct sigaction previous {};
  if (::sigaction(SIGCHLD, nullptr, &previous) != 0 ||
      ((previous.sa_flags & SA_SIGINFO) == 0 && previous.sa_handler == SIG_IGN)) {
    g_unusable = true;
    return false;
  }
  g_previous = previous;
  struct sigaction sa {};
  sa.sa_sigaction = on_sigchld;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_SIGINFO | SA_RESTART;
  if (::sigaction(SIGCHLD, &sa, nullptr) != 0) {
    g_unusable = true;
    return false;
  }
  g_installed = true;
  return true;
}

void drain(int fd) {
  std::array<char, 64> buf;
  while (::read(fd, buf.data(), buf.size()) > 0) {
  }
}

} // namespace

std::string_view name() {
  return "posix";
}

bool make_pipe_cloexec(int fds[2], bool nonblocking) {
  if (::pipe(fds) != 0) {
    return false;
  }
  for (int i = 0; i < 2; ++i) {
    if (!set_cloexec(fds[i]) || (nonblocking && !set_nonblocking(fds[i], true))) {
      const int saved = errno;
      ::close(fds[0]);
      ::close(fds[1]);
      errno = saved;
      return false;
    }
  }
  return true;
}

int socket_cloexec(int domain, int type, int protocol, bool nonblocking) {
  const int fd = ::socket(domain, type, protocol);
  if (fd < 0) {
    return -1;
  }
  if (!set_cloexec(fd) || (nonblocking && !set_nonblocking(fd, true))) {
    return close_failed(fd);
  }
  no_sigpipe_option(fd);
  return fd;
}

int accept_cloexec(int listen_fd, sockaddr* address, socklen_t* length) {
  const int fd = ::accept(listen_fd, address, length);
  if (fd < 0) {
    return -1;
  }
  if (!set_cloexec(fd) || !set_nonblocking(fd, false)) {
    return close_failed(fd);
  }
  no_sigpipe_option(fd);
  return fd;
}

ssize_t send_nosignal(int fd, const void* data, std::size_t size) {
  ignore_sigpipe();
  return ::send(fd, data, size, 0);
}

ssize_t sendmsg_nosignal(int fd, const msghdr* message) {
  ignore_sigpipe();
  return ::sendmsg(fd, message, 0);
}

short hangup_events() {
  return POLLIN;
}

bool peer_hung_up(pollfd& watched) {
  if ((watched.revents & (POLLHUP | POLLERR | POLLNVAL)) != 0) {
    return true;
  }
  if ((watched.revents & POLLIN) == 0) {
    return false;
  }
  char byte = 0;
  ssize_t n = 0;
  do {
    n = ::recv(watched.fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  } while (n < 0 && errno == EINTR);
  if (n == 0) {
    return true; // an orderly shutdown with nothing unread before it
  }
  if (n < 0) {
    return errno != EAGAIN && errno != EWOULDBLOCK && errno != ENOTSOCK; // ECONNRESET...
  }
  watched.events = 0; // bytes wait unread: a hang-up behind them cannot be seen from here
  return false;
}

ChildExitWatch::ChildExitWatch(pid_t pid) : m_pid(pid) {
  std::lock_guard lock(g_pool_mutex);
  if (!install_handler()) {
    return;
  }
  for (std::size_t i = 0; i < k_slots; ++i) {
    Slot& slot = g_slots[i];
    if (slot.in_use) {
      continue;
    }
    if (slot.read_fd < 0) {
      int fds[2];
      if (!make_pipe_cloexec(fds, true)) {
        return; // invalid: the caller polls waitpid
      }
      slot.read_fd = fds[0];
      slot.write_fd.store(fds[1], std::memory_order_release);
    }
    slot.in_use = true;
    drain(slot.read_fd); // wakes meant for the slot's last owner
    // The child may have exited before this slot was ours: the first poll checks.
    const char byte = 1;
    [[maybe_unused]] const ssize_t n = ::write(slot.write_fd.load(), &byte, 1);
    m_slot = static_cast<int>(i);
    m_fd = slot.read_fd;
    return;
  }
}

void ChildExitWatch::release() {
  if (m_slot >= 0) {
    std::lock_guard lock(g_pool_mutex);
    g_slots[static_cast<std::size_t>(m_slot)].in_use = false;
  }
  m_slot = -1;
  m_fd = -1;
}

bool ChildExitWatch::exited() {
  if (m_fd >= 0) {
    drain(m_fd); // before the check: an exit after it writes a new byte
  }
  return child_has_exited(m_pid);
}

bool die_with_parent(pid_t parent) {
  return ::getppid() == parent;
}

bool children_die_with_parent() {
  return false;
}

void close_fds_on_exec(int keep, int max_fd) {
  for (int fd = 3; fd < max_fd; ++fd) {
    if (fd != keep) {
      ::close(fd);
    }
  }
}

std::optional<std::filesystem::path> meminfo_file() {
  return std::nullopt;
}

std::optional<double> group_cpu_seconds(pid_t) {
  return std::nullopt;
}

std::optional<std::string> cpu_model() {
  return std::nullopt;
}

} // namespace ask::core::platform
