#pragma once
// askd's request log: one JSON line per chat request, whatever became of it (served, fallen
// back, rejected, abandoned by its client), in $XDG_STATE_HOME/ask/askd.jsonl by default.
// docs/operations.md lists the fields. Prompts and keys are never written.

#include <atomic>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "proxy/event_log.h"
#include "proxy/fallback.h"
#include "telemetry/jsonl_writer.h"

namespace ask::proxy {

struct RequestRecord {
  double ts = 0;            // Unix seconds when the request arrived
  std::string id;           // askd's request id (also the X-Request-Id header)
  std::string api = "chat"; // the door it came in by: chat, messages, responses
  std::string requested;    // the model name as the client wrote it
  std::string model;        // the logical model (or council) it resolved to; "" when it did not
  std::string served_by;    // the model that answered; "" when none did
  std::vector<std::string> path; // models tried, in order, the served one last
  std::vector<Attempt> attempts; // the failed ones
  int status = 0;                // the HTTP status sent (499: the client left before an answer)
  bool stream = false;
  double latency_s = 0;
  std::optional<double> ttft_s; // to the first content byte sent (streams)
  double queue_s = 0;           // waiting for concurrency permits, all attempts together
  double load_s = 0;            // waiting for a managed llama-server to be ready, all attempts
  double served_s = 0; // the serving attempt, from its start to its first content (streams)
                       // or its whole answer
  std::optional<long long> prompt_tokens;
  std::optional<long long> completion_tokens;
  std::string client; // the client's address
  std::string error;  // what went wrong, when something did (also after a 200 stream)
  // Councils: who served each member ("fast-9b,-": "-" failed), and why members failed.
  std::string council_members;
  std::vector<std::string> member_errors;
};

class RequestLog {
public:
  // No path: records are not written to a file (logging off); they are still published.
  explicit RequestLog(std::optional<std::filesystem::path> path);

  // Appends the record; a failure is reported once on stderr and counted, never thrown.
  // Also publishes it as a `request` event (GET /api/events; GET /api/requests reads the
  // newest of them back from the event history).
  void write(const RequestRecord& record);
  std::uint64_t failures() const { return m_failures.load(); }

  // From now on each record is also published to `events`; it must outlive the log. Set
  // before the server starts.
  void publish_to(EventLog* events) { m_events = events; }

private:
  std::unique_ptr<telemetry::JsonlWriter> m_writer;
  std::atomic<std::uint64_t> m_failures{0};
  EventLog* m_events = nullptr;
};

// The record as its JSON line (for tests and the writer).
nlohmann::json to_json(const RequestRecord& record);

} // namespace ask::proxy
