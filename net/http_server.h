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
#include <functional>
#include <list>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "core/error.h"
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
  Exchange(int fd, int stop_fd, const std::atomic<bool>& stopping, bool keep_alive_allowed);

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
  // True once a write failed or the peer has closed its side (non-blocking check).
  bool client_gone();
  bool stopping() const { return m_stopping.load(); }
  // The client's socket and the server's stop pipe, for code that waits on something else
  // (an upstream socket) and must also notice the client leaving (POLLRDHUP on fd()) or the
  // server stopping (POLLIN on stop_fd()). Do not read from or close them.
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

struct ServerOptions {
  RequestLimits limits;
  std::size_t max_connections = 1024;                 // more are answered 503 and closed
  std::chrono::milliseconds keep_alive_timeout{5000}; // idle time before closing
  int keep_alive_max = 100;                           // requests per connection
  std::chrono::seconds send_timeout{120};             // a client that stops reading
  std::string name = "server";                        // prefixes its own error messages
  ErrorFormatter error_formatter;                     // empty: text/plain
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
  std::size_t open_connections() const;

private:
  struct Worker {
    std::thread thread;
    int fd = -1;
    std::atomic<bool> done{false};
  };

  void accept_one();
  void serve_connection(Worker& worker);
  bool read_more(int fd, RequestParser& parser, bool idle);
  void reject_busy(int fd);
  void respond_error(int fd, int status, const std::string& reason);
  void reap(bool all);
  void release(Worker& worker);

  Handler m_handler;
  ServerOptions m_options;
  int m_listen_fd = -1;
  int m_stop_pipe[2] = {-1, -1};
  std::atomic<bool> m_stopping{false};
  mutable std::mutex m_mutex;
  std::list<std::unique_ptr<Worker>> m_workers;
};

} // namespace ask::net
