#include "telemetry/jsonl_writer.h"

#include <cerrno>
#include <cstring>
#include <string>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/json_text.h"

namespace ask::telemetry {

namespace {

constexpr mode_t k_file_mode = 0600;
constexpr mode_t k_dir_mode = 0700;

std::string os_reason(int err) {
  return std::strerror(err);
}

// Creates `dir` and its missing parents, each new one with mode 0700 (folders that exist are
// left as they are). Returns the OS error of the first component that could not be made.
core::Result<void> make_dirs(const std::filesystem::path& dir) {
  if (dir.empty()) {
    return {};
  }
  std::filesystem::path partial;
  for (const auto& part : dir) {
    partial /= part;
    if (partial == partial.root_path()) {
      continue;
    }
    if (::mkdir(partial.c_str(), k_dir_mode) == 0) {
      continue;
    }
    const int err = errno;
    struct stat st {};
    if (err == EEXIST && ::stat(partial.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) {
      continue;
    }
    if (err == EEXIST) {
      return core::fail(core::Error::internal(partial.string() + " exists and is not a folder"));
    }
    return core::fail(
        core::Error::internal("cannot create folder " + partial.string() + ": " + os_reason(err)));
  }
  return {};
}

} // namespace

JsonlWriter::JsonlWriter(std::filesystem::path path) : m_path(std::move(path)) {}

JsonlWriter::~JsonlWriter() {
  if (m_fd >= 0) {
    ::close(m_fd);
  }
}

namespace {
template <class J> core::Result<std::string> dump_line(const J& line, const std::string& path) {
  try {
    return core::dump_json(line);
  } catch (const nlohmann::json::exception& e) {
    return core::fail(
        core::Error::internal("cannot serialise a line for " + path + ": " + e.what()));
  }
}
} // namespace

core::Result<void> JsonlWriter::append(const nlohmann::json& line) {
  // Dump outside the lock: it is the costly part and touches nothing shared.
  auto text = dump_line(line, m_path.string());
  if (!text) {
    return core::fail(text.error());
  }
  return append_text(std::move(*text));
}

core::Result<void> JsonlWriter::append(const nlohmann::ordered_json& line) {
  auto text = dump_line(line, m_path.string());
  if (!text) {
    return core::fail(text.error());
  }
  return append_text(std::move(*text));
}

core::Result<void> JsonlWriter::append_text(std::string text) {
  text.push_back('\n');

  std::lock_guard lock(m_mutex);
  if (m_fd < 0) {
    // The folder almost always exists: open first, create folders only when it does not
    // (that saves a mkdir and a stat per folder of the path on every ask run).
    auto open_log = [this] {
      int fd = -1;
      do {
        fd = ::open(m_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, k_file_mode);
      } while (fd < 0 && errno == EINTR);
      return fd;
    };
    int fd = open_log();
    // ENOTDIR: a file stands where a folder should be; make_dirs names it.
    if (fd < 0 && (errno == ENOENT || errno == ENOTDIR)) {
      if (auto made = make_dirs(m_path.parent_path()); !made) {
        return core::fail(
            core::Error::internal("cannot open " + m_path.string() + ": " + made.error().message));
      }
      fd = open_log();
    }
    if (fd < 0) {
      return core::fail(
          core::Error::internal("cannot open " + m_path.string() + ": " + os_reason(errno)));
    }
    m_fd = fd;
  }

  // One write(2) per line: O_APPEND makes the seek-and-write atomic, so lines from other
  // threads and processes land whole. A short write is reported, never completed by a second
  // write, which could interleave with another writer's line.
  ssize_t written = -1;
  do {
    written = ::write(m_fd, text.data(), text.size());
  } while (written < 0 && errno == EINTR);
  if (written < 0) {
    return core::fail(
        core::Error::internal("cannot write to " + m_path.string() + ": " + os_reason(errno)));
  }
  if (static_cast<size_t>(written) != text.size()) {
    return core::fail(core::Error::internal(
        "short write to " + m_path.string() + ": " + std::to_string(written) + " of " +
        std::to_string(text.size()) + " bytes (disk full?); the line is truncated"));
  }
  return {};
}

} // namespace ask::telemetry
