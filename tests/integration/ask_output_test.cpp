// The real ask binary as scripts and cron jobs meet it (issue 22): commands after the global
// options and misspelt ones, standard input that is not read, a closed pipe, who served and
// why the first model failed, an answer cut at the length limit, a prompt that fits nowhere,
// and a server that is not askd (never cached).
#include <doctest/doctest.h>

#include <fstream>

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/integration/ask_harness.h"

using namespace ask::testing;
using namespace std::chrono_literals;

namespace {

// A prompt of about `tokens` tokens by askd's estimate (four bytes a token).
std::string long_prompt(std::size_t tokens) {
  std::string text;
  while (text.size() < tokens * 4) {
    text += "lorem ipsum dolor sit amet ";
  }
  return text;
}

} // namespace

TEST_CASE("ask: commands after global options run - a lone misspelt one is refused - -- asks") {
  AskWorld world;
  AskUser user(world.config(), world.askd().port());
  const std::string url = "http://127.0.0.1:" + std::to_string(world.askd().port());
  AskResult stats = user.run({"-q", "stats"});
  CHECK(stats.code == 0);
  AskResult config_first =
      user.run({"--config", (user.dir() / "config.jsonc").string(), "stats", "--json"});
  CHECK(config_first.code == 0);
  CHECK(Json::parse(config_first.out).is_object());
  AskResult models = user.run({"--url", url, "models", "--json"});
  REQUIRE_MESSAGE(models.code == 0, models.err);
  CHECK(contains(models.out, "\"fast-9b\""));
  AskResult typo = user.run({"cahce", "stats"});
  CHECK(typo.code == 2);
  CHECK(typo.out.empty());
  CHECK(contains(typo.err, "did you mean `ask cache stats`"));
  // None of these reached a model: askd logs every request it proxies.
  CHECK(world.askd().log_lines().empty());
  CHECK(user.log_lines().empty());

  AskResult forced = user.run({"--tiny", "--", "stats"});
  REQUIRE_MESSAGE(forced.code == 0, forced.err);
  CHECK(last_user_text(world.llama()) == "stats");
}

TEST_CASE("ask: --no-stdin leaves standard input alone (a loop over a file)") {
  AskWorld world;
  AskUser user(world.config(), world.askd().port());
  AskResult r = user.run({"--tiny", "--no-stdin", "first question"}, std::string("line two\n"));
  REQUIRE_MESSAGE(r.code == 0, r.err);
  CHECK(last_user_text(world.llama()) == "first question");
  AskResult read = user.run({"--tiny", "first question"}, std::string("line two\n"));
  REQUIRE(read.code == 0);
  CHECK(last_user_text(world.llama()) == "first question\n\nline two");
}

TEST_CASE("ask: a reader that closes the pipe early is no error (ask … | true)") {
  AskWorld world;
  AskUser user(world.config(), world.askd().port());
  // The reader is gone before the answer is written: the write fails with EPIPE.
  const std::string script = "\"$0\" --tiny '[[sim: ttft=400ms]] to nobody' | true; "
                             "echo \"rc=${PIPESTATUS[0]}\"";
  const std::string d = user.dir().string();
  ChildOptions options;
  options.env =
      ask_env({"HOME=" + d, "XDG_CACHE_HOME=" + d + "/cache", "XDG_DATA_HOME=" + d + "/data",
               "ASK_CONFIG=" + (user.dir() / "config.jsonc").string(),
               "ASK_URL=http://127.0.0.1:" + std::to_string(world.askd().port())});
  options.stdin_path = "/dev/null";
  ChildProcess bash({"/bin/bash", "-c", script, ASK_PATH}, std::move(options));
  AskResult piped = finish(bash, 30s);
  CHECK(piped.out == "rc=0\n");
  CHECK(piped.err.empty());
  CHECK(user.last_line()["exit_code"] == 0);
}

TEST_CASE("ask: the degraded line says why the first model failed (not pulled, prompt too long)") {
  // fast-9b's Ollama model is not pulled; fast-3b's window is too small for the prompt.
  AskWorld world(Json{{"models", models_with({{"fast-9b", {{"upstream", "qwen-missing:9b"}}},
                                              {"fast-3b", {{"context_length", 64}}}})}});
  AskUser user(world.config(), world.askd().port());
  AskResult r = user.run({"--9b", "-v", long_prompt(100)});
  REQUIRE_MESSAGE(r.code == 0, r.err);
  const auto notes = lines_of(r.err);
  REQUIRE(notes.size() >= 4);
  CHECK(notes[0] == "[degraded: fast-9b → fast-1b (not pulled)]");
  CHECK(notes[1].starts_with("[fast-9b: not pulled, "));
  CHECK(notes[2].starts_with("[fast-3b: prompt too long, "));
  CHECK(notes[3].starts_with("[fast-1b: answered, "));
  const Json line = user.last_line();
  CHECK(line["attempts"][0]["reason"] == "not_pulled");
  CHECK(line["attempts"][1]["reason"] == "context");
  CHECK(line["queue_s"].is_number());
}

TEST_CASE("ask: a prompt that fits no model is exit 2 with the token counts - nothing cached") {
  AskWorld world(Json{{"models", models_with({{"fast-9b", {{"context_length", 64}}},
                                              {"fast-3b", {{"context_length", 64}}},
                                              {"fast-1b", {{"context_length", 80}}}})}});
  AskUser user(world.config(), world.askd().port());
  AskResult r = user.run({"--9b", long_prompt(400)});
  CHECK(r.code == 2);
  CHECK(r.out.empty());
  CHECK(contains(r.err, "does not fit the context window"));
  CHECK(contains(r.err, "fast-1b 80"));
  CHECK(contains(r.err, "larger window"));
  CHECK(user.last_line()["error_kind"] == "context");
  CHECK(cache_counts(user).entries == 0);
}

TEST_CASE("ask: an answer cut at the length limit it did not ask for is a warning, not cached") {
  AskWorld world;
  AskUser user(world.config(), world.askd().port());
  AskResult cut = user.run({"--tiny", "[[sim: repeat=\"la \"]] sing forever"});
  REQUIRE_MESSAGE(cut.code == 0, cut.err);
  CHECK_FALSE(cut.out.empty());
  CHECK(contains(cut.err, "[warning: the answer was cut off at the length limit after "));
  CHECK(contains(cut.err, "not cached]"));
  CHECK(user.last_line()["finish_reason"] == "length");
  CHECK(cache_counts(user).entries == 0);
  // --max-tokens asked for the cut: no warning, and the answer is kept.
  AskResult asked = user.run({"--tiny", "--max-tokens", "5", "[[sim: repeat=\"la \"]] sing"});
  REQUIRE(asked.code == 0);
  CHECK(asked.err.empty());
  CHECK(cache_counts(user).entries == 1);
}

TEST_CASE("ask: an answer from a server that is not askd is printed, never cached") {
  AskWorld world;
  AskUser user(world.config(), world.askd().port());
  const std::string bare = "http://127.0.0.1:" + std::to_string(world.llama().port());
  AskResult r = user.run({"-m", "fast-1b", "--url", bare, "-v", "straight to llama-server"});
  REQUIRE_MESSAGE(r.code == 0, r.err);
  CHECK_FALSE(r.out.empty());
  CHECK(contains(r.err, "[not cached: the server did not say who served"));
  CHECK(cache_counts(user).entries == 0);
  AskResult via_askd = user.run({"-m", "fast-1b", "straight to llama-server"});
  REQUIRE(via_askd.code == 0);
  CHECK(cache_counts(user).entries == 1);
}

TEST_CASE("ask completion bash: the real binary's script completes commands, options and models") {
  AskWorld world;
  AskUser user(world.config(), world.askd().port());
  AskResult script = user.run({"completion", "bash"});
  REQUIRE_MESSAGE(script.code == 0, script.err);
  CHECK(script.err.empty());
  const auto file = user.dir() / "ask.bash";
  {
    std::ofstream out(file);
    out << script.out;
  }
  // A driver that completes a line as bash would at the end of it.
  const std::string driver =
      "source \"$1\"\n"
      "t() { COMP_LINE=\"$1\"; COMP_POINT=${#1}; read -ra COMP_WORDS <<< \"$1\";\n"
      "  [[ $1 == *' ' ]] && COMP_WORDS+=('');\n"
      "  COMP_CWORD=$((${#COMP_WORDS[@]} - 1)); COMPREPLY=(); _ask ask; echo \"${COMPREPLY[*]}\"; "
      "}\n"
      "t 'ask -q ca'; t 'ask --thi'; t 'ask -m fast-'; t 'ask completion z'; t 'ask cache c'\n";
  ChildOptions options;
  options.stdin_path = "/dev/null";
  ChildProcess bash({"/bin/bash", "--norc", "--noprofile", "-c", driver, "bash", file.string()},
                    std::move(options));
  AskResult r = finish(bash, 30s);
  REQUIRE_MESSAGE(r.code == 0, r.err);
  CAPTURE(r.out);
  CHECK(lines_of(r.out) ==
        std::vector<std::string>{"cache", "--think", "fast-1b fast-3b fast-9b", "zsh", "clear"});
  CHECK(user.log_text_lines().empty()); // no question was asked
}

TEST_CASE("ask stats: usage errors and a prompt that fits nowhere are not model failures") {
  AskWorld world(Json{{"models", models_with({{"fast-1b", {{"context_length", 64}}}})}});
  AskUser user(world.config(), world.askd().port());
  REQUIRE(user.run({"--tiny", "fine"}).code == 0);
  REQUIRE(user.run({"--tiny"}).code == 2);                          // no prompt
  REQUIRE(user.run({"--tiny", long_prompt(400)}).code == 2);        // fits no window
  REQUIRE(user.run({"--tiny", "[[sim: status=503]] x"}).code == 4); // the model failed
  AskResult stats = user.run({"stats", "--json"});
  REQUIRE_MESSAGE(stats.code == 0, stats.err);
  const Json total = Json::parse(stats.out)["total"];
  CHECK(total["calls"] == 4);
  CHECK(total["usage_errors"] == 2);
  CHECK(total["failures"] == 1);
  CHECK(total["asked"] == 2);
  CHECK(total["failure_rate"].get<double>() == doctest::Approx(0.5));
}

namespace {

// Runs ask with `args` and the user's environment, its stdout a pipe whose reader is already
// gone (so the first write fails with EPIPE, as after `| head -1` once head has left), stderr a
// file; returns the exit status (-signal when killed) and what it wrote on stderr.
std::pair<int, std::string> run_into_closed_pipe(const AskUser& user,
                                                 const std::vector<std::string>& args) {
  int fds[2];
  REQUIRE(::pipe(fds) == 0);
  ::close(fds[0]); // the reader has left
  const auto err_path = user.dir() / "closed-pipe.err";
  std::vector<std::string> argv_text = {ASK_PATH};
  argv_text.insert(argv_text.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (std::string& a : argv_text) {
    argv.push_back(a.data());
  }
  argv.push_back(nullptr);
  std::vector<std::string> env_text = environment_with(user.environment());
  std::vector<char*> envp;
  for (std::string& e : env_text) {
    envp.push_back(e.data());
  }
  envp.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, fds[1], 1);
  posix_spawn_file_actions_addopen(&actions, 2, err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC,
                                   0600);
  pid_t pid = -1;
  const int spawned = ::posix_spawn(&pid, argv[0], &actions, nullptr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  ::close(fds[1]);
  REQUIRE(spawned == 0);
  int status = 0;
  REQUIRE(::waitpid(pid, &status, 0) == pid);
  std::ifstream in(err_path);
  std::string err((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status), err};
}

} // namespace

TEST_CASE("ask completion, logs and a question into a pipe whose reader left: exit 0, quietly") {
  AskWorld world;
  AskUser user(world.config(), world.askd().port());
  REQUIRE(user.run({"--tiny", "one question"}).code == 0);
  for (const auto& args : std::vector<std::vector<std::string>>{
           {"completion", "bash"}, {"logs"}, {"--tiny", "one question"}, {"stats"}}) {
    CAPTURE(args[0]);
    const auto [code, err] = run_into_closed_pipe(user, args);
    CHECK(code == 0); // not -SIGPIPE (killed), not 1
    CHECK(err.empty());
  }
}
