// ask_cache_bench: what a whole `ask` process costs, from spawn to exit, on a cache hit and on a
// miss, next to `curl` sending the same request to askd directly.
//
// One run starts llm-sim (llama-server mode, no pacing, 8-token answers that end with "stop":
// an answer cut at a length limit is never cached) and askd in front of
// it, with a temporary XDG cache and data folder for ask. Then, alternating the variants
// request by request so that other work on the machine lands on all alike:
//   hit    `ask --9b Q` whose answer is already in the cache (one priming call first);
//   miss   `ask --9b Q<i>`, a new question each time: cache lookup, askd, store, telemetry;
//   curl   `curl` POSTing the request ask would send (streamed) to askd;
//   start  `ask --version`: start-up, config and command line, no cache, no network;
//   spawn  `/bin/true`: the floor, what starting any process costs here.
// Each is timed from posix_spawn to waitpid. Target: a hit within 2 ms of /bin/true, at the
// median of the paired differences (round by round, so that load lands on both alike).

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "bench/process.h"
#include "bench/report.h"

extern char** environ; // NOLINT(readability-redundant-declaration): POSIX has it in no header

namespace ask::bench {
namespace {

using namespace std::chrono_literals;

struct Flags {
  std::string ask = ASK_PATH;
  std::string askd = ASKD_PATH;
  std::string sim = LLM_SIM_PATH;
  std::string curl;
  int runs = 300;
  bool quick = false;
  bool keep_temp = false;
};

// Runs argv with `env` (plus the current environment), stdin and stdout on /dev/null; returns
// the wall time in seconds, or nullopt when it did not exit 0.
std::optional<double> time_run(const std::vector<std::string>& argv,
                               const std::vector<std::string>& env) {
  std::vector<char*> args;
  args.reserve(argv.size() + 1);
  for (const std::string& a : argv) {
    args.push_back(const_cast<char*>(a.c_str()));
  }
  args.push_back(nullptr);
  std::vector<std::string> env_text = env;
  for (char** e = environ; *e; ++e) {
    env_text.emplace_back(*e);
  }
  std::vector<char*> envp;
  envp.reserve(env_text.size() + 1);
  for (std::string& e : env_text) {
    envp.push_back(e.data());
  }
  envp.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
  const auto t0 = std::chrono::steady_clock::now();
  pid_t pid = -1;
  int rc = posix_spawn(&pid, args[0], &fa, nullptr, args.data(), envp.data());
  posix_spawn_file_actions_destroy(&fa);
  if (rc != 0) {
    throw std::runtime_error("cannot spawn " + argv[0]);
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    return std::nullopt;
  }
  return s;
}

// The last line of the telemetry log, "" when there is none.
std::string last_log_line(const std::filesystem::path& path) {
  std::ifstream in(path);
  std::string line;
  std::string last;
  while (std::getline(in, line)) {
    if (!line.empty()) {
      last = line;
    }
  }
  return last;
}

double percentile(std::vector<double> v, double p) {
  if (v.empty()) {
    return 0;
  }
  std::sort(v.begin(), v.end());
  const auto rank = static_cast<std::size_t>(std::ceil(p * static_cast<double>(v.size())));
  return v[std::clamp<std::size_t>(rank, 1, v.size()) - 1];
}

std::optional<Flags> parse_flags(int argc, char** argv, int& exit_code) {
  Flags f;
  CLI::App app{
      "ask_cache_bench: whole-process time of `ask` on a cache hit and a miss, next to curl "
      "and /bin/true",
      "ask_cache_bench"};
  app.add_option("--ask", f.ask, "ask binary")->capture_default_str();
  app.add_option("--askd", f.askd, "askd binary")->capture_default_str();
  app.add_option("--llm-sim", f.sim, "llm-sim binary")->capture_default_str();
  app.add_option("--curl", f.curl, "curl binary (default: from PATH)");
  app.add_option("--runs", f.runs, "runs of each variant")->capture_default_str();
  app.add_flag("--quick", f.quick, "a smoke run: 30 runs of each");
  app.add_flag("--keep-temp", f.keep_temp, "keep the temporary folder (logs, cache, config)");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    exit_code = app.exit(e);
    return std::nullopt;
  }
  if (f.quick) {
    f.runs = 30;
  }
  if (f.curl.empty()) {
    if (auto p = find_program("curl")) {
      f.curl = p->string();
    }
  }
  return f;
}

int run(const Flags& f, const std::string& command) {
  install_cleanup_handlers();
  TempDir dir("ask-cache-bench");
  if (f.keep_temp) {
    dir.keep();
  }
  Process sim({f.sim, "--sim-fake-model", "-a", "bench", "--port", "0", "--sim-tokens-per-second",
               "0", "--sim-fault", "tokens=8", "--sim-parent-pid", std::to_string(::getpid())},
              dir.path() / "llm-sim.log");
  const int sim_port = start_port_of(sim, "llama_server: listening on", "llm-sim");
  const auto config = dir.write("config.jsonc", fmt::format(R"({{
  // generated by bench/ask_cache_bench
  "backends": {{ "sim": {{ "kind": "openai", "url": "http://127.0.0.1:{}" }} }},
  "models": {{ "fast-9b": {{ "backend": "sim", "upstream": "bench" }} }},
  "tiers": {{ "9b": "fast-9b" }}
}}
)",
                                                            sim_port));
  Process askd(
      {f.askd, "--config", config.string(), "--listen", "127.0.0.1:0", "--log-level", "warn"},
      dir.path() / "askd.log");
  const int askd_port = start_port_of(askd, "askd: listening on", "askd");
  const std::string url = fmt::format("http://127.0.0.1:{}", askd_port);
  const std::vector<std::string> env = {"ASK_CONFIG=" + config.string(), "ASK_URL=" + url,
                                        "XDG_CACHE_HOME=" + (dir.path() / "cache").string(),
                                        "XDG_DATA_HOME=" + (dir.path() / "data").string(),
                                        "HOME=" + dir.path().string()};
  const std::string question = "summarise the overnight build log";
  if (!time_run({f.ask, "--9b", question}, env)) {
    throw std::runtime_error("the priming `ask` call failed; askd log:\n" + askd.log_tail());
  }
  // A "hit" that is really a miss would time the wrong thing: check that the answer was kept.
  if (!time_run({f.ask, "--9b", question}, env) ||
      !last_log_line(dir.path() / "data" / "ask" / "log.jsonl").contains("\"cache_hit\":true")) {
    throw std::runtime_error("the primed question was not answered from the cache");
  }
  const std::string body = R"({"model":"fast-9b","messages":[{"role":"user","content":")" +
                           question +
                           R"("}],"stream":true,"stream_options":{"include_usage":true}})";

  std::map<std::string, std::vector<double>> times;
  std::map<std::string, int> failures;
  auto record = [&](const std::string& name, std::optional<double> s) {
    if (s) {
      times[name].push_back(*s);
    } else {
      ++failures[name];
    }
  };
  for (int i = 0; i < f.runs; ++i) {
    record("ask hit", time_run({f.ask, "--9b", question}, env));
    record("ask miss", time_run({f.ask, "--9b", question + " #" + std::to_string(i)}, env));
    if (!f.curl.empty()) {
      record("curl to askd",
             time_run({f.curl, "-sfN", "-o", "/dev/null", url + "/v1/chat/completions", "-H",
                       "Content-Type: application/json", "-d", body},
                      env));
    }
    record("ask --version", time_run({f.ask, "--version"}, env));
    record("/bin/true", time_run({"/bin/true"}, env));
  }

  std::cout << "ask_cache_bench: whole-process time of ask, next to curl and /bin/true\n"
            << "command: " << command << "\n"
            << "machine: " << machine_summary() << "\n"
            << "date:    " << now_text() << "; load average before: " << load_average() << "\n"
            << "runs:    " << f.runs << " of each, interleaved\n\n"
            << fmt::format("{:<14} {:>9} {:>9} {:>9} {:>9}\n", "variant", "p50 ms", "p90 ms",
                           "p99 ms", "failed");
  for (const char* name : {"ask hit", "ask miss", "curl to askd", "ask --version", "/bin/true"}) {
    if (!times.contains(name) && !failures.contains(name)) {
      continue;
    }
    const auto& v = times[name];
    std::cout << fmt::format("{:<14} {:>9.2f} {:>9.2f} {:>9.2f} {:>9}\n", name,
                             percentile(v, 0.5) * 1e3, percentile(v, 0.9) * 1e3,
                             percentile(v, 0.99) * 1e3, failures[name]);
  }
  // Round i ran each variant once, so the i-th hit and the i-th /bin/true met the same load.
  const auto& hits = times["ask hit"];
  const auto& trues = times["/bin/true"];
  std::vector<double> above;
  for (std::size_t i = 0; i < std::min(hits.size(), trues.size()); ++i) {
    above.push_back(hits[i] - trues[i]);
  }
  const double extra = above.empty() ? 0 : percentile(above, 0.5) * 1e3;
  std::cout << fmt::format(
                   "\nask hit minus /bin/true, round by round: p50 {:.2f} ms, p90 {:.2f} ms\n"
                   "target: a cache hit within 2 ms of /bin/true at the median: {}\n",
                   extra, above.empty() ? 0 : percentile(above, 0.9) * 1e3,
                   !above.empty() && extra <= 2.0 ? "met" : "NOT met")
            << "load average after: " << load_average() << "\n";
  return failures.empty() ? 0 : 1;
}

} // namespace
} // namespace ask::bench

int main(int argc, char** argv) {
  int exit_code = 0;
  auto flags = ask::bench::parse_flags(argc, argv, exit_code);
  if (!flags) {
    return exit_code;
  }
  try {
    return ask::bench::run(*flags, ask::bench::command_line(argc, argv));
  } catch (const std::exception& e) {
    std::cerr << "ask_cache_bench: " << e.what() << "\n";
    return 1;
  }
}
