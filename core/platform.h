#pragma once
// The operating-system calls that differ between Linux and other POSIX systems (macOS, the
// BSDs), as the few operations askd, ask and their tests need. Two implementations, picked
// at build time: core/platform_linux.cpp (pipe2, accept4, SOCK_CLOEXEC, MSG_NOSIGNAL,
// POLLRDHUP, pidfd, PR_SET_PDEATHSIG, /proc) on Linux, and core/platform_posix.cpp (fcntl,
// SO_NOSIGPIPE or an ignored SIGPIPE, MSG_PEEK, a SIGCHLD self-pipe, sysconf) elsewhere or
// when CMake's ASK_PORTABLE is ON. What the portable path cannot do is said at each
// declaration; docs/architecture.md ("Platform seam") has the overview.

#include <sys/socket.h>
#include <sys/types.h>

#include <poll.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

namespace ask::core::platform {

// "linux" or "posix": the implementation this build has (tests skip what only one can do).
std::string_view name();

// ---- descriptors and sockets ---------------------------------------------------------------
// The portable path sets FD_CLOEXEC (and O_NONBLOCK) with fcntl after the call: a fork on
// another thread in between hands the descriptor to that child. The supervisor's children
// close every inherited descriptor anyway; a tool run may hold one for its few milliseconds.

// A pipe with both ends close-on-exec (and non-blocking when asked); false with errno set.
bool make_pipe_cloexec(int fds[2], bool nonblocking = false);
// socket() with close-on-exec (and non-blocking when asked); -1 with errno set. Where the
// system has SO_NOSIGPIPE (macOS, the BSDs) it is set too.
int socket_cloexec(int domain, int type, int protocol, bool nonblocking = false);
// accept() of a blocking, close-on-exec connection (BSD accept inherits the listener's
// O_NONBLOCK: the portable path clears it); -1 with errno set (EINTR included).
int accept_cloexec(int listen_fd, sockaddr* address = nullptr, socklen_t* length = nullptr);
// send() / sendmsg() that never raise SIGPIPE on a connection the peer has closed (EPIPE
// instead). Linux: MSG_NOSIGNAL. Portable: SO_NOSIGPIPE where defined (set by
// socket_cloexec / accept_cloexec, so not on other sockets); else each call makes sure
// SIGPIPE is ignored for the whole process, SIG_DFL → SIG_IGN (askd, ask and llm-sim ignore
// it anyway; children get SIG_DFL back before exec).
ssize_t send_nosignal(int fd, const void* data, std::size_t size);
ssize_t sendmsg_nosignal(int fd, const msghdr* message);

// ---- the peer hanging up -------------------------------------------------------------------
// Linux polls for POLLRDHUP: it fires when the peer shuts down its side even while request
// bytes (a pipelined request) wait unread. The portable path polls for POLLIN and peeks:
// zero bytes mean the peer has gone; but while bytes wait unread it cannot see a hang-up
// behind them, so it stops watching (below) until the caller reads them. A reset (POLLERR,
// POLLHUP) is seen on both paths.

// The events to poll a socket for to notice its peer leaving.
short hangup_events();
// After poll(): true when `watched` (polled for hangup_events()) says the peer has gone.
// Portable path: when unread bytes woke it instead, sets watched.events to 0 (poll still
// reports POLLHUP and POLLERR) so a loop around poll does not spin, and returns false.
bool peer_hung_up(pollfd& watched);
// A non-blocking check of `fd`: true once its peer has gone (as peer_hung_up says it).
bool peer_closed(int fd);

// ---- child processes -----------------------------------------------------------------------

// A descriptor that becomes readable when child `pid` exits, for poll() beside others.
// Linux: a pidfd. Portable: one of a pool of pipes that a SIGCHLD handler (installed with
// SA_RESTART on first use, chaining to one installed before) writes to on every child's exit,
// so it also wakes for other children, and once at the start (a SIGCHLD handler installed
// later must call the one it replaces, or these stop waking). After poll() says readable,
// call exited(). Invalid when none could be made (Linux before 5.3, more than 64 watches at
// once on the portable path, SIGCHLD set to SIG_IGN): callers then poll waitpid(WNOHANG).
// Move-only; not thread-safe (one owner polls it).
class ChildExitWatch {
public:
  ChildExitWatch() = default;
  explicit ChildExitWatch(pid_t pid);
  ChildExitWatch(ChildExitWatch&& other) noexcept;
  ChildExitWatch& operator=(ChildExitWatch&& other) noexcept;
  ChildExitWatch(const ChildExitWatch&) = delete;
  ChildExitWatch& operator=(const ChildExitWatch&) = delete;
  ~ChildExitWatch();

  bool valid() const { return m_fd >= 0; }
  int fd() const { return m_fd; }
  // True once the child has exited (or was reaped by someone else); it is not reaped here,
  // the caller reaps it with waitpid. Clears the wake-ups that said nothing about this child.
  bool exited();

private:
  void release();

  pid_t m_pid = 0;
  int m_fd = -1;   // pidfd (owned), or the read end of a pool pipe (the pool's)
  int m_slot = -1; // the pool slot on the portable path
};

// Whether child `pid` has exited, without reaping it (waitid with WNOWAIT); true too when it
// is no child of ours any more (reaped elsewhere).
bool child_has_exited(pid_t pid);

// Child side of fork, async-signal-safe: asks the kernel to SIGKILL this process when the
// thread that forked it ends (Linux PR_SET_PDEATHSIG). False when `parent` has already gone
// (getppid() differs): the child should exit. Portable path: no such request exists, only the
// getppid() check; askd kills its children's process groups on shutdown, and a child of an
// askd killed by SIGKILL lives on until it next writes to its output pipe (SIGPIPE).
bool die_with_parent(pid_t parent);
// True where die_with_parent() really ties a child to its parent (Linux).
bool children_die_with_parent();

// Child side of fork, async-signal-safe: no descriptor from 3 up survives the coming exec,
// except `keep`, which must already be close-on-exec (it reports a failed exec). Linux:
// close_range(CLOSE_RANGE_CLOEXEC), else (and on the portable path) a close() loop to
// `max_fd` (sysconf(_SC_OPEN_MAX), taken before fork).
void close_fds_on_exec(int keep, int max_fd);

// ---- this machine ----------------------------------------------------------------------------

// Where host memory is read as meminfo text (MemTotal, MemAvailable): /proc/meminfo on Linux;
// none on the portable path, which has physical_memory_bytes() and no free-memory reading.
std::optional<std::filesystem::path> meminfo_file();
// Installed memory: sysconf(_SC_PHYS_PAGES) × page size; none when the system does not say.
std::optional<std::uint64_t> physical_memory_bytes();
// CPU time (user + system, seconds) used so far by the live processes of group `pgid`.
// Linux: /proc/PID/stat, clock-tick resolution. None on the portable path (getrusage covers
// only this process and its reaped children, not another running group).
std::optional<double> group_cpu_seconds(pid_t pgid);
// The CPU's model name ("Intel(R) Xeon(R) ..."): /proc/cpuinfo; none on the portable path.
std::optional<std::string> cpu_model();

} // namespace ask::core::platform
