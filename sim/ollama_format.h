#pragma once
// Ollama's wire formats as llm-sim writes them, after Ollama's API docs and the captures in
// tests/fixtures/ollama: /api/chat and /api/generate lines (NDJSON when streaming), the
// final line's counters, /api/tags, /api/ps, /api/show, the OpenAI-compatible /v1 shapes,
// and Go's net/http response headers.

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/clock.h"
#include "sim/generator.h"
#include "sim/http.h"
#include "sim/ollama_models.h"

namespace ask::sim::ollama {

using OJson = nlohmann::ordered_json;

// Which endpoint a line belongs to: /api/chat puts text in message.content, /api/generate
// in response.
enum class Endpoint { chat, generate };

// Counters of the final line, in nanoseconds.
struct Durations {
  long long total = 0;
  long long load = 0;
  long long prompt_eval = 0;
  long long eval = 0;
};

// {"model","created_at","message":{"role":"assistant","content":...},"done":false}, or with
// "response" for /api/generate; reasoning goes to "thinking".
OJson token_line(Endpoint ep, const std::string& model, const std::string& created_at,
                 const Token& token);
// A line carrying the tool call: arguments as a JSON object (not a string).
OJson tool_call_line(const std::string& model, const std::string& created_at,
                     const ToolCallPlan& call, const std::string& call_id);
// The last line of a stream: empty text, done true, done_reason, counters.
OJson final_line(Endpoint ep, const std::string& model, const std::string& created_at,
                 const std::string& done_reason, long long prompt_tokens, long long eval_tokens,
                 const Durations& d);
// A whole non-streaming answer.
OJson whole_answer(Endpoint ep, const std::string& model, const std::string& created_at,
                   const Answer& answer, const std::string& call_id, const Durations& d);
// The reply to a load or unload request (empty prompt): done_reason "load" / "unload".
OJson load_reply(Endpoint ep, const std::string& model, const std::string& created_at,
                 const std::string& done_reason);

OJson tags_json(const std::vector<OllamaModelSpec>& models, const std::string& modified_at);
OJson ps_json(const std::vector<RunningModel>& running, core::Clock::WallTime now);
OJson show_json(const OllamaModelSpec& spec, const std::string& modified_at);
OJson details_json(const OllamaModelSpec& spec);

// {"error":"..."}.
OJson error_body(const std::string& message);
// Ollama's words for an unknown model: model "x" not found, try pulling it first.
std::string model_not_found(const std::string& name);

// Go's headers: Content-Type, Date, Content-Length.
Headers json_headers(std::size_t content_length, const std::string& date,
                     const std::string& content_type = "application/json; charset=utf-8");
// Content-Type (application/x-ndjson or text/event-stream), Date, Transfer-Encoding.
Headers stream_headers(const std::string& content_type, const std::string& date);

// done_reason for a finish reason: "stop", "length" (tool calls end with "stop").
std::string done_reason(const Answer& answer);

} // namespace ask::sim::ollama
