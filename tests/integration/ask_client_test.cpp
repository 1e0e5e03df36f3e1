// The real ask binary against a real askd and llm-sim backends: choosing the model, the
// prompt from arguments and stdin, what goes to stdout and stderr, and every exit code.
#include <doctest/doctest.h>

#include <csignal>
#include <cstdlib>

#include <fcntl.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "tests/integration/ask_harness.h" // last_request, lines_of
#include "tests/integration/ask_process.h"
#include "tests/support/eventually.h"

using namespace ask::testing;

namespace {

// Runs ask with stdout and stderr on a pseudo-terminal (as at a person's terminal; stdin is
// /dev/null) and returns everything it wrote there, and its exit code.
// `env` is the whole environment (fork and execve: a terminal cannot go through
// ChildProcess's pipes).
std::pair<int, std::string> run_on_terminal(std::vector<std::string> args,
                                            std::vector<std::string> env) {
  int master = ::posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
  REQUIRE(master >= 0);
  REQUIRE(::grantpt(master) == 0);
  REQUIRE(::unlockpt(master) == 0);
  const std::string slave_name = ::ptsname(master);
  args.insert(args.begin(), ASK_PATH);
  std::vector<char*> argv;
  argv.reserve(args.size() + 1);
  for (std::string& a : args) {
    argv.push_back(a.data());
  }
  argv.push_back(nullptr);
  std::vector<std::string> env_text = std::move(env);
  std::vector<char*> envp;
  envp.reserve(env_text.size() + 1);
  for (std::string& e : env_text) {
    envp.push_back(e.data());
  }
  envp.push_back(nullptr);
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    ::setsid();
    int slave = ::open(slave_name.c_str(), O_RDWR);
    int null = ::open("/dev/null", O_RDONLY);
    if (slave < 0 || null < 0) {
      ::_exit(127);
    }
    ::dup2(null, 0);
    ::dup2(slave, 1);
    ::dup2(slave, 2);
    ::execve(argv[0], argv.data(), envp.data());
    ::_exit(127);
  }
  std::string out;
  char buf[4096];
  for (;;) {
    ssize_t n = ::read(master, buf, sizeof buf);
    if (n <= 0) {
      break; // EIO once the child and its terminal are gone
    }
    out.append(buf, static_cast<std::size_t>(n));
  }
  ::close(master);
  int status = 0;
  ::waitpid(pid, &status, 0);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

} // namespace

TEST_CASE("ask: a tier flag, the default tier, -m and an alias choose the model") {
  AskWorld world;
  AskUser user(world.config(), world.askd().port());

  AskResult nine = user.run({"--9b", "name", "a", "colour"});
  REQUIRE_MESSAGE(nine.code == 0, nine.err);
  CHECK(nine.err.empty()); // off a terminal: nothing decorative
  REQUIRE(nine.out.size() > 1);
  CHECK(nine.out.back() == '\n');
  CHECK(last_request(world.ollama())["model"] == "qwen3.5:9b");
  CHECK(user.last_line()["model"] == "fast-9b");
  CHECK(user.last_line()["tier"] == "9b");

  AskResult tiny = user.run({"--tiny", "name a colour"}); // a tier the config defines
  REQUIRE_MESSAGE(tiny.code == 0, tiny.err);
  CHECK(last_request(world.llama())["model"] == "gemma-3-1b-it-Q4_K_M");
  CHECK(user.last_line()["served_by"] == "fast-1b");

  AskResult plain = user.run({"what is the default?"});
  REQUIRE(plain.code == 0);
  CHECK(user.last_line()["model"] == "fast-9b");
  CHECK(user.last_line()["tier"] == "9b");

  AskResult alias = user.run({"-m", "fast", "via an alias"});
  REQUIRE(alias.code == 0);
  CHECK(user.last_line()["model"] == "fast-9b");
  CHECK(user.last_line()["requested"] == "fast");
  CHECK(user.last_line()["tier"].is_null());
}

TEST_CASE("ask: -m follows askd's runtime aliases, which win over the config's") {
  AskWorld world;
  AskUser user(world.config(), world.askd().port());
  // Set on askd while it runs (the operator page does the same): unknown to ask's config.
  REQUIRE(world.askd().request("PUT", "/api/aliases/quick", R"({"model": "fast-1b"})").status ==
          200);
  AskResult quick = user.run({"-m", "quick", "via a runtime alias"});
  REQUIRE_MESSAGE(quick.code == 0, quick.err);
  CHECK(quick.err.empty()); // not degraded: askd says quick is fast-1b
  CHECK(user.last_line()["served_by"] == "fast-1b");
  CHECK(user.last_line()["requested"] == "quick");

  // The config's alias re-pointed on askd: askd's meaning is the one that counts.
  REQUIRE(world.askd().request("PUT", "/api/aliases/fast", R"({"model": "fast-1b"})").status ==
          200);
  AskResult fast = user.run({"-m", "fast", "via a re-pointed alias"});
  REQUIRE_MESSAGE(fast.code == 0, fast.err);
  CHECK(fast.err.empty());
  CHECK(user.last_line()["served_by"] == "fast-1b");
  CHECK(user.last_line()["demoted"] == false);
}

TEST_CASE("ask: the prompt is the arguments, then a blank line, then standard input") {
  AskWorld world;
  AskUser user(world.config(), world.askd().port());
  AskResult r = user.run({"--9b", "-s", "be terse", "write a commit message for:"},
                         std::string("+ added a line\n- removed one\n"));
  REQUIRE_MESSAGE(r.code == 0, r.err);
  Json sent = last_request(world.ollama());
  REQUIRE(sent["messages"].size() == 2);
  CHECK(sent["messages"][0]["role"] == "system");
  CHECK(sent["messages"][0]["content"] == "be terse");
  CHECK(sent["messages"][1]["content"] ==
        "write a commit message for:\n\n+ added a line\n- removed one");

  AskResult piped_only = user.run({"--9b"}, std::string("just the piped text\n"));
  REQUIRE(piped_only.code == 0);
  CHECK(last_request(world.ollama())["messages"][0]["content"] == "just the piped text");
}

TEST_CASE("ask: --temperature and --max-tokens reach the backend - --json prints the response") {
  AskWorld world;
  AskUser user(world.config(), world.askd().port());
  AskResult r = user.run({"--tiny", "--temperature", "0.2", "--max-tokens", "5", "--json", "q"});
  REQUIRE_MESSAGE(r.code == 0, r.err);
  Json sent = last_request(world.llama());
  CHECK(sent["temperature"] == 0.2);
  CHECK(sent["max_tokens"] == 5);
  CHECK(sent["stream"] == false);
  Json out = Json::parse(r.out);
  CHECK(out["object"] == "chat.completion");
  CHECK(out["model"] == "fast-1b");
  CHECK(out["choices"][0]["message"]["content"].is_string());
  CHECK(out["usage"]["completion_tokens"].is_number_integer());
}

TEST_CASE("ask: a demoted answer says so once on stderr, and stdout stays the answer") {
  AskWorld world;
  AskUser user(world.config(), world.askd().port());
  world.stop_ollama();
  AskResult r = user.run({"--9b", "are you there?"});
  REQUIRE_MESSAGE(r.code == 0, r.err);
  CHECK(r.out.find('[') == std::string::npos);
  CHECK(lines_of(r.err) ==
        std::vector<std::string>{"[degraded: fast-9b → fast-1b (backend down)]"});
  Json line = user.last_line();
  CHECK(line["demoted"] == true);
  CHECK(line["served_by"] == "fast-1b");
  CHECK(line["fallback_path"] == "fast-9b>fast-3b>fast-1b");
}

TEST_CASE("ask: exit codes for usage errors (2)") {
  AskWorld world;
  AskUser user(world.config(), world.askd().port());
  AskResult flag = user.run({"--8b", "q"});
  CHECK(flag.code == 2);
  CHECK(flag.err.find("--8b") != std::string::npos);
  CHECK(flag.err.find("--9b") != std::string::npos); // the tiers are named
  CHECK(flag.out.empty());

  AskResult empty = user.run({"--9b"});
  CHECK(empty.code == 2);
  CHECK(empty.err.find("no prompt") != std::string::npos);

  AskResult unknown = user.run({"-m", "fast-2b", "q"});
  CHECK(unknown.code == 2);
  CHECK(unknown.err.find("fast-2b") != std::string::npos);
  CHECK(user.last_line()["error_kind"] == "rejected"); // askd's 404 names the known models

  AskResult both = user.run({"--9b", "--tiny", "q"});
  CHECK(both.code == 2);
  AskResult bad_timeout = user.run({"--timeout", "soon", "q"});
  CHECK(bad_timeout.code == 2);
}

TEST_CASE("ask: askd unreachable is exit 3, with the address in the message") {
  AskWorld world;
  AskUser user(world.config(), closed_port());
  AskResult r = user.run({"--9b", "q"});
  CHECK(r.code == 3);
  CHECK(r.err.find("cannot reach askd at http://127.0.0.1:") != std::string::npos);
  CHECK(r.out.empty());
  CHECK(user.last_line()["error_kind"] == "unreachable");
  CHECK(user.last_line()["exit_code"] == 3);
}

TEST_CASE("ask: every model of the chain failing is exit 4, each failure named") {
  AskWorld world;
  AskUser user(world.config(), world.askd().port());
  AskResult r = user.run({"--9b", "[[sim: status=503]] q"});
  CHECK(r.code == 4);
  CHECK(r.err.find("fast-9b") != std::string::npos);
  CHECK(r.err.find("fast-1b") != std::string::npos);
  CHECK(r.out.empty());
  CHECK(user.last_line()["error_kind"] == "all_failed");
}

TEST_CASE("ask: --timeout is exit 5, and the backend sees the request cancelled") {
  AskWorld world;
  AskUser user(world.config(), world.askd().port());
  AskResult r = user.run({"--tiny", "--timeout", "300ms", "[[sim: ttft=5s]] slow"});
  CHECK(r.code == 5);
  CHECK(r.err.find("timed out") != std::string::npos);
  CHECK(user.last_line()["error_kind"] == "timeout");
  CHECK(user.last_line()["latency_s"].get<double>() < 3.0);
  Json stats =
      world.llama().get_json("/sim/stats?until=client_disconnects&at_least=1&timeout_ms=5000");
  CHECK(stats["client_disconnects"] == 1);
}

TEST_CASE("ask: SIGINT while waiting is exit 130 - the request is cancelled and logged") {
  AskWorld world;
  AskUser user(world.config(), world.askd().port());
  auto child = user.start({"--tiny", "[[sim: hang]] never answered"});
  Json waiting = world.llama().get_json("/sim/stats?until=in_flight&at_least=1&timeout_ms=10000");
  REQUIRE(waiting["in_flight"] == 1);
  child->signal(SIGINT);
  AskResult r = finish(*child, std::chrono::seconds(10));
  CHECK(r.code == 130);
  Json stats =
      world.llama().get_json("/sim/stats?until=client_disconnects&at_least=1&timeout_ms=5000");
  CHECK(stats["client_disconnects"] == 1);
  CHECK(user.last_line()["error_kind"] == "interrupted");
  CHECK(user.last_line()["exit_code"] == 130);
}

TEST_CASE("ask: with api_keys a missing key is exit 2 - --api-key and $ASK_API_KEY work") {
  AskWorld world(Json{{"api_keys", {"sk-test-0123456789abcdef"}}});
  AskUser user(world.config(), world.askd().port());
  AskResult none = user.run({"--tiny", "q"});
  CHECK(none.code == 2);
  CHECK(none.err.find("API key") != std::string::npos);
  CHECK(user.run({"--tiny", "--api-key", "sk-test-0123456789abcdef", "q"}).code == 0);
  CHECK(user.run({"--tiny", "q2"}, std::nullopt, {"ASK_API_KEY=sk-test-0123456789abcdef"}).code ==
        0);
  for (const std::string& line : user.log_text_lines()) {
    CHECK(line.find("sk-test") == std::string::npos); // never logged
  }
}

TEST_CASE("ask: --show-thinking puts the reasoning on stderr - without it, it is hidden") {
  AskWorld world;
  AskUser user(world.config(), world.askd().port());
  AskResult hidden = user.run({"--think", "why?"});
  REQUIRE_MESSAGE(hidden.code == 0, hidden.err);
  CHECK(hidden.err.empty());
  AskResult shown = user.run({"--think", "--show-thinking", "--no-cache", "why?"});
  REQUIRE(shown.code == 0);
  CHECK_FALSE(shown.err.empty());
  CHECK(shown.out == hidden.out); // the answer itself is the same
}

TEST_CASE("ask models lists askd's models with backend and state") {
  AskWorld world;
  AskUser user(world.config(), world.askd().port());
  REQUIRE(user.run({"--9b", "warm it up"}).code == 0);
  AskResult r = user.run({"models"});
  REQUIRE_MESSAGE(r.code == 0, r.err);
  bool found = false;
  for (const std::string& line : lines_of(r.out)) {
    if (line.starts_with("fast-9b ")) {
      found = true;
      CHECK(line.find("ollama") != std::string::npos);
      CHECK(line.find("loaded until") != std::string::npos);
    }
  }
  CHECK(found);
  Json list = Json::parse(user.run({"models", "--json"}).out);
  CHECK(list["data"].is_array());
}

TEST_CASE("ask on a terminal: a progress line that is erased, colour unless NO_COLOR") {
  AskWorld world;
  AskUser user(world.config(), world.askd().port());
  world.stop_ollama();
  const std::string d = user.dir().string();
  std::vector<std::string> env = {"HOME=" + d,
                                  "XDG_CACHE_HOME=" + d + "/cache",
                                  "XDG_DATA_HOME=" + d + "/data",
                                  "TERM=xterm",
                                  "ASK_CONFIG=" + (user.dir() / "config.jsonc").string(),
                                  "ASK_URL=http://127.0.0.1:" + std::to_string(world.askd().port()),
                                  "PATH=/usr/bin:/bin"};
  auto [code, text] = run_on_terminal({"--9b", "[[sim: ttft=300ms]] slow start"}, env);
  REQUIRE_MESSAGE(code == 0, text);
  CHECK(text.find("\xE2\xA0\x8B fast-9b") != std::string::npos); // "⠋ fast-9b 0.0s"
  CHECK(text.find("\r\033[K") != std::string::npos);             // erased before the answer
  CHECK(text.find("\033[33m[degraded: fast-9b \xE2\x86\x92 fast-1b (backend down)]\033[0m") !=
        std::string::npos);

  env.emplace_back("NO_COLOR=1");
  auto [code2, plain] =
      run_on_terminal({"--9b", "--no-cache", "[[sim: ttft=300ms]] slow start"}, env);
  REQUIRE(code2 == 0);
  CHECK(plain.find("[degraded: fast-9b \xE2\x86\x92 fast-1b (backend down)]") != std::string::npos);
  CHECK(plain.find("\033[33m") == std::string::npos);
  CHECK(plain.find("\033[0m") == std::string::npos);

  auto [code3, cached] = run_on_terminal({"-m", "fast-1b", "[[sim: ttft=300ms]] slow start"}, env);
  REQUIRE(code3 == 0);
  CHECK(cached.find("[cached: fast-1b") != std::string::npos); // a hit is never silent here
}

TEST_CASE("ask --council: a shrunken council is noted - degraded only for the chairman") {
  AskWorld world;
  AskUser user(world.config(), world.askd().port());
  world.stop_ollama(); // think-9b (a member) fails; fast-1b answers and chairs
  AskResult r = user.run({"-m", "mixed", "deliberate"});
  REQUIRE_MESSAGE(r.code == 0, r.err);
  CHECK(lines_of(r.err) == std::vector<std::string>{"[council: 1 of 2 members answered]"});
  CHECK(user.last_line()["council_members"] == "-,fast-1b");
  CHECK(user.last_line()["demoted"] == false);
}

TEST_CASE("ask: askd's resolution wins when ask's config knows less (an alias, a council)") {
  AskWorld world;
  Json thin = world.config();
  thin.erase("aliases");
  thin.erase("councils");
  thin["tiers"].erase("council");
  AskUser user(thin, world.askd().port());
  AskResult alias = user.run({"-m", "fast", "via askd's alias"});
  REQUIRE_MESSAGE(alias.code == 0, alias.err);
  CHECK(alias.err.empty()); // fast is fast-9b for askd: not a demotion
  CHECK(user.last_line()["demoted"] == false);
  AskResult council = user.run({"-m", "council", "deliberate"});
  REQUIRE_MESSAGE(council.code == 0, council.err);
  CHECK(council.err.empty());
  CHECK(user.last_line()["demoted"] == false);
  CHECK(user.last_line()["cache"] == "off"); // a council answer is never stored
  AskResult again = user.run({"-m", "think-9b", "deliberate"});
  REQUIRE(again.code == 0);
  CHECK(user.last_line()["cache_hit"] == false);
}

TEST_CASE(
    "ask: an answer from a peer askd is what was asked - the peer's own fallback is a demotion") {
  AskWorld world; // its askd is the peer, "box2"
  const std::string box2 = "http://127.0.0.1:" + std::to_string(world.askd().port());
  const Json front_cfg = {
      {"backends",
       {{"box2", {{"kind", "askd"}, {"url", box2}, {"prefix", "box2/"}}},
        {"keep", {{"kind", "askd"}, {"url", box2}, {"prefix", "keep/"}, {"peer_fallback", true}}}}},
      {"models", Json::object()}};
  AskdProcess front(front_cfg.dump(2));
  REQUIRE(eventually(
      [&] {
        const std::string listed = front.get("/v1/models").second;
        return listed.find("keep/fast-9b") != std::string::npos &&
               listed.find("box2/fast-1b") != std::string::npos;
      },
      10s, 20ms));
  AskUser user(world.config(), front.port());

  AskResult r = user.run({"-m", "box2/fast-1b", "from the other machine"});
  REQUIRE_MESSAGE(r.code == 0, r.err);
  CHECK(r.err.empty()); // fast-1b@box2 is box2/fast-1b: not degraded
  CHECK(user.last_line()["served_by"] == "fast-1b@box2");
  CHECK(user.last_line()["demoted"] == false);

  world.stop_ollama(); // fast-9b and fast-3b on box2 fail; box2 falls back to fast-1b
  AskResult kept = user.run({"-m", "keep/fast-9b", "from the other machine"});
  REQUIRE_MESSAGE(kept.code == 0, kept.err);
  CHECK(lines_of(kept.err) ==
        std::vector<std::string>{"[degraded: keep/fast-9b → fast-1b@keep (backend down)]"});
  CHECK(user.last_line()["demoted"] == true);
}
