#include "core/unique_fd.h"

#include <fcntl.h>

#include <array>

#include "core/platform.h"

namespace ask::core {

namespace {

// `fd` itself when above 2, else a close-on-exec duplicate above 2 (`fd` closed); -1 when
// that fails.
int above_stdio(int fd) {
  if (fd > 2) {
    return fd;
  }
  const int moved = ::fcntl(fd, F_DUPFD_CLOEXEC, 3);
  ::close(fd);
  return moved;
}

} // namespace

bool open_cloexec_pipe(UniqueFd& read_end, UniqueFd& write_end) {
  std::array<int, 2> fds{};
  if (!platform::make_pipe_cloexec(fds.data())) {
    return false;
  }
  read_end = UniqueFd(above_stdio(fds[0]));
  write_end = UniqueFd(above_stdio(fds[1]));
  return read_end.valid() && write_end.valid();
}

bool set_nonblocking(int fd) {
  const int flags = ::fcntl(fd, F_GETFL);
  return flags >= 0 && ::fcntl(fd, F_SETFL, flags | O_NONBLOCK) == 0;
}

} // namespace ask::core
