#include "core/url.h"

#include <arpa/inet.h>

#include <algorithm>
#include <charconv>

namespace ask::core {

namespace {

constexpr std::size_t k_max_host_name = 253; // a DNS name's limit

bool is_host_name(std::string_view host) {
  return !host.empty() && host.size() <= k_max_host_name && std::ranges::all_of(host, [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.' || c == '_';
  });
}

bool is_ipv6(std::string_view host) {
  if (host.empty() || host.size() >= INET6_ADDRSTRLEN) {
    return false;
  }
  const std::string text(host); // inet_pton wants a NUL-terminated string
  in6_addr addr{};
  return ::inet_pton(AF_INET6, text.c_str(), &addr) == 1;
}

bool valid_host(std::string_view host, bool bracketed) {
  return bracketed ? is_ipv6(host) : is_host_name(host);
}

std::optional<int> parse_port(std::string_view text, int min_port) {
  int port = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), port);
  if (text.empty() || ec != std::errc{} || end != text.data() + text.size() || port < min_port ||
      port > 65535) {
    return std::nullopt;
  }
  return port;
}

// An authority without user info: "host", "host:port", "[v6]" or "[v6]:port". The host
// comes back without brackets, the port text empty when there is none; nullopt when the
// brackets or colons do not fit one of these forms.
struct HostPort {
  std::string_view host;
  std::optional<std::string_view> port;
  bool bracketed = false;
};

std::optional<HostPort> split_authority(std::string_view text) {
  HostPort out;
  if (text.starts_with('[')) {
    const std::size_t close = text.find(']');
    if (close == std::string_view::npos) {
      return std::nullopt;
    }
    out.host = text.substr(1, close - 1);
    out.bracketed = true;
    const std::string_view after = text.substr(close + 1);
    if (after.empty()) {
      return out;
    }
    if (after.front() != ':') {
      return std::nullopt;
    }
    out.port = after.substr(1);
    return out;
  }
  const std::size_t colon = text.find(':');
  if (colon == std::string_view::npos) {
    out.host = text;
    return out;
  }
  if (text.find(':', colon + 1) != std::string_view::npos) {
    return std::nullopt; // an IPv6 literal without brackets
  }
  out.host = text.substr(0, colon);
  out.port = text.substr(colon + 1);
  return out;
}

bool is_visible_ascii(std::string_view text) {
  return std::ranges::all_of(text, [](char c) { return c > ' ' && c < '\x7f'; });
}

std::unexpected<UrlError> fail(UrlProblem problem, std::string reason) {
  return std::unexpected(UrlError{problem, std::move(reason)});
}

} // namespace

std::string HttpUrl::to_string() const {
  const bool ipv6 = host.find(':') != std::string::npos;
  std::string out = scheme + "://";
  out += ipv6 ? "[" + host + "]" : host;
  out += ':';
  out += std::to_string(port);
  out += base_path;
  return out;
}

std::expected<HttpUrl, UrlError> parse_http_url(std::string_view text) {
  const std::size_t sep = text.find("://");
  if (sep == std::string_view::npos) {
    return fail(UrlProblem::scheme, "expected http://host:port or https://host:port");
  }
  HttpUrl url;
  for (const char c : text.substr(0, sep)) {
    url.scheme += (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
  }
  if (url.scheme != "http" && url.scheme != "https") {
    return fail(UrlProblem::scheme, "the scheme must be http or https");
  }
  std::string_view rest = text.substr(sep + 3);
  if (rest.find_first_of("?#") != std::string_view::npos) {
    return fail(UrlProblem::query, "a query or fragment is not allowed");
  }
  const std::size_t slash = rest.find('/');
  const std::string_view authority = rest.substr(0, slash);
  std::string_view path = slash == std::string_view::npos ? "" : rest.substr(slash);
  if (authority.find('@') != std::string_view::npos) {
    return fail(UrlProblem::user_info, "credentials in URLs are not supported");
  }
  const std::optional<HostPort> parts = split_authority(authority);
  if (!parts || !valid_host(parts->host, parts->bracketed)) {
    return fail(UrlProblem::host, "expected a host name or IP address after the scheme");
  }
  url.host = std::string(parts->host);
  const std::optional<int> port =
      parts->port ? parse_port(*parts->port, 1) : std::optional(url.tls() ? 443 : 80);
  if (!port) {
    return fail(UrlProblem::port, "the port must be a number from 1 to 65535");
  }
  url.port = *port;
  if (!is_visible_ascii(path)) {
    return fail(UrlProblem::path, "the path may hold only visible ASCII characters "
                                  "(percent-encode spaces, control characters and UTF-8)");
  }
  while (path.ends_with('/')) {
    path.remove_suffix(1);
  }
  url.base_path = std::string(path);
  return url;
}

bool ends_in_api_root(std::string_view base_path) {
  return base_path.ends_with("/v1");
}

std::optional<std::pair<std::string, int>> parse_host_port(std::string_view text, int min_port) {
  const std::optional<HostPort> parts = split_authority(text);
  if (!parts || !parts->port || !valid_host(parts->host, parts->bracketed)) {
    return std::nullopt;
  }
  const std::optional<int> port = parse_port(*parts->port, min_port);
  if (!port) {
    return std::nullopt;
  }
  return std::pair{std::string(parts->host), *port};
}

std::optional<std::string> percent_decode(std::string_view text) {
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') {
      return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
      return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
      return c - 'A' + 10;
    }
    return -1;
  };
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c == '%') {
      const int high = i + 2 < text.size() ? hex(text[i + 1]) : -1;
      const int low = high >= 0 ? hex(text[i + 2]) : -1;
      if (low < 0) {
        return std::nullopt;
      }
      c = static_cast<char>(high * 16 + low);
      i += 2;
    }
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
      return std::nullopt;
    }
    out += c;
  }
  return out;
}

std::optional<std::string_view> query_param(std::string_view query, std::string_view name) {
  while (!query.empty()) {
    const std::size_t amp = query.find('&');
    const std::string_view param = query.substr(0, amp);
    const std::size_t eq = param.find('=');
    if (param.substr(0, eq) == name) {
      return eq == std::string_view::npos ? std::string_view() : param.substr(eq + 1);
    }
    if (amp == std::string_view::npos) {
      break;
    }
    query.remove_prefix(amp + 1);
  }
  return std::nullopt;
}

} // namespace ask::core
