#include "core/openai.h"

#include <array>
#include <cmath>
#include <limits>

#include "core/excerpt.h"
#include "core/json_text.h"
#include "core/openai_detail.h"

namespace ask::core {

namespace detail {

namespace {

// Reads "function": {"name","arguments", ...} into `call`; other keys go to
// call.extra["function"].
Result<void> parse_tool_function(const Json& fn, const std::string& path, bool strict,
                                 ToolCall& call) {
  if (!fn.is_object()) {
    return fail(type_error(path, "an object", fn));
  }
  Json rest = Json::object();
  for (const auto& [key, v] : fn.items()) {
    if (key == "name" && (strict || !v.is_null())) {
      auto name = read_string(v, field_path(path, "name"));
      if (!name) {
        return fail(name.error());
      }
      call.function.name = std::move(*name);
    } else if (key == "arguments" && (strict || v.is_string())) {
      auto args = read_string(v, field_path(path, "arguments"));
      if (!args) {
        return fail(invalid(field_path(path, "arguments"),
                            "expected a string (the JSON-encoded arguments), got " +
                                std::string(json_kind(v))));
      }
      call.function.arguments = std::move(*args);
    } else if (key == "arguments" && v.is_object()) {
      // Lenient: Ollama-style object arguments, re-encoded as the string OpenAI sends.
      call.function.arguments = dump_json(v);
    } else {
      rest[key] = v;
    }
  }
  if (strict && call.function.name.empty()) {
    return fail(invalid(field_path(path, "name"), "required, a non-empty string"));
  }
  if (strict && !fn.contains("arguments")) {
    return fail(invalid(field_path(path, "arguments"), "required"));
  }
  if (!rest.empty()) {
    call.extra["function"] = std::move(rest);
  }
  return {};
}

} // namespace

Result<ToolCall> parse_tool_call(const Json& value, const std::string& path, bool strict) {
  if (!value.is_object()) {
    return fail(type_error(path, "an object", value));
  }
  ToolCall call;
  for (const auto& [key, v] : value.items()) {
    if ((key == "id" || key == "type") && (strict || v.is_string())) {
      auto s = read_string(v, field_path(path, key));
      if (!s) {
        return fail(s.error());
      }
      (key == "id" ? call.id : call.type) = std::move(*s);
    } else if (key == "function") {
      if (auto ok = parse_tool_function(v, field_path(path, key), strict, call); !ok) {
        return fail(ok.error());
      }
    } else {
      call.extra[key] = v;
    }
  }
  if (strict) {
    for (const char* key : {"id", "type", "function"}) {
      if (!value.contains(key)) {
        return fail(invalid(field_path(path, key), "required"));
      }
    }
    if (call.type != "function") {
      return fail(invalid(field_path(path, "type"), "expected \"function\""));
    }
  }
  return call;
}

Json tool_call_to_json(const ToolCall& call) {
  Json out = call.extra.is_object() ? call.extra : Json::object();
  Json fn =
      out.contains("function") && out["function"].is_object() ? out["function"] : Json::object();
  fn["name"] = call.function.name;
  fn["arguments"] = call.function.arguments;
  out["id"] = call.id;
  out["type"] = call.type;
  out["function"] = std::move(fn);
  return out;
}

} // namespace detail

using detail::field_path;
using detail::index_path;
using detail::invalid;
using detail::read_string;
using detail::type_error;

namespace {

constexpr std::array<std::string_view, 6> k_roles = {"system",    "developer", "user",
                                                     "assistant", "tool",      "function"};

Result<void> parse_image_part(const Json& part, const std::string& path, ContentPart& out) {
  const auto it = part.find("image_url");
  const auto image_path = field_path(path, "image_url");
  if (it == part.end()) {
    return fail(invalid(image_path, "required for an image_url part"));
  }
  if (!it->is_object()) {
    return fail(type_error(image_path, "an object", *it));
  }
  const auto url = it->find("url");
  if (url == it->end()) {
    return fail(invalid(field_path(image_path, "url"), "required"));
  }
  auto url_text = read_string(*url, field_path(image_path, "url"));
  if (!url_text) {
    return fail(url_text.error());
  }
  out.image_url = std::move(*url_text);
  if (const auto detail = it->find("detail"); detail != it->end()) {
    auto d = detail::read_optional_string(*detail, field_path(image_path, "detail"));
    if (!d) {
      return fail(d.error());
    }
    out.image_detail = std::move(*d);
  }
  return {};
}

Result<ContentPart> parse_part(const Json& value, const std::string& path) {
  if (!value.is_object()) {
    return fail(type_error(path, "an object", value));
  }
  ContentPart part;
  part.raw = value;
  const auto type = value.find("type");
  if (type == value.end()) {
    return fail(invalid(field_path(path, "type"), "required"));
  }
  auto type_text = read_string(*type, field_path(path, "type"));
  if (!type_text) {
    return fail(type_text.error());
  }
  part.type = std::move(*type_text);
  if (part.type == "text") {
    const auto text = value.find("text");
    if (text == value.end()) {
      return fail(invalid(field_path(path, "text"), "required for a text part"));
    }
    auto t = read_string(*text, field_path(path, "text"));
    if (!t) {
      return fail(t.error());
    }
    part.text = std::move(*t);
  } else if (part.type == "image_url") {
    if (auto ok = parse_image_part(value, path, part); !ok) {
      return fail(ok.error());
    }
  }
  return part;
}

Result<void> parse_content(const Json& value, const std::string& path, Message& msg) {
  if (value.is_null()) {
    msg.extra["content"] = nullptr;
    return {};
  }
  if (value.is_string()) {
    msg.content = value.get<std::string>();
    return {};
  }
  if (!value.is_array()) {
    return fail(type_error(path, "a string, an array of content parts or null", value));
  }
  msg.content_is_parts = true;
  for (std::size_t i = 0; i < value.size(); ++i) {
    auto part = parse_part(value[i], index_path(path, i));
    if (!part) {
      return fail(part.error());
    }
    msg.content_parts.push_back(std::move(*part));
  }
  return {};
}

Result<void> parse_tool_calls(const Json& value, const std::string& path, bool strict,
                              Message& msg) {
  if (!value.is_array()) {
    return fail(type_error(path, "an array", value));
  }
  if (value.empty()) {
    msg.extra["tool_calls"] = value;
    return {};
  }
  for (std::size_t i = 0; i < value.size(); ++i) {
    auto call = detail::parse_tool_call(value[i], index_path(path, i), strict);
    if (!call) {
      return fail(call.error());
    }
    msg.tool_calls.push_back(std::move(*call));
  }
  return {};
}

// Reads one key of a message into `msg`; unknown keys and nulls go to msg.extra.
Result<void> parse_message_field(const std::string& key, const Json& v, const std::string& path,
                                 bool strict, Message& msg) {
  const auto here = field_path(path, key);
  if (key == "content") {
    return parse_content(v, here, msg);
  }
  if (v.is_null() && key != "role") {
    msg.extra[key] = nullptr;
    return {};
  }
  if (key == "tool_calls") {
    return parse_tool_calls(v, here, strict, msg);
  }
  std::optional<std::string>* target = nullptr;
  if (key == "name") {
    target = &msg.name;
  } else if (key == "reasoning_content") {
    target = &msg.reasoning_content;
  } else if (key == "tool_call_id") {
    target = &msg.tool_call_id;
  }
  if (key != "role" && target == nullptr) {
    msg.extra[key] = v;
    return {};
  }
  auto s = read_string(v, here);
  if (!s) {
    return fail(s.error());
  }
  if (target == nullptr) {
    msg.role = std::move(*s);
  } else {
    *target = std::move(*s);
  }
  return {};
}

bool known_role(std::string_view role) {
  for (auto r : k_roles) {
    if (r == role) {
      return true;
    }
  }
  return false;
}

// The request rules that go beyond JSON types (see parse_chat_request in the header).
Result<void> check_message_rules(const Message& msg, const std::string& path) {
  if (!known_role(msg.role)) {
    return fail(invalid(field_path(path, "role"),
                        "unknown role " + detail::quoted(msg.role) +
                            " (expected system, developer, user, assistant, tool or "
                            "function)"));
  }
  const bool has_content = msg.content.has_value() || msg.content_is_parts;
  if (!msg.tool_calls.empty() && msg.role != "assistant") {
    return fail(
        invalid(field_path(path, "tool_calls"), "only assistant messages may have tool_calls"));
  }
  if (!has_content && (msg.role == "system" || msg.role == "developer" || msg.role == "user" ||
                       msg.role == "tool")) {
    return fail(invalid(field_path(path, "content"), "required for " + msg.role + " messages"));
  }
  if (msg.role == "tool" && !msg.tool_call_id) {
    return fail(invalid(field_path(path, "tool_call_id"), "required for tool messages"));
  }
  if (msg.role == "assistant" && !has_content && msg.tool_calls.empty() &&
      !msg.extra.contains("function_call")) {
    return fail(invalid(path, "an assistant message needs content or tool_calls"));
  }
  return {};
}

Result<Message> parse_message_object(const Json& value, const std::string& path, bool strict) {
  if (!value.is_object()) {
    return fail(type_error(path, "an object", value));
  }
  Message msg;
  const bool has_reasoning_content = value.contains("reasoning_content");
  for (const auto& [key, v] : value.items()) {
    if (!strict && key == "reasoning" && v.is_string() && !has_reasoning_content) {
      msg.reasoning_content = v.get<std::string>(); // Ollama's name for it
      continue;
    }
    if (auto ok = parse_message_field(key, v, path, strict, msg); !ok) {
      return fail(ok.error());
    }
  }
  if (!value.contains("role")) {
    return fail(invalid(field_path(path, "role"), "required"));
  }
  if (strict) {
    if (auto ok = check_message_rules(msg, path); !ok) {
      return fail(ok.error());
    }
  }
  return msg;
}

Json part_to_json(const ContentPart& part) {
  Json out = part.raw.is_object() ? part.raw : Json::object();
  out["type"] = part.type;
  if (part.type == "text") {
    out["text"] = part.text;
  } else if (part.type == "image_url") {
    Json image = out.contains("image_url") && out["image_url"].is_object() ? out["image_url"]
                                                                           : Json::object();
    image["url"] = part.image_url;
    if (part.image_detail) {
      image["detail"] = *part.image_detail;
    }
    out["image_url"] = std::move(image);
  }
  return out;
}

} // namespace

namespace detail {

Result<Message> parse_reply_message(const Json& value, const std::string& path) {
  return parse_message_object(value, path, false);
}

} // namespace detail

std::string Message::text() const {
  if (!content_is_parts) {
    return content.value_or(std::string{});
  }
  std::string out;
  bool first = true;
  for (const auto& part : content_parts) {
    if (part.type != "text") {
      continue;
    }
    if (!first) {
      out += '\n';
    }
    out += part.text;
    first = false;
  }
  return out;
}

Result<Message> parse_message(const Json& value, const std::string& path) {
  return parse_message_object(value, path, true);
}

Json to_json(const Message& msg) {
  Json out = msg.extra.is_object() ? msg.extra : Json::object();
  out["role"] = msg.role;
  if (msg.content_is_parts) {
    Json parts = Json::array();
    for (const auto& part : msg.content_parts) {
      parts.push_back(part_to_json(part));
    }
    out["content"] = std::move(parts);
  } else if (msg.content) {
    out["content"] = *msg.content;
  }
  if (msg.name) {
    out["name"] = *msg.name;
  }
  if (msg.reasoning_content) {
    out["reasoning_content"] = *msg.reasoning_content;
  }
  if (!msg.tool_calls.empty()) {
    Json calls = Json::array();
    for (const auto& call : msg.tool_calls) {
      calls.push_back(detail::tool_call_to_json(call));
    }
    out["tool_calls"] = std::move(calls);
  }
  if (msg.tool_call_id) {
    out["tool_call_id"] = *msg.tool_call_id;
  }
  return out;
}

} // namespace ask::core
