// OpenAI <-> Ollama /api/chat translation, the request side: an OpenAI chat request as an
// /api/chat body. docs/backends.md ("ollama") lists every mapping.
#include "proxy/ollama_translate.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <map>
#include <utility>

#include "proxy/ollama_translate_detail.h"

namespace ask::proxy {

namespace {

using core::Error;
using core::fail;
using core::Json;
using core::Result;
using ollama_detail::as_int64;
using ollama_detail::expected;
using ollama_detail::index_path;
using ollama_detail::k_max_depth;

// bad_request "path: what".
Error bad_field(const std::string& path, std::string_view what) {
  return Error::bad_request(path + ": " + std::string(what));
}

// The deepest nesting of arrays and objects in JSON text, strings skipped; no parsing.
int text_depth(std::string_view text) {
  int depth = 0;
  int deepest = 0;
  bool in_string = false;
  bool escaped = false;
  for (const char c : text) {
    if (in_string) {
      escaped = !escaped && c == '\\';
      in_string = escaped || c != '"';
      continue;
    }
    if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      deepest = std::max(deepest, ++depth);
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  return deepest;
}

enum class OptionType { integer, number, boolean, strings };

struct OptionSpec {
  std::string_view name;
  OptionType type;
};

// Ollama's option names (api.Options and api.Runner) and the JSON type each must have:
// Ollama answers 400 "option ... must be of type ..." otherwise, so askd says it first.
constexpr std::array<OptionSpec, 29> k_ollama_options = {{
    {"num_ctx", OptionType::integer},
    {"num_batch", OptionType::integer},
    {"num_gpu", OptionType::integer},
    {"main_gpu", OptionType::integer},
    {"num_thread", OptionType::integer},
    {"num_keep", OptionType::integer},
    {"seed", OptionType::integer},
    {"num_predict", OptionType::integer},
    {"top_k", OptionType::integer},
    {"repeat_last_n", OptionType::integer},
    {"mirostat", OptionType::integer},
    {"temperature", OptionType::number},
    {"top_p", OptionType::number},
    {"min_p", OptionType::number},
    {"typical_p", OptionType::number},
    {"tfs_z", OptionType::number},
    {"repeat_penalty", OptionType::number},
    {"presence_penalty", OptionType::number},
    {"frequency_penalty", OptionType::number},
    {"mirostat_tau", OptionType::number},
    {"mirostat_eta", OptionType::number},
    {"penalize_newline", OptionType::boolean},
    {"numa", OptionType::boolean},
    {"low_vram", OptionType::boolean},
    {"f16_kv", OptionType::boolean},
    {"vocab_only", OptionType::boolean},
    {"use_mmap", OptionType::boolean},
    {"use_mlock", OptionType::boolean},
    {"stop", OptionType::strings},
}};

const OptionSpec* find_option(std::string_view name) {
  for (const auto& spec : k_ollama_options) {
    if (spec.name == name) {
      return &spec;
    }
  }
  return nullptr;
}

// `value` checked against the option's type; integers are written as integers.
Result<Json> option_value(const OptionSpec& spec, const Json& value, const std::string& path) {
  switch (spec.type) {
  case OptionType::integer:
    if (auto n = as_int64(value)) {
      return Json(*n);
    }
    return fail(bad_field(path, value.is_number() ? "expected an integer in the 64-bit range"
                                                  : expected("an integer", value)));
  case OptionType::number:
    if (value.is_number() && std::isfinite(value.get<double>())) {
      return value;
    }
    return fail(bad_field(path, expected("a number", value)));
  case OptionType::boolean:
    if (value.is_boolean()) {
      return value;
    }
    return fail(bad_field(path, expected("a boolean", value)));
  case OptionType::strings:
    if (value.is_string()) {
      return Json::array({value});
    }
    if (!value.is_array()) {
      return fail(bad_field(path, expected("a string or an array of strings", value)));
    }
    for (std::size_t i = 0; i < value.size(); ++i) {
      if (!value[i].is_string()) {
        return fail(bad_field(index_path(path, i), expected("a string", value[i])));
      }
    }
    return value;
  }
  return fail(Error::internal("unknown option type"));
}

} // namespace

namespace ollama_detail {

Result<Json> request_options(const Json& fields, bool skip_typed) {
  Json options = Json::object();
  const auto set = [&](const OptionSpec& spec, const Json& v,
                       const std::string& path) -> Result<void> {
    auto checked = option_value(spec, v, path);
    if (!checked) {
      return fail(checked.error());
    }
    options[std::string(spec.name)] = std::move(*checked);
    return {};
  };
  if (const auto it = fields.find("options"); it != fields.end() && !it->is_null()) {
    if (!it->is_object()) {
      return fail(bad_field("options", expected("an object", *it)));
    }
    for (const auto& [key, v] : it->items()) {
      const auto* spec = find_option(key);
      if (spec == nullptr || v.is_null()) {
        continue;
      }
      if (auto ok = set(*spec, v, "options." + key); !ok) {
        return fail(ok.error());
      }
    }
  }
  for (const auto& spec : k_ollama_options) {
    const std::string name(spec.name);
    const auto it = fields.find(name);
    if (it == fields.end() || it->is_null() ||
        (skip_typed &&
         (name == "temperature" || name == "top_p" || name == "seed" || name == "stop"))) {
      continue;
    }
    if (auto ok = set(spec, *it, name); !ok) {
      return fail(ok.error());
    }
  }
  return options;
}

} // namespace ollama_detail

namespace {

// options: entries of a request "options" object, then Ollama option names given at the top
// level, then the OpenAI fields (which win). Unknown names inside "options" are dropped.
// temperature, top_p, seed and stop given as such were parsed into the typed fields below;
// what extra holds under those names is their "absent" or integer spelling.
Result<Json> translate_options(const core::ChatRequest& req) {
  auto read = ollama_detail::request_options(req.extra, true);
  if (!read) {
    return fail(read.error());
  }
  Json options = std::move(*read);
  if (req.temperature) {
    options["temperature"] = *req.temperature;
  }
  if (req.top_p) {
    options["top_p"] = *req.top_p;
  }
  if (req.seed) {
    options["seed"] = *req.seed;
  }
  if (!req.stop.empty()) {
    options["stop"] = req.stop;
  }
  if (const auto limit = req.token_limit()) {
    options["num_predict"] = *limit;
  }
  return options;
}

// think: the request's `think` (true, false, "low", "medium", "high"), else reasoning_effort
// as a level ("none" turns thinking off), else llama.cpp's chat_template_kwargs.enable_thinking
// (what the Messages door sets for `thinking`), else nothing (the model's default).
Result<std::optional<Json>> translate_think(const Json& extra) {
  if (const auto it = extra.find("think"); it != extra.end() && !it->is_null()) {
    if (it->is_boolean() ||
        (it->is_string() && (*it == "low" || *it == "medium" || *it == "high"))) {
      return std::optional<Json>(*it);
    }
    return fail(bad_field("think", "expected true, false, \"low\", \"medium\" or \"high\""));
  }
  const auto it = extra.find("reasoning_effort");
  if (it == extra.end() || it->is_null()) {
    const auto kwargs = extra.find("chat_template_kwargs");
    if (kwargs != extra.end() && kwargs->is_object()) {
      const auto enable = kwargs->find("enable_thinking");
      if (enable != kwargs->end() && enable->is_boolean()) {
        return std::optional<Json>(*enable);
      }
    }
    return std::optional<Json>();
  }
  static const std::map<std::string, Json, std::less<>> k_levels = {
      {"none", false},      {"minimal", "low"}, {"low", "low"},
      {"medium", "medium"}, {"high", "high"},   {"xhigh", "high"}};
  if (it->is_string()) {
    if (const auto level = k_levels.find(it->get_ref<const std::string&>());
        level != k_levels.end()) {
      return std::optional<Json>(level->second);
    }
  }
  return fail(
      bad_field("reasoning_effort",
                "expected \"none\", \"minimal\", \"low\", \"medium\", \"high\" or \"xhigh\""));
}

// The tools to offer. Ollama has no tool_choice, so it is expressed through the tools:
// "none" offers none, a named function only that one; "auto" and "required" offer all and
// leave the choice to the model ("required" cannot be enforced).
Result<std::optional<Json>> translate_tools(const core::ChatRequest& req) {
  if (!req.tools.is_array() || req.tools.empty() || req.tool_choice == "none") {
    return std::optional<Json>();
  }
  if (!req.tool_choice.is_object()) {
    return std::optional<Json>(req.tools);
  }
  // The parser checked that tool_choice.function and every tool's function have a name.
  const auto name_of = [](const Json& holder) {
    const auto fn = holder.find("function");
    return fn != holder.end() && fn->is_object() && fn->contains("name") ? fn->at("name") : Json();
  };
  const Json wanted = name_of(req.tool_choice);
  Json picked = Json::array();
  for (const auto& tool : req.tools) {
    if (name_of(tool) == wanted) {
      picked.push_back(tool);
    }
  }
  if (picked.empty()) {
    return fail(bad_field("tool_choice.function.name", "no tool of that name in tools"));
  }
  return std::optional<Json>(std::move(picked));
}

// format: response_format json_object -> "json", json_schema -> its schema, text -> nothing;
// without response_format, an Ollama-style `format` ("json" or a schema) passes through.
Result<std::optional<Json>> translate_format(const core::ChatRequest& req) {
  if (req.response_format.is_object()) {
    const Json type = req.response_format.value("type", Json());
    if (type == "json_object") {
      return std::optional<Json>("json");
    }
    if (type == "json_schema") {
      const auto spec = req.response_format.find("json_schema");
      if (spec == req.response_format.end() || !spec->is_object()) {
        return fail(bad_field("response_format.json_schema", "required for type json_schema"));
      }
      const auto schema = spec->find("schema");
      if (schema == spec->end() || !schema->is_object()) {
        return fail(bad_field("response_format.json_schema.schema",
                              schema == spec->end() ? "required (Ollama needs the schema)"
                                                    : expected("an object", *schema)));
      }
      return std::optional<Json>(*schema);
    }
    return std::optional<Json>();
  }
  const auto it = req.extra.find("format");
  if (it == req.extra.end() || it->is_null()) {
    return std::optional<Json>();
  }
  if (*it == "json" || it->is_object()) {
    return std::optional<Json>(*it);
  }
  return fail(bad_field("format", "expected \"json\" or a JSON schema object"));
}

// The base64 payload of a data: URL; anything else is bad_request naming `path`.
Result<std::string> image_payload(const std::string& url, const std::string& path) {
  if (url.rfind("http://", 0) == 0 || url.rfind("https://", 0) == 0) {
    return fail(bad_field(path, "Ollama cannot fetch images by URL; send the image inline as "
                                "a data:<type>;base64,... URL"));
  }
  const auto comma = url.find(',');
  if (url.rfind("data:", 0) != 0 || comma == std::string::npos) {
    return fail(bad_field(path, "expected a data:<type>;base64,... URL"));
  }
  const std::string_view header(url.data() + 5, comma - 5);
  if (header.size() < 7 || header.substr(header.size() - 7) != ";base64") {
    return fail(bad_field(path, "expected base64 data (data:<type>;base64,...)"));
  }
  std::string payload = url.substr(comma + 1);
  const auto is_base64 = [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' ||
           c == '/' || c == '=';
  };
  if (payload.empty() || !std::all_of(payload.begin(), payload.end(), is_base64)) {
    return fail(bad_field(path, "the data: URL does not hold base64 data"));
  }
  return payload;
}

// The JSON-string arguments of a tool call as the object Ollama wants ("" means {}).
Result<Json> arguments_object(const std::string& text, const std::string& path) {
  if (text.find_first_not_of(" \t\r\n") == std::string::npos) {
    return Json::object();
  }
  if (text_depth(text) > k_max_depth) {
    return fail(bad_field(path, "JSON nested deeper than 128 levels"));
  }
  Json value = Json::parse(text, nullptr, false);
  if (value.is_discarded()) {
    return fail(bad_field(path, "expected a JSON-encoded object, got text that is not JSON"));
  }
  if (!value.is_object()) {
    return fail(bad_field(path, expected("a JSON-encoded object", value)));
  }
  return value;
}

// Fills content and images from a message's string content or parts.
Result<void> translate_content(const core::Message& msg, const std::string& path, Json& out) {
  if (!msg.content_is_parts) {
    out["content"] = msg.content.value_or(std::string());
    return {};
  }
  std::string text;
  Json images = Json::array();
  bool first = true;
  for (std::size_t j = 0; j < msg.content_parts.size(); ++j) {
    const auto& part = msg.content_parts[j];
    const auto part_path = index_path(path + ".content", j);
    if (part.type == "text") {
      text += first ? "" : "\n";
      text += part.text;
      first = false;
    } else if (part.type == "image_url") {
      auto payload = image_payload(part.image_url, part_path + ".image_url.url");
      if (!payload) {
        return fail(payload.error());
      }
      images.push_back(std::move(*payload));
    } else {
      return fail(bad_field(part_path + ".type", "Ollama takes only text and image_url parts"));
    }
  }
  out["content"] = std::move(text);
  if (!images.empty()) {
    out["images"] = std::move(images);
  }
  return {};
}

// One message; `tool_names` maps the tool-call ids seen so far to their function names.
Result<Json> translate_message(const core::Message& msg, const std::string& path,
                               std::map<std::string, std::string>& tool_names) {
  Json out = Json::object();
  const std::string& role = msg.role;
  out["role"] = role == "developer" ? "system" : role == "function" ? "tool" : role;
  if (auto ok = translate_content(msg, path, out); !ok) {
    return fail(ok.error());
  }
  if (msg.reasoning_content && !msg.reasoning_content->empty()) {
    out["thinking"] = *msg.reasoning_content;
  }
  if (!msg.tool_calls.empty()) {
    Json calls = Json::array();
    for (std::size_t k = 0; k < msg.tool_calls.size(); ++k) {
      const auto& call = msg.tool_calls[k];
      auto args = arguments_object(call.function.arguments,
                                   index_path(path + ".tool_calls", k) + ".function.arguments");
      if (!args) {
        return fail(args.error());
      }
      Json c = {{"function", {{"name", call.function.name}, {"arguments", std::move(*args)}}}};
      if (!call.id.empty()) {
        c["id"] = call.id;
        tool_names[call.id] = call.function.name;
      }
      calls.push_back(std::move(c));
    }
    out["tool_calls"] = std::move(calls);
  }
  if (role == "tool" || role == "function") {
    const auto named = msg.tool_call_id ? tool_names.find(*msg.tool_call_id) : tool_names.end();
    if (named != tool_names.end()) {
      out["tool_name"] = named->second;
    } else if (msg.name) {
      out["tool_name"] = *msg.name;
    }
    if (msg.tool_call_id) {
      out["tool_call_id"] = *msg.tool_call_id;
    }
  }
  return out;
}

} // namespace

Json ollama_detail::keep_alive_json(const core::Duration& keep_alive) {
  const double seconds = keep_alive.to_ollama_seconds();
  if (std::trunc(seconds) == seconds) {
    return static_cast<long long>(seconds);
  }
  return seconds; // Ollama takes fractional seconds too
}

core::Result<core::Json> ollama_chat_request(const core::Json& openai_request,
                                             std::string_view upstream_model,
                                             std::optional<core::Duration> keep_alive,
                                             bool stream) {
  auto req = core::parse_chat_request(openai_request);
  if (!req) {
    return fail(req.error());
  }
  if (const auto n = req->extra.find("n"); n != req->extra.end() && !n->is_null() && *n != 1) {
    return fail(bad_field("n", "Ollama returns one choice; only n = 1 is supported"));
  }
  Json out = Json::object();
  out["model"] = std::string(upstream_model);
  Json messages = Json::array();
  std::map<std::string, std::string> tool_names;
  for (std::size_t i = 0; i < req->messages.size(); ++i) {
    auto msg = translate_message(req->messages[i], index_path("messages", i), tool_names);
    if (!msg) {
      return fail(msg.error());
    }
    messages.push_back(std::move(*msg));
  }
  out["messages"] = std::move(messages);
  auto tools = translate_tools(*req);
  if (!tools) {
    return fail(tools.error());
  }
  if (*tools) {
    out["tools"] = std::move(**tools);
  }
  auto format = translate_format(*req);
  if (!format) {
    return fail(format.error());
  }
  if (*format) {
    out["format"] = std::move(**format);
  }
  auto think = translate_think(req->extra);
  if (!think) {
    return fail(think.error());
  }
  if (*think) {
    out["think"] = std::move(**think);
  }
  auto options = translate_options(*req);
  if (!options) {
    return fail(options.error());
  }
  if (!options->empty()) {
    out["options"] = std::move(*options);
  }
  out["stream"] = stream;
  if (keep_alive) {
    out["keep_alive"] = ollama_detail::keep_alive_json(*keep_alive);
  }
  return out;
}

} // namespace ask::proxy
