#pragma once
// Helpers for tests that run the real askd binary against real llm-sim processes: write a
// config file into a temp dir, start askd on a free port (--listen 127.0.0.1:0), read the
// port from its "askd: listening on" line, and read its request log.

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "tests/integration/sim_harness.h"

namespace ask::testing {

// A temporary folder removed with its contents.
class TempFolder {
public:
  TempFolder();
  ~TempFolder();
  TempFolder(const TempFolder&) = delete;
  TempFolder& operator=(const TempFolder&) = delete;
  const std::filesystem::path& path() const { return m_path; }
  std::filesystem::path write(const std::string& name, const std::string& text) const;

private:
  std::filesystem::path m_path;
};

class AskdProcess {
public:
  // Starts askd with `config` (JSONC text) and `extra` arguments; waits for its listening
  // line. Throws when it does not start (the message holds askd's output).
  explicit AskdProcess(const std::string& config, std::vector<std::string> extra = {});

  int port() const { return m_port; }
  ChildProcess& process() { return *m_process; }
  const std::filesystem::path& request_log() const { return m_log; }
  // The request log's lines, parsed.
  std::vector<Json> log_lines() const;
  // Waits (up to 5 s) until the request log has at least `n` lines, and returns them.
  std::vector<Json> wait_log_lines(std::size_t n) const;

  // POST /v1/chat/completions with `body`.
  Reply chat(const Json& body, const httplib::Headers& headers = {},
             std::chrono::milliseconds read_timeout = 10s,
             std::optional<std::size_t> stop_after = std::nullopt) const;
  // GET `path`: status and body.
  std::pair<int, std::string> get(const std::string& path,
                                  const httplib::Headers& headers = {}) const;

private:
  TempFolder m_dir;
  std::filesystem::path m_log;
  std::unique_ptr<ChildProcess> m_process;
  int m_port = 0;
};

// A config with one `openai` backend per simulator port, named b0, b1, ... and a model per
// backend named m0, m1, ... chained m0 -> m1 -> ... (each upstream "sim-model"); `extra`
// JSON is merged into each model (e.g. timeouts).
std::string chain_config(const std::vector<int>& ports, const Json& model_extra = Json::object());

// A user message asking for `text`.
Json chat_body(const std::string& model, const std::string& text, bool stream = false);

// The concatenated delta.reasoning_content of a stream.
std::string streamed_reasoning(const std::vector<core::SseEvent>& events);

// A port with nothing listening on it (bound, then closed).
int closed_port();

} // namespace ask::testing
