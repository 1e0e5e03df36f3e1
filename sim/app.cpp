#include "sim/app.h"

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <thread>

#include "core/json_text.h"
#include "sim/llama_api.h"
#include "sim/llama_startup.h"
#include "sim/ollama_api.h"
#include "sim/ollama_models.h"
#include "sim/shutdown.h"

namespace ask::sim {

namespace {

constexpr const char* k_version_text =
    "version: 10587 (3f545becc)\nbuilt with GNU 12.2.0 for Linux x86_64 (llm-sim)\n";

// Everything one run shares; the HTTP handler lives here.
class Runtime {
public:
  explicit Runtime(const Options& options)
      : m_log(m_clock, options.verbosity), m_requests(m_clock, options.request_log_size),
        m_ids(options.seed), m_services{options, m_clock, m_log, m_stats, m_requests, m_ids},
        m_server([this](const HttpRequest& r, Exchange& e) { handle(r, e); },
                 server_options(options)) {}

  const Services& services() const { return m_services; }
  Log& log() { return m_log; }
  HttpServer& server() { return m_server; }
  void publish(LlamaServerApi* api) { m_llama.store(api); }
  void publish(OllamaApi* api) { m_ollama.store(api); }

  // Serves in a thread until stop().
  void start() {
    m_thread = std::thread([this] { m_server.serve(); });
  }
  void stop() {
    m_stats.stop(); // a /sim/stats?until=... waiter would otherwise hold the shutdown
    m_server.stop();
    if (m_thread.joinable()) {
      m_thread.join();
    }
  }

private:
  static ServerOptions server_options(const Options& o) {
    ServerOptions s;
    s.max_connections = o.max_connections;
    s.name = "llm-sim";
    return s;
  }

  void handle(const HttpRequest& request, Exchange& exchange) {
    if (request.path.starts_with("/sim/")) {
      introspect(request, exchange);
      return;
    }
    m_requests.record(request);
    if (OllamaApi* ollama = m_ollama.load()) {
      ollama->handle(request, exchange);
    } else if (LlamaServerApi* llama = m_llama.load()) {
      llama->handle(request, exchange);
    } else {
      LlamaServerApi::send_loading(exchange);
    }
  }

  void introspect(const HttpRequest& request, Exchange& exchange) {
    nlohmann::ordered_json body;
    int status = 200;
    if (request.method == "GET" && request.path == "/sim/requests") {
      body = m_requests.to_json();
    } else if (request.method == "GET" && request.path == "/sim/stats") {
      wait_for_stats(request.query);
      body = m_stats.to_json();
    } else if (request.method == "POST" && request.path == "/sim/reset") {
      m_requests.clear();
      m_stats.reset();
      body = {{"ok", true}};
    } else {
      status = 404;
      body = {{"error", "llm-sim: no such endpoint " + request.method + " " + request.path}};
    }
    std::string text = core::dump_json(body);
    exchange.send_response(status,
                           {{"Content-Type", "application/json; charset=utf-8"},
                            {"Content-Length", std::to_string(text.size())}},
                           text);
  }

  // "?until=NAME&at_least=N&timeout_ms=T": hold the answer until the counter gets there.
  void wait_for_stats(const std::string& query) {
    std::map<std::string, std::string> params;
    std::size_t start = 0;
    while (start < query.size()) {
      std::size_t end = query.find('&', start);
      std::string item =
          query.substr(start, end == std::string::npos ? std::string::npos : end - start);
      std::size_t eq = item.find('=');
      params[item.substr(0, eq)] = eq == std::string::npos ? "" : item.substr(eq + 1);
      start = end == std::string::npos ? query.size() : end + 1;
    }
    if (params.contains("until")) {
      long long at_least = std::atoll(params["at_least"].c_str());
      long long timeout =
          params.contains("timeout_ms") ? std::atoll(params["timeout_ms"].c_str()) : 5000;
      m_stats.wait_until(params["until"], at_least,
                         std::chrono::milliseconds(std::clamp(timeout, 0LL, 60000LL)));
    }
  }

  core::SystemClock m_clock;
  Log m_log;
  SimStats m_stats;
  RequestLog m_requests;
  IdSource m_ids;
  Services m_services;
  std::atomic<LlamaServerApi*> m_llama{nullptr};
  std::atomic<OllamaApi*> m_ollama{nullptr};
  HttpServer m_server;
  std::thread m_thread;
};

int run_llama(const Options& options, ShutdownSignal& shutdown) {
  Runtime rt(options);
  LlamaStartup startup(options, rt.log());
  startup.log_header();
  auto port = rt.server().listen(options.host, options.effective_port());
  if (!port) {
    startup.log_bind_failure(options.effective_port());
    return 1;
  }
  rt.log().sim("bound http://" + options.host + ":" + std::to_string(*port));
  rt.start();
  auto loaded = startup.load_model();
  if (!loaded) {
    rt.stop();
    return 1;
  }
  LlamaServerApi api(rt.services(), loaded->model, loaded->ctx);
  if (shutdown.wait_for(options.load_time)) {
    startup.log_shutdown(loaded->memory);
    rt.stop();
    return 0;
  }
  rt.publish(&api);
  startup.log_ready(*port);
  shutdown.wait();
  startup.log_shutdown(loaded->memory);
  rt.stop();
  return 0;
}

int run_ollama(const Options& options, ShutdownSignal& shutdown) {
  Runtime rt(options);
  OllamaModels models(rt.services().clock, ollama_catalog(options.models), options.load_time);
  OllamaApi api(rt.services(), models);
  rt.publish(&api);
  auto port = rt.server().listen(options.host, options.effective_port());
  if (!port) {
    std::fprintf(stderr, "Error: listen tcp %s:%d: bind: address already in use\n",
                 options.host.c_str(), options.effective_port());
    return 1;
  }
  rt.log().sim("bound http://" + options.host + ":" + std::to_string(*port));
  rt.start();
  rt.log().ollama("INFO", "routes.go:1554",
                  "Listening on " + options.host + ":" + std::to_string(*port) + " (version " +
                      std::string(k_ollama_version) + ")");
  shutdown.wait();
  rt.stop();
  return 0;
}

} // namespace

int run_llm_sim(int argc, char** argv) {
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  std::vector<std::string> args(argv + 1, argv + argc);
  auto options = parse_options(args);
  if (!options) {
    std::fprintf(stderr, "llm-sim: %s\n", options.error().message.c_str());
    return 2;
  }
  if (options->help) {
    std::fputs(help_text().c_str(), stdout);
    return 0;
  }
  if (options->version) {
    std::fputs(k_version_text, stdout);
    return 0;
  }
  for (const std::string& flag : options->ignored_flags) {
    std::fprintf(stderr, "llm-sim: ignoring unknown flag %s\n", flag.c_str());
  }
  ShutdownSignal shutdown;
  if (options->parent_pid) {
    exit_when_process_gone(*options->parent_pid);
  }
  return options->mode == Mode::ollama ? run_ollama(*options, shutdown)
                                       : run_llama(*options, shutdown);
}

} // namespace ask::sim
