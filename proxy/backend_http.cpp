#include "proxy/backend_http.h"

#include <algorithm>
#include <cstdlib>

#include "core/excerpt.h"
#include "core/json_text.h"

namespace ask::proxy {

BackendHttp::BackendHttp(const config::Backend& backend)
    : m_name(backend.name), m_headers(backend.headers), m_api_key_env(backend.api_key_env) {
  const config::Url& url = *backend.url;
  m_base_path = url.base_path;
  net::ClientOptions options;
  options.tls = url.scheme == "https";
  m_client = std::make_unique<net::HttpClient>(url.host, url.port, options);
  m_headers.emplace_back("Content-Type", "application/json");
}

BackendHttp::BackendHttp(std::string name, std::string host, int port)
    : m_name(std::move(name)), m_client(std::make_unique<net::HttpClient>(std::move(host), port)) {
  m_headers.emplace_back("Content-Type", "application/json");
}

core::Result<net::ResponseStream> BackendHttp::post_json(std::string_view path,
                                                         const core::Json& body, bool stream,
                                                         const CallContext& ctx) {
  net::ClientRequest request;
  request.method = "POST";
  request.target = m_base_path + std::string(path);
  request.headers =
      headers(stream ? "text/event-stream, application/x-ndjson" : "application/json");
  request.headers.insert(request.headers.end(), ctx.extra_headers.begin(), ctx.extra_headers.end());
  request.body = core::dump_json(body);
  auto response = m_client->start(request, ctx.timeouts, ctx.watch);
  if (!response) {
    return core::fail(std::move(response.error()));
  }
  if (ctx.on_head) {
    ctx.on_head(response->head());
  }
  const int status = response->head().status;
  if (status >= 200 && status <= 299) {
    return std::move(*response);
  }
  auto text = response->read_all(k_max_error_body);
  return core::fail(error_from_reply(status, text ? *text : std::string(), m_name));
}

core::Result<core::Json> BackendHttp::post_for_json(std::string_view path, const core::Json& body,
                                                    const CallContext& ctx, std::string_view what) {
  auto response = post_json(path, body, false, ctx);
  if (!response) {
    return core::fail(std::move(response.error()));
  }
  auto text = response->read_all(k_max_reply_body);
  if (!text) {
    return core::fail(std::move(text.error()));
  }
  return parse_backend_json(*text, m_name + " " + std::string(what));
}

core::Result<core::Json> BackendHttp::get_json(std::string_view path,
                                               const net::ClientTimeouts& timeouts) {
  constexpr std::size_t k_max_reply = 1024 * 1024;
  net::ClientRequest request;
  request.method = "GET";
  request.target = m_base_path + std::string(path);
  request.headers = headers("application/json");
  auto response = m_client->start(request, timeouts);
  if (!response) {
    return core::fail(std::move(response.error()));
  }
  const int status = response->head().status;
  auto text = response->read_all(status >= 200 && status <= 299 ? k_max_reply : k_max_error_body);
  if (status < 200 || status > 299) {
    return core::fail(error_from_reply(status, text ? *text : std::string(), m_name));
  }
  if (!text) {
    return core::fail(std::move(text.error()));
  }
  return parse_backend_json(*text, m_name + " GET " + std::string(path));
}

net::ClientHeaders BackendHttp::headers(std::string_view accept) const {
  net::ClientHeaders h = m_headers;
  h.emplace_back("Accept", std::string(accept));
  if (!m_api_key_env.empty()) {
    // Read when used, so a key rotated in the environment of a restarted askd is picked up;
    // an unset variable sends no key and the backend's 401 says the rest.
    if (const char* key = std::getenv(m_api_key_env.c_str()); key != nullptr && *key != '\0') {
      h.emplace_back("Authorization", std::string("Bearer ") + key);
    }
  }
  return h;
}

core::Result<core::Json> parse_backend_json(std::string_view text, std::string_view what) {
  auto parsed = core::parse_json_text(text);
  if (!parsed) {
    return core::fail(
        core::Error::malformed_reply(std::string(what) + ": invalid JSON: " + parsed.error().what));
  }
  return std::move(*parsed);
}

namespace {

// llama-server's refusal of a prompt longer than a slot's context: {"error":{"code":400,
// "type":"exceed_context_size_error","n_prompt_tokens":N,"n_ctx":M,...}} (its tokenizer's
// count).
std::optional<core::ContextSize> context_refusal(const core::Json& body) {
  const auto error = body.find("error");
  if (!body.is_object() || error == body.end() || !error->is_object() ||
      error->value("type", "") != "exceed_context_size_error") {
    return std::nullopt;
  }
  core::ContextSize size;
  for (auto [key, out] :
       {std::pair<const char*, long long*>{"n_prompt_tokens", &size.prompt_tokens},
        {"n_ctx", &size.context}}) {
    if (auto it = error->find(key); it != error->end() && it->is_number_integer()) {
      *out = std::max(0LL, it->get<long long>());
    }
  }
  return size;
}

} // namespace

core::Error error_from_reply(int status, std::string_view body, std::string_view backend) {
  std::string message;
  std::optional<core::ContextSize> too_long;
  if (auto parsed = core::parse_json_text(body); parsed) {
    if (auto err = core::parse_error_body(*parsed); err) {
      // llama-server quotes the request it could not parse ("last read: '...'"): a prompt.
      message = core::without_input_quote(err->message);
    }
    if (status == 400) {
      too_long = context_refusal(*parsed);
    }
  }
  if (message.empty()) {
    message = core::printable_excerpt(body, 200);
  }
  std::string text = std::string(backend) + " answered " + std::to_string(status);
  if (!message.empty()) {
    text += ": " + message;
  }
  if (too_long) {
    return core::Error::context_exceeded(std::move(text), *too_long);
  }
  return core::Error::upstream(status, std::move(text));
}

} // namespace ask::proxy
