#include "core/url.h"

#include <doctest/doctest.h>

using namespace ask::core;

namespace {

UrlProblem problem_of(std::string_view text) {
  const auto url = parse_http_url(text);
  REQUIRE_FALSE(url.has_value());
  CHECK_FALSE(url.error().reason.empty());
  return url.error().problem;
}

} // namespace

TEST_CASE("parse_http_url: scheme, host, port and path") {
  const auto plain = parse_http_url("http://127.0.0.1:11434");
  REQUIRE(plain.has_value());
  CHECK(*plain == HttpUrl{"http", "127.0.0.1", 11434, ""});
  CHECK_FALSE(plain->tls());
  const auto prefixed = parse_http_url("https://api.example.com/proxy");
  REQUIRE(prefixed.has_value());
  CHECK(*prefixed == HttpUrl{"https", "api.example.com", 443, "/proxy"});
  CHECK(prefixed->tls());
  CHECK(parse_http_url("http://gpu-box_2.lan")->port == 80);
  CHECK(parse_http_url("http://h:080")->port == 80);
  CHECK(parse_http_url("http://h:65535")->port == 65535);
}

TEST_CASE("parse_http_url: the scheme in any case, the host kept as written") {
  const auto upper = parse_http_url("HTTPS://Api.Example.COM:8443");
  REQUIRE(upper.has_value());
  CHECK(upper->scheme == "https");
  CHECK(upper->tls());
  CHECK(upper->port == 8443);
  CHECK(upper->host == "Api.Example.COM");
  CHECK(parse_http_url("Http://h")->scheme == "http");
  CHECK(parse_http_url("hTTp://h")->port == 80);
}

TEST_CASE("parse_http_url: IPv6 literals in brackets") {
  const auto v6 = parse_http_url("http://[::1]:8080");
  REQUIRE(v6.has_value());
  CHECK(v6->host == "::1");
  CHECK(v6->port == 8080);
  CHECK(v6->to_string() == "http://[::1]:8080");
  const auto no_port = parse_http_url("https://[2001:db8::7]/x");
  REQUIRE(no_port.has_value());
  CHECK(no_port->host == "2001:db8::7");
  CHECK(no_port->port == 443);
  CHECK(no_port->base_path == "/x");
  CHECK(problem_of("http://::1:80") == UrlProblem::host);  // no brackets
  CHECK(problem_of("http://[::1:80") == UrlProblem::host); // unclosed
  CHECK(problem_of("http://[::1]x") == UrlProblem::host);  // text after the bracket
  CHECK(problem_of("http://[::1]x:80") == UrlProblem::host);
  CHECK(problem_of("http://[not-v6]:80") == UrlProblem::host); // not an IPv6 address
  CHECK(problem_of("http://[127.0.0.1]") == UrlProblem::host);
  CHECK(problem_of("http://[fe80::1%25eth0]:80") == UrlProblem::host); // zone ids
  CHECK(problem_of("http://[]:80") == UrlProblem::host);
}

TEST_CASE("parse_http_url: trailing slashes go, a trailing /v1 stays") {
  CHECK(parse_http_url("http://h/")->base_path.empty());
  CHECK(parse_http_url("http://h//")->base_path.empty());
  CHECK(parse_http_url("http://h:1/proxy/")->base_path == "/proxy");
  CHECK(parse_http_url("http://h/v1")->base_path == "/v1");
  CHECK(parse_http_url("http://h/askd/v1/")->base_path == "/askd/v1");
  CHECK(ends_in_api_root("/v1"));
  CHECK(ends_in_api_root("/askd/v1"));
  CHECK_FALSE(ends_in_api_root(""));
  CHECK_FALSE(ends_in_api_root("/xv1"));
  CHECK_FALSE(ends_in_api_root("/v1/x"));
  CHECK_FALSE(ends_in_api_root("/v10"));
}

TEST_CASE("parse_http_url: malformed URLs say which rule they broke") {
  CHECK(problem_of("") == UrlProblem::scheme);
  CHECK(problem_of("127.0.0.1:11434") == UrlProblem::scheme);
  CHECK(problem_of("ftp://h:1") == UrlProblem::scheme);
  CHECK(problem_of("http:/h") == UrlProblem::scheme);
  CHECK(problem_of("://h") == UrlProblem::scheme);
  CHECK(problem_of("httpx://h") == UrlProblem::scheme);
  CHECK(problem_of("http://u:p@h:1") == UrlProblem::user_info);
  CHECK(problem_of("http://@h") == UrlProblem::user_info);
  CHECK(problem_of("http://h:1/?q=1") == UrlProblem::query);
  CHECK(problem_of("http://h#top") == UrlProblem::query);
  CHECK(problem_of("http://") == UrlProblem::host);
  CHECK(problem_of("http:///x") == UrlProblem::host);
  CHECK(problem_of("http://:80") == UrlProblem::host);
  CHECK(problem_of("http://ho st") == UrlProblem::host);
  CHECK(problem_of("http://h\r\n:80") == UrlProblem::host);
  CHECK(problem_of("http://caf\xc3\xa9.example") == UrlProblem::host);
  CHECK(problem_of("http://" + std::string(254, 'a')) == UrlProblem::host);
  CHECK(parse_http_url("http://" + std::string(253, 'a')).has_value());
  CHECK(problem_of("http://h:") == UrlProblem::port);
  CHECK(problem_of("http://h:0") == UrlProblem::port);
  CHECK(problem_of("http://h:65536") == UrlProblem::port);
  CHECK(problem_of("http://h:99999999999") == UrlProblem::port);
  CHECK(problem_of("http://h:12ab") == UrlProblem::port);
  CHECK(problem_of("http://h:-1") == UrlProblem::port);
  CHECK(problem_of("http://h:+80") == UrlProblem::port);
  CHECK(problem_of("http://[::1]:") == UrlProblem::port);
  CHECK(problem_of("http://h/a b") == UrlProblem::path);
  CHECK(problem_of("http://h/a\r\nX-Injected: 1") == UrlProblem::path);
  CHECK(problem_of(std::string("http://h/a\0b", 12)) == UrlProblem::path);
  CHECK(problem_of("http://h/caf\xc3\xa9") == UrlProblem::path);
  CHECK(parse_http_url("http://h/a%20b/~x-y_z.1")->base_path == "/a%20b/~x-y_z.1");
}

TEST_CASE("HttpUrl::to_string: always with the port") {
  CHECK(HttpUrl{"https", "api.example.com", 443, "/proxy"}.to_string() ==
        "https://api.example.com:443/proxy");
  CHECK(HttpUrl{"http", "fe80::1", 80, "/x"}.to_string() == "http://[fe80::1]:80/x");
  const auto round = parse_http_url("HTTP://[::1]/p/");
  REQUIRE(round.has_value());
  CHECK(parse_http_url(round->to_string()).value() == *round);
}

TEST_CASE("parse_host_port: listen addresses") {
  CHECK(parse_host_port("127.0.0.1:11436", 0) == std::pair<std::string, int>{"127.0.0.1", 11436});
  CHECK(parse_host_port("[::1]:0", 0) == std::pair<std::string, int>{"::1", 0});
  CHECK(parse_host_port("localhost:80", 1)->first == "localhost");
  CHECK_FALSE(parse_host_port("h:0", 1));
  CHECK_FALSE(parse_host_port("127.0.0.1", 0));
  CHECK_FALSE(parse_host_port("[::1]", 0));
  CHECK_FALSE(parse_host_port("::1:80", 0));
  CHECK_FALSE(parse_host_port(":80", 0));
  CHECK_FALSE(parse_host_port("h:", 0));
  CHECK_FALSE(parse_host_port("h:65536", 0));
  CHECK_FALSE(parse_host_port("[x]:80", 0));
  CHECK_FALSE(parse_host_port("", 0));
}

TEST_CASE("percent_decode: escapes decoded, malformed ones and control bytes refused") {
  CHECK(percent_decode("qwen3.5%3A9b") == "qwen3.5:9b");
  CHECK(percent_decode("box2%2fcoder-30b") == "box2/coder-30b");
  CHECK(percent_decode("plain-name") == "plain-name");
  CHECK(percent_decode("") == "");
  CHECK(percent_decode("%C3%A9") == "\xC3\xA9"); // UTF-8 passes as bytes
  CHECK_FALSE(percent_decode("%").has_value());
  CHECK_FALSE(percent_decode("a%4").has_value());
  CHECK_FALSE(percent_decode("%G1").has_value());
  CHECK_FALSE(percent_decode("%1G").has_value());
  CHECK_FALSE(percent_decode("a%00b").has_value());
  CHECK_FALSE(percent_decode("a%0Ab").has_value());
  CHECK_FALSE(percent_decode("a%7Fb").has_value());
  CHECK_FALSE(percent_decode(std::string_view("a\nb")).has_value());
}

TEST_CASE("query_param: the first parameter of that name, bare ones as empty") {
  CHECK(query_param("state=1", "state") == "1");
  CHECK(query_param("a=1&state&limit=5", "state") == "");
  CHECK(query_param("a=1&state&limit=5", "limit") == "5");
  CHECK(query_param("limit=5&limit=7", "limit") == "5");
  CHECK(query_param("after=41", "after") == "41");
  CHECK(query_param("x=1&after=", "after") == "");
  for (const char* query : {"", "&", "&&", "stately=1", "limits=5", "=5", "a=limit"}) {
    CAPTURE(query);
    CHECK_FALSE(query_param(query, "limit").has_value());
    CHECK_FALSE(query_param(query, "state").has_value());
  }
}
