#include "tests/support/sparse_gguf.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace ask::testing::gguf {

bool write_sparse(const Header& header, const std::filesystem::path& path, std::string& error) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    error = "open " + path.string() + ": " + std::strerror(errno);
    return false;
  }
  std::size_t done = 0;
  while (done < header.bytes.size()) {
    const ssize_t n = ::write(fd, header.bytes.data() + done, header.bytes.size() - done);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n <= 0) {
      error = "write " + path.string() + ": " + std::strerror(errno);
      ::close(fd);
      return false;
    }
    done += static_cast<std::size_t>(n);
  }
  const bool ok = ::ftruncate(fd, static_cast<off_t>(header.file_size)) == 0;
  if (!ok) {
    error = "ftruncate " + path.string() + ": " + std::strerror(errno);
  }
  ::close(fd);
  return ok;
}

core::gguf::SplitModel in_memory(const Header& header, const std::string& name) {
  core::gguf::SplitModel m;
  auto f = core::gguf::parse(header.bytes, header.file_size);
  if (f) {
    m.paths.emplace_back(name);
    m.parts.push_back(std::move(*f));
  }
  return m;
}

} // namespace ask::testing::gguf
