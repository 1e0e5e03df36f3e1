// ChatRequest: parsing with the request rules and serialisation (see core/openai.h).
#include <array>
#include <cmath>

#include "core/json_text.h"
#include "core/openai.h"
#include "core/openai_detail.h"

namespace ask::core {

using detail::field_path;
using detail::index_path;
using detail::invalid;
using detail::read_string;
using detail::type_error;

namespace {

constexpr std::size_t k_max_stop = 16;
constexpr std::array<std::string_view, 3> k_tool_choice_words = {"none", "auto", "required"};
constexpr std::array<std::string_view, 3> k_response_formats = {"text", "json_object",
                                                                "json_schema"};

template <std::size_t N>
bool one_of(std::string_view s, const std::array<std::string_view, N>& words) {
  for (auto w : words) {
    if (w == s) {
      return true;
    }
  }
  return false;
}

// Requires value[key] to be a non-empty string.
Result<void> require_name(const Json& object, const std::string& path) {
  const auto it = object.find("name");
  if (it == object.end() || !it->is_string() || it->get_ref<const std::string&>().empty()) {
    return fail(invalid(field_path(path, "name"), "required, a non-empty string"));
  }
  return {};
}

Result<void> check_tool(const Json& tool, const std::string& path) {
  if (!tool.is_object()) {
    return fail(type_error(path, "an object", tool));
  }
  const auto type = tool.find("type");
  if (type == tool.end() || !type->is_string() || *type != "function") {
    return fail(invalid(field_path(path, "type"), "expected \"function\""));
  }
  const auto fn = tool.find("function");
  const auto fn_path = field_path(path, "function");
  if (fn == tool.end()) {
    return fail(invalid(fn_path, "required"));
  }
  if (!fn->is_object()) {
    return fail(type_error(fn_path, "an object", *fn));
  }
  if (auto ok = require_name(*fn, fn_path); !ok) {
    return ok;
  }
  if (const auto params = fn->find("parameters"); params != fn->end() && !params->is_object()) {
    return fail(type_error(field_path(fn_path, "parameters"), "an object", *params));
  }
  if (const auto desc = fn->find("description"); desc != fn->end() && !desc->is_string()) {
    return fail(type_error(field_path(fn_path, "description"), "a string", *desc));
  }
  return {};
}

Result<void> check_tools(const Json& tools) {
  if (!tools.is_array()) {
    return fail(type_error("tools", "an array", tools));
  }
  for (std::size_t i = 0; i < tools.size(); ++i) {
    if (auto ok = check_tool(tools[i], index_path("tools", i)); !ok) {
      return ok;
    }
  }
  return {};
}

Result<void> check_tool_choice(const Json& choice) {
  if (choice.is_string()) {
    if (one_of(choice.get_ref<const std::string&>(), k_tool_choice_words)) {
      return {};
    }
    return fail(invalid("tool_choice", "expected \"none\", \"auto\", \"required\" or an object, "
                                       "got " +
                                           detail::quoted(choice.get_ref<const std::string&>())));
  }
  if (!choice.is_object()) {
    return fail(type_error("tool_choice", "a string or an object", choice));
  }
  const auto type = choice.find("type");
  if (type == choice.end() || !type->is_string()) {
    return fail(invalid("tool_choice.type", "required, a string"));
  }
  if (*type == "function") {
    const auto fn = choice.find("function");
    if (fn == choice.end() || !fn->is_object()) {
      return fail(invalid("tool_choice.function", "required, an object with a name"));
    }
    return require_name(*fn, "tool_choice.function");
  }
  return {};
}

Result<void> check_response_format(const Json& format) {
  if (!format.is_object()) {
    return fail(type_error("response_format", "an object", format));
  }
  const auto type = format.find("type");
  if (type == format.end() || !type->is_string() ||
      !one_of(type->get_ref<const std::string&>(), k_response_formats)) {
    return fail(
        invalid("response_format.type", "expected \"text\", \"json_object\" or \"json_schema\""));
  }
  if (const auto schema = format.find("json_schema");
      schema != format.end() && !schema->is_object()) {
    return fail(type_error("response_format.json_schema", "an object", *schema));
  }
  return {};
}

Result<void> parse_stream_options(const Json& value, ChatRequest& req) {
  if (!value.is_object()) {
    return fail(type_error("stream_options", "an object", value));
  }
  StreamOptions options;
  for (const auto& [key, v] : value.items()) {
    if (key == "include_usage" && !v.is_null()) {
      if (!v.is_boolean()) {
        return fail(type_error("stream_options.include_usage", "a boolean", v));
      }
      options.include_usage = v.get<bool>();
      if (!options.include_usage) {
        options.extra[key] = v;
      }
    } else {
      options.extra[key] = v;
    }
  }
  req.stream_options = std::move(options);
  return {};
}

Result<void> parse_stop(const Json& value, ChatRequest& req) {
  if (value.is_string()) {
    req.stop = {value.get<std::string>()};
    req.stop_was_string = true;
    return {};
  }
  if (!value.is_array()) {
    return fail(type_error("stop", "a string or an array of strings", value));
  }
  if (value.size() > k_max_stop) {
    return fail(invalid("stop", "at most " + std::to_string(k_max_stop) + " stop sequences, got " +
                                    std::to_string(value.size())));
  }
  if (value.empty()) {
    req.extra["stop"] = value;
  }
  for (std::size_t i = 0; i < value.size(); ++i) {
    auto s = read_string(value[i], index_path("stop", i));
    if (!s) {
      return fail(s.error());
    }
    req.stop.push_back(std::move(*s));
  }
  return {};
}

Result<void> parse_ranged(const Json& value, const char* key, double max,
                          std::optional<double>& out) {
  auto d = detail::read_number(value, key);
  if (!d) {
    return fail(d.error());
  }
  if (*d < 0.0 || *d > max) {
    return fail(
        invalid(key, "must be between 0 and " + Json(max).dump() + ", got " + value.dump()));
  }
  out = *d;
  return {};
}

Result<void> parse_count(const Json& value, const char* key, std::optional<long long>& out) {
  auto n = detail::read_integer(value, key);
  if (!n) {
    return fail(n.error());
  }
  if (*n < 1) {
    return fail(invalid(key, "must be a positive integer, got " + value.dump()));
  }
  out = *n;
  return {};
}

Result<void> parse_messages(const Json& value, ChatRequest& req) {
  if (!value.is_array()) {
    return fail(type_error("messages", "an array", value));
  }
  if (value.empty()) {
    return fail(invalid("messages", "must contain at least one message"));
  }
  for (std::size_t i = 0; i < value.size(); ++i) {
    auto msg = parse_message(value[i], index_path("messages", i));
    if (!msg) {
      return fail(msg.error());
    }
    req.messages.push_back(std::move(*msg));
  }
  return {};
}

Result<void> parse_model(const Json& value, ChatRequest& req) {
  auto s = read_string(value, "model");
  if (!s) {
    return fail(s.error());
  }
  if (s->empty()) {
    return fail(invalid("model", "must not be empty"));
  }
  req.model = std::move(*s);
  return {};
}

Result<void> parse_stream(const Json& value, ChatRequest& req) {
  if (!value.is_boolean()) {
    return fail(type_error("stream", "a boolean", value));
  }
  req.stream = value.get<bool>();
  if (!req.stream) {
    req.extra["stream"] = value;
  }
  return {};
}

Result<void> parse_seed(const Json& value, ChatRequest& req) {
  auto n = detail::read_integer(value, "seed");
  if (!n) {
    return fail(n.error());
  }
  req.seed = *n;
  return {};
}

// Reads a numeric top-level key; nullopt for any other key. An integer given for a double
// field ("temperature":1) is also kept in req.extra, so to_json writes "1" back rather than
// "1.0" (see write_number). Integer fields are always written as integers: "16.0" comes back
// as 16, which servers written in Go need.
std::optional<Result<void>> parse_number_field(const std::string& key, const Json& v,
                                               ChatRequest& req) {
  Result<void> ok;
  if (key == "temperature" || key == "top_p") {
    ok = key == "temperature" ? parse_ranged(v, "temperature", 2.0, req.temperature)
                              : parse_ranged(v, "top_p", 1.0, req.top_p);
    if (ok && v.is_number_integer()) {
      req.extra[key] = v;
    }
  } else if (key == "max_tokens") {
    ok = parse_count(v, "max_tokens", req.max_tokens);
  } else if (key == "max_completion_tokens") {
    ok = parse_count(v, "max_completion_tokens", req.max_completion_tokens);
  } else if (key == "seed") {
    ok = parse_seed(v, req);
  } else {
    return std::nullopt;
  }
  return ok;
}

// Writes a numeric field over out[key], unless out[key] (from extra) is a number equal to
// it, kept for its form; a kept number whose field was cleared is dropped.
template <class T> void write_number(Json& out, const char* key, const std::optional<T>& field) {
  const auto it = out.find(key);
  const bool kept = it != out.end() && it->is_number();
  if (field && !(kept && it->template get<double>() == static_cast<double>(*field))) {
    out[key] = *field;
  } else if (!field && kept) {
    out.erase(key);
  }
}

Result<void> keep_checked(const Json& value, Result<void> check, Json& target) {
  if (!check) {
    return check;
  }
  target = value;
  return {};
}

// Reads one top-level key; unknown keys go to req.extra.
Result<void> parse_request_field(const std::string& key, const Json& v, ChatRequest& req) {
  if (key == "model") {
    return parse_model(v, req);
  }
  if (key == "messages") {
    return parse_messages(v, req);
  }
  if (v.is_null()) {
    req.extra[key] = nullptr; // an explicit null means "not given"; kept for passthrough
    return {};
  }
  if (key == "tools") {
    return keep_checked(v, check_tools(v), req.tools);
  }
  if (key == "tool_choice") {
    return keep_checked(v, check_tool_choice(v), req.tool_choice);
  }
  if (key == "response_format") {
    return keep_checked(v, check_response_format(v), req.response_format);
  }
  if (key == "stream") {
    return parse_stream(v, req);
  }
  if (key == "stream_options") {
    return parse_stream_options(v, req);
  }
  if (key == "stop") {
    return parse_stop(v, req);
  }
  if (auto number = parse_number_field(key, v, req)) {
    return *number;
  }
  req.extra[key] = v;
  return {};
}

} // namespace

std::optional<long long> ChatRequest::token_limit() const {
  return max_completion_tokens ? max_completion_tokens : max_tokens;
}

Result<ChatRequest> parse_chat_request(const Json& body) {
  if (detail::deeper_than(body, detail::k_max_json_depth)) {
    return fail(Error::bad_request("request body: JSON nested deeper than " +
                                   std::to_string(detail::k_max_json_depth) + " levels"));
  }
  if (!body.is_object()) {
    return fail(Error::bad_request("request body: expected a JSON object, got " +
                                   std::string(detail::json_kind(body))));
  }
  ChatRequest req;
  for (const auto& [key, v] : body.items()) {
    if (auto ok = parse_request_field(key, v, req); !ok) {
      return fail(ok.error());
    }
  }
  if (!body.contains("model")) {
    return fail(invalid("model", "required"));
  }
  if (!body.contains("messages")) {
    return fail(invalid("messages", "required"));
  }
  return req;
}

Result<ChatRequest> parse_chat_request(std::string_view body) {
  auto parsed = detail::parse_json_text(body);
  if (!parsed) {
    const auto& e = parsed.error();
    return fail(Error::bad_request(e.too_deep ? "request body: " + e.what
                                              : "request body is not valid JSON: " + e.what));
  }
  return parse_chat_request(*parsed);
}

Json to_json(const ChatRequest& req) {
  Json out = req.extra.is_object() ? req.extra : Json::object();
  out["model"] = req.model;
  Json messages = Json::array();
  for (const auto& msg : req.messages) {
    messages.push_back(to_json(msg));
  }
  out["messages"] = std::move(messages);
  for (const auto& [key, value] : {std::pair<const char*, const Json*>{"tools", &req.tools},
                                   {"tool_choice", &req.tool_choice},
                                   {"response_format", &req.response_format}}) {
    if (!value->is_null()) {
      out[key] = *value;
    }
  }
  if (req.stream) {
    out["stream"] = true;
  }
  if (req.stream_options) {
    Json options =
        req.stream_options->extra.is_object() ? req.stream_options->extra : Json::object();
    if (req.stream_options->include_usage) {
      options["include_usage"] = true;
    }
    out["stream_options"] = std::move(options);
  }
  write_number(out, "temperature", req.temperature);
  write_number(out, "top_p", req.top_p);
  write_number(out, "max_tokens", req.max_tokens);
  write_number(out, "max_completion_tokens", req.max_completion_tokens);
  write_number(out, "seed", req.seed);
  if (!req.stop.empty()) {
    out["stop"] =
        req.stop_was_string && req.stop.size() == 1 ? Json(req.stop.front()) : Json(req.stop);
  }
  return out;
}

} // namespace ask::core
