#pragma once
// The plumbing of ask's SQLite files that the prompt cache (sqlite_cache.cpp) and the
// conversation history (ask/history.cpp) share: classifying SQLite's errors, creating the
// private folders above a file, and moving an unusable file aside. Each caller keeps its own
// policy (what to move aside, how long to wait for locks, what to warn).

#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <sys/types.h>

namespace SQLite {
class Database;
class Exception;
} // namespace SQLite

namespace ask::cache {

// The primary result code (low byte) of e's extended code, or of its plain code without one.
int sqlite_primary_code(const SQLite::Exception& e);

// Whether a result code (plain or extended) is SQLITE_BUSY or SQLITE_LOCKED: another
// connection holds a lock this one needs.
bool sqlite_is_busy_code(int code);
bool sqlite_is_busy(const SQLite::Exception& e);

// Whether e says the file is damaged or not a database (SQLITE_CORRUPT, SQLITE_NOTADB).
bool sqlite_is_corrupt(const SQLite::Exception& e);

// "is not a usable SQLite database (<e.what()>)": the problem that a caller's move-aside
// warning names after the path.
std::string sqlite_not_usable(const SQLite::Exception& e);

// Creates the missing folders above `file`, each with mode 0700 (folders that exist are left
// as they are); "" or the problem ("cannot create folder <path>: <reason>").
std::string make_private_folders(const std::filesystem::path& file);

// Opens `path` read-write, creating it; throws std::runtime_error("the file is read-only") when
// SQLite could open it only read-only, SQLite::Exception as SQLite::Database does. Sets
// device and inode to the file's (left as they are if stat fails) and turns off the
// checkpoint on close (SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE). Reads nothing, so takes no lock:
// the caller installs its busy handler before its first statement.
std::unique_ptr<SQLite::Database> open_sqlite_file(const std::filesystem::path& path, dev_t& device,
                                                   ino_t& inode);

// `path` with `suffix` appended to its last component ("x.sqlite" + "-wal").
std::filesystem::path path_with_suffix(const std::filesystem::path& path, std::string_view suffix);

// Renames the SQLite file `path` to "<path>.corrupt-<seconds>" (".<n>" appended while that
// exists), renames its -wal beside it and removes its -shm; returns where it went. Does
// nothing and answers nullopt when the path no longer names the file (device, inode) that
// the caller opened: another process has already moved it and perhaps made a new one.
// Throws std::runtime_error when the rename fails otherwise.
std::optional<std::filesystem::path> move_sqlite_file_aside(const std::filesystem::path& path,
                                                            dev_t device, ino_t inode,
                                                            long long seconds);

} // namespace ask::cache
