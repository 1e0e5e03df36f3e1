#pragma once
// The benchmarks' load generator: a minimal HTTP/1.1 client over raw sockets (keep-alive, a
// deadline on every request, the time of the first response byte and of the first content
// byte of a stream), and run_load(), which drives N client threads, each with its own
// connection, through a fixed number of requests. Responses are decoded by askd's own
// net::ResponseParser (Content-Length, chunked and until-close bodies, 1xx heads).
// Raw sockets rather than a client library so the client costs the same few microseconds
// against every target and its timestamps sit right at the socket calls.

#include <chrono>
#include <cstddef>
#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ask::bench {

using SteadyClock = std::chrono::steady_clock;

// How a request failed on the client's side (an HTTP error status is not a failure).
enum class Failure {
  none,
  connect,   // could not connect
  send,      // the request could not be written
  timeout,   // no complete answer before the deadline
  closed,    // the server closed (or reset) the connection before the answer was complete
  malformed, // a response that is not HTTP/1.x or has broken framing
};
std::string_view to_string(Failure f);

struct Response {
  int status = 0;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;            // chunked framing removed
  double first_byte_s = -1;    // request written → first response byte
  double first_content_s = -1; // → first body byte; for event streams the first non-empty
                               //   "content" delta (the time to first token)
  double total_s = 0;          // → end of the body (or the failure)
  Failure failure = Failure::none;
  bool retried = false; // a reused connection was closed before any byte: sent again once

  // The first header named `name` (case-insensitive), or "".
  std::string_view header(std::string_view name) const;
  bool ok() const { return failure == Failure::none; }
};

// One keep-alive connection to 127.0.0.1:port. Not thread-safe: one per client thread.
class Connection {
public:
  explicit Connection(int port) : m_port(port) {}
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Sends `request` (complete bytes, see post_request) and reads the answer until
  // `deadline`. Reconnects as needed; a request on a reused connection that the server had
  // already closed is sent once more on a fresh one.
  Response exchange(std::string_view request, SteadyClock::time_point deadline);
  void close();

private:
  bool connect_now();
  Response attempt(std::string_view request, SteadyClock::time_point deadline, bool& retryable);

  int m_port;
  int m_fd = -1;
  std::size_t m_used = 0; // requests answered on this connection
};

// The bytes of "POST path" with a JSON body and the given extra header lines.
std::string post_request(int port, std::string_view path, std::string_view json_body,
                         const std::vector<std::pair<std::string, std::string>>& headers = {});

struct LoadOptions {
  int port = 0;
  int concurrency = 1;
  std::size_t requests = 0;
  std::chrono::milliseconds timeout{30000}; // per request
};

// Requests numbered 0..requests-1; `request_for(i)` gives the bytes of request i.
using RequestFn = std::function<const std::string&(std::size_t index)>;
// Called on the client thread right after request i's answer (or failure).
using ResponseFn = std::function<void(std::size_t index, const Response&)>;

struct LoadResult {
  std::vector<double> latency_s;       // each answered request's total time (2xx or not)
  std::vector<double> first_content_s; // each answer's first content byte
  std::size_t requests = 0;
  std::size_t failures = 0;   // client-side failures (no complete answer)
  std::size_t non_2xx = 0;    // complete answers with another status
  std::size_t retries = 0;
  double wall_s = 0;          // first request start → last answer
  double requests_per_s() const { return wall_s > 0 ? static_cast<double>(requests) / wall_s : 0; }
};

// Runs `options.requests` requests from `options.concurrency` threads, each with its own
// connection; a thread takes the next request number as soon as its last one is answered.
LoadResult run_load(const LoadOptions& options, const RequestFn& request_for,
                    const ResponseFn& on_response = {});

// The p-th percentile (0..100) by nearest rank; sorts `values`. 0 when empty.
double percentile(std::vector<double>& values, double p);

} // namespace ask::bench
