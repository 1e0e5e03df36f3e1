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

namespace ask::bench {

namespace {

double seconds(SteadyClock::duration d) {
  return std::chrono::duration<double>(d).count();
}

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return (x | 0x20) == (y | 0x20);
         });
}

bool icontains(std::string_view hay, std::string_view needle) {
  if (needle.size() > hay.size()) {
    return false;
  }
  for (std::size_t i = 0; i + needle.size() <= hay.size(); ++i) {
    if (iequals(hay.substr(i, needle.size()), needle)) {
      return true;
    }
  }
  return false;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) {
    s.remove_prefix(1);
  }
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) {
    s.remove_suffix(1);
  }
  return s;
}

// Incremental reader of one response: feed bytes, ask whether it is complete.
class ResponseReader {
public:
  enum class State { head, body_length, body_chunked, body_until_close, done, bad };

  explicit ResponseReader(Response& r) : m_r(r) {}

  // Consumes `m_buf` as far as possible. `at` is the time the bytes arrived.
  void feed(std::string_view bytes, double at) {
    m_buf.append(bytes);
    if (m_r.first_byte_s < 0) {
      m_r.first_byte_s = at;
    }
    if (m_state == State::head) {
      parse_head(at);
    }
    if (m_state == State::body_length) {
      const std::size_t take = std::min(m_length - m_r.body.size(), m_buf.size() - m_pos);
      append_body(std::string_view(m_buf).substr(m_pos, take), at);
      m_pos += take;
      if (m_r.body.size() == m_length) {
        m_state = State::done;
      }
    } else if (m_state == State::body_chunked) {
      parse_chunks(at);
    } else if (m_state == State::body_until_close) {
      append_body(std::string_view(m_buf).substr(m_pos), at);
      m_pos = m_buf.size();
    }
    if (m_pos > 0) {
      m_buf.erase(0, m_pos);
      m_pos = 0;
    }
  }

  // The server closed its side: complete only for a body that runs until close.
  void eof() {
    if (m_state == State::body_until_close) {
      m_state = State::done;
    }
  }

  State state() const { return m_state; }
  bool close_after() const { return m_close; }

private:
  void parse_head(double at) {
    const auto end = m_buf.find("\r\n\r\n");
    if (end == std::string::npos) {
      if (m_buf.size() > 64 * 1024) {
        m_state = State::bad;
      }
      return;
    }
    std::string_view head(m_buf.data(), end);
    auto line_end = head.find("\r\n");
    std::string_view status_line = head.substr(0, line_end);
    if (status_line.size() < 12 || status_line.substr(0, 7) != "HTTP/1.") {
      m_state = State::bad;
      return;
    }
    const bool http10 = status_line[7] == '0';
    m_r.status = std::atoi(std::string(status_line.substr(9, 3)).c_str());
    bool chunked = false;
    bool has_length = false;
    bool keep_alive = !http10;
    std::string_view rest = line_end == std::string_view::npos ? std::string_view()
                                                                : head.substr(line_end + 2);
    while (!rest.empty()) {
      auto eol = rest.find("\r\n");
      std::string_view line = rest.substr(0, eol);
      rest = eol == std::string_view::npos ? std::string_view() : rest.substr(eol + 2);
      auto colon = line.find(':');
      if (colon == std::string_view::npos) {
        continue;
      }
      std::string_view name = trim(line.substr(0, colon));
      std::string_view value = trim(line.substr(colon + 1));
      m_r.headers.emplace_back(std::string(name), std::string(value));
      if (iequals(name, "Content-Length")) {
        has_length = true;
        m_length = std::strtoull(std::string(value).c_str(), nullptr, 10);
      } else if (iequals(name, "Transfer-Encoding") && icontains(value, "chunked")) {
        chunked = true;
      } else if (iequals(name, "Connection")) {
        if (icontains(value, "close")) {
          keep_alive = false;
        } else if (icontains(value, "keep-alive")) {
          keep_alive = true;
        }
      } else if (iequals(name, "Content-Type") && icontains(value, "text/event-stream")) {
        m_event_stream = true;
      }
    }
    m_close = !keep_alive;
    m_pos = end + 4;
    if (m_r.status >= 100 && m_r.status < 200) { // an interim answer: the real one follows
      m_r.headers.clear();
      m_buf.erase(0, m_pos);
      m_pos = 0;
      parse_head(at);
      return;
    }
    if (chunked) {
      m_state = State::body_chunked;
    } else if (has_length) {
      m_state = m_length == 0 ? State::done : State::body_length;
    } else {
      m_state = State::body_until_close;
      m_close = true;
    }
    if (m_state == State::done && m_r.first_content_s < 0) {
      m_r.first_content_s = at;
    }
  }

  void parse_chunks(double at) {
    for (;;) {
      switch (m_chunk) {
      case Chunk::size: {
        auto eol = m_buf.find("\r\n", m_pos);
        if (eol == std::string::npos) {
          return;
        }
        std::string size_text = m_buf.substr(m_pos, eol - m_pos);
        char* endp = nullptr;
        m_chunk_left = std::strtoull(size_text.c_str(), &endp, 16);
        if (endp == size_text.c_str()) {
          m_state = State::bad;
          return;
        }
        m_pos = eol + 2;
        m_chunk = m_chunk_left == 0 ? Chunk::trailer : Chunk::data;
        break;
      }
      case Chunk::data: {
        const std::size_t take = std::min(m_chunk_left, m_buf.size() - m_pos);
        if (take == 0) {
          return;
        }
        append_body(std::string_view(m_buf).substr(m_pos, take), at);
        m_pos += take;
        m_chunk_left -= take;
        if (m_chunk_left > 0) {
          return;
        }
        m_chunk = Chunk::data_end;
        break;
      }
      case Chunk::data_end:
        if (m_buf.size() - m_pos < 2) {
          return;
        }
        if (m_buf.compare(m_pos, 2, "\r\n") != 0) {
          m_state = State::bad;
          return;
        }
        m_pos += 2;
        m_chunk = Chunk::size;
        break;
      case Chunk::trailer: {
        auto eol = m_buf.find("\r\n", m_pos);
        if (eol == std::string::npos) {
          return;
        }
        const bool last = eol == m_pos;
        m_pos = eol + 2;
        if (last) {
          m_state = State::done;
          return;
        }
        break;
      }
      }
    }
  }

  void append_body(std::string_view data, double at) {
    if (data.empty()) {
      return;
    }
    m_r.body.append(data);
    if (m_r.first_content_s >= 0) {
      return;
    }
    if (!m_event_stream) {
      m_r.first_content_s = at;
      return;
    }
    // The first `"content":"X` with X not the closing quote: a token the user sees.
    constexpr std::string_view key = "\"content\":\"";
    for (;;) {
      auto hit = m_r.body.find(key, m_scan);
      if (hit == std::string::npos) {
        m_scan = m_r.body.size() > key.size() ? m_r.body.size() - key.size() : 0;
        return;
      }
      const std::size_t after = hit + key.size();
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

  enum class Chunk { size, data, data_end, trailer };

  Response& m_r;
  std::string m_buf;
  std::size_t m_pos = 0;
  State m_state = State::head;
  Chunk m_chunk = Chunk::size;
  std::size_t m_length = 0;
  std::size_t m_chunk_left = 0;
  std::size_t m_scan = 0;
  bool m_close = false;
  bool m_event_stream = false;
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
    if (iequals(n, name)) {
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
  ResponseReader reader(r);
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
      if (reader.state() == ResponseReader::State::done) {
        break;
      }
      retryable = reused && !any;
      return fail(Failure::closed);
    }
    any = true;
    reader.feed(std::string_view(buf, static_cast<std::size_t>(n)),
                seconds(SteadyClock::now() - t0));
    if (reader.state() == ResponseReader::State::bad) {
      return fail(Failure::malformed);
    }
    if (reader.state() == ResponseReader::State::done) {
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
