#include "sim/llama_messages.h"

#include "core/json_text.h"
#include "sim/chat_input.h"

namespace ask::sim::llama {

namespace {

using Json = nlohmann::json;

ErrorReply bad_request(std::string message) {
  return ErrorReply{400, std::move(message), "invalid_request_error", OJson::object()};
}

// Copies body[from] to chat[to] when present (null included: the chat reader decides).
void copy_field(const Json& body, const char* from, Json& chat, const char* to) {
  if (body.contains(from)) {
    chat[to] = body[from];
  }
}

// The text of an Anthropic content (string or blocks): text blocks joined with "\n", a
// tool_use block written as "[tool_use NAME INPUT]" so the turn still says what was asked;
// tool_result and image blocks are not text (tool_result becomes its own turn).
std::string anthropic_text(const Json& content) {
  if (content.is_string()) {
    return content.get<std::string>();
  }
  std::string out;
  if (!content.is_array()) {
    return out;
  }
  for (const Json& block : content) {
    std::string piece;
    const std::string type = string_field(block, "type");
    if (type == "text") {
      piece = string_field(block, "text");
    } else if (type == "tool_use") {
      piece = "[tool_use " + string_field(block, "name") + " " +
              core::dump_json(block.value("input", Json::object())) + "]";
    } else {
      continue;
    }
    out += out.empty() ? "" : "\n";
    out += piece;
  }
  return out;
}

// A Messages tool_choice as chat's: auto, any (required), tool (that function), none.
Json chat_tool_choice(const Json& choice) {
  const std::string type = string_field(choice, "type");
  if (type == "any") {
    return "required";
  }
  if (type == "tool") {
    return Json{{"type", "function"}, {"function", {{"name", string_field(choice, "name")}}}};
  }
  return type == "none" ? "none" : "auto";
}

// The text of one Responses content: a string, or input_text / output_text / text parts.
std::string responses_text(const Json& content) {
  if (content.is_string()) {
    return content.get<std::string>();
  }
  std::string out;
  if (content.is_array()) {
    for (const Json& part : content) {
      const std::string type = string_field(part, "type");
      if (type == "input_text" || type == "output_text" || type == "text") {
        out += out.empty() ? "" : "\n";
        out += string_field(part, "text");
      }
    }
  }
  return out;
}

OJson anthropic_usage(const Answer& answer) {
  // The sim keeps no prompt cache, so nothing is read from one.
  return OJson{{"cache_read_input_tokens", 0},
               {"input_tokens", answer.prompt_tokens},
               {"output_tokens", answer.completion_tokens()}};
}

std::string stop_reason(const Answer& answer) {
  if (answer.tool_call) {
    return "tool_use";
  }
  return answer.finish_reason == "length" ? "max_tokens" : "end_turn";
}

OJson stop_sequence(const Answer& answer) {
  return answer.stop_word ? OJson(*answer.stop_word) : OJson(nullptr);
}

OJson output_text(const std::string& text) {
  return OJson{{"type", "output_text"},
               {"annotations", OJson::array()},
               {"logprobs", OJson::array()},
               {"text", text}};
}

// The message item as response.output_item.done and response.completed write it.
OJson stream_message_item(const DoorMeta& meta, const std::string& text) {
  return OJson{{"type", "message"},
               {"status", "completed"},
               {"id", meta.item_id},
               {"content", OJson::array({output_text(text)})},
               {"role", "assistant"}};
}

OJson function_call_item(const DoorMeta& meta, const ToolCallPlan& call, bool done) {
  return OJson{{"type", "function_call"},
               {"status", done ? "completed" : "in_progress"},
               {"arguments", done ? call.arguments.dump() : std::string()},
               {"call_id", call.id},
               {"name", call.name},
               {"id", meta.call_id}};
}

OJson responses_usage(const Answer& answer) {
  return OJson{{"input_tokens", answer.prompt_tokens},
               {"output_tokens", answer.completion_tokens()},
               {"total_tokens", answer.prompt_tokens + answer.completion_tokens()},
               {"input_tokens_details", {{"cached_tokens", 0}}}};
}

} // namespace

std::expected<Json, ErrorReply> messages_to_chat(const Json& body) {
  if (!body.is_object() || !body.contains("messages")) {
    return std::unexpected(
        ErrorReply{500, "'messages' is required", "server_error", OJson::object()});
  }
  Json chat = Json::object();
  const Json& messages = body["messages"];
  if (!messages.is_array()) {
    chat["messages"] = messages; // the chat reader answers in its own words
  } else {
    Json out = Json::array();
    if (body.contains("system")) {
      out.push_back({{"role", "system"}, {"content", anthropic_text(body["system"])}});
    }
    for (const Json& m : messages) {
      if (!m.is_object()) {
        continue;
      }
      const Json content = m.value("content", Json());
      if (content.is_array()) {
        for (const Json& block : content) {
          if (string_field(block, "type") == "tool_result") {
            out.push_back(
                {{"role", "tool"}, {"content", anthropic_text(block.value("content", Json()))}});
          }
        }
      }
      std::string text = anthropic_text(content);
      if (!content.is_array() || !text.empty() || string_field(m, "role") != "user") {
        out.push_back({{"role", string_field(m, "role")}, {"content", std::move(text)}});
      }
    }
    chat["messages"] = std::move(out);
  }
  copy_field(body, "max_tokens", chat, "max_tokens");
  copy_field(body, "temperature", chat, "temperature");
  copy_field(body, "top_p", chat, "top_p");
  copy_field(body, "stream", chat, "stream");
  copy_field(body, "stop_sequences", chat, "stop");
  if (body.contains("tools") && body["tools"].is_array()) {
    Json tools = Json::array();
    for (const Json& t : body["tools"]) {
      if (t.is_object() && t.contains("name") && t["name"].is_string()) {
        tools.push_back({{"type", "function"},
                         {"function",
                          {{"name", t["name"]},
                           {"description", string_field(t, "description")},
                           {"parameters", t.value("input_schema", Json::object())}}}});
      }
    }
    chat["tools"] = std::move(tools);
    if (body.contains("tool_choice")) {
      chat["tool_choice"] = chat_tool_choice(body["tool_choice"]);
    }
  }
  return chat;
}

std::expected<Json, ErrorReply> responses_to_chat(const Json& body) {
  if (!body.is_object()) {
    return std::unexpected(bad_request("'input' is required"));
  }
  if (body.contains("previous_response_id") && !body["previous_response_id"].is_null()) {
    return std::unexpected(bad_request("llama.cpp does not support 'previous_response_id'."));
  }
  if (!body.contains("input")) {
    return std::unexpected(bad_request("'input' is required"));
  }
  const Json& input = body["input"];
  Json messages = Json::array();
  if (body.contains("instructions") && body["instructions"].is_string()) {
    messages.push_back({{"role", "system"}, {"content", body["instructions"]}});
  }
  if (input.is_string()) {
    messages.push_back({{"role", "user"}, {"content", input}});
  } else if (input.is_array()) {
    for (const Json& item : input) {
      if (!item.is_object()) {
        return std::unexpected(bad_request("'input' must be a string or array of objects"));
      }
      const std::string type = string_field(item, "type");
      if (type == "function_call") {
        messages.push_back({{"role", "assistant"},
                            {"content", "[function_call " + string_field(item, "name") + " " +
                                            string_field(item, "arguments") + "]"}});
      } else if (type == "function_call_output") {
        messages.push_back({{"role", "tool"}, {"content", string_field(item, "output")}});
      } else if (item.contains("role")) {
        messages.push_back(
            {{"role", string_field(item, "role") == "developer" ? std::string("system")
                                                                : string_field(item, "role")},
             {"content", responses_text(item.value("content", Json()))}});
      }
      // Other items (reasoning, built-in tool calls) carry nothing the sim answers from.
    }
  } else {
    return std::unexpected(bad_request("'input' must be a string or array of objects"));
  }
  Json chat{{"messages", std::move(messages)}};
  copy_field(body, "max_output_tokens", chat, "max_tokens");
  copy_field(body, "temperature", chat, "temperature");
  copy_field(body, "top_p", chat, "top_p");
  copy_field(body, "stream", chat, "stream");
  if (body.contains("tools") && body["tools"].is_array()) {
    Json tools = Json::array();
    for (const Json& t : body["tools"]) {
      // Built-in tools (web_search, namespaces...) are skipped, as b10587 skips them.
      if (string_field(t, "type") == "function" && !string_field(t, "name").empty()) {
        tools.push_back({{"type", "function"},
                         {"function",
                          {{"name", t["name"]},
                           {"description", string_field(t, "description")},
                           {"parameters", t.value("parameters", Json::object())}}}});
      }
    }
    chat["tools"] = std::move(tools);
    if (body.contains("tool_choice")) {
      const Json& c = body["tool_choice"];
      chat["tool_choice"] = c.is_object() ? Json{{"type", "function"},
                                                 {"function", {{"name", string_field(c, "name")}}}}
                                          : c;
    }
  }
  return chat;
}

std::string named_event(const OJson& data) {
  return "event: " + data["type"].get<std::string>() + "\ndata: " + core::dump_json(data) + "\n\n";
}

OJson anthropic_message(const DoorMeta& meta, const Answer& answer) {
  OJson content = OJson::array();
  if (answer.reasoning_tokens() > 0) {
    content.push_back({{"type", "thinking"}, {"thinking", answer.reasoning()}, {"signature", ""}});
  }
  if (answer.content_tokens() > 0) {
    content.push_back({{"type", "text"}, {"text", answer.content()}});
  }
  if (answer.tool_call) {
    content.push_back({{"type", "tool_use"},
                       {"id", answer.tool_call->id},
                       {"name", answer.tool_call->name},
                       {"input", answer.tool_call->arguments}});
  }
  return OJson{{"id", meta.id},
               {"type", "message"},
               {"role", "assistant"},
               {"content", std::move(content)},
               {"model", meta.model},
               {"stop_reason", stop_reason(answer)},
               {"stop_sequence", stop_sequence(answer)},
               {"usage", anthropic_usage(answer)}};
}

std::string AnthropicStream::start() const {
  OJson usage = anthropic_usage(m_answer);
  usage["output_tokens"] = 0;
  return named_event(OJson{{"type", "message_start"},
                           {"message",
                            {{"id", m_meta.id},
                             {"type", "message"},
                             {"role", "assistant"},
                             {"content", OJson::array()},
                             {"model", m_meta.model},
                             {"stop_reason", nullptr},
                             {"stop_sequence", nullptr},
                             {"usage", std::move(usage)}}}});
}

std::string AnthropicStream::token(std::size_t i) {
  const Token t = m_answer.token(i);
  std::string out;
  const bool thinking = t.kind == TokenKind::reasoning;
  if (i == 0 && thinking) {
    out += named_event(OJson{{"type", "content_block_start"},
                             {"index", m_blocks},
                             {"content_block", {{"type", "thinking"}, {"thinking", ""}}}});
  }
  if (!thinking && !m_text_open) {
    if (i > 0) { // a thinking block ends with an empty signature
      out += named_event(OJson{{"type", "content_block_delta"},
                               {"index", m_blocks},
                               {"delta", {{"type", "signature_delta"}, {"signature", ""}}}});
      out += named_event(OJson{{"type", "content_block_stop"}, {"index", m_blocks++}});
    }
    out += named_event(OJson{{"type", "content_block_start"},
                             {"index", m_blocks},
                             {"content_block", {{"type", "text"}, {"text", ""}}}});
    m_text_open = true;
  }
  OJson delta = thinking ? OJson{{"type", "thinking_delta"}, {"thinking", t.text}}
                         : OJson{{"type", "text_delta"}, {"text", t.text}};
  out += named_event(
      OJson{{"type", "content_block_delta"}, {"index", m_blocks}, {"delta", std::move(delta)}});
  return out;
}

std::string AnthropicStream::end() {
  std::string out;
  if (m_answer.size() > 0) {
    if (!m_text_open) { // only thinking was streamed
      out += named_event(OJson{{"type", "content_block_delta"},
                               {"index", m_blocks},
                               {"delta", {{"type", "signature_delta"}, {"signature", ""}}}});
    }
    out += named_event(OJson{{"type", "content_block_stop"}, {"index", m_blocks++}});
  }
  if (const auto& call = m_answer.tool_call) {
    out += named_event(OJson{{"type", "content_block_start"},
                             {"index", m_blocks},
                             {"content_block",
                              {{"type", "tool_use"},
                               {"id", call->id},
                               {"name", call->name},
                               {"input", OJson::object()}}}});
    out += named_event(
        OJson{{"type", "content_block_delta"},
              {"index", m_blocks},
              {"delta", {{"type", "input_json_delta"}, {"partial_json", call->arguments.dump()}}}});
    out += named_event(OJson{{"type", "content_block_stop"}, {"index", m_blocks++}});
  }
  out += named_event(
      OJson{{"type", "message_delta"},
            {"delta",
             {{"stop_reason", stop_reason(m_answer)}, {"stop_sequence", stop_sequence(m_answer)}}},
            {"usage", {{"output_tokens", m_answer.completion_tokens()}}}});
  out += named_event(OJson{{"type", "message_stop"}});
  return out;
}

OJson responses_body(const DoorMeta& meta, const Answer& answer) {
  OJson output = OJson::array();
  if (!answer.tool_call || answer.content_tokens() > 0) {
    output.push_back({{"content", OJson::array({output_text(answer.content())})},
                      {"id", meta.item_id},
                      {"role", "assistant"},
                      {"status", "completed"},
                      {"type", "message"}});
  }
  if (answer.tool_call) {
    output.push_back({{"arguments", answer.tool_call->arguments.dump()},
                      {"call_id", answer.tool_call->id},
                      {"id", meta.call_id},
                      {"name", answer.tool_call->name},
                      {"status", "completed"},
                      {"type", "function_call"}});
  }
  return OJson{{"completed_at", meta.created},
               {"created_at", meta.created},
               {"id", meta.id},
               {"model", meta.model},
               {"object", "response"},
               {"output", std::move(output)},
               {"status", "completed"},
               {"usage", responses_usage(answer)}};
}

std::string ResponsesStream::start() const {
  OJson response{{"id", m_meta.id}, {"object", "response"}, {"status", "in_progress"}};
  return named_event(OJson{{"type", "response.created"}, {"response", response}}) +
         named_event(OJson{{"type", "response.in_progress"}, {"response", response}});
}

std::string ResponsesStream::token(std::size_t i) {
  const Token t = m_answer.token(i);
  if (t.kind == TokenKind::reasoning) {
    return {}; // the sim writes no reasoning items on this door
  }
  std::string out;
  if (!m_text_open) {
    out += named_event(OJson{{"type", "response.output_item.added"},
                             {"item",
                              {{"content", OJson::array()},
                               {"id", m_meta.item_id},
                               {"role", "assistant"},
                               {"status", "in_progress"},
                               {"type", "message"}}}});
    out += named_event(OJson{{"type", "response.content_part.added"},
                             {"item_id", m_meta.item_id},
                             {"part", {{"type", "output_text"}, {"text", ""}}}});
    m_text_open = true;
  }
  out += named_event(OJson{
      {"type", "response.output_text.delta"}, {"item_id", m_meta.item_id}, {"delta", t.text}});
  return out;
}

std::string ResponsesStream::end(const Timings& timings) {
  std::string out;
  OJson output = OJson::array();
  if (m_text_open) {
    const std::string text = m_answer.content();
    out += named_event(
        OJson{{"type", "response.output_text.done"}, {"item_id", m_meta.item_id}, {"text", text}});
    out += named_event(OJson{{"type", "response.content_part.done"},
                             {"item_id", m_meta.item_id},
                             {"part", output_text(text)}});
    output.push_back(stream_message_item(m_meta, text));
    out += named_event(OJson{{"type", "response.output_item.done"}, {"item", output.back()}});
  }
  if (const auto& call = m_answer.tool_call) {
    out += named_event(OJson{{"type", "response.output_item.added"},
                             {"item", function_call_item(m_meta, *call, false)}});
    out += named_event(OJson{{"type", "response.function_call_arguments.delta"},
                             {"item_id", m_meta.call_id},
                             {"delta", call->arguments.dump()}});
    output.push_back(function_call_item(m_meta, *call, true));
    out += named_event(OJson{{"type", "response.output_item.done"}, {"item", output.back()}});
  }
  out += named_event(OJson{{"type", "response.completed"},
                           {"response",
                            {{"id", m_meta.id},
                             {"object", "response"},
                             {"created_at", m_meta.created},
                             {"status", "completed"},
                             {"model", m_meta.model},
                             {"output", std::move(output)},
                             {"usage", responses_usage(m_answer)}}},
                           {"timings", timings_json(timings)}});
  return out;
}

} // namespace ask::sim::llama
