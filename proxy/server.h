#pragma once
// ProxyServer: askd's HTTP front. Routes /v1/chat/completions to the ChatHandler and answers
// /v1/models, /health and /metrics itself; checks API keys (when configured) in constant
// time, on the request head before its body is read; turns every malformed request into an
// OpenAI-shaped error. Built from a Config by
// askd's main (app.cpp) or by tests.

#include <chrono>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>

#include "config/types.h"
#include "proxy/aliases.h"
#include "core/clock.h"
#include "net/http_server.h"
#include "proxy/chat.h"
#include "proxy/count_tokens.h"
#include "proxy/limiter.h"
#include "proxy/metrics.h"
#include "proxy/peers.h"
#include "proxy/request_log.h"
#include "proxy/upstream.h"

namespace ask::proxy {

// /ui, /ui/ and /ui/NAME: the operator page's files, served without an API key.
bool is_ui_path(std::string_view path);

class ProxyServer {
public:
  // `config`, `router`, `log` and `clock` must outlive the server.
  // The HTTP server's deadlines and limits come from `config.server`.
  // Where the server keeps and finds files of its own; both may be empty.
  struct Paths {
    std::filesystem::path alias_file; // runtime aliases across restarts; "" = in memory only
    std::filesystem::path ui_dir;     // ASK_UI_DIR: the page read from here, not built in
  };
  ProxyServer(const config::Config& config, ModelRouter& router, RequestLog& log,
              const core::Clock& clock, Paths paths = {});
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
  // Replaces the accepted API keys (SIGHUP); thread-safe, takes effect for the next request
  // head. Says which of `keys` are new (their indexes) and how many old ones went.
  struct KeyChange {
    std::vector<std::size_t> added; // indexes into `keys`
    std::size_t removed = 0;
    std::size_t kept = 0;
  };
  KeyChange set_api_keys(const std::vector<config::ApiKey>& keys);

private:
  void handle(const net::HttpRequest& request, net::Exchange& exchange);
  // /api/status, /api/models/{name}/load|unload|pin|unpin, /api/requests, /api/config and
  // /api/aliases: the operator's view and control (server_control.cpp). False when `request`
  // is for none of them.
  bool handle_control(const net::HttpRequest& request, net::Exchange& exchange);
  // GET /api/status and the events stream's `status` event: the router's view, and the peers.
  core::Json status_json() const;
  // GET, PUT and DELETE /api/aliases[/{name}].
  void aliases(const net::HttpRequest& request, net::Exchange& exchange, std::string_view name);
  // GET /ui and /ui/{file}: the operator page.
  void ui(const net::HttpRequest& request, net::Exchange& exchange);
  // GET /api/events: the router's state changes as server-sent events (server_events.cpp).
  void events(const net::HttpRequest& request, net::Exchange& exchange);
  bool authorized(const net::HttpRequest& request) const;
  // The HttpServer's HeadCheck: the API key, before any byte of the body is read.
  std::optional<net::Rejection> check_head(const net::HttpRequest& head, const std::string& peer);
  void send_json(net::Exchange& exchange, int status, const core::Json& body,
                 net::Headers extra = {});
  // GET /v1/models and GET /v1/models/{id}; with ?state=1 each model also says whether its
  // backend holds it loaded.
  void models(const net::HttpRequest& request, net::Exchange& exchange);
  void model(const net::HttpRequest& request, net::Exchange& exchange, std::string_view id);
  // The /v1/models entries: every model, council and alias, or only the one named `only`
  // (empty when it is not served). `with_state` asks each backend involved, bounded.
  core::Json model_entries(bool with_state, std::string_view only);
  // Appends the entries of the models peers offer here (or the one named `only`), marked
  // with `peer`; `with_state`: "available", or "unreachable" while the peer is down.
  void add_peer_entries(bool with_state, std::string_view only, core::Json& data);
  // What `model`'s backend says of it (context window, capabilities), kept for a minute;
  // none when it cannot say. `down` names backends that failed to answer during this
  // listing, which are not asked again in it.
  std::optional<ModelFacts> facts_for(const config::Model& model, std::set<std::string>& down);

  const config::Config& m_config;
  ModelRouter& m_router;
  const core::Clock& m_clock;
  RequestLog& m_log;
  AliasStore m_aliases;
  std::string m_ui_dir; // ASK_UI_DIR: the page's files read from there, not the embedded ones
  ProxyMetrics m_metrics;
  std::string m_instance; // this askd's id: /health says it, X-Ask-Via carries it
  PeerDirectory m_peers;  // the other askds among the backends
  UpstreamMap m_upstreams;
  LimiterSet m_limiters;
  std::unique_ptr<ChatHandler> m_chat;
  std::unique_ptr<TokenCounter> m_counter;
  mutable std::mutex m_keys_mutex;
  std::vector<std::string> m_key_digests; // sha256 of each API key; guarded by m_keys_mutex
  long long m_started_at = 0;             // Unix seconds, for /v1/models "created"
  struct CachedFacts {
    std::optional<ModelFacts> facts;
    std::chrono::steady_clock::time_point until;
  };
  std::mutex m_facts_mutex;
  std::map<std::string, CachedFacts, std::less<>> m_facts; // by model; guarded by m_facts_mutex
  std::unique_ptr<net::HttpServer> m_server;
};

} // namespace ask::proxy
