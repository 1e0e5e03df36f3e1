// `ask logs` (ask/logs.h) over a real history file: what it prints for people and for jq, and
// its usage errors. The store itself is tested in history_test.cpp.
#include "ask/logs.h"

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <optional>
#include <string>

#include <doctest/doctest.h>

#include "ask/history_testing.h"

using namespace std::chrono_literals;
using Json = nlohmann::json;

namespace {

using namespace ask::history::testing;

// A Terminal writing to two temporary files, read back as strings.
class CapturedTerminal {
public:
  CapturedTerminal()
      : m_out(std::tmpfile()), m_err(std::tmpfile()),
        m_terminal(ask::cli::TerminalSettings{}, m_out, m_err) {}
  ~CapturedTerminal() {
    std::fclose(m_out);
    std::fclose(m_err);
  }
  CapturedTerminal(const CapturedTerminal&) = delete;
  CapturedTerminal& operator=(const CapturedTerminal&) = delete;
  ask::cli::Terminal& terminal() { return m_terminal; }
  std::string out() { return read(m_out); }
  std::string err() { return read(m_err); }

private:
  static std::string read(std::FILE* f) {
    std::fflush(f);
    std::rewind(f);
    std::string text;
    char buf[4096];
    for (std::size_t n; (n = std::fread(buf, 1, sizeof buf, f)) > 0;) {
      text.append(buf, n);
    }
    return text;
  }
  std::FILE* m_out;
  std::FILE* m_err;
  ask::cli::Terminal m_terminal;
};

// Sets TZ for one test (local times in `ask logs`), restoring it afterwards.
class HistoryTimeZone {
public:
  explicit HistoryTimeZone(const char* tz) {
    if (const char* old = std::getenv("TZ")) {
      m_old = old;
    }
    ::setenv("TZ", tz, 1);
    ::tzset();
  }
  ~HistoryTimeZone() {
    if (m_old) {
      ::setenv("TZ", m_old->c_str(), 1);
    } else {
      ::unsetenv("TZ");
    }
    ::tzset();
  }
  HistoryTimeZone(const HistoryTimeZone&) = delete;
  HistoryTimeZone& operator=(const HistoryTimeZone&) = delete;

private:
  std::optional<std::string> m_old;
};

} // namespace

TEST_CASE("ask logs: no history file yet is said on stderr, with nothing on stdout") {
  HistoryHarness h;
  ask::config::Config config;
  config.history.path = h.db_path();
  {
    CapturedTerminal t;
    CHECK(ask::cli::run_logs({}, config, h.clock, t.terminal()) == ask::cli::ExitCode::ok);
    CHECK(t.out().empty());
    CHECK(t.err().find("no history yet") != std::string::npos);
  }
  {
    CapturedTerminal t;
    ask::cli::LogsOptions o;
    o.json = true;
    CHECK(ask::cli::run_logs(o, config, h.clock, t.terminal()) == ask::cli::ExitCode::ok);
    CHECK(t.out() == "[]\n");
  }
  CHECK_FALSE(fs::exists(h.db_path())); // reading never creates it
}

TEST_CASE("ask logs: text output, newest first - --cid reads oldest first") {
  HistoryTimeZone utc("UTC0");
  HistoryHarness h;
  {
    auto history = h.open();
    hist::Exchange first =
        history_exchange("01KDWJ6G00AAAAAAAAAAAAAAAA", "why\ndeadlock?", "lock order.");
    first.served_by = "fast-1b";
    first.attachments = {"main.c"};
    history_append_ok(*history, first);
    h.clock.advance(2min);
    history_append_ok(*history,
                      history_exchange("01KDWJ6G00AAAAAAAAAAAAAAAA", "and now?", "fixed.\n"));
    h.clock.advance(1h);
    history_append_ok(*history, history_exchange("other", "unrelated", "yes"));
  }
  ask::config::Config config;
  config.history.path = h.db_path();

  CapturedTerminal all;
  CHECK(ask::cli::run_logs({}, config, h.clock, all.terminal()) == ask::cli::ExitCode::ok);
  CHECK(all.out() == "2026-01-01 01:02  fast-9b  cid other\n"
                     "> unrelated\n"
                     "yes\n"
                     "\n"
                     "2026-01-01 00:02  fast-9b  cid 01KDWJ6G00AAAAAAAAAAAAAAAA\n"
                     "> and now?\n"
                     "fixed.\n"
                     "\n"
                     "2026-01-01 00:00  fast-9b (served by fast-1b)  cid "
                     "01KDWJ6G00AAAAAAAAAAAAAAAA\n"
                     "> why\n"
                     "> deadlock?\n"
                     "> [attached: main.c]\n"
                     "lock order.\n");
  CHECK(all.err().empty());

  CapturedTerminal conv;
  ask::cli::LogsOptions o;
  o.cid = "01KDWJ6G00AAAAAAAAAAAAAAAA";
  CHECK(ask::cli::run_logs(o, config, h.clock, conv.terminal()) == ask::cli::ExitCode::ok);
  const std::string text = conv.out();
  CHECK(text.find("> why") < text.find("> and now?"));
  CHECK(text.find("unrelated") == std::string::npos);

  CapturedTerminal limited;
  o.n = 1;
  CHECK(ask::cli::run_logs(o, config, h.clock, limited.terminal()) == ask::cli::ExitCode::ok);
  CHECK(limited.out().find("> and now?") != std::string::npos); // the newest one
  CHECK(limited.out().find("> why") == std::string::npos);

  CapturedTerminal none;
  ask::cli::LogsOptions q;
  q.query = "nowhere";
  CHECK(ask::cli::run_logs(q, config, h.clock, none.terminal()) == ask::cli::ExitCode::ok);
  CHECK(none.out().empty());
  CHECK(none.err().find("no exchanges match") != std::string::npos);
}

TEST_CASE("ask logs: --json is one array of exchanges - -q filters") {
  HistoryHarness h;
  {
    auto history = h.open();
    hist::Exchange e = history_exchange("c", "why deadlock", "lock order");
    e.tokens_in = 5;
    history_append_ok(*history, e);
    history_append_ok(*history, history_exchange("c", "other", "thing"));
    history_append_ok(*history, history_exchange("c", "bad \xff utf-8", "\xc3"));
  }
  ask::config::Config config;
  config.history.path = h.db_path();
  {
    CapturedTerminal all; // invalid UTF-8 in the store still gives valid JSON
    ask::cli::LogsOptions o;
    o.json = true;
    CHECK(ask::cli::run_logs(o, config, h.clock, all.terminal()) == ask::cli::ExitCode::ok);
    const Json j = Json::parse(all.out());
    REQUIRE(j.size() == 3);
    CHECK(j[0]["prompt"] == "bad \xef\xbf\xbd utf-8");
  }
  CapturedTerminal t;
  ask::cli::LogsOptions o;
  o.json = true;
  o.query = "DEADLOCK \"";
  CHECK(ask::cli::run_logs(o, config, h.clock, t.terminal()) == ask::cli::ExitCode::ok);
  const Json j = Json::parse(t.out());
  REQUIRE(j.is_array());
  REQUIRE(j.size() == 1);
  CHECK(j[0]["prompt"] == "why deadlock");
  CHECK(j[0]["tokens_in"] == 5);
  CHECK(j[0]["tokens_out"].is_null());
  CHECK(j[0]["attachments"] == Json::array());
  CHECK(j[0]["cid"] == "c");
}

TEST_CASE("ask logs: a bad -n or --cid is a usage error") {
  HistoryHarness h;
  ask::config::Config config;
  config.history.path = h.db_path();
  CapturedTerminal t;
  ask::cli::LogsOptions o;
  o.n = -1;
  CHECK(ask::cli::run_logs(o, config, h.clock, t.terminal()) == ask::cli::ExitCode::usage);
  o.n = 10;
  o.cid = "no spaces";
  CHECK(ask::cli::run_logs(o, config, h.clock, t.terminal()) == ask::cli::ExitCode::usage);
  CHECK(t.err().find("--cid") != std::string::npos);
  CHECK(t.out().empty());
}
