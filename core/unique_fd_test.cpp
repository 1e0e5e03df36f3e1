#include "core/unique_fd.h"

#include <fcntl.h>

#include <cerrno>

#include <doctest/doctest.h>

using ask::core::open_cloexec_pipe;
using ask::core::set_nonblocking;
using ask::core::UniqueFd;

TEST_CASE("UniqueFd: closes its descriptor when it goes, once") {
  int raw[2];
  REQUIRE(::pipe(raw) == 0);
  UniqueFd write_end(raw[1]);
  {
    UniqueFd read_end(raw[0]);
    UniqueFd moved = std::move(read_end);
    CHECK_FALSE(read_end.valid()); // NOLINT(bugprone-use-after-move): what is tested
    CHECK(moved.get() == raw[0]);
  }
  CHECK(::fcntl(raw[0], F_GETFD) == -1); // closed by `moved`
  CHECK(::fcntl(raw[1], F_GETFD) != -1);
}

TEST_CASE("open_cloexec_pipe: both ends close-on-exec and above the standard descriptors") {
  UniqueFd r;
  UniqueFd w;
  REQUIRE(open_cloexec_pipe(r, w));
  for (const int fd : {r.get(), w.get()}) {
    CHECK(fd > 2);
    CHECK((::fcntl(fd, F_GETFD) & FD_CLOEXEC) != 0);
  }
  const char byte = 'x';
  REQUIRE(::write(w.get(), &byte, 1) == 1);
  char got = 0;
  CHECK(::read(r.get(), &got, 1) == 1);
  CHECK(got == 'x');
}

TEST_CASE("open_cloexec_pipe: moves an end off a free standard descriptor") {
  // With stdin closed the kernel hands out 0 for the next descriptor: the pipe must not keep
  // it, or a child's dup2(out, 1) / dup2(in, 0) would clobber it.
  const int saved = ::fcntl(0, F_DUPFD_CLOEXEC, 10);
  REQUIRE(saved >= 0);
  ::close(0);
  UniqueFd r;
  UniqueFd w;
  const bool ok = open_cloexec_pipe(r, w);
  const int r_fd = r.get();
  const int w_fd = w.get();
  REQUIRE(::dup2(saved, 0) == 0); // put stdin back before checking
  ::close(saved);
  REQUIRE(ok);
  CHECK(r_fd > 2);
  CHECK(w_fd > 2);
  CHECK(::fcntl(0, F_GETFD) != -1);
}

TEST_CASE("set_nonblocking: adds O_NONBLOCK and keeps the other status flags") {
  UniqueFd r;
  UniqueFd w;
  REQUIRE(open_cloexec_pipe(r, w));
  REQUIRE(::fcntl(w.get(), F_SETFL, O_APPEND) == 0);
  REQUIRE(set_nonblocking(w.get()));
  const int flags = ::fcntl(w.get(), F_GETFL);
  CHECK((flags & O_NONBLOCK) != 0);
  CHECK((flags & O_APPEND) != 0);
  REQUIRE(set_nonblocking(r.get()));
  char byte = 0;
  CHECK(::read(r.get(), &byte, 1) == -1); // empty and non-blocking: EAGAIN, not a hang
  CHECK(errno == EAGAIN);
  CHECK_FALSE(set_nonblocking(-1));
}
