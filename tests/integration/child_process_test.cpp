// The test-support process helper, against real processes.

#include "tests/support/child_process.h"

#include <doctest/doctest.h>

#include <csignal>

using namespace ask::testing;
using namespace std::chrono_literals;

TEST_CASE("port_from_listening_line: llama-server, llm-sim and Ollama lines") {
  CHECK(port_from_listening_line(
            "0.00.104.802 I srv  llama_server: listening on http://127.0.0.1:18431") == 18431);
  CHECK(port_from_listening_line("llm-sim: bound http://127.0.0.1:40001") == 40001);
  CHECK(port_from_listening_line(
            R"x(time=x level=INFO msg="Listening on 127.0.0.1:11434 (version 0.32.7)")x") == 11434);
  CHECK(port_from_listening_line("listening on http://[::1]:8080") == 8080);
  CHECK(!port_from_listening_line("model loaded"));
  CHECK(!port_from_listening_line("listening on http://127.0.0.1:99999"));
}

TEST_CASE("ChildProcess: captures stdout and stderr and reports the exit status") {
  ChildProcess p({"/bin/sh", "-c", "echo out; echo err >&2; exit 3"});
  auto status = p.wait_exit(5000ms);
  REQUIRE(status);
  CHECK(status->exited);
  CHECK(status->code == 3);
  // The readers may trail the exit: wait for both lines before looking at the buffers.
  CHECK(p.wait_for_output("^err$", 5000ms) == "err");
  CHECK(p.wait_for_output("^out$", 5000ms) == "out");
  CHECK(p.stdout_text() == "out\n");
  CHECK(p.stderr_text() == "err\n");
}

TEST_CASE("ChildProcess: wait_for_output gives up at its deadline or when output ends") {
  ChildProcess quiet({"/bin/sleep", "30"});
  CHECK(!quiet.wait_for_output("never", 50ms));
  CHECK(quiet.running());
  ChildProcess done({"/bin/true"});
  CHECK(!done.wait_for_output("never", 5000ms)); // returns when the pipes close, not at 5 s
}

TEST_CASE("ChildProcess: terminate sends SIGTERM, then SIGKILL after the grace period") {
  ChildProcess polite({"/bin/sleep", "30"});
  ExitStatus s = polite.terminate(5000ms);
  CHECK(!s.exited);
  CHECK(s.signal == SIGTERM);
  ChildProcess stubborn({"/bin/sh", "-c", "trap '' TERM; echo ready; sleep 30 & wait"});
  REQUIRE(stubborn.wait_for_output("ready", 5000ms));
  ExitStatus k = stubborn.terminate(100ms);
  CHECK(k.signal == SIGKILL);
}

TEST_CASE("ChildProcess: a missing binary throws") {
  CHECK_THROWS_AS(ChildProcess({"/nonexistent/binary"}), std::runtime_error);
}
