#include "ask/history.h"

#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <iterator>
#include <set>
#include <string>
#include <vector>

#include <SQLiteCpp/Database.h>
#include <doctest/doctest.h>

#include "ask/history_testing.h"
#include "tests/support/temp_dir.h"

namespace {

using namespace ask::history::testing;
using namespace std::chrono_literals;
using Json = nlohmann::json;

// FakeClock's default start, 2026-01-01T00:00:00Z.
constexpr double k_history_test_start = 1767225600.0;

std::vector<hist::Exchange> history_search_ok(hist::History& h, const hist::Query& q) {
  auto found = h.search(q);
  REQUIRE_MESSAGE(found.has_value(), found.error().message);
  return *found;
}

std::vector<std::string> history_prompts(const std::vector<hist::Exchange>& exchanges) {
  std::vector<std::string> out;
  for (const auto& e : exchanges) {
    out.push_back(e.prompt);
  }
  return out;
}

hist::Query history_text(std::string text, int limit = 20) {
  hist::Query q;
  q.text = std::move(text);
  q.limit = limit;
  return q;
}

std::string history_read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

} // namespace

TEST_CASE("History: a new file is empty, made 0600 in new folders made 0700") {
  HistoryHarness h;
  auto options = h.options();
  options.path = h.dir.path() / "a" / "b" / "history.sqlite";
  auto history = hist::History::open(options, h.clock);
  REQUIRE_MESSAGE(history.has_value(), history.error().message);
  CHECK((*history)->path() == options.path);
  for (const fs::path& folder : {h.dir.path() / "a", h.dir.path() / "a" / "b"}) {
    struct stat st {};
    REQUIRE(::stat(folder.c_str(), &st) == 0);
    CHECK((st.st_mode & 0777) == 0700);
  }
  auto last = (*history)->last_cid();
  REQUIRE(last.has_value());
  CHECK_FALSE(last->has_value());
  CHECK(history_search_ok(**history, {}).empty());
  CHECK(h.warnings.empty());

  // It holds prompts and answers: owner only, the WAL too.
  history_append_ok(**history, history_exchange("c", "p", "a"));
  for (const std::string& file : {options.path.string(), options.path.string() + "-wal"}) {
    CAPTURE(file);
    struct stat st {};
    REQUIRE(::stat(file.c_str(), &st) == 0);
    CHECK((st.st_mode & 0777) == 0600);
  }
}

TEST_CASE("History: append then read back every field - ts from the clock when 0") {
  HistoryHarness h;
  auto history = h.open();
  hist::Exchange e = history_exchange("c1", "héllo\nworld", "an answer");
  e.served_by = "fast-1b";
  e.system = "be brief";
  e.attachments = {"photo.png", "notes \"v2\".txt"};
  e.tokens_in = 12;
  e.tokens_out = 345;
  e.finish_reason = "stop";
  const auto id = history_append_ok(*history, e);
  CHECK(id > 0);

  const auto conv = history->conversation("c1");
  REQUIRE(conv.has_value());
  REQUIRE(conv->size() == 1);
  const hist::Exchange& got = conv->front();
  CHECK(got.id == id);
  CHECK(got.cid == "c1");
  CHECK(got.ts == doctest::Approx(k_history_test_start));
  CHECK(got.model == "fast-9b");
  CHECK(got.served_by == "fast-1b");
  CHECK(got.system == std::optional<std::string>("be brief"));
  CHECK(got.prompt == "héllo\nworld");
  CHECK(got.answer == "an answer");
  CHECK(got.attachments == e.attachments);
  CHECK(got.tokens_in == std::optional<long long>(12));
  CHECK(got.tokens_out == std::optional<long long>(345));
  CHECK(got.finish_reason == std::optional<std::string>("stop"));

  hist::Exchange bare = history_exchange("c1", "second", "");
  bare.ts = 1234.5; // kept as given
  const auto id2 = history_append_ok(*history, bare);
  CHECK(id2 > id);
  const auto conv2 = history->conversation("c1");
  REQUIRE(conv2->size() == 2);
  const hist::Exchange& b = (*conv2)[1];
  CHECK(b.ts == doctest::Approx(1234.5));
  CHECK_FALSE(b.system.has_value());
  CHECK(b.attachments.empty());
  CHECK_FALSE(b.tokens_in.has_value());
  CHECK_FALSE(b.tokens_out.has_value());
  CHECK_FALSE(b.finish_reason.has_value());
  CHECK(b.answer.empty());
}

TEST_CASE("History: conversations read oldest first - last_cid is the newest exchange's") {
  HistoryHarness h;
  auto history = h.open();
  history_append_ok(*history, history_exchange("a", "a1", "A1"));
  h.clock.advance(1s);
  history_append_ok(*history, history_exchange("b", "b1", "B1"));
  h.clock.advance(1s);
  history_append_ok(*history, history_exchange("a", "a2", "A2"));
  CHECK(history->last_cid()->value() == "a");
  CHECK(history_prompts(*history->conversation("a")) == std::vector<std::string>{"a1", "a2"});
  CHECK(history_prompts(*history->conversation("b")) == std::vector<std::string>{"b1"});
  CHECK(history->conversation("none")->empty());
  history_append_ok(*history, history_exchange("b", "b2", "B2"));
  CHECK(history->last_cid()->value() == "b");

  // A second process (connection) sees the same.
  auto other = h.open();
  CHECK(other->last_cid()->value() == "b");
  CHECK(other->conversation("a")->size() == 2);
}

TEST_CASE("History: append refuses an invalid cid") {
  HistoryHarness h;
  auto history = h.open();
  for (const std::string& bad :
       std::vector<std::string>{"", "a b", "a/b", "ü", std::string(65, 'x'), "x\n"}) {
    CAPTURE(bad);
    auto r = history->append(history_exchange(bad, "p", "a"));
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().kind == ask::core::ErrorKind::bad_request);
  }
  CHECK(history_search_ok(*history, {}).empty());
}

TEST_CASE("History: as_messages replays a conversation: first system, then user/assistant") {
  CHECK(hist::as_messages({}).empty());
  hist::Exchange first = history_exchange("c", "what is in this picture?", "a cat");
  first.system = "be brief";
  first.attachments = {"photo.png", "notes.txt"};
  hist::Exchange second = history_exchange("c", "and its colour?", "black");
  second.system = "ignored: only the first exchange's system prompt counts";
  const auto messages = hist::as_messages({first, second});
  REQUIRE(messages.size() == 5);
  CHECK(messages[0] == Json{{"role", "system"}, {"content", "be brief"}});
  CHECK(messages[1] ==
        Json{{"role", "user"},
             {"content", "what is in this picture?\n\n[attached: photo.png, notes.txt]"}});
  CHECK(messages[2] == Json{{"role", "assistant"}, {"content", "a cat"}});
  CHECK(messages[3] == Json{{"role", "user"}, {"content", "and its colour?"}});
  CHECK(messages[4] == Json{{"role", "assistant"}, {"content", "black"}});

  hist::Exchange no_system = history_exchange("c", "", "ok");
  no_system.attachments = {"a.txt"};
  const auto bare = hist::as_messages({no_system});
  REQUIRE(bare.size() == 2);
  CHECK(bare[0]["content"] == "[attached: a.txt]");
}

TEST_CASE("History: a conversation continued from the store round-trips into messages") {
  HistoryHarness h;
  auto history = h.open();
  hist::Exchange e = history_exchange("c", "q1", "r1");
  e.system = "sys";
  history_append_ok(*history, e);
  history_append_ok(*history, history_exchange("c", "q2", "r2"));
  const auto cid = history->last_cid();
  REQUIRE(cid.has_value());
  REQUIRE(cid->has_value());
  const auto messages = hist::as_messages(*history->conversation(**cid));
  REQUIRE(messages.size() == 5);
  CHECK(messages[0]["role"] == "system");
  CHECK(messages[4]["content"] == "r2");
}

TEST_CASE("History: to_json has every field, absent ones null") {
  hist::Exchange e = history_exchange("c", "p", "a");
  e.id = 7;
  e.ts = 1.5;
  const Json j = hist::to_json(e);
  CHECK(j["id"] == 7);
  CHECK(j["cid"] == "c");
  CHECK(j["ts"] == 1.5);
  CHECK(j["model"] == "fast-9b");
  CHECK(j["served_by"] == "fast-9b");
  CHECK(j["system"].is_null());
  CHECK(j["prompt"] == "p");
  CHECK(j["answer"] == "a");
  CHECK(j["attachments"] == Json::array());
  CHECK(j["tokens_in"].is_null());
  CHECK(j["tokens_out"].is_null());
  CHECK(j["finish_reason"].is_null());
  CHECK(j.size() == 12);
  e.tokens_out = 3;
  e.system = "s";
  CHECK(hist::to_json(e)["tokens_out"] == 3);
  CHECK(hist::to_json(e)["system"] == "s");
}

TEST_CASE("History: search matches all words in prompt or answer, newest first") {
  HistoryHarness h;
  auto history = h.open();
  history_append_ok(*history, history_exchange("a", "why does this deadlock", "lock order"));
  history_append_ok(*history, history_exchange("b", "Café prices", "about 3 euros"));
  history_append_ok(*history, history_exchange("a", "mutex question", "a DEADLOCK again"));
  history_append_ok(*history, history_exchange("c", "unrelated", "nothing here"));

  CHECK(history_prompts(history_search_ok(*history, history_text("deadlock"))) ==
        std::vector<std::string>{"mutex question", "why does this deadlock"});
  CHECK(history_prompts(history_search_ok(*history, history_text("why deadlock"))) ==
        std::vector<std::string>{"why does this deadlock"});
  CHECK(history_prompts(history_search_ok(*history, history_text("cafe EUROS"))) ==
        std::vector<std::string>{"Café prices"});
  CHECK(history_prompts(history_search_ok(*history, history_text("dead*"))) ==
        std::vector<std::string>{"mutex question", "why does this deadlock"});
  CHECK(history_search_ok(*history, history_text("dead")).empty()); // words, not substrings
  CHECK(history_search_ok(*history, history_text("deadlock nothing")).empty());

  hist::Query in_a = history_text("deadlock");
  in_a.cid = "a";
  CHECK(history_search_ok(*history, in_a).size() == 2);
  in_a.cid = "b";
  CHECK(history_search_ok(*history, in_a).empty());

  // No words: no filter; the limit keeps the newest; 0 means all.
  for (const char* blank : {"", "   ", "\t\n"}) {
    CHECK(history_search_ok(*history, history_text(blank)).size() == 4);
  }
  CHECK(history_prompts(history_search_ok(*history, history_text("", 2))) ==
        std::vector<std::string>{"unrelated", "mutex question"});
  CHECK(history_search_ok(*history, history_text("", 0)).size() == 4);
  hist::Query only_cid;
  only_cid.cid = "a";
  CHECK(history_prompts(history_search_ok(*history, only_cid)) ==
        std::vector<std::string>{"mutex question", "why does this deadlock"});
}

TEST_CASE("History: match_expression quotes every word - nothing is FTS5 syntax") {
  CHECK(hist::match_expression("") == "");
  CHECK(hist::match_expression(" \t\n ") == "");
  CHECK(hist::match_expression("why deadlock") == R"("why" "deadlock")");
  CHECK(hist::match_expression(R"(say "hi")") == R"("say" """hi""")");
  CHECK(hist::match_expression("NEAR(a b)") == R"x("NEAR(a" "b)")x");
  CHECK(hist::match_expression("dead* *") == R"("dead"* "*")");
  CHECK(hist::match_expression("a**") == R"("a"*)");
  CHECK(hist::match_expression("-x prompt:y") == R"("-x" "prompt:y")");
  CHECK(hist::match_expression(std::string("a\0b\x01"
                                           "c\x7f",
                                           6)) == R"("a" "b" "c")");
}

TEST_CASE("History: malformed search text is never an error") {
  HistoryHarness h;
  auto history = h.open();
  history_append_ok(*history, history_exchange("a", "why does this deadlock", "near the end"));
  history_append_ok(*history, history_exchange("a", "日本語のテキスト", "x"));
  const std::vector<std::string> inputs = {"\"",
                                           "\"\"",
                                           "\"why",
                                           "why\"",
                                           "why\"deadlock",
                                           "*",
                                           "**",
                                           "* why",
                                           "NEAR(",
                                           "NEAR(why",
                                           "NEAR(why deadlock, 2)",
                                           "-",
                                           "-why",
                                           "why -deadlock",
                                           ":",
                                           "prompt:",
                                           "prompt:why",
                                           "answer:near",
                                           "{prompt answer}: why",
                                           "AND",
                                           "OR why",
                                           "why NOT",
                                           "(",
                                           ")",
                                           "(why",
                                           "^why",
                                           "+",
                                           "'",
                                           "'; DROP TABLE exchanges; --",
                                           "\\",
                                           "%",
                                           "_",
                                           "日本語のテキスト",
                                           "🙂",
                                           "why 🙂",
                                           std::string("\x01\x02", 2),
                                           std::string("a\0b", 3),
                                           "\xff\xfe",
                                           std::string(10 * 1024, 'w'),
                                           [] {
                                             std::string many;
                                             for (int i = 0; i < 2000; ++i) {
                                               many += "w" + std::to_string(i) + " ";
                                             }
                                             return many;
                                           }(),
                                           [] {
                                             std::string quotes;
                                             for (int i = 0; i < 2500; ++i) {
                                               quotes += "\"(* ";
                                             }
                                             return quotes;
                                           }()};
  for (const std::string& input : inputs) {
    CAPTURE(input.substr(0, 40));
    auto found = history->search(history_text(input));
    REQUIRE_MESSAGE(found.has_value(), found.error().message);
  }
  // Literal meaning where the words are words.
  CHECK(history_search_ok(*history, history_text("\"why")).size() == 1);
  // A word with punctuation inside is a phrase of its tokens: "near" then "the".
  CHECK(history_search_ok(*history, history_text("NEAR(the")).size() == 1);
  CHECK(history_search_ok(*history, history_text("NEAR(why")).empty());
  CHECK(history_search_ok(*history, history_text("AND")).empty());
  CHECK(history_search_ok(*history, history_text("-why")).size() == 1);
  CHECK(history_search_ok(*history, history_text("日本語のテキスト")).size() == 1);
  CHECK(history_search_ok(*history, history_text("'; DROP TABLE exchanges; --")).empty());
  CHECK(history_search_ok(*history, {}).size() == 2); // the table is still there
}

TEST_CASE("History: cids are 26-character ULIDs, sortable by time, unique") {
  ask::core::FakeClock clock;
  const std::string first = hist::new_cid(clock);
  CHECK(first.size() == 26);
  CHECK(hist::valid_cid(first));
  CHECK(first.find_first_not_of("0123456789ABCDEFGHJKMNPQRSTVWXYZ") == std::string::npos);
  // 2026-01-01T00:00:00Z = 1767225600000 ms = 01KDVDNA00 in Crockford base32.
  CHECK(first.substr(0, 10) == "01KDVDNA00");
  clock.advance(1ms);
  const std::string later = hist::new_cid(clock);
  CHECK(later.substr(0, 10) == "01KDVDNA01");
  CHECK(later > first);

  std::set<std::string> seen;
  for (int i = 0; i < 10000; ++i) {
    seen.insert(hist::new_cid(clock));
  }
  CHECK(seen.size() == 10000);
  CHECK(seen.begin()->substr(0, 10) == "01KDVDNA01");
}

TEST_CASE("History: valid_cid accepts 1-64 of [A-Za-z0-9._-]") {
  CHECK(hist::valid_cid("a"));
  CHECK(hist::valid_cid("my-project_v1.2"));
  CHECK(hist::valid_cid(std::string(64, 'Z')));
  CHECK_FALSE(hist::valid_cid(""));
  CHECK_FALSE(hist::valid_cid(std::string(65, 'Z')));
  for (const char* bad : {"a b", "a/b", "a\\b", "é", "a\n", "a;b", "a\"", "a*"}) {
    CAPTURE(bad);
    CHECK_FALSE(hist::valid_cid(bad));
  }
}

TEST_CASE("History: two processes appending at once lose nothing") {
  HistoryHarness h;
  constexpr int k_each = 200;
  std::vector<pid_t> children;
  for (int child = 0; child < 2; ++child) {
    const pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
      // No doctest macros here: report through the exit status.
      ask::core::SystemClock clock;
      hist::History::Options o;
      o.path = h.db_path();
      o.busy_timeout_ms = 10000;
      auto history = hist::History::open(o, clock);
      if (!history) {
        ::_exit(2);
      }
      for (int i = 0; i < k_each; ++i) {
        hist::Exchange e = history_exchange("p" + std::to_string(child),
                                            "shared word " + std::to_string(i), "answer");
        if (!(*history)->append(e)) {
          ::_exit(3);
        }
      }
      ::_exit(0);
    }
    children.push_back(pid);
  }
  for (const pid_t pid : children) {
    int status = 0;
    REQUIRE(::waitpid(pid, &status, 0) == pid);
    CHECK(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 0);
  }
  auto history = h.open();
  CHECK(history_search_ok(*history, history_text("", 0)).size() == 2 * k_each);
  CHECK(history_search_ok(*history, history_text("shared", 0)).size() == 2 * k_each);
  CHECK(history->conversation("p0")->size() == k_each);
  CHECK(history->conversation("p1")->size() == k_each);
  CHECK(h.warnings.empty());
}

TEST_CASE("History: a writer holding the lock makes append fail within busy_timeout_ms") {
  HistoryHarness h;
  constexpr int k_bound_ms = 200;
  auto history = h.open(k_bound_ms);
  history_append_ok(*history, history_exchange("c", "before", "x"));

  SQLite::Database other(h.db_path().string(), SQLite::OPEN_READWRITE);
  other.exec("BEGIN EXCLUSIVE");
  other.exec("INSERT INTO exchanges(cid, ts, model, served_by, prompt, answer) "
             "VALUES ('o', 0, 'm', 'm', 'uncommitted', '')");

  const auto start = std::chrono::steady_clock::now();
  auto r = history->append(history_exchange("c", "blocked", "x"));
  const auto waited = std::chrono::steady_clock::now() - start;
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error().kind == ask::core::ErrorKind::timeout);
  CHECK(r.error().message.find(h.db_path().string()) != std::string::npos);
  CHECK(waited >= std::chrono::milliseconds(k_bound_ms - 20)); // it did wait
  CHECK(waited < std::chrono::milliseconds(k_bound_ms + 300)); // and no longer than promised

  // Readers are not blocked (WAL) and do not see the uncommitted row.
  CHECK(history_prompts(history_search_ok(*history, {})) == std::vector<std::string>{"before"});
  auto opened = hist::History::open(h.options(k_bound_ms), h.clock);
  REQUIRE_MESSAGE(opened.has_value(), opened.error().message);

  other.exec("ROLLBACK");
  history_append_ok(*history, history_exchange("c", "after", "x"));
  CHECK(history_prompts(*history->conversation("c")) ==
        std::vector<std::string>{"before", "after"});
}

TEST_CASE("History: a file that is not a database is moved aside and a new one started") {
  HistoryHarness h;
  const std::string garbage(8192, 'G');
  {
    std::ofstream out(h.db_path(), std::ios::binary);
    out << garbage;
  }
  auto history = h.open();
  REQUIRE(h.warnings.size() == 1);
  CHECK(h.warnings[0].find("history: " + h.db_path().string()) == 0);
  CHECK(h.warnings[0].find("moved it to") != std::string::npos);
  std::vector<fs::path> aside;
  for (const auto& item : fs::directory_iterator(h.dir.path())) {
    if (item.path().filename().string().starts_with("history.sqlite.corrupt-")) {
      aside.push_back(item.path());
    }
  }
  REQUIRE(aside.size() == 1);
  CHECK(history_read_file(aside[0]) == garbage); // kept, for whoever wants to look
  history_append_ok(*history, history_exchange("c", "fresh", "x"));
  CHECK(history_search_ok(*history, history_text("fresh")).size() == 1);
}

TEST_CASE("History: a file of a newer schema is refused and left as it is") {
  HistoryHarness h;
  {
    SQLite::Database db(h.db_path().string(), SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
    db.exec("CREATE TABLE future(x); PRAGMA user_version = 2");
  }
  const std::string before = history_read_file(h.db_path());
  auto history = hist::History::open(h.options(), h.clock);
  REQUIRE_FALSE(history.has_value());
  CHECK(history.error().message.find(h.db_path().string()) != std::string::npos);
  CHECK(history.error().message.find("schema version 2 is newer") != std::string::npos);
  CHECK(h.warnings.empty());
  CHECK(history_read_file(h.db_path()) == before);
  int entries = 0;
  for ([[maybe_unused]] const auto& item : fs::directory_iterator(h.dir.path())) {
    ++entries;
  }
  CHECK(entries == 1); // no copy moved aside, no -wal
}

TEST_CASE("History: a folder that cannot be created is an error naming it") {
  HistoryHarness h;
  { std::ofstream out(h.dir.path() / "file"); }
  auto options = h.options();
  options.path = h.dir.path() / "file" / "history.sqlite";
  auto history = hist::History::open(options, h.clock);
  REQUIRE_FALSE(history.has_value());
  CHECK(history.error().message.find((h.dir.path() / "file").string()) != std::string::npos);
}
