#include "cache/sqlite_cache.h"

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <SQLiteCpp/Database.h>
#include <doctest/doctest.h>
#include <sqlite3.h>

#include "tests/support/temp_dir.h"
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

using ask::cache::Entry;
using ask::cache::SqliteCache;
using ask::core::Duration;
using ask::core::FakeClock;
namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace {

// A fresh folder per test, removed afterwards.
class TempDir : public ask::testing::TempDir {
public:
  TempDir() : ask::testing::TempDir("sqlite_cache_test") {}
};

// FakeClock's default start, 2026-01-01T00:00:00Z.
constexpr double k_start = 1767225600.0;

struct Harness {
  TempDir dir;
  FakeClock clock;
  std::vector<std::string> warnings;

  fs::path db_path() const { return dir.path() / "cache.sqlite"; }

  SqliteCache::Options options(Duration ttl = Duration::seconds(3600)) {
    SqliteCache::Options o;
    o.path = db_path();
    o.ttl = ttl;
    o.warn = [this](const std::string& line) { warnings.push_back(line); };
    return o;
  }

  std::unique_ptr<SqliteCache> open(Duration ttl = Duration::seconds(3600)) {
    auto cache = SqliteCache::open(options(ttl), clock);
    REQUIRE_MESSAGE(cache.has_value(), cache.error().message);
    return std::move(*cache);
  }
};

Entry make_entry(const std::string& key, const std::string& model = "fast-9b",
                 const std::string& answer = "an answer") {
  Entry e;
  e.key = key;
  e.model = model;
  e.served_by = model;
  e.answer = answer;
  e.response = R"({"object":"chat.completion","choices":[]})";
  e.prompt_chars = 42;
  return e;
}

std::optional<Entry> get_ok(SqliteCache& cache, const std::string& key) {
  auto got = cache.get(key);
  REQUIRE_MESSAGE(got.has_value(), got.error().message);
  return *got;
}

void put_ok(SqliteCache& cache, const Entry& entry) {
  auto put = cache.put(entry);
  REQUIRE_MESSAGE(put.has_value(), put.error().message);
}

std::string read_bytes(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void write_bytes(const fs::path& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << bytes;
}

std::vector<fs::path> corrupt_copies(const fs::path& dir) {
  std::vector<fs::path> found;
  for (const auto& item : fs::directory_iterator(dir)) {
    if (item.path().filename().string().starts_with("cache.sqlite.corrupt-") &&
        !item.path().string().ends_with("-wal")) {
      found.push_back(item.path());
    }
  }
  return found;
}

// Writes a database of `count` entries with large answers, so it spans many pages, then
// moves everything from the WAL into the file (connections close without a checkpoint), so
// that damage done to the file is what SQLite reads.
void fill(Harness& h, int count) {
  {
    auto cache = h.open();
    for (int i = 0; i < count; ++i) {
      put_ok(*cache, make_entry("key-" + std::to_string(i), "fast-9b", std::string(600, 'a')));
    }
  }
  SQLite::Database db(h.db_path().string(), SQLite::OPEN_READWRITE);
  db.exec("PRAGMA wal_checkpoint(TRUNCATE)");
  REQUIRE(fs::file_size(h.db_path().string() + "-wal") == 0);
}

} // namespace

TEST_CASE("SqliteCache: a new cache creates its folders (0700) and misses") {
  Harness h;
  auto options = h.options();
  options.path = h.dir.path() / "a" / "b" / "cache.sqlite";
  auto cache = SqliteCache::open(options, h.clock);
  REQUIRE_MESSAGE(cache.has_value(), cache.error().message);
  CHECK((*cache)->path() == options.path);
  CHECK(fs::exists(options.path));
  for (const fs::path& folder : {h.dir.path() / "a", h.dir.path() / "a" / "b"}) {
    struct stat st {};
    REQUIRE(::stat(folder.c_str(), &st) == 0);
    CHECK((st.st_mode & 0777) == 0700);
  }
  CHECK_FALSE(get_ok(**cache, "nope").has_value());
  CHECK(h.warnings.empty());
}

TEST_CASE("SqliteCache: put then get returns every field") {
  Harness h;
  auto cache = h.open(Duration::seconds(3600));
  Entry e = make_entry("k1", "fast-1b", "héllo\nworld");
  e.served_by = "fast-1b";
  e.response = R"({"id":"x","choices":[{"message":{"content":"héllo"}}]})";
  e.prompt_chars = 1234;
  put_ok(*cache, e);
  const auto got = get_ok(*cache, "k1");
  REQUIRE(got.has_value());
  CHECK(got->key == "k1");
  CHECK(got->model == "fast-1b");
  CHECK(got->served_by == "fast-1b");
  CHECK(got->answer == "héllo\nworld");
  CHECK(got->response == e.response);
  CHECK(got->prompt_chars == 1234);
  CHECK(got->created == doctest::Approx(k_start));
  CHECK(got->expires == doctest::Approx(k_start + 3600));
}

TEST_CASE("SqliteCache: a hit writes nothing: the database and its WAL stay as they were") {
  Harness h;
  auto cache = h.open();
  put_ok(*cache, make_entry("k"));
  const fs::path wal = h.db_path().string() + "-wal";
  const auto db_size = fs::file_size(h.db_path());
  const auto wal_size = fs::exists(wal) ? fs::file_size(wal) : 0;
  for (int i = 0; i < 50; ++i) {
    CHECK(get_ok(*cache, "k").has_value());
  }
  CHECK_FALSE(get_ok(*cache, "other").has_value());
  CHECK(fs::file_size(h.db_path()) == db_size);
  CHECK((fs::exists(wal) ? fs::file_size(wal) : 0) == wal_size);
}

TEST_CASE("SqliteCache: entries expire after the TTL - forever never does") {
  Harness h;
  auto cache = h.open(Duration::seconds(3600));
  put_ok(*cache, make_entry("k"));
  h.clock.advance(59min);
  CHECK(get_ok(*cache, "k").has_value());
  h.clock.advance(1min);
  CHECK_FALSE(get_ok(*cache, "k").has_value()); // expires == now is expired

  auto forever = h.open(Duration::forever());
  put_ok(*forever, make_entry("f"));
  h.clock.advance(24h * 365 * 100);
  const auto got = get_ok(*forever, "f");
  REQUIRE(got.has_value());
  CHECK(got->expires >= 1e18);

  auto zero = h.open(Duration::zero());
  put_ok(*zero, make_entry("z"));
  CHECK_FALSE(get_ok(*zero, "z").has_value());
}

TEST_CASE("SqliteCache: put replaces an entry") {
  Harness h;
  auto cache = h.open();
  put_ok(*cache, make_entry("k", "fast-9b", "old"));
  CHECK(get_ok(*cache, "k")->answer == "old");
  h.clock.advance(10s);
  put_ok(*cache, make_entry("k", "fast-9b", "new"));
  const auto got = get_ok(*cache, "k");
  REQUIRE(got.has_value());
  CHECK(got->answer == "new");
  CHECK(got->created == doctest::Approx(k_start + 10));
  CHECK(cache->stats()->entries == 1);
}

TEST_CASE("SqliteCache: prune removes only expired entries and says how many") {
  Harness h;
  auto cache = h.open(Duration::seconds(3600));
  put_ok(*cache, make_entry("a"));
  put_ok(*cache, make_entry("b"));
  h.clock.advance(30min);
  put_ok(*cache, make_entry("c"));
  CHECK(*cache->prune() == 0);
  h.clock.advance(45min); // a and b expired at 60m, c expires at 90m
  CHECK(cache->stats()->expired == 2);
  auto pruned = cache->prune();
  REQUIRE_MESSAGE(pruned.has_value(), pruned.error().message);
  CHECK(*pruned == 2);
  CHECK(get_ok(*cache, "c").has_value());
  CHECK(cache->stats()->entries == 1);
  CHECK(*cache->prune() == 0);
  CHECK(h.warnings.empty());
}

TEST_CASE("SqliteCache: clear deletes everything and compacts the file") {
  Harness h;
  fill(h, 200);
  auto cache = h.open();
  const long long before = cache->stats()->file_bytes;
  auto cleared = cache->clear();
  REQUIRE_MESSAGE(cleared.has_value(), cleared.error().message);
  CHECK(*cleared == 200);
  CHECK_FALSE(get_ok(*cache, "key-1").has_value());
  const auto stats = cache->stats();
  CHECK(stats->entries == 0);
  CHECK(stats->file_bytes < before / 4);
  CHECK(*cache->clear() == 0);
  CHECK(h.warnings.empty());
}

TEST_CASE("SqliteCache: stats counts entries, expired rows and models") {
  Harness h;
  auto cache = h.open(Duration::seconds(100));
  auto empty = cache->stats();
  REQUIRE(empty.has_value());
  CHECK(empty->path == h.db_path());
  CHECK(empty->entries == 0);
  CHECK(empty->oldest == 0);
  CHECK(empty->by_model.empty());

  put_ok(*cache, make_entry("1", "fast-9b"));
  h.clock.advance(60s);
  put_ok(*cache, make_entry("2", "fast-1b"));
  put_ok(*cache, make_entry("3", "fast-1b"));
  put_ok(*cache, make_entry("4", "alpha"));
  (void)get_ok(*cache, "2");
  (void)get_ok(*cache, "2");
  (void)get_ok(*cache, "1");
  h.clock.advance(50s); // "1" expired
  const auto s = cache->stats();
  REQUIRE_MESSAGE(s.has_value(), s.error().message);
  CHECK(s->entries == 4);
  CHECK(s->expired == 1);
  CHECK(s->oldest == doctest::Approx(k_start));
  CHECK(s->newest == doctest::Approx(k_start + 60));
  CHECK(s->file_bytes > 0);
  REQUIRE(s->by_model.size() == 3);
  CHECK(s->by_model[0].model == "fast-1b"); // 2 entries
  CHECK(s->by_model[0].entries == 2);
  CHECK(s->by_model[1].model == "alpha"); // 1 entry each: by name
  CHECK(s->by_model[2].model == "fast-9b");
  CHECK(s->by_model[2].entries == 1);
}

TEST_CASE("SqliteCache: an empty file is a new database") {
  Harness h;
  write_bytes(h.db_path(), "");
  auto cache = h.open();
  put_ok(*cache, make_entry("k"));
  CHECK(get_ok(*cache, "k").has_value());
  CHECK(h.warnings.empty());
}

TEST_CASE("SqliteCache: a file that is not a database is moved aside with a warning") {
  Harness h;
  const std::string garbage = "this is not a database, just some bytes that ask did not write\n";
  std::string big;
  for (int i = 0; i < 100; ++i) {
    big += garbage;
  }
  write_bytes(h.db_path(), big);
  auto cache = h.open();
  REQUIRE(h.warnings.size() == 1);
  const fs::path aside = h.db_path().string() + ".corrupt-1767225600";
  CHECK(h.warnings[0] == "cache: " + h.db_path().string() +
                             " is not a usable SQLite database (file is not a database); moved "
                             "it to " +
                             aside.string() + " and started a new cache");
  CHECK(read_bytes(aside) == big);
  put_ok(*cache, make_entry("k"));
  CHECK(get_ok(*cache, "k").has_value());
}

TEST_CASE("SqliteCache: a database damaged in page 2 is recovered by get") {
  Harness h;
  fill(h, 200);
  std::string bytes = read_bytes(h.db_path());
  REQUIRE(bytes.size() > 3 * 4096);
  for (size_t i = 4096; i < 2 * 4096; ++i) {
    bytes[i] = static_cast<char>(0xA5);
  }
  write_bytes(h.db_path(), bytes);

  auto cache = h.open(); // page 1 is intact: the damage shows on first use
  auto got = cache->get("key-7");
  REQUIRE_MESSAGE(got.has_value(), got.error().message);
  CHECK_FALSE(got->has_value());
  REQUIRE(h.warnings.size() == 1);
  CHECK(h.warnings[0].find("is not a usable SQLite database (database disk image is "
                           "malformed)") != std::string::npos);
  CHECK(corrupt_copies(h.dir.path()).size() == 1);
  put_ok(*cache, make_entry("k"));
  CHECK(get_ok(*cache, "k").has_value());
  CHECK(cache->stats()->entries == 1);
}

TEST_CASE("SqliteCache: a truncated database is recovered by put and stats") {
  Harness h;
  fill(h, 200);
  fs::resize_file(h.db_path(), 4096 + 100);
  auto cache = h.open();
  put_ok(*cache, make_entry("k"));
  auto stats = cache->stats();
  REQUIRE_MESSAGE(stats.has_value(), stats.error().message);
  CHECK(stats->entries == 1);
  CHECK(h.warnings.size() == 1);
  CHECK(corrupt_copies(h.dir.path()).size() == 1);
}

TEST_CASE("SqliteCache: a file with a newer schema version is moved aside, saying so") {
  Harness h;
  {
    SQLite::Database db(h.db_path().string(), SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
    db.exec("CREATE TABLE future(x); PRAGMA user_version = 7;");
  }
  auto cache = h.open();
  REQUIRE(h.warnings.size() == 1);
  CHECK(h.warnings[0].find("has schema version 7, newer than this ask understands (1)") !=
        std::string::npos);
  CHECK(corrupt_copies(h.dir.path()).size() == 1);
  put_ok(*cache, make_entry("k"));
  CHECK(get_ok(*cache, "k").has_value());
}

TEST_CASE("SqliteCache: unusable paths give an error naming the path") {
  Harness h;
  SUBCASE("the path is a folder") {
    auto options = h.options();
    options.path = h.dir.path();
    auto cache = SqliteCache::open(options, h.clock);
    REQUIRE_FALSE(cache.has_value());
    CHECK(cache.error().kind == ask::core::ErrorKind::internal);
    CHECK(cache.error().message.starts_with("cache: " + h.dir.path().string() + ": "));
    CHECK(fs::is_directory(h.dir.path())); // never moved aside
  }
  SUBCASE("a parent is a file") {
    write_bytes(h.dir.path() / "file", "x");
    auto options = h.options();
    options.path = h.dir.path() / "file" / "sub" / "cache.sqlite";
    auto cache = SqliteCache::open(options, h.clock);
    REQUIRE_FALSE(cache.has_value());
    CHECK(cache.error().message.find("cannot create folder") != std::string::npos);
  }
  SUBCASE("the folder is read-only") {
    if (::geteuid() == 0) {
      MESSAGE("running as root: permissions are not enforced, skipped");
      return;
    }
    fs::permissions(h.dir.path(), fs::perms::owner_read | fs::perms::owner_exec);
    auto cache = SqliteCache::open(h.options(), h.clock);
    REQUIRE_FALSE(cache.has_value());
    CHECK(cache.error().message.starts_with("cache: " + h.db_path().string() + ": open: "));
  }
  CHECK(h.warnings.empty());
}

namespace {

// A cache file this user may not read or write, in a folder it may write: opening it moves it
// aside with a warning and answers from a new file. Returns the number of failed checks (it
// may run in a child process, where doctest's assertions cannot report).
int unreadable_file_is_replaced(const fs::path& dir) {
  const fs::path path = dir / "cache.sqlite";
  write_bytes(path, "SQLite format 3");
  if (::chmod(path.c_str(), 0) != 0) {
    return 100;
  }
  FakeClock clock;
  std::vector<std::string> warnings;
  SqliteCache::Options options;
  options.path = path;
  options.warn = [&](const std::string& w) { warnings.push_back(w); };
  auto cache = SqliteCache::open(options, clock);
  int failures = 0;
  failures += cache.has_value() ? 0 : 1;
  failures += warnings.size() == 1 ? 0 : 1;
  failures +=
      !warnings.empty() && warnings[0].find("cannot be read and written") != std::string::npos ? 0
                                                                                               : 1;
  failures += corrupt_copies(dir).size() == 1 ? 0 : 1;
  if (cache) {
    failures += (*cache)->put(make_entry("k")).has_value() ? 0 : 1;
    auto got = (*cache)->get("k");
    failures += got && *got ? 0 : 1;
  }
  return failures;
}

} // namespace

TEST_CASE("SqliteCache: a file this user cannot read is moved aside like a corrupt one") {
  if (::geteuid() != 0) {
    Harness h;
    CHECK(unreadable_file_is_replaced(h.dir.path()) == 0);
    return;
  }
  // As root every file is readable: the check runs in a child that became "nobody".
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    if (::setgid(65534) != 0 || ::setuid(65534) != 0) {
      ::_exit(101);
    }
    char pattern[] = "/tmp/sqlite_cache_unreadable.XXXXXX";
    if (::mkdtemp(pattern) == nullptr) {
      ::_exit(102);
    }
    const int failures = unreadable_file_is_replaced(pattern);
    std::error_code ec;
    for (const auto& item : fs::directory_iterator(pattern, ec)) {
      ::chmod(item.path().c_str(), 0600);
    }
    fs::remove_all(pattern, ec);
    ::_exit(failures);
  }
  int status = 0;
  REQUIRE(::waitpid(pid, &status, 0) == pid);
  REQUIRE(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
}

TEST_CASE("SqliteCache: two caches on one file see each other's writes") {
  Harness h;
  auto a = h.open();
  auto b = h.open();
  put_ok(*a, make_entry("k1", "fast-9b", "from a"));
  CHECK(get_ok(*b, "k1")->answer == "from a");
  put_ok(*b, make_entry("k2", "fast-9b", "from b"));
  CHECK(get_ok(*a, "k2")->answer == "from b");
  put_ok(*a, make_entry("k1", "fast-9b", "from a again"));
  CHECK(get_ok(*b, "k1")->answer == "from a again");
  CHECK(b->stats()->entries == 2);
  CHECK(*b->clear() == 2);
  CHECK_FALSE(get_ok(*a, "k2").has_value());
  put_ok(*a, make_entry("k3"));
  CHECK(get_ok(*b, "k3").has_value());
  CHECK(h.warnings.empty());
}

namespace {

constexpr int k_children = 20;
constexpr int k_rounds = 50;

// One child's work: its own cache on the shared file, k_rounds put+get of its own keys and
// of one key every child writes. Returns the number of failures.
int child_work(const fs::path& path, int child) {
  ask::core::SystemClock clock;
  SqliteCache::Options options;
  options.path = path;
  // The race, not the bound, is under test here; sanitizer builds on a loaded CI machine
  // are several times slower.
  options.busy_timeout_ms = 30000;
  options.warn = [](const std::string& line) { std::fprintf(stderr, "warn: %s\n", line.c_str()); };
  auto cache = SqliteCache::open(options, clock);
  if (!cache) {
    std::fprintf(stderr, "child %d: %s\n", child, cache.error().message.c_str());
    return 1;
  }
  int errors = 0;
  for (int i = 0; i < k_rounds; ++i) {
    const std::string key = "c" + std::to_string(child) + "-" + std::to_string(i);
    for (const std::string& k : {key, std::string("shared")}) {
      auto put = (*cache)->put(make_entry(k, "fast-9b", "answer " + key));
      auto got = (*cache)->get(k);
      if (!put || !got || !got->has_value() || (k == key && (*got)->answer != "answer " + key)) {
        ++errors;
        std::fprintf(stderr, "child %d round %d: %s\n", child, i,
                     !put   ? put.error().message.c_str()
                     : !got ? got.error().message.c_str()
                            : "missing or wrong entry");
      }
    }
  }
  return errors;
}

} // namespace

TEST_CASE("SqliteCache: 20 processes at once on one new file never see an error") {
  TempDir dir;
  const fs::path path = dir.path() / "new" / "cache.sqlite";
  int gate[2];
  REQUIRE(::pipe(gate) == 0);
  std::vector<pid_t> children;
  for (int c = 0; c < k_children; ++c) {
    const pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
      ::close(gate[1]);
      char byte = 0;
      (void)!::read(gate[0], &byte, 1); // returns at EOF: when the parent closes the gate
      std::_Exit(std::min(child_work(path, c), 255));
    }
    children.push_back(pid);
  }
  ::close(gate[0]);
  ::close(gate[1]); // all children start now
  int errors = 0;
  for (const pid_t pid : children) {
    int status = 0;
    REQUIRE(::waitpid(pid, &status, 0) == pid);
    errors += WIFEXITED(status) ? WEXITSTATUS(status) : 1000;
  }
  CHECK(errors == 0);

  FakeClock clock;
  SqliteCache::Options options;
  options.path = path;
  auto cache = SqliteCache::open(options, clock);
  REQUIRE(cache.has_value());
  const auto stats = (*cache)->stats();
  REQUIRE(stats.has_value());
  CHECK(stats->entries == k_children * k_rounds + 1);
}

TEST_CASE("SqliteCache: threads with a cache each share one file") {
  TempDir dir;
  const fs::path path = dir.path() / "cache.sqlite";
  std::vector<int> errors(8, 0);
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] { errors[t] = child_work(path, t); });
  }
  for (auto& thread : threads) {
    thread.join();
  }
  for (int t = 0; t < 8; ++t) {
    CHECK(errors[t] == 0);
  }
}

namespace {

// How another process can hold the cache file locked.
enum class LockHow {
  rollback_exclusive, // the file in rollback-journal mode, BEGIN EXCLUSIVE: no one may read
  wal_write,          // a write transaction open in WAL mode: readers go on, writers wait
  exclusive_mode,     // PRAGMA locking_mode=EXCLUSIVE in WAL mode: no one may even open it
  new_file,           // a new file (no schema yet), in rollback mode, BEGIN EXCLUSIVE
};

// A forked child that holds `path` locked the way `how` says from lock() until release() (or
// the end of the scope). It is forked in the constructor, before the parent opens anything,
// because SQLite connections must not cross a fork.
class LockingChild {
public:
  LockingChild(const fs::path& path, LockHow how) {
    REQUIRE(::pipe(m_ready) == 0);
    REQUIRE(::pipe(m_go) == 0);
    REQUIRE(::pipe(m_release) == 0);
    m_pid = ::fork();
    REQUIRE(m_pid >= 0);
    if (m_pid == 0) {
      ::close(m_ready[0]);
      ::close(m_go[1]);
      ::close(m_release[1]);
      char byte = 0;
      if (::read(m_go[0], &byte, 1) != 1) {
        std::_Exit(0); // never asked to lock
      }
      std::_Exit(hold(path, how, m_ready[1], m_release[0]));
    }
    ::close(m_ready[1]);
    ::close(m_go[0]);
    ::close(m_release[0]);
  }
  ~LockingChild() { release(); }
  LockingChild(const LockingChild&) = delete;
  LockingChild& operator=(const LockingChild&) = delete;

  // Returns once the child holds the lock.
  void lock() {
    REQUIRE(::write(m_go[1], "x", 1) == 1);
    char byte = 0;
    const bool locked = ::read(m_ready[0], &byte, 1) == 1;
    REQUIRE_MESSAGE(locked, "the locking child failed before taking the lock");
  }

  // Lets the child commit and exit, and waits for it.
  void release() {
    if (m_pid <= 0) {
      return;
    }
    ::close(m_go[1]);
    ::close(m_release[1]);
    ::close(m_ready[0]);
    int status = 0;
    REQUIRE(::waitpid(m_pid, &status, 0) == m_pid);
    m_pid = 0;
    CHECK(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 0);
  }

private:
  static int hold(const fs::path& path, LockHow how, int ready_fd, int release_fd) {
    try {
      SQLite::Database db(path.string(), SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE, 5000);
      switch (how) {
      case LockHow::rollback_exclusive:
        db.exec("PRAGMA journal_mode = DELETE");
        db.exec("BEGIN EXCLUSIVE");
        db.exec("DELETE FROM entries WHERE key = 'none'");
        break;
      case LockHow::wal_write:
        db.exec("BEGIN IMMEDIATE");
        db.exec("DELETE FROM entries WHERE key = 'none'");
        break;
      case LockHow::exclusive_mode:
        db.exec("PRAGMA locking_mode = EXCLUSIVE");
        db.exec("BEGIN EXCLUSIVE");
        db.exec("COMMIT"); // the exclusive lock stays until the connection closes
        break;
      case LockHow::new_file:
        db.exec("BEGIN EXCLUSIVE");
        db.exec("CREATE TABLE unrelated(x)");
        break;
      }
      (void)!::write(ready_fd, "x", 1);
      char byte = 0;
      (void)!::read(release_fd, &byte, 1); // returns at EOF, when the parent releases
      if (db.getHandle() != nullptr && sqlite3_get_autocommit(db.getHandle()) == 0) {
        db.exec("COMMIT");
      }
      return 0;
    } catch (const std::exception& e) {
      std::fprintf(stderr, "locking child: %s\n", e.what());
      return 1;
    }
  }

  pid_t m_pid = 0;
  int m_ready[2] = {-1, -1};
  int m_go[2] = {-1, -1};
  int m_release[2] = {-1, -1};
};

constexpr int k_lock_bound_ms = 300;
// Below the bound: timer granularity. Above it: a loaded CI machine under a sanitizer.
constexpr auto k_early_slack = 20ms;
constexpr auto k_late_slack = 2500ms;

// Runs `fn` (returning a core::Result) and checks that it failed as "locked" after waiting
// about k_lock_bound_ms.
template <class F> void check_locked_within_bound(const fs::path& path, F&& fn) {
  const auto t0 = std::chrono::steady_clock::now();
  auto result = fn();
  const auto waited = std::chrono::steady_clock::now() - t0;
  REQUIRE_FALSE(result.has_value());
  const ask::core::Error& error = result.error();
  CHECK(error.kind == ask::core::ErrorKind::overloaded);
  CHECK(SqliteCache::is_locked(error));
  CHECK_MESSAGE(error.message.find(path.string()) != std::string::npos, error.message);
  CHECK_MESSAGE(error.message.find("locked by another process") != std::string::npos,
                error.message);
  CHECK(waited >= std::chrono::milliseconds(k_lock_bound_ms) - k_early_slack);
  CHECK(waited <= std::chrono::milliseconds(k_lock_bound_ms) + k_late_slack);
}

// A cache file with one entry, "k1", and no connection left open.
void make_cache_with_k1(Harness& h) {
  auto cache = h.open();
  put_ok(*cache, make_entry("k1", "fast-9b", "cached"));
}

SqliteCache::Options bounded(Harness& h) {
  SqliteCache::Options o = h.options();
  o.busy_timeout_ms = k_lock_bound_ms;
  return o;
}

} // namespace

TEST_CASE("SqliteCache: a lock held by another process bounds open, get and put") {
  for (const LockHow how : {LockHow::rollback_exclusive, LockHow::exclusive_mode}) {
    CAPTURE(static_cast<int>(how));
    Harness h;
    make_cache_with_k1(h);
    {
      LockingChild child(h.db_path(), how);
      child.lock();
      check_locked_within_bound(h.db_path(),
                                [&] { return SqliteCache::open(bounded(h), h.clock); });
    }
    // Opened while nobody held it, then locked: get and put are bounded too. (An open WAL
    // connection keeps exclusive_mode from being taken at all, so only rollback_exclusive
    // can get there.)
    if (how != LockHow::rollback_exclusive) {
      continue;
    }
    LockingChild child(h.db_path(), how);
    auto opened = SqliteCache::open(bounded(h), h.clock);
    REQUIRE_MESSAGE(opened.has_value(), opened.error().message);
    SqliteCache& cache = **opened;
    child.lock();
    check_locked_within_bound(h.db_path(), [&] { return cache.get("k1"); });
    check_locked_within_bound(h.db_path(), [&] { return cache.put(make_entry("k2")); });
    check_locked_within_bound(h.db_path(), [&] { return cache.stats(); });
    child.release();
    CHECK(get_ok(cache, "k1")->answer == "cached");
    put_ok(cache, make_entry("k2", "fast-9b", "after the lock"));
    CHECK(get_ok(cache, "k2")->answer == "after the lock");
    CHECK(h.warnings.empty());
  }
}

TEST_CASE("SqliteCache: another process's WAL write transaction bounds put - get goes on") {
  Harness h;
  make_cache_with_k1(h);
  LockingChild child(h.db_path(), LockHow::wal_write);
  child.lock();
  auto opened = SqliteCache::open(bounded(h), h.clock);
  REQUIRE_MESSAGE(opened.has_value(), opened.error().message);
  SqliteCache& cache = **opened;
  const auto t0 = std::chrono::steady_clock::now();
  CHECK(get_ok(cache, "k1")->answer == "cached"); // readers never wait in WAL mode
  CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::milliseconds(k_lock_bound_ms));
  check_locked_within_bound(h.db_path(), [&] { return cache.put(make_entry("k2")); });
  check_locked_within_bound(h.db_path(), [&] { return cache.clear(); });
  child.release();
  put_ok(cache, make_entry("k2", "fast-9b", "after the lock"));
  CHECK(get_ok(cache, "k2")->answer == "after the lock");
}

TEST_CASE("SqliteCache: a new file locked by its creator bounds open - it works once released") {
  // The other process holds the file before any schema exists: open's user_version read, the
  // WAL switch and the schema all share the one deadline.
  Harness h;
  LockingChild child(h.db_path(), LockHow::new_file);
  child.lock();
  check_locked_within_bound(h.db_path(), [&] { return SqliteCache::open(bounded(h), h.clock); });
  child.release();
  auto cache = h.open();
  put_ok(*cache, make_entry("k1"));
  CHECK(get_ok(*cache, "k1").has_value());
  CHECK(h.warnings.empty());
}

TEST_CASE("SqliteCache: busy_timeout_ms 0 does not wait at all") {
  Harness h;
  make_cache_with_k1(h);
  LockingChild child(h.db_path(), LockHow::exclusive_mode);
  child.lock();
  SqliteCache::Options o = h.options();
  o.busy_timeout_ms = 0;
  const auto t0 = std::chrono::steady_clock::now();
  auto opened = SqliteCache::open(o, h.clock);
  CHECK(std::chrono::steady_clock::now() - t0 < k_late_slack);
  REQUIRE_FALSE(opened.has_value());
  CHECK(SqliteCache::is_locked(opened.error()));
}
