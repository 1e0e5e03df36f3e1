#pragma once
// BackendHttp: what the HTTP upstreams share: one pooled HttpClient per backend URL, the
// backend's base path, configured headers and API key, and the reading of error replies.

#include <chrono>
#include <memory>
#include <string>
#include <string_view>

#include "config/types.h"
#include "core/error.h"
#include "core/openai.h"
#include "net/http_client.h"
#include "proxy/upstream.h"

namespace ask::proxy {

// Error bodies and whole replies are read up to these sizes.
inline constexpr std::size_t k_max_error_body = 1 << 20;
inline constexpr std::size_t k_max_reply_body = 64 << 20;
// How long a finished stream waits for the rest of its body before closing the connection.
inline constexpr std::chrono::milliseconds k_finish_grace{20};

class BackendHttp {
public:
  // For a backend with a URL (ollama, openai).
  explicit BackendHttp(const config::Backend& backend);
  // For a leased endpoint (managed): plain HTTP to host:port, no headers.
  BackendHttp(std::string name, std::string host, int port);

  // POSTs `body` as JSON to base_path + `path` and waits for the response head. A status
  // outside 2xx is read and turned into an upstream_status error carrying the backend's own
  // message ("fast-9b: ollama answered 404: model 'x' not found"). The context's
  // extra_headers go with the request and its on_head sees the response head.
  core::Result<net::ResponseStream> post_json(std::string_view path, const core::Json& body,
                                              bool stream, const CallContext& ctx);
  // post_json, then the whole reply (at most k_max_reply_body) parsed as JSON; `what` names
  // it in errors ("reply", "/api/show reply").
  core::Result<core::Json> post_for_json(std::string_view path, const core::Json& body,
                                         const CallContext& ctx, std::string_view what = "reply");
  // GETs base_path + `path` and parses the JSON reply (at most 1 MiB, nesting limited); a
  // status outside 2xx is an upstream_status error as for post_json.
  core::Result<core::Json> get_json(std::string_view path, const net::ClientTimeouts& timeouts);
  // The backend's name, for messages.
  const std::string& name() const { return m_name; }

private:
  // The configured headers, Accept, and the API key when its variable is set.
  net::ClientHeaders headers(std::string_view accept) const;

  std::string m_name;
  std::string m_base_path;
  net::ClientHeaders m_headers; // configured headers, then Authorization when a key is set
  std::string m_api_key_env;
  std::unique_ptr<net::HttpClient> m_client;
};

// JSON text from a backend, nesting limited; anything else is Error::malformed_reply.
core::Result<core::Json> parse_backend_json(std::string_view text, std::string_view what);

// The upstream_status error for a non-2xx reply with `body` (OpenAI's or Ollama's error
// shape, or plain text).
core::Error error_from_reply(int status, std::string_view body, std::string_view backend);

} // namespace ask::proxy
