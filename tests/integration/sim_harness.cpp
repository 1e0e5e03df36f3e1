#include "tests/integration/sim_harness.h"

#include <strings.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdexcept>
#include <sys/socket.h>
#include <unistd.h>

#include "core/ndjson.h"
#include "core/platform.h"

namespace ask::testing {

std::string fixture_path(const std::string& relative) {
  // Appended piece by piece: g++ 12 at -O2 reports a false -Warray-bounds for
  // std::string(literal) + "..." + relative once this file shares a unity batch.
  std::string path = ASK_SOURCE_DIR;
  path += "/tests/fixtures/";
  path += relative;
  return path;
}

SimProcess::SimProcess(std::vector<std::string> args, bool wait_ready) {
  // --sim-parent-pid: the simulator exits on its own if this test process dies (a failed
  // REQUIRE that ends in std::terminate must not leave it running).
  std::vector<std::string> argv{LLM_SIM_PATH,
                                "--port",
                                "0",
                                "--host",
                                "127.0.0.1",
                                "--sim-parent-pid",
                                std::to_string(::getpid())};
  argv.insert(argv.end(), args.begin(), args.end());
  m_process = std::make_unique<ChildProcess>(argv);
  auto bound = m_process->wait_for_output("^llm-sim: bound ", k_start_timeout);
  if (!bound) {
    throw std::runtime_error("llm-sim did not bind; output:\n" + m_process->output());
  }
  m_port = port_from_listening_line(*bound).value_or(0);
  if (wait_ready && !m_process->wait_for_output("[Ll]istening on", k_start_timeout)) {
    throw std::runtime_error("llm-sim did not get ready; output:\n" + m_process->output());
  }
}

httplib::Client SimProcess::client(std::chrono::milliseconds read_timeout) const {
  httplib::Client c("127.0.0.1", m_port);
  c.set_read_timeout(read_timeout);
  c.set_connection_timeout(2s);
  return c;
}

Json SimProcess::get_json(const std::string& path) const {
  auto c = client();
  auto res = c.Get(path);
  if (!res) {
    throw std::runtime_error("GET " + path + " failed: " + httplib::to_string(res.error()));
  }
  return Json::parse(res->body);
}

std::vector<std::string> llama_args(std::vector<std::string> extra) {
  std::vector<std::string> args{"-m",
                                fixture_path("gguf/tiny-llama-2L-f16.gguf"),
                                "-c",
                                "1024",
                                "-np",
                                "2",
                                "--sim-tokens-per-second",
                                "0"};
  args.insert(args.end(), extra.begin(), extra.end());
  return args;
}

std::string Reply::header(const std::string& name) const {
  for (const auto& [key, value] : headers) {
    if (key.size() == name.size() && ::strncasecmp(key.c_str(), name.c_str(), key.size()) == 0) {
      return value;
    }
  }
  return {};
}

Reply post(const SimProcess& sim, const std::string& path, const Json& body,
           const httplib::Headers& headers, std::chrono::milliseconds read_timeout,
           std::optional<std::size_t> stop_after) {
  return post(sim.port(), path, body.dump(), headers, read_timeout, stop_after);
}

Reply post(int port, const std::string& path, const std::string& body,
           const httplib::Headers& headers, std::chrono::milliseconds read_timeout,
           std::optional<std::size_t> stop_after) {
  httplib::Client c("127.0.0.1", port);
  c.set_read_timeout(read_timeout);
  c.set_connection_timeout(2s);
  Reply reply;
  httplib::Request req;
  req.method = "POST";
  req.path = path;
  req.headers = headers;
  req.set_header("Content-Type", "application/json");
  req.body = body;
  req.response_handler = [&](const httplib::Response& r) {
    reply.status = r.status;
    for (const auto& h : r.headers) {
      reply.headers.insert(h);
    }
    return true;
  };
  req.content_receiver = [&](const char* data, std::size_t n, std::uint64_t, std::uint64_t) {
    reply.body.append(data, n);
    reply.parts.emplace_back(data, n);
    return !(stop_after && reply.body.size() >= *stop_after);
  };
  httplib::Response res;
  // On failure reply.status keeps whatever the response handler saw (0 when nothing came).
  if (c.send(req, res, reply.error)) {
    reply.status = res.status;
  }
  return reply;
}

std::string raw_exchange(int port, const std::string& request) {
  int fd = core::platform::socket_cloexec(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  timeval tv{10, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      core::platform::send_nosignal(fd, request.data(), request.size()) !=
          static_cast<ssize_t>(request.size())) {
    ::close(fd);
    throw std::runtime_error("raw_exchange: cannot send the request");
  }
  std::string out;
  char buffer[4096];
  for (;;) {
    std::size_t head = out.find("\r\n\r\n");
    if (head != std::string::npos) {
      if (out.find("Transfer-Encoding: chunked") < head) {
        if (out.ends_with("\r\n0\r\n\r\n")) {
          break;
        }
      } else {
        std::size_t cl = out.find("Content-Length: ");
        if (cl < head && out.size() >= head + 4 + std::stoul(out.substr(cl + 16))) {
          break;
        }
      }
    }
    ssize_t n = ::recv(fd, buffer, sizeof buffer, 0);
    if (n <= 0) {
      break;
    }
    out.append(buffer, static_cast<std::size_t>(n));
  }
  ::close(fd);
  return out;
}

std::vector<core::SseEvent> sse_events(const std::string& body) {
  core::SseParser parser;
  return parser.feed(body);
}

std::vector<Json> ndjson_lines(const std::string& body) {
  core::NdjsonSplitter splitter;
  std::vector<std::string> lines = splitter.feed(body);
  splitter.finish(lines);
  std::vector<Json> out;
  for (const std::string& l : lines) {
    out.push_back(Json::parse(l));
  }
  return out;
}

std::string streamed_content(const std::vector<core::SseEvent>& events) {
  std::string text;
  for (const core::SseEvent& e : events) {
    if (e.is_done()) {
      continue;
    }
    Json j = Json::parse(e.data);
    for (const auto& choice : j["choices"]) {
      if (choice["delta"].contains("content") && choice["delta"]["content"].is_string()) {
        text += choice["delta"]["content"].get<std::string>();
      }
    }
  }
  return text;
}

Json stats_when(const SimProcess& sim, const std::string& counter, long long at_least) {
  return sim.get_json("/sim/stats?until=" + counter + "&at_least=" + std::to_string(at_least) +
                      "&timeout_ms=5000");
}

} // namespace ask::testing
