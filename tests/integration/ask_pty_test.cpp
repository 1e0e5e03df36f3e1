// run_on_pty (tests/integration/pty_process.h) against small programs, then the real ask on a
// terminal: the answer, the progress line and its erasure, and `ask … | cat` typed at a
// terminal (stdout a pipe, stderr the terminal).

#include <doctest/doctest.h>

#include <algorithm>
#include <csignal>

#include "tests/integration/ask_process.h"
#include "tests/integration/pty_process.h"

using ask::testing::AskUser;
using ask::testing::AskWorld;
using ask::testing::pty_lines;
using ask::testing::PtyOptions;
using ask::testing::PtyResult;
using ask::testing::run_on_pty;

namespace {

PtyResult pty_sh(const std::string& script, const PtyOptions& options = {}) {
  return run_on_pty({"/bin/sh", "-c", script}, options);
}

// The progress line's first frame ("⠋ fast-9b 0.0s") and its erasure before the answer.
constexpr std::string_view k_pty_first_frame = "\xE2\xA0\x8B fast-9b";
constexpr std::string_view k_pty_erase = "\r\033[K";

bool pty_has(const std::string& text, std::string_view part) {
  return text.find(part) != std::string::npos;
}

} // namespace

TEST_CASE("run_on_pty: stdout and stderr are the controlling terminal, 80x24, and stdin is not") {
  PtyResult r = pty_sh("test -t 1 && test -t 2 && ! test -t 0 && stty size </dev/tty && "
                       "echo to-stderr >&2");
  CHECK(r.code == 0);
  CHECK_FALSE(r.timed_out);
  CHECK(r.tty == "24 80\r\nto-stderr\r\n");
  CHECK(r.pipe.empty());
  CHECK(pty_lines(r.tty) == "24 80\nto-stderr\n");

  PtyOptions wide;
  wide.columns = 132;
  wide.rows = 50;
  CHECK(pty_sh("stty size </dev/tty", wide).tty == "50 132\r\n");
}

TEST_CASE("run_on_pty: stdout on a pipe while stderr stays the terminal") {
  PtyOptions options;
  options.stdout_to_pipe = true;
  PtyResult r = pty_sh("echo out; test -t 1 || echo stdout-not-a-tty >&2; test -t 2 && echo "
                       "stderr-tty >&2",
                       options);
  CHECK(r.code == 0);
  CHECK(r.pipe == "out\n"); // a pipe: no "\r\n"
  CHECK(r.tty == "stdout-not-a-tty\r\nstderr-tty\r\n");
}

TEST_CASE("run_on_pty: standard input is the given text, else /dev/null") {
  PtyOptions options;
  options.stdin_text = "line one\nline two\n";
  CHECK(pty_lines(run_on_pty({"/bin/cat"}, options).tty) == "line one\nline two\n");
  PtyResult empty = run_on_pty({"/bin/cat"});
  CHECK(empty.code == 0);
  CHECK(empty.tty.empty());
}

TEST_CASE("run_on_pty: exit codes, signals, the environment") {
  CHECK(pty_sh("exit 3").code == 3);
  PtyResult killed = pty_sh("kill -TERM $$");
  CHECK(killed.code == -1);
  CHECK(killed.signal == SIGTERM);

  PtyOptions options;
  options.env = {"PTY_TEST_VALUE=a b", "HOME"};
  PtyResult env = pty_sh("echo \"[$PTY_TEST_VALUE] [${HOME-unset}] [$TERM]\"", options);
  CHECK(env.tty == "[a b] [unset] [xterm-256color]\r\n");
  options.env = {"TERM=dumb"};
  CHECK(pty_sh("echo $TERM", options).tty == "dumb\r\n");
}

TEST_CASE("run_on_pty: output written just before exit is all read (Linux: EIO at the end)") {
  PtyResult r = pty_sh("i=0; while [ $i -lt 5000 ]; do i=$((i + 1)); echo line-$i; done");
  REQUIRE(r.code == 0);
  const std::string text = pty_lines(r.tty);
  CHECK(text.starts_with("line-1\nline-2\n"));
  CHECK(text.ends_with("\nline-5000\n"));
  CHECK(std::ranges::count(text, '\n') == 5000);
}

TEST_CASE("run_on_pty: a child that closed its output and goes on is not hung up") {
  // The master reads EIO as soon as the terminal's last descriptor is closed; closing the
  // master then would send the child SIGHUP while it is still at work (ask writing its cache
  // after the answer).
  PtyResult r = pty_sh("echo bye; exec >&- 2>&-; i=0; while [ $i -lt 30000 ]; do i=$((i + 1)); "
                       "done; exit 7");
  CHECK(r.signal == 0);
  CHECK(r.code == 7);
  CHECK(r.tty == "bye\r\n");
}

TEST_CASE("run_on_pty: a child still running at the timeout is killed") {
  PtyOptions options;
  options.timeout = std::chrono::milliseconds(300);
  PtyResult r = pty_sh("echo started; exec sleep 30", options);
  CHECK(r.timed_out);
  CHECK(r.code == -1);
  CHECK(r.signal == SIGKILL);
  CHECK(r.tty == "started\r\n");
}

TEST_CASE("run_on_pty: a program that cannot be run is an exception, not a result") {
  CHECK_THROWS_AS(run_on_pty({"/nonexistent/program"}), std::runtime_error);
}

TEST_CASE("ask --version on a terminal") {
  PtyResult r = run_on_pty({ASK_PATH, "--version"});
  CHECK(r.code == 0);
  CHECK(r.tty.starts_with("ask "));
  CHECK(r.tty.ends_with("\r\n"));
}

TEST_CASE("ask on a terminal: the answer after a progress line that is erased") {
  AskWorld world;
  AskUser user(world.config(), world.askd().port());
  // ttft: the first byte comes late enough for the progress line to be drawn.
  const std::string prompt = "[[sim: ttft=300ms]] hello";
  auto plain = user.run({"--9b", "--no-cache", prompt});
  REQUIRE_MESSAGE(plain.code == 0, plain.err);
  REQUIRE(plain.out.size() > 1);

  PtyOptions options;
  options.env = user.environment();
  PtyResult r = run_on_pty({ASK_PATH, "--9b", "--no-cache", prompt}, options);
  REQUIRE_MESSAGE(r.code == 0, r.tty);
  const std::string tty = pty_lines(r.tty);
  CHECK(pty_has(tty, k_pty_first_frame));
  const std::size_t erased = tty.find(k_pty_erase);
  REQUIRE(erased != std::string::npos);
  CHECK(tty.find(plain.out) > erased); // the answer comes after the erasure

  SUBCASE("ask … | cat at a terminal: stdout is only the answer, the progress goes to stderr") {
    options.stdout_to_pipe = true;
    PtyResult piped = run_on_pty({ASK_PATH, "--9b", "--no-cache", prompt}, options);
    REQUIRE_MESSAGE(piped.code == 0, piped.tty);
    CHECK(piped.pipe == plain.out);
    CHECK(pty_has(piped.tty, k_pty_first_frame));
    CHECK(pty_has(piped.tty, k_pty_erase));
    CHECK_FALSE(pty_has(piped.tty, plain.out));
  }
}
