// proxy_overhead: what askd adds on the hot path, next to a plain nginx reverse proxy.
//
// One run starts one llm-sim (llama-server mode, no pacing, short fixed answers), askd in
// front of it (one `openai` backend, request log on) and, when it is installed, nginx as a
// plain reverse proxy in front of the same simulator (upstream keep-alive, no buffering,
// access log on). It then measures the same requests four ways — straight to llm-sim,
// through askd's chat door, through askd's Anthropic door (/v1/messages: translated to chat
// and back on every request), through nginx; and, with --targets embeddings, POST
// /v1/embeddings through askd next to the same request straight to llm-sim (started with
// --embeddings --pooling mean), its added latency taken against that one:
//   (a) non-streaming latency at concurrency 1: p50/p90/p99, and what askd and nginx add
//       over the direct path;
//   (b) requests per second at concurrency 16 and 64 (non-streaming);
//   (c) time to first token of streams at concurrency 1 (first non-empty content delta).
// Other work on a shared machine must land on all targets alike rather than on one: the
// concurrency-1 phases send each request to every target in turn from one client thread, the
// throughput phases alternate the targets over --rounds rounds. Each target's CPU time per
// request (from /proc) is printed too: it is barely moved by that other work. The targets printed
// at the end: askd adds at most 150 µs at p50 and 1 ms at p99, and reaches at least half of
// nginx's requests per second.

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <iostream>
#include <iterator>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "bench/load.h"
#include "bench/process.h"
#include "bench/report.h"

namespace ask::bench {
namespace {

using namespace std::chrono_literals;

struct Flags {
  std::string askd = ASKD_PATH;
  std::string sim = LLM_SIM_PATH;
  std::string nginx;
  bool no_nginx = false;
  std::string nginx_workers = "auto";
  std::size_t latency_requests = 2000;
  std::size_t throughput_requests = 10000;
  std::size_t stream_requests = 2000;
  std::size_t warmup = 500;
  std::vector<int> concurrency = {16, 64};
  int rounds = 3;
  int tokens = 8;
  int slots = 128;
  std::vector<std::string> targets = {"direct", "askd", "messages", "nginx"};
  bool quick = false;
  bool keep_temp = false;
};

struct Target {
  std::string name;
  int port = 0;
  std::size_t baseline = 0; // the index of the direct target its added latency is taken from
  bool streams = true;      // false: embeddings, left out of the streaming phase
  pid_t pgid = 0;           // the server the client talks to (llm-sim itself for "direct")
  std::string plain;        // the non-streaming request's bytes
  std::string stream;
};

struct Stats {
  std::vector<double> latency_s;
  std::vector<double> first_content_s;
  std::size_t requests = 0;
  std::size_t failures = 0;
  std::size_t non_2xx = 0;
  double wall_s = 0;
  double cpu_s = 0; // CPU time of the target's server over these requests

  void add(LoadResult&& r) {
    latency_s.insert(latency_s.end(), r.latency_s.begin(), r.latency_s.end());
    first_content_s.insert(first_content_s.end(), r.first_content_s.begin(),
                           r.first_content_s.end());
    requests += r.requests;
    failures += r.failures;
    non_2xx += r.non_2xx;
    wall_s += r.wall_s;
  }
  void add(const Response& r) {
    ++requests;
    wall_s += r.total_s;
    if (!r.ok()) {
      ++failures;
      return;
    }
    if (r.status < 200 || r.status >= 300) {
      ++non_2xx;
    }
    latency_s.push_back(r.total_s);
    if (r.first_content_s >= 0) {
      first_content_s.push_back(r.first_content_s);
    }
  }
  double rps() const { return wall_s > 0 ? static_cast<double>(requests) / wall_s : 0; }
  std::string cpu_per_request() const {
    return requests > 0 ? fmt::format("{:.0f}", cpu_s * 1e6 / static_cast<double>(requests))
                        : std::string("-");
  }
  double p(double pct) { return percentile(latency_s, pct); }
  double ttft(double pct) { return percentile(first_content_s, pct); }
  std::string problems() const {
    if (failures == 0 && non_2xx == 0) {
      return "";
    }
    return fmt::format("  ({} failed, {} non-2xx of {})", failures, non_2xx, requests);
  }
};

std::string chat_body(int tokens, bool stream) {
  return fmt::format(R"({{"model":"bench","stream":{},"messages":[{{"role":"user","content":)"
                     R"("[[sim: tokens={}]] How much does the proxy add?"}}]}})",
                     stream ? "true" : "false", tokens);
}

// The same question on askd's Anthropic door: translated to chat and back on every request.
std::string messages_body(int tokens, bool stream) {
  return fmt::format(R"({{"model":"bench","max_tokens":4096,"stream":{},"messages":[{{"role":)"
                     R"("user","content":"[[sim: tokens={}]] How much does the proxy add?"}}]}})",
                     stream ? "true" : "false", tokens);
}

// An embeddings request of a few words (one vector back).
std::string embeddings_body() {
  return R"({"model":"bench","input":"How much does the proxy add to an embedding?"})";
}

Target make_target(std::string name, int port, pid_t pgid, int tokens) {
  Target t;
  t.name = std::move(name);
  t.port = port;
  t.pgid = pgid;
  if (t.name == "embeddings" || t.name == "embed-direct") {
    t.plain = post_request(port, "/v1/embeddings", embeddings_body());
    t.streams = false;
  } else if (t.name == "messages") {
    t.plain = post_request(port, "/v1/messages", messages_body(tokens, false));
    t.stream = post_request(port, "/v1/messages", messages_body(tokens, true));
  } else {
    t.plain = post_request(port, "/v1/chat/completions", chat_body(tokens, false));
    t.stream = post_request(port, "/v1/chat/completions", chat_body(tokens, true));
  }
  return t;
}

// Concurrency 1: one client thread sends request i to every target in turn (rotating which
// goes first), so a stall caused by other work on the machine is as likely to hit any target.
// Requests per second here is 1 / mean latency. llm-sim serves every target's requests, so
// "direct" is given its CPU time divided by the number of targets.
std::vector<Stats> measure_interleaved(const std::vector<Target>& targets, bool stream,
                                       std::size_t total) {
  std::vector<Stats> out(targets.size());
  std::vector<std::unique_ptr<Connection>> conns;
  std::vector<double> cpu0;
  for (const Target& t : targets) {
    conns.push_back(std::make_unique<Connection>(t.port));
    cpu0.push_back(group_cpu_seconds(t.pgid));
  }
  for (std::size_t i = 0; i < total; ++i) {
    for (std::size_t k = 0; k < targets.size(); ++k) {
      const std::size_t ti = (i + k) % targets.size();
      const Target& t = targets[ti];
      out[ti].add(conns[ti]->exchange(stream ? t.stream : t.plain, SteadyClock::now() + 30s));
    }
  }
  for (std::size_t ti = 0; ti < targets.size(); ++ti) {
    out[ti].cpu_s = group_cpu_seconds(targets[ti].pgid) - cpu0[ti];
    if (targets[ti].baseline == ti) { // direct: the simulator, which served all of them
      out[ti].cpu_s /= static_cast<double>(targets.size());
    }
  }
  return out;
}

// Runs `total` requests of one kind against every target, split into `rounds` rounds that
// alternate between the targets.
std::vector<Stats> measure(const std::vector<Target>& targets, bool stream, int concurrency,
                           std::size_t total, int rounds) {
  std::vector<Stats> out(targets.size());
  const std::size_t per_round = std::max<std::size_t>(1, total / static_cast<std::size_t>(rounds));
  for (int round = 0; round < rounds; ++round) {
    const std::size_t n =
        round + 1 == rounds ? total - per_round * static_cast<std::size_t>(round) : per_round;
    for (std::size_t t = 0; t < targets.size(); ++t) {
      // Alternate the order too, so no target always runs right after another one.
      const std::size_t ti = round % 2 == 0 ? t : targets.size() - 1 - t;
      const Target& target = targets[ti];
      if (stream && !target.streams) {
        continue;
      }
      const std::string& bytes = stream ? target.stream : target.plain;
      LoadOptions o;
      o.port = target.port;
      o.concurrency = concurrency;
      o.requests = n;
      o.timeout = 30s;
      const double cpu0 = group_cpu_seconds(target.pgid);
      out[ti].add(run_load(o, [&](std::size_t) -> const std::string& { return bytes; }));
      out[ti].cpu_s += group_cpu_seconds(target.pgid) - cpu0;
    }
  }
  return out;
}

std::string us(double seconds) {
  return fmt::format("{:.0f}", seconds * 1e6);
}

std::string signed_us(double seconds) {
  return fmt::format("{:+.0f}", seconds * 1e6);
}

std::string nginx_conf(const std::filesystem::path& dir, int listen_port, int sim_port,
                       const std::string& workers) {
  const std::string d = dir.string();
  return fmt::format(R"(# generated by bench/proxy_overhead
daemon off;
master_process on;
worker_processes {workers};
pid {d}/nginx.pid;
error_log {d}/nginx-error.log warn;
events {{ worker_connections 4096; }}
http {{
  access_log {d}/nginx-access.log;
  client_body_temp_path {d}/client_body;
  proxy_temp_path {d}/proxy;
  fastcgi_temp_path {d}/fastcgi;
  uwsgi_temp_path {d}/uwsgi;
  scgi_temp_path {d}/scgi;
  keepalive_requests 1000000;
  upstream sim {{
    server 127.0.0.1:{sim};
    keepalive 128;
  }}
  server {{
    listen 127.0.0.1:{listen};
    location / {{
      proxy_pass http://sim;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_buffering off;
      proxy_request_buffering off;
    }}
  }}
}}
)",
                     fmt::arg("workers", workers), fmt::arg("d", d), fmt::arg("sim", sim_port),
                     fmt::arg("listen", listen_port));
}

void check_served(const Target& t, bool expect_served_by) {
  Connection c(t.port);
  for (const std::string* bytes : {&t.plain, &t.stream}) {
    if (bytes->empty()) {
      continue; // embeddings do not stream
    }
    Response r = c.exchange(*bytes, SteadyClock::now() + 10s);
    if (!r.ok() || r.status != 200 || r.first_content_s < 0) {
      throw std::runtime_error(fmt::format("{}: a test request failed (status {}, {}): {}", t.name,
                                           r.status, to_string(r.failure), r.body.substr(0, 300)));
    }
    if (expect_served_by && r.header("X-Served-By") != "bench") {
      throw std::runtime_error(t.name + ": no \"X-Served-By: bench\" in the answer");
    }
  }
}

// The peer target answers through the other askd, and says so.
void check_peer_served(const Target& t) {
  Connection c(t.port);
  Response r = c.exchange(t.plain, SteadyClock::now() + 10s);
  if (r.header("X-Served-By") != "bench@box") {
    throw std::runtime_error("peer: no \"X-Served-By: bench@box\" in the answer");
  }
}

// Parses the command line; nullopt with `exit_code` set when the program should stop (--help,
// a bad flag).
std::optional<Flags> parse_flags(int argc, char** argv, int& exit_code) {
  Flags f;
  CLI::App app{"proxy_overhead: askd's added latency and throughput next to direct llm-sim and "
               "nginx"};
  app.add_option("--askd", f.askd, "askd binary")->capture_default_str();
  app.add_option("--llm-sim", f.sim, "llm-sim binary")->capture_default_str();
  app.add_option("--nginx", f.nginx, "nginx binary (default: found on PATH or /usr/sbin)");
  app.add_flag("--no-nginx", f.no_nginx, "skip the nginx column");
  app.add_option("--nginx-workers", f.nginx_workers, "nginx worker_processes")
      ->capture_default_str();
  app.add_option("--latency-requests", f.latency_requests, "requests per target at concurrency 1")
      ->capture_default_str();
  app.add_option("--throughput-requests", f.throughput_requests,
                 "requests per target and concurrency level")
      ->capture_default_str();
  app.add_option("--stream-requests", f.stream_requests,
                 "streams per target for time to first token")
      ->capture_default_str();
  app.add_option("--warmup", f.warmup, "warm-up requests per target")->capture_default_str();
  app.add_option("--concurrency", f.concurrency, "concurrency levels of the throughput phase")
      ->delimiter(',')
      ->capture_default_str();
  app.add_option("--rounds", f.rounds,
                 "rounds the throughput phase is split into, alternating "
                 "targets")
      ->capture_default_str()
      ->check(CLI::Range(1, 100));
  app.add_option("--tokens", f.tokens, "answer length in tokens")->capture_default_str();
  app.add_option("--slots", f.slots, "llm-sim slots (-np)")->capture_default_str();
  app.add_option("--targets", f.targets,
                 "what to measure besides direct (always measured): askd, messages (askd's "
                 "Anthropic door, /v1/messages), nginx, embeddings (/v1/embeddings through "
                 "askd and straight to llm-sim), peer (askd in front of another askd, a "
                 "backend of kind askd: its added latency is taken against the askd column)")
      ->delimiter(',')
      ->capture_default_str()
      ->check(CLI::IsMember({"direct", "askd", "messages", "nginx", "embeddings", "peer"}));
  app.add_flag("--quick", f.quick, "a smoke run: few requests (for CI)");
  app.add_flag("--keep-temp", f.keep_temp, "keep the temp folder (configs, logs)");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    exit_code = app.exit(e);
    return std::nullopt;
  }
  if (f.quick) {
    f.latency_requests = std::min<std::size_t>(f.latency_requests, 200);
    f.throughput_requests = std::min<std::size_t>(f.throughput_requests, 1000);
    f.stream_requests = std::min<std::size_t>(f.stream_requests, 200);
    f.warmup = std::min<std::size_t>(f.warmup, 100);
    f.rounds = 1;
  }
  f.slots = std::max(1, f.slots);
  if (std::find(f.targets.begin(), f.targets.end(), "nginx") == f.targets.end()) {
    f.no_nginx = true;
  }
  return f;
}

// The programs measured, running until destroyed.
struct Servers {
  int sim_port = 0;
  int askd_port = 0;
  int nginx_port = 0;
  std::unique_ptr<Process> sim;
  std::unique_ptr<Process> askd;
  std::unique_ptr<Process> nginx; // null when not installed, skipped or failed to start
  // --targets peer: an askd whose backend is another askd (its own, not `askd`, so that the
  // two columns' CPU time is each its own) in front of the same llm-sim.
  int peer_port = 0;
  std::unique_ptr<Process> peer_box;
  std::unique_ptr<Process> peer_front;
  std::string nginx_path;
  std::string nginx_note; // why there is no nginx
};

void start_nginx(const Flags& f, const TempDir& dir, Servers& s) {
  if (f.no_nginx) {
    s.nginx_note = "nginx: skipped (--no-nginx or --targets)";
    return;
  }
  if (!f.nginx.empty()) {
    s.nginx_path = f.nginx;
  } else if (auto found = find_program("nginx")) {
    s.nginx_path = found->string();
  } else {
    s.nginx_note = "nginx: not installed, its column is skipped (apt-get install -y nginx)";
    return;
  }
  s.nginx_port = free_port();
  const auto conf =
      dir.write("nginx.conf", nginx_conf(dir.path(), s.nginx_port, s.sim_port, f.nginx_workers));
  s.nginx = std::make_unique<Process>(
      std::vector<std::string>{s.nginx_path, "-p", dir.path().string(), "-c", conf.string(), "-e",
                               (dir.path() / "nginx-error.log").string()},
      dir.path() / "nginx.log");
  if (!wait_for_port(s.nginx_port, 10s) || !s.nginx->running()) {
    s.nginx_note = "nginx: did not start, its column is skipped:\n" + s.nginx->log_tail();
    s.nginx.reset();
  }
}

bool wants(const Flags& f, std::string_view target) {
  return std::find(f.targets.begin(), f.targets.end(), target) != f.targets.end();
}

Servers start_servers(const Flags& f, const TempDir& dir) {
  Servers s;
  std::vector<std::string> sim_args = {f.sim,
                                       "--sim-fake-model",
                                       "-a",
                                       "bench",
                                       "--port",
                                       "0",
                                       "-np",
                                       std::to_string(f.slots),
                                       "-c",
                                       std::to_string(f.slots * 2048),
                                       "--sim-tokens-per-second",
                                       "0",
                                       "--sim-parent-pid",
                                       std::to_string(::getpid())};
  if (wants(f, "embeddings")) { // chat is answered as before (llama-server does too)
    sim_args.insert(sim_args.end(), {"--embeddings", "--pooling", "mean"});
  }
  s.sim = std::make_unique<Process>(sim_args, dir.path() / "llm-sim.log");
  s.sim_port = start_port_of(*s.sim, "llama_server: listening on", "llm-sim");

  const auto config = dir.write("askd.jsonc", fmt::format(R"({{
  // generated by bench/proxy_overhead: one openai backend, one model
  "backends": {{ "sim": {{ "kind": "openai", "url": "http://127.0.0.1:{}" }} }},
  "models": {{ "bench": {{ "backend": "sim", "upstream": "bench" }} }}
}}
)",
                                                          s.sim_port));
  s.askd = std::make_unique<Process>(
      std::vector<std::string>{f.askd, "--config", config.string(), "--listen", "127.0.0.1:0",
                               "--request-log", (dir.path() / "askd-requests.jsonl").string(),
                               "--log-level", "warn"},
      dir.path() / "askd.log");
  s.askd_port = start_port_of(*s.askd, "askd: listening on", "askd");
  if (wants(f, "peer")) {
    auto start_askd = [&](const std::string& name, const std::filesystem::path& cfg) {
      auto p = std::make_unique<Process>(
          std::vector<std::string>{
              f.askd, "--config", cfg.string(), "--listen", "127.0.0.1:0", "--request-log",
              (dir.path() / (name + "-requests.jsonl")).string(), "--log-level", "warn"},
          dir.path() / (name + ".log"));
      const int port = start_port_of(*p, "askd: listening on", name);
      return std::pair{std::move(p), port};
    };
    auto [box, box_port] = start_askd("peer-box", config);
    s.peer_box = std::move(box);
    const auto front = dir.write("peer-front.jsonc", fmt::format(R"({{
  // generated by bench/proxy_overhead: another askd as the backend (a peer)
  "backends": {{ "box": {{ "kind": "askd", "url": "http://127.0.0.1:{}" }} }},
  "models": {{ "bench": {{ "backend": "box", "upstream": "bench" }} }}
}}
)",
                                                                 box_port));
    auto [p, port] = start_askd("peer-front", front);
    s.peer_front = std::move(p);
    s.peer_port = port;
  }
  start_nginx(f, dir, s);
  return s;
}

std::vector<Target> make_targets(const Flags& f, const Servers& s) {
  std::vector<Target> targets;
  targets.push_back(make_target("direct", s.sim_port, s.sim->pid(), f.tokens));
  for (const char* door : {"askd", "messages"}) {
    if (std::find(f.targets.begin(), f.targets.end(), door) != f.targets.end()) {
      targets.push_back(make_target(door, s.askd_port, s.askd->pid(), f.tokens));
    }
  }
  if (s.nginx) {
    targets.push_back(make_target("nginx", s.nginx_port, s.nginx->pid(), f.tokens));
  }
  if (wants(f, "embeddings")) {
    const std::size_t direct = targets.size();
    targets.push_back(make_target("embed-direct", s.sim_port, s.sim->pid(), f.tokens));
    targets.back().baseline = direct;
    targets.push_back(make_target("embeddings", s.askd_port, s.askd->pid(), f.tokens));
    targets.back().baseline = direct;
  }
  if (s.peer_front) {
    // Against the askd column: what the second askd and its hop add.
    const auto askd = std::find_if(targets.begin(), targets.end(),
                                   [](const Target& t) { return t.name == "askd"; });
    const std::size_t baseline =
        askd != targets.end() ? static_cast<std::size_t>(askd - targets.begin()) : 0;
    targets.push_back(make_target("peer", s.peer_port, s.peer_front->pid(), f.tokens));
    targets.back().baseline = baseline;
  }
  for (const Target& t : targets) {
    check_served(t, t.name == "askd" || t.name == "messages" || t.name == "embeddings");
    if (t.name == "peer") {
      check_peer_served(t);
    }
  }
  return targets;
}

void print_setup(const Flags& f, const Servers& s) {
  std::cout << fmt::format("backend: llm-sim {} (llama-server mode, {} slots, no pacing, "
                           "{}-token answers) on port {}\n",
                           f.sim, f.slots, f.tokens, s.sim_port)
            << fmt::format("askd:    {} on port {}, pid {} (request log on, --log-level warn)\n",
                           f.askd, s.askd_port, s.askd->pid());
  if (s.nginx) {
    std::cout << fmt::format("nginx:   {} on port {} (worker_processes {}, upstream keepalive, "
                             "proxy_buffering off, access log on)\n",
                             s.nginx_path, s.nginx_port, f.nginx_workers);
  } else {
    std::cout << s.nginx_note << '\n';
  }
  std::cout << fmt::format("client:  one thread per concurrent request, each with its own "
                           "keep-alive connection; c=1 phases interleave the targets request by "
                           "request, throughput phases alternate them over {} round(s)\n",
                           f.rounds)
            << "CPU µs/req: user+system CPU time of the server the client talks to (llm-sim for "
               "direct, askd, or nginx's master and workers) per request: unlike latency, barely "
               "moved by other work on the machine\n\n";
  std::cout.flush();
}

// Indexes of the targets in the result vectors; direct is always first.
struct Columns {
  std::optional<std::size_t> askd;
  std::optional<std::size_t> nginx;

  explicit Columns(const std::vector<Target>& targets) {
    for (std::size_t i = 0; i < targets.size(); ++i) {
      if (targets[i].name == "askd") {
        askd = i;
      } else if (targets[i].name == "nginx") {
        nginx = i;
      }
    }
  }
};

// What the targets are judged on.
struct Verdicts {
  std::optional<double> askd_add50, askd_add99, nginx_add50, nginx_add99;
  std::map<int, std::pair<double, double>> askd_vs_nginx; // concurrency -> (askd, nginx) req/s
};

void latency_phase(const Flags& f, const std::vector<Target>& targets, const Columns& col,
                   Verdicts& v) {
  auto lat = measure_interleaved(targets, false, f.latency_requests);
  std::cout << fmt::format("(a) non-streaming latency, concurrency 1, {} requests per target, "
                           "interleaved (load {})\n",
                           f.latency_requests, load_average());
  std::cout << fmt::format("  {:<12} {:>9} {:>9} {:>9} {:>9} {:>9} {:>11} {:>11} {:>10}\n",
                           "target", "p50 µs", "p90 µs", "p99 µs", "max µs", "req/s", "added p50",
                           "added p99", "CPU µs/req");
  const double d50 = lat[0].p(50);
  const double d99 = lat[0].p(99);
  for (std::size_t i = 0; i < targets.size(); ++i) {
    Stats& s = lat[i];
    const std::size_t b = targets[i].baseline; // embeddings: against llm-sim's embeddings
    const bool base = i == b;
    std::cout << fmt::format("  {:<12} {:>9} {:>9} {:>9} {:>9} {:>9.0f} {:>11} {:>11} {:>10}{}\n",
                             targets[i].name, us(s.p(50)), us(s.p(90)), us(s.p(99)), us(s.p(100)),
                             s.rps(), base ? "-" : signed_us(s.p(50) - lat[b].p(50)) + " µs",
                             base ? "-" : signed_us(s.p(99) - lat[b].p(99)) + " µs",
                             s.cpu_per_request(), s.problems());
  }
  auto added = [&](std::optional<std::size_t> i, double pct, double base) {
    return i ? std::optional<double>(lat[*i].p(pct) - base) : std::nullopt;
  };
  v.askd_add50 = added(col.askd, 50, d50);
  v.askd_add99 = added(col.askd, 99, d99);
  v.nginx_add50 = added(col.nginx, 50, d50);
  v.nginx_add99 = added(col.nginx, 99, d99);
}

void throughput_phase(const Flags& f, const std::vector<Target>& targets, const Columns& col,
                      Verdicts& v) {
  std::cout << fmt::format("\n(b) non-streaming throughput, {} requests per target and level\n",
                           f.throughput_requests);
  std::cout << fmt::format("  {:<12} {:>6} {:>9} {:>9} {:>9} {:>10} {:>10}\n", "target", "conc",
                           "req/s", "p50 µs", "p99 µs", "vs nginx", "CPU µs/req");
  for (int c : f.concurrency) {
    auto thr = measure(targets, false, std::max(1, c), f.throughput_requests, f.rounds);
    for (std::size_t i = 0; i < targets.size(); ++i) {
      Stats& s = thr[i];
      std::string vs = "-";
      if (col.nginx && thr[*col.nginx].rps() > 0) {
        vs = fmt::format("{:.0f}%", 100.0 * s.rps() / thr[*col.nginx].rps());
      }
      std::cout << fmt::format("  {:<12} {:>6} {:>9.0f} {:>9} {:>9} {:>10} {:>10}{}\n",
                               targets[i].name, c, s.rps(), us(s.p(50)), us(s.p(99)), vs,
                               s.cpu_per_request(), s.problems());
    }
    if (col.nginx && col.askd) {
      v.askd_vs_nginx[c] = {thr[*col.askd].rps(), thr[*col.nginx].rps()};
    }
    std::cout << fmt::format("  (load {})\n", load_average());
  }
}

void stream_phase(const Flags& f, const std::vector<Target>& all) {
  std::vector<Target> targets;
  std::copy_if(all.begin(), all.end(), std::back_inserter(targets),
               [](const Target& t) { return t.streams; });
  auto st = measure_interleaved(targets, true, f.stream_requests);
  std::cout << fmt::format("\n(c) streaming, concurrency 1, {} streams per target, interleaved: "
                           "time to first content token, and the whole stream (load {})\n",
                           f.stream_requests, load_average());
  std::cout << fmt::format("  {:<8} {:>10} {:>10} {:>11} {:>11} {:>12} {:>10}\n", "target",
                           "ttft p50", "ttft p99", "added p50", "added p99", "stream p50",
                           "CPU µs/req");
  const double t50 = st[0].ttft(50);
  const double t99 = st[0].ttft(99);
  for (std::size_t i = 0; i < targets.size(); ++i) {
    Stats& s = st[i];
    const bool base = i == 0;
    std::cout << fmt::format("  {:<8} {:>7} µs {:>7} µs {:>11} {:>11} {:>9} µs {:>10}{}\n",
                             targets[i].name, us(s.ttft(50)), us(s.ttft(99)),
                             base ? "-" : signed_us(s.ttft(50) - t50) + " µs",
                             base ? "-" : signed_us(s.ttft(99) - t99) + " µs", us(s.p(50)),
                             s.cpu_per_request(), s.problems());
  }
}

void print_verdicts(const Verdicts& v) {
  auto verdict = [](bool met) { return met ? "met" : "MISSED"; };
  auto control = [&](const std::optional<double>& x) {
    return x ? fmt::format("  (nginx: {} µs)", signed_us(*x)) : std::string();
  };
  std::cout << "\ntargets:\n";
  if (v.askd_add50 && v.askd_add99) {
    std::cout << fmt::format("  askd adds <= 150 µs at p50 (c=1):   {:>7} µs  {}{}\n",
                             signed_us(*v.askd_add50), verdict(*v.askd_add50 <= 150e-6),
                             control(v.nginx_add50));
    std::cout << fmt::format("  askd adds <= 1 ms at p99 (c=1):     {:>7} µs  {}{}\n",
                             signed_us(*v.askd_add99), verdict(*v.askd_add99 <= 1e-3),
                             control(v.nginx_add99));
  }
  if (v.askd_vs_nginx.empty()) {
    std::cout << "  askd >= 50% of nginx's req/s:       not measured (no nginx or no askd)\n";
  }
  for (const auto& [c, pair] : v.askd_vs_nginx) {
    const double ratio = pair.second > 0 ? pair.first / pair.second : 0;
    std::cout << fmt::format("  askd >= 50% of nginx's req/s (c={:<2}): {:>6.0f}%  {}\n", c,
                             100 * ratio, verdict(ratio >= 0.5));
  }
}

int run(int argc, char** argv) {
  int exit_code = 0;
  auto flags = parse_flags(argc, argv, exit_code);
  if (!flags) {
    return exit_code;
  }
  const Flags& f = *flags;
  install_cleanup_handlers();
  std::cout << "proxy_overhead: askd vs direct llm-sim vs nginx\n"
            << "command: " << command_line(argc, argv) << '\n'
            << "machine: " << machine_summary() << '\n'
            << "date:    " << now_text() << '\n'
            << "load:    " << load_average() << " (1/5/15 min) at start\n";
  TempDir dir("askd-bench-");
  if (f.keep_temp) {
    dir.keep();
    std::cout << "temp:    " << dir.path().string() << '\n';
  }
  std::cout.flush();

  Servers servers = start_servers(f, dir);
  const std::vector<Target> targets = make_targets(f, servers);
  print_setup(f, servers);
  const Columns col(targets);

  // Warm-up: connections, pools, page faults, the CPU's frequency.
  measure(targets, false, 16, f.warmup, 1);
  measure(targets, true, 4, f.warmup / 2 + 1, 1);
  measure(targets, false, 1, f.warmup, 1);

  Verdicts v;
  latency_phase(f, targets, col, v);
  throughput_phase(f, targets, col, v);
  stream_phase(f, targets);
  print_verdicts(v);
  std::cout << "load:    " << load_average() << " (1/5/15 min) at the end\n";

  if (!servers.askd->running()) {
    std::cout << "askd exited during the run ("
              << describe_wait_status(*servers.askd->exit_status()) << "):\n"
              << servers.askd->log_tail() << '\n';
    return 1;
  }
  if (servers.nginx) {
    servers.nginx->stop();
  }
  servers.askd->stop();
  servers.sim->stop();
  return 0;
}

} // namespace
} // namespace ask::bench

int main(int argc, char** argv) {
  try {
    return ask::bench::run(argc, argv);
  } catch (const std::exception& e) {
    std::cerr << "proxy_overhead: " << e.what() << '\n';
    return 1;
  }
}
