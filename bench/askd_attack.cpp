// askd_attack: askd under the abuse a stressed or hostile client brings, bounded and on
// loopback only (docs/benchmarks.md, "askd under attack"). One askd with an API key and short
// deadlines; no backend is needed (every request here is refused or answered by askd itself).
//   (1) a head trickled one byte every 250 ms: when is it answered, and with what;
//   (2) `--idle` idle connections from one address (127.0.0.2): how many are refused, and
//       what another client (127.0.0.1) sees meanwhile;
//   (3) a 30 MiB upload without the key: how many body bytes askd lets in before it answers,
//       with and without Expect: 100-continue;
//   (4) 16 unfinished 32 MiB uploads with the key, from one address: how many are refused
//       before their body;
// and askd's resident memory (VmRSS, and VmHWM: its peak since start) after each.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "bench/process.h"
#include "bench/report.h"

namespace {

using namespace ask::bench;
using Clock = std::chrono::steady_clock;

const std::string k_key = "k-attack-0123456789abcdef";

// A loopback connection from `source` to askd; -1 when connect fails.
int connect_from(const char* source, int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in from{};
  from.sin_family = AF_INET;
  ::inet_pton(AF_INET, source, &from.sin_addr);
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(static_cast<std::uint16_t>(port));
  ::inet_pton(AF_INET, "127.0.0.1", &to.sin_addr);
  if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&from), sizeof from) != 0 ||
      ::connect(fd, reinterpret_cast<sockaddr*>(&to), sizeof to) != 0) {
    if (fd >= 0) {
      ::close(fd);
    }
    return -1;
  }
  return fd;
}

// What arrived within `wait` (until the peer closes or the head is complete).
std::string read_answer(int fd, std::chrono::milliseconds wait) {
  std::string text;
  const auto end = Clock::now() + wait;
  while (Clock::now() < end && text.find("\r\n\r\n") == std::string::npos) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 20) <= 0) {
      continue;
    }
    char buffer[4096];
    ssize_t n = ::recv(fd, buffer, sizeof buffer, 0);
    if (n <= 0) {
      break;
    }
    text.append(buffer, static_cast<std::size_t>(n));
  }
  return text;
}

std::string status_line(const std::string& answer) {
  const auto eol = answer.find("\r\n");
  return answer.empty() ? "(nothing)" : answer.substr(0, eol);
}

// "VmRSS 12.3 MiB, VmHWM 14.0 MiB" of `pid`.
std::string memory(pid_t pid) {
  std::ifstream in(fmt::format("/proc/{}/status", pid));
  std::string line;
  double rss = 0;
  double hwm = 0;
  while (std::getline(in, line)) {
    if (line.starts_with("VmRSS:")) {
      rss = std::stod(line.substr(6)) / 1024.0;
    } else if (line.starts_with("VmHWM:")) {
      hwm = std::stod(line.substr(6)) / 1024.0;
    }
  }
  return fmt::format("VmRSS {:.1f} MiB, VmHWM {:.1f} MiB", rss, hwm);
}

double ms_since(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

void trickled_head(int port, pid_t askd) {
  const int fd = connect_from("127.0.0.1", port);
  const std::string head = "GET /v1/models HTTP/1.1\r\nHost: a\r\nX-Slow: " + std::string(400, 'a');
  const auto start = Clock::now();
  std::string answer;
  std::size_t sent = 0;
  for (char c : head) {
    if (::send(fd, &c, 1, MSG_NOSIGNAL) != 1) {
      break;
    }
    ++sent;
    answer = read_answer(fd, std::chrono::milliseconds(250));
    if (!answer.empty()) {
      break;
    }
  }
  fmt::print("(1) trickled head, 1 byte / 250 ms: {} after {:.2f} s and {} of {} bytes; {}\n",
             status_line(answer), ms_since(start) / 1000.0, sent, head.size(), memory(askd));
  ::close(fd);
}

void idle_flood(int port, pid_t askd, int count) {
  std::vector<int> fds;
  int refused = 0;
  int failed = 0;
  const auto start = Clock::now();
  for (int i = 0; i < count; ++i) {
    const int fd = connect_from("127.0.0.2", port);
    if (fd < 0) {
      ++failed;
      continue;
    }
    fds.push_back(fd);
  }
  const double open_ms = ms_since(start);
  // Another client's request while the flood is still being accepted.
  const std::string request =
      "GET /v1/models HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer " + k_key + "\r\n\r\n";
  const auto during_start = Clock::now();
  const int during = connect_from("127.0.0.1", port);
  ::send(during, request.data(), request.size(), MSG_NOSIGNAL);
  const std::string during_answer = read_answer(during, std::chrono::seconds(10));
  const double during_ms = ms_since(during_start);
  ::close(during);
  // The ones over the address's limit are answered 503 as askd accepts them: collect the
  // answers until none has come for 500 ms.
  std::vector<pollfd> polled;
  for (int fd : fds) {
    polled.push_back({fd, POLLIN, 0});
  }
  for (;;) {
    if (::poll(polled.data(), polled.size(), 500) <= 0) {
      break;
    }
    for (pollfd& p : polled) {
      if (p.revents != 0 && p.events != 0) {
        p.events = 0;
        refused += status_line(read_answer(p.fd, std::chrono::milliseconds(100)))
                               .find(" 503 ") != std::string::npos
                       ? 1
                       : 0;
      }
    }
  }
  const auto other_start = Clock::now();
  const int other = connect_from("127.0.0.1", port);
  ::send(other, request.data(), request.size(), MSG_NOSIGNAL);
  const std::string answer = read_answer(other, std::chrono::seconds(10));
  fmt::print("(2) {} idle connections from 127.0.0.2 opened in {:.0f} ms ({} failed to "
             "connect): {} answered 503; 127.0.0.1 got {} in {:.1f} ms while they were being "
             "accepted, {} in {:.1f} ms with the rest held open; {}\n",
             count, open_ms, failed, refused, status_line(during_answer), during_ms,
             status_line(answer), ms_since(other_start), memory(askd));
  ::close(other);
  for (int fd : fds) {
    ::close(fd);
  }
}

void upload_without_key(int port, pid_t askd, std::size_t bytes, bool expect) {
  const int fd = connect_from("127.0.0.1", port);
  const std::string head = fmt::format("POST /v1/chat/completions HTTP/1.1\r\nHost: a\r\n"
                                       "Content-Type: application/json\r\n{}Content-Length: {}"
                                       "\r\n\r\n",
                                       expect ? "Expect: 100-continue\r\n" : "", bytes);
  ::send(fd, head.data(), head.size(), MSG_NOSIGNAL);
  const std::string piece(64 * 1024, 'x');
  std::size_t sent = 0;
  std::string answer;
  const auto start = Clock::now();
  while (sent < bytes && ms_since(start) < 10'000) {
    pollfd p{fd, static_cast<short>(POLLIN | (expect ? 0 : POLLOUT)), 0};
    if (::poll(&p, 1, 100) <= 0) {
      continue;
    }
    if (p.revents & POLLIN) {
      answer = read_answer(fd, std::chrono::milliseconds(500));
      break;
    }
    ssize_t n = ::send(fd, piece.data(), std::min(piece.size(), bytes - sent),
                       MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n <= 0) {
      break;
    }
    sent += static_cast<std::size_t>(n);
  }
  if (answer.empty()) {
    answer = read_answer(fd, std::chrono::seconds(2));
  }
  fmt::print("(3) {} MiB upload without the key{}: {}; body bytes the client got to send "
             "first: {} ({:.2f} % of the body, most of it still in socket buffers); {}\n",
             bytes >> 20, expect ? ", Expect: 100-continue" : "", status_line(answer), sent,
             100.0 * static_cast<double>(sent) / static_cast<double>(bytes), memory(askd));
  ::close(fd);
}

void unfinished_uploads(int port, pid_t askd, int count, std::size_t bytes) {
  std::vector<int> fds;
  const std::string start_of_body(1 << 20, 'x');
  for (int i = 0; i < count; ++i) {
    const int fd = connect_from("127.0.0.3", port);
    const std::string head = fmt::format("POST /v1/chat/completions HTTP/1.1\r\nHost: a\r\n"
                                         "Authorization: Bearer {}\r\nContent-Length: {}\r\n\r\n",
                                         k_key, bytes);
    ::send(fd, head.data(), head.size(), MSG_NOSIGNAL);
    ::send(fd, start_of_body.data(), start_of_body.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    fds.push_back(fd);
  }
  int refused = 0;
  for (int fd : fds) {
    refused += status_line(read_answer(fd, std::chrono::milliseconds(300))).find(" 503 ") !=
                       std::string::npos
                   ? 1
                   : 0;
  }
  fmt::print("(4) {} unfinished {} MiB uploads with the key from 127.0.0.3: {} answered 503 "
             "before their body; {}\n",
             count, bytes >> 20, refused, memory(askd));
  for (int fd : fds) {
    ::close(fd);
  }
}

} // namespace

int main(int argc, char** argv) {
  std::string askd_path = ASKD_PATH;
  int idle = 1200;
  CLI::App app{"askd_attack: askd under slow, idle, oversized and unauthenticated clients "
               "(loopback only)"};
  app.add_option("--askd", askd_path, "askd binary")->capture_default_str();
  app.add_option("--idle", idle, "idle connections from one address in (2)")
      ->capture_default_str()
      ->check(CLI::Range(1, 4000));
  CLI11_PARSE(app, argc, argv);
  install_cleanup_handlers();

  TempDir dir("askd-attack");
  const auto config = dir.path() / "askd.jsonc";
  std::ofstream(config) << fmt::format(R"({{
  "api_keys": ["{}"],
  "server": {{"head_timeout": "2s", "body_timeout": "2s", "idle_timeout": "30s"}}
}})",
                                       k_key);
  Process askd({askd_path, "--config", config.string(), "--listen", "127.0.0.1:0",
                "--request-log", (dir.path() / "requests.jsonl").string()},
               dir.path() / "askd.log");
  const int port = start_port_of(askd, "askd: listening on", "askd");
  fmt::print("askd_attack: {}\n{}; load {}; {}\n", command_line(argc, argv), machine_summary(),
             load_average(), now_text());
  fmt::print("askd: head_timeout 2s, body_timeout 2s, max_connections_per_client 1024, "
             "max_body_buffer_per_client 64 MiB; at start {}\n",
             memory(askd.pid()));
  trickled_head(port, askd.pid());
  idle_flood(port, askd.pid(), idle);
  upload_without_key(port, askd.pid(), 30u << 20, false);
  upload_without_key(port, askd.pid(), 30u << 20, true);
  unfinished_uploads(port, askd.pid(), 16, 32u << 20);
  return 0;
}
