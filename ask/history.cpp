#include "ask/history.h"

#include <fcntl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <exception>
#include <ranges>
#include <stdexcept>
#include <thread>
#include <type_traits>
#include <utility>

#include <SQLiteCpp/Database.h>
#include <SQLiteCpp/Exception.h>
#include <SQLiteCpp/Statement.h>
#include <sqlite3.h>

#include "cache/sqlite_file.h"

namespace ask::history {

namespace fs = std::filesystem;
using Json = nlohmann::json;
using SteadyClock = std::chrono::steady_clock;

namespace {

constexpr int k_history_schema_version = 1;
// WAL length (pages) past which a commit checkpoints and truncates the WAL (see
// checkpoint_if_due).
constexpr int k_history_checkpoint_frames = 64;
constexpr std::size_t k_max_cid_length = 64;

// One transaction, so that a process seeing user_version 1 sees the whole schema.
// The FTS5 index is an external-content table: it stores only the index, the text lives once
// in `exchanges`, and the triggers keep the two in step for any insert, delete (someone
// pruning with the sqlite3 shell) or update. A contentless-delete table would do the same
// without triggers but needs SQLite 3.43; Debian 12 has 3.40.
constexpr const char* k_history_schema_sql = R"sql(
BEGIN IMMEDIATE;
CREATE TABLE IF NOT EXISTS exchanges(
  id INTEGER PRIMARY KEY,
  cid TEXT NOT NULL,
  ts REAL NOT NULL,
  model TEXT NOT NULL,
  served_by TEXT NOT NULL,
  system TEXT,
  prompt TEXT NOT NULL,
  answer TEXT NOT NULL,
  attachments TEXT NOT NULL DEFAULT '[]',
  tokens_in INTEGER,
  tokens_out INTEGER,
  finish_reason TEXT);
CREATE INDEX IF NOT EXISTS exchanges_cid ON exchanges(cid, id);
CREATE VIRTUAL TABLE IF NOT EXISTS exchanges_fts USING fts5(
  prompt, answer, content='exchanges', content_rowid='id',
  tokenize='unicode61 remove_diacritics 2');
CREATE TRIGGER IF NOT EXISTS exchanges_fts_insert AFTER INSERT ON exchanges BEGIN
  INSERT INTO exchanges_fts(rowid, prompt, answer) VALUES (new.id, new.prompt, new.answer);
END;
CREATE TRIGGER IF NOT EXISTS exchanges_fts_delete AFTER DELETE ON exchanges BEGIN
  INSERT INTO exchanges_fts(exchanges_fts, rowid, prompt, answer)
    VALUES ('delete', old.id, old.prompt, old.answer);
END;
CREATE TRIGGER IF NOT EXISTS exchanges_fts_update AFTER UPDATE ON exchanges BEGIN
  INSERT INTO exchanges_fts(exchanges_fts, rowid, prompt, answer)
    VALUES ('delete', old.id, old.prompt, old.answer);
  INSERT INTO exchanges_fts(rowid, prompt, answer) VALUES (new.id, new.prompt, new.answer);
END;
PRAGMA user_version = 1;
COMMIT;
)sql";

// The columns history_read_row() reads, in its order.
constexpr std::string_view k_history_select =
    "SELECT e.id, e.cid, e.ts, e.model, e.served_by, e.system, e.prompt, e.answer, "
    "e.attachments, e.tokens_in, e.tokens_out, e.finish_reason FROM exchanges AS e";

constexpr const char* k_history_insert_sql =
    "INSERT INTO exchanges(cid, ts, model, served_by, system, prompt, answer, attachments, "
    "tokens_in, tokens_out, finish_reason) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)";
constexpr const char* k_history_last_cid_sql = "SELECT cid FROM exchanges ORDER BY id DESC LIMIT 1";

constexpr std::string_view k_crockford = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

// A file written by a newer ask: reported, never moved aside (it is the user's history).
class HistoryNewerSchema : public std::runtime_error {
public:
  using std::runtime_error::runtime_error;
};

std::vector<std::string> history_parse_labels(const std::string& text) {
  std::vector<std::string> labels;
  const Json j = Json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!j.is_array()) {
    return labels; // edited by hand or damaged: the exchange is still worth showing
  }
  for (const Json& item : j) {
    if (item.is_string()) {
      labels.push_back(item.get<std::string>());
    }
  }
  return labels;
}

template <class T> std::optional<T> history_optional(const SQLite::Column& column) {
  if (column.isNull()) {
    return std::nullopt;
  }
  if constexpr (std::is_same_v<T, std::string>) {
    return column.getString();
  } else {
    return column.getInt64();
  }
}

// One row selected with k_history_select.
Exchange history_read_row(const SQLite::Statement& row) {
  Exchange e;
  e.id = row.getColumn(0).getInt64();
  e.cid = row.getColumn(1).getString();
  e.ts = row.getColumn(2).getDouble();
  e.model = row.getColumn(3).getString();
  e.served_by = row.getColumn(4).getString();
  e.system = history_optional<std::string>(row.getColumn(5));
  e.prompt = row.getColumn(6).getString();
  e.answer = row.getColumn(7).getString();
  e.attachments = history_parse_labels(row.getColumn(8).getString());
  e.tokens_in = history_optional<long long>(row.getColumn(9));
  e.tokens_out = history_optional<long long>(row.getColumn(10));
  e.finish_reason = history_optional<std::string>(row.getColumn(11));
  return e;
}

template <class T> void history_bind_optional(SQLite::Statement& s, int index, const T& value) {
  if (!value) {
    s.bind(index);
  } else if constexpr (std::is_integral_v<typename T::value_type>) {
    s.bind(index, static_cast<std::int64_t>(*value)); // long long is not one of bind's types
  } else {
    s.bind(index, *value);
  }
}

// 80 bits for a ULID. getrandom(2) cannot fail for 10 bytes once the kernel's pool is ready;
// before that (early boot) or without the call, the bytes come from the time, the pid and a
// counter mixed by splitmix64: still unique per process and millisecond in practice.
std::array<unsigned char, 10> history_random_bytes() {
  std::array<unsigned char, 10> bytes{};
  std::size_t got = 0;
  while (got < bytes.size()) {
    const ssize_t n = ::getrandom(bytes.data() + got, bytes.size() - got, GRND_NONBLOCK);
    if (n > 0) {
      got += static_cast<std::size_t>(n);
    } else if (n < 0 && errno != EINTR) {
      break;
    }
  }
  if (got == bytes.size()) {
    return bytes;
  }
  static std::atomic<std::uint64_t> counter{0};
  std::uint64_t x = static_cast<std::uint64_t>(SteadyClock::now().time_since_epoch().count()) ^
                    (static_cast<std::uint64_t>(::getpid()) << 40) ^ counter.fetch_add(1);
  for (unsigned char& b : bytes) {
    x += 0x9e3779b97f4a7c15ULL;
    std::uint64_t z = x;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    b ^= static_cast<unsigned char>(z ^ (z >> 31));
  }
  return bytes;
}

// White space and the other control characters separate words: FTS5 reads its query up to a
// NUL, so a NUL inside a quoted word would leave the string unterminated.
bool history_is_separator(char c) {
  const auto u = static_cast<unsigned char>(c);
  return u <= 0x20 || u == 0x7f;
}

} // namespace

// Free functions

std::string new_cid(const core::Clock& clock) {
  const auto ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(clock.wall_now().time_since_epoch())
          .count();
  constexpr std::uint64_t k_max_time = (1ULL << 48) - 1;
  const std::uint64_t time = ms < 0 ? 0 : std::min<std::uint64_t>(ms, k_max_time);
  std::string out(26, '0');
  for (int i = 9; i >= 0; --i) { // 10 characters: 50 bits, the top 2 always 0
    out[static_cast<std::size_t>(i)] = k_crockford[(time >> (5 * (9 - i))) & 31];
  }
  const auto random = history_random_bytes();
  // 80 bits, 16 characters of 5 bits, most significant first.
  for (std::size_t i = 0; i < 16; ++i) {
    unsigned value = 0;
    for (std::size_t bit = 0; bit < 5; ++bit) {
      const std::size_t index = (i * 5) + bit;
      const unsigned byte = random[index / 8];
      value = (value << 1) | ((byte >> (7 - (index % 8))) & 1U);
    }
    out[10 + i] = k_crockford[value];
  }
  return out;
}

bool valid_cid(std::string_view cid) {
  if (cid.empty() || cid.size() > k_max_cid_length) {
    return false;
  }
  return std::ranges::all_of(cid, [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == '-';
  });
}

std::string match_expression(std::string_view text) {
  std::string out;
  std::size_t i = 0;
  while (i < text.size()) {
    while (i < text.size() && history_is_separator(text[i])) {
      ++i;
    }
    const std::size_t start = i;
    while (i < text.size() && !history_is_separator(text[i])) {
      ++i;
    }
    std::string_view word = text.substr(start, i - start);
    if (word.empty()) {
      continue;
    }
    bool prefix = false;
    while (word.size() > 1 && word.back() == '*') {
      word.remove_suffix(1);
      prefix = true;
    }
    if (!out.empty()) {
      out += ' ';
    }
    out += '"';
    for (const char c : word) {
      out += c;
      if (c == '"') {
        out += '"';
      }
    }
    out += '"';
    if (prefix) {
      out += '*';
    }
  }
  return out;
}

std::vector<Json> as_messages(const std::vector<Exchange>& exchanges) {
  std::vector<Json> messages;
  if (exchanges.empty()) {
    return messages;
  }
  if (const auto& system = exchanges.front().system; system && !system->empty()) {
    messages.push_back(Json{{"role", "system"}, {"content", *system}});
  }
  for (const Exchange& e : exchanges) {
    std::string user = e.prompt;
    if (!e.attachments.empty()) {
      user += user.empty() ? "[attached: " : "\n\n[attached: ";
      for (std::size_t i = 0; i < e.attachments.size(); ++i) {
        user += (i == 0 ? "" : ", ") + e.attachments[i];
      }
      user += "]";
    }
    messages.push_back(Json{{"role", "user"}, {"content", std::move(user)}});
    messages.push_back(Json{{"role", "assistant"}, {"content", e.answer}});
  }
  return messages;
}

Json to_json(const Exchange& e) {
  auto optional = [](const auto& value) { return value ? Json(*value) : Json(nullptr); };
  return Json{{"id", e.id},
              {"cid", e.cid},
              {"ts", e.ts},
              {"model", e.model},
              {"served_by", e.served_by},
              {"system", optional(e.system)},
              {"prompt", e.prompt},
              {"answer", e.answer},
              {"attachments", e.attachments},
              {"tokens_in", optional(e.tokens_in)},
              {"tokens_out", optional(e.tokens_out)},
              {"finish_reason", optional(e.finish_reason)}};
}

// History::Impl

struct History::Impl {
  Options options;
  const core::Clock& clock;
  std::unique_ptr<SQLite::Database> db;
  // The file's identity when opened: recovery moves it aside only if the path still names it
  // (another process may already have moved it and started a new history).
  dev_t device = 0;
  ino_t inode = 0;
  int wal_frames = 0; // frames in the WAL after our last commit (sqlite3_wal_hook)
  // When the current call stops waiting for other processes' locks. Real time, not the
  // Clock: SQLite sleeps for real, and the bound is the caller's promise to a person.
  SteadyClock::time_point deadline{};

  Impl(Options o, const core::Clock& c) : options(std::move(o)), clock(c) {}

  double now() const { return core::unix_seconds(clock.wall_now()); }
  std::string where() const { return "history: " + options.path.string() + ": "; }
  core::Error error(std::string_view what) const {
    return core::Error::internal(where() + std::string(what));
  }
  core::Error busy_error(std::string_view op) const {
    return core::Error::timeout(where() + std::string(op) + ": another process kept it " +
                                "locked for more than " + std::to_string(options.busy_timeout_ms) +
                                " ms");
  }
  void warn(const std::string& line) const {
    if (options.warn) {
      options.warn(line);
    }
  }
  void start_deadline() {
    deadline = SteadyClock::now() + std::chrono::milliseconds(std::max(0, options.busy_timeout_ms));
  }

  static int on_busy(void* self, int attempts);
  static int on_wal_commit(void* self, sqlite3* handle, const char* db_name, int frames);
  void close() { db.reset(); }
  int connect();
  int connect_with_retry();
  void ensure_open();
  void move_aside(const std::string& problem);
  core::Result<void> open();
  void checkpoint_if_due();

  std::optional<std::string> last_cid();
  std::vector<Exchange> conversation(std::string_view cid);
  std::int64_t append(const Exchange& e);
  std::vector<Exchange> search(const Query& q);

  template <class F>
  auto run(std::string_view op, F&& fn, bool retry_after_recovery)
      -> core::Result<std::invoke_result_t<F&>>;
};

// SQLite's busy handler: waits in short steps until the call's deadline, never past it.
int History::Impl::on_busy(void* self, int attempts) {
  static constexpr std::array<int, 8> k_steps_ms{1, 2, 5, 10, 15, 20, 25, 50};
  const auto* impl = static_cast<const Impl*>(self);
  const auto now = SteadyClock::now();
  if (now >= impl->deadline) {
    return 0;
  }
  const auto step = std::chrono::milliseconds(
      k_steps_ms[std::min<std::size_t>(static_cast<std::size_t>(attempts), k_steps_ms.size() - 1)]);
  std::this_thread::sleep_for(std::min<SteadyClock::duration>(step, impl->deadline - now));
  return 1;
}

int History::Impl::on_wal_commit(void* self, sqlite3*, const char*, int frames) {
  static_cast<Impl*>(self)->wal_frames = frames;
  return SQLITE_OK;
}

// As in the prompt cache (cache/sqlite_cache.cpp): connections close without checkpointing,
// so a short-lived ask pays no fsync for it; the writer that takes the WAL past
// k_history_checkpoint_frames copies it into the file and truncates it, without waiting.
void History::Impl::checkpoint_if_due() {
  if (wal_frames < k_history_checkpoint_frames) {
    return;
  }
  deadline = SteadyClock::now(); // busy: give up at once, a later commit tries again
  (void)sqlite3_wal_checkpoint_v2(db->getHandle(), nullptr, SQLITE_CHECKPOINT_TRUNCATE, nullptr,
                                  nullptr);
  wal_frames = 0;
}

// Opens the file and makes sure the schema exists; returns the file's schema version (a
// newer one is left untouched for the caller). Throws on failure.
int History::Impl::connect() {
  close();
  try {
    db = cache::open_sqlite_file(options.path, device, inode);
    sqlite3* handle = db->getHandle();
    sqlite3_busy_handler(handle, &Impl::on_busy, this);
    (void)sqlite3_wal_hook(handle, &Impl::on_wal_commit, this);
    db->exec("PRAGMA synchronous = NORMAL");
    const int version = db->execAndGet("PRAGMA user_version").getInt();
    if (version != 0) {
      return version;
    }
    db->exec("PRAGMA journal_mode = WAL");
    db->exec(k_history_schema_sql);
    return k_history_schema_version;
  } catch (...) {
    close();
    throw;
  }
}

// The first process to open a new file switches it to WAL and creates the schema; others
// racing with it may get SQLITE_BUSY outside the busy handler's reach, so connect() is
// retried with backoff until the deadline.
int History::Impl::connect_with_retry() {
  for (int delay_ms = 1;; delay_ms = std::min(delay_ms * 2, 50)) {
    try {
      return connect();
    } catch (const SQLite::Exception& e) {
      const auto now = SteadyClock::now();
      if (!cache::sqlite_is_busy(e) || now >= deadline) {
        throw;
      }
      std::this_thread::sleep_for(
          std::min<SteadyClock::duration>(std::chrono::milliseconds(delay_ms), deadline - now));
    }
  }
}

void History::Impl::ensure_open() {
  if (db) {
    return;
  }
  if (const int version = connect_with_retry(); version > k_history_schema_version) {
    close();
    throw HistoryNewerSchema(
        "schema version " + std::to_string(version) + " is newer than this ask understands (" +
        std::to_string(k_history_schema_version) + "); the file is left as it is");
  }
}

// Renames the file to "<path>.corrupt-<unix seconds>" (its -wal beside it, its -shm removed)
// and warns, unless another process has already replaced it.
void History::Impl::move_aside(const std::string& problem) {
  close();
  const auto target =
      cache::move_sqlite_file_aside(options.path, device, inode, static_cast<long long>(now()));
  if (!target) {
    return; // gone or already replaced by a new history
  }
  warn(where() + problem + "; moved it to " + target->string() + " and started a new history");
}

core::Result<void> History::Impl::open() {
  if (sqlite3_compileoption_used("ENABLE_FTS5") == 0) {
    return core::fail(error(std::string("this SQLite (") + sqlite3_libversion() +
                            ") was built without FTS5, which the history's search needs"));
  }
  if (const std::string problem = cache::make_private_folders(options.path); !problem.empty()) {
    return core::fail(error(problem));
  }
  // A new file is created readable by its owner only (SQLite would use 0644 less the umask,
  // and gives the -wal and -shm files the database's mode): it holds prompts and answers.
  // An empty file is an empty database to SQLite.
  if (const int fd = ::open(options.path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600); fd >= 0) {
    ::close(fd);
  } // else SQLite's own open reports why
  start_deadline();
  try {
    try {
      ensure_open();
      return {};
    } catch (const SQLite::Exception& e) {
      if (cache::sqlite_is_busy(e)) {
        return core::fail(busy_error("open"));
      }
      if (!cache::sqlite_is_corrupt(e)) {
        throw;
      }
      move_aside(cache::sqlite_not_usable(e));
    }
    ensure_open();
    return {};
  } catch (const SQLite::Exception& e) {
    if (cache::sqlite_is_busy(e)) {
      return core::fail(busy_error("open"));
    }
    return core::fail(error(std::string("open: ") + e.what()));
  } catch (const std::exception& e) {
    return core::fail(error(std::string("open: ") + e.what()));
  }
}

// Runs fn under a fresh deadline; on corruption moves the file aside, starts over and runs fn
// again (or, without retry_after_recovery, answers an empty T). Nothing throws past here.
template <class F>
auto History::Impl::run(std::string_view op, F&& fn, bool retry_after_recovery)
    -> core::Result<std::invoke_result_t<F&>> {
  using T = std::invoke_result_t<F&>;
  start_deadline();
  try {
    try {
      return fn();
    } catch (const SQLite::Exception& e) {
      if (!cache::sqlite_is_corrupt(e)) {
        throw;
      }
      move_aside(cache::sqlite_not_usable(e));
    }
    start_deadline();
    ensure_open();
    if (retry_after_recovery) {
      return fn();
    }
    return T{};
  } catch (const SQLite::Exception& e) {
    if (cache::sqlite_is_busy(e)) {
      return core::fail(busy_error(op));
    }
    return core::fail(error(std::string(op) + ": " + e.what()));
  } catch (const std::exception& e) {
    return core::fail(error(std::string(op) + ": " + e.what()));
  }
}

std::optional<std::string> History::Impl::last_cid() {
  ensure_open();
  SQLite::Statement query(*db, k_history_last_cid_sql);
  if (!query.executeStep()) {
    return std::nullopt;
  }
  return query.getColumn(0).getString();
}

std::vector<Exchange> History::Impl::conversation(std::string_view cid) {
  ensure_open();
  SQLite::Statement query(*db, std::string(k_history_select) + " WHERE e.cid = ?1 ORDER BY e.id");
  query.bind(1, std::string(cid));
  std::vector<Exchange> out;
  while (query.executeStep()) {
    out.push_back(history_read_row(query));
  }
  return out;
}

// BEGIN IMMEDIATE takes the write lock first (waiting in the busy handler), so the insert
// never meets a snapshot gone stale under it, which SQLite reports as busy without waiting.
std::int64_t History::Impl::append(const Exchange& e) {
  ensure_open();
  db->exec("BEGIN IMMEDIATE");
  std::int64_t id = 0;
  try {
    SQLite::Statement insert(*db, k_history_insert_sql);
    insert.bind(1, e.cid);
    insert.bind(2, e.ts != 0 ? e.ts : now());
    insert.bind(3, e.model);
    insert.bind(4, e.served_by);
    history_bind_optional(insert, 5, e.system);
    insert.bind(6, e.prompt);
    insert.bind(7, e.answer);
    insert.bind(8, Json(e.attachments).dump(-1, ' ', false, Json::error_handler_t::replace));
    history_bind_optional(insert, 9, e.tokens_in);
    history_bind_optional(insert, 10, e.tokens_out);
    history_bind_optional(insert, 11, e.finish_reason);
    insert.exec();
    id = db->getLastInsertRowid();
    db->exec("COMMIT");
  } catch (...) {
    (void)db->tryExec("ROLLBACK");
    throw;
  }
  checkpoint_if_due();
  return id;
}

std::vector<Exchange> History::Impl::search(const Query& q) {
  ensure_open();
  const std::string match = q.text ? match_expression(*q.text) : std::string();
  std::string sql = std::string(k_history_select) + " WHERE 1";
  if (!match.empty()) {
    sql += " AND e.id IN (SELECT rowid FROM exchanges_fts WHERE exchanges_fts MATCH ?1)";
  }
  if (q.cid) {
    sql += " AND e.cid = ?2";
  }
  sql += " ORDER BY e.id DESC LIMIT ?3";
  SQLite::Statement query(*db, sql);
  if (!match.empty()) {
    query.bind(1, match);
  }
  if (q.cid) {
    query.bind(2, *q.cid);
  }
  query.bind(3, q.limit > 0 ? static_cast<std::int64_t>(q.limit) : std::int64_t{-1});
  std::vector<Exchange> out;
  while (query.executeStep()) {
    out.push_back(history_read_row(query));
  }
  return out;
}

// History

History::History(std::unique_ptr<Impl> impl) : m_impl(std::move(impl)) {}

History::~History() = default;

core::Result<std::unique_ptr<History>> History::open(Options options, const core::Clock& clock) {
  try {
    auto impl = std::make_unique<Impl>(std::move(options), clock);
    if (auto opened = impl->open(); !opened) {
      return core::fail(opened.error());
    }
    return std::unique_ptr<History>(new History(std::move(impl)));
  } catch (const std::exception& e) {
    return core::fail(core::Error::internal(std::string("history: open: ") + e.what()));
  }
}

core::Result<std::optional<std::string>> History::last_cid() {
  return m_impl->run(
      "last_cid", [&] { return m_impl->last_cid(); }, false);
}

core::Result<std::vector<Exchange>> History::conversation(std::string_view cid) {
  return m_impl->run(
      "conversation", [&] { return m_impl->conversation(cid); }, false);
}

core::Result<std::int64_t> History::append(Exchange e) {
  if (!valid_cid(e.cid)) {
    return core::fail(core::Error::bad_request(
        "history: not a conversation id (1 to 64 of A-Z a-z 0-9 . _ -): \"" +
        e.cid.substr(0, k_max_cid_length) + "\""));
  }
  return m_impl->run(
      "append", [&] { return m_impl->append(e); }, true);
}

core::Result<std::vector<Exchange>> History::search(const Query& query) {
  return m_impl->run(
      "search", [&] { return m_impl->search(query); }, false);
}

const std::filesystem::path& History::path() const {
  return m_impl->options.path;
}

} // namespace ask::history
