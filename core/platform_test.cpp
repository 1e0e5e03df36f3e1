#include "core/platform.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <string>

#include <doctest/doctest.h>

#include "core/unique_fd.h"

namespace platform = ask::core::platform;
using ask::core::UniqueFd;

namespace {

constexpr int k_wait_ms = 10'000; // generous: a loaded CI machine; the waits end at the event

bool portable() {
  return platform::name() == "posix";
}

// A child that blocks reading `hold` and exits with 7 once its write end closes.
pid_t child_waiting_on(int hold_read, int hold_write) {
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::close(hold_write);
    char byte = 0;
    while (::read(hold_read, &byte, 1) < 0 && errno == EINTR) {
    }
    ::_exit(7);
  }
  ::close(hold_read);
  return pid;
}

int reap(pid_t pid) {
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return status;
}

// Polls `watch` until exited() says so; false after k_wait_ms of wakes that were not its exit.
bool wait_exited(platform::ChildExitWatch& watch) {
  for (int round = 0; round < 1000; ++round) {
    pollfd p{watch.fd(), POLLIN, 0};
    const int rc = ::poll(&p, 1, k_wait_ms);
    if (rc < 0 && errno == EINTR) {
      continue; // the portable path's SIGCHLD handler interrupts poll (SA_RESTART does not)
    }
    if (rc <= 0) {
      return false;
    }
    if (watch.exited()) {
      return true;
    }
  }
  return false;
}

// A connected TCP pair on loopback, made with the seam's socket_cloexec and accept_cloexec.
struct TcpPair {
  UniqueFd client;
  UniqueFd server;
};

TcpPair tcp_pair() {
  UniqueFd listener(platform::socket_cloexec(AF_INET, SOCK_STREAM, 0));
  REQUIRE(listener.valid());
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  REQUIRE(::bind(listener.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  REQUIRE(::listen(listener.get(), 1) == 0);
  REQUIRE(::getsockname(listener.get(), reinterpret_cast<sockaddr*>(&addr), &len) == 0);
  TcpPair pair;
  pair.client = UniqueFd(platform::socket_cloexec(AF_INET, SOCK_STREAM, 0));
  REQUIRE(pair.client.valid());
  REQUIRE(::connect(pair.client.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  pair.server = UniqueFd(platform::accept_cloexec(listener.get()));
  REQUIRE(pair.server.valid());
  return pair;
}

bool cloexec(int fd) {
  return (::fcntl(fd, F_GETFD) & FD_CLOEXEC) != 0;
}

bool nonblocking(int fd) {
  return (::fcntl(fd, F_GETFL) & O_NONBLOCK) != 0;
}

} // namespace

TEST_CASE("platform: pipes and sockets are close-on-exec, non-blocking only when asked") {
  int fds[2];
  REQUIRE(platform::make_pipe_cloexec(fds));
  UniqueFd a(fds[0]), b(fds[1]);
  CHECK(cloexec(a.get()));
  CHECK(cloexec(b.get()));
  CHECK_FALSE(nonblocking(a.get()));
  REQUIRE(platform::make_pipe_cloexec(fds, true));
  UniqueFd c(fds[0]), d(fds[1]);
  CHECK(nonblocking(c.get()));
  CHECK(nonblocking(d.get()));

  UniqueFd s(platform::socket_cloexec(AF_INET, SOCK_STREAM, 0, true));
  REQUIRE(s.valid());
  CHECK(cloexec(s.get()));
  CHECK(nonblocking(s.get()));
  const TcpPair pair = tcp_pair();
  CHECK(cloexec(pair.server.get()));
  CHECK_FALSE(nonblocking(pair.server.get()));
}

TEST_CASE("platform: accept_cloexec gives a blocking socket from a non-blocking listener") {
  // BSD accept() copies the listener's O_NONBLOCK, Linux accept4 does not: the seam evens it.
  UniqueFd listener(platform::socket_cloexec(AF_INET, SOCK_STREAM, 0, true));
  REQUIRE(listener.valid());
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  REQUIRE(::bind(listener.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  REQUIRE(::listen(listener.get(), 1) == 0);
  REQUIRE(::getsockname(listener.get(), reinterpret_cast<sockaddr*>(&addr), &len) == 0);
  CHECK(platform::accept_cloexec(listener.get()) == -1); // nobody yet: EAGAIN, no block
  CHECK((errno == EAGAIN || errno == EWOULDBLOCK));
  UniqueFd client(platform::socket_cloexec(AF_INET, SOCK_STREAM, 0));
  REQUIRE(::connect(client.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  pollfd p{listener.get(), POLLIN, 0};
  REQUIRE(::poll(&p, 1, k_wait_ms) == 1);
  UniqueFd server(platform::accept_cloexec(listener.get()));
  REQUIRE(server.valid());
  CHECK_FALSE(nonblocking(server.get()));
  CHECK(cloexec(server.get()));
}

TEST_CASE("platform: ChildExitWatch wakes at the child's exit, not before") {
  int hold[2];
  REQUIRE(platform::make_pipe_cloexec(hold));
  const pid_t pid = child_waiting_on(hold[0], hold[1]);
  REQUIRE(pid > 0);
  platform::ChildExitWatch watch(pid);
  REQUIRE(watch.valid());
  // Running: any wake (the portable path's first one) must not read as its exit.
  pollfd p{watch.fd(), POLLIN, 0};
  if (::poll(&p, 1, 0) > 0) {
    CHECK_FALSE(watch.exited());
  }
  CHECK_FALSE(watch.exited());
  ::close(hold[1]);
  CHECK(wait_exited(watch));
  const int status = reap(pid); // exited() left it for us to reap
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 7);
}

TEST_CASE("platform: ChildExitWatch made after the child has exited still wakes") {
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::_exit(3);
  }
  REQUIRE(pid > 0);
  siginfo_t info{};
  REQUIRE(::waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOWAIT) == 0);
  platform::ChildExitWatch watch(pid); // its SIGCHLD came before the watch existed
  REQUIRE(watch.valid());
  CHECK(wait_exited(watch));
  CHECK(WEXITSTATUS(reap(pid)) == 3);
}

TEST_CASE("platform: another child's exit does not read as this child's") {
  int hold[2];
  REQUIRE(platform::make_pipe_cloexec(hold));
  const pid_t running = child_waiting_on(hold[0], hold[1]);
  const pid_t quick = ::fork();
  if (quick == 0) {
    ::_exit(0);
  }
  platform::ChildExitWatch watch(running);
  platform::ChildExitWatch quick_watch(quick);
  REQUIRE(watch.valid());
  REQUIRE(quick_watch.valid());
  CHECK(wait_exited(quick_watch));
  reap(quick);
  CHECK_FALSE(watch.exited()); // the portable path was woken by `quick`'s SIGCHLD
  ::close(hold[1]);
  CHECK(wait_exited(watch));
  reap(running);
}

TEST_CASE("platform: ChildExitWatch moves - child_has_exited without reaping") {
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::_exit(0);
  }
  platform::ChildExitWatch first(pid);
  platform::ChildExitWatch moved(std::move(first));
  CHECK_FALSE(first.valid()); // NOLINT(bugprone-use-after-move): the moved-from state
  REQUIRE(moved.valid());
  CHECK(wait_exited(moved));
  CHECK(platform::child_has_exited(pid));
  CHECK(platform::child_has_exited(pid)); // still there: WNOWAIT reaps nothing
  reap(pid);
  CHECK(platform::child_has_exited(pid)); // no child of ours any more (ECHILD)
}

TEST_CASE("platform: the peer hanging up on a socketpair") {
  int sv[2];
  REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
  UniqueFd mine(sv[0]), peer(sv[1]);
  CHECK_FALSE(platform::peer_closed(mine.get()));

  SUBCASE("a close is seen") {
    peer.reset();
    CHECK(platform::peer_closed(mine.get()));
    pollfd p{mine.get(), platform::hangup_events(), 0};
    REQUIRE(::poll(&p, 1, k_wait_ms) == 1);
    CHECK(platform::peer_hung_up(p));
  }
  SUBCASE("a half-close (shutdown of its writing side) is seen") {
    REQUIRE(::shutdown(peer.get(), SHUT_WR) == 0);
    CHECK(platform::peer_closed(mine.get()));
  }
  SUBCASE("bytes waiting are not a hang-up, and do not make poll spin") {
    REQUIRE(::write(peer.get(), "GET", 3) == 3);
    CHECK_FALSE(platform::peer_closed(mine.get()));
    pollfd p{mine.get(), platform::hangup_events(), 0};
    const int rc = ::poll(&p, 1, portable() ? k_wait_ms : 0);
    CHECK(rc == (portable() ? 1 : 0)); // Linux: POLLRDHUP ignores plain data
    CHECK_FALSE(platform::peer_hung_up(p));
    if (portable()) {
      CHECK(p.events == 0); // stops watching: the next poll waits instead of spinning
      p.revents = 0;
      CHECK(::poll(&p, 1, 0) == 0);
    }
  }
}

TEST_CASE("platform: a close behind unread bytes: Linux sees it, the portable path once read") {
  // TCP, as askd's clients come: a FIN behind a pipelined request. (A socketpair's close also
  // raises POLLHUP, which both paths see.)
  TcpPair pair = tcp_pair();
  REQUIRE(::write(pair.client.get(), "GET / HTTP/1.1\r\n\r\n", 18) == 18);
  pair.client.reset();
  pollfd p{pair.server.get(), POLLIN, 0};
  REQUIRE(::poll(&p, 1, k_wait_ms) == 1); // the bytes (and the FIN) have arrived
  if (portable()) {
    CHECK_FALSE(platform::peer_closed(pair.server.get())); // the documented blind spot
    char buf[64];
    CHECK(::read(pair.server.get(), buf, sizeof buf) == 18);
    CHECK(platform::peer_closed(pair.server.get()));
  } else {
    CHECK(platform::peer_closed(pair.server.get()));
  }
}

TEST_CASE("platform: sending to a closed peer fails with EPIPE or ECONNRESET, no SIGPIPE") {
  // In a child, so that SIGPIPE's default (death) is really in force and is seen as such.
  const pid_t pid = ::fork();
  if (pid == 0) {
    std::signal(SIGPIPE, SIG_DFL);
    TcpPair pair = tcp_pair();
    pair.server.reset();
    const std::string bytes(1024, 'x');
    // The first send is taken before the peer's reset comes back; after it, EPIPE (perhaps
    // after one ECONNRESET), which is where SIGPIPE would be raised.
    ssize_t n = platform::send_nosignal(pair.client.get(), bytes.data(), bytes.size());
    pollfd p{pair.client.get(), POLLIN, 0};
    ::poll(&p, 1, k_wait_ms);
    iovec part{const_cast<char*>(bytes.data()), bytes.size()};
    msghdr message{};
    message.msg_iov = &part;
    message.msg_iovlen = 1;
    for (int i = 0; i < 4 && !(n < 0 && errno == EPIPE); ++i) {
      n = i % 2 == 0 ? platform::sendmsg_nosignal(pair.client.get(), &message)
                     : platform::send_nosignal(pair.client.get(), bytes.data(), bytes.size());
    }
    ::_exit(n < 0 && errno == EPIPE ? 0 : 1);
  }
  REQUIRE(pid > 0);
  const int status = reap(pid);
  CHECK_FALSE(WIFSIGNALED(status));
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
}

TEST_CASE("platform: close_fds_on_exec: nothing from 3 up survives exec but the report fd") {
  int keep[2], other[2];
  REQUIRE(platform::make_pipe_cloexec(keep));
  REQUIRE(::pipe(other) == 0); // not close-on-exec: only close_fds_on_exec stops it
  const pid_t pid = ::fork();
  if (pid == 0) {
    platform::close_fds_on_exec(keep[1], 1024);
    // Closed now (the loop) or closed at exec (close_range's CLOEXEC marking) both do.
    const int flags = ::fcntl(other[1], F_GETFD);
    const bool other_gone = flags < 0 || (flags & FD_CLOEXEC) != 0;
    const bool keep_open = ::fcntl(keep[1], F_GETFD) >= 0;
    ::_exit(other_gone && keep_open ? 0 : 1);
  }
  REQUIRE(pid > 0);
  const int status = reap(pid);
  for (int fd : {keep[0], keep[1], other[0], other[1]}) {
    ::close(fd);
  }
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
}

TEST_CASE("platform: die_with_parent is real on Linux only - the parent check on both") {
  CHECK(platform::children_die_with_parent() == !portable());
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid == 0) {
    const bool mine = platform::die_with_parent(parent);
    const bool other = platform::die_with_parent(parent + 1);
    ::_exit(mine && !other ? 0 : 1);
  }
  REQUIRE(pid > 0);
  const int status = reap(pid);
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
}

TEST_CASE("platform: this machine's memory and CPU, as each path can read them") {
  const auto memory = platform::physical_memory_bytes();
  REQUIRE(memory.has_value());
  CHECK(*memory >= 64ULL * 1024 * 1024);
  if (portable()) {
    CHECK_FALSE(platform::meminfo_file().has_value());
    CHECK_FALSE(platform::group_cpu_seconds(::getpgrp()).has_value());
  } else {
    REQUIRE(platform::meminfo_file().has_value());
    CHECK(*platform::meminfo_file() == "/proc/meminfo");
    const auto cpu = platform::group_cpu_seconds(::getpgrp());
    REQUIRE(cpu.has_value());
    CHECK(*cpu >= 0.0);
  }
}
