#include "tests/integration/askd_harness.h"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <fstream>
#include <random>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "core/platform.h"
#include "core/strings.h"

namespace ask::testing {

TempFolder::TempFolder() {
  std::random_device rd;
  m_path = std::filesystem::temp_directory_path() /
           ("askd-test-" + std::to_string(::getpid()) + "-" + std::to_string(rd()));
  std::filesystem::create_directories(m_path);
}

TempFolder::~TempFolder() {
  std::error_code ec;
  std::filesystem::remove_all(m_path, ec);
}

std::filesystem::path TempFolder::write(const std::string& name, const std::string& text) const {
  auto p = m_path / name;
  std::ofstream(p, std::ios::binary) << text;
  return p;
}

AskdProcess::AskdProcess(const std::string& config, std::vector<std::string> extra,
                         std::vector<std::string> env) {
  const auto config_path = m_dir.write("config.jsonc", config);
  m_log = m_dir.path() / "askd.jsonl";
  std::vector<std::string> argv{ASKD_PATH, "--config", config_path.string(), "--request-log",
                                m_log.string()};
  if (std::find(extra.begin(), extra.end(), "--log-level") == extra.end()) {
    argv.insert(argv.end(), {"--log-level", "warn"});
  }
  if (std::find(extra.begin(), extra.end(), "--listen") == extra.end()) {
    argv.insert(argv.end(), {"--listen", "127.0.0.1:0"});
  }
  argv.insert(argv.end(), extra.begin(), extra.end());
  if (std::none_of(env.begin(), env.end(),
                   [](const std::string& e) { return e.starts_with("XDG_STATE_HOME="); })) {
    env.push_back("XDG_STATE_HOME=" + state_dir().string());
  }
  m_process = std::make_unique<ChildProcess>(argv, ChildOptions{std::move(env), std::nullopt});
  auto line = m_process->wait_for_output("^askd: listening on ", k_start_timeout);
  auto port = line ? port_from_listening_line(*line) : std::nullopt;
  if (!port) {
    throw std::runtime_error("askd did not start:\n" + m_process->output());
  }
  m_port = *port;
}

void AskdProcess::rewrite_config(const std::string& config) const {
  m_dir.write("config.jsonc", config);
}

std::vector<Json> AskdProcess::log_lines() const {
  std::vector<Json> out;
  std::ifstream in(m_log);
  std::string line;
  while (std::getline(in, line)) {
    out.push_back(Json::parse(line)); // throws on a torn or invalid line: the test fails
  }
  return out;
}

std::vector<Json> AskdProcess::wait_log_lines(std::size_t n) const {
  // The line is written after the response, so a client can see the answer a moment before
  // the line exists: poll the file (briefly) rather than assume.
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  for (;;) {
    auto lines = log_lines();
    if (lines.size() >= n || std::chrono::steady_clock::now() > deadline) {
      return lines;
    }
    std::this_thread::sleep_for(5ms);
  }
}

Reply AskdProcess::chat(const Json& body, const httplib::Headers& headers,
                        std::chrono::milliseconds read_timeout,
                        std::optional<std::size_t> stop_after) const {
  return post(m_port, "/v1/chat/completions", body.dump(), headers, read_timeout, stop_after);
}

std::pair<int, std::string> AskdProcess::get(const std::string& path,
                                             const httplib::Headers& headers) const {
  httplib::Client c("127.0.0.1", m_port);
  c.set_read_timeout(10s);
  auto res = c.Get(path, headers);
  if (!res) {
    return {0, httplib::to_string(res.error())};
  }
  return {res->status, res->body};
}

Reply AskdProcess::request(const std::string& method, const std::string& path,
                           const std::string& body, const httplib::Headers& headers) const {
  httplib::Client c("127.0.0.1", m_port);
  c.set_read_timeout(10s);
  c.set_connection_timeout(2s);
  httplib::Request req;
  req.method = method;
  req.path = path;
  req.headers = headers;
  if (!body.empty()) {
    req.set_header("Content-Type", "application/json");
    req.body = body;
  }
  Reply reply;
  httplib::Response res;
  if (c.send(req, res, reply.error)) {
    reply.status = res.status;
    reply.body = res.body;
    for (const auto& h : res.headers) {
      reply.headers.insert(h);
    }
  }
  return reply;
}

MetricSamples AskdProcess::metrics(const httplib::Headers& headers) const {
  auto [status, text] = get("/metrics", headers);
  if (status != 200) {
    throw std::runtime_error("GET /metrics answered " + std::to_string(status) + ": " + text);
  }
  return parse_metrics(text);
}

MetricSamples AskdProcess::wait_metric(const std::string& series, double value) const {
  // Gauges settle a moment after the client saw its answer (the handler finishes after the
  // last byte): poll with a deadline, as wait_log_lines does.
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  for (;;) {
    MetricSamples m = metrics();
    if (m.get(series) == value || std::chrono::steady_clock::now() > deadline) {
      return m;
    }
    std::this_thread::sleep_for(5ms);
  }
}

std::optional<double> MetricSamples::get(const std::string& series) const {
  auto it = samples.find(series);
  if (it == samples.end()) {
    return std::nullopt;
  }
  return it->second;
}

double MetricSamples::sum(const std::string& name) const {
  double total = 0;
  for (const auto& [series, value] : samples) {
    if (series == name || series.starts_with(name + "{")) {
      total += value;
    }
  }
  return total;
}

MetricSamples parse_metrics(const std::string& text) {
  MetricSamples out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line.front() == '#') {
      continue;
    }
    // Label values may hold spaces; the value follows the last one.
    const std::size_t space = line.rfind(' ');
    if (space == std::string::npos || space == 0) {
      throw std::runtime_error("malformed metrics line: " + line);
    }
    const std::string value = line.substr(space + 1);
    char* end = nullptr;
    const double v = std::strtod(value.c_str(), &end);
    if (end == value.c_str() || *end != '\0') {
      throw std::runtime_error("malformed metrics value: " + line);
    }
    out.samples[line.substr(0, space)] = v;
  }
  return out;
}

std::string chain_config(const std::vector<int>& ports, const Json& model_extra) {
  Json backends = Json::object();
  Json models = Json::object();
  for (std::size_t i = 0; i < ports.size(); ++i) {
    const std::string b = "b" + std::to_string(i);
    const std::string m = "m" + std::to_string(i);
    backends[b] = {{"kind", "openai"}, {"url", "http://127.0.0.1:" + std::to_string(ports[i])}};
    Json model = {{"backend", b}, {"upstream", "sim-model"}, {"family", "fam" + std::to_string(i)}};
    if (i + 1 < ports.size()) {
      model["fallbacks"] = Json::array({"m" + std::to_string(i + 1)});
    }
    model.update(model_extra);
    models[m] = model;
  }
  return Json{{"backends", backends}, {"models", models}}.dump(2);
}

Json chat_body(const std::string& model, const std::string& text, bool stream) {
  return {{"model", model},
          {"stream", stream},
          {"messages", Json::array({{{"role", "user"}, {"content", text}}})}};
}

std::string streamed_reasoning(const std::vector<core::SseEvent>& events) {
  std::string out;
  for (const auto& e : events) {
    if (e.is_done()) {
      continue;
    }
    auto j = Json::parse(e.data, nullptr, false);
    if (j.is_object() && j.contains("choices") && !j["choices"].empty()) {
      const auto& delta = j["choices"][0]["delta"];
      if (delta.contains("reasoning_content") && delta["reasoning_content"].is_string()) {
        out += delta["reasoning_content"].get<std::string>();
      }
    }
  }
  return out;
}

int closed_port() {
  int fd = core::platform::socket_cloexec(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  const bool bound = ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
                     ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0;
  ::close(fd);
  if (!bound) {
    throw std::runtime_error("closed_port: no port to bind on loopback");
  }
  return ntohs(addr.sin_port);
}

AskdExit run_askd_until_exit(const std::string& config, const std::vector<std::string>& args) {
  TempFolder dir;
  const auto config_path = dir.write("config.jsonc", config);
  std::vector<std::string> argv{ASKD_PATH, "--config", config_path.string(), "--request-log",
                                "off"};
  argv.insert(argv.end(), args.begin(), args.end());
  ChildProcess process(argv, {{"XDG_STATE_HOME=" + (dir.path() / "state").string()}, {}});
  AskdExit out;
  out.status = process.wait_exit(10s);
  if (!out.status) {
    process.terminate();
  }
  // The output may still be in the pipes when the exit is seen: read it to its end (a
  // pattern that never matches waits until the process's output is closed).
  process.wait_for_output("(?!)", 5s);
  out.output = process.output();
  return out;
}

std::string raw_post(const std::string& path, const std::string& body,
                     const std::vector<std::string>& extra_headers) {
  std::string text =
      "POST " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\n" +
      "Content-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) + "\r\n";
  for (const std::string& h : extra_headers) {
    text += h + "\r\n";
  }
  return text + "\r\n" + body;
}

RawRequest::RawRequest(int port, const std::string& request) {
  m_fd = core::platform::socket_cloexec(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (m_fd < 0 || ::connect(m_fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      core::platform::send_nosignal(m_fd, request.data(), request.size()) !=
          static_cast<ssize_t>(request.size())) {
    hang_up();
    throw std::runtime_error("RawRequest: cannot send the request");
  }
}

RawRequest::~RawRequest() {
  hang_up();
}

void RawRequest::hang_up() {
  if (m_fd >= 0) {
    ::close(m_fd);
    m_fd = -1;
  }
}

std::string RawRequest::response(std::chrono::milliseconds timeout) {
  std::string out;
  if (m_fd < 0) {
    return out;
  }
  timeval tv{static_cast<time_t>(timeout.count() / 1000),
             static_cast<suseconds_t>((timeout.count() % 1000) * 1000)};
  ::setsockopt(m_fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  char buffer[4096];
  for (;;) {
    const std::size_t head = out.find("\r\n\r\n");
    if (head != std::string::npos) {
      const std::string lower_head = core::to_lower(std::string_view(out).substr(0, head));
      if (lower_head.find("transfer-encoding: chunked") != std::string::npos) {
        if (out.ends_with("\r\n0\r\n\r\n")) {
          break;
        }
      } else if (std::size_t cl = lower_head.find("content-length: "); cl != std::string::npos) {
        if (out.size() >= head + 4 + std::stoul(lower_head.substr(cl + 16))) {
          break;
        }
      }
    }
    const ssize_t n = ::recv(m_fd, buffer, sizeof buffer, 0);
    if (n <= 0) {
      break;
    }
    out.append(buffer, static_cast<std::size_t>(n));
  }
  return out;
}

int raw_status(const std::string& response) {
  if (!response.starts_with("HTTP/1.1 ") || response.size() < 12) {
    return 0;
  }
  return std::atoi(response.substr(9, 3).c_str());
}

std::string raw_body(const std::string& response) {
  const std::size_t head = response.find("\r\n\r\n");
  return head == std::string::npos ? std::string() : response.substr(head + 4);
}

} // namespace ask::testing
