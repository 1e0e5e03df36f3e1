#pragma once
// UniqueFd: an owned file descriptor, closed when the owner goes (move-only), and the
// descriptor helpers the process spawners share (pipes for a child, non-blocking reads).

#include <unistd.h>

#include <utility>

namespace ask::core {

class UniqueFd {
public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : m_fd(fd) {}
  UniqueFd(UniqueFd&& other) noexcept : m_fd(std::exchange(other.m_fd, -1)) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept {
    if (this != &other) {
      reset();
      m_fd = std::exchange(other.m_fd, -1);
    }
    return *this;
  }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  ~UniqueFd() { reset(); }

  int get() const { return m_fd; }
  bool valid() const { return m_fd >= 0; }
  void reset() {
    if (m_fd >= 0) {
      ::close(m_fd); // no retry on EINTR: Linux has released the descriptor already
      m_fd = -1;
    }
  }

private:
  int m_fd = -1;
};

// A close-on-exec pipe with both ends above 0..2, so that a child's dup2 onto its standard
// descriptors cannot clobber one of them. False (errno set) when the system refuses.
bool open_cloexec_pipe(UniqueFd& read_end, UniqueFd& write_end);

// Adds O_NONBLOCK to `fd`'s status flags, keeping the others. False (errno set) on failure.
bool set_nonblocking(int fd);

} // namespace ask::core
