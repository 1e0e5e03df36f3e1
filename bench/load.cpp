#include "bench/load.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cmath>
#include <latch>
#include <mutex>
#include <thread>

#include "core/platform.h"
#include "core/strings.h"
#include "net/response_parser.h"

namespace ask::bench {

namespace {

double seconds(SteadyClock::duration d) {
  return std::chrono::duration<double>(d).count();
}

// net::ResponseParser (askd's own client parser) with the timestamps a benchmark wants: the
// first response byte and the first content byte (for an event stream, the first non-empty
// "content" delta: the time to the first token).
class TimedReader {
public:
  explicit TimedReader(Response& r) : m_r(r) {}

  // Takes the bytes that arrived at `at` (seconds since the request was written).
  void feed(std::string_view bytes, double at) {
    if (m_r.first_byte_s < 0) {
      m_r.first_byte_s = at;
    }
    while (!bytes.empty()) {
      const std::size_t before = m_r.body.size();
      const std::size_t used = m_parser.feed(bytes, m_r.body);
      bytes.remove_prefix(used);
      if (!m_head_seen && m_parser.state() != net::ResponseParser::State::head) {
        on_head(at);
      }
      if (m_r.body.size() > before) {
        on_body(at);
      }
      if (used == 0) {
        break; // complete (bytes after the message are not ours) or failed
      }
    }
  }

  // The server closed its side: complete only for a body that runs until the close.
  void eof() { m_parser.finish(); }

  bool done() const { return m_parser.state() == net::ResponseParser::State::complete; }
  bool malformed() const { return m_parser.state() == net::ResponseParser::State::failed; }
  bool close_after() const { return !m_parser.keep_alive(); }

private:
  void on_head(double at) {
    m_head_seen = true;
    if (m_parser.state() == net::ResponseParser::State::failed) {
      return;
    }
    const net::ResponseHead& head = m_parser.head();
    m_r.status = head.status;
    m_r.headers = head.headers;
    m_event_stream =
        core::to_lower(m_r.header("Content-Type")).find("text/event-stream") != std::string::npos;
    if (m_parser.state() == net::ResponseParser::State::complete && m_r.first_content_s < 0) {
      m_r.first_content_s = at; // no body
    }
  }

  void on_body(double at) {
    if (m_r.first_content_s >= 0) {
      return;
    }
    if (!m_event_stream) {
      m_r.first_content_s = at;
      return;
    }
    // The first `"content":"X` (OpenAI's delta) or `"text":"X` (Anthropic's text_delta) with
    // X not the closing quote: a token the user sees.
    constexpr std::string_view k_keys[] = {R"("content":")", R"("text":")"};
    constexpr std::size_t k_longest = k_keys[0].size();
    for (;;) {
      std::size_t hit = std::string::npos;
      std::size_t key_size = 0;
      for (std::string_view key : k_keys) {
        const std::size_t found = m_r.body.find(key, m_scan);
        if (found < hit) {
          hit = found;
          key_size = key.size();
        }
      }
      if (hit == std::string::npos) {
        m_scan = m_r.body.size() > k_longest ? m_r.body.size() - k_longest : 0;
        return;
      }
      const std::size_t after = hit + key_size;
      if (after >= m_r.body.size()) {
        m_scan = hit; // look again when more arrives
        return;
      }
      if (m_r.body[after] != '"') {
        m_r.first_content_s = at;
        return;
      }
      m_scan = after;
    }
  }

  Response& m_r;
  net::ResponseParser m_parser;
  bool m_head_seen = false;
  bool m_event_stream = false;
  std::size_t m_scan = 0; // where the search for the first content resumes
};

} // namespace

std::string_view to_string(Failure f) {
  switch (f) {
  case Failure::none:
    return "none";
  case Failure::connect:
    return "connect";
  case Failure::send:
    return "send";
  case Failure::timeout:
    return "timeout";
  case Failure::closed:
    return "closed";
  case Failure::malformed:
    return "malformed";
  }
  return "?";
}

std::string_view Response::header(std::string_view name) const {
  for (const auto& [n, v] : headers) {
    if (core::iequals(n, name)) {
      return v;
    }
  }
  return {};
}

Connection::~Connection() {
  close();
}

void Connection::close() {
  if (m_fd >= 0) {
    ::close(m_fd);
    m_fd = -1;
  }
  m_used = 0;
}

bool Connection::connect_now() {
  close();
  m_fd = core::platform::socket_cloexec(AF_INET, SOCK_STREAM, 0);
  if (m_fd < 0) {
    return false;
  }
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(m_port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(m_fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    close();
    return false;
  }
  int one = 1;
  ::setsockopt(m_fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return true;
}

Response Connection::exchange(std::string_view request, SteadyClock::time_point deadline) {
  bool retryable = false;
  Response r = attempt(request, deadline, retryable);
  if (retryable && SteadyClock::now() < deadline) {
    r = attempt(request, deadline, retryable);
    r.retried = true;
  }
  return r;
}

Response Connection::attempt(std::string_view request, SteadyClock::time_point deadline,
                             bool& retryable) {
  Response r;
  retryable = false;
  const auto t0 = SteadyClock::now();
  auto fail = [&](Failure f) {
    r.failure = f;
    r.total_s = seconds(SteadyClock::now() - t0);
    close();
    return r;
  };
  if (m_fd < 0 && !connect_now()) {
    return fail(Failure::connect);
  }
  const bool reused = m_used > 0;
  for (std::size_t off = 0; off < request.size();) {
    const ssize_t n =
        core::platform::send_nosignal(m_fd, request.data() + off, request.size() - off);
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      retryable = reused;
      return fail(Failure::send);
    }
    off += static_cast<std::size_t>(n);
  }
  TimedReader reader(r);
  char buf[16384];
  bool any = false;
  for (;;) {
    const auto now = SteadyClock::now();
    if (now >= deadline) {
      return fail(Failure::timeout);
    }
    pollfd p{m_fd, POLLIN, 0};
    const auto wait_ms = std::chrono::ceil<std::chrono::milliseconds>(deadline - now).count();
    const int pr = ::poll(&p, 1, static_cast<int>(std::min<long long>(wait_ms, 1'000'000)));
    if (pr < 0 && errno == EINTR) {
      continue;
    }
    if (pr == 0) {
      continue; // the deadline check above ends it
    }
    const ssize_t n = ::recv(m_fd, buf, sizeof buf, 0);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n <= 0) {
      reader.eof();
      if (reader.done()) {
        break;
      }
      retryable = reused && !any;
      return fail(Failure::closed);
    }
    any = true;
    reader.feed(std::string_view(buf, static_cast<std::size_t>(n)),
                seconds(SteadyClock::now() - t0));
    if (reader.malformed()) {
      return fail(Failure::malformed);
    }
    if (reader.done()) {
      break;
    }
  }
  r.total_s = seconds(SteadyClock::now() - t0);
  ++m_used;
  if (reader.close_after()) {
    close();
  }
  return r;
}

std::string post_request(int port, std::string_view path, std::string_view json_body,
                         const std::vector<std::pair<std::string, std::string>>& headers) {
  std::string out;
  out.reserve(json_body.size() + 256);
  out += "POST ";
  out += path;
  out += " HTTP/1.1\r\nHost: 127.0.0.1:";
  out += std::to_string(port);
  out += "\r\nContent-Type: application/json\r\nAccept: */*\r\n";
  for (const auto& [name, value] : headers) {
    out += name;
    out += ": ";
    out += value;
    out += "\r\n";
  }
  out += "Content-Length: ";
  out += std::to_string(json_body.size());
  out += "\r\n\r\n";
  out += json_body;
  return out;
}

LoadResult run_load(const LoadOptions& options, const RequestFn& request_for,
                    const ResponseFn& on_response) {
  struct PerThread {
    std::vector<double> latency;
    std::vector<double> first_content;
    std::size_t failures = 0;
    std::size_t non_2xx = 0;
    std::size_t retries = 0;
    SteadyClock::time_point last_end{};
  };
  const int n_threads = std::max(1, options.concurrency);
  std::vector<PerThread> per(static_cast<std::size_t>(n_threads));
  for (auto& p : per) {
    p.latency.reserve(options.requests / static_cast<std::size_t>(n_threads) + 16);
    p.first_content.reserve(options.requests / static_cast<std::size_t>(n_threads) + 16);
  }
  std::atomic<std::size_t> next{0};
  std::latch ready(n_threads + 1);
  std::latch go(1);
  std::vector<std::thread> threads;
  threads.reserve(per.size());
  for (auto& p : per) {
    threads.emplace_back([&, pp = &p] {
      Connection conn(options.port);
      ready.count_down();
      go.wait();
      for (;;) {
        const std::size_t i = next.fetch_add(1);
        if (i >= options.requests) {
          break;
        }
        const std::string& req = request_for(i);
        Response r = conn.exchange(req, SteadyClock::now() + options.timeout);
        pp->last_end = SteadyClock::now();
        if (r.retried) {
          ++pp->retries;
        }
        if (!r.ok()) {
          ++pp->failures;
        } else {
          if (r.status < 200 || r.status >= 300) {
            ++pp->non_2xx;
          }
          pp->latency.push_back(r.total_s);
          if (r.first_content_s >= 0) {
            pp->first_content.push_back(r.first_content_s);
          }
        }
        if (on_response) {
          on_response(i, r);
        }
      }
    });
  }
  ready.arrive_and_wait();
  const auto start = SteadyClock::now();
  go.count_down();
  for (auto& t : threads) {
    t.join();
  }
  LoadResult result;
  result.requests = options.requests;
  SteadyClock::time_point end = start;
  for (auto& p : per) {
    result.latency_s.insert(result.latency_s.end(), p.latency.begin(), p.latency.end());
    result.first_content_s.insert(result.first_content_s.end(), p.first_content.begin(),
                                  p.first_content.end());
    result.failures += p.failures;
    result.non_2xx += p.non_2xx;
    result.retries += p.retries;
    end = std::max(end, p.last_end);
  }
  result.wall_s = seconds(end - start);
  return result;
}

double percentile(std::vector<double>& values, double p) {
  if (values.empty()) {
    return 0;
  }
  std::sort(values.begin(), values.end());
  const double rank = std::ceil(p / 100.0 * static_cast<double>(values.size()));
  const auto idx = static_cast<std::size_t>(std::clamp(rank, 1.0, static_cast<double>(values.size()))) - 1;
  return values[idx];
}

} // namespace ask::bench
