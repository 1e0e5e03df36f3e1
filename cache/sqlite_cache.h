#pragma once
// SqliteCache: ask's prompt cache in one SQLite file, shared by any number of ask processes at
// once (WAL journal), entries expiring after a TTL. A file that is not a database or is
// corrupt is moved aside (to "<path>.corrupt-<unix seconds>") and recreated, with a warning
// through Options::warn; the caller still gets a working cache.
// SQLiteCpp exceptions stop at this module's edge: every failure is a core::Error. An
// operation that gave up because another process held the file locked past
// Options::busy_timeout_ms fails with kind core::ErrorKind::overloaded (is_locked()), its
// message naming the path and saying "locked by another process"; every other failure is
// core::ErrorKind::internal.

#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/clock.h"
#include "core/duration.h"
#include "core/error.h"

namespace ask::cache {

struct Entry {
  std::string key;       // cache_key(): 64 hex digits
  std::string model;     // the logical model the key was computed for
  std::string served_by; // the model that produced the answer (== model: demoted answers are
                         // stored under the serving model's own key, see docs/cache.md)
  std::string answer;    // the text ask prints
  std::string response;  // the full OpenAI chat.completion JSON, for `ask --json`
  int prompt_chars = 0;  // characters (UTF-8 code points) of the prompt
  double created = 0;    // unix seconds, set by put()
  double expires = 0;    // unix seconds, set by put() from the TTL
};

struct ModelStats {
  std::string model;
  long long entries = 0;
};

struct Stats {
  std::filesystem::path path;
  long long entries = 0;            // all rows, expired included
  long long expired = 0;            // rows past their expiry (prune removes them)
  long long file_bytes = 0;         // the database file plus its -wal file
  double oldest = 0;                // created of the oldest row (0 when empty)
  double newest = 0;                // created of the newest row
  std::vector<ModelStats> by_model; // sorted by entries, descending, then name
};

class SqliteCache {
public:
  struct Options {
    std::filesystem::path path; // created with its folders (mode 0700)
    core::Duration ttl = core::Duration::seconds(30LL * 24 * 3600);
    // The most one call (open, get, put, stats, prune, clear) waits, in all, for locks that
    // other processes hold: open's schema creation, retries and corruption recovery
    // included. 0 = do not wait. Real time (the injected Clock is not consulted).
    int busy_timeout_ms = 3000;
    std::function<void(const std::string&)> warn; // one line, no trailing newline; may be empty
  };

  // Opens or creates the cache. Errors (the folder cannot be created, the file cannot be
  // opened even after moving a corrupt one aside) name the path and the reason.
  static core::Result<std::unique_ptr<SqliteCache>> open(Options options, const core::Clock& clock);
  ~SqliteCache();
  SqliteCache(const SqliteCache&) = delete;
  SqliteCache& operator=(const SqliteCache&) = delete;

  // The live entry for `key`; nullopt when absent or expired. Read-only: a hit writes
  // nothing, so it takes no write lock and does not grow the WAL that every new process
  // scans (hit rates come from the telemetry log instead). Corruption found here moves the
  // file aside, recreates it (warning) and answers nullopt.
  core::Result<std::optional<Entry>> get(std::string_view key);
  // Inserts or replaces the entry for entry.key; created = now, expires = now + ttl.
  core::Result<void> put(const Entry& entry);
  core::Result<Stats> stats();
  // Deletes expired entries (and compacts the file); returns how many were deleted.
  core::Result<long long> prune();
  // Deletes every entry; returns how many there were.
  core::Result<long long> clear();

  const std::filesystem::path& path() const;

  // Whether `error`, returned by this class, means the file was locked by another process
  // for longer than busy_timeout_ms (rather than unusable): worth a "try again" message.
  static bool is_locked(const core::Error& error) {
    return error.kind == core::ErrorKind::overloaded;
  }

private:
  struct Impl;
  explicit SqliteCache(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> m_impl;
};

} // namespace ask::cache
