#pragma once
// OpenAI chat-completions wire types: request, response, stream chunk and error body, with
// defensive parsing (every error names the field, e.g. "messages[2].content[0].image_url")
// and serialisation. Fields this code does not model are kept in `extra` and written back,
// so a passthrough loses nothing: for a request that parses, to_json(parse(x)) == x.
//
// To keep that promise, `extra` may also hold a *known* key whose value means "absent"
// (`"temperature":null`, `"stream":false`, `"stop":[]`, `"tool_calls":[]`, `"content":null`,
// `"include_usage":false`): to_json writes `extra` first and the typed fields over it, so a
// typed field that is set always wins. Code that builds messages sets
// `extra["content"] = nullptr` when it wants an explicit `"content":null` written.
// For the same reason an integer given for temperature or top_p (`"temperature":1`) is also
// kept in `extra`, so the text comes back as sent ("1", not "1.0"); to_json writes it only
// while it still equals the typed field, and drops it when the typed field is cleared.
// Integer fields are written as integers (`"max_tokens":16.0` comes back as 16, equal as
// JSON, and what servers written in Go need).
//
// Every parser refuses JSON nested deeper than 128 levels (the text overloads before parsing,
// the Json overloads with an iterative walk), since copying such a value would overflow the
// stack.

#include <map>
#include <optional>
#include <string>
#include <string_view>
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
  // Unknown keys of the call; unknown keys of its "function" object sit in extra["function"].
  Json extra = Json::object();
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
  Json extra = Json::object(); // other keys of "stream_options", kept for passthrough
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

// Validates types and shapes; errors are bad_request naming the offending field path, e.g.
// "messages[1].content[0].image_url.url: expected a string, got a number". Rules beyond the
// JSON types: `model` is a non-empty string; `messages` a non-empty array; role one of
// system, developer, user, assistant, tool, function; system/developer/user/tool messages
// need content, assistant ones content or tool_calls; tool_calls only on assistant messages;
// tool messages need tool_call_id; temperature in [0, 2]; top_p in [0, 1];
// max_tokens / max_completion_tokens integers >= 1 (1.5 and "16" are rejected, 16.0 is
// accepted); seed an integer; `stop` a string or an array of at most 16 strings (OpenAI
// allows 4, llama.cpp and Ollama more); numbers given as strings are rejected.
Result<ChatRequest> parse_chat_request(const Json& body);
// Parses the text first; a syntax error is bad_request with the parser's position. Pass a
// std::string as std::string_view(s): a std::string would convert to either overload.
Result<ChatRequest> parse_chat_request(std::string_view body);
Json to_json(const ChatRequest& req);
Json to_json(const Message& msg);
// One request message with the rules above; `path` prefixes error messages ("messages[3]").
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
  Json extra = Json::object();              // logprobs etc.
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

// Parses a backend's reply leniently (missing ids, null content, Ollama's "reasoning" read as
// reasoning_content); malformed shapes are upstream_status errors with http_status 502
// (Error::malformed_reply) naming the field. A body with an "error" field and no "choices"
// (an error sent in-band, e.g. in a 200 reply) is the backend's error: upstream_status with
// the error's message, and http_status its integer "code" when that is in 400..599, else 502.
Result<ChatResponse> parse_chat_response(const Json& body);
// Parses the text first (nesting limited, see above); invalid JSON is malformed_reply.
Result<ChatResponse> parse_chat_response(std::string_view body);
Json to_json(const ChatResponse& resp);

// A tool-call fragment in a stream: `index` says which call it extends; id, type and name
// arrive with the first fragment, arguments in pieces.
struct ToolCallDelta {
  int index = 0;
  std::optional<std::string> id;
  std::optional<std::string> type;
  std::optional<std::string> name;
  std::optional<std::string> arguments;
  // Unknown keys of the fragment, and id / type given as null. Unknown keys (and null name /
  // arguments) of its "function" object sit in extra["function"], which is also set (to {})
  // when "function" came without name or arguments, so that it is written back.
  Json extra = Json::object();
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
  Json extra = Json::object(); // logprobs etc.
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

// Like parse_chat_response. Ollama's delta field "reasoning" is read as reasoning_content
// (and written back under that name, so clients see one name); when both are present,
// "reasoning" stays in `extra`.
Result<ChatChunk> parse_chat_chunk(const Json& body);
// Parses the text of one stream event first (nesting limited); invalid JSON is
// malformed_reply.
Result<ChatChunk> parse_chat_chunk(std::string_view body);
Json to_json(const ChatChunk& chunk);
Json to_json(const Usage& usage);

// Accumulates stream chunks into the response a non-streaming call would have returned
// (content and reasoning concatenated, tool calls merged by index in order of first
// appearance, last finish_reason, usage when sent, top-level extras such as llama-server's
// "timings" from the last chunk that had them). Only choice 0 is accumulated. A tool call's
// id, type and name are taken from the first fragment that has them; arguments are appended;
// its unknown keys are kept from the first fragment that has each.
// Memory is bounded: once content, reasoning, tool-call ids, names and arguments and new
// extra fields add up to `max_bytes`, a piece that does not fit and everything after it is
// dropped and overflowed() turns true (the result then holds a prefix of the stream's text,
// never a cut UTF-8 sequence). Tool-call fragments with an index below 0 or above
// k_max_tool_index are ignored and dropped_tool_calls() turns true.
class ChunkAccumulator {
public:
  static constexpr std::size_t k_default_max_bytes = 64 * 1024 * 1024;
  static constexpr int k_max_tool_index = 1024;

  explicit ChunkAccumulator(std::size_t max_bytes = k_default_max_bytes);

  void add(const ChatChunk& chunk);
  ChatResponse result() const;
  // True once any non-empty content, reasoning or tool-call fragment arrived (dropped or not).
  bool saw_content() const { return m_saw_content; }
  // True once text was dropped for going over max_bytes.
  bool overflowed() const { return m_overflowed; }
  // True once a tool-call fragment was ignored for its index.
  bool dropped_tool_calls() const { return m_dropped_tool_calls; }

private:
  void add_header(const ChatChunk& chunk);
  void add_choice(const ChunkChoice& choice);
  void add_tool_call(const ToolCallDelta& delta);
  // Charges `bytes` to the budget: false (and overflowed) when they do not fit.
  bool take(std::size_t bytes);
  // Appends `piece` to `target` when it fits in the budget.
  void append(std::string& target, const std::string& piece);
  // Copies the keys of `from` that `into` lacks (nulls skipped), within the budget; at the
  // top level, the keys of from["function"] go into into["function"] the same way.
  void merge_extras(const Json& from, Json& into, bool top_level);

  std::size_t m_max_bytes;
  std::size_t m_bytes = 0;
  bool m_overflowed = false;
  bool m_dropped_tool_calls = false;
  ChatResponse m_resp;
  std::string m_content;
  std::string m_reasoning;
  bool m_saw_content = false;
  bool m_has_reasoning = false;
  bool m_has_content = false;              // a non-null content delta arrived (even "")
  std::vector<ToolCall> m_tool_calls;      // in order of first appearance
  std::map<int, std::size_t> m_tool_slots; // stream index -> position in m_tool_calls
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
  Json extra = Json::object(); // e.g. llama-server's n_prompt_tokens, n_ctx
};

Json to_json(const ErrorBody& err);
// Also accepts Ollama's native {"error":"message"} (type empty then). What is not an error
// body is malformed_reply.
Result<ErrorBody> parse_error_body(const Json& body);
// Parses the text first (nesting limited); invalid JSON is malformed_reply.
Result<ErrorBody> parse_error_body(std::string_view body);
// The error body askd sends for `e`: message, openai_type(), code = to_string(kind).
ErrorBody error_body_for(const Error& e);

} // namespace ask::core
