#pragma once
// Helpers for tests that run the real llm-sim binary: start it on a free port, read the
// port from its log, and talk HTTP to it (httplib as the client; streams read chunk by
// chunk with the raw body kept for byte-level checks).

#include <chrono>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <httplib.h>
#include <nlohmann/json.hpp>

#include "core/sse.h"
#include "tests/support/child_process.h"

namespace ask::testing {

using namespace std::chrono_literals;
using Json = nlohmann::json;

inline constexpr std::chrono::milliseconds k_start_timeout{15000};

std::string fixture_path(const std::string& relative);

// A running llm-sim. Construction waits for the ready line ("listening on" in llama-server
// mode, "Listening on" in Ollama mode) or, with wait_ready false, only for the
// "llm-sim: bound" line printed as soon as the port is bound.
class SimProcess {
public:
  explicit SimProcess(std::vector<std::string> args, bool wait_ready = true);

  int port() const { return m_port; }
  ChildProcess& process() { return *m_process; }
  httplib::Client client(std::chrono::milliseconds read_timeout = 10s) const;
  // GET `path` and parse the body as JSON (throws when it is not JSON).
  Json get_json(const std::string& path) const;

private:
  std::unique_ptr<ChildProcess> m_process;
  int m_port = 0;
};

// llama-server flags for the tiny fixture model: -m tiny-llama-2L-f16.gguf -c 1024 -np 2,
// no pacing; `extra` is appended.
std::vector<std::string> llama_args(std::vector<std::string> extra = {});

struct Reply {
  int status = 0; // 0 when no response came
  // The first header called `name` (case-insensitive); "" when absent.
  std::string header(const std::string& name) const;
  httplib::Error error = httplib::Error::Success;
  std::multimap<std::string, std::string> headers;
  std::string body;               // as received (de-chunked)
  std::vector<std::string> parts; // the body as the client read it, piece by piece
};

// POSTs JSON and reads the answer as it streams. `stop_after` (bytes) makes the client
// hang up after that much body, like a user pressing Ctrl-C.
Reply post(const SimProcess& sim, const std::string& path, const Json& body,
           const httplib::Headers& headers = {}, std::chrono::milliseconds read_timeout = 10s,
           std::optional<std::size_t> stop_after = std::nullopt);

// The same to any server on 127.0.0.1:`port`, with the body as raw text.
Reply post(int port, const std::string& path, const std::string& body,
           const httplib::Headers& headers = {}, std::chrono::milliseconds read_timeout = 10s,
           std::optional<std::size_t> stop_after = std::nullopt);

// Sends `request` (raw HTTP) over a plain socket and returns the raw response bytes, up to
// the end of its body (Content-Length or the chunked terminator); the connection is then
// closed by us, so keep-alive responses are read exactly as a client receives them.
std::string raw_exchange(int port, const std::string& request);

std::vector<core::SseEvent> sse_events(const std::string& body);
std::vector<Json> ndjson_lines(const std::string& body);
// The concatenated delta.content of a chat.completion.chunk stream.
std::string streamed_content(const std::vector<core::SseEvent>& events);

// GET /sim/stats, waiting (server side, up to 5 s) until `counter` reaches `at_least`:
// the simulator notices a client going away asynchronously.
Json stats_when(const SimProcess& sim, const std::string& counter, long long at_least);

} // namespace ask::testing
