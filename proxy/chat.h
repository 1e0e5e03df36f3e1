#pragma once
// ChatHandler: POST /v1/chat/completions, and every other door that speaks through chat (a
// Dialect: /v1/messages, /v1/responses). Validates the request, resolves the logical model,
// walks its fallback chain until one model produces its first content, commits the response
// headers only then (X-Served-By names who really answered, for streams too), relays the
// reply in the door's shape, and writes one request-log line and the metrics for every
// request.

#include <map>
#include <memory>
#include <string>
#include <utility>

#include "config/config.h"
#include "config/types.h"
#include "core/clock.h"
#include "net/http_server.h"
#include "proxy/aliases.h"
#include "proxy/dialect.h"
#include "proxy/fallback.h"
#include "proxy/limiter.h"
#include "proxy/metrics.h"
#include "proxy/peers.h"
#include "proxy/request_log.h"
#include "proxy/upstream.h"

namespace ask::proxy {

using UpstreamMap = std::map<std::string, std::unique_ptr<Upstream>, std::less<>>;

// What the handler works with; all owned elsewhere and outliving it.
struct ChatDeps {
  const config::Config& config;
  const UpstreamMap& upstreams; // by backend name
  const LimiterSet& limiters;
  ProxyMetrics& metrics;
  RequestLog& log;
  const core::Clock& clock;
  const AliasStore* aliases = nullptr;  // runtime aliases; none: the config's alone
  const PeerDirectory* peers = nullptr; // the models other askds offer here; none: no peers
  std::string instance;                 // this askd's id, for X-Ask-Via (proxy/peers.h)

  // What a client's model name means, runtime aliases first.
  core::Result<config::ResolvedName> resolve(std::string_view name) const {
    return aliases != nullptr ? aliases->resolve(name) : config::resolve_model_name(config, name);
  }
};

class ChatHandler {
public:
  explicit ChatHandler(ChatDeps deps) : m_deps(std::move(deps)) {}

  // Answers one request on `exchange` through `door` (chat_dialect() for chat completions);
  // never throws for anything a client or backend does. `body`: the request's body, when the
  // caller has already parsed it (a door made from it); else it is parsed here.
  void handle(const net::HttpRequest& request, net::Exchange& exchange, const Dialect& door,
              const core::Json* body = nullptr);

private:
  ChatDeps m_deps;
};

// A fresh request id, "chatcmpl-" and 24 hex digits.
std::string new_request_id();

// OpenAI's error body for askd's own errors: {"error":{"message","type","code"}}.
core::Json error_json(std::string_view message, std::string_view type, std::string_view code);

} // namespace ask::proxy
