#pragma once
// HttpClient: askd's HTTP/1.1 client for its backends. Pull-style, so that the thread that
// serves an askd client can relay a stream itself: start() sends a request and returns once
// the response head has arrived; the body is then read piece by piece. Every wait has a
// deadline (connect, first byte, idle between reads, the whole request) and also watches the
// file descriptors of a Watch (the askd client's socket, the server's stop pipe), so a client
// that goes away aborts the upstream request at once: the backend sees its connection close.
// Connections are kept alive and pooled per HttpClient (askd holds one per backend).

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/error.h"
#include "net/response_parser.h" // ClientHeaders, ResponseHead

namespace ask::net {

struct ClientTimeouts {
  using Clock = std::chrono::steady_clock;
  std::chrono::nanoseconds connect = std::chrono::seconds(5);
  // From the request being sent to the first byte of the response head (a cold model load
  // happens here, so backends configure minutes).
  std::chrono::nanoseconds first_byte = std::chrono::seconds(300);
  // Between two pieces of the body.
  std::chrono::nanoseconds idle = std::chrono::seconds(120);
  // The whole request, start() to the end of the body; none = no limit.
  std::optional<Clock::time_point> deadline;
};

// What else a wait watches: `client_fd` for its peer hanging up (askd's client closed its
// side; core/platform.h peer_hung_up: POLLRDHUP on Linux, and elsewhere not while a pipelined
// request waits unread), `stop_fd` for POLLIN (askd is stopping). -1 = not watched. Either
// firing ends the wait with a `cancelled` error.
struct Watch {
  int client_fd = -1;
  int stop_fd = -1;
  // Asked when client_fd reports a hang-up (POLLRDHUP) without a reset: true = the client is
  // gone; false = it only closed its sending side and the wait goes on, watching for a reset
  // (POLLHUP/POLLERR) only. Empty: every hang-up is the client gone. net::Exchange::watch()
  // fills it (Exchange::hung_up).
  std::function<bool()> confirm_gone;
};

// True once the watched client socket reports a hang-up, or the stop pipe is readable
// (askd is stopping). Does not block.
bool watch_fired(const Watch& watch);

struct ClientRequest {
  std::string method = "POST";
  std::string target; // "/v1/chat/completions", with the backend's base path already in front
  // Sent as given; the client adds Host (unless given), Content-Length (when there is a body
  // or the method is POST/PUT/PATCH) and nothing else. Content-Length, Transfer-Encoding and
  // control characters (CR, LF...) in a value are refused (bad_request).
  ClientHeaders headers;
  std::string body;
};

struct ClientOptions {
  std::size_t max_idle_connections = 64;  // kept open for reuse; more are closed
  std::chrono::seconds idle_timeout{30};  // an idle connection older than this is closed
  std::size_t max_head_bytes = 64 * 1024; // status line and headers; more is malformed
  std::size_t max_chunk_line_bytes = 4 * 1024;
  std::size_t max_headers = 100; // header fields in a head (and trailer fields); more is malformed
  // HTTPS: TLS 1.2 or later, SNI, and the certificate verified against the host name (or IP).
  bool tls = false;
  std::string ca_file; // PEM trust anchors for tls; empty = the system's default paths
};

class Connection; // one TCP connection, internal

// A response being read. Move-only. Destroying or abort()ing it before the end of the body
// closes the connection (that is how askd cancels a request upstream); once the body has been
// read to its end, the connection goes back to its client's pool when keep-alive allows.
class ResponseStream {
public:
  ResponseStream(ResponseStream&&) noexcept;
  ResponseStream& operator=(ResponseStream&&) noexcept;
  ~ResponseStream();

  const ResponseHead& head() const { return m_head; }

  // Appends the next piece of the decoded body (chunked framing removed) to `out`; returns
  // true while more may come and false once the body has ended (nothing appended then).
  // Errors: timeout (idle gap or deadline: the message says which), connect (reset or closed
  // before the body's end), upstream_status via Error::malformed_reply (bad chunk framing),
  // cancelled (the Watch fired). After an error the stream is closed. Bytes decoded before bad
  // framing are still delivered: that read() returns true, the next one the error.
  core::Result<bool> read(std::string& out);
  // Reads the rest of the body; more than `max_bytes` is an upstream_status error (502).
  core::Result<std::string> read_all(std::size_t max_bytes);
  // Closes the connection now (idempotent).
  void abort();
  // For a caller that has what it needs (an SSE stream's [DONE]) while the body's end may
  // still be on its way: reads and discards the rest if it arrives within `grace` (and at
  // most `max_bytes`), so the connection can go back to the pool; otherwise closes it. True
  // when the body ended in time.
  bool finish(std::chrono::milliseconds grace, std::size_t max_bytes = 64 * 1024);
  // The connection's socket while open (for tests), else -1.
  int fd() const;

private:
  friend class HttpClient;
  struct State;
  explicit ResponseStream(std::unique_ptr<State> state, ResponseHead head);

  std::unique_ptr<State> m_state;
  ResponseHead m_head;
};

// One per backend (host and port). Thread-safe: any number of requests at once, each on its
// own connection, reusing idle pooled ones.
class HttpClient {
public:
  // `host` is a name or an IP literal (IPv6 without brackets); HTTPS when options.tls.
  HttpClient(std::string host, int port, ClientOptions options = {});
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  // Connects (or reuses a pooled connection), sends `request` and waits for the response
  // head; 1xx heads are skipped. For HTTPS the connect timeout covers the TLS handshake too.
  // A reused connection that turns out to be closed by the server before any response byte
  // is retried once on a fresh connection. Errors: connect (refused, reset, unreachable, name
  // not resolved, TLS handshake or certificate), timeout (connect or first byte),
  // upstream_status via Error::malformed_reply (a head that is not HTTP/1.x or too large),
  // cancelled, bad_request (a request that cannot be sent as it is). Any status, 4xx and 5xx
  // included, is a successful start.
  core::Result<ResponseStream> start(const ClientRequest& request, const ClientTimeouts& timeouts,
                                     const Watch& watch = {});

  // Idle pooled connections (for tests and /metrics).
  std::size_t idle_connections() const;
  const std::string& host() const { return m_host; }
  int port() const { return m_port; }

private:
  struct Pool;
  std::string m_host;
  int m_port;
  ClientOptions m_options;
  std::shared_ptr<Pool> m_pool; // shared with live streams, which may outlive the client
};

} // namespace ask::net
