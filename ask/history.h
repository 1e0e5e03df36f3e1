#pragma once
// History: ask's conversations, one row per exchange (a prompt and its answer) in one SQLite
// file shared by any number of ask processes at once (WAL journal, short BEGIN IMMEDIATE
// writes, a busy wait bounded by Options::busy_timeout_ms), with an FTS5 index over prompts
// and answers for `ask logs -q`. A corrupt file is moved aside ("<path>.corrupt-<unix
// seconds>") and a new one started, with a warning; a file of a newer schema is left alone
// and every call fails. SQLiteCpp exceptions stop at this module's edge. One History per
// thread (it is one SQLite connection); processes share the file. docs/history.md.

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/clock.h"
#include "core/error.h"

namespace ask::history {

struct Exchange {
  std::int64_t id = 0;   // set by History::append; increases with each append, in commit order
  std::string cid;       // the conversation: new_cid(), or a --cid the user chose (valid_cid)
  double ts = 0;         // unix seconds; append() sets the clock's wall time when 0
  std::string model;     // the logical model asked for
  std::string served_by; // the model that answered (differs when demoted)
  std::optional<std::string> system;
  std::string prompt;
  std::string answer;
  std::vector<std::string> attachments; // labels (file names), not contents
  std::optional<long long> tokens_in;
  std::optional<long long> tokens_out;
  std::optional<std::string> finish_reason;
};

struct Query {
  // Words that must all occur in the prompt or the answer (any case, accents ignored); a
  // word ending in '*' matches as a prefix. Anything else is literal: no FTS5 syntax gets
  // through. nullopt, empty or only white space: no filter.
  std::optional<std::string> text;
  std::optional<std::string> cid; // only this conversation
  int limit = 20;                 // at most this many, the newest; 0 or less: all
};

class History {
public:
  struct Options {
    std::filesystem::path path; // created with its folders (mode 0700)
    // The longest any one call waits for another process's write (and for a file another
    // process is creating); past it the call fails with ErrorKind::timeout.
    int busy_timeout_ms = 3000;
    std::function<void(const std::string&)> warn; // one line, no trailing newline; may be empty
  };

  // Opens or creates the history. Errors name the path: the folder cannot be created, the
  // file cannot be opened even after moving a corrupt one aside, its schema is newer than
  // this ask knows, or this SQLite lacks FTS5.
  static core::Result<std::unique_ptr<History>> open(Options options, const core::Clock& clock);
  ~History();
  History(const History&) = delete;
  History& operator=(const History&) = delete;

  // The cid of the newest exchange (by id: the last one written, by any process); nullopt
  // when the history is empty.
  core::Result<std::optional<std::string>> last_cid();
  // The exchanges of one conversation, oldest first; empty when there are none.
  core::Result<std::vector<Exchange>> conversation(std::string_view cid);
  // Writes one exchange (e.id is ignored; ts = the clock's wall time when 0); returns its id.
  // Fails with bad_request when e.cid is not valid_cid().
  core::Result<std::int64_t> append(Exchange e);
  // Exchanges matching the query, newest first.
  core::Result<std::vector<Exchange>> search(const Query& query);

  const std::filesystem::path& path() const;

private:
  struct Impl;
  explicit History(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> m_impl;
};

// A new conversation id: a ULID, 26 characters of Crockford base32 (0-9 A-Z without I L O
// U), the first 10 the wall time in milliseconds since 1970, the other 16 eighty random bits
// from getrandom(2). Unique across processes; ids sort by time to the millisecond.
std::string new_cid(const core::Clock& clock);

// What --cid accepts (and append() stores): 1 to 64 characters of [A-Za-z0-9._-].
bool valid_cid(std::string_view cid);

// The FTS5 MATCH expression for a user's search text: each word (separated by white space or
// other ASCII control characters, NUL included) as an FTS5 string ("" doubled inside), a
// trailing '*' kept as a prefix query, the words ANDed.
// "" when the text has no words (no filter).
std::string match_expression(std::string_view text);

// The earlier turns of a conversation as OpenAI chat messages, to put before a new question:
// the first exchange's system prompt (if any), then a user and an assistant message per
// exchange. Attachments are not sent again; their labels end the user text
// ("\n\n[attached: photo.png, notes.txt]").
std::vector<nlohmann::json> as_messages(const std::vector<Exchange>& exchanges);

// An exchange as JSON for `ask logs --json`: every field, absent optionals as null.
nlohmann::json to_json(const Exchange& exchange);

} // namespace ask::history
