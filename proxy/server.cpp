#include "proxy/server.h"

#include <algorithm>
#include <map>

#include <openssl/crypto.h>
#include <spdlog/spdlog.h>

#include "core/json_text.h"
#include "core/sha256.h"
#include "core/url.h"
#include "proxy/dialect_anthropic.h"
#include "proxy/dialect_openai.h"
#include "proxy/dialect_responses.h"
#include "proxy/ollama_upstream.h"

namespace ask::proxy {

namespace {

std::string_view bearer_token(std::string_view value) {
  constexpr std::string_view k_prefix = "Bearer ";
  if (value.size() > k_prefix.size() && net::iequals(value.substr(0, k_prefix.size()), k_prefix)) {
    value.remove_prefix(k_prefix.size());
    while (!value.empty() && value.front() == ' ') {
      value.remove_prefix(1);
    }
    return value;
  }
  return {};
}

const AnthropicDialect k_anthropic_door; // stateless: one for every request

// Paths of the Anthropic door, whose clients read errors in Anthropic's shape.
bool anthropic_path(std::string_view path) {
  return path == "/v1/messages" || path.starts_with("/v1/messages/");
}

// askd's own error body for a request to `path`: OpenAI's shape, or Anthropic's on its door.
core::Json error_for(std::string_view path, int status, const std::string& message,
                     std::string_view type, std::string_view code) {
  if (anthropic_path(path)) {
    return anthropic_error(status, message);
  }
  return error_json(message, type, code);
}

core::Json model_entry(const config::Model& m, long long created) {
  core::Json e = {{"id", m.name}, {"object", "model"}, {"created", created}, {"owned_by", "askd"}};
  if (m.context_length) {
    e["context_length"] = *m.context_length;
  }
  if (!m.description.empty()) {
    e["description"] = m.description;
  }
  if (!m.capabilities.empty()) {
    e["capabilities"] = m.capabilities;
  }
  // askd's own fields (ask models shows them); OpenAI clients ignore what they do not know.
  e["backend"] = m.backend;
  if (!m.fallbacks.empty()) {
    e["fallbacks"] = m.fallbacks;
  }
  return e;
}

// The request-log line of an error askd answers itself before any model is involved
// (docs/proxy.md: every such error leaves one).
void log_rejection(RequestLog& log, const core::Clock& clock, std::string id, std::string client,
                   int status, std::string error) {
  RequestRecord rec;
  rec.ts = core::unix_seconds(clock.wall_now());
  rec.id = std::move(id);
  rec.client = std::move(client);
  rec.status = status;
  rec.error = std::move(error);
  log.write(rec);
}

} // namespace

ProxyServer::ProxyServer(const config::Config& config, ModelRouter& router, RequestLog& log,
                         const core::Clock& clock, Paths paths)
    : m_config(config), m_router(router), m_clock(clock), m_log(log),
      m_aliases(config, std::move(paths.alias_file)), m_ui_dir(paths.ui_dir.string()),
      m_instance(new_instance_id()), m_peers(config, m_instance, clock, &router.events()),
      m_limiters(config) {
  for (const config::Backend& b : config.backends) {
    m_upstreams[b.name] = make_upstream(b, router, m_peers.peer(b.name));
  }
  set_api_keys(config.listen.api_keys);
  m_started_at = static_cast<long long>(core::unix_seconds(clock.wall_now()));
  for (const std::string& problem : m_aliases.problems()) {
    spdlog::warn("{}", problem);
  }
  m_log.publish_to(&m_router.events()); // the page's live request view
  if (!m_ui_dir.empty()) {
    spdlog::info("the operator page is read from {} (ASK_UI_DIR)", m_ui_dir);
  }
  const ChatDeps deps{m_config,  m_upstreams, m_limiters, m_metrics,
                      m_log,     m_clock,     &m_aliases, m_peers.empty() ? nullptr : &m_peers,
                      m_instance};
  m_chat = std::make_unique<ChatHandler>(deps);
  m_counter = std::make_unique<TokenCounter>(deps);

  const config::ServerConfig& server = config.server;
  net::ServerOptions options;
  options.name = "askd";
  options.max_connections = static_cast<std::size_t>(server.max_connections);
  options.keep_alive_max = 1'000'000;
  options.limits.max_body_bytes = config.listen.max_request_body;
  options.deadlines.head = server.head_timeout.value();
  options.deadlines.body = server.body_timeout.value();
  options.deadlines.body_min_rate = server.body_min_rate;
  options.deadlines.idle = server.idle_timeout.value();
  options.peers.max_connections = static_cast<std::size_t>(server.max_connections_per_client);
  options.peers.max_body_bytes = server.max_body_buffer_per_client;
  options.peers.max_total_body_bytes = server.max_body_buffer;
  options.head_check = [this](const net::HttpRequest& head, const std::string& peer) {
    return check_head(head, peer);
  };
  options.error_formatter = [this](int status, std::string_view reason) {
    std::string type = status == 413 ? "invalid_request_error" : "server_error";
    std::string code = status == 413   ? "request_too_large"
                       : status == 408 ? "request_timeout"
                       : status == 503 ? "overloaded"
                                       : "http_error";
    if (status >= 400 && status < 500 && status != 413) {
      type = "invalid_request_error";
    }
    m_metrics.rejected(status == 413   ? "too_large"
                       : status == 503 ? "busy"
                       : status == 408 ? "timeout"
                                       : "bad_request");
    spdlog::info("refused a request ({}): {}", status, reason);
    log_rejection(m_log, m_clock, new_request_id(), "", status, std::string(reason));
    return std::pair<std::string, std::string>(
        "application/json",
        core::dump_json(error_json("askd: " + std::string(reason), type, code)));
  };
  m_server = std::make_unique<net::HttpServer>(
      [this](const net::HttpRequest& request, net::Exchange& exchange) {
        handle(request, exchange);
      },
      options);
}

ProxyServer::~ProxyServer() {
  stop();
}

core::Result<int> ProxyServer::listen(const std::string& host, int port) {
  return m_server->listen(host, port);
}

void ProxyServer::serve() {
  m_peers.start();
  m_server->serve();
}

void ProxyServer::stop() {
  m_server->stop();
  m_peers.stop();
}

ProxyServer::KeyChange ProxyServer::set_api_keys(const std::vector<config::ApiKey>& keys) {
  std::vector<std::string> digests;
  for (const config::ApiKey& key : keys) {
    digests.push_back(core::sha256_hex(key.value));
  }
  std::lock_guard lock(m_keys_mutex);
  KeyChange change;
  for (std::size_t i = 0; i < digests.size(); ++i) {
    const bool known = std::ranges::find(m_key_digests, digests[i]) != m_key_digests.end();
    if (known) {
      ++change.kept;
    } else {
      change.added.push_back(i);
    }
  }
  for (const std::string& old : m_key_digests) {
    change.removed += std::ranges::find(digests, old) == digests.end() ? 1 : 0;
  }
  m_key_digests = std::move(digests);
  return change;
}

std::optional<net::Rejection> ProxyServer::check_head(const net::HttpRequest& head,
                                                      const std::string& peer) {
  // The page's own files hold no data (docs/operations.md): it asks for the key itself and
  // sends it with every API call.
  if (head.path == "/health" || is_ui_path(head.path) || authorized(head)) {
    return std::nullopt;
  }
  m_metrics.rejected("unauthorized");
  spdlog::info("rejected {} {} from {}: missing or wrong API key", head.method, head.path, peer);
  const std::string id = new_request_id();
  const std::string message = "missing or wrong API key: send \"Authorization: Bearer <key>\"";
  log_rejection(m_log, m_clock, id, peer, 401, head.method + " " + head.path + ": " + message);
  return net::Rejection{
      401,
      {{"Content-Type", "application/json"}, {"WWW-Authenticate", "Bearer"}, {"X-Request-Id", id}},
      core::dump_json(
          error_for(head.path, 401, message, "invalid_request_error", "invalid_api_key"))};
}

bool ProxyServer::authorized(const net::HttpRequest& request) const {
  std::lock_guard lock(m_keys_mutex);
  if (m_key_digests.empty()) {
    return true;
  }
  std::string_view token;
  if (auto auth = request.header("Authorization")) {
    token = bearer_token(*auth);
  } else if (auto key = request.header("X-Api-Key")) {
    token = *key;
  }
  if (token.empty()) {
    return false;
  }
  // Compare digests, all of them, in constant time: neither the position of a mismatch nor
  // which key matched shows in the timing.
  const std::string digest = core::sha256_hex(token);
  bool match = false;
  for (const std::string& known : m_key_digests) {
    match |= CRYPTO_memcmp(known.data(), digest.data(), digest.size()) == 0;
  }
  return match;
}

void ProxyServer::send_json(net::Exchange& exchange, int status, const core::Json& body,
                            net::Headers extra) {
  std::string text = core::dump_json(body);
  net::Headers h = {{"Content-Type", "application/json"},
                    {"Content-Length", std::to_string(text.size())}};
  for (auto& header : extra) {
    h.push_back(std::move(header));
  }
  if (!exchange.keep_alive_allowed()) {
    h.emplace_back("Connection", "close");
  }
  exchange.send_response(status, h, text);
}

void ProxyServer::handle(const net::HttpRequest& request, net::Exchange& exchange) {
  constexpr std::string_view k_model_prefix = "/v1/models/";
  const std::string& path = request.path;
  if (path == "/health") {
    // Whether calls need a key: the operator page asks for one before its first call,
    // rather than learning it from a refusal (a 401 says as much to anyone).
    bool keys = false;
    {
      std::lock_guard lock(m_keys_mutex);
      keys = !m_key_digests.empty();
    }
    // The instance id tells a peer that its URL leads back to this askd (proxy/peers.h).
    send_json(exchange, 200,
              {{"status", "ok"}, {"api_key_required", keys}, {"instance", m_instance}});
    return;
  }
  // An error answered here: logged like every other (docs/proxy.md), with its id.
  auto refuse = [&](int status, const std::string& message, std::string_view type,
                    std::string_view code, net::Headers extra) {
    const std::string id = new_request_id();
    extra.emplace_back("X-Request-Id", id);
    send_json(exchange, status, error_for(path, status, message, type, code), std::move(extra));
    log_rejection(m_log, m_clock, id, exchange.peer(), status,
                  request.method + " " + path + ": " + message);
  };
  // The API key was checked on the head, before the body (check_head).
  auto only = [&](std::string_view method) {
    if (request.method == method) {
      return true;
    }
    m_metrics.rejected("bad_request");
    refuse(405, std::string(path) + " takes " + std::string(method) + " only",
           "invalid_request_error", "method_not_allowed", {{"Allow", std::string(method)}});
    return false;
  };
  if (path == "/v1/chat/completions") {
    if (only("POST")) {
      m_chat->handle(request, exchange, chat_dialect());
    }
  } else if (path == "/v1/messages") {
    if (only("POST")) {
      m_chat->handle(request, exchange, k_anthropic_door);
    }
  } else if (path == "/v1/messages/count_tokens") {
    if (only("POST")) {
      m_counter->handle(request, exchange, k_anthropic_door);
    }
  } else if (path == "/v1/responses") {
    if (only("POST")) {
      // Its replies echo the request's settings, as OpenAI's do: a door per request, made
      // from the body parsed once. A body that does not parse gets the defaults here and its
      // error from the chat path.
      auto body = core::parse_json_text(request.body);
      const ResponsesDialect door =
          body && body->is_object() ? ResponsesDialect(*body) : ResponsesDialect();
      m_chat->handle(request, exchange, door, body ? &*body : nullptr);
    }
  } else if (path == "/v1/completions") {
    if (only("POST")) {
      m_chat->handle(request, exchange, completions_dialect());
    }
  } else if (path == "/v1/embeddings") {
    if (only("POST")) {
      m_chat->handle(request, exchange, embeddings_dialect());
    }
  } else if (path == "/v1/rerank") {
    if (only("POST")) {
      m_chat->handle(request, exchange, rerank_dialect());
    }
  } else if (path == "/v1/models") {
    if (only("GET")) {
      models(request, exchange);
    }
  } else if (path.starts_with(k_model_prefix) && path.size() > k_model_prefix.size()) {
    if (only("GET")) {
      model(request, exchange, std::string_view(path).substr(k_model_prefix.size()));
    }
  } else if (path == "/metrics") {
    if (only("GET")) {
      std::string text = m_metrics.render();
      render_connection_metrics(m_server->stats(), text);
      m_peers.render_metrics(text);
      exchange.send_response(200,
                             {{"Content-Type", "text/plain; version=0.0.4; charset=utf-8"},
                              {"Content-Length", std::to_string(text.size())}},
                             text);
    }
  } else if (handle_control(request, exchange)) {
    return;
  } else {
    m_metrics.rejected("not_found_route");
    refuse(404,
           "no route " + request.method + " " + path +
               " (askd serves /v1/chat/completions, /v1/messages, /v1/messages/count_tokens, "
               "/v1/responses, /v1/completions, /v1/embeddings, /v1/rerank, /v1/models, "
               "/v1/models/ID, /health, /metrics, "
               "/api/status, /api/events, /api/requests, /api/config, /api/aliases, "
               "/api/models/NAME/load, /unload, /pin and /unpin, and the page /ui)",
           "not_found_error", "not_found", {});
  }
}

namespace {

// "state", "state=1" or "state=true" among the query's parameters.
bool wants_state(std::string_view query) {
  const auto state = core::query_param(query, "state");
  return state && (state->empty() || *state == "1" || *state == "true");
}

// The state fields of a model's entry from what its backend said: "loaded" (with
// expires_at, size_vram when known), "not loaded", or "unreachable" (with state_error).
// Nothing when the backend cannot tell.
void add_state(core::Json& entry, const config::Model& model,
               const core::Result<std::optional<std::vector<LoadedModel>>>& loaded) {
  if (!loaded) {
    entry["state"] = "unreachable";
    entry["state_error"] = loaded.error().message;
    return;
  }
  if (!*loaded) {
    return;
  }
  entry["state"] = "not loaded";
  for (const LoadedModel& lm : **loaded) {
    if (same_ollama_model(lm.name, model.upstream)) {
      entry["state"] = "loaded";
      if (lm.expires_at) {
        entry["expires_at"] = *lm.expires_at;
      }
      if (lm.size_vram) {
        entry["size_vram"] = *lm.size_vram;
      }
    }
  }
}

} // namespace

std::optional<ModelFacts> ProxyServer::facts_for(const config::Model& model,
                                                 std::set<std::string>& down) {
  constexpr auto k_keep = std::chrono::minutes(1);
  const auto now = m_clock.now();
  {
    std::lock_guard lock(m_facts_mutex);
    if (auto it = m_facts.find(model.name); it != m_facts.end() && now < it->second.until) {
      return it->second.facts;
    }
  }
  auto up = m_upstreams.find(model.backend);
  if (up == m_upstreams.end() || down.contains(model.backend)) {
    return std::nullopt;
  }
  net::ClientTimeouts t;
  t.connect = std::chrono::milliseconds(500);
  t.first_byte = std::chrono::milliseconds(1000);
  t.idle = std::chrono::milliseconds(1000);
  t.deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(1500);
  auto answer = up->second->facts(model, t);
  if (!answer) {
    // Not kept: the next listing asks again.
    down.insert(model.backend);
    spdlog::debug("/v1/models: {} could not say what {} is: {}", model.backend, model.name,
                  answer.error().message);
    return std::nullopt;
  }
  std::lock_guard lock(m_facts_mutex);
  m_facts[model.name] = {*answer, now + k_keep};
  return *answer;
}

void ProxyServer::models(const net::HttpRequest& request, net::Exchange& exchange) {
  send_json(exchange, 200,
            {{"object", "list"}, {"data", model_entries(wants_state(request.query), {})}});
}

void ProxyServer::model(const net::HttpRequest& request, net::Exchange& exchange,
                        std::string_view id) {
  const std::optional<std::string> name = core::percent_decode(id);
  core::Json found = name && !name->empty() ? model_entries(wants_state(request.query), *name)
                                            : core::Json::array();
  if (!found.empty()) {
    send_json(exchange, 200, found.front());
    return;
  }
  const std::string shown = name ? *name : std::string(id);
  m_metrics.rejected("unknown_model");
  const std::string request_id = new_request_id();
  const std::string message =
      "the model '" + shown + "' is not served by askd (GET /v1/models lists those it serves)";
  core::Json body = error_json(message, "invalid_request_error", "model_not_found");
  body["error"]["param"] = "model";
  send_json(exchange, 404, body, {{"X-Request-Id", request_id}});
  log_rejection(m_log, m_clock, request_id, exchange.peer(), 404,
                "GET /v1/models/" + shown + ": not served");
}

void ProxyServer::add_peer_entries(bool with_state, std::string_view only, core::Json& data) {
  if (m_peers.empty()) {
    return;
  }
  const auto catalog = m_peers.catalog();
  std::map<std::string, std::optional<core::Error>, std::less<>> down; // by peer
  for (const auto& [name, m] : catalog->models) {
    if (!only.empty() && name != only) {
      continue;
    }
    core::Json e = model_entry(m, m_started_at);
    // Another askd reading this list takes only what is not marked: no transitive discovery.
    e["owned_by"] = m.backend;
    e["peer"] = m.backend;
    e["peer_model"] = m.upstream;
    if (with_state) {
      auto it = down.find(m.backend);
      if (it == down.end()) {
        auto up = m_upstreams.find(m.backend);
        it = down.emplace(m.backend,
                          up != m_upstreams.end() ? up->second->unavailable() : std::nullopt)
                 .first;
      }
      e["state"] = it->second ? "unreachable" : "available";
      if (it->second) {
        e["state_error"] = it->second->message;
      }
    }
    data.push_back(std::move(e));
  }
}

core::Json ProxyServer::model_entries(bool with_state, std::string_view only) {
  // With `only`, the entry of that name; an alias's entry is its target's, so the target is
  // wanted too.
  const std::vector<AliasEntry> aliases = m_aliases.list();
  std::string_view wanted = only;
  for (const AliasEntry& a : aliases) {
    if (a.name == only) {
      wanted = a.model;
    }
  }
  auto skip = [&](std::string_view name) { return !only.empty() && name != wanted; };
  // One question per backend, each bounded: /v1/models must stay quick when one is down.
  std::map<std::string, core::Result<std::optional<std::vector<LoadedModel>>>> loaded;
  auto state_of = [&](const config::Model& m) -> const auto& {
    auto it = loaded.find(m.backend);
    if (it == loaded.end()) {
      net::ClientTimeouts t;
      t.connect = std::chrono::milliseconds(500);
      t.first_byte = std::chrono::milliseconds(1000);
      t.idle = std::chrono::milliseconds(1000);
      t.deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(1500);
      auto up = m_upstreams.find(m.backend);
      auto answer = up != m_upstreams.end()
                        ? up->second->loaded_models(t)
                        : core::Result<std::optional<std::vector<LoadedModel>>>();
      it = loaded.emplace(m.backend, std::move(answer)).first;
    }
    return it->second;
  };
  std::map<std::string, core::Json, std::less<>> entries;
  core::Json data = core::Json::array();
  std::set<std::string> down;
  for (const config::Model& m : m_config.models) {
    if (skip(m.name)) {
      continue;
    }
    core::Json e = model_entry(m, m_started_at);
    if (auto up = m_upstreams.find(m.backend); up != m_upstreams.end() && up->second->peer()) {
      e["peer"] = m.backend; // on another askd: not this machine's own to offer on
      e["peer_model"] = m.upstream;
    }
    if (!m.context_length || m.capabilities.empty()) {
      // What the config leaves out, the backend may say.
      if (auto facts = facts_for(m, down)) {
        if (!m.context_length && facts->context_length) {
          e["context_length"] = *facts->context_length;
        }
        if (m.capabilities.empty() && !facts->capabilities.empty()) {
          e["capabilities"] = facts->capabilities;
        }
      }
    }
    if (with_state) {
      add_state(e, m, state_of(m));
    }
    entries[m.name] = e;
    data.push_back(std::move(e));
  }
  for (const config::Council& c : m_config.councils) {
    if (skip(c.name)) {
      continue;
    }
    core::Json e = {{"id", c.name},
                    {"object", "model"},
                    {"created", m_started_at},
                    {"owned_by", "askd"},
                    {"council", true}};
    if (!c.description.empty()) {
      e["description"] = c.description;
    }
    entries[c.name] = e;
    data.push_back(std::move(e));
  }
  add_peer_entries(with_state, only, data);
  for (const AliasEntry& a : aliases) {
    if (!only.empty() && a.name != only) {
      continue;
    }
    core::Json e;
    if (auto it = entries.find(a.model); it != entries.end()) {
      e = it->second;
    } else {
      e = {{"object", "model"}, {"created", m_started_at}, {"owned_by", "askd"}};
    }
    e["id"] = a.name;
    e["alias_of"] = a.model;
    if (a.runtime) {
      e["runtime_alias"] = true; // set through /api/aliases
    }
    data.push_back(std::move(e));
  }
  if (!only.empty()) {
    // The one entry named `only` (an alias's target came along with it).
    core::Json one = core::Json::array();
    for (core::Json& e : data) {
      if (e["id"] == only) {
        one.push_back(std::move(e));
        break;
      }
    }
    return one;
  }
  return data;
}

} // namespace ask::proxy
