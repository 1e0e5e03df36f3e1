#pragma once
// llama-server's two foreign doors, /v1/messages (Anthropic Messages, with
// /v1/messages/count_tokens) and /v1/responses (OpenAI Responses), as b10587 serves them:
// the request becomes a chat request (llama-server converts both to its chat path too), and
// the chat answer is written back in the door's own shape, key order and event sequence as
// recorded in tests/fixtures/llama-server/anthropic and .../responses.

#include <expected>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "sim/generator.h"
#include "sim/llama_format.h"

namespace ask::sim::llama {

// A Messages body as the chat body llama-server turns it into: system (string or text
// blocks) first, messages with string or block content (text blocks joined; tool_use
// written as text on the assistant turn, tool_result as a "tool" turn, images skipped),
// max_tokens, stop_sequences as stop, temperature, top_p, stream, tools (input_schema as
// parameters) and tool_choice. No "messages": 500 "'messages' is required", as recorded.
std::expected<nlohmann::json, ErrorReply> messages_to_chat(const nlohmann::json& body);

// A Responses body as a chat body: instructions as the system message, input a string (one
// user message) or items (messages with string or input_text/output_text parts,
// function_call and function_call_output as text turns), max_output_tokens as max_tokens,
// function tools (built-in ones such as web_search are skipped, as b10587 does). Errors as
// recorded: previous_response_id, and an input that is neither string nor array (400).
std::expected<nlohmann::json, ErrorReply> responses_to_chat(const nlohmann::json& body);

// What one Messages or Responses reply shares between its events.
struct DoorMeta {
  std::string id;      // "chatcmpl-..." (Messages) or "resp_..." (Responses)
  std::string item_id; // "msg_..." (Responses' message item)
  std::string call_id; // "fc_..." (Responses' function_call item)
  long long created = 0;
  std::string model;
};

// The whole /v1/messages reply: id, type, role, content, model, stop_reason, stop_sequence,
// usage{cache_read_input_tokens, input_tokens, output_tokens}.
OJson anthropic_message(const DoorMeta& meta, const Answer& answer);
// "event: NAME\ndata: JSON\n\n" with NAME = data's "type".
std::string named_event(const OJson& data);

// The /v1/messages event stream, piece by piece: start() is message_start, token(i) the
// events of token i (a text block opens with its first token; reasoning tokens send
// nothing), end() closes the open block, adds a tool_use block for a tool call, then
// message_delta and message_stop.
class AnthropicStream {
public:
  AnthropicStream(const DoorMeta& meta, const Answer& answer) : m_meta(meta), m_answer(answer) {}
  std::string start() const;
  std::string token(std::size_t i);
  std::string end();

private:
  const DoorMeta& m_meta;
  const Answer& m_answer;
  int m_blocks = 0;
  bool m_text_open = false;
};

// The whole /v1/responses reply (keys sorted, as b10587 writes it).
OJson responses_body(const DoorMeta& meta, const Answer& answer);

// The /v1/responses event stream: start() is response.created and response.in_progress,
// token(i) output_text.delta (the message item and its part are added with the first one),
// end() the .done events, a function_call item for a tool call, then response.completed
// with the timings.
class ResponsesStream {
public:
  ResponsesStream(const DoorMeta& meta, const Answer& answer) : m_meta(meta), m_answer(answer) {}
  std::string start() const;
  std::string token(std::size_t i);
  std::string end(const Timings& timings);

private:
  const DoorMeta& m_meta;
  const Answer& m_answer;
  bool m_text_open = false;
};

} // namespace ask::sim::llama
