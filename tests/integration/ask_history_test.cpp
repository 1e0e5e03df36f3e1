// The real ask binary with conversations, the history and attachments (issue 22): -c and
// --cid send the earlier turns, `ask logs` finds them, -a sends images as image parts and text
// files as labelled fragments, binary standard input is refused, a locked cache is waited for
// only so long, and a stream that breaks on a terminal says so.
#include <doctest/doctest.h>

#include <fstream>

#include <sys/wait.h>
#include <unistd.h>

#include <SQLiteCpp/SQLiteCpp.h>

#include "tests/integration/ask_harness.h"
#include "tests/integration/pty_process.h"

using namespace ask::testing;
using namespace std::chrono_literals;

namespace {

// The messages of the last request `sim` received.
Json history_test_messages(const SimProcess& sim) {
  return last_request(sim)["messages"];
}

std::filesystem::path history_file(const AskUser& user) {
  return user.dir() / "data" / "ask" / "history.sqlite";
}

std::string write_history_test_file(const AskUser& user, const std::string& name,
                                    const std::string& bytes) {
  const auto path = user.dir() / name;
  std::ofstream out(path, std::ios::binary);
  out << bytes;
  return path.string();
}

// A 1x1 PNG (tests/fixtures/attach/pixel.png).
std::string history_test_png() {
  const std::filesystem::path path =
      std::filesystem::path(ASK_SOURCE_DIR) / "tests" / "fixtures" / "attach" / "pixel.png";
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

} // namespace

TEST_CASE("ask -c continues the last conversation - --cid a named one - each is in the history") {
  AskWorld world;
  AskUser user(world.config(), world.askd().port());
  AskResult first = user.run({"--tiny", "name a colour"});
  REQUIRE_MESSAGE(first.code == 0, first.err);
  AskResult second = user.run({"--tiny", "-c", "and another?"});
  REQUIRE_MESSAGE(second.code == 0, second.err);
  const Json messages = history_test_messages(world.llama());
  REQUIRE(messages.size() == 3);
  CHECK(messages[0] == Json{{"role", "user"}, {"content", "name a colour"}});
  CHECK(messages[1]["role"] == "assistant");
  CHECK(messages[1]["content"].get<std::string>() + "\n" == first.out);
  CHECK(messages[2] == Json{{"role", "user"}, {"content", "and another?"}});
  const std::string cid = user.last_line()["cid"].get<std::string>();
  CHECK(cid.size() == 26);

  // A named conversation starts empty and grows; the last one stays what -c continues.
  REQUIRE(user.run({"--tiny", "--cid", "plan", "step one"}).code == 0);
  CHECK(history_test_messages(world.llama()).size() == 1);
  REQUIRE(user.run({"--tiny", "--cid", "plan", "step two"}).code == 0);
  CHECK(history_test_messages(world.llama()).size() == 3);
  REQUIRE(user.run({"--tiny", "-c", "step three"}).code == 0);
  CHECK(history_test_messages(world.llama()).size() == 5);
  CHECK(user.last_line()["cid"] == "plan");

  // ask logs: the conversation oldest first, a search newest first, JSON for jq.
  AskResult logs = user.run({"logs", "--cid", "plan", "--json"});
  REQUIRE_MESSAGE(logs.code == 0, logs.err);
  const Json plan = Json::parse(logs.out);
  REQUIRE(plan.size() == 3);
  CHECK(plan[0]["prompt"] == "step one");
  CHECK(plan[2]["prompt"] == "step three");
  AskResult found = user.run({"logs", "-q", "colour"});
  REQUIRE(found.code == 0);
  CHECK(contains(found.out, "> name a colour"));
  CHECK(contains(found.out, cid));
  CHECK_FALSE(contains(found.out, "step one"));
  AskResult last_two = user.run({"-q", "logs", "-n", "2", "--json"});
  REQUIRE(last_two.code == 0);
  CHECK(Json::parse(last_two.out).size() == 2);
  AskResult none = user.run({"logs", "-q", "\"unbalanced NEAR( *"});
  CHECK(none.code == 0); // a search text is never FTS5 syntax
  CHECK(none.out.empty());
}

TEST_CASE("ask: --no-history keeps a question out - a plain cache hit is not recorded twice") {
  AskWorld world;
  AskUser user(world.config(), world.askd().port());
  REQUIRE(user.run({"--tiny", "--no-history", "secret question"}).code == 0);
  CHECK(user.last_line()["cid"].is_null());
  REQUIRE(user.run({"--tiny", "public question"}).code == 0);
  REQUIRE(user.run({"--tiny", "public question"}).code == 0); // a hit
  CHECK(user.last_line()["cache_hit"] == true);
  const Json all = Json::parse(user.run({"logs", "-n", "0", "--json"}).out);
  REQUIRE(all.size() == 1);
  CHECK(all[0]["prompt"] == "public question");
  // Within a conversation, a hit is a turn.
  REQUIRE(user.run({"--tiny", "--cid", "c1", "same start"}).code == 0);
  REQUIRE(user.run({"--tiny", "--cid", "c2", "same start"}).code == 0);
  CHECK(user.last_line()["cache_hit"] == true);
  CHECK(Json::parse(user.run({"logs", "--cid", "c2", "--json"}).out).size() == 1);
  CHECK(std::filesystem::exists(history_file(user)));
}

TEST_CASE("ask -a: an image goes as an image part, a text file as a labelled fragment") {
  AskWorld world;
  AskUser user(world.config(), world.askd().port());
  const std::string photo = write_history_test_file(user, "photo.jpg", history_test_png());
  const std::string notes = write_history_test_file(user, "notes.txt", "line one\nline two\n");
  AskResult r = user.run({"--tiny", "-f", notes, "-a", photo, "describe both"});
  REQUIRE_MESSAGE(r.code == 0, r.err);
  const Json content = history_test_messages(world.llama()).back()["content"];
  REQUIRE(content.is_array());
  REQUIRE(content.size() == 2);
  CHECK(content[0]["type"] == "text");
  CHECK(content[0]["text"] ==
        "<file name=\"" + notes + "\">\nline one\nline two\n</file>\n\ndescribe both");
  CHECK(content[1]["type"] == "image_url");
  // Told by its content (a PNG named .jpg).
  CHECK(
      content[1]["image_url"]["url"].get<std::string>().starts_with("data:image/png;base64,iVBOR"));

  // -a - takes standard input; a URL goes as it is.
  AskResult piped = user.run({"--tiny", "-a", "-", "-a", "https://example.org/cat.png", "what?"},
                             history_test_png());
  REQUIRE_MESSAGE(piped.code == 0, piped.err);
  const Json parts = history_test_messages(world.llama()).back()["content"];
  REQUIRE(parts.size() == 3);
  CHECK(parts[1]["image_url"]["url"].get<std::string>().starts_with("data:image/png;base64,"));
  CHECK(parts[2]["image_url"]["url"] == "https://example.org/cat.png");
  const Json exchange = Json::parse(user.run({"logs", "-n", "1", "--json"}).out)[0];
  CHECK(exchange["attachments"] == Json::array({"stdin", "https://example.org/cat.png"}));
}

TEST_CASE("ask: binary standard input without -a -, and unreadable attachments, are exit 2") {
  AskWorld world;
  AskUser user(world.config(), world.askd().port());
  AskResult png = user.run({"--tiny", "describe"}, history_test_png());
  CHECK(png.code == 2);
  CHECK(png.out.empty());
  CHECK(contains(png.err, "standard input is a PNG image: attach it with -a -"));
  AskResult pdf = user.run({"--tiny", "summarise"}, std::string("%PDF-1.7\n\x00\x01\x02", 12));
  CHECK(pdf.code == 2);
  CHECK(contains(pdf.err, "PDF"));
  AskResult missing = user.run({"--tiny", "-a", "/nonexistent/photo.png", "what?"});
  CHECK(missing.code == 2);
  CHECK(contains(missing.err, "-a /nonexistent/photo.png: No such file or directory"));
  const std::string image = write_history_test_file(user, "pixel.png", history_test_png());
  AskResult fragment_image = user.run({"--tiny", "-f", image, "what?"});
  CHECK(fragment_image.code == 2);
  CHECK(world.askd().log_lines().empty()); // nothing was sent
  CHECK(user.last_line()["error_kind"] == "usage");
}

TEST_CASE("ask: a cache another process holds locked is waited for a bounded time, then skipped") {
  AskWorld world;
  AskUser user(world.config(), world.askd().port());
  REQUIRE(user.run({"--tiny", "warm the cache"}).code == 0);
  // Another process takes the cache's write lock for good.
  int ready[2];
  REQUIRE(::pipe(ready) == 0);
  const pid_t holder = ::fork();
  REQUIRE(holder >= 0);
  if (holder == 0) {
    try {
      SQLite::Database db(user.cache_file().string(), SQLite::OPEN_READWRITE);
      db.exec("PRAGMA locking_mode=EXCLUSIVE");
      db.exec("BEGIN EXCLUSIVE");
      db.exec("INSERT INTO entries SELECT * FROM entries WHERE 0");
      (void)!::write(ready[1], "x", 1);
      ::pause();
    } catch (...) {
    }
    ::_exit(1);
  }
  char c = 0;
  REQUIRE(::read(ready[0], &c, 1) == 1);
  const auto t0 = std::chrono::steady_clock::now();
  AskResult r = user.run({"--tiny", "--timeout", "1s", "while locked"});
  const double took = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  ::kill(holder, SIGKILL);
  ::waitpid(holder, nullptr, 0);
  ::close(ready[0]);
  ::close(ready[1]);
  REQUIRE_MESSAGE(r.code == 0, r.err); // answered by the model, without the cache
  CHECK_FALSE(r.out.empty());
  CHECK(contains(r.err, "locked by another process"));
  CHECK(contains(r.err, "answering without the cache"));
  CHECK(took < 5.0); // --timeout 1s bounds the wait (the default bound is 3 s)
}

TEST_CASE("ask on a terminal: a broken stream keeps its text and ends with a clear line") {
  AskWorld world;
  AskUser user(world.config(), world.askd().port());
  PtyOptions options;
  options.env = user.environment();
  options.env.emplace_back("NO_COLOR=1");
  PtyResult r = run_on_pty({ASK_PATH, "--tiny", "[[sim: drop_after=3]] break off"}, options);
  CHECK(r.code == 1);
  const std::string tty = pty_lines(r.tty);
  CAPTURE(tty);
  const auto incomplete = tty.find("[the answer is incomplete: it broke off after ");
  REQUIRE(incomplete != std::string::npos);
  CHECK(tty.find("ask: ", incomplete) != std::string::npos);
  CHECK(incomplete > 10); // the words came first
  CHECK(cache_counts(user).entries == 0);
}
