// Backend replies: ChatResponse, ChatChunk, Usage, ErrorBody and the ChunkAccumulator (see
// core/openai.h). Parsing here is lenient about what real servers omit or set to null, and
// strict about types, so a garbled reply is reported instead of misread.
#include "core/openai.h"
#include "core/openai_detail.h"

namespace ask::core {

using detail::field_path;
using detail::index_path;
using detail::invalid;
using detail::read_string;
using detail::type_error;

namespace {

Error reply_error(const char* what, const Error& e) {
  return detail::reply_error(what, e.message);
}

// Reads a string-or-null field into `out` (unchanged when null).
Result<void> read_opt(const Json& v, const std::string& path, std::optional<std::string>& out) {
  auto s = detail::read_optional_string(v, path);
  if (!s) {
    return fail(s.error());
  }
  if (*s) {
    out = std::move(*s);
  }
  return {};
}

Result<void> read_int_field(const Json& v, const std::string& path, long long& out) {
  auto n = detail::read_integer(v, path);
  if (!n) {
    return fail(n.error());
  }
  out = *n;
  return {};
}

Result<void> read_index(const Json& v, const std::string& path, int& out) {
  long long n = 0;
  if (auto ok = read_int_field(v, path, n); !ok) {
    return ok;
  }
  if (n < 0 || n > 1'000'000) {
    return fail(invalid(path, "index out of range"));
  }
  out = static_cast<int>(n);
  return {};
}

Result<Usage> parse_usage(const Json& v, const std::string& path) {
  if (!v.is_object()) {
    return fail(type_error(path, "an object", v));
  }
  Usage usage;
  for (const auto& [key, field] : v.items()) {
    long long* target = key == "prompt_tokens"       ? &usage.prompt_tokens
                        : key == "completion_tokens" ? &usage.completion_tokens
                        : key == "total_tokens"      ? &usage.total_tokens
                                                     : nullptr;
    if (target == nullptr || field.is_null()) {
      usage.extra[key] = field;
    } else if (auto ok = read_int_field(field, field_path(path, key), *target); !ok) {
      return fail(ok.error());
    }
  }
  return usage;
}

// The fields a response and a chunk share: id, object, created, model, usage,
// system_fingerprint. Returns false for any other key.
template <class Reply>
Result<bool> parse_common_field(const std::string& key, const Json& v, Reply& out) {
  if (key == "id" || key == "object" || key == "model") {
    if (v.is_null()) {
      return true;
    }
    auto s = read_string(v, key);
    if (!s) {
      return fail(s.error());
    }
    (key == "id" ? out.id : key == "object" ? out.object : out.model) = std::move(*s);
    return true;
  }
  if (key == "created") {
    if (auto ok = read_int_field(v, key, out.created); !ok) {
      return fail(ok.error());
    }
    return true;
  }
  if (key == "system_fingerprint") {
    if (auto ok = read_opt(v, key, out.system_fingerprint); !ok) {
      return fail(ok.error());
    }
    return true;
  }
  if (key == "usage" && !v.is_null()) {
    auto usage = parse_usage(v, key);
    if (!usage) {
      return fail(usage.error());
    }
    out.usage = std::move(*usage);
    return true;
  }
  return false;
}

Result<Choice> parse_choice(const Json& v, const std::string& path) {
  if (!v.is_object()) {
    return fail(type_error(path, "an object", v));
  }
  Choice choice;
  for (const auto& [key, field] : v.items()) {
    const auto here = field_path(path, key);
    Result<void> ok;
    if (key == "index") {
      ok = read_index(field, here, choice.index);
    } else if (key == "finish_reason") {
      ok = read_opt(field, here, choice.finish_reason);
    } else if (key == "message") {
      auto msg = detail::parse_reply_message(field, here);
      if (!msg) {
        return fail(msg.error());
      }
      choice.message = std::move(*msg);
    } else {
      choice.extra[key] = field;
    }
    if (!ok) {
      return fail(ok.error());
    }
  }
  return choice;
}

template <class Item, class ParseItem>
Result<std::vector<Item>> parse_array(const Json& v, const std::string& path,
                                      ParseItem parse_item) {
  if (!v.is_array()) {
    return fail(type_error(path, "an array", v));
  }
  std::vector<Item> out;
  for (std::size_t i = 0; i < v.size(); ++i) {
    auto item = parse_item(v[i], index_path(path, i), i);
    if (!item) {
      return fail(item.error());
    }
    out.push_back(std::move(*item));
  }
  return out;
}

// Reads "function": {"name","arguments"}; other keys and nulls go to out.extra["function"].
Result<void> parse_delta_function(const Json& fn, const std::string& path, ToolCallDelta& out) {
  if (!fn.is_object()) {
    return fail(type_error(path, "an object", fn));
  }
  Json rest = Json::object();
  for (const auto& [key, v] : fn.items()) {
    if ((key == "name" || key == "arguments") && !v.is_null()) {
      const auto ok = read_opt(v, field_path(path, key), key == "name" ? out.name : out.arguments);
      if (!ok) {
        return ok;
      }
    } else {
      rest[key] = v;
    }
  }
  if (!rest.empty() || (!out.name && !out.arguments)) {
    out.extra["function"] = std::move(rest);
  }
  return {};
}

Result<ToolCallDelta> parse_tool_call_delta(const Json& v, const std::string& path,
                                            std::size_t position) {
  if (!v.is_object()) {
    return fail(type_error(path, "an object", v));
  }
  ToolCallDelta out;
  out.index = static_cast<int>(position); // when a server leaves "index" out
  for (const auto& [key, field] : v.items()) {
    const auto here = field_path(path, key);
    Result<void> ok;
    if (key == "index" && !field.is_null()) {
      ok = read_index(field, here, out.index);
    } else if ((key == "id" || key == "type") && !field.is_null()) {
      ok = read_opt(field, here, key == "id" ? out.id : out.type);
    } else if (key == "function" && !field.is_null()) {
      ok = parse_delta_function(field, here, out);
    } else if (key != "index") {
      out.extra[key] = field;
    }
    if (!ok) {
      return fail(ok.error());
    }
  }
  return out;
}

Result<void> parse_delta_field(const std::string& key, const Json& v, const std::string& path,
                               bool alias_reasoning, Delta& out) {
  const auto here = field_path(path, key);
  if (key == "role") {
    return read_opt(v, here, out.role);
  }
  if (key == "content") {
    out.content_is_null = v.is_null();
    return read_opt(v, here, out.content);
  }
  if (key == "reasoning_content" || (key == "reasoning" && alias_reasoning)) {
    return read_opt(v, here, out.reasoning_content);
  }
  if (key == "tool_calls" && !v.is_null()) {
    auto calls = parse_array<ToolCallDelta>(v, here, parse_tool_call_delta);
    if (!calls) {
      return fail(calls.error());
    }
    out.tool_calls = std::move(*calls);
    return {};
  }
  out.extra[key] = v;
  return {};
}

Result<Delta> parse_delta(const Json& v, const std::string& path) {
  if (!v.is_object()) {
    return fail(type_error(path, "an object", v));
  }
  Delta delta;
  const bool alias_reasoning = !v.contains("reasoning_content");
  for (const auto& [key, field] : v.items()) {
    if (auto ok = parse_delta_field(key, field, path, alias_reasoning, delta); !ok) {
      return fail(ok.error());
    }
  }
  return delta;
}

Result<ChunkChoice> parse_chunk_choice(const Json& v, const std::string& path, std::size_t) {
  if (!v.is_object()) {
    return fail(type_error(path, "an object", v));
  }
  ChunkChoice choice;
  for (const auto& [key, field] : v.items()) {
    const auto here = field_path(path, key);
    Result<void> ok;
    if (key == "index") {
      ok = read_index(field, here, choice.index);
    } else if (key == "finish_reason") {
      ok = read_opt(field, here, choice.finish_reason);
    } else if (key == "delta" && !field.is_null()) {
      auto delta = parse_delta(field, here);
      if (!delta) {
        return fail(delta.error());
      }
      choice.delta = std::move(*delta);
    } else {
      choice.extra[key] = field;
    }
    if (!ok) {
      return fail(ok.error());
    }
  }
  return choice;
}

Json finish_json(const std::optional<std::string>& finish) {
  return finish ? Json(*finish) : Json(nullptr);
}

template <class Reply> Json common_to_json(const Reply& r) {
  Json out = r.extra.is_object() ? r.extra : Json::object();
  out["id"] = r.id;
  out["object"] = r.object;
  out["created"] = r.created;
  out["model"] = r.model;
  if (r.usage) {
    out["usage"] = to_json(*r.usage);
  }
  if (r.system_fingerprint) {
    out["system_fingerprint"] = *r.system_fingerprint;
  }
  return out;
}

// "function" is written when it has a name or arguments, or came in extra["function"].
Json tool_call_delta_to_json(const ToolCallDelta& call) {
  Json out = call.extra.is_object() ? call.extra : Json::object();
  out["index"] = call.index;
  if (call.id) {
    out["id"] = *call.id;
  }
  if (call.type) {
    out["type"] = *call.type;
  }
  if (call.name || call.arguments) {
    Json fn =
        out.contains("function") && out["function"].is_object() ? out["function"] : Json::object();
    if (call.name) {
      fn["name"] = *call.name;
    }
    if (call.arguments) {
      fn["arguments"] = *call.arguments;
    }
    out["function"] = std::move(fn);
  }
  return out;
}

Json delta_to_json(const Delta& delta) {
  Json out = delta.extra.is_object() ? delta.extra : Json::object();
  if (delta.role) {
    out["role"] = *delta.role;
  }
  if (delta.content) {
    out["content"] = *delta.content;
  } else if (delta.content_is_null) {
    out["content"] = nullptr;
  }
  if (delta.reasoning_content) {
    out["reasoning_content"] = *delta.reasoning_content;
  }
  if (delta.tool_calls.empty()) {
    return out;
  }
  Json calls = Json::array();
  for (const auto& call : delta.tool_calls) {
    calls.push_back(tool_call_delta_to_json(call));
  }
  out["tool_calls"] = std::move(calls);
  return out;
}

// The checks both reply parsers run before reading fields: nesting, type, in-band error.
std::optional<Error> check_reply(const Json& body, const char* what) {
  if (auto deep = detail::check_reply_depth(body, what)) {
    return deep;
  }
  if (!body.is_object()) {
    return reply_error(what, type_error("body", "an object", body));
  }
  return detail::in_band_error(body, what);
}

} // namespace

Json to_json(const Usage& usage) {
  Json out = usage.extra.is_object() ? usage.extra : Json::object();
  out["prompt_tokens"] = usage.prompt_tokens;
  out["completion_tokens"] = usage.completion_tokens;
  out["total_tokens"] = usage.total_tokens;
  return out;
}

Result<ChatResponse> parse_chat_response(const Json& body) {
  if (auto e = check_reply(body, "chat response")) {
    return fail(std::move(*e));
  }
  ChatResponse resp;
  for (const auto& [key, v] : body.items()) {
    auto common = parse_common_field(key, v, resp);
    if (!common) {
      return fail(reply_error("chat response", common.error()));
    }
    if (*common) {
      continue;
    }
    if (key == "choices" && !v.is_null()) {
      auto choices =
          parse_array<Choice>(v, key, [](const Json& c, const std::string& p, std::size_t) {
            return parse_choice(c, p);
          });
      if (!choices) {
        return fail(reply_error("chat response", choices.error()));
      }
      resp.choices = std::move(*choices);
    } else {
      resp.extra[key] = v;
    }
  }
  return resp;
}

Json to_json(const ChatResponse& resp) {
  Json out = common_to_json(resp);
  Json choices = Json::array();
  for (const auto& choice : resp.choices) {
    Json c = choice.extra.is_object() ? choice.extra : Json::object();
    c["index"] = choice.index;
    c["message"] = to_json(choice.message);
    c["finish_reason"] = finish_json(choice.finish_reason);
    choices.push_back(std::move(c));
  }
  out["choices"] = std::move(choices);
  return out;
}

Result<ChatResponse> parse_chat_response(std::string_view body) {
  auto parsed = detail::parse_reply_text(body, "chat response");
  if (!parsed) {
    return fail(parsed.error());
  }
  return parse_chat_response(*parsed);
}

Result<ChatChunk> parse_chat_chunk(const Json& body) {
  if (auto e = check_reply(body, "chat chunk")) {
    return fail(std::move(*e));
  }
  ChatChunk chunk;
  for (const auto& [key, v] : body.items()) {
    auto common = parse_common_field(key, v, chunk);
    if (!common) {
      return fail(reply_error("chat chunk", common.error()));
    }
    if (*common) {
      continue;
    }
    if (key == "choices" && !v.is_null()) {
      auto choices = parse_array<ChunkChoice>(v, key, parse_chunk_choice);
      if (!choices) {
        return fail(reply_error("chat chunk", choices.error()));
      }
      chunk.choices = std::move(*choices);
    } else {
      chunk.extra[key] = v;
    }
  }
  return chunk;
}

Result<ChatChunk> parse_chat_chunk(std::string_view body) {
  auto parsed = detail::parse_reply_text(body, "chat chunk");
  if (!parsed) {
    return fail(parsed.error());
  }
  return parse_chat_chunk(*parsed);
}

Json to_json(const ChatChunk& chunk) {
  Json out = common_to_json(chunk);
  Json choices = Json::array();
  for (const auto& choice : chunk.choices) {
    Json c = choice.extra.is_object() ? choice.extra : Json::object();
    c["index"] = choice.index;
    c["delta"] = delta_to_json(choice.delta);
    c["finish_reason"] = finish_json(choice.finish_reason);
    choices.push_back(std::move(c));
  }
  out["choices"] = std::move(choices);
  return out;
}

} // namespace ask::core
