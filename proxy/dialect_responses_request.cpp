// ResponsesDialect, the request side: a Responses request (instructions, input items, tools,
// tool_choice, text.format, settings) as a chat request. The reply and stream side is in
// dialect_responses.cpp. The mapping follows OpenAI's API reference and llama-server
// b10587's own door (tests/fixtures/llama-server/responses/README.md).
#include "proxy/dialect_responses.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace ask::proxy {

// A named namespace around the anonymous one keeps these helpers apart from those of other
// files in a unity build; dialect_responses.cpp adds its own to the same namespace.
namespace responses_detail {
namespace {

using core::Error;
using core::fail;
using core::Json;
using core::Result;

Error bad_field(const std::string& path, std::string_view what) {
  return Error::bad_request(path + ": " + std::string(what));
}

// "a string", "an object", … for messages.
std::string a_type(const Json& value) {
  switch (value.type()) {
  case Json::value_t::null:
    return "null";
  case Json::value_t::object:
    return "an object";
  case Json::value_t::array:
    return "an array";
  case Json::value_t::string:
    return "a string";
  case Json::value_t::boolean:
    return "a boolean";
  default:
    return "a number";
  }
}

Error wrong_type(const std::string& path, std::string_view expected, const Json& got) {
  return bad_field(path, "expected " + std::string(expected) + ", got " + a_type(got));
}

std::string index_path(const std::string& path, std::size_t i) {
  return path + "[" + std::to_string(i) + "]";
}

std::string key_path(const std::string& path, std::string_view key) {
  return path.empty() ? std::string(key) : path + "." + std::string(key);
}

// A field that is absent or null: nullopt.
const Json* present(const Json& object, std::string_view key) {
  const auto it = object.find(key);
  return it == object.end() || it->is_null() ? nullptr : &*it;
}

Result<std::optional<std::string>> optional_string(const Json& object, std::string_view key,
                                                   const std::string& path) {
  const Json* value = present(object, key);
  if (value == nullptr) {
    return std::nullopt;
  }
  if (!value->is_string()) {
    return fail(wrong_type(key_path(path, key), "a string", *value));
  }
  return value->get<std::string>();
}

Result<std::string> required_string(const Json& object, std::string_view key,
                                    const std::string& path, bool allow_empty = false) {
  auto value = optional_string(object, key, path);
  if (!value) {
    return fail(value.error());
  }
  if (!*value) {
    return fail(bad_field(key_path(path, key), "required"));
  }
  if (!allow_empty && (*value)->empty()) {
    return fail(bad_field(key_path(path, key), "must not be empty"));
  }
  return std::move(**value);
}

// The chat messages built from `instructions` and `input`. Consecutive assistant-side items
// (reasoning, an assistant message, function calls) make one assistant message, the way one
// chat turn carries reasoning_content, content and tool_calls together.
class MessageBuilder {
public:
  void push(Json message) {
    close_assistant();
    m_messages.push_back(std::move(message));
  }
  void add_reasoning(const std::string& text) {
    Json* turn = open_turn();
    if (turn == nullptr || turn->contains("content") || turn->contains("tool_calls")) {
      turn = &start_turn();
    }
    auto& reasoning = (*turn)["reasoning_content"];
    reasoning = reasoning.is_string() ? reasoning.get<std::string>() + "\n\n" + text : text;
  }
  void add_text(std::string text) {
    Json* turn = open_turn();
    if (turn == nullptr || turn->contains("content") || turn->contains("tool_calls")) {
      turn = &start_turn();
    }
    (*turn)["content"] = std::move(text);
  }
  void add_tool_call(Json call) {
    Json* turn = open_turn();
    if (turn == nullptr) {
      turn = &start_turn();
    }
    (*turn)["tool_calls"].push_back(std::move(call));
  }
  Json take() {
    close_assistant();
    return std::move(m_messages);
  }

private:
  Json* open_turn() { return m_assistant_open ? &m_messages.back() : nullptr; }
  Json& start_turn() {
    close_assistant();
    m_messages.push_back(Json{{"role", "assistant"}});
    m_assistant_open = true;
    return m_messages.back();
  }
  // A chat assistant message needs content or tool_calls: one made of reasoning alone
  // gets empty content, one with calls the customary null.
  void close_assistant() {
    if (!m_assistant_open) {
      return;
    }
    auto& turn = m_messages.back();
    if (!turn.contains("content")) {
      turn["content"] = turn.contains("tool_calls") ? Json(nullptr) : Json("");
    }
    m_assistant_open = false;
  }

  Json m_messages = Json::array();
  bool m_assistant_open = false;
};

// One content part of a user, system or developer message as a chat content part.
Result<Json> input_part(const Json& part, const std::string& path) {
  if (!part.is_object()) {
    return fail(wrong_type(path, "a content part object", part));
  }
  auto type = required_string(part, "type", path);
  if (!type) {
    return fail(type.error());
  }
  if (*type == "input_text") {
    auto text = required_string(part, "text", path, true);
    if (!text) {
      return fail(text.error());
    }
    return Json{{"type", "text"}, {"text", std::move(*text)}};
  }
  if (*type == "input_image") {
    if (present(part, "file_id") != nullptr) {
      return fail(bad_field(key_path(path, "file_id"),
                            "askd cannot read files uploaded to OpenAI; send the image as "
                            "image_url (an https: or data: URL)"));
    }
    auto url = required_string(part, "image_url", path);
    if (!url) {
      return fail(url.error());
    }
    auto detail = optional_string(part, "detail", path);
    if (!detail) {
      return fail(detail.error());
    }
    Json image{{"url", std::move(*url)}};
    if (*detail) {
      image["detail"] = std::move(**detail);
    }
    return Json{{"type", "image_url"}, {"image_url", std::move(image)}};
  }
  if (*type == "input_file" || *type == "input_audio") {
    return fail(
        bad_field(key_path(path, "type"), "'" + *type +
                                              "' parts are not supported; send text as input_text "
                                              "and images as input_image"));
  }
  if (*type == "output_text" || *type == "refusal") {
    return fail(
        bad_field(key_path(path, "type"), "'" + *type + "' parts belong in assistant messages"));
  }
  return fail(bad_field(key_path(path, "type"), "unknown content part type '" + *type + "'"));
}

// The text of an assistant message's parts (output_text, refusal, input_text), joined.
Result<std::string> assistant_text(const Json& parts, const std::string& path) {
  std::string text;
  for (std::size_t i = 0; i < parts.size(); ++i) {
    const auto part_path = index_path(path, i);
    const Json& part = parts[i];
    if (!part.is_object()) {
      return fail(wrong_type(part_path, "a content part object", part));
    }
    auto type = required_string(part, "type", part_path);
    if (!type) {
      return fail(type.error());
    }
    const bool is_text = *type == "output_text" || *type == "input_text";
    if (!is_text && *type != "refusal") {
      return fail(bad_field(key_path(part_path, "type"),
                            "expected output_text or refusal in an assistant message, got '" +
                                *type + "'"));
    }
    auto piece = required_string(part, is_text ? "text" : "refusal", part_path, true);
    if (!piece) {
      return fail(piece.error());
    }
    text += *piece;
  }
  return text;
}

Result<void> add_message(const Json& item, const std::string& path, MessageBuilder& out) {
  auto role = required_string(item, "role", path);
  if (!role) {
    return fail(role.error());
  }
  constexpr std::array<std::string_view, 4> k_roles{"user", "assistant", "system", "developer"};
  if (std::find(k_roles.begin(), k_roles.end(), *role) == k_roles.end()) {
    return fail(bad_field(key_path(path, "role"),
                          "expected user, assistant, system or developer, got '" + *role + "'"));
  }
  const auto content_path = key_path(path, "content");
  const Json* content = present(item, "content");
  if (content == nullptr) {
    return fail(bad_field(content_path, "required"));
  }
  if (!content->is_string() && !content->is_array()) {
    return fail(wrong_type(content_path, "a string or an array of content parts", *content));
  }
  if (*role == "assistant") {
    auto text = content->is_string() ? Result<std::string>(content->get<std::string>())
                                     : assistant_text(*content, content_path);
    if (!text) {
      return fail(text.error());
    }
    out.add_text(std::move(*text));
    return {};
  }
  // Developer instructions are system instructions; local chat templates know "system" only.
  Json message{{"role", *role == "developer" ? "system" : *role}};
  if (content->is_string()) {
    message["content"] = *content;
  } else {
    if (content->empty()) {
      return fail(bad_field(content_path, "expected at least one content part"));
    }
    Json parts = Json::array();
    for (std::size_t i = 0; i < content->size(); ++i) {
      auto part = input_part((*content)[i], index_path(content_path, i));
      if (!part) {
        return fail(part.error());
      }
      parts.push_back(std::move(*part));
    }
    message["content"] = std::move(parts);
  }
  out.push(std::move(message));
  return {};
}

Result<void> add_function_call(const Json& item, const std::string& path, MessageBuilder& out) {
  auto call_id = required_string(item, "call_id", path);
  if (!call_id) {
    return fail(call_id.error());
  }
  auto name = required_string(item, "name", path);
  if (!name) {
    return fail(name.error());
  }
  auto arguments = required_string(item, "arguments", path, true);
  if (!arguments) {
    return fail(arguments.error());
  }
  out.add_tool_call(
      Json{{"id", std::move(*call_id)},
           {"type", "function"},
           {"function", {{"name", std::move(*name)}, {"arguments", std::move(*arguments)}}}});
  return {};
}

Result<void> add_function_output(const Json& item, const std::string& path, MessageBuilder& out) {
  auto call_id = required_string(item, "call_id", path);
  if (!call_id) {
    return fail(call_id.error());
  }
  const auto output_path = key_path(path, "output");
  const Json* output = present(item, "output");
  if (output == nullptr) {
    return fail(bad_field(output_path, "required"));
  }
  Json content;
  if (output->is_string()) {
    content = *output;
  } else if (output->is_array()) {
    content = Json::array();
    for (std::size_t i = 0; i < output->size(); ++i) {
      const auto part_path = index_path(output_path, i);
      const Json& part = (*output)[i];
      const Json* type = part.is_object() ? present(part, "type") : nullptr;
      if (type == nullptr || *type != "input_text") {
        return fail(bad_field(part_path, "expected an input_text part (askd passes tool "
                                         "output to the model as text)"));
      }
      auto text = required_string(part, "text", part_path, true);
      if (!text) {
        return fail(text.error());
      }
      content.push_back(Json{{"type", "text"}, {"text", std::move(*text)}});
    }
  } else {
    return fail(wrong_type(output_path, "a string or an array of input_text parts", *output));
  }
  out.push(Json{{"role", "tool"}, {"tool_call_id", std::move(*call_id)}, {"content", content}});
  return {};
}

// The text of a reasoning item's `key` parts ("content": reasoning_text, "summary":
// summary_text), joined with blank lines; empty when there are none.
Result<std::string> reasoning_parts(const Json& item, std::string_view key,
                                    const std::string& path) {
  const auto parts_path = key_path(path, key);
  const Json* parts = present(item, key);
  if (parts == nullptr) {
    return std::string();
  }
  if (!parts->is_array()) {
    return fail(wrong_type(parts_path, "an array", *parts));
  }
  std::string text;
  for (std::size_t i = 0; i < parts->size(); ++i) {
    const auto part_path = index_path(parts_path, i);
    if (!(*parts)[i].is_object()) {
      return fail(wrong_type(part_path, "an object", (*parts)[i]));
    }
    auto piece = required_string((*parts)[i], "text", part_path, true);
    if (!piece) {
      return fail(piece.error());
    }
    text += (text.empty() ? "" : "\n\n") + *piece;
  }
  return text;
}

// A reasoning item becomes the assistant turn's reasoning_content: its full text when the
// item has it, else its summary. encrypted_content means something to OpenAI's servers only.
Result<void> add_reasoning(const Json& item, const std::string& path, MessageBuilder& out) {
  auto content = reasoning_parts(item, "content", path);
  if (!content) {
    return fail(content.error());
  }
  auto summary = reasoning_parts(item, "summary", path);
  if (!summary) {
    return fail(summary.error());
  }
  const std::string& text = content->empty() ? *summary : *content;
  if (!text.empty()) {
    out.add_reasoning(text);
  }
  return {};
}

Result<void> add_item(const Json& item, const std::string& path, MessageBuilder& out) {
  if (!item.is_object()) {
    return fail(wrong_type(path, "an input item object", item));
  }
  auto type = optional_string(item, "type", path);
  if (!type) {
    return fail(type.error());
  }
  if (!*type || **type == "message") {
    if (!*type && !item.contains("role")) {
      return fail(bad_field(path, "expected a message (role and content) or an item with a type"));
    }
    return add_message(item, path, out);
  }
  if (**type == "function_call") {
    return add_function_call(item, path, out);
  }
  if (**type == "function_call_output") {
    return add_function_output(item, path, out);
  }
  if (**type == "reasoning") {
    return add_reasoning(item, path, out);
  }
  if (**type == "item_reference") {
    return fail(bad_field(key_path(path, "type"),
                          "askd does not store responses, so it cannot look items up by id; "
                          "send the items themselves"));
  }
  return fail(bad_field(key_path(path, "type"),
                        "unsupported item type '" + **type +
                            "' (askd takes message, function_call, function_call_output and "
                            "reasoning items)"));
}

Result<Json> chat_messages(const Json& body) {
  MessageBuilder out;
  auto instructions = optional_string(body, "instructions", "");
  if (!instructions) {
    return fail(instructions.error());
  }
  if (*instructions && !(*instructions)->empty()) {
    out.push(Json{{"role", "system"}, {"content", std::move(**instructions)}});
  }
  const Json* input = present(body, "input");
  if (input == nullptr) {
    return fail(bad_field("input", "required"));
  }
  if (input->is_string()) {
    out.push(Json{{"role", "user"}, {"content", *input}});
  } else if (input->is_array()) {
    if (input->empty()) {
      return fail(bad_field("input", "expected at least one item"));
    }
    for (std::size_t i = 0; i < input->size(); ++i) {
      auto added = add_item((*input)[i], index_path("input", i), out);
      if (!added) {
        return fail(added.error());
      }
    }
  } else {
    return fail(wrong_type("input", "a string or an array of items", *input));
  }
  return out.take();
}

// A function tool as a chat tool; nullopt for the other types, which are skipped as
// llama-server b10587 skips them: tools OpenAI's servers run (web_search, file_search, …) and
// Codex's "namespace" groups of tools have no chat equivalent, and refusing them would refuse
// every request of the clients that always send them (Codex 0.171 sends both).
Result<std::optional<Json>> chat_tool(const Json& tool, const std::string& path) {
  if (!tool.is_object()) {
    return fail(wrong_type(path, "a tool object", tool));
  }
  auto type = required_string(tool, "type", path);
  if (!type) {
    return fail(type.error());
  }
  if (*type != "function") {
    return std::optional<Json>();
  }
  auto name = required_string(tool, "name", path);
  if (!name) {
    return fail(name.error());
  }
  Json function{{"name", std::move(*name)}};
  auto description = optional_string(tool, "description", path);
  if (!description) {
    return fail(description.error());
  }
  if (*description) {
    function["description"] = std::move(**description);
  }
  if (const Json* parameters = present(tool, "parameters")) {
    if (!parameters->is_object()) {
      return fail(wrong_type(key_path(path, "parameters"), "a JSON schema object", *parameters));
    }
    function["parameters"] = *parameters;
  }
  if (const Json* strict = present(tool, "strict")) {
    if (!strict->is_boolean()) {
      return fail(wrong_type(key_path(path, "strict"), "a boolean", *strict));
    }
    function["strict"] = *strict;
  }
  return Json{{"type", "function"}, {"function", std::move(function)}};
}

Result<std::optional<Json>> chat_tools(const Json& body) {
  const Json* tools = present(body, "tools");
  if (tools == nullptr) {
    return std::nullopt;
  }
  if (!tools->is_array()) {
    return fail(wrong_type("tools", "an array", *tools));
  }
  if (tools->empty()) {
    return std::nullopt;
  }
  Json out = Json::array();
  for (std::size_t i = 0; i < tools->size(); ++i) {
    auto tool = chat_tool((*tools)[i], index_path("tools", i));
    if (!tool) {
      return fail(tool.error());
    }
    if (*tool) {
      out.push_back(std::move(**tool));
    }
  }
  if (out.empty()) {
    return std::nullopt;
  }
  return out;
}

Result<std::optional<Json>> chat_tool_choice(const Json& body) {
  const Json* choice = present(body, "tool_choice");
  if (choice == nullptr) {
    return std::nullopt;
  }
  if (choice->is_string()) {
    const auto mode = choice->get<std::string>();
    if (mode != "none" && mode != "auto" && mode != "required") {
      return fail(bad_field("tool_choice", "expected none, auto or required, got '" + mode + "'"));
    }
    return *choice;
  }
  if (!choice->is_object()) {
    return fail(wrong_type("tool_choice", "a string or an object", *choice));
  }
  auto type = required_string(*choice, "type", "tool_choice");
  if (!type) {
    return fail(type.error());
  }
  if (*type == "function") {
    auto name = required_string(*choice, "name", "tool_choice");
    if (!name) {
      return fail(name.error());
    }
    return Json{{"type", "function"}, {"function", {{"name", std::move(*name)}}}};
  }
  if (*type == "allowed_tools") {
    return fail(bad_field("tool_choice.type", "'allowed_tools' is not supported; send only the "
                                              "allowed tools in tools instead"));
  }
  return fail(
      bad_field("tool_choice.type", "'" + *type +
                                        "' is a tool that OpenAI's servers run; askd offers "
                                        "function tools only"));
}

// text.format as a chat response_format; nullopt for plain text.
Result<std::optional<Json>> chat_response_format(const Json& body) {
  const Json* text = present(body, "text");
  if (text == nullptr) {
    return std::nullopt;
  }
  if (!text->is_object()) {
    return fail(wrong_type("text", "an object", *text));
  }
  const Json* format = present(*text, "format");
  if (format == nullptr) {
    return std::nullopt;
  }
  if (!format->is_object()) {
    return fail(wrong_type("text.format", "an object", *format));
  }
  auto type = required_string(*format, "type", "text.format");
  if (!type) {
    return fail(type.error());
  }
  if (*type == "text") {
    return std::nullopt;
  }
  if (*type == "json_object") {
    return Json{{"type", "json_object"}};
  }
  if (*type != "json_schema") {
    return fail(bad_field("text.format.type",
                          "expected text, json_object or json_schema, got '" + *type + "'"));
  }
  const Json* schema = present(*format, "schema");
  if (schema == nullptr) {
    return fail(bad_field("text.format.schema", "required"));
  }
  if (!schema->is_object()) {
    return fail(wrong_type("text.format.schema", "a JSON schema object", *schema));
  }
  auto name = optional_string(*format, "name", "text.format");
  if (!name) {
    return fail(name.error());
  }
  auto description = optional_string(*format, "description", "text.format");
  if (!description) {
    return fail(description.error());
  }
  Json json_schema{{"name", name->value_or("response")}, {"schema", *schema}};
  if (*description) {
    json_schema["description"] = std::move(**description);
  }
  if (const Json* strict = present(*format, "strict")) {
    if (!strict->is_boolean()) {
      return fail(wrong_type("text.format.strict", "a boolean", *strict));
    }
    json_schema["strict"] = *strict;
  }
  return Json{{"type", "json_schema"}, {"json_schema", std::move(json_schema)}};
}

// An integer >= 1 (16.0 counts, as in chat requests).
std::optional<long long> positive_integer(const Json& value) {
  if (value.is_number_unsigned() || value.is_number_integer()) {
    const auto n =
        value.is_number_unsigned()
            ? static_cast<long long>(std::min<std::uint64_t>(value.get<std::uint64_t>(), 1LL << 62))
            : value.get<long long>();
    return n >= 1 ? std::optional(n) : std::nullopt;
  }
  if (value.is_number_float()) {
    const double d = value.get<double>();
    if (d >= 1 && d < 9.0e18 && std::floor(d) == d) {
      return static_cast<long long>(d);
    }
  }
  return std::nullopt;
}

// Fields of a Responses request that mean something else, or nothing, in a chat request:
// to_openai maps or drops them. Any other field passes through (sampling settings a backend
// knows, such as top_k or seed).
// clang-format off
constexpr std::array<std::string_view, 27> k_responses_fields = {{
    "background", "conversation", "include", "input", "instructions", "max_output_tokens",
    "max_tool_calls", "metadata", "model", "parallel_tool_calls", "previous_response_id", "prompt",
    "prompt_cache_key", "reasoning", "safety_identifier", "service_tier", "store", "stream",
    "stream_options", "temperature", "text", "tool_choice", "tools", "top_logprobs", "top_p",
    "truncation", "user"}};
// clang-format on

// Requests that need state askd does not keep.
Result<void> refuse_stateful(const Json& body) {
  if (present(body, "previous_response_id") != nullptr) {
    return fail(bad_field("previous_response_id",
                          "askd does not store responses; send the whole conversation in input "
                          "instead"));
  }
  if (present(body, "conversation") != nullptr) {
    return fail(bad_field("conversation", "askd does not store conversations; send the whole "
                                          "conversation in input instead"));
  }
  if (present(body, "prompt") != nullptr) {
    return fail(bad_field("prompt", "askd has no stored prompts; send the prompt's text in "
                                    "instructions and input instead"));
  }
  if (const Json* background = present(body, "background")) {
    if (!background->is_boolean()) {
      return fail(wrong_type("background", "a boolean", *background));
    }
    if (background->get<bool>()) {
      return fail(bad_field("background", "askd answers in the foreground only; leave "
                                          "background out or set it to false"));
    }
  }
  return {};
}

// model, stream, the sampling settings and parallel_tool_calls, checked and copied.
Result<void> copy_settings(const Json& body, Json& chat) {
  if (const Json* model = present(body, "model")) {
    if (!model->is_string()) {
      return fail(wrong_type("model", "a string", *model));
    }
    chat["model"] = *model;
  }
  for (const std::string_view key : {"stream", "parallel_tool_calls"}) {
    if (const Json* flag = present(body, key)) {
      if (!flag->is_boolean()) {
        return fail(wrong_type(std::string(key), "a boolean", *flag));
      }
      chat[key] = *flag;
    }
  }
  for (const std::string_view key : {"temperature", "top_p"}) {
    if (const Json* number = present(body, key)) {
      if (!number->is_number()) {
        return fail(wrong_type(std::string(key), "a number", *number));
      }
      chat[key] = *number;
    }
  }
  if (const Json* limit = present(body, "max_output_tokens")) {
    const auto n = positive_integer(*limit);
    if (!n) {
      return fail(bad_field("max_output_tokens", "expected an integer >= 1"));
    }
    chat["max_tokens"] = *n;
  }
  if (const Json* reasoning = present(body, "reasoning")) {
    if (!reasoning->is_object()) {
      return fail(wrong_type("reasoning", "an object", *reasoning));
    }
    auto effort = optional_string(*reasoning, "effort", "reasoning");
    if (!effort) {
      return fail(effort.error());
    }
    if (*effort) {
      chat["reasoning_effort"] = std::move(**effort);
    }
  }
  auto user = optional_string(body, "user", "");
  if (!user) {
    return fail(user.error());
  }
  if (*user) {
    chat["user"] = std::move(**user);
  }
  return {};
}

} // namespace
} // namespace responses_detail

namespace rd = responses_detail;

core::Result<core::Json> ResponsesDialect::to_openai(const core::Json& body) const {
  using core::Json;
  if (!body.is_object()) {
    return core::fail(
        core::Error::bad_request("request body: expected a JSON object, got " + rd::a_type(body)));
  }
  if (auto refused = rd::refuse_stateful(body); !refused) {
    return core::fail(refused.error());
  }
  Json chat = Json::object();
  for (const auto& [key, value] : body.items()) {
    if (std::find(rd::k_responses_fields.begin(), rd::k_responses_fields.end(), key) ==
        rd::k_responses_fields.end()) {
      chat[key] = value;
    }
  }
  if (auto copied = rd::copy_settings(body, chat); !copied) {
    return core::fail(copied.error());
  }
  auto messages = rd::chat_messages(body);
  if (!messages) {
    return core::fail(messages.error());
  }
  chat["messages"] = std::move(*messages);
  auto tools = rd::chat_tools(body);
  if (!tools) {
    return core::fail(tools.error());
  }
  if (*tools) {
    chat["tools"] = std::move(**tools);
  }
  auto tool_choice = rd::chat_tool_choice(body);
  if (!tool_choice) {
    return core::fail(tool_choice.error());
  }
  if (*tool_choice) {
    chat["tool_choice"] = std::move(**tool_choice);
  }
  auto format = rd::chat_response_format(body);
  if (!format) {
    return core::fail(format.error());
  }
  if (*format) {
    chat["response_format"] = std::move(**format);
  }
  return chat;
}

} // namespace ask::proxy
