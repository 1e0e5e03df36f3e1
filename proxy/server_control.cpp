// The operator's view and control (docs/proxy.md, "Control and the operator page"): the
// scheduler's status and its load, unload and pin buttons, the recent requests, the resolved
// config, the runtime aliases, and the page itself.

#include <charconv>

#include <spdlog/spdlog.h>

#include "config/config.h"
#include "core/json_text.h"
#include "core/url.h"
#include "proxy/server.h"
#include "proxy/ui_files.h"

namespace ask::proxy {

namespace {

constexpr std::size_t k_requests_listed = 200; // GET /api/requests at most

// ?limit=N within [1, most]; `most` when absent or not a number.
std::size_t limit_param(std::string_view query, std::size_t most) {
  const std::string_view text = core::query_param(query, "limit").value_or("");
  std::size_t n = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
  return ec == std::errc() && end == text.data() + text.size() && n > 0 ? std::min(n, most) : most;
}

core::Json alias_json(const AliasEntry& a) {
  core::Json j = {
      {"name", a.name}, {"model", a.model}, {"source", a.runtime ? "runtime" : "config"}};
  if (a.config_model) {
    j["config_model"] = *a.config_model;
  }
  return j;
}

// A change asked by a page of another site through the user's browser: the browser names
// that page in Origin. On loopback askd needs no key by default, so without this any web page
// could load, unload, pin or re-point models with a form post. The operator page (same
// origin) and programs (no Origin) pass.
bool cross_site(const net::HttpRequest& request) {
  const auto origin = request.header("Origin");
  if (!origin) {
    return false;
  }
  const auto host = request.header("Host");
  const std::size_t scheme = origin->find("://");
  return !host || scheme == std::string_view::npos || origin->substr(scheme + 3) != *host;
}

} // namespace

bool is_ui_path(std::string_view path) {
  return path == "/ui" || path.starts_with("/ui/");
}

core::Json ProxyServer::status_json() const {
  core::Json status = m_router.status();
  if (!m_peers.empty()) {
    status["peers"] = m_peers.status();
  }
  return status;
}

bool ProxyServer::handle_control(const net::HttpRequest& request, net::Exchange& exchange) {
  const std::string& path = request.path;
  auto wrong_method = [&](std::string_view methods) {
    m_metrics.rejected("bad_request");
    send_json(exchange, 405,
              error_json(path + " takes " + std::string(methods) + " only", "invalid_request_error",
                         "method_not_allowed"),
              {{"Allow", std::string(methods)}});
    return true;
  };
  if (is_ui_path(path)) {
    if (request.method != "GET" && request.method != "HEAD") {
      return wrong_method("GET, HEAD");
    }
    ui(request, exchange);
    return true;
  }
  if (path == "/api/status" || path == "/api/events" || path == "/api/requests" ||
      path == "/api/config") {
    if (request.method != "GET") {
      return wrong_method("GET");
    }
    if (path == "/api/status") {
      send_json(exchange, 200, status_json());
    } else if (path == "/api/events") {
      events(request, exchange);
    } else if (path == "/api/requests") {
      // The request lines still in the event history (the newest 1024 events of all kinds).
      core::Json lines = core::Json::array();
      for (RouterEvent& e :
           m_router.events().newest("request", limit_param(request.query, k_requests_listed))) {
        lines.push_back(std::move(e.data));
      }
      send_json(exchange, 200, {{"requests", std::move(lines)}});
    } else {
      // Secrets are masked by to_json (API keys, secret-looking headers and env values).
      send_json(exchange, 200, config::to_json(m_config));
    }
    return true;
  }
  if (request.method != "GET" && request.method != "HEAD" && path.starts_with("/api/") &&
      cross_site(request)) {
    m_metrics.rejected("bad_request");
    spdlog::warn("refused {} {} from a page of {}: askd takes changes from its own page only",
                 request.method, path, *request.header("Origin"));
    send_json(exchange, 403,
              error_json("askd takes changes from its own page only (Origin " +
                             std::string(*request.header("Origin")) + " is another site)",
                         "invalid_request_error", "cross_site"));
    return true;
  }
  constexpr std::string_view k_aliases = "/api/aliases";
  if (path == k_aliases) {
    if (request.method != "GET") {
      return wrong_method("GET");
    }
    aliases(request, exchange, {});
    return true;
  }
  if (path.starts_with(k_aliases) && path[k_aliases.size()] == '/') {
    aliases(request, exchange, std::string_view(path).substr(k_aliases.size() + 1));
    return true;
  }
  constexpr std::string_view k_prefix = "/api/models/";
  if (!path.starts_with(k_prefix)) {
    return false;
  }
  const std::string_view rest = std::string_view(path).substr(k_prefix.size());
  const auto slash = rest.rfind('/');
  if (slash == std::string_view::npos || slash == 0) {
    return false;
  }
  const std::string name(rest.substr(0, slash));
  const std::string action(rest.substr(slash + 1));
  if (action != "load" && action != "unload" && action != "pin" && action != "unpin") {
    return false;
  }
  if (request.method != "POST") {
    return wrong_method("POST");
  }
  auto result = action == "load"     ? m_router.load(name)
                : action == "unload" ? m_router.unload(name)
                                     : m_router.pin(name, action == "pin");
  if (!result) {
    const core::Error& e = result.error();
    spdlog::info("{} {}: {}", action, name, e.message);
    send_json(exchange, e.status_for_client(),
              error_json(e.message, e.openai_type(), std::string(core::to_string(e.kind))));
    return true;
  }
  spdlog::info("{} {} asked through the API", action, name);
  send_json(exchange, 200, *result);
  return true;
}

void ProxyServer::aliases(const net::HttpRequest& request, net::Exchange& exchange,
                          std::string_view encoded) {
  if (encoded.empty()) {
    core::Json list = core::Json::array();
    for (const AliasEntry& a : m_aliases.list()) {
      list.push_back(alias_json(a));
    }
    send_json(exchange, 200, {{"aliases", std::move(list)}});
    return;
  }
  auto refuse = [&](const AliasRefusal& r) {
    m_metrics.rejected("bad_request");
    send_json(exchange, r.status,
              error_json(r.message, r.status == 404 ? "not_found_error" : "invalid_request_error",
                         r.code));
  };
  if (request.method != "PUT" && request.method != "DELETE") {
    m_metrics.rejected("bad_request");
    send_json(exchange, 405,
              error_json(request.path + " takes PUT or DELETE (GET /api/aliases lists them)",
                         "invalid_request_error", "method_not_allowed"),
              {{"Allow", "PUT, DELETE"}});
    return;
  }
  const std::optional<std::string> name = core::percent_decode(encoded);
  if (!name) {
    refuse({400, "invalid_alias", "the alias name in the path is not valid percent-encoding"});
    return;
  }
  if (request.method == "DELETE") {
    const std::optional<std::string> previous = m_aliases.runtime_target(*name);
    auto removed = m_aliases.remove(*name);
    if (!removed) {
      refuse(removed.error());
      return;
    }
    spdlog::info("alias {} deleted through the API{}", *name,
                 *removed ? "; the config's → " + **removed + " holds again" : "");
    const core::Json now = *removed ? core::Json(**removed) : core::Json(nullptr);
    // `source` says where the name's meaning comes from now: the config file, or nowhere.
    m_router.events().publish("alias",
                              {{"name", *name},
                               {"model", now},
                               {"previous", previous ? core::Json(*previous) : core::Json(nullptr)},
                               {"source", *removed ? "config" : "none"},
                               {"time", core::unix_seconds(m_clock.wall_now())}});
    send_json(exchange, 200, {{"name", *name}, {"deleted", true}, {"model", now}});
    return;
  }
  auto body = core::parse_json_text(request.body);
  if (!body || !body->is_object() || !body->contains("model") || !(*body)["model"].is_string()) {
    refuse({400, "invalid_request_error",
            body ? "expected a JSON object {\"model\": \"NAME\"}: the model or council the alias "
                   "names"
                 : "invalid JSON: " + body.error().what});
    return;
  }
  const std::optional<std::string> previous = m_aliases.runtime_target(*name);
  auto set = m_aliases.set(*name, (*body)["model"].get<std::string>());
  if (!set) {
    refuse(set.error());
    return;
  }
  spdlog::info("alias {} → {} set through the API", set->name, set->model);
  m_router.events().publish("alias",
                            {{"name", set->name},
                             {"model", set->model},
                             {"previous", previous ? core::Json(*previous) : core::Json(nullptr)},
                             {"source", "runtime"},
                             {"time", core::unix_seconds(m_clock.wall_now())}});
  send_json(exchange, 200, alias_json(*set));
}

void ProxyServer::ui(const net::HttpRequest& request, net::Exchange& exchange) {
  if (request.path == "/ui") { // relative URLs in the page resolve against /ui/
    const std::string body = "see /ui/\n";
    exchange.send_response(301,
                           {{"Location", "/ui/"},
                            {"Content-Type", "text/plain"},
                            {"Content-Length", std::to_string(body.size())}},
                           request.method == "HEAD" ? "" : body);
    return;
  }
  auto file = ui_file(std::string_view(request.path).substr(3), m_ui_dir);
  if (!file) {
    m_metrics.rejected("not_found_route");
    send_json(exchange, 404,
              error_json("the operator page has no file " + request.path + " (it is at /ui/)",
                         "not_found_error", "not_found"));
    return;
  }
  // The page runs nothing from elsewhere, and may not be framed by another site.
  net::Headers h = {{"Content-Type", std::string(file->content_type)},
                    {"Content-Length", std::to_string(file->content.size())},
                    {"Cache-Control", "no-cache"},
                    {"X-Content-Type-Options", "nosniff"},
                    {"X-Frame-Options", "DENY"},
                    {"Content-Security-Policy",
                     "default-src 'self'; img-src 'self' data:; style-src 'self'; "
                     "connect-src 'self'; frame-ancestors 'none'"}};
  exchange.send_response(200, h, request.method == "HEAD" ? "" : file->content);
}

} // namespace ask::proxy
