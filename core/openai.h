#pragma once
// OpenAI chat-completions wire types: request, response, stream chunk and error body, with
// defensive parsing (every error names the field, e.g. "messages[2].content[0].image_url")
// and serialisation. Fields this code does not model are kept in `extra` and written back,
// so a passthrough loses nothing.

#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/error.h"

namespace ask::core {

using Json = nlohmann::json;

// One part of a multi-part message content: {"type":"text","text":...},
// {"type":"image_url","image_url":{"url":...,"detail":...}}, or any other type kept as-is.
struct ContentPart {
  std::string type;
  std::string text;             // type "text"
  std::string image_url;        // type "image_url": image_url.url (https: or data: URL)
  std::optional<std::string> image_detail; // image_url.detail
  Json raw;                     // the part as received (used to write unknown types back)
};

struct ToolCallFunction {
  std::string name;
  std::string arguments; // a JSON-encoded string, as OpenAI sends it
};

struct ToolCall {
  std::string id;
  std::string type = "function";
  ToolCallFunction function;
};

struct Message {
  std::string role; // system, developer, user, assistant, tool
  // Either a plain string (`content_parts` empty and `content_is_parts` false) or parts.
  std::optional<std::string> content; // nullopt for JSON null / absent
  std::vector<ContentPart> content_parts;
  bool content_is_parts = false;
  std::optional<std::string> name;
  std::optional<std::string> reasoning_content;
  std::vector<ToolCall> tool_calls;
  std::optional<std::string> tool_call_id;
  Json extra = Json::object();

  // The text of the message: the string content, or the text parts joined with "\n".
  std::string text() const;
};

struct StreamOptions {
  bool include_usage = false;
};

struct ChatRequest {
  std::string model;
  std::vector<Message> messages;
  Json tools;          // array of {"type":"function","function":{name,...}}; null when absent
  Json tool_choice;    // "none" | "auto" | "required" | {"type":"function",...}; null if absent
  Json response_format; // {"type":"text"|"json_object"|"json_schema",...}; null if absent
  bool stream = false;
  std::optional<StreamOptions> stream_options;
  std::optional<double> temperature;
  std::optional<double> top_p;
  std::optional<long long> max_tokens;
  std::optional<long long> max_completion_tokens;
  std::vector<std::string> stop; // "stop" as a string or an array; empty when absent
  bool stop_was_string = false;
  std::optional<long long> seed;
  Json extra = Json::object(); // every other top-level field, kept for passthrough

  // max_completion_tokens when set, else max_tokens.
  std::optional<long long> token_limit() const;
};

// Validates types and shapes; errors are bad_request naming the offending field path.
Result<ChatRequest> parse_chat_request(const Json& body);
// Parses the text first; a syntax error is bad_request with the parser's position.
Result<ChatRequest> parse_chat_request(std::string_view body);
Json to_json(const ChatRequest& req);
Json to_json(const Message& msg);
Result<Message> parse_message(const Json& value, const std::string& path);

struct Usage {
  long long prompt_tokens = 0;
  long long completion_tokens = 0;
  long long total_tokens = 0;
  Json extra = Json::object(); // prompt_tokens_details etc.
};

struct Choice {
  int index = 0;
  Message message;
  std::optional<std::string> finish_reason; // stop, length, tool_calls, content_filter
};

struct ChatResponse {
  std::string id;
  std::string object = "chat.completion";
  long long created = 0;
  std::string model;
  std::vector<Choice> choices;
  std::optional<Usage> usage;
  std::optional<std::string> system_fingerprint;
  Json extra = Json::object();
};

Result<ChatResponse> parse_chat_response(const Json& body);
Json to_json(const ChatResponse& resp);

// A tool-call fragment in a stream: `index` says which call it extends; id, type and name
// arrive with the first fragment, arguments in pieces.
struct ToolCallDelta {
  int index = 0;
  std::optional<std::string> id;
  std::optional<std::string> type;
  std::optional<std::string> name;
  std::optional<std::string> arguments;
};

struct Delta {
  std::optional<std::string> role;
  std::optional<std::string> content;
  bool content_is_null = false; // llama-server's first chunk carries "content":null
  std::optional<std::string> reasoning_content;
  std::vector<ToolCallDelta> tool_calls;
  Json extra = Json::object();
};

struct ChunkChoice {
  int index = 0;
  Delta delta;
  std::optional<std::string> finish_reason;
};

struct ChatChunk {
  std::string id;
  std::string object = "chat.completion.chunk";
  long long created = 0;
  std::string model;
  std::vector<ChunkChoice> choices; // empty in the final usage-only chunk
  std::optional<Usage> usage;
  std::optional<std::string> system_fingerprint;
  Json extra = Json::object();
};

Result<ChatChunk> parse_chat_chunk(const Json& body);
Json to_json(const ChatChunk& chunk);
Json to_json(const Usage& usage);

// Accumulates stream chunks into the response a non-streaming call would have returned
// (content and reasoning concatenated, tool calls merged by index, last finish_reason,
// usage when sent).
class ChunkAccumulator {
public:
  void add(const ChatChunk& chunk);
  ChatResponse result() const;
  bool saw_content() const { return m_saw_content; }

private:
  ChatResponse m_resp;
  std::string m_content;
  std::string m_reasoning;
  bool m_saw_content = false;
  bool m_has_reasoning = false;
  std::vector<ToolCall> m_tool_calls;
  std::optional<std::string> m_finish;
  std::optional<std::string> m_role;
};

// OpenAI's error body: {"error":{"message":...,"type":...,"code":...}}. `code` is a string,
// a number (llama-server sends the HTTP status) or null.
struct ErrorBody {
  std::string message;
  std::string type;
  Json code; // null when absent
  std::optional<std::string> param;
};

Json to_json(const ErrorBody& err);
Result<ErrorBody> parse_error_body(const Json& body);
// The error body askd sends for `e`: message, openai_type(), code = to_string(kind).
ErrorBody error_body_for(const Error& e);

} // namespace ask::core
