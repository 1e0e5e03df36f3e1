#pragma once
// Base URLs of HTTP services, "http[s]://host[:port][/prefix]", split for net::HttpClient,
// and "host:port" listen addresses. One parser for askd's backend URLs (config) and ask's
// --url / $ASK_URL, so both accept and refuse the same text.
//
// The rules (parse_http_url):
// - The scheme is http or https in any case (RFC 3986 section 3.1: "HTTPS://" is https), then
//   "://". Anything else, a missing scheme included, is refused.
// - User info ("user:pw@host") is refused: credentials go in headers, never in a URL that
//   ends up in logs. So are a query and a fragment: a base URL has neither.
// - The host is a name or IPv4 address (letters, digits, '-', '.', '_'; at most 253 bytes) or
//   an IPv6 literal in brackets ("[::1]"; zone ids are not supported). An IPv6 address
//   without brackets is refused: its colons cannot be told from a port's.
// - The port is decimal, 1 to 65535; without one, 80 for http and 443 for https.
// - The path is kept as written less its trailing '/'s ("/" and "" both give ""), so it can
//   be put in front of "/v1/chat/completions". Its bytes must be visible ASCII: a space, a
//   control byte or raw UTF-8 there would corrupt the request line (percent-encode them).
// - A trailing "/v1" stays in the path: what it means is the caller's choice (see
//   ends_in_api_root). ask drops it, since people paste OpenAI-style base URLs
//   ("http://host:11436/v1") into --url and ask appends /v1/... itself; askd's config keeps
//   it and warns, since a backend's path is sent as written.

#include <expected>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace ask::core {

struct HttpUrl {
  std::string scheme;    // "http" or "https", lower-case whatever the input's case
  std::string host;      // without brackets for IPv6 literals
  int port = 0;          // explicit, or 80 / 443 from the scheme
  std::string base_path; // "" or a prefix such as "/proxy" (never a trailing '/')

  bool tls() const { return scheme == "https"; }
  // "http://127.0.0.1:11434", "https://[::1]:8443/proxy": the port always written.
  std::string to_string() const;

  friend bool operator==(const HttpUrl&, const HttpUrl&) = default;
};

// Which rule a URL broke; callers add their own hint (ask: "use --api-key").
enum class UrlProblem { scheme, user_info, query, host, port, path };

struct UrlError {
  UrlProblem problem = UrlProblem::scheme;
  std::string reason; // "the port must be a number from 1 to 65535"; no copy of the URL
};

// Splits `text` by the rules above.
std::expected<HttpUrl, UrlError> parse_http_url(std::string_view text);

// Whether `base_path` ends with a "/v1" segment ("/v1", "/askd/v1"; not "/xv1"): the URL is
// an OpenAI-style API root rather than the server's base.
bool ends_in_api_root(std::string_view base_path);

// "host:port" or "[v6]:port" with a port from `min_port` to 65535: the host (brackets
// removed) and the port; nullopt when the host is not valid by the rules above, the port is
// missing or out of range, or an IPv6 address has no brackets.
std::optional<std::pair<std::string, int>> parse_host_port(std::string_view text, int min_port);

// A path segment with its %XX escapes decoded ("qwen3.5%3A9b" is "qwen3.5:9b"); nullopt when
// an escape is malformed ("%G1", a '%' near the end) or decodes to a NUL or another control
// byte, none of which a name askd serves can hold.
std::optional<std::string> percent_decode(std::string_view text);

// The raw value of the first parameter called `name` in a URL's query ("a=1&state&limit=5"):
// "5" for limit, "" for a bare `state`; nullopt when absent. Not decoded: askd's parameters
// are numbers and flags.
std::optional<std::string_view> query_param(std::string_view query, std::string_view name);

} // namespace ask::core
