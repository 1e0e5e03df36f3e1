#include "tests/integration/askd_harness.h"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fstream>
#include <random>
#include <sstream>
#include <stdexcept>
#include <thread>

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

AskdProcess::AskdProcess(const std::string& config, std::vector<std::string> extra) {
  const auto config_path = m_dir.write("config.jsonc", config);
  m_log = m_dir.path() / "askd.jsonl";
  std::vector<std::string> argv{ASKD_PATH,     "--config",   config_path.string(),
                                "--listen",    "127.0.0.1:0", "--request-log",
                                m_log.string(), "--log-level", "warn"};
  argv.insert(argv.end(), extra.begin(), extra.end());
  m_process = std::make_unique<ChildProcess>(argv);
  auto line = m_process->wait_for_output("^askd: listening on ", k_start_timeout);
  auto port = line ? port_from_listening_line(*line) : std::nullopt;
  if (!port) {
    throw std::runtime_error("askd did not start:\n" + m_process->output());
  }
  m_port = *port;
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
  auto res = c.Get(path.c_str(), headers);
  if (!res) {
    return {0, httplib::to_string(res.error())};
  }
  return {res->status, res->body};
}

std::string chain_config(const std::vector<int>& ports, const Json& model_extra) {
  Json backends = Json::object();
  Json models = Json::object();
  for (std::size_t i = 0; i < ports.size(); ++i) {
    const std::string b = "b" + std::to_string(i);
    const std::string m = "m" + std::to_string(i);
    backends[b] = {{"kind", "openai"},
                   {"url", "http://127.0.0.1:" + std::to_string(ports[i])}};
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
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

} // namespace ask::testing
