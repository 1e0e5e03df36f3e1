#pragma once
// Helpers for tests that run the real askd binary against real llm-sim processes: write a
// config file into a temp dir, start askd on a free port (--listen 127.0.0.1:0), read the
// port from its "askd: listening on" line, and read its request log.

#include <filesystem>
#include <map>
#include <memory>
#include <optional>
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

// GET /metrics, parsed: each sample line's series (`name{labels}` exactly as askd renders
// it) and value.
struct MetricSamples {
  std::map<std::string, double> samples;
  // The value of `series`; nullopt when askd does not export it.
  std::optional<double> get(const std::string& series) const;
  // The sum over every series of family `name` (0 when there is none).
  double sum(const std::string& name) const;
};

// Parses the Prometheus text format; throws std::runtime_error on a malformed sample line.
MetricSamples parse_metrics(const std::string& text);

class AskdProcess {
public:
  // Starts askd with `config` (JSONC text) and `extra` arguments; waits for its listening
  // line. It listens on 127.0.0.1:0 unless `extra` holds a --listen of its own. `env` adds
  // "NAME=value" entries to its environment; XDG_STATE_HOME is a folder of its own
  // (state_dir()) unless `env` sets it, so that no test reads or writes the user's
  // calibration.json. Throws when it does not start (the message holds askd's output).
  explicit AskdProcess(const std::string& config, std::vector<std::string> extra = {},
                       std::vector<std::string> env = {});

  int port() const { return m_port; }
  // Its $XDG_STATE_HOME when the test did not choose one.
  std::filesystem::path state_dir() const { return m_dir.path() / "state"; }
  ChildProcess& process() { return *m_process; }
  const std::filesystem::path& request_log() const { return m_log; }
  // Replaces the config file askd was started with (askd reads it again on SIGHUP).
  void rewrite_config(const std::string& config) const;
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
  // Any method on any path, with the reply's headers.
  Reply request(const std::string& method, const std::string& path, const std::string& body = "",
                const httplib::Headers& headers = {}) const;
  // GET /metrics, parsed (throws when it does not answer 200).
  MetricSamples metrics(const httplib::Headers& headers = {}) const;
  // Polls /metrics (up to 5 s) until `series` has `value`, and returns the last samples.
  MetricSamples wait_metric(const std::string& series, double value) const;

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

// How a run of askd that was expected to exit ended.
struct AskdExit {
  std::optional<ExitStatus> status; // nullopt: still running after 10 s (then killed)
  std::string output;               // stdout and stderr
};

// Runs askd with `config` written to a temp file (passed as --config) and `args`, and waits
// for it to exit.
AskdExit run_askd_until_exit(const std::string& config, const std::vector<std::string>& args);

// The raw HTTP/1.1 text of a POST of `body` (JSON) to `path`, with `extra_headers` lines
// ("Name: value") added.
std::string raw_post(const std::string& path, const std::string& body,
                     const std::vector<std::string>& extra_headers = {});

// A request written over a plain socket whose client the test controls: hang_up() closes
// the connection (a FIN, as a client that gives up) when the test chooses; response() reads
// the answer instead.
class RawRequest {
public:
  // Connects to 127.0.0.1:`port` and sends `request` (raw HTTP). Throws when it cannot.
  RawRequest(int port, const std::string& request);
  ~RawRequest();
  RawRequest(const RawRequest&) = delete;
  RawRequest& operator=(const RawRequest&) = delete;

  void hang_up();
  // The raw response, up to the end of its body (Content-Length or the chunked terminator)
  // or until askd closes the connection; at most `timeout` of waiting for each read.
  std::string response(std::chrono::milliseconds timeout = 10s);

private:
  int m_fd = -1;
};

// The status code of a raw HTTP response ("HTTP/1.1 400 ..."); 0 when there is none.
int raw_status(const std::string& response);
// The body of a raw response with a Content-Length (everything after the head).
std::string raw_body(const std::string& response);

} // namespace ask::testing
