// fault_soak: many requests through askd to simulators that fail in every way askd must
// survive, checking that each request gets an honest answer and one request-log line.
//
// Design. A directive in the prompt ("[[sim: drop_after=3]]") reaches every backend a
// request goes to — askd forwards the same messages down the fallback chain — so a fault
// written into the prompt would also break the model meant to rescue the request. Three
// mechanisms keep faults where they belong:
//   1. Per-process faults (--sim-fault) on dedicated simulators: "s500" answers 500, "hang"
//      never answers, "crash" SIGKILLs itself on every request, "crashmid" after two tokens,
//      "drop" closes the connection after two tokens. A backend URL whose port has nothing
//      listening ("dead") refuses connections. A crashed simulator is restarted on the same
//      port by a supervisor thread, so between a crash and its restart the next requests
//      find it down (connection refused).
//   2. Per-request directives that only "front" acts on: the backends of the rescuing
//      simulators ("clean-a", "clean-b") carry the header
//      "X-Sim-Fault: drop_after=1000000,hang_after=1000000,crash_after=1000000,ttft=0ms",
//      and a header wins over a directive key by key, so these faults are neutralised there
//      (an "after N tokens" fault never fires on a shorter answer). That way one simulator
//      ("front") serves as a healthy first model, a slow one (ttft=3s, beyond its 400 ms
//      first-byte timeout), one whose stream ends before any content (drop_after=0), one that
//      breaks mid-stream (drop_after=3, hang_after=2), request by request.
//   3. Directives that are meant to reach every backend: status=400 (a request error: askd
//      must not fall back, it answers 400) and status=500 (every model fails: askd answers
//      an error status). Switches (crash, hang, reset) add up and cannot be neutralised by a
//      header, which is why crash and hang are per-process faults here (1.).
// Every chain therefore ends in a healthy simulator except the "doomed" one (s500 → dead)
// and the all-backend status directives, which must end in a clear error status.
//
// Scenarios are picked per request with a fixed seed (--seed), half of them streaming. The
// client gives each request a deadline (--deadline); no answer by then counts as hung, a bug.
// The tally: served by the first model, served after fallback, clear error (by status),
// stream broken after its first byte (an error event), hung, and answers that are none of
// these (a closed connection, a stream cut without an error event). Afterwards the request
// log must hold exactly one line per request, with every X-Request-Id the client saw.
// Exit status 1 when anything hung, went unanswered or the log is off; the numbers are
// printed either way.

#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "bench/load.h"
#include "bench/process.h"
#include "bench/report.h"

namespace ask::bench {
namespace {

using namespace std::chrono_literals;
using Json = nlohmann::json;

constexpr std::string_view k_neutraliser =
    "drop_after=1000000,hang_after=1000000,crash_after=1000000,ttft=0ms";

struct Flags {
  std::string askd = ASKD_PATH;
  std::string sim = LLM_SIM_PATH;
  std::size_t requests = 10000;
  int concurrency = 32;
  std::uint64_t seed = 42;
  int deadline_ms = 20000;
  int tps = 1000;
  std::string first_byte = "400ms";
  bool quick = false;
  bool keep_temp = false;
};

// A simulator process, restartable on its port.
struct Sim {
  std::string name;
  std::vector<std::string> extra; // llm-sim options beyond the common ones
  bool supervised = false;        // restarted when it dies
  int port = 0;
  std::unique_ptr<Process> process;
  int starts = 0;
};

enum class Outcome { first, fallback, error_status, broken_stream, hung, no_answer, bad_answer };
constexpr std::array<std::string_view, 7> k_outcome_names = {
    "first model", "after fallback", "error status", "broken stream", "hung", "no answer",
    "bad answer"};

struct Scenario {
  std::string name;
  std::string model;     // the logical model asked for
  std::string directive; // besides tokens=N
  int weight;
  std::string expect; // for people reading the table
};

std::vector<Scenario> scenarios() {
  return {
      {"ok", "front", "", 20, "first"},
      {"slow-first-byte", "front", "ttft=3s", 6, "fallback (first_byte timeout)"},
      {"empty-stream", "front", "drop_after=0", 6, "fallback (closed before content)"},
      {"drop-mid", "front", "drop_after=3", 6, "stream: broken; else fallback"},
      {"hang-mid", "front", "hang_after=2", 4, "stream: broken (idle); else fallback"},
      {"bad-request", "front", "status=400", 3, "error 400, no fallback"},
      {"all-500", "front", "status=500", 3, "error (every model 500)"},
      {"refused", "refused", "", 8, "fallback (connect refused)"},
      {"status-500", "e500", "", 8, "fallback (500)"},
      {"hang", "hang", "", 6, "fallback (first_byte timeout)"},
      {"crash", "crash", "", 6, "fallback (reset or refused)"},
      {"crash-mid", "crashmid", "", 6, "stream: broken; else fallback"},
      {"drop", "drop", "", 6, "stream: broken; else fallback"},
      {"gauntlet", "g-dead", "", 4, "fallback after 4 failures"},
      {"doomed", "x-500", "", 3, "error (500 then refused)"},
  };
}

std::vector<std::string> sim_argv(const Flags& f, const Sim& s, int port) {
  std::vector<std::string> argv = {f.sim,
                                   "--sim-fake-model",
                                   "-a",
                                   "sim-model",
                                   "--port",
                                   std::to_string(port),
                                   "-np",
                                   "64",
                                   "-c",
                                   std::to_string(64 * 2048),
                                   "--sim-tokens-per-second",
                                   std::to_string(f.tps),
                                   "--sim-parent-pid",
                                   std::to_string(::getpid())};
  argv.insert(argv.end(), s.extra.begin(), s.extra.end());
  return argv;
}

// Starts (or restarts) `s`; on a restart the port is the one it had. Returns false when it
// did not come up.
bool start_sim(const Flags& f, Sim& s, const std::filesystem::path& dir) {
  s.process.reset();
  s.process = std::make_unique<Process>(sim_argv(f, s, s.port), dir / ("sim-" + s.name + ".log"));
  ++s.starts;
  auto line = s.process->wait_for_line("llama_server: listening on", 15s);
  auto port = line ? port_in_line(*line) : std::nullopt;
  if (!port) {
    return false;
  }
  s.port = *port;
  return true;
}

Json backend(int port, const Json& timeouts, bool neutralise) {
  Json b = {{"kind", "openai"},
            {"url", "http://127.0.0.1:" + std::to_string(port)},
            {"timeouts", timeouts}};
  if (neutralise) {
    b["headers"] = {{"X-Sim-Fault", std::string(k_neutraliser)}};
  }
  return b;
}

std::string askd_config(const Flags& f, const std::map<std::string, int>& ports, int dead_port) {
  const Json fault_timeouts = {{"connect", "1s"}, {"first_byte", f.first_byte}, {"idle", "1s"}};
  const Json clean_timeouts = {{"connect", "2s"}, {"first_byte", "10s"}, {"idle", "5s"}};
  Json backends = Json::object();
  for (const auto& [name, port] : ports) {
    const bool clean = name.rfind("clean", 0) == 0;
    backends[name] = backend(port, clean ? clean_timeouts : fault_timeouts, clean);
  }
  backends["dead"] = backend(dead_port, fault_timeouts, false);
  Json models = Json::object();
  int family = 0;
  auto model = [&](const std::string& name, const std::string& be,
                   const std::vector<std::string>& fallbacks) {
    Json m = {{"backend", be}, {"upstream", "sim-model"}, {"family", fmt::format("f{}", family++)}};
    if (!fallbacks.empty()) {
      m["fallbacks"] = fallbacks;
    }
    models[name] = m;
  };
  model("clean-a", "clean-a", {});
  model("clean-b", "clean-b", {"clean-a"});
  model("front", "front", {"clean-a"});
  model("refused", "dead", {"clean-a"});
  model("e500", "s500", {"clean-a"});
  model("hang", "hang", {"clean-a"});
  model("crash", "crash", {"clean-a"});
  model("crashmid", "crashmid", {"clean-b"});
  model("drop", "drop", {"clean-b"});
  model("g-dead", "dead", {"g-500"});
  model("g-500", "s500", {"g-crash"});
  model("g-crash", "crash", {"g-hang"});
  model("g-hang", "hang", {"clean-b"});
  model("x-500", "s500", {"x-dead"});
  model("x-dead", "dead", {});
  return "// generated by bench/fault_soak\n" +
         Json{{"backends", backends}, {"models", models}}.dump(2) + "\n";
}

struct Planned {
  std::size_t scenario = 0;
  bool stream = false;
  std::string bytes;
};

// Every request decided before the first one is sent, from the seed alone.
std::vector<Planned> make_plan(const Flags& f, const std::vector<Scenario>& scen, int port) {
  std::vector<int> weights;
  for (const Scenario& s : scen) {
    weights.push_back(s.weight);
  }
  std::mt19937_64 rng(f.seed);
  std::discrete_distribution<std::size_t> pick(weights.begin(), weights.end());
  std::uniform_int_distribution<int> tokens(6, 16);
  std::vector<Planned> plan;
  plan.reserve(f.requests);
  for (std::size_t i = 0; i < f.requests; ++i) {
    Planned p;
    p.scenario = pick(rng);
    p.stream = (rng() & 1U) != 0;
    const Scenario& s = scen[p.scenario];
    std::string directive = fmt::format("tokens={}", tokens(rng));
    if (!s.directive.empty()) {
      directive += " " + s.directive;
    }
    const Json body = {
        {"model", s.model},
        {"stream", p.stream},
        {"messages",
         Json::array({{{"role", "user"},
                       {"content", fmt::format("[[sim: {}]] Soak request {}.", directive, i)}}})}};
    p.bytes = post_request(port, "/v1/chat/completions", body.dump());
    plan.push_back(std::move(p));
  }
  return plan;
}

Outcome classify(const Response& r, bool stream) {
  if (r.failure == Failure::timeout) {
    return Outcome::hung;
  }
  if (!r.ok()) {
    return Outcome::no_answer;
  }
  if (r.status != 200) {
    return r.body.find("\"error\"") != std::string::npos ? Outcome::error_status
                                                         : Outcome::bad_answer;
  }
  const bool fell_back = r.header("X-Fallback-Path").find('>') != std::string_view::npos;
  if (!stream) {
    if (r.body.find("\"choices\"") == std::string::npos) {
      return Outcome::bad_answer;
    }
    return fell_back ? Outcome::fallback : Outcome::first;
  }
  const bool done = r.body.find("data: [DONE]") != std::string::npos;
  const bool error_event = r.body.find("data: {\"error\"") != std::string::npos;
  if (error_event && !done) {
    return Outcome::broken_stream;
  }
  if (done && !error_event) {
    return fell_back ? Outcome::fallback : Outcome::first;
  }
  return Outcome::bad_answer;
}

// What the client saw, filled from the client threads.
class Tally {
public:
  Tally(const std::vector<Scenario>& scen, const std::vector<Planned>& plan)
      : m_scen(scen), m_plan(plan), m_counts(scen.size()) {}

  void record(std::size_t i, const Response& r) {
    const Planned& p = m_plan[i];
    const Outcome out = classify(r, p.stream);
    std::lock_guard lock(m_mutex);
    ++m_counts[p.scenario][p.stream ? 1 : 0][static_cast<std::size_t>(out)];
    if (r.ok()) {
      ++statuses[r.status];
      latency_s.push_back(r.total_s);
    }
    if (r.retried) {
      ++retries;
    }
    if (auto id = r.header("X-Request-Id"); !id.empty() && !request_ids.emplace(id).second) {
      ++duplicate_ids;
    }
    if (r.ok() && r.status == 200) {
      std::string_view path = r.header("X-Fallback-Path");
      auto last = path.rfind('>');
      std::string_view tail = last == std::string_view::npos ? path : path.substr(last + 1);
      std::string_view served = r.header("X-Served-By");
      ++served_by[std::string(served)];
      if (served.empty() || served != tail) {
        ++header_mismatch;
      }
    }
    if ((out == Outcome::hung || out == Outcome::no_answer || out == Outcome::bad_answer) &&
        examples.size() < 8) {
      examples.push_back(fmt::format("#{} {} {}: {} status {} after {:.3f}s: {}", i,
                                     m_scen[p.scenario].name, p.stream ? "stream" : "plain",
                                     to_string(r.failure), r.status, r.total_s,
                                     r.body.substr(0, 240)));
    }
  }

  // Prints the per-scenario table; returns the totals per outcome.
  std::array<std::size_t, 7> print_scenarios() const {
    std::array<std::size_t, 7> total{};
    std::cout << "\nper scenario (streaming/plain), outcome counts:\n";
    std::cout << fmt::format("  {:<16} {:>7}", "scenario", "n");
    for (auto name : k_outcome_names) {
      std::cout << fmt::format(" {:>15}", name);
    }
    std::cout << "   expected\n";
    for (std::size_t s = 0; s < m_scen.size(); ++s) {
      std::size_t n = 0;
      std::string row;
      for (std::size_t k = 0; k < k_outcome_names.size(); ++k) {
        const std::size_t st = m_counts[s][1][k];
        const std::size_t pl = m_counts[s][0][k];
        n += st + pl;
        total[k] += st + pl;
        row += fmt::format(" {:>15}",
                           st + pl == 0 ? std::string("-") : fmt::format("{}/{}", st, pl));
      }
      std::cout << fmt::format("  {:<16} {:>7}{}   {}\n", m_scen[s].name, n, row,
                               m_scen[s].expect);
    }
    return total;
  }

  std::map<int, std::size_t> statuses;
  std::map<std::string, std::size_t> served_by;
  std::set<std::string, std::less<>> request_ids;
  std::size_t duplicate_ids = 0;
  std::size_t header_mismatch = 0;
  std::size_t retries = 0;
  std::vector<std::string> examples; // a few bad ones, for people
  std::vector<double> latency_s;

private:
  const std::vector<Scenario>& m_scen;
  const std::vector<Planned>& m_plan;
  std::mutex m_mutex;
  // [scenario][stream][outcome]
  std::vector<std::array<std::array<std::size_t, 7>, 2>> m_counts;
};

// Restarts crashed simulators on their port, as a service manager would.
class Supervisor {
public:
  Supervisor(const Flags& f, std::vector<Sim>& sims, const std::filesystem::path& dir)
      : m_thread([this, &f, &sims, dir] { loop(f, sims, dir); }) {}
  ~Supervisor() { stop(); }
  Supervisor(const Supervisor&) = delete;
  Supervisor& operator=(const Supervisor&) = delete;

  void stop() {
    m_stop = true;
    if (m_thread.joinable()) {
      m_thread.join();
    }
  }
  std::size_t restarts() const { return m_restarts.load(); }
  std::size_t failed_restarts() const { return m_failed.load(); }

private:
  void loop(const Flags& f, std::vector<Sim>& sims, const std::filesystem::path& dir) {
    while (!m_stop.load()) {
      for (Sim& s : sims) {
        if (!s.supervised || s.process->running()) {
          continue;
        }
        bool up = false;
        for (int attempt = 0; attempt < 20 && !up && !m_stop.load(); ++attempt) {
          up = start_sim(f, s, dir);
          if (!up) {
            std::this_thread::sleep_for(50ms);
          }
        }
        up ? m_restarts.fetch_add(1) : m_failed.fetch_add(1);
      }
      std::this_thread::sleep_for(2ms);
    }
  }

  std::atomic<bool> m_stop{false};
  std::atomic<std::size_t> m_restarts{0};
  std::atomic<std::size_t> m_failed{0};
  std::thread m_thread; // last: starts once the rest is ready
};

std::size_t count_lines(const std::filesystem::path& p) {
  std::ifstream in(p);
  std::size_t n = 0;
  std::string line;
  while (std::getline(in, line)) {
    ++n;
  }
  return n;
}

struct LogCheck {
  std::size_t lines = 0;
  std::size_t unparsable = 0;
  std::size_t ids_found = 0;
  std::map<int, std::size_t> statuses;
};

// Waits for the request log to catch up (a line is written just after each answer), then
// reads it.
LogCheck check_log(const std::filesystem::path& path, std::size_t expected, const Tally& tally) {
  LogCheck c;
  const auto deadline = SteadyClock::now() + 15s;
  while (count_lines(path) < expected && SteadyClock::now() < deadline) {
    std::this_thread::sleep_for(50ms);
  }
  std::this_thread::sleep_for(200ms); // a line too many would show up now
  std::ifstream in(path);
  std::string text;
  while (std::getline(in, text)) {
    ++c.lines;
    Json j = Json::parse(text, nullptr, false);
    if (!j.is_object()) {
      ++c.unparsable;
      continue;
    }
    ++c.statuses[j.value("status", 0)];
    if (tally.request_ids.contains(j.value("id", std::string()))) {
      ++c.ids_found;
    }
  }
  return c;
}

std::optional<Flags> parse_flags(int argc, char** argv, int& exit_code) {
  Flags f;
  CLI::App app{"fault_soak: requests through askd to failing simulators; checks every request "
               "gets an answer and one log line"};
  app.add_option("--askd", f.askd, "askd binary")->capture_default_str();
  app.add_option("--llm-sim", f.sim, "llm-sim binary")->capture_default_str();
  app.add_option("-n,--requests", f.requests, "requests")->capture_default_str();
  app.add_option("-c,--concurrency", f.concurrency, "client threads")
      ->capture_default_str()
      ->check(CLI::Range(1, 1000));
  app.add_option("--seed", f.seed, "seed of the scenario mix")->capture_default_str();
  app.add_option("--deadline-ms", f.deadline_ms,
                 "client deadline per request; no answer by then = hung")
      ->capture_default_str();
  app.add_option("--tps", f.tps, "simulator tokens per second (0 = no pacing)")
      ->capture_default_str();
  app.add_option("--first-byte", f.first_byte, "askd first_byte timeout of the failing backends")
      ->capture_default_str();
  app.add_flag("--quick", f.quick, "a smoke run: 1000 requests");
  app.add_flag("--keep-temp", f.keep_temp, "keep the temp folder (config, logs)");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    exit_code = app.exit(e);
    return std::nullopt;
  }
  if (f.quick) {
    f.requests = std::min<std::size_t>(f.requests, 1000);
  }
  return f;
}

std::vector<Sim> start_sims(const Flags& f, const std::filesystem::path& dir) {
  std::vector<Sim> sims;
  auto add = [&](std::string name, std::vector<std::string> extra, bool supervised) {
    Sim s;
    s.name = std::move(name);
    s.extra = std::move(extra);
    s.supervised = supervised;
    if (!start_sim(f, s, dir)) {
      throw std::runtime_error("llm-sim " + s.name + " did not start:\n" + s.process->log_tail());
    }
    sims.push_back(std::move(s));
  };
  add("clean-a", {}, false);
  add("clean-b", {}, false);
  add("front", {}, false);
  add("s500", {"--sim-fault", "status=500"}, false);
  add("hang", {"--sim-fault", "hang"}, false);
  add("crash", {"--sim-fault", "crash"}, true);
  add("crashmid", {"--sim-fault", "crash_after=2"}, true);
  add("drop", {"--sim-fault", "drop_after=2"}, false);
  return sims;
}

template <typename Map> std::string counts_text(const Map& m) {
  std::string out;
  for (const auto& [key, n] : m) {
    out += fmt::format(" {}×{}", key, n);
  }
  return out;
}

// Prints the tally and the checks; returns whether everything held.
bool report(const Flags& f, const LoadResult& result, Tally& tally, const Supervisor& supervisor,
            const LogCheck& log, bool askd_alive) {
  const auto total = tally.print_scenarios();
  const double wall = result.wall_s;
  std::cout << fmt::format("\ntally of {} requests in {:.1f} s ({:.0f} req/s):\n", f.requests, wall,
                           wall > 0 ? static_cast<double>(f.requests) / wall : 0.0);
  for (std::size_t k = 0; k < k_outcome_names.size(); ++k) {
    std::cout << fmt::format("  {:<34} {:>7}\n", k_outcome_names[k], total[k]);
  }
  std::cout << "  statuses:" << counts_text(tally.statuses) << "\n  served by:";
  for (const auto& [model, n] : tally.served_by) {
    std::cout << fmt::format(" {}×{}", model.empty() ? "(none)" : model, n);
  }
  std::vector<double>& lat = tally.latency_s;
  std::cout << fmt::format("\n  latency p50 {:.1f} ms, p99 {:.1f} ms, max {:.1f} ms\n",
                           percentile(lat, 50) * 1e3, percentile(lat, 99) * 1e3,
                           percentile(lat, 100) * 1e3)
            << fmt::format("  simulator restarts after crashes: {} ({} failed); client retries "
                           "on a closed keep-alive connection: {}\n",
                           supervisor.restarts(), supervisor.failed_restarts(), tally.retries);
  if (tally.header_mismatch > 0) {
    std::cout << fmt::format("  X-Served-By not the last model of X-Fallback-Path: {}\n",
                             tally.header_mismatch);
  }
  for (const std::string& e : tally.examples) {
    std::cout << "  example: " << e << '\n';
  }
  std::cout << fmt::format("\nrequest log: {} lines for {} requests ({} unparsable); {} of {} "
                           "X-Request-Ids found, {} duplicate ids\n",
                           log.lines, f.requests, log.unparsable, log.ids_found,
                           tally.request_ids.size(), tally.duplicate_ids)
            << "  log statuses:" << counts_text(log.statuses) << '\n';

  const std::size_t hung = total[static_cast<std::size_t>(Outcome::hung)];
  const std::size_t no_answer = total[static_cast<std::size_t>(Outcome::no_answer)];
  const std::size_t bad = total[static_cast<std::size_t>(Outcome::bad_answer)];
  const bool log_ok = log.lines == f.requests && log.unparsable == 0 &&
                      log.ids_found == tally.request_ids.size() && tally.duplicate_ids == 0;
  auto ok = [](bool b) { return b ? "ok" : "FAILED"; };
  std::cout << "\nchecks:\n"
            << fmt::format("  no request hung:                    {}\n", ok(hung == 0))
            << fmt::format("  every request answered (no close):  {}\n", ok(no_answer == 0))
            << fmt::format("  every answer well-formed:           {}\n", ok(bad == 0))
            << fmt::format("  one log line per request:           {}\n", ok(log_ok))
            << fmt::format("  askd still running:                 {}\n", ok(askd_alive));
  return hung == 0 && no_answer == 0 && bad == 0 && log_ok && askd_alive;
}

int run(int argc, char** argv) {
  int exit_code = 0;
  auto flags = parse_flags(argc, argv, exit_code);
  if (!flags) {
    return exit_code;
  }
  const Flags& f = *flags;
  install_cleanup_handlers();
  std::cout << "fault_soak: askd through failing simulators\n"
            << "command: " << command_line(argc, argv) << '\n'
            << "machine: " << machine_summary() << '\n'
            << "date:    " << now_text() << '\n'
            << "load:    " << load_average() << " (1/5/15 min) at start\n";
  TempDir dir("askd-soak-");
  if (f.keep_temp) {
    dir.keep();
    std::cout << "temp:    " << dir.path().string() << '\n';
  }
  std::cout.flush();

  std::vector<Sim> sims = start_sims(f, dir.path());
  std::map<std::string, int> ports;
  for (const Sim& s : sims) {
    ports[s.name] = s.port;
  }
  const auto config = dir.write("askd.jsonc", askd_config(f, ports, free_port()));
  const auto log_path = dir.path() / "askd-requests.jsonl";
  Process askd({f.askd, "--config", config.string(), "--listen", "127.0.0.1:0", "--request-log",
                log_path.string(), "--log-level", "error"},
               dir.path() / "askd.log");
  auto line = askd.wait_for_line("askd: listening on", 15s);
  auto askd_port = line ? port_in_line(*line) : std::nullopt;
  if (!askd_port) {
    throw std::runtime_error("askd did not start:\n" + askd.log_tail());
  }

  const auto scen = scenarios();
  const std::vector<Planned> plan = make_plan(f, scen, *askd_port);
  Tally tally(scen, plan);
  Supervisor supervisor(f, sims, dir.path());
  std::cout << fmt::format("running {} requests, {} clients, seed {}, deadline {} ms, failing "
                           "backends' first_byte {}\n",
                           f.requests, f.concurrency, f.seed, f.deadline_ms, f.first_byte);
  std::cout.flush();
  LoadOptions o;
  o.port = *askd_port;
  o.concurrency = f.concurrency;
  o.requests = f.requests;
  o.timeout = std::chrono::milliseconds(f.deadline_ms);
  const LoadResult result = run_load(
      o, [&](std::size_t i) -> const std::string& { return plan[i].bytes; },
      [&](std::size_t i, const Response& r) { tally.record(i, r); });
  supervisor.stop();

  const LogCheck log = check_log(log_path, f.requests, tally);
  const bool askd_alive = askd.running();
  const bool all_ok = report(f, result, tally, supervisor, log, askd_alive);
  std::cout << "load:    " << load_average() << " (1/5/15 min) at the end\n";
  if (!askd_alive) {
    std::cout << "askd: " << describe_wait_status(*askd.exit_status()) << '\n'
              << askd.log_tail() << '\n';
  }
  askd.stop();
  for (Sim& s : sims) {
    s.process->stop();
  }
  return all_ok ? 0 : 1;
}

} // namespace
} // namespace ask::bench

int main(int argc, char** argv) {
  try {
    return ask::bench::run(argc, argv);
  } catch (const std::exception& e) {
    std::cerr << "fault_soak: " << e.what() << '\n';
    return 1;
  }
}
