// AnthropicDialect, the reply side: a chat.completion as a Message, chat chunks as its
// events, errors in Anthropic's shape (the request side is dialect_anthropic_request.cpp).
// Reply: reasoning_content -> a thinking block (signature ""), content -> a text block, tool
// calls -> tool_use blocks, in that order, like llama-server. Arguments that are not a JSON
// object become input {} (llama-server does the same: Anthropic's input is always an object,
// and a client that checks it against the tool's schema tells the model what was missing).
// finish_reason stop -> end_turn (a chat reply does not say whether a stop sequence matched,
// so stop_sequence is always null, where llama-server's door can name it), length ->
// max_tokens, tool_calls (or any finish with tool calls) -> tool_use, content_filter ->
// refusal. usage: input_tokens leaves out the prompt tokens the backend reported cached,
// which are cache_read_input_tokens. A tool call without an id gets "toolu_<msg id>_<n>".
// Stream: token counts arrive with the last chunk, so message_start says 0 and
// message_delta carries input_tokens, cache_read_input_tokens and output_tokens (Anthropic's
// SDKs take all three from it).
#include "proxy/dialect_anthropic.h"

#include <algorithm>
#include <optional>
#include <set>
#include <string>
#include <utility>

#include "core/json_text.h"
#include "core/sse.h"

namespace ask::proxy {

// Helpers in a named namespace: a unity build puts this file in one translation unit with
// other proxy files, whose anonymous-namespace helpers would clash with same-named ones.
namespace anthropic_reply {
namespace {

using core::Json;

// The member `key`, or nullptr when absent or null.
const Json* member(const Json& obj, std::string_view key) {
  const auto it = obj.find(key);
  return it == obj.end() || it->is_null() ? nullptr : &*it;
}

// ---- Reply side ----

std::string stop_reason(const std::optional<std::string>& finish, bool has_tool_calls) {
  if (has_tool_calls || finish == "tool_calls" || finish == "function_call") {
    return "tool_use";
  }
  if (finish == "length") {
    return "max_tokens";
  }
  if (finish == "content_filter") {
    return "refusal";
  }
  return "end_turn";
}

// The prompt tokens the backend found in its cache (OpenAI's prompt_tokens_details), or 0.
long long cached_tokens(const core::Usage& usage) {
  const auto details = usage.extra.find("prompt_tokens_details");
  if (details == usage.extra.end() || !details->is_object()) {
    return 0;
  }
  const Json* cached = member(*details, "cached_tokens");
  if (cached == nullptr || !cached->is_number_integer() || cached->get<long long>() <= 0) {
    return 0;
  }
  return std::min(cached->get<long long>(), usage.prompt_tokens);
}

// Anthropic's input_tokens counts only the prompt tokens not read from the cache.
Json usage_json(const core::Usage& usage) {
  const long long cached = cached_tokens(usage);
  return {{"input_tokens", std::max(0LL, usage.prompt_tokens - cached)},
          {"cache_read_input_tokens", cached},
          {"output_tokens", std::max(0LL, usage.completion_tokens)}};
}

// A tool call's input: its arguments when they are a JSON object, else {} (see the top).
Json tool_input(const std::string& arguments) {
  auto parsed = core::parse_json_text(arguments);
  if (parsed && parsed->is_object()) {
    return std::move(*parsed);
  }
  return Json::object();
}

// The id for a tool call that came without one (some backends omit it).
std::string fallback_tool_id(const std::string& message_id, std::size_t n) {
  return "toolu_" + message_id.substr(std::min<std::size_t>(4, message_id.size())) + "_" +
         std::to_string(n);
}

Json message_reply(const Json& completion, const DialectMeta& meta) {
  const std::string id = anthropic_message_id(meta.id);
  Json content = Json::array();
  std::optional<std::string> finish;
  Json usage = usage_json(core::Usage{});
  bool has_tool_calls = false;
  // The chain hands over a completion it has validated; parsing again only reads it typed.
  if (auto parsed = core::parse_chat_response(completion); parsed) {
    if (!parsed->choices.empty()) {
      const auto& choice = parsed->choices.front();
      const auto& message = choice.message;
      finish = choice.finish_reason;
      if (message.reasoning_content && !message.reasoning_content->empty()) {
        content.push_back(
            {{"type", "thinking"}, {"thinking", *message.reasoning_content}, {"signature", ""}});
      }
      if (const std::string text = message.text(); !text.empty()) {
        content.push_back({{"type", "text"}, {"text", text}});
      }
      for (std::size_t n = 0; n < message.tool_calls.size(); ++n) {
        const auto& call = message.tool_calls[n];
        content.push_back({{"type", "tool_use"},
                           {"id", call.id.empty() ? fallback_tool_id(id, n) : call.id},
                           {"name", call.function.name},
                           {"input", tool_input(call.function.arguments)}});
      }
      has_tool_calls = !message.tool_calls.empty();
    }
    if (parsed->usage) {
      usage = usage_json(*parsed->usage);
    }
  }
  return {{"id", id},
          {"type", "message"},
          {"role", "assistant"},
          {"model", meta.model},
          {"content", std::move(content)},
          {"stop_reason", stop_reason(finish, has_tool_calls)},
          {"stop_sequence", nullptr},
          {"usage", std::move(usage)}};
}

// ---- Stream side ----

// Chat chunks as Anthropic's event stream: message_start on the first chunk, then one
// content block at a time (thinking, text or tool_use; a change of kind, or a new tool
// call, closes the open block and opens the next with the next index), and at the end
// message_delta (stop_reason, usage from the usage-only chunk) and message_stop.
class MessageStreamEncoder final : public StreamEncoder {
public:
  explicit MessageStreamEncoder(const DialectMeta& meta)
      : m_id(anthropic_message_id(meta.id)), m_model(meta.model) {}

  void chunk(const Json& chunk, std::string& out) override;
  void finish(std::string& out) override;
  void fail(const core::Error& error, std::string& out) override;

private:
  enum class Block { none, thinking, text, tool_use };

  static void emit(std::string_view event, const Json& data, std::string& out) {
    out += core::encode_sse(core::dump_json(data), event);
  }
  void start(std::string& out);
  void open(Block kind, Json content_block, std::string& out);
  void close(std::string& out);
  void delta(Json delta, std::string& out);
  void tool_fragment(const core::ToolCallDelta& fragment, std::string& out);

  std::string m_id;
  std::string m_model;
  bool m_started = false;
  bool m_ended = false;
  Block m_open = Block::none;
  int m_index = -1;     // the open block's index
  int m_open_tool = -1; // the stream index of the tool call in the open block
  std::set<int> m_tools_seen;
  std::optional<std::string> m_finish;
  std::optional<core::Usage> m_usage;
};

void MessageStreamEncoder::start(std::string& out) {
  if (m_started) {
    return;
  }
  m_started = true;
  // Token counts come with the last chunk; message_delta repeats them where they are known.
  Json usage = m_usage ? usage_json(*m_usage) : usage_json(core::Usage{});
  usage["output_tokens"] = 0;
  emit("message_start",
       {{"type", "message_start"},
        {"message",
         {{"id", m_id},
          {"type", "message"},
          {"role", "assistant"},
          {"model", m_model},
          {"content", Json::array()},
          {"stop_reason", nullptr},
          {"stop_sequence", nullptr},
          {"usage", std::move(usage)}}}},
       out);
}

void MessageStreamEncoder::open(Block kind, Json content_block, std::string& out) {
  close(out);
  m_open = kind;
  ++m_index;
  emit("content_block_start",
       {{"type", "content_block_start"}, {"index", m_index}, {"content_block", content_block}},
       out);
}

void MessageStreamEncoder::close(std::string& out) {
  if (m_open == Block::none) {
    return;
  }
  if (m_open == Block::thinking) {
    // Anthropic ends a thinking block with its signature; a local model has none to give.
    delta({{"type", "signature_delta"}, {"signature", ""}}, out);
  }
  emit("content_block_stop", {{"type", "content_block_stop"}, {"index", m_index}}, out);
  m_open = Block::none;
  m_open_tool = -1;
}

void MessageStreamEncoder::delta(Json delta, std::string& out) {
  emit("content_block_delta",
       {{"type", "content_block_delta"}, {"index", m_index}, {"delta", std::move(delta)}}, out);
}

void MessageStreamEncoder::tool_fragment(const core::ToolCallDelta& fragment, std::string& out) {
  if (m_open != Block::tool_use || m_open_tool != fragment.index) {
    if (m_tools_seen.contains(fragment.index)) {
      // A fragment for a call whose block is closed: Anthropic blocks cannot reopen. The
      // backends askd fronts stream each call whole before the next, so this does not occur
      // in practice; the stray piece is dropped rather than sent to the wrong block.
      return;
    }
    m_tools_seen.insert(fragment.index);
    const std::string id = fragment.id.value_or("");
    open(Block::tool_use,
         {{"type", "tool_use"},
          {"id", id.empty() ? fallback_tool_id(m_id, m_tools_seen.size() - 1) : id},
          {"name", fragment.name.value_or("")},
          {"input", Json::object()}},
         out);
    m_open_tool = fragment.index;
  }
  if (fragment.arguments && !fragment.arguments->empty()) {
    delta({{"type", "input_json_delta"}, {"partial_json", *fragment.arguments}}, out);
  }
}

void MessageStreamEncoder::chunk(const Json& chunk, std::string& out) {
  if (m_ended) {
    return;
  }
  auto parsed = core::parse_chat_chunk(chunk);
  if (!parsed) {
    return; // the chain validates chunks before they get here
  }
  if (parsed->usage) {
    m_usage = parsed->usage;
  }
  start(out);
  if (parsed->choices.empty()) {
    return; // the usage-only chunk
  }
  const auto& choice = parsed->choices.front();
  const auto& d = choice.delta;
  if (d.reasoning_content && !d.reasoning_content->empty()) {
    if (m_open != Block::thinking) {
      open(Block::thinking, {{"type", "thinking"}, {"thinking", ""}}, out);
    }
    delta({{"type", "thinking_delta"}, {"thinking", *d.reasoning_content}}, out);
  }
  if (d.content && !d.content->empty()) {
    if (m_open != Block::text) {
      open(Block::text, {{"type", "text"}, {"text", ""}}, out);
    }
    delta({{"type", "text_delta"}, {"text", *d.content}}, out);
  }
  for (const auto& fragment : d.tool_calls) {
    tool_fragment(fragment, out);
  }
  if (choice.finish_reason) {
    m_finish = choice.finish_reason;
  }
}

void MessageStreamEncoder::finish(std::string& out) {
  if (m_ended) {
    return;
  }
  start(out);
  close(out);
  m_ended = true;
  Json usage = {{"output_tokens", 0}};
  if (m_usage) {
    usage = usage_json(*m_usage);
  }
  emit("message_delta",
       {{"type", "message_delta"},
        {"delta",
         {{"stop_reason", stop_reason(m_finish, !m_tools_seen.empty())},
          {"stop_sequence", nullptr}}},
        {"usage", std::move(usage)}},
       out);
  emit("message_stop", {{"type", "message_stop"}}, out);
}

void MessageStreamEncoder::fail(const core::Error& error, std::string& out) {
  if (m_ended) {
    return;
  }
  m_ended = true;
  // In a stream Anthropic sends overloaded_error for what would have been a 529, and
  // api_error for the rest; a backend that said it is busy (429, 503, 529) is overloaded too.
  const int status = error.http_status;
  const bool overloaded = error.kind == core::ErrorKind::overloaded ||
                          (error.kind == core::ErrorKind::upstream_status &&
                           (status == 429 || status == 503 || status == 529));
  Json body = anthropic_error(overloaded ? 529 : 500, error.message);
  emit("error", body, out);
}

} // namespace
} // namespace anthropic_reply

std::string_view anthropic_error_type(int status) {
  switch (status) {
  case 400:
    return "invalid_request_error";
  case 401:
    return "authentication_error";
  case 402:
    return "billing_error";
  case 403:
    return "permission_error";
  case 404:
    return "not_found_error";
  case 413:
    return "request_too_large";
  case 429:
    return "rate_limit_error";
  case 503:
  case 529:
    return "overloaded_error";
  case 504:
    return "timeout_error";
  default:
    return status >= 400 && status <= 499 ? "invalid_request_error" : "api_error";
  }
}

core::Json anthropic_error(int status, std::string_view message) {
  return {{"type", "error"},
          {"error", {{"type", anthropic_error_type(status)}, {"message", message}}}};
}

std::string anthropic_message_id(std::string_view request_id) {
  constexpr std::string_view k_chat_prefix = "chatcmpl-";
  if (request_id.starts_with(k_chat_prefix)) {
    request_id.remove_prefix(k_chat_prefix.size());
  }
  return "msg_" + std::string(request_id);
}

core::Result<core::Json> AnthropicDialect::to_openai(const core::Json& body) const {
  return anthropic_chat_request(body);
}

core::Result<core::Json> AnthropicDialect::to_openai_for_count(const core::Json& body) const {
  return anthropic_chat_request(body, /*counting=*/true);
}

core::Json AnthropicDialect::reply(core::Json completion, const DialectMeta& meta) const {
  return anthropic_reply::message_reply(completion, meta);
}

std::unique_ptr<StreamEncoder> AnthropicDialect::stream(const DialectMeta& meta) const {
  return std::make_unique<anthropic_reply::MessageStreamEncoder>(meta);
}

core::Json AnthropicDialect::error_body(int status, const core::Json& openai_error) const {
  // askd's chat error body is {"error":{"message":...}}; Ollama's native one, passed
  // through, is {"error":"..."}.
  std::string message = "HTTP " + std::to_string(status);
  if (const auto error = openai_error.find("error");
      openai_error.is_object() && error != openai_error.end()) {
    if (error->is_string()) {
      message = error->get<std::string>();
    } else if (error->is_object()) {
      if (const auto text = error->find("message"); text != error->end() && text->is_string()) {
        message = text->get<std::string>();
      }
    }
  }
  return anthropic_error(status, message);
}

} // namespace ask::proxy
