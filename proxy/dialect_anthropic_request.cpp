// AnthropicDialect, the request side: an Anthropic Messages request as an OpenAI chat
// request. The mappings:
//   model, max_tokens (both required), stream, temperature (0..1), top_p, top_k: as named
//   stop_sequences -> stop; metadata and fields askd does not know -> dropped
//   system (a string, or text blocks joined with nothing between them, as llama-server's own
//     door joins them) -> a first system message; messages with role "system" (Claude Code
//     2.x sends its agent list as one after the first user message) join it, in order, after
//     a blank line: local chat templates take one system message, first

//   user text and image blocks -> one user message: a string (texts joined with "\n", as
//     llama.cpp joins text parts) or, with an image, parts; image source base64 -> a data:
//     URL, url -> the URL
//   user tool_result blocks -> tool messages (tool_call_id = tool_use_id), placed before the
//     rest of that user message since a chat tool message must follow the assistant's
//     tool_calls; is_error puts "Error: " before the result's text
//   assistant text -> content, tool_use -> tool_calls (arguments = the JSON text of input),
//     thinking -> reasoning_content, redacted_thinking -> dropped (opaque to any model but
//     Claude); an empty last assistant message is dropped, a non-empty one stays (prefill)
//   tools [{name, description, input_schema}] -> function tools; tool types other than
//     "custom" (Anthropic's server tools: web search, code execution) are refused, since
//     nothing here can run them
//   tool_choice auto|any|tool|none -> "auto"|"required"|{function}|"none";
//     disable_parallel_tool_use -> parallel_tool_calls false
//   thinking enabled|adaptive -> chat_template_kwargs.enable_thinking true (and budget_tokens
//     -> thinking_budget_tokens, which llama-server reads); disabled -> false
#include "proxy/dialect_anthropic.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/json_text.h"

namespace ask::proxy {

// Helpers in a named namespace: a unity build puts this file in one translation unit with
// other proxy files, whose anonymous-namespace helpers would clash with same-named ones.
namespace anthropic_request {
namespace {

using core::Error;
using core::fail;
using core::Json;
using core::Result;

// Anthropic accepts these image types (and refuses others); so does askd, naming the field.
constexpr std::array<std::string_view, 4> k_image_media_types = {"image/jpeg", "image/png",
                                                                 "image/gif", "image/webp"};
// core's chat parser takes at most 16 stop strings; refused here under Anthropic's name.
constexpr std::size_t k_max_stop_sequences = 16;

Error bad_field(const std::string& path, std::string_view what) {
  return Error::bad_request(path + ": " + std::string(what));
}

std::string kind_of(const Json& v) {
  switch (v.type()) {
  case Json::value_t::null:
    return "null";
  case Json::value_t::boolean:
    return "a boolean";
  case Json::value_t::string:
    return "a string";
  case Json::value_t::number_integer:
  case Json::value_t::number_unsigned:
  case Json::value_t::number_float:
    return "a number";
  case Json::value_t::array:
    return "an array";
  case Json::value_t::object:
    return "an object";
  default:
    return "an unsupported value";
  }
}

Error expected(const std::string& path, std::string_view wanted, const Json& got) {
  return bad_field(path, "expected " + std::string(wanted) + ", got " + kind_of(got));
}

std::string index_path(const std::string& base, std::size_t i) {
  return base + "[" + std::to_string(i) + "]";
}

// The member `key`, or nullptr when absent or null (SDKs send null for "unset").
const Json* member(const Json& obj, std::string_view key) {
  const auto it = obj.find(key);
  return it == obj.end() || it->is_null() ? nullptr : &*it;
}

// A signed 64-bit integer from an integer or an integral float; nullopt otherwise.
std::optional<long long> as_int64(const Json& v) {
  if (v.is_number_integer()) {
    if (v.is_number_unsigned() &&
        v.get<unsigned long long>() >
            static_cast<unsigned long long>(std::numeric_limits<long long>::max())) {
      return std::nullopt;
    }
    return v.get<long long>();
  }
  if (v.is_number_float()) {
    const double d = v.get<double>();
    // 2^63 is exact as a double; anything at or above it does not fit.
    if (std::isfinite(d) && std::floor(d) == d && d >= -9223372036854775808.0 &&
        d < 9223372036854775808.0) {
      return static_cast<long long>(d);
    }
  }
  return std::nullopt;
}

// A required string member; `non_empty` refuses "".
Result<std::string> required_string(const Json& obj, std::string_view key, const std::string& path,
                                    bool non_empty) {
  const std::string field = path.empty() ? std::string(key) : path + "." + std::string(key);
  const Json* v = member(obj, key);
  if (v == nullptr) {
    return fail(bad_field(field, "required"));
  }
  if (!v->is_string()) {
    return fail(expected(field, "a string", *v));
  }
  if (non_empty && v->get_ref<const std::string&>().empty()) {
    return fail(bad_field(field, "must not be empty"));
  }
  return v->get<std::string>();
}

// Claude Code's first system block, "x-anthropic-billing-header: ...; cch=a5145;...", changes
// its 5-character cch stamp on every request, which would defeat the backend's prompt cache
// from the first token. The stamp means nothing to a local model: it is replaced by "fffff",
// as llama-server's own door does (llama.cpp PR 21793).
void normalize_billing_header(std::string& text) {
  constexpr std::string_view k_prefix = "x-anthropic-billing-header:";
  constexpr std::size_t k_stamp = 5;
  if (!text.starts_with(k_prefix)) {
    return;
  }
  const auto at = text.find("cch=", k_prefix.size());
  if (at == std::string::npos) {
    return;
  }
  const auto start = at + 4;
  if (start + k_stamp < text.size() && text[start + k_stamp] == ';') {
    text.replace(start, k_stamp, k_stamp, 'f');
  }
}

// `system` (or a system message's content, at `field`): a string or text blocks.
Result<std::string> system_text(const Json& system, const std::string& field = "system") {
  if (system.is_string()) {
    std::string text = system.get<std::string>();
    normalize_billing_header(text);
    return text;
  }
  if (!system.is_array()) {
    return fail(expected(field, "a string or an array of text blocks", system));
  }
  std::string joined;
  for (std::size_t i = 0; i < system.size(); ++i) {
    const auto path = index_path(field, i);
    const Json& block = system[i];
    if (!block.is_object()) {
      return fail(expected(path, "a text block", block));
    }
    auto type = required_string(block, "type", path, false);
    if (!type) {
      return fail(type.error());
    }
    if (*type != "text") {
      return fail(bad_field(path + ".type", "expected \"text\", got \"" + *type + "\""));
    }
    auto text = required_string(block, "text", path, false);
    if (!text) {
      return fail(text.error());
    }
    normalize_billing_header(*text);
    joined += *text;
  }
  return joined;
}

// {"type":"image_url","image_url":{"url":...}} from an image block's source.
Result<Json> image_part(const Json& block, const std::string& path) {
  const Json* source = member(block, "source");
  const auto source_path = path + ".source";
  if (source == nullptr) {
    return fail(bad_field(source_path, "required"));
  }
  if (!source->is_object()) {
    return fail(expected(source_path, "an object", *source));
  }
  auto type = required_string(*source, "type", source_path, false);
  if (!type) {
    return fail(type.error());
  }
  std::string url;
  if (*type == "base64") {
    auto media_type = required_string(*source, "media_type", source_path, false);
    if (!media_type) {
      return fail(media_type.error());
    }
    if (std::ranges::find(k_image_media_types, *media_type) == k_image_media_types.end()) {
      return fail(bad_field(source_path + ".media_type",
                            "expected image/jpeg, image/png, image/gif or image/webp, got \"" +
                                *media_type + "\""));
    }
    auto data = required_string(*source, "data", source_path, true);
    if (!data) {
      return fail(data.error());
    }
    url = "data:" + *media_type + ";base64," + *data;
  } else if (*type == "url") {
    auto given = required_string(*source, "url", source_path, true);
    if (!given) {
      return fail(given.error());
    }
    url = std::move(*given);
  } else {
    return fail(bad_field(source_path + ".type", "expected \"base64\" or \"url\", got \"" + *type +
                                                     "\" (askd has no Files API)"));
  }
  return Json{{"type", "image_url"}, {"image_url", {{"url", url}}}};
}

// Text blocks joined with "\n", or, when an image is among them, chat content parts.
struct Parts {
  std::vector<Json> parts; // {"type":"text"} and {"type":"image_url"} parts, in order
  bool has_image = false;

  bool empty() const { return parts.empty(); }
  Json content() const {
    if (has_image) {
      return parts;
    }
    std::string text;
    for (const auto& part : parts) {
      if (!text.empty()) {
        text += '\n';
      }
      text += part["text"].get<std::string>();
    }
    return text;
  }
};

// A text block's text into `parts` (empty texts add nothing).
Result<void> add_text(const Json& block, const std::string& path, Parts& parts) {
  auto text = required_string(block, "text", path, false);
  if (!text) {
    return fail(text.error());
  }
  if (!text->empty()) {
    parts.parts.push_back({{"type", "text"}, {"text", std::move(*text)}});
  }
  return {};
}

Result<void> add_image(const Json& block, const std::string& path, Parts& parts) {
  auto part = image_part(block, path);
  if (!part) {
    return fail(part.error());
  }
  parts.parts.push_back(std::move(*part));
  parts.has_image = true;
  return {};
}

// The block's "type", checked to be a string.
Result<std::string> block_type(const Json& block, const std::string& path) {
  if (!block.is_object()) {
    return fail(expected(path, "a content block (an object)", block));
  }
  return required_string(block, "type", path, false);
}

Error unsupported_block(const std::string& path, const std::string& type, std::string_view role,
                        std::string_view supported) {
  return bad_field(path + ".type", "unsupported content block type \"" + type + "\" in a" +
                                       (role == "user" ? " user" : "n assistant") +
                                       " message (askd translates " + std::string(supported) + ")");
}

// A tool_result block as a chat tool message.
Result<Json> tool_message(const Json& block, const std::string& path) {
  auto id = required_string(block, "tool_use_id", path, true);
  if (!id) {
    return fail(id.error());
  }
  bool is_error = false;
  if (const Json* flag = member(block, "is_error")) {
    if (!flag->is_boolean()) {
      return fail(expected(path + ".is_error", "a boolean", *flag));
    }
    is_error = flag->get<bool>();
  }
  Parts parts;
  const Json* content = member(block, "content");
  const auto content_path = path + ".content";
  if (content != nullptr && content->is_string()) {
    if (!content->get_ref<const std::string&>().empty()) {
      parts.parts.push_back({{"type", "text"}, {"text", *content}});
    }
  } else if (content != nullptr && content->is_array()) {
    for (std::size_t j = 0; j < content->size(); ++j) {
      const auto inner_path = index_path(content_path, j);
      auto type = block_type((*content)[j], inner_path);
      if (!type) {
        return fail(type.error());
      }
      Result<void> added;
      if (*type == "text") {
        added = add_text((*content)[j], inner_path, parts);
      } else if (*type == "image") {
        added = add_image((*content)[j], inner_path, parts);
      } else {
        return fail(bad_field(inner_path + ".type", "unsupported block type \"" + *type +
                                                        "\" in a tool result (askd "
                                                        "translates text and image)"));
      }
      if (!added) {
        return fail(added.error());
      }
    }
  } else if (content != nullptr) {
    return fail(expected(content_path, "a string or an array of blocks", *content));
  }
  if (is_error) {
    // A chat tool message has no error flag: the model learns it from the text.
    const auto first_text =
        std::ranges::find_if(parts.parts, [](const Json& part) { return part["type"] == "text"; });
    if (first_text == parts.parts.end()) {
      parts.parts.insert(parts.parts.begin(), Json{{"type", "text"}, {"text", "Error"}});
    } else {
      (*first_text)["text"] = "Error: " + (*first_text)["text"].get<std::string>();
    }
  }
  return Json{{"role", "tool"}, {"tool_call_id", *id}, {"content", parts.content()}};
}

// A tool_use block as a chat tool call.
Result<Json> tool_call(const Json& block, const std::string& path) {
  auto id = required_string(block, "id", path, true);
  if (!id) {
    return fail(id.error());
  }
  auto name = required_string(block, "name", path, true);
  if (!name) {
    return fail(name.error());
  }
  const Json* input = member(block, "input");
  if (input == nullptr) {
    return fail(bad_field(path + ".input", "required"));
  }
  if (!input->is_object()) {
    return fail(expected(path + ".input", "an object", *input));
  }
  return Json{{"id", *id},
              {"type", "function"},
              {"function", {{"name", *name}, {"arguments", core::dump_json(*input)}}}};
}

// One user message's blocks: tool messages first, then the rest as one user message.
Result<void> add_user_blocks(const Json& content, const std::string& path, Json& out) {
  Parts parts;
  for (std::size_t j = 0; j < content.size(); ++j) {
    const auto block_path = index_path(path, j);
    const Json& block = content[j];
    auto type = block_type(block, block_path);
    if (!type) {
      return fail(type.error());
    }
    Result<void> added;
    if (*type == "text") {
      added = add_text(block, block_path, parts);
    } else if (*type == "image") {
      added = add_image(block, block_path, parts);
    } else if (*type == "tool_result") {
      auto message = tool_message(block, block_path);
      if (!message) {
        return fail(message.error());
      }
      out.push_back(std::move(*message));
    } else {
      return fail(unsupported_block(block_path, *type, "user", "text, image and tool_result"));
    }
    if (!added) {
      return fail(added.error());
    }
  }
  if (!parts.empty()) {
    out.push_back({{"role", "user"}, {"content", parts.content()}});
  }
  return {};
}

Result<void> add_assistant_blocks(const Json& content, const std::string& path, Json& out) {
  Parts parts;
  Json calls = Json::array();
  std::optional<std::string> reasoning;
  for (std::size_t j = 0; j < content.size(); ++j) {
    const auto block_path = index_path(path, j);
    const Json& block = content[j];
    auto type = block_type(block, block_path);
    if (!type) {
      return fail(type.error());
    }
    if (*type == "text") {
      if (auto added = add_text(block, block_path, parts); !added) {
        return fail(added.error());
      }
    } else if (*type == "tool_use") {
      auto call = tool_call(block, block_path);
      if (!call) {
        return fail(call.error());
      }
      calls.push_back(std::move(*call));
    } else if (*type == "thinking") {
      auto thinking = required_string(block, "thinking", block_path, false);
      if (!thinking) {
        return fail(thinking.error());
      }
      reasoning = reasoning.value_or("") + *thinking;
    } else if (*type != "redacted_thinking") {
      return fail(unsupported_block(block_path, *type, "assistant",
                                    "text, tool_use, thinking and redacted_thinking"));
    }
  }
  if (parts.empty() && calls.empty() && !reasoning) {
    return {}; // only redacted thinking: nothing a chat model can read
  }
  // "" rather than null when there is no text: some chat templates fail on a null content.
  Json message = {{"role", "assistant"}, {"content", parts.empty() ? Json("") : parts.content()}};
  if (!calls.empty()) {
    message["tool_calls"] = std::move(calls);
  }
  if (reasoning) {
    message["reasoning_content"] = std::move(*reasoning);
  }
  out.push_back(std::move(message));
  return {};
}

// messages[i] as zero or more chat messages appended to `out`; the text of a system message
// is appended to `system` instead.
Result<void> add_message(const Json& msg, const std::string& path, bool last, Json& out,
                         std::vector<std::string>& system) {
  if (!msg.is_object()) {
    return fail(expected(path, "a message (an object)", msg));
  }
  auto role = required_string(msg, "role", path, false);
  if (!role) {
    return fail(role.error());
  }
  if (*role == "system") {
    const Json* content = member(msg, "content");
    if (content == nullptr) {
      return fail(bad_field(path + ".content", "required"));
    }
    auto text = system_text(*content, path + ".content");
    if (!text) {
      return fail(text.error());
    }
    if (!text->empty()) {
      system.push_back(std::move(*text));
    }
    return {};
  }
  if (*role != "user" && *role != "assistant") {
    return fail(bad_field(path + ".role",
                          "expected \"user\", \"assistant\" or \"system\", got \"" + *role + "\""));
  }
  const bool assistant = *role == "assistant";
  const Json* content = member(msg, "content");
  const auto content_path = path + ".content";
  if (content == nullptr) {
    return fail(bad_field(content_path, "required"));
  }
  if (!content->is_string() && !content->is_array()) {
    return fail(expected(content_path, "a string or an array of content blocks", *content));
  }
  if (content->is_string() ? content->get_ref<const std::string&>().empty() : content->empty()) {
    // Anthropic allows empty content only in a last assistant message (nothing to prefill).
    if (assistant && last) {
      return {};
    }
    return fail(bad_field(content_path, "must not be empty"));
  }
  if (content->is_string()) {
    out.push_back({{"role", *role}, {"content", *content}});
    return {};
  }
  return assistant ? add_assistant_blocks(*content, content_path, out)
                   : add_user_blocks(*content, content_path, out);
}

Result<Json> chat_messages(const Json& body) {
  Json out = Json::array();
  std::vector<std::string> system;
  if (const Json* top = member(body, "system")) {
    auto text = system_text(*top);
    if (!text) {
      return fail(text.error());
    }
    if (!text->empty()) {
      system.push_back(std::move(*text));
    }
  }
  const Json* messages = member(body, "messages");
  if (messages == nullptr) {
    return fail(bad_field("messages", "required"));
  }
  if (!messages->is_array()) {
    return fail(expected("messages", "an array", *messages));
  }
  if (messages->empty()) {
    return fail(bad_field("messages", "expected at least one message"));
  }
  for (std::size_t i = 0; i < messages->size(); ++i) {
    auto added = add_message((*messages)[i], index_path("messages", i), i + 1 == messages->size(),
                             out, system);
    if (!added) {
      return fail(added.error());
    }
  }
  if (!system.empty()) {
    std::string joined = system.front();
    for (std::size_t i = 1; i < system.size(); ++i) {
      joined += "\n\n" + system[i];
    }
    out.insert(out.begin(), Json{{"role", "system"}, {"content", std::move(joined)}});
  }
  return out;
}

// A number member within [low, high], copied to out[key].
Result<void> copy_number(const Json& body, std::string_view key, double low, double high,
                         Json& out) {
  const Json* v = member(body, key);
  if (v == nullptr) {
    return {};
  }
  const std::string field(key);
  if (!v->is_number()) {
    return fail(expected(field, "a number", *v));
  }
  const double d = v->get<double>();
  if (!(d >= low && d <= high)) {
    return fail(bad_field(field, "expected a number from " + core::dump_json(Json(low)) + " to " +
                                     core::dump_json(Json(high))));
  }
  out[field] = *v;
  return {};
}

// An integer member >= `low`, copied to out[key] as an integer (16.0 becomes 16).
Result<void> copy_integer(const Json& body, std::string_view key, long long low, Json& out,
                          bool required) {
  const Json* v = member(body, key);
  const std::string field(key);
  if (v == nullptr) {
    return required ? fail(bad_field(field, "required")) : Result<void>();
  }
  const auto n = as_int64(*v);
  if (!n || *n < low) {
    return fail(bad_field(field, "expected an integer >= " + std::to_string(low) + ", got " +
                                     (v->is_number() ? core::dump_json(*v) : kind_of(*v))));
  }
  out[field] = *n;
  return {};
}

// max_tokens (required), temperature and top_p (Anthropic's ranges), top_k.
Result<void> translate_sampling(const Json& body, Json& out) {
  if (auto done = copy_integer(body, "max_tokens", 1, out, true); !done) {
    return done;
  }
  if (auto done = copy_number(body, "temperature", 0.0, 1.0, out); !done) {
    return done;
  }
  if (auto done = copy_number(body, "top_p", 0.0, 1.0, out); !done) {
    return done;
  }
  return copy_integer(body, "top_k", 0, out, false);
}

Result<void> translate_stop(const Json& body, Json& out) {
  const Json* stops = member(body, "stop_sequences");
  if (stops == nullptr) {
    return {};
  }
  if (!stops->is_array()) {
    return fail(expected("stop_sequences", "an array of strings", *stops));
  }
  if (stops->size() > k_max_stop_sequences) {
    return fail(bad_field("stop_sequences",
                          "at most " + std::to_string(k_max_stop_sequences) + " sequences"));
  }
  for (std::size_t i = 0; i < stops->size(); ++i) {
    if (!(*stops)[i].is_string()) {
      return fail(expected(index_path("stop_sequences", i), "a string", (*stops)[i]));
    }
  }
  if (!stops->empty()) {
    out["stop"] = *stops;
  }
  return {};
}

Result<void> translate_tools(const Json& body, Json& out) {
  const Json* tools = member(body, "tools");
  if (tools == nullptr) {
    return {};
  }
  if (!tools->is_array()) {
    return fail(expected("tools", "an array", *tools));
  }
  Json functions = Json::array();
  for (std::size_t i = 0; i < tools->size(); ++i) {
    const auto path = index_path("tools", i);
    const Json& tool = (*tools)[i];
    if (!tool.is_object()) {
      return fail(expected(path, "a tool (an object)", tool));
    }
    if (const Json* type = member(tool, "type"); type != nullptr && *type != "custom") {
      return fail(
          bad_field(path + ".type", "unsupported tool type " + core::dump_json(*type) +
                                        " (Anthropic's server tools run at Anthropic; askd passes "
                                        "custom tools: name, description, input_schema)"));
    }
    auto name = required_string(tool, "name", path, true);
    if (!name) {
      return fail(name.error());
    }
    Json function = {{"name", *name}};
    if (const Json* description = member(tool, "description")) {
      if (!description->is_string()) {
        return fail(expected(path + ".description", "a string", *description));
      }
      function["description"] = *description;
    }
    const Json* schema = member(tool, "input_schema");
    if (schema == nullptr) {
      return fail(bad_field(path + ".input_schema", "required"));
    }
    if (!schema->is_object()) {
      return fail(expected(path + ".input_schema", "a JSON schema (an object)", *schema));
    }
    function["parameters"] = *schema;
    functions.push_back({{"type", "function"}, {"function", std::move(function)}});
  }
  if (!functions.empty()) {
    out["tools"] = std::move(functions);
  }
  return {};
}

Result<void> translate_tool_choice(const Json& body, Json& out) {
  const Json* choice = member(body, "tool_choice");
  if (choice == nullptr) {
    return {};
  }
  if (!choice->is_object()) {
    return fail(expected("tool_choice", "an object", *choice));
  }
  auto type = required_string(*choice, "type", "tool_choice", false);
  if (!type) {
    return fail(type.error());
  }
  if (*type == "auto") {
    out["tool_choice"] = "auto";
  } else if (*type == "any") {
    out["tool_choice"] = "required";
  } else if (*type == "none") {
    out["tool_choice"] = "none";
  } else if (*type == "tool") {
    auto name = required_string(*choice, "name", "tool_choice", true);
    if (!name) {
      return fail(name.error());
    }
    out["tool_choice"] = {{"type", "function"}, {"function", {{"name", *name}}}};
  } else {
    return fail(
        bad_field("tool_choice.type",
                  "expected \"auto\", \"any\", \"tool\" or \"none\", got \"" + *type + "\""));
  }
  if (const Json* serial = member(*choice, "disable_parallel_tool_use")) {
    if (!serial->is_boolean()) {
      return fail(expected("tool_choice.disable_parallel_tool_use", "a boolean", *serial));
    }
    if (serial->get<bool>() && *type != "none") {
      out["parallel_tool_calls"] = false;
    }
  }
  return {};
}

Result<void> translate_thinking(const Json& body, Json& out) {
  const Json* thinking = member(body, "thinking");
  if (thinking == nullptr) {
    return {};
  }
  if (!thinking->is_object()) {
    return fail(expected("thinking", "an object", *thinking));
  }
  auto type = required_string(*thinking, "type", "thinking", false);
  if (!type) {
    return fail(type.error());
  }
  if (*type == "disabled") {
    out["chat_template_kwargs"] = {{"enable_thinking", false}};
    return {};
  }
  if (*type != "enabled" && *type != "adaptive") {
    return fail(bad_field("thinking.type", "expected \"enabled\", \"adaptive\" or "
                                           "\"disabled\", got \"" +
                                               *type + "\""));
  }
  out["chat_template_kwargs"] = {{"enable_thinking", true}};
  if (const Json* budget = member(*thinking, "budget_tokens")) {
    const auto n = as_int64(*budget);
    if (!n || *n < 1) {
      return fail(expected("thinking.budget_tokens", "an integer >= 1", *budget));
    }
    out["thinking_budget_tokens"] = *n;
  }
  return {};
}

Result<Json> to_chat_body(const Json& body, bool counting) {
  if (!body.is_object()) {
    return fail(expected("body", "a JSON object", body));
  }
  Json out = Json::object();
  auto model = required_string(body, "model", "", true);
  if (!model) {
    return fail(model.error());
  }
  out["model"] = *model;
  auto messages = chat_messages(body);
  if (!messages) {
    return fail(messages.error());
  }
  if (std::ranges::none_of(*messages, [](const Json& m) { return m["role"] != "system"; })) {
    return fail(bad_field("messages", "nothing to answer: the only message is an empty "
                                      "assistant message"));
  }
  out["messages"] = std::move(*messages);
  if (const Json* stream = member(body, "stream")) {
    if (!stream->is_boolean()) {
      return fail(expected("stream", "a boolean", *stream));
    }
    out["stream"] = *stream;
  }
  using Step = Result<void> (*)(const Json&, Json&);
  // A count_tokens body has no max_tokens, and sampling does not change the prompt.
  if (!counting) {
    for (const Step step : {&translate_sampling, &translate_stop}) {
      if (auto done = step(body, out); !done) {
        return fail(done.error());
      }
    }
  }
  for (const Step step : {&translate_tools, &translate_tool_choice, &translate_thinking}) {
    if (auto done = step(body, out); !done) {
      return fail(done.error());
    }
  }
  return out;
}

} // namespace
} // namespace anthropic_request

core::Result<core::Json> anthropic_chat_request(const core::Json& body, bool counting) {
  return anthropic_request::to_chat_body(body, counting);
}

} // namespace ask::proxy
