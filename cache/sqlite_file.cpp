#include "cache/sqlite_file.h"

#include <cerrno>
#include <cstring>
#include <ranges>
#include <stdexcept>
#include <system_error>
#include <vector>

#include <SQLiteCpp/Database.h>
#include <SQLiteCpp/Exception.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

namespace ask::cache {

namespace fs = std::filesystem;

int sqlite_primary_code(const SQLite::Exception& e) {
  const int code = e.getExtendedErrorCode() >= 0 ? e.getExtendedErrorCode() : e.getErrorCode();
  return code & 0xff;
}

bool sqlite_is_busy_code(int code) {
  return (code & 0xff) == SQLITE_BUSY || (code & 0xff) == SQLITE_LOCKED;
}

bool sqlite_is_busy(const SQLite::Exception& e) {
  return sqlite_is_busy_code(sqlite_primary_code(e)) || sqlite_is_busy_code(e.getErrorCode());
}

bool sqlite_is_corrupt(const SQLite::Exception& e) {
  for (const int code : {sqlite_primary_code(e), e.getErrorCode() & 0xff}) {
    if (code == SQLITE_CORRUPT || code == SQLITE_NOTADB) {
      return true;
    }
  }
  return false;
}

std::string sqlite_not_usable(const SQLite::Exception& e) {
  return std::string("is not a usable SQLite database (") + e.what() + ")";
}

std::string make_private_folders(const fs::path& file) {
  const fs::path parent = file.parent_path();
  if (parent.empty()) {
    return {};
  }
  std::vector<fs::path> missing;
  std::error_code ec;
  for (fs::path p = parent; !p.empty() && !fs::exists(p, ec); p = p.parent_path()) {
    missing.push_back(p);
    if (p == p.parent_path()) {
      break;
    }
  }
  for (const auto& folder : missing | std::views::reverse) {
    if (::mkdir(folder.c_str(), 0700) != 0 && errno != EEXIST) {
      return "cannot create folder " + folder.string() + ": " + std::strerror(errno);
    }
  }
  if (!fs::is_directory(parent, ec)) {
    return "cannot create folder " + parent.string() + ": it exists and is not a folder";
  }
  return {};
}

std::unique_ptr<SQLite::Database> open_sqlite_file(const fs::path& path, dev_t& device,
                                                   ino_t& inode) {
  auto db = std::make_unique<SQLite::Database>(path.string(),
                                               SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
  if (sqlite3_db_readonly(db->getHandle(), "main") == 1) {
    throw std::runtime_error("the file is read-only");
  }
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0) {
    device = st.st_dev;
    inode = st.st_ino;
  }
  (void)sqlite3_db_config(db->getHandle(), SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, nullptr);
  return db;
}

fs::path path_with_suffix(const fs::path& path, std::string_view suffix) {
  fs::path out = path;
  out += std::string(suffix);
  return out;
}

std::optional<fs::path> move_sqlite_file_aside(const fs::path& path, dev_t device, ino_t inode,
                                               long long seconds) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0 || st.st_dev != device || st.st_ino != inode) {
    return std::nullopt; // gone or already replaced by a new file
  }
  fs::path target = path_with_suffix(path, ".corrupt-" + std::to_string(seconds));
  for (int n = 1; fs::exists(target) && n < 1000; ++n) {
    target =
        path_with_suffix(path, ".corrupt-" + std::to_string(seconds) + "." + std::to_string(n));
  }
  if (::rename(path.c_str(), target.c_str()) != 0) {
    if (errno == ENOENT) {
      return std::nullopt;
    }
    throw std::runtime_error("cannot move the unusable file aside to " + target.string() + ": " +
                             std::strerror(errno));
  }
  (void)::rename(path_with_suffix(path, "-wal").c_str(), path_with_suffix(target, "-wal").c_str());
  (void)::unlink(path_with_suffix(path, "-shm").c_str());
  return target;
}

} // namespace ask::cache
