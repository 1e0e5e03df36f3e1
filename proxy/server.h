#pragma once
// ProxyServer: askd's HTTP front. Routes /v1/chat/completions to the ChatHandler and answers
// /v1/models, /health and /metrics itself; checks API keys (when configured) in constant
// time; turns every malformed request into an OpenAI-shaped error. Built from a Config by
// askd's main (app.cpp) or by tests.

#include <memory>
#include <string>

#include "config/types.h"
#include "core/clock.h"
#include "net/http_server.h"
#include "proxy/chat.h"
#include "proxy/limiter.h"
#include "proxy/metrics.h"
#include "proxy/request_log.h"
#include "proxy/upstream.h"

namespace ask::proxy {

struct ServerSettings {
  std::size_t max_connections = 4096; // one thread each; more are answered 503
  std::chrono::milliseconds keep_alive_timeout{60'000};
};

class ProxyServer {
public:
  // `config`, `router`, `log` and `clock` must outlive the server.
  ProxyServer(const config::Config& config, ModelRouter& router, RequestLog& log,
              const core::Clock& clock, ServerSettings settings = {});
  ~ProxyServer();
  ProxyServer(const ProxyServer&) = delete;
  ProxyServer& operator=(const ProxyServer&) = delete;

  // Binds (port 0 picks a free one) and returns the port.
  core::Result<int> listen(const std::string& host, int port);
  // Serves until stop(); in-flight requests are cancelled by stop (their upstreams closed).
  void serve();
  // Thread-safe.
  void stop();

  ProxyMetrics& metrics() { return m_metrics; }

private:
  void handle(const net::HttpRequest& request, net::Exchange& exchange);
  // /api/status and /api/models/{name}/load|unload: the scheduler's view and control.
  bool handle_control(const net::HttpRequest& request, net::Exchange& exchange);
  // GET /api/events: the router's state changes as server-sent events (server_events.cpp).
  void events(const net::HttpRequest& request, net::Exchange& exchange);
  bool authorized(const net::HttpRequest& request) const;
  void send_json(net::Exchange& exchange, int status, const core::Json& body,
                 net::Headers extra = {});
  // GET /v1/models; with ?state=1 each model also says whether its backend holds it loaded.
  void models(const net::HttpRequest& request, net::Exchange& exchange);

  const config::Config& m_config;
  ModelRouter& m_router;
  const core::Clock& m_clock;
  RequestLog& m_log;
  ProxyMetrics m_metrics;
  UpstreamMap m_upstreams;
  LimiterSet m_limiters;
  std::unique_ptr<ChatHandler> m_chat;
  std::vector<std::string> m_key_digests; // sha256 of each API key
  long long m_started_at = 0;             // Unix seconds, for /v1/models "created"
  std::unique_ptr<net::HttpServer> m_server;
};

} // namespace ask::proxy
