#pragma once
// An HTTP/1.1 server over plain sockets, shared by askd and llm-sim: one thread per
// connection (capped), keep-alive, Content-Length request bodies, responses written as the
// handler produces them. Raw sockets rather than a library because both programs need full
// control of the connection: askd commits response headers only once an upstream has sent
// its first byte and notices a client that goes away while it waits (the socket is there to
// poll); llm-sim's faults close before the first byte, reset, hang, or stop mid-stream.
// A handler talks to its client through an Exchange.

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <limits>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include <poll.h>

#include "core/error.h"
#include "net/http_client.h"
#include "net/http_request.h"

namespace ask::net {

using Header = std::pair<std::string, std::string>;
using Headers = std::vector<Header>;

// The reason phrase of an HTTP status ("Service Unavailable"); "Unknown" when unlisted.
std::string_view reason_phrase(int status);

// How a wait on a connection ended.
enum class WaitResult { elapsed, client_gone, stopping };

// One request's view of its connection. Not thread-safe: one handler thread uses it.
class Exchange {
public:
  // `interim_allowed`: the request is HTTP/1.1, so 1xx interim responses may be sent.
  Exchange(int fd, int stop_fd, const std::atomic<bool>& stopping, bool keep_alive_allowed,
           bool interim_allowed = false);

  // Writes a whole response: the status line, `headers` exactly in the order given, then
  // `body`. The caller includes Content-Length. A "Connection: close" header closes the
  // connection after the response. Returns false when the client is gone.
  bool send_response(int status, const Headers& headers, std::string_view body);
  // Starts a chunked response (the caller includes "Transfer-Encoding: chunked"). With
  // `defer`, the head waits and goes out in one write with the first chunk (or at the next
  // wait_for / close), so a client sees headers and the first data together.
  bool begin_chunked(int status, const Headers& headers, bool defer = false);
  // One chunk: "<hex size>\r\n<data>\r\n". An empty `data` sends nothing.
  bool send_chunk(std::string_view data);
  // The terminating "0\r\n\r\n", after `last` as a final chunk when not empty (one write).
  bool end_chunked(std::string_view last = {});
  // Bytes as they are, for faults that break the framing on purpose.
  bool send_raw(std::string_view bytes);

  // Closes the connection at once: a FIN, or a TCP RST when `reset` is true.
  void close_connection(bool reset);
  // Waits `timeout` (forever when nullopt) unless the client goes away or the server stops.
  WaitResult wait_for(std::optional<std::chrono::nanoseconds> timeout);
  // True once a write failed or the client is gone (non-blocking check).
  bool client_gone();
  // Called when the client's socket reports a hang-up (its FIN): true when the client is
  // gone, false when it only closed its sending side, which HTTP allows (RFC 9112 9.6) and
  // which looks the same to TCP. To tell them apart before the response starts, an HTTP/1.1
  // client is sent an interim "100 Continue" (every HTTP/1.1 client must accept one): a
  // client that closed for good answers it with a reset, seen at the next poll as
  // POLLHUP/POLLERR. After a half-close only those mean gone; the response goes out as usual
  // and the connection closes after it. An HTTP/1.0 client that hangs up is gone, and so is
  // one whose first hang-up comes after the response began (the server checks for a
  // half-close before the handler runs, when it comes with the request).
  bool hung_up();
  // The client's socket and the stop pipe, for a wait on something else (an upstream).
  Watch watch();
  bool stopping() const { return m_stopping.load(); }
  // The client's socket and the server's stop pipe, for code that waits on something else
  // (an upstream socket) and must also notice the client leaving (core::platform::
  // hangup_events() on fd(); better: watch()) or the server stopping (POLLIN on stop_fd()).
  // Do not read from or close them.
  int fd() const { return m_fd; }
  int stop_fd() const { return m_stop_fd; }
  // The client's address, "127.0.0.1:51234" or "[::1]:51234"; "" when unknown.
  const std::string& peer() const { return m_peer; }
  void set_peer(std::string peer) { m_peer = std::move(peer); }

  // Whether this response may leave the connection open (the client asked for keep-alive
  // and the per-connection request budget is not spent).
  bool keep_alive_allowed() const { return m_keep_alive_allowed; }
  bool responded() const { return m_responded; }
  bool closed() const { return m_closed; }
  bool wants_close() const { return m_close_after; }
  bool write_failed() const { return m_write_failed; }

private:
  // The status line and headers as text.
  std::string head(int status, const Headers& headers);
  // Writes the deferred head, if any, before anything else.
  bool flush_head();

  int m_fd;
  int m_stop_fd;
  const std::atomic<bool>& m_stopping;
  bool m_keep_alive_allowed;
  bool m_interim_allowed;
  bool m_half_closed = false; // the client closed its sending side; only a reset means gone
  bool m_head_written = false; // the final response's head is on the wire
  bool m_responded = false;
  bool m_closed = false;
  bool m_close_after = false;
  bool m_write_failed = false;
  std::string m_peer;
  std::string m_deferred_head; // begin_chunked(..., defer) not yet written
};

using Handler = std::function<void(const HttpRequest&, Exchange&)>;

// The body of a response the server writes itself (a malformed request, too many
// connections, a handler that threw): the status and a short reason in, the Content-Type and
// body out. The default writes the reason as text/plain.
using ErrorFormatter =
    std::function<std::pair<std::string, std::string>(int status, std::string_view reason)>;

// The server's own answer to a request it refuses after reading the head and before the
// body (HeadCheck): status, headers and body, sent with Connection: close.
struct Rejection {
  int status = 400;
  Headers headers; // Content-Type and the like; the server adds Content-Length and Connection
  std::string body;
};

// Looks at a request's head before a byte of its body is read (askd: the API key). nullopt
// lets the request through. Runs on the connection's thread.
using HeadCheck = std::function<std::optional<Rejection>(const HttpRequest& head,
                                                         const std::string& peer)>;

// How long each part of a request may take, as Envoy's connection manager counts them. A
// connection past one is closed: with 408 Request Timeout when a request had begun, silently
// when it sat idle.
struct Deadlines {
  // From the first byte of a request to the end of its head.
  std::chrono::milliseconds head{20'000};
  // From the end of the head to the end of the body: `body`, plus one second for each
  // `body_min_rate` bytes that arrive (a large body on a slow link goes on; a trickle stops).
  std::chrono::milliseconds body{20'000};
  std::size_t body_min_rate = 16 * 1024; // bytes per second
  // Between requests on a kept-alive connection, and before the first one.
  std::chrono::milliseconds idle{5000};
};

// Limits per client address (the peer's IP, any port), so one client cannot take what every
// client shares: connection threads and memory for request bodies. None by default (llm-sim,
// like llama-server, has none); askd sets its config's `server` section.
struct PeerLimits {
  static constexpr std::size_t k_none = std::numeric_limits<std::size_t>::max();
  std::size_t max_connections = k_none;      // more are answered 503 and closed
  std::size_t max_body_bytes = k_none;       // request bodies being read, this peer
  std::size_t max_total_body_bytes = k_none; // request bodies being read, all peers
};

struct ServerOptions {
  RequestLimits limits;
  Deadlines deadlines;
  PeerLimits peers;
  std::size_t max_connections = 1024;     // more are answered 503 and closed
  int keep_alive_max = 100;               // requests per connection
  std::chrono::seconds send_timeout{120}; // a client that stops reading
  std::string name = "server";            // prefixes its own error messages
  ErrorFormatter error_formatter;         // empty: text/plain
  HeadCheck head_check;                   // empty: every head passes
};

// What the server has done, for /metrics. Counters only grow; the rest are current values.
struct ServerStats {
  std::size_t open_connections = 0;
  std::size_t body_bytes_buffered = 0; // reserved for request bodies being read
  std::uint64_t accepted = 0;
  std::uint64_t rejected_busy = 0;      // max_connections reached
  std::uint64_t rejected_peer = 0;      // a peer's max_connections reached
  std::uint64_t rejected_body_buffer = 0; // a peer's or the total body budget reached
  std::uint64_t rejected_head = 0;      // refused by the HeadCheck before the body
  std::uint64_t head_timeouts = 0;
  std::uint64_t body_timeouts = 0;
  std::uint64_t idle_timeouts = 0;
  std::uint64_t continues = 0; // 100 Continue sent for Expect
};

class HttpServer {
public:
  HttpServer(Handler handler, ServerOptions options = {});
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Binds and listens; returns the bound port (useful with port 0). Errors: connect kind
  // with the OS reason when the address cannot be bound.
  core::Result<int> listen(const std::string& host, int port);
  // Accepts connections until stop(); joins every connection thread before returning.
  void serve();
  // Thread-safe: stops accepting, wakes every waiting handler, shuts connections down.
  void stop();
  ServerStats stats() const;

private:
  struct Worker {
    std::thread thread;
    int fd = -1;
    std::string host; // the peer's address without the port: the key of its limits
    std::atomic<bool> done{false};
  };
  // A refused connection whose answer is out: what the client still sends is read and
  // dropped until it closes or `until`, so the answer is not lost to a reset.
  struct Lingering {
    int fd;
    std::chrono::steady_clock::time_point until;
  };
  struct Peer {
    std::size_t connections = 0;
    std::size_t body_bytes = 0;
  };
  enum class ReadResult { data, closed, timeout, stopping };

  void accept_one();
  void serve_connection(Worker& worker);
  ReadResult read_more(int fd, RequestParser& parser,
                       std::chrono::steady_clock::time_point deadline);
  void refuse_connection(int fd, int status, const std::string& reason);
  void respond_error(int fd, int status, const std::string& reason);
  void linger(int fd);
  void serve_lingering(const std::vector<pollfd>& ready);
  bool reserve_body(const std::string& host, std::size_t bytes);
  void release_body(const std::string& host, std::size_t bytes);
  void reap(bool all);
  void release(Worker& worker);

  Handler m_handler;
  ServerOptions m_options;
  int m_listen_fd = -1;
  int m_stop_pipe[2] = {-1, -1};
  std::atomic<bool> m_stopping{false};
  mutable std::mutex m_mutex; // guards the members below
  std::list<std::unique_ptr<Worker>> m_workers;
  std::map<std::string, Peer, std::less<>> m_peers;
  std::size_t m_body_bytes = 0;
  ServerStats m_stats; // counters; open_connections and body_bytes_buffered filled by stats()
  std::vector<Lingering> m_lingering; // the accept thread's only
};

} // namespace ask::net
