#include "cache/sqlite_cache.h"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <exception>
#include <stdexcept>
#include <thread>
#include <type_traits>
#include <utility>

#include <SQLiteCpp/Database.h>
#include <SQLiteCpp/Exception.h>
#include <SQLiteCpp/Statement.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cache/sqlite_file.h"

namespace ask::cache {

namespace fs = std::filesystem;

namespace {

constexpr int k_schema_version = 1;
// What "expires" holds for an entry that never expires (ttl forever).
constexpr double k_expires_never = 1e18;
// WAL length (pages) past which a commit checkpoints and truncates the WAL.
constexpr int k_checkpoint_frames = 16;
// Longest pause between two attempts to take a lock another process holds. Short, because
// SQLite's locks are not queued: whoever tries first after a release wins, and a waiter
// that sleeps 50 ms (as sqlite3_busy_timeout's does, up to 100 ms) loses to busier
// processes again and again. With 20 processes writing at once on 2 cores, a 50 ms pause
// let single waits reach 9 s; with 8 ms every call finished within 3 s.
constexpr int k_max_backoff_ms = 8;

using SteadyClock = std::chrono::steady_clock;

// The pause before the attempt after `attempt` (0-based): 1 ms doubling to k_max_backoff_ms.
std::chrono::milliseconds sqlite_cache_backoff(int attempt) {
  return std::chrono::milliseconds(std::min(1 << std::min(attempt, 3), k_max_backoff_ms));
}

// One transaction, so that a process seeing user_version 1 sees the whole schema.
constexpr const char* k_schema_sql = R"sql(
BEGIN IMMEDIATE;
CREATE TABLE IF NOT EXISTS entries(
  key TEXT PRIMARY KEY,
  model TEXT NOT NULL,
  served_by TEXT NOT NULL,
  answer TEXT NOT NULL,
  response TEXT NOT NULL,
  prompt_chars INTEGER NOT NULL,
  created REAL NOT NULL,
  expires REAL NOT NULL);
CREATE INDEX IF NOT EXISTS entries_expires ON entries(expires);
PRAGMA user_version = 1;
COMMIT;
)sql";

constexpr const char* k_select_sql =
    "SELECT model, served_by, answer, response, prompt_chars, created, expires "
    "FROM entries WHERE key = ?1 AND expires > ?2";
constexpr const char* k_put_sql =
    "INSERT OR REPLACE INTO entries(key, model, served_by, answer, response, prompt_chars, "
    "created, expires) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)";
constexpr const char* k_totals_sql =
    "SELECT COUNT(*), COALESCE(SUM(expires <= ?1), 0), "
    "COALESCE(MIN(created), 0), COALESCE(MAX(created), 0) FROM entries";
constexpr const char* k_by_model_sql = "SELECT model, COUNT(*) FROM entries GROUP BY model "
                                       "ORDER BY COUNT(*) DESC, model ASC";

// Resets a statement when leaving a scope, so no read transaction stays open between calls.
class ResetOnExit {
public:
  explicit ResetOnExit(SQLite::Statement& statement) : m_statement(statement) {}
  ~ResetOnExit() { (void)m_statement.tryReset(); }
  ResetOnExit(const ResetOnExit&) = delete;
  ResetOnExit& operator=(const ResetOnExit&) = delete;

private:
  SQLite::Statement& m_statement;
};

long long file_size_or_zero(const fs::path& path) {
  std::error_code ec;
  const auto size = fs::file_size(path, ec);
  return ec ? 0 : static_cast<long long>(size);
}

} // namespace

struct SqliteCache::Impl {
  Options options;
  const core::Clock& clock;
  // Declared before the statements, so it is closed after they are finalized.
  std::unique_ptr<SQLite::Database> db;
  std::unique_ptr<SQLite::Statement> select;
  std::unique_ptr<SQLite::Statement> insert;
  // The file's identity when opened: recovery moves it aside only if the path still names it
  // (another process may already have moved it and started a new cache).
  dev_t device = 0;
  ino_t inode = 0;
  // Frames in the WAL after our last commit (sqlite3_wal_hook).
  int wal_frames = 0;
  // When the current operation stops waiting for locks (begin()). Real time, not the
  // injected Clock: the wait is for another process, and SQLite sleeps in real time.
  SteadyClock::time_point deadline{};

  Impl(Options o, const core::Clock& c) : options(std::move(o)), clock(c) {}

  double now() const { return core::unix_seconds(clock.wall_now()); }
  core::Error error(std::string_view what) const {
    return core::Error::internal("cache: " + options.path.string() + ": " + std::string(what));
  }
  void warn(const std::string& line) const {
    if (options.warn) {
      options.warn(line);
    }
  }

  void begin();
  bool past_deadline() const { return SteadyClock::now() >= deadline; }
  void wait_a_little(int attempt) const;
  core::Error locked_error(const SQLite::Exception& e) const;
  static int on_busy(void* self, int attempt);
  void install_busy_handler();
  template <class F> auto retry_while_busy(F&& fn) -> std::invoke_result_t<F&>;

  void close();
  int connect();
  int connect_with_retry();
  void ensure_open();
  void create_schema();
  void move_aside(const std::string& problem);
  void start_over(const std::string& problem);
  std::optional<std::string> unreadable_file();
  core::Result<void> open();
  SQLite::Statement& prepared(std::unique_ptr<SQLite::Statement>& slot, const char* sql);

  std::optional<Entry> get(std::string_view key);
  void put(const Entry& entry);
  Stats stats();
  long long remove(const char* sql, bool compact_always);
  void compact();
  void checkpoint_if_due();
  static int on_wal_commit(void* self, sqlite3* handle, const char* db_name, int frames);

  template <class F>
  auto run(std::string_view op, F&& fn, bool retry_after_recovery)
      -> core::Result<std::invoke_result_t<F&>>;
};

// Starts one public operation: its lock waits, all together, end busy_timeout_ms from now.
void SqliteCache::Impl::begin() {
  deadline = SteadyClock::now() + std::chrono::milliseconds(std::max(options.busy_timeout_ms, 0));
}

// Sleeps the backoff for `attempt`, but never past the deadline.
void SqliteCache::Impl::wait_a_little(int attempt) const {
  const auto left = deadline - SteadyClock::now();
  if (left > SteadyClock::duration::zero()) {
    std::this_thread::sleep_for(
        std::min<SteadyClock::duration>(sqlite_cache_backoff(attempt), left));
  }
}

core::Error SqliteCache::Impl::locked_error(const SQLite::Exception& e) const {
  return core::Error::overloaded(
      "cache: " + options.path.string() + ": locked by another process; gave up after " +
      std::to_string(std::max(options.busy_timeout_ms, 0)) + " ms (" + e.what() + ")");
}

// SQLite's busy handler: called while another connection holds a lock this one needs; waits
// (returns 1) until the operation's deadline, then lets the statement fail with SQLITE_BUSY.
// Unlike sqlite3_busy_timeout, which allows its whole timeout to every statement, so that an
// operation of several statements (open: user_version, then the schema) and the retries
// around them would wait many times over.
int SqliteCache::Impl::on_busy(void* self, int attempt) {
  const auto* impl = static_cast<const Impl*>(self);
  if (impl->past_deadline()) {
    return 0;
  }
  impl->wait_a_little(attempt);
  return 1;
}

void SqliteCache::Impl::install_busy_handler() {
  (void)sqlite3_busy_handler(db->getHandle(), &Impl::on_busy, this);
}

// Runs fn again while it fails with SQLITE_BUSY and the deadline has not passed: some busy
// answers never reach the busy handler (a database another process is creating, a WAL being
// recovered). Every failure but busy, and busy past the deadline, is thrown.
template <class F> auto SqliteCache::Impl::retry_while_busy(F&& fn) -> std::invoke_result_t<F&> {
  for (int attempt = 0;; ++attempt) {
    try {
      return fn();
    } catch (const SQLite::Exception& e) {
      if (!sqlite_is_busy(e) || past_deadline()) {
        throw;
      }
    }
    wait_a_little(attempt);
  }
}

void SqliteCache::Impl::close() {
  select.reset();
  insert.reset();
  db.reset();
}

// Replaces SQLite's auto-checkpoint hook: records the WAL's length for checkpoint_if_due().
int SqliteCache::Impl::on_wal_commit(void* self, sqlite3*, const char*, int frames) {
  static_cast<Impl*>(self)->wal_frames = frames;
  return SQLITE_OK;
}

// Connections close without checkpointing (NO_CKPT_ON_CLOSE): a checkpoint on close costs two
// fsyncs and deletes the WAL, so every short-lived ask process would pay for them and for
// recreating the WAL. Instead the writer that takes the WAL past k_checkpoint_frames copies
// it into the database and truncates it, never waiting: with another process reading or
// writing at that moment it does what it can and a later commit tries again. The bound keeps
// the WAL that each first opener must scan (SQLite's WAL recovery) short.
void SqliteCache::Impl::checkpoint_if_due() {
  if (wal_frames < k_checkpoint_frames) {
    return;
  }
  sqlite3* handle = db->getHandle();
  (void)sqlite3_busy_handler(handle, nullptr, nullptr);
  (void)sqlite3_wal_checkpoint_v2(handle, nullptr, SQLITE_CHECKPOINT_TRUNCATE, nullptr, nullptr);
  install_busy_handler();
  wal_frames = 0;
}

// Opens the file and makes sure the schema exists; returns the file's schema version (a
// version above k_schema_version is left untouched for the caller). Throws on failure.
int SqliteCache::Impl::connect() {
  close();
  try {
    db = open_sqlite_file(options.path, device, inode);
    install_busy_handler();
    (void)sqlite3_wal_hook(db->getHandle(), &Impl::on_wal_commit, this);
    db->exec("PRAGMA synchronous = NORMAL");
    const int version = db->execAndGet("PRAGMA user_version").getInt();
    if (version != 0) {
      return version;
    }
    create_schema();
    return k_schema_version;
  } catch (...) {
    close();
    throw;
  }
}

// The first process to open a new file switches it to WAL (persistent in the file) and
// creates the table; others racing with it may get SQLITE_BUSY outside the busy handler's
// reach, so connect() is retried with backoff until the operation's deadline.
int SqliteCache::Impl::connect_with_retry() {
  return retry_while_busy([this] { return connect(); });
}

void SqliteCache::Impl::create_schema() {
  db->exec("PRAGMA journal_mode = WAL");
  db->exec(k_schema_sql);
}

void SqliteCache::Impl::ensure_open() {
  if (db) {
    return;
  }
  if (const int version = connect_with_retry(); version > k_schema_version) {
    close();
    throw std::runtime_error("schema version " + std::to_string(version) +
                             " is newer than this ask understands");
  }
}

// Renames the file to "<path>.corrupt-<unix seconds>" (its -wal beside it, its -shm removed)
// and warns, unless another process has already replaced it.
void SqliteCache::Impl::move_aside(const std::string& problem) {
  close();
  const fs::path& path = options.path;
  const auto target = move_sqlite_file_aside(path, device, inode, static_cast<long long>(now()));
  if (!target) {
    return; // gone or already replaced by a new cache
  }
  warn("cache: " + path.string() + " " + problem + "; moved it to " + target->string() +
       " and started a new cache");
}

void SqliteCache::Impl::start_over(const std::string& problem) {
  move_aside(problem);
  ensure_open();
}

// Why a cache file that exists cannot be opened by this user although its folder would take a
// new one (mode 000 after an editor, a file left by another user's sudo); nullopt otherwise.
// Sets device/inode to the file's, so that move_aside() recognises it.
std::optional<std::string> SqliteCache::Impl::unreadable_file() {
  const fs::path& path = options.path;
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode) ||
      ::access(path.c_str(), R_OK | W_OK) == 0) {
    return std::nullopt;
  }
  const int err = errno;
  const fs::path parent = path.has_parent_path() ? path.parent_path() : fs::path(".");
  if (::access(parent.c_str(), W_OK | X_OK) != 0) {
    return std::nullopt;
  }
  device = st.st_dev;
  inode = st.st_ino;
  return std::string("cannot be read and written by this user (") + std::strerror(err) + ")";
}

core::Result<void> SqliteCache::Impl::open() {
  if (const std::string problem = make_private_folders(options.path); !problem.empty()) {
    return core::fail(error(problem));
  }
  begin();
  try {
    std::string problem;
    try {
      const int version = connect_with_retry();
      if (version <= k_schema_version) {
        return {};
      }
      problem = "has schema version " + std::to_string(version) +
                ", newer than this ask understands (" + std::to_string(k_schema_version) + ")";
    } catch (const std::exception& e) {
      const auto* sqlite_error = dynamic_cast<const SQLite::Exception*>(&e);
      if (sqlite_error != nullptr && sqlite_is_busy(*sqlite_error)) {
        throw;
      }
      if (sqlite_error != nullptr && sqlite_is_corrupt(*sqlite_error)) {
        problem = sqlite_not_usable(*sqlite_error);
      } else if (auto why = unreadable_file()) {
        problem = *why;
      } else {
        throw;
      }
    }
    start_over(problem);
    return {};
  } catch (const SQLite::Exception& e) {
    if (sqlite_is_busy(e)) {
      return core::fail(locked_error(e));
    }
    return core::fail(error(std::string("open: ") + e.what()));
  } catch (const std::exception& e) {
    return core::fail(error(std::string("open: ") + e.what()));
  }
}

SQLite::Statement& SqliteCache::Impl::prepared(std::unique_ptr<SQLite::Statement>& slot,
                                               const char* sql) {
  ensure_open();
  if (!slot) {
    slot = std::make_unique<SQLite::Statement>(*db, sql);
  }
  return *slot;
}

// Runs fn, all its waits for locks within one deadline (begin()); while busy before the
// deadline runs it again; on corruption moves the file aside, starts over and runs fn again
// (or, without retry_after_recovery, answers a default T: nullopt for get). Busy past the
// deadline is locked_error(); nothing throws past here.
template <class F>
auto SqliteCache::Impl::run(std::string_view op, F&& fn, bool retry_after_recovery)
    -> core::Result<std::invoke_result_t<F&>> {
  using T = std::invoke_result_t<F&>;
  auto attempt = [&]() -> core::Result<T> {
    if constexpr (std::is_void_v<T>) {
      retry_while_busy(fn);
      return {};
    } else {
      return retry_while_busy(fn);
    }
  };
  begin();
  try {
    try {
      return attempt();
    } catch (const SQLite::Exception& e) {
      if (!sqlite_is_corrupt(e)) {
        throw;
      }
      start_over(sqlite_not_usable(e));
    }
    if (retry_after_recovery) {
      return attempt();
    }
    return core::Result<T>{};
  } catch (const SQLite::Exception& e) {
    if (sqlite_is_busy(e)) {
      return core::fail(locked_error(e));
    }
    return core::fail(error(std::string(op) + ": " + e.what()));
  } catch (const std::exception& e) {
    return core::fail(error(std::string(op) + ": " + e.what()));
  }
}

std::optional<Entry> SqliteCache::Impl::get(std::string_view key) {
  const double now_s = now();
  SQLite::Statement& query = prepared(select, k_select_sql);
  std::optional<Entry> found;
  {
    ResetOnExit reset(query);
    query.bind(1, std::string(key));
    query.bind(2, now_s);
    if (!query.executeStep()) {
      return std::nullopt;
    }
    Entry e;
    e.key = std::string(key);
    e.model = query.getColumn(0).getString();
    e.served_by = query.getColumn(1).getString();
    e.answer = query.getColumn(2).getString();
    e.response = query.getColumn(3).getString();
    e.prompt_chars = query.getColumn(4).getInt();
    e.created = query.getColumn(5).getDouble();
    e.expires = query.getColumn(6).getDouble();
    found = std::move(e);
  }
  return found;
}

void SqliteCache::Impl::put(const Entry& entry) {
  const double now_s = now();
  const auto ttl = options.ttl.finite();
  const double expires =
      ttl ? now_s + std::chrono::duration<double>(*ttl).count() : k_expires_never;
  SQLite::Statement& statement = prepared(insert, k_put_sql);
  ResetOnExit reset(statement);
  statement.bind(1, entry.key);
  statement.bind(2, entry.model);
  statement.bind(3, entry.served_by);
  statement.bind(4, entry.answer);
  statement.bind(5, entry.response);
  statement.bind(6, entry.prompt_chars);
  statement.bind(7, now_s);
  statement.bind(8, expires);
  statement.exec();
  checkpoint_if_due();
}

Stats SqliteCache::Impl::stats() {
  ensure_open();
  Stats s;
  s.path = options.path;
  {
    SQLite::Statement totals(*db, k_totals_sql);
    totals.bind(1, now());
    if (totals.executeStep()) {
      s.entries = totals.getColumn(0).getInt64();
      s.expired = totals.getColumn(1).getInt64();
      s.oldest = totals.getColumn(2).getDouble();
      s.newest = totals.getColumn(3).getDouble();
    }
  }
  SQLite::Statement by_model(*db, k_by_model_sql);
  while (by_model.executeStep()) {
    s.by_model.push_back(
        ModelStats{by_model.getColumn(0).getString(), by_model.getColumn(1).getInt64()});
  }
  s.file_bytes =
      file_size_or_zero(options.path) + file_size_or_zero(path_with_suffix(options.path, "-wal"));
  return s;
}

// Runs a DELETE (binding now as ?1 when it has a parameter) and compacts the file when it
// removed anything, or always with compact_always; returns the rows deleted.
long long SqliteCache::Impl::remove(const char* sql, bool compact_always) {
  ensure_open();
  long long removed = 0;
  {
    SQLite::Statement statement(*db, sql);
    if (statement.getBindParameterCount() > 0) {
      statement.bind(1, now());
    }
    removed = statement.exec();
  }
  if (removed > 0 || compact_always) {
    compact();
  }
  return removed;
}

// VACUUM writes the compacted database through the WAL; the TRUNCATE checkpoint then copies
// it into the file and empties the WAL. Both are best effort: another process reading or
// writing at that moment (busy) is not an error, anything else is a warning.
void SqliteCache::Impl::compact() {
  for (const char* sql : {"VACUUM", "PRAGMA wal_checkpoint(TRUNCATE)"}) {
    const int rc = db->tryExec(sql);
    if (rc != SQLITE_OK && !sqlite_is_busy_code(rc)) {
      warn("cache: " + options.path.string() + ": could not compact (" + sql +
           "): " + db->getErrorMsg());
    }
  }
}

// SqliteCache

SqliteCache::SqliteCache(std::unique_ptr<Impl> impl) : m_impl(std::move(impl)) {}

SqliteCache::~SqliteCache() = default;

core::Result<std::unique_ptr<SqliteCache>> SqliteCache::open(Options options,
                                                             const core::Clock& clock) {
  try {
    auto impl = std::make_unique<Impl>(std::move(options), clock);
    if (auto opened = impl->open(); !opened) {
      return core::fail(opened.error());
    }
    return std::unique_ptr<SqliteCache>(new SqliteCache(std::move(impl)));
  } catch (const std::exception& e) {
    return core::fail(core::Error::internal(std::string("cache: open: ") + e.what()));
  }
}

core::Result<std::optional<Entry>> SqliteCache::get(std::string_view key) {
  return m_impl->run(
      "get", [&] { return m_impl->get(key); }, /*retry_after_recovery=*/false);
}

core::Result<void> SqliteCache::put(const Entry& entry) {
  return m_impl->run(
      "put", [&] { m_impl->put(entry); }, /*retry_after_recovery=*/true);
}

core::Result<Stats> SqliteCache::stats() {
  return m_impl->run(
      "stats", [&] { return m_impl->stats(); }, true);
}

core::Result<long long> SqliteCache::prune() {
  return m_impl->run(
      "prune", [&] { return m_impl->remove("DELETE FROM entries WHERE expires <= ?1", false); },
      true);
}

core::Result<long long> SqliteCache::clear() {
  return m_impl->run(
      "clear", [&] { return m_impl->remove("DELETE FROM entries", true); }, true);
}

const std::filesystem::path& SqliteCache::path() const {
  return m_impl->options.path;
}

} // namespace ask::cache
