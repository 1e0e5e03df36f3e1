#include "proxy/request_log.h"

#include <spdlog/spdlog.h>

namespace ask::proxy {

RequestLog::RequestLog(std::optional<std::filesystem::path> path) {
  if (path) {
    m_writer = std::make_unique<telemetry::JsonlWriter>(std::move(*path));
  }
}

void RequestLog::write(const RequestRecord& record) {
  if (!m_writer && m_events == nullptr) {
    return;
  }
  nlohmann::json line = to_json(record);
  if (m_writer) {
    if (auto ok = m_writer->append(line); !ok) {
      if (m_failures.fetch_add(1) == 0) {
        spdlog::warn("request log: {} (further failures are counted, not logged)",
                     ok.error().message);
      }
    }
  }
  if (m_events != nullptr) {
    m_events->publish("request", std::move(line));
  }
}

nlohmann::json to_json(const RequestRecord& r) {
  nlohmann::json attempts = nlohmann::json::array();
  for (const Attempt& a : r.attempts) {
    attempts.push_back({{"model", a.model},
                        {"backend", a.backend},
                        {"reason", a.reason},
                        {"message", a.error.message},
                        {"seconds", a.seconds}});
  }
  nlohmann::json line = {
      {"ts", r.ts},
      {"id", r.id},
      {"api", r.api},
      {"requested", r.requested},
      {"model", r.model},
      {"served_by", r.served_by},
      {"fallback_path", r.path},
      {"attempts", attempts},
      {"status", r.status},
      {"stream", r.stream},
      {"latency_s", r.latency_s},
      {"ttft_s", r.ttft_s ? nlohmann::json(*r.ttft_s) : nlohmann::json(nullptr)},
      {"prompt_tokens",
       r.prompt_tokens ? nlohmann::json(*r.prompt_tokens) : nlohmann::json(nullptr)},
      {"completion_tokens",
       r.completion_tokens ? nlohmann::json(*r.completion_tokens) : nlohmann::json(nullptr)},
      {"client", r.client},
      {"queue_s", r.queue_s},
      {"load_s", r.load_s},
      {"served_s", r.served_s},
  };
  if (!r.error.empty()) {
    line["error"] = r.error;
  }
  if (!r.council_members.empty()) {
    line["council_members"] = r.council_members;
    line["member_errors"] = r.member_errors;
  }
  return line;
}

} // namespace ask::proxy
