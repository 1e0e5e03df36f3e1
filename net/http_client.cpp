// ResponseStream and HttpClient: start() (connect or reuse, send, read the head, retry a
// stale pooled connection once), then the body read piece by piece. The pieces they use are
// in net/http_client_detail.h.
#include "net/http_client.h"

#include <poll.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>

#include "net/http_client_detail.h"

namespace ask::net {

namespace {

std::string authority_of(const std::string& host, int port) {
  if (host.find(':') != std::string::npos) {
    return "[" + host + "]:" + std::to_string(port);
  }
  return host + ":" + std::to_string(port);
}

} // namespace

struct HttpClient::Pool : detail::ConnectionPool {
  using ConnectionPool::ConnectionPool;
};

// ---- ResponseStream ------------------------------------------------------------------------

struct ResponseStream::State {
  State(std::shared_ptr<detail::ConnectionPool> pool_in, const ClientTimeouts& timeouts_in,
        Watch watch_in)
      : pool(std::move(pool_in)), parser(pool->limits()), timeouts(timeouts_in),
        watch(std::move(watch_in)) {}

  const std::string& peer() const { return pool->authority(); }

  // The body has been read to its end: the connection goes back to the pool when it can
  // carry another request (keep-alive, and nothing unasked after the response).
  void finish_body() {
    ended = true;
    if (connection && keep_alive && parser.state() == ResponseParser::State::complete &&
        connection->buffered().empty()) {
      pool->give_back(std::move(connection));
    }
    connection.reset();
  }

  core::Result<bool> fail(core::Error e) {
    connection.reset();
    error = e;
    return core::fail(std::move(e));
  }

  std::shared_ptr<detail::ConnectionPool> pool;
  std::unique_ptr<Connection> connection;
  ResponseParser parser;
  ClientTimeouts timeouts;
  Watch watch;
  bool keep_alive = false; // the request did not ask to close
  bool ended = false;
  std::optional<core::Error> error; // after a failure or abort(): what read() answers
};

ResponseStream::ResponseStream(std::unique_ptr<State> state, ResponseHead head)
    : m_state(std::move(state)), m_head(std::move(head)) {}
ResponseStream::ResponseStream(ResponseStream&&) noexcept = default;
ResponseStream& ResponseStream::operator=(ResponseStream&&) noexcept = default;
ResponseStream::~ResponseStream() = default;

core::Result<bool> ResponseStream::read(std::string& out) {
  using detail::Clock;
  if (!m_state) {
    return core::fail(core::Error::internal("read from a moved-from ResponseStream"));
  }
  State& s = *m_state;
  if (s.error) {
    return core::fail(*s.error);
  }
  if (s.ended) {
    return false;
  }
  const std::size_t before = out.size();
  Connection& connection = *s.connection;
  for (;;) {
    if (!connection.buffered().empty()) {
      connection.consume(s.parser.feed(connection.buffered(), out));
      if (s.parser.state() == ResponseParser::State::failed) {
        auto failed = s.fail(detail::malformed(s.peer(), s.parser.error()));
        if (out.size() > before) {
          return true; // deliver the good bytes; the next read() reports the error
        }
        return failed;
      }
      if (s.parser.state() == ResponseParser::State::complete) {
        s.finish_body();
        return out.size() > before;
      }
      if (out.size() > before) {
        return true;
      }
    }
    if (!connection.has_pending()) {
      const detail::Wake wake =
          detail::wait_for(connection.fd(), connection.wants(),
                           detail::later(Clock::now(), s.timeouts.idle), s.timeouts, s.watch);
      if (wake != detail::Wake::ready) {
        return s.fail(detail::wait_error(wake, detail::Phase::body, s.peer(), s.timeouts));
      }
    }
    const ssize_t n = connection.receive();
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      continue;
    }
    if (n < 0) {
      return s.fail(detail::read_error(connection, s.peer(), errno, "mid-body"));
    }
    if (n == 0) {
      if (s.parser.finish() != ResponseParser::State::complete) {
        return s.fail(core::Error::connect(s.peer() + " closed the connection mid-body"));
      }
      s.finish_body();
      return out.size() > before;
    }
  }
}

core::Result<std::string> ResponseStream::read_all(std::size_t max_bytes) {
  std::string body;
  if (m_state && m_state->parser.framing() == BodyFraming::length) {
    body.reserve(static_cast<std::size_t>(
        std::min<std::uint64_t>(m_state->parser.content_length(), max_bytes)));
  }
  for (;;) {
    auto more = read(body);
    if (!more) {
      return core::fail(std::move(more.error()));
    }
    if (body.size() > max_bytes) {
      auto e = core::Error::upstream(core::Error::k_malformed_reply_status,
                                     "response from " + m_state->peer() + " larger than " +
                                         std::to_string(max_bytes) + " bytes");
      m_state->fail(e);
      return core::fail(std::move(e));
    }
    if (!*more) {
      return body;
    }
  }
}

void ResponseStream::abort() {
  if (!m_state || !m_state->connection) {
    return;
  }
  m_state->fail(core::Error::cancelled("request to " + m_state->peer() + " aborted"));
}

bool ResponseStream::finish(std::chrono::milliseconds grace, std::size_t max_bytes) {
  if (!m_state || !m_state->connection) {
    return false;
  }
  State& s = *m_state;
  const auto end = detail::Clock::now() + grace;
  s.timeouts.idle = grace;
  s.timeouts.deadline = s.timeouts.deadline ? std::min(*s.timeouts.deadline, end) : end;
  std::string discarded;
  for (;;) {
    auto more = read(discarded);
    if (!more) {
      return false; // read() closed the connection
    }
    if (!*more) {
      return true; // the body ended: the connection is back in the pool when reusable
    }
    if (discarded.size() > max_bytes) {
      abort();
      return false;
    }
  }
}

int ResponseStream::fd() const {
  return m_state && m_state->connection ? m_state->connection->fd() : -1;
}

// ---- HttpClient ----------------------------------------------------------------------------

HttpClient::HttpClient(std::string host, int port, ClientOptions options)
    : m_host(std::move(host)), m_port(port), m_options(std::move(options)),
      m_pool(std::make_shared<Pool>(authority_of(m_host, m_port), m_options)) {}

HttpClient::~HttpClient() {
  m_pool->shut_down();
}

std::size_t HttpClient::idle_connections() const {
  return m_pool->idle();
}

core::Result<ResponseStream> HttpClient::start(const ClientRequest& request,
                                               const ClientTimeouts& timeouts, const Watch& watch) {
  const std::string& peer = m_pool->authority();
  if (std::string problem = detail::request_problem(request); !problem.empty()) {
    return core::fail(core::Error::bad_request("request to " + peer + ": " + problem));
  }
  if (timeouts.deadline && detail::Clock::now() >= *timeouts.deadline) {
    return core::fail(
        core::Error::timeout("request to " + peer + " passed its deadline before it was sent"));
  }
  bool close_after = false;
  const std::string head = detail::request_head(request, peer, close_after);
  const bool head_request = request.method == "HEAD";
  auto state = std::make_unique<ResponseStream::State>(m_pool, timeouts, watch);
  std::unique_ptr<Connection> connection = m_pool->take();
  for (bool retried = false;;) {
    const bool reused = connection != nullptr;
    if (!reused) {
      auto fresh = detail::open_connection(*m_pool, m_host, m_port, timeouts, watch);
      if (!fresh) {
        return core::fail(std::move(fresh.error()));
      }
      connection = std::move(*fresh);
    }
    state->parser.reset(head_request);
    bool retry = false;
    auto done = detail::send_request(*connection, head, request.body, peer, timeouts, watch, retry);
    if (done) {
      done = detail::read_head(*connection, state->parser, peer, timeouts, watch, retry);
    }
    if (done) {
      break;
    }
    connection.reset();
    if (!(reused && retry && !retried)) {
      return core::fail(std::move(done.error()));
    }
    retried = true; // the server closed an idle connection as we reused it: once, afresh
  }
  state->connection = std::move(connection);
  state->keep_alive = !close_after && state->parser.keep_alive();
  if (state->parser.state() == ResponseParser::State::complete) {
    state->finish_body();
  }
  ResponseHead response_head = state->parser.take_head();
  return ResponseStream(std::move(state), std::move(response_head));
}

bool watch_fired(const Watch& watch) {
  pollfd fds[2] = {{watch.client_fd, core::platform::hangup_events(), 0},
                   {watch.stop_fd, POLLIN, 0}};
  if (::poll(fds, 2, 0) <= 0) {
    return false;
  }
  if ((fds[1].revents & POLLIN) != 0 || (fds[0].revents & (POLLHUP | POLLERR | POLLNVAL)) != 0) {
    return true;
  }
  // A hang-up alone may be a half-close, which HTTP allows: the Watch decides.
  return fds[0].revents != 0 && core::platform::peer_hung_up(fds[0]) &&
         (!watch.confirm_gone || watch.confirm_gone());
}

} // namespace ask::net
