#include "ask/askd_client.h"

#include <cstdlib>

#include "core/json_text.h"
#include "core/sse.h"
#include "core/strings.h"
#include "core/url.h"

namespace ask::cli {
namespace {

constexpr std::size_t k_max_reply_bytes = 64 * 1024 * 1024;
constexpr std::size_t k_max_error_bytes = 1024 * 1024;

ServedInfo served_from(const net::ResponseHead& head) {
  auto get = [&](std::string_view name) {
    auto v = head.header(name);
    return v ? std::string(*v) : std::string();
  };
  return {get("X-Request-Id"),    get("X-Requested-Model"), get("X-Served-By"),
          get("X-Fallback-Path"), get("X-Council-Members"), get("X-Fallback-Reasons"),
          get("Server-Timing")};
}

// askd's error message from an error body, or the status line when the body is not one.
std::string error_message(int status, const std::string& body) {
  auto parsed = core::parse_error_body(std::string_view(body));
  if (parsed && !parsed->message.empty()) {
    return parsed->message;
  }
  return "askd answered HTTP " + std::to_string(status);
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// One Server-Timing entry: `name;desc="x";dur=12.5` (desc quoted or not, parameters in any
// order). Anything malformed is skipped: these headers only inform.
struct TimingEntry {
  std::string_view name;
  std::string desc;
  std::optional<double> ms;
};
std::optional<TimingEntry> parse_timing(std::string_view entry) {
  TimingEntry t;
  std::size_t i = entry.find(';');
  t.name = entry.substr(0, i);
  while (i != std::string_view::npos && i < entry.size()) {
    std::size_t start = i + 1;
    while (start < entry.size() && entry[start] == ' ') {
      ++start;
    }
    const std::size_t eq = entry.find('=', start);
    if (eq == std::string_view::npos) {
      return std::nullopt;
    }
    const std::string_view key = entry.substr(start, eq - start);
    std::string value;
    std::size_t j = eq + 1;
    if (j < entry.size() && entry[j] == '"') {
      for (++j; j < entry.size() && entry[j] != '"'; ++j) {
        if (entry[j] == '\\' && j + 1 < entry.size()) {
          ++j;
        }
        value += entry[j];
      }
      if (j >= entry.size()) {
        return std::nullopt; // unterminated
      }
      ++j;
    } else {
      while (j < entry.size() && entry[j] != ';') {
        value += entry[j++];
      }
    }
    if (key == "desc") {
      t.desc = std::move(value);
    } else if (key == "dur") {
      char* end = nullptr;
      const double ms = std::strtod(value.c_str(), &end);
      if (end == value.c_str() || *end != '\0' || !(ms >= 0) || ms > 1e12) {
        return std::nullopt;
      }
      t.ms = ms;
    }
    i = entry.find(';', j);
  }
  return t;
}

} // namespace

RouteInfo route_info(const ServedInfo& served) {
  RouteInfo route;
  for (const std::string_view pair : core::split_trimmed(served.fallback_reasons, ',')) {
    const auto eq = pair.rfind('=');
    if (eq == std::string_view::npos || eq == 0 || eq + 1 == pair.size()) {
      continue;
    }
    route.attempts.push_back(
        {std::string(pair.substr(0, eq)), std::string(pair.substr(eq + 1)), std::nullopt});
  }
  std::size_t next_failed = 0;
  bool served_seen = false;
  for (const std::string_view entry : core::split_trimmed(served.server_timing, ',')) {
    const auto t = parse_timing(entry);
    if (!t || !t->ms) {
      continue;
    }
    const double s = *t->ms / 1000.0;
    if (t->name == "attempt") {
      // The failed attempts, in X-Fallback-Reasons' order.
      if (next_failed < route.attempts.size() && route.attempts[next_failed].model == t->desc) {
        route.attempts[next_failed++].seconds = s;
      }
    } else if (t->name == "served" && !served_seen && !t->desc.empty()) {
      served_seen = true;
      route.attempts.push_back({t->desc, "", s});
    } else if (t->name == "queue") {
      route.queue_s = s;
    } else if (t->name == "load") {
      route.load_s = s;
    }
  }
  if (!served_seen && !served.served_by.empty()) {
    route.attempts.push_back({served.served_by, "", std::nullopt});
  }
  return route;
}

std::string reason_words(std::string_view reason) {
  static constexpr std::pair<std::string_view, std::string_view> k_words[] = {
      {"not_pulled", "not pulled"},
      {"connect", "backend down"},
      {"timeout", "timed out"},
      {"context", "prompt too long"},
      {"capability", "cannot do this"},
      {"queue_full", "queue full"},
      {"overloaded", "no room to load"},
      {"empty_stream", "empty answer"},
      {"status_401", "backend refused the key"},
      {"status_403", "backend refused the key"},
      {"status_404", "not found"},
      {"status_429", "rate limited"},
      {"internal", "askd error"},
      {"peer_down", "peer askd down"},
      {"loop", "loop between askds"},
  };
  for (const auto& [code, words] : k_words) {
    if (reason == code) {
      return std::string(words);
    }
  }
  if (reason.starts_with("status_")) {
    return "HTTP " + std::string(reason.substr(7));
  }
  return std::string(reason);
}

core::Result<Endpoint> parse_endpoint(std::string_view url) {
  auto parsed = core::parse_http_url(url);
  if (!parsed) {
    std::string why = std::move(parsed.error().reason);
    if (parsed.error().problem == core::UrlProblem::user_info) {
      why += "; use --api-key";
    }
    return core::fail(core::Error::bad_request("askd URL \"" + std::string(url) + "\": " + why +
                                               " (expected http://HOST:PORT)"));
  }
  Endpoint ep;
  ep.tls = parsed->tls();
  ep.host = std::move(parsed->host);
  ep.port = parsed->port;
  ep.base_path = std::move(parsed->base_path);
  // askd's API root pasted as an OpenAI base URL: ask appends /v1/... itself (core/url.h).
  if (core::ends_in_api_root(ep.base_path)) {
    ep.base_path.resize(ep.base_path.size() - 3);
  }
  return ep;
}

FailureKind classify_status(int status, const core::Json& body) {
  std::string code;
  if (body.is_object() && body.contains("error") && body["error"].is_object()) {
    const auto& c = body["error"]["code"];
    if (c.is_string()) {
      code = c.get<std::string>();
    }
  }
  if (code == "context_length_exceeded") {
    return FailureKind::context;
  }
  if (code == "all_models_failed" || code == "overloaded" || code == "unavailable") {
    return FailureKind::all_failed;
  }
  if (status == 504) {
    return FailureKind::timeout;
  }
  if (status == 429) {
    return FailureKind::all_failed;
  }
  if (status >= 400 && status < 500) {
    return FailureKind::rejected;
  }
  return FailureKind::other;
}

namespace {
net::ClientOptions client_options(const Endpoint& ep) {
  net::ClientOptions o;
  o.max_idle_connections = 1;
  o.tls = ep.tls;
  return o;
}
} // namespace

AskdClient::AskdClient(ClientSettings settings)
    : m_settings(std::move(settings)), m_http(m_settings.endpoint.host, m_settings.endpoint.port,
                                              client_options(m_settings.endpoint)) {}

net::ClientRequest AskdClient::make_request(std::string method, const std::string& path,
                                            std::string body) const {
  net::ClientRequest req;
  req.method = std::move(method);
  req.target = m_settings.endpoint.base_path + path;
  req.body = std::move(body);
  req.headers.emplace_back("User-Agent", "ask/" ASK_VERSION);
  if (!req.body.empty()) {
    req.headers.emplace_back("Content-Type", "application/json");
  }
  if (m_settings.api_key && !m_settings.api_key->empty()) {
    req.headers.emplace_back("Authorization", "Bearer " + *m_settings.api_key);
  }
  return req;
}

net::ClientTimeouts AskdClient::timeouts() const {
  net::ClientTimeouts t;
  t.connect = m_settings.connect_timeout;
  t.first_byte = m_settings.first_byte_timeout;
  t.idle = m_settings.idle_timeout;
  t.deadline = m_settings.deadline;
  return t;
}

ChatFailure AskdClient::transport_failure(const core::Error& e) const {
  ChatFailure f;
  const Endpoint& ep = m_settings.endpoint;
  std::string where = (ep.tls ? "https://" : "http://") + ep.host + ":" + std::to_string(ep.port);
  switch (e.kind) {
  case core::ErrorKind::cancelled:
    f.kind = FailureKind::interrupted;
    f.message = "interrupted";
    break;
  case core::ErrorKind::timeout:
    f.kind = FailureKind::timeout;
    f.message = "timed out: " + e.message;
    break;
  case core::ErrorKind::connect:
    f.kind = FailureKind::unreachable;
    f.message = "cannot reach askd at " + where + ": " + e.message +
                " (is askd running? start it with `askd`, or point --url / $ASK_URL at it)";
    break;
  default:
    f.kind = FailureKind::other;
    f.message = "askd at " + where + ": " + e.message;
  }
  return f;
}

std::expected<ChatReply, ChatFailure> AskdClient::chat(const core::Json& request,
                                                       const StreamSink& sink) {
  const bool stream = request.value("stream", false);
  const auto t0 = std::chrono::steady_clock::now();
  auto started = m_http.start(make_request("POST", "/v1/chat/completions", request.dump()),
                              timeouts(), net::Watch{-1, m_settings.stop_fd, {}});
  if (!started) {
    return std::unexpected(transport_failure(started.error()));
  }
  net::ResponseStream& rs = *started;
  ChatReply reply;
  reply.served = served_from(rs.head());
  const int status = rs.head().status;
  if (status != 200) {
    auto body = rs.read_all(k_max_error_bytes);
    if (!body) {
      auto f = transport_failure(body.error());
      f.served = reply.served;
      return std::unexpected(std::move(f));
    }
    auto json = core::parse_json_text(*body);
    ChatFailure f;
    f.kind = classify_status(status, json ? *json : core::Json());
    f.message = error_message(status, *body);
    f.served = reply.served;
    return std::unexpected(std::move(f));
  }
  if (sink.on_head) {
    sink.on_head(reply.served);
  }
  if (!stream) {
    auto body = rs.read_all(k_max_reply_bytes);
    if (!body) {
      auto f = transport_failure(body.error());
      f.served = reply.served;
      return std::unexpected(std::move(f));
    }
    auto parsed = core::parse_chat_response(std::string_view(*body));
    if (!parsed) {
      ChatFailure f{FailureKind::other,
                    "askd's reply: " + parsed.error().message,
                    reply.served,
                    {},
                    std::nullopt};
      return std::unexpected(std::move(f));
    }
    reply.response = std::move(*parsed);
    if (!reply.response.choices.empty()) {
      reply.answer = reply.response.choices[0].message.content.value_or("");
    }
    return reply;
  }

  core::SseParser sse;
  core::ChunkAccumulator acc;
  std::vector<core::SseEvent> events;
  std::string piece;
  bool done = false;
  auto fail_stream = [&](FailureKind kind, std::string message) {
    core::ChatResponse so_far = acc.result();
    std::string partial;
    if (!so_far.choices.empty()) {
      partial = so_far.choices[0].message.content.value_or("");
    }
    return std::unexpected(
        ChatFailure{kind, std::move(message), reply.served, std::move(partial), reply.ttft_s});
  };
  while (!done) {
    piece.clear();
    auto more = rs.read(piece);
    if (!more) {
      auto f = transport_failure(more.error());
      return fail_stream(f.kind, f.message);
    }
    if (!*more) {
      break;
    }
    events.clear();
    sse.feed(piece, events);
    if (sse.failed()) {
      return fail_stream(FailureKind::other, "askd's stream: " + sse.error());
    }
    for (const core::SseEvent& ev : events) {
      if (ev.is_done()) {
        done = true;
        break;
      }
      auto chunk = core::parse_chat_chunk(std::string_view(ev.data));
      if (!chunk) {
        // askd ends a stream that broke after its first content with an error event.
        return fail_stream(FailureKind::other, chunk.error().message);
      }
      acc.add(*chunk);
      for (const core::ChunkChoice& c : chunk->choices) {
        if (c.index != 0) {
          continue;
        }
        if (c.delta.reasoning_content && !c.delta.reasoning_content->empty() && sink.on_reasoning) {
          sink.on_reasoning(*c.delta.reasoning_content);
        }
        if (c.delta.content && !c.delta.content->empty()) {
          if (!reply.ttft_s) {
            reply.ttft_s = seconds_since(t0);
          }
          if (sink.on_text) {
            sink.on_text(*c.delta.content);
          }
        }
      }
    }
  }
  if (!done) {
    return fail_stream(FailureKind::other, "askd's stream ended without [DONE]");
  }
  rs.finish(std::chrono::milliseconds(200));
  reply.response = acc.result();
  if (!reply.response.choices.empty()) {
    reply.answer = reply.response.choices[0].message.content.value_or("");
  }
  return reply;
}

std::expected<core::Json, ChatFailure> AskdClient::models() {
  auto started = m_http.start(make_request("GET", "/v1/models?state=1", ""), timeouts(),
                              net::Watch{-1, m_settings.stop_fd, {}});
  if (!started) {
    return std::unexpected(transport_failure(started.error()));
  }
  auto body = started->read_all(k_max_reply_bytes);
  if (!body) {
    return std::unexpected(transport_failure(body.error()));
  }
  const int status = started->head().status;
  auto json = core::parse_json_text(*body);
  if (status != 200) {
    return std::unexpected(ChatFailure{classify_status(status, json ? *json : core::Json()),
                                       error_message(status, *body),
                                       {},
                                       {},
                                       std::nullopt});
  }
  if (!json || !json->is_object()) {
    return std::unexpected(ChatFailure{
        FailureKind::other, "askd's /v1/models reply is not a JSON object", {}, {}, std::nullopt});
  }
  return *json;
}

} // namespace ask::cli
