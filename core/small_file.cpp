#include "core/small_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "core/unique_fd.h"

namespace ask::core {

std::optional<std::string> write_atomically(const std::filesystem::path& path,
                                            const std::string& text) {
  static std::atomic<unsigned> counter{0};
  std::error_code ec;
  std::filesystem::create_directories(path.parent_path(), ec);
  if (ec) {
    return "cannot create " + path.parent_path().string() + ": " + ec.message();
  }
  const std::filesystem::path temp = path.string() + ".tmp-" + std::to_string(::getpid()) + "-" +
                                     std::to_string(counter.fetch_add(1));
  const auto fail = [&](const std::string& what) {
    std::string reason = what + ": " + std::strerror(errno);
    ::unlink(temp.c_str());
    return reason;
  };
  {
    const core::UniqueFd fd(::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644));
    if (!fd.valid()) {
      return "cannot create " + temp.string() + ": " + std::strerror(errno);
    }
    std::string_view rest = text;
    while (!rest.empty()) {
      const ssize_t n = ::write(fd.get(), rest.data(), rest.size());
      if (n < 0 && errno == EINTR) {
        continue;
      }
      if (n <= 0) {
        return fail("cannot write " + temp.string());
      }
      rest.remove_prefix(static_cast<std::size_t>(n));
    }
    if (::fsync(fd.get()) != 0) {
      return fail("cannot sync " + temp.string());
    }
  }
  if (::rename(temp.c_str(), path.c_str()) != 0) {
    return fail("cannot rename " + temp.string() + " to " + path.string());
  }
  // The rename itself reaches the disk with the folder's own fsync; a failure here loses at
  // most this write after a power cut, and the old file or the new one is there whole.
  const std::string folder = path.parent_path().empty() ? "." : path.parent_path().string();
  if (const core::UniqueFd dir(::open(folder.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
      dir.valid()) {
    ::fsync(dir.get());
  }
  return std::nullopt;
}

std::expected<std::string, ReadProblem> read_small_file(const std::filesystem::path& path,
                                                        std::uintmax_t max_bytes) {
  std::error_code ec;
  const auto status = std::filesystem::status(path, ec);
  if (ec || !std::filesystem::exists(status)) {
    return std::unexpected(ReadProblem{ReadProblem::Kind::missing, 0, {}});
  }
  if (std::filesystem::is_directory(status)) {
    return std::unexpected(ReadProblem{ReadProblem::Kind::directory, 0, {}});
  }
  const auto size = std::filesystem::file_size(path, ec);
  if (!ec && size > max_bytes) {
    return std::unexpected(ReadProblem{ReadProblem::Kind::too_large, size, {}});
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return std::unexpected(ReadProblem{ReadProblem::Kind::unreadable, 0, std::strerror(errno)});
  }
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) {
    return std::unexpected(ReadProblem{ReadProblem::Kind::unreadable, 0, "read error"});
  }
  return std::move(text).str();
}

} // namespace ask::core
