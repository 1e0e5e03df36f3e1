#include "router/inventory.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

namespace {

using ask::core::ErrorKind;
using ask::router::system_tool_runner;
using namespace std::chrono_literals;

using Clock = std::chrono::steady_clock;

std::size_t open_fds() {
  std::size_t n = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator("/proc/self/fd")) {
    ++n;
  }
  return n;
}

// True when this process has no child left to reap (every run reaped its own).
bool no_children() {
  int status = 0;
  return ::waitpid(-1, &status, WNOHANG) < 0 && errno == ECHILD;
}

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

} // namespace

TEST_CASE("system_tool_runner: returns the stdout of /bin/echo") {
  const auto out = system_tool_runner()({"/bin/echo", "hello", "world"});
  REQUIRE(out.has_value());
  CHECK(*out == "hello world\n");
  const auto via_path = system_tool_runner(2s)({"echo", "-n", "a  b"}); // PATH lookup, no shell
  REQUIRE(via_path.has_value());
  CHECK(*via_path == "a  b");
  CHECK(no_children());
}

TEST_CASE("system_tool_runner: arguments reach the program unchanged, no shell") {
  const auto out = system_tool_runner(2s)({"/bin/echo", "$HOME", "*", "a;b", "`x`"});
  REQUIRE(out.has_value());
  CHECK(*out == "$HOME * a;b `x`\n");
}

TEST_CASE("system_tool_runner: a non-zero exit status is an error naming the status") {
  const auto out = system_tool_runner(2s)({"/bin/sh", "-c", "exit 3"});
  REQUIRE(!out.has_value());
  CHECK(out.error().kind == ErrorKind::internal);
  CHECK(out.error().message == "/bin/sh: exited with status 3");
  CHECK(no_children());
}

TEST_CASE("system_tool_runner: a failing tool that complains on stdout is quoted from stdout") {
  // nvidia-smi prints "Failed to initialize NVML: Driver/library version mismatch" on stdout
  // and exits 18 (the recorded message, tests/fixtures/gpu/).
  const std::string fixture =
      std::string(ASK_SOURCE_DIR) + "/tests/fixtures/gpu/nvidia-smi-error-nvml-mismatch-old.txt";
  const auto out = system_tool_runner(2s)({"/bin/sh", "-c", "cat \"$0\"; exit 18", fixture});
  REQUIRE(!out.has_value());
  CHECK(out.error().kind == ErrorKind::internal);
  CHECK(
      out.error().message ==
      "/bin/sh: exited with status 18: Failed to initialize NVML: Driver/library version mismatch");
  // stderr, when it says something, is preferred; blank lines and banner rules are skipped.
  const auto both = system_tool_runner(2s)(
      {"/bin/sh", "-c", R"(echo from stdout; printf '\n=====\n  the reason  \n' >&2; exit 4)"});
  REQUIRE(!both.has_value());
  CHECK(both.error().message == "/bin/sh: exited with status 4: the reason");
  const auto quiet = system_tool_runner(2s)({"/bin/sh", "-c", "printf '\\n \\n'; exit 5"});
  REQUIRE(!quiet.has_value());
  CHECK(quiet.error().message == "/bin/sh: exited with status 5");
}

TEST_CASE("system_tool_runner: exit status 127 from the tool itself is not 'not installed'") {
  const auto out = system_tool_runner(2s)({"/bin/sh", "-c", "exit 127"});
  REQUIRE(!out.has_value());
  CHECK(out.error().kind == ErrorKind::internal);
  CHECK(out.error().message == "/bin/sh: exited with status 127");
}

TEST_CASE("system_tool_runner: stderr stays out of stdout - its first line goes in the error") {
  const auto ok = system_tool_runner(2s)({"/bin/sh", "-c", "echo out; echo noise >&2"});
  REQUIRE(ok.has_value());
  CHECK(*ok == "out\n");
  const auto bad = system_tool_runner(2s)(
      {"/bin/sh", "-c", R"(printf '\n  NVML: driver not loaded\r\nsecond line\n' >&2; exit 9)"});
  REQUIRE(!bad.has_value());
  CHECK(bad.error().message == "/bin/sh: exited with status 9: NVML: driver not loaded");
}

TEST_CASE("system_tool_runner: the tool's words in the error are bounded and printable") {
  const auto out = system_tool_runner(2s)(
      {"/bin/sh", "-c", "head -c 100000 /dev/zero | tr '\\0' x >&2; exit 1"});
  REQUIRE(!out.has_value());
  const std::string prefix = "/bin/sh: exited with status 1: ";
  CHECK(out.error().message == prefix + std::string(200, 'x') + "...");
  const auto from_stdout =
      system_tool_runner(2s)({"/bin/sh", "-c", "head -c 100000 /dev/zero | tr '\\0' y; exit 1"});
  REQUIRE(!from_stdout.has_value());
  CHECK(from_stdout.error().message == prefix + std::string(200, 'y') + "...");
  const auto binary =
      system_tool_runner(2s)({"/bin/sh", "-c", "printf 'bad\\001\\377' >&2; exit 1"});
  REQUIRE(!binary.has_value());
  CHECK(binary.error().message == prefix + "bad\\x01\\xff");
}

TEST_CASE("system_tool_runner: a command's variables are set on top of askd's environment") {
  using ask::router::ToolCommand;
  ::setenv("ASK_TOOL_RUNNER_KEPT", "kept", 1);
  ::setenv("ASK_TOOL_RUNNER_REPLACED", "old", 1);
  const auto out = system_tool_runner(2s)(ToolCommand(
      {"/bin/sh", "-c",
       R"(printf '%s|%s|%s' "$ASK_TOOL_RUNNER_KEPT" "$ASK_TOOL_RUNNER_REPLACED" "$ASK_NEW")"},
      {{"ASK_TOOL_RUNNER_REPLACED", "new"}, {"ASK_NEW", "a b=c"}}));
  REQUIRE(out.has_value());
  CHECK(*out == "kept|new|a b=c");
  const auto plain =
      system_tool_runner(2s)({"/bin/sh", "-c", "printf %s \"$ASK_TOOL_RUNNER_REPLACED\""});
  REQUIRE(plain.has_value());
  CHECK(*plain == "old");
  ::unsetenv("ASK_TOOL_RUNNER_KEPT");
  ::unsetenv("ASK_TOOL_RUNNER_REPLACED");
}

TEST_CASE("system_tool_runner: stderr joins the output, in order, when the command asks") {
  using ask::router::ToolCommand;
  const auto merged = system_tool_runner(2s)(
      ToolCommand({"/bin/sh", "-c", "echo one; echo two >&2; echo three"}, {}, true));
  REQUIRE(merged.has_value());
  CHECK(*merged == "one\ntwo\nthree\n");
  const auto apart = system_tool_runner(2s)(
      ToolCommand({"/bin/sh", "-c", "echo one; echo two >&2; echo three"}, {}, false));
  REQUIRE(apart.has_value());
  CHECK(*apart == "one\nthree\n");
}

TEST_CASE("system_tool_runner: a program not on PATH is not_found") {
  const auto missing = system_tool_runner(2s)({"ask-no-such-tool-6f3a", "--version"});
  REQUIRE(!missing.has_value());
  CHECK(missing.error().kind == ErrorKind::not_found);
  CHECK(missing.error().message == "ask-no-such-tool-6f3a: not installed (not found on PATH)");
  const auto absent_path = system_tool_runner(2s)({"/nonexistent/dir/nvidia-smi"});
  REQUIRE(!absent_path.has_value());
  CHECK(absent_path.error().kind == ErrorKind::not_found);
  CHECK(no_children());
}

TEST_CASE("system_tool_runner: a file that cannot be executed is an internal error") {
  const auto dir =
      std::filesystem::temp_directory_path() / ("ask-tool-runner-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const auto file = dir / "not-executable";
  std::ofstream(file) << "#!/bin/sh\necho hi\n";
  std::filesystem::permissions(file, std::filesystem::perms::owner_read |
                                         std::filesystem::perms::owner_write);
  const auto out = system_tool_runner(2s)({file.string()});
  std::filesystem::remove_all(dir);
  REQUIRE(!out.has_value());
  CHECK(out.error().kind == ErrorKind::internal);
  CHECK(out.error().message == file.string() + ": cannot run: Permission denied");
}

TEST_CASE("system_tool_runner: a program that overruns the timeout is killed and reaped") {
  const auto start = Clock::now();
  const auto out = system_tool_runner(300ms)({"/bin/sleep", "10"});
  REQUIRE(!out.has_value());
  CHECK(out.error().kind == ErrorKind::timeout);
  CHECK(out.error().message == "/bin/sleep: timed out after 300 ms");
  CHECK(seconds_since(start) < 3.0);
  CHECK(no_children());
}

TEST_CASE("system_tool_runner: the timeout holds when the program closes stdout and stays") {
  const auto start = Clock::now();
  const auto out = system_tool_runner(300ms)({"/bin/sh", "-c", "exec >&- 2>&-; exec sleep 10"});
  REQUIRE(!out.has_value());
  CHECK(out.error().kind == ErrorKind::timeout);
  CHECK(seconds_since(start) < 3.0);
  CHECK(no_children());
}

TEST_CASE("system_tool_runner: stdin is /dev/null, so a reader sees end of input") {
  const auto out = system_tool_runner(2s)({"/bin/cat"});
  REQUIRE(out.has_value());
  CHECK(out->empty());
}

TEST_CASE("system_tool_runner: 8 MiB of output is kept, more is an error") {
  const auto exact = system_tool_runner(10s)({"head", "-c", "8388608", "/dev/zero"});
  REQUIRE(exact.has_value());
  CHECK(exact->size() == 8388608);
  const auto big = system_tool_runner(10s)({"head", "-c", "9000000", "/dev/zero"});
  REQUIRE(!big.has_value());
  CHECK(big.error().kind == ErrorKind::internal);
  CHECK(big.error().message == "head: output too large (over 8 MiB)");
  const auto endless = system_tool_runner(10s)({"cat", "/dev/zero"});
  REQUIRE(!endless.has_value());
  CHECK(endless.error().message == "cat: output too large (over 8 MiB)");
  CHECK(no_children());
}

TEST_CASE("system_tool_runner: a program killed by a signal says which") {
  const auto out = system_tool_runner(2s)({"/bin/sh", "-c", "kill -9 $$"});
  REQUIRE(!out.has_value());
  CHECK(out.error().message == "/bin/sh: killed by signal 9");
}

TEST_CASE("system_tool_runner: an empty command is refused") {
  const auto none = system_tool_runner(2s)({});
  REQUIRE(!none.has_value());
  CHECK(none.error().kind == ErrorKind::bad_request);
  const auto blank = system_tool_runner(2s)({""});
  REQUIRE(!blank.has_value());
  CHECK(blank.error().kind == ErrorKind::bad_request);
}

TEST_CASE("system_tool_runner: no descriptor leaks across runs of every outcome") {
  const auto run = system_tool_runner(300ms);
  (void)run({"/bin/echo", "warm"});
  const std::size_t before = open_fds();
  for (int i = 0; i < 3; ++i) {
    (void)run({"/bin/echo", "x"});
    (void)run({"ask-no-such-tool-6f3a"});
    (void)run({"/bin/sh", "-c", "exit 2"});
    (void)run({"/bin/sleep", "5"});
  }
  CHECK(open_fds() == before);
  CHECK(no_children());
}

TEST_CASE("system_tool_runner: the child inherits none of the runner's pipes") {
  // The child may hold 0, 1, 2, whatever this process left inheritable, and the directory
  // that ls opens to list itself: nothing more.
  std::size_t inheritable = 0;
  for (const auto& e : std::filesystem::directory_iterator("/proc/self/fd")) {
    const int fd = std::stoi(e.path().filename().string());
    const int flags = ::fcntl(fd, F_GETFD);
    if (fd > 2 && flags >= 0 && (flags & FD_CLOEXEC) == 0) {
      ++inheritable;
    }
  }
  const auto out = system_tool_runner(2s)({"ls", "-1", "/proc/self/fd"});
  REQUIRE(out.has_value());
  const auto lines = static_cast<std::size_t>(std::count(out->begin(), out->end(), '\n'));
  for (const char* fd : {"0\n", "1\n", "2\n"}) {
    CHECK(("\n" + *out).find(std::string("\n") + fd) != std::string::npos);
  }
  CHECK(lines == 3 + inheritable + 1);
}
