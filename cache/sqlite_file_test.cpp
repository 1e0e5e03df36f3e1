#include "cache/sqlite_file.h"

#include <fstream>
#include <iterator>
#include <string>

#include <SQLiteCpp/Database.h>
#include <SQLiteCpp/Exception.h>
#include <doctest/doctest.h>
#include <sqlite3.h>
#include <sys/stat.h>

#include "tests/support/temp_dir.h"

namespace fs = std::filesystem;
using namespace ask::cache;

namespace {

class SqliteFileTempDir : public ask::testing::TempDir {
public:
  SqliteFileTempDir() : ask::testing::TempDir("sqlite_file_test") {}
};

void write_text(const fs::path& path, const std::string& text) {
  std::ofstream(path, std::ios::binary) << text;
}

std::string read_text(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

mode_t mode_of(const fs::path& path) {
  struct stat st {};
  REQUIRE(::stat(path.c_str(), &st) == 0);
  return st.st_mode & 07777;
}

struct stat stat_of(const fs::path& path) {
  struct stat st {};
  REQUIRE(::stat(path.c_str(), &st) == 0);
  return st;
}

} // namespace

TEST_CASE("sqlite_file: busy and locked codes, plain or extended, are busy - others are not") {
  CHECK(sqlite_is_busy(SQLite::Exception("x", SQLITE_BUSY)));
  CHECK(sqlite_is_busy(SQLite::Exception("x", SQLITE_LOCKED)));
  CHECK(sqlite_is_busy(SQLite::Exception("x", SQLITE_BUSY_SNAPSHOT)));
  CHECK(sqlite_is_busy(SQLite::Exception("x", SQLITE_LOCKED_SHAREDCACHE)));
  CHECK_FALSE(sqlite_is_busy(SQLite::Exception("x", SQLITE_IOERR)));
  CHECK_FALSE(sqlite_is_busy(SQLite::Exception("x", SQLITE_CORRUPT)));
  CHECK_FALSE(sqlite_is_busy(SQLite::Exception("not from SQLite")));
  CHECK(sqlite_is_busy_code(SQLITE_BUSY_RECOVERY));
  CHECK_FALSE(sqlite_is_busy_code(SQLITE_OK));
  CHECK(sqlite_primary_code(SQLite::Exception("x", SQLITE_BUSY_SNAPSHOT)) == SQLITE_BUSY);
}

TEST_CASE("sqlite_file: corrupt and not-a-database codes are corrupt - busy and I/O are not") {
  CHECK(sqlite_is_corrupt(SQLite::Exception("x", SQLITE_CORRUPT)));
  CHECK(sqlite_is_corrupt(SQLite::Exception("x", SQLITE_CORRUPT_VTAB)));
  CHECK(sqlite_is_corrupt(SQLite::Exception("x", SQLITE_NOTADB)));
  CHECK_FALSE(sqlite_is_corrupt(SQLite::Exception("x", SQLITE_BUSY)));
  CHECK_FALSE(sqlite_is_corrupt(SQLite::Exception("x", SQLITE_IOERR_SHORT_READ)));
  CHECK_FALSE(sqlite_is_corrupt(SQLite::Exception("not from SQLite")));
}

TEST_CASE("sqlite_file: a text file opened as a database is corrupt, and says so") {
  SqliteFileTempDir dir;
  const fs::path path = dir.path() / "notes.sqlite";
  write_text(path, std::string(4096, 'x'));
  try {
    SQLite::Database db(path.string(), SQLite::OPEN_READWRITE);
    (void)db.execAndGet("PRAGMA user_version");
    FAIL("a text file opened as a database");
  } catch (const SQLite::Exception& e) {
    CHECK(sqlite_is_corrupt(e));
    CHECK_FALSE(sqlite_is_busy(e));
    CHECK(sqlite_not_usable(e) == "is not a usable SQLite database (file is not a database)");
  }
}

TEST_CASE("sqlite_file: make_private_folders creates the missing folders 0700, keeps others") {
  SqliteFileTempDir dir;
  fs::create_directory(dir.path() / "kept");
  ::chmod((dir.path() / "kept").c_str(), 0755);
  const fs::path file = dir.path() / "kept" / "a" / "b" / "x.sqlite";
  CHECK(make_private_folders(file).empty());
  CHECK(mode_of(dir.path() / "kept") == 0755);
  CHECK(mode_of(dir.path() / "kept" / "a") == 0700);
  CHECK(mode_of(dir.path() / "kept" / "a" / "b") == 0700);
  CHECK_FALSE(fs::exists(file));
  CHECK(make_private_folders(file).empty());       // again: everything exists
  CHECK(make_private_folders("x.sqlite").empty()); // no folder to make
}

TEST_CASE("sqlite_file: make_private_folders names the path a file blocks") {
  SqliteFileTempDir dir;
  const fs::path blocker = dir.path() / "blocker";
  write_text(blocker, "not a folder\n");
  CHECK(make_private_folders(blocker / "x.sqlite") ==
        "cannot create folder " + blocker.string() + ": it exists and is not a folder");
  CHECK(make_private_folders(blocker / "sub" / "x.sqlite") ==
        "cannot create folder " + (blocker / "sub").string() + ": Not a directory");
  CHECK(read_text(blocker) == "not a folder\n");
}

TEST_CASE("sqlite_file: path_with_suffix appends to the last component") {
  CHECK(path_with_suffix("dir/x.sqlite", "-wal") == fs::path("dir/x.sqlite-wal"));
  CHECK(path_with_suffix("x", ".corrupt-1") == fs::path("x.corrupt-1"));
}

TEST_CASE("sqlite_file: move_sqlite_file_aside moves the file and its WAL, drops the -shm") {
  SqliteFileTempDir dir;
  const fs::path path = dir.path() / "h.sqlite";
  write_text(path, "db");
  write_text(path_with_suffix(path, "-wal"), "wal");
  write_text(path_with_suffix(path, "-shm"), "shm");
  const struct stat st = stat_of(path);
  const auto target = move_sqlite_file_aside(path, st.st_dev, st.st_ino, 1767225600);
  REQUIRE(target.has_value());
  CHECK(*target == dir.path() / "h.sqlite.corrupt-1767225600");
  CHECK(read_text(*target) == "db");
  CHECK(read_text(path_with_suffix(*target, "-wal")) == "wal");
  CHECK_FALSE(fs::exists(path));
  CHECK_FALSE(fs::exists(path_with_suffix(path, "-wal")));
  CHECK_FALSE(fs::exists(path_with_suffix(path, "-shm")));

  // The same second again: a numbered name beside the first.
  write_text(path, "db2");
  const struct stat st2 = stat_of(path);
  const auto second = move_sqlite_file_aside(path, st2.st_dev, st2.st_ino, 1767225600);
  REQUIRE(second.has_value());
  CHECK(*second == dir.path() / "h.sqlite.corrupt-1767225600.1");
  CHECK(read_text(*second) == "db2");
  CHECK(read_text(*target) == "db");
}

TEST_CASE("sqlite_file: move_sqlite_file_aside leaves a file another process replaced") {
  SqliteFileTempDir dir;
  const fs::path path = dir.path() / "h.sqlite";
  write_text(path, "old");
  const struct stat old = stat_of(path);
  const fs::path keep = dir.path() / "old.sqlite";
  fs::rename(path, keep); // keeps the old inode alive, so the new file cannot reuse it
  write_text(path, "new");
  CHECK_FALSE(move_sqlite_file_aside(path, old.st_dev, old.st_ino, 1).has_value());
  CHECK(read_text(path) == "new");
  fs::remove(path);
  CHECK_FALSE(move_sqlite_file_aside(path, old.st_dev, old.st_ino, 1).has_value());
  CHECK_FALSE(fs::exists(dir.path() / "h.sqlite.corrupt-1"));
}

TEST_CASE("sqlite_file: open_sqlite_file creates the file and records its identity") {
  SqliteFileTempDir dir;
  const fs::path path = dir.path() / "h.sqlite";
  dev_t device = 0;
  ino_t inode = 0;
  auto db = open_sqlite_file(path, device, inode);
  REQUIRE(db != nullptr);
  db->exec("CREATE TABLE t(x)");
  const struct stat st = stat_of(path);
  CHECK(device == st.st_dev);
  CHECK(inode == st.st_ino);
  // Closing does not checkpoint: the WAL (once switched to) stays behind.
  db->exec("PRAGMA journal_mode = WAL");
  db->exec("INSERT INTO t VALUES (1)");
  db.reset();
  CHECK(fs::exists(path_with_suffix(path, "-wal")));
}

TEST_CASE("sqlite_file: open_sqlite_file on a folder throws and keeps the identity it had") {
  SqliteFileTempDir dir;
  dev_t device = 7;
  ino_t inode = 9;
  CHECK_THROWS_AS((void)open_sqlite_file(dir.path(), device, inode), SQLite::Exception);
  CHECK(device == 7);
  CHECK(inode == 9);
}
