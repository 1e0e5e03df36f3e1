// OpenAI <-> Ollama /api/chat translation, the reply side (whole replies and streams) and
// the helpers both sides share; the request side is in ollama_translate_request.cpp.
// docs/backends.md ("ollama") lists every mapping.
#include "proxy/ollama_translate.h"

#include <cmath>
#include <limits>
#include <utility>
#include <vector>

#include "core/json_text.h"
#include "proxy/ollama_translate_detail.h"

namespace ask::proxy {

namespace ollama_detail {

namespace {

std::string_view json_kind(const core::Json& v) {
  switch (v.type()) {
  case core::Json::value_t::null:
    return "null";
  case core::Json::value_t::boolean:
    return "a boolean";
  case core::Json::value_t::string:
    return "a string";
  case core::Json::value_t::array:
    return "an array";
  case core::Json::value_t::object:
    return "an object";
  case core::Json::value_t::number_integer:
  case core::Json::value_t::number_unsigned:
    return "an integer";
  case core::Json::value_t::number_float:
    return "a number";
  default:
    return "a binary value";
  }
}

} // namespace

std::string expected(std::string_view wanted, const core::Json& got) {
  return "expected " + std::string(wanted) + ", got " + std::string(json_kind(got));
}

std::string index_path(const std::string& base, std::size_t i) {
  return base + "[" + std::to_string(i) + "]";
}

std::optional<long long> as_int64(const core::Json& v) {
  if (v.is_number_unsigned()) {
    const auto u = v.get<unsigned long long>();
    if (u > static_cast<unsigned long long>(std::numeric_limits<long long>::max())) {
      return std::nullopt;
    }
    return static_cast<long long>(u);
  }
  if (v.is_number_integer()) {
    return v.get<long long>();
  }
  if (v.is_number_float()) {
    const double d = v.get<double>();
    constexpr double k_limit = 9223372036854775808.0; // 2^63
    if (std::isfinite(d) && std::trunc(d) == d && d >= -k_limit && d < k_limit) {
      return static_cast<long long>(d);
    }
  }
  return std::nullopt;
}

} // namespace ollama_detail

namespace {

using core::Error;
using core::fail;
using core::Json;
using core::Result;
using ollama_detail::as_int64;
using ollama_detail::expected;
using ollama_detail::index_path;
using ollama_detail::k_max_depth;

// Largest token count read from a reply, so that prompt + completion cannot overflow.
constexpr long long k_max_count = std::numeric_limits<long long>::max() / 4;
// Longest Ollama error message passed on.
constexpr std::size_t k_error_message_limit = 4096;

constexpr std::string_view k_reply = "Ollama reply";
constexpr std::string_view k_stream = "Ollama stream object";

// malformed_reply "invalid <what>: path: reason".
Error bad_reply(std::string_view what, const std::string& path, std::string_view reason) {
  return Error::malformed_reply("invalid " + std::string(what) + ": " + path + ": " +
                                std::string(reason));
}

// True when `value` nests arrays and objects deeper than `limit` levels. Iterative.
bool deeper_than(const Json& value, int limit) {
  std::vector<std::pair<const Json*, int>> todo{{&value, 0}};
  while (!todo.empty()) {
    const auto [v, depth] = todo.back();
    todo.pop_back();
    if (!v->is_structured()) {
      continue;
    }
    if (depth + 1 > limit) {
      return true;
    }
    for (const auto& child : *v) {
      todo.emplace_back(&child, depth + 1);
    }
  }
  return false;
}

} // namespace

std::optional<Error> ollama_detail::in_band_error(const Json& body, std::string_view what) {
  const auto it = body.find("error");
  if (it == body.end() || it->is_null()) {
    return std::nullopt;
  }
  const auto err = core::parse_error_body(body);
  if (!err) {
    return bad_reply(what, "error", expected("a string or an error object", *it));
  }
  int status = 502;
  if (const auto code = as_int64(err->code); code && *code >= 400 && *code <= 599) {
    status = static_cast<int>(*code);
  }
  std::string message = err->message;
  if (message.size() > k_error_message_limit) {
    auto cut = k_error_message_limit;
    while (cut > 0 && (static_cast<unsigned char>(message[cut]) & 0xC0) == 0x80) {
      --cut; // not inside a UTF-8 sequence
    }
    message = message.substr(0, cut) + "...";
  }
  if (message.empty()) {
    message = "Ollama sent an error without a message";
  }
  return Error::upstream(status, std::move(message));
}

namespace {

using ollama_detail::in_band_error;

// The `message` of a reply or stream object, read.
struct ReplyMessage {
  std::string content;
  std::string thinking;
  std::vector<core::ToolCall> calls;
};

// An optional string field of `obj` (absent or null -> "").
Result<std::string> optional_string(const Json& obj, const char* key, std::string_view what,
                                    const std::string& base) {
  const auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) {
    return std::string();
  }
  if (!it->is_string()) {
    return fail(bad_reply(what, base + "." + key, expected("a string", *it)));
  }
  return it->get<std::string>();
}

// One tool call: {"id"?, "function": {"name", "arguments": {...}}}; a missing id becomes
// call_<n>, n its position in the whole reply.
Result<core::ToolCall> read_tool_call(const Json& c, const std::string& path, std::string_view what,
                                      int n) {
  if (!c.is_object()) {
    return fail(bad_reply(what, path, expected("an object", c)));
  }
  core::ToolCall call;
  auto id = optional_string(c, "id", what, path);
  if (!id) {
    return fail(id.error());
  }
  call.id = id->empty() ? "call_" + std::to_string(n) : std::move(*id);
  const auto fn = c.find("function");
  if (fn == c.end() || !fn->is_object()) {
    return fail(bad_reply(what, path + ".function",
                          fn == c.end() ? "required" : expected("an object", *fn)));
  }
  const std::string fn_path = path + ".function";
  const auto name = fn->find("name");
  if (name == fn->end() || !name->is_string()) {
    return fail(bad_reply(what, fn_path + ".name",
                          name == fn->end() ? "required" : expected("a string", *name)));
  }
  call.function.name = name->get<std::string>();
  const auto args = fn->find("arguments");
  if (args == fn->end() || args->is_null()) {
    call.function.arguments = "{}";
  } else if (args->is_string()) {
    call.function.arguments = args->get<std::string>(); // already encoded
  } else if (args->is_object()) {
    if (deeper_than(*args, k_max_depth)) {
      return fail(bad_reply(what, fn_path + ".arguments", "JSON nested deeper than 128 levels"));
    }
    call.function.arguments = core::dump_json(*args);
  } else {
    return fail(bad_reply(what, fn_path + ".arguments", expected("an object", *args)));
  }
  return call;
}

// `first_call` numbers the calls that come without an id.
Result<ReplyMessage> read_message(const Json& msg, std::string_view what, int first_call) {
  if (!msg.is_object()) {
    return fail(bad_reply(what, "message", expected("an object", msg)));
  }
  ReplyMessage out;
  if (const auto role = msg.find("role"); role != msg.end() && !role->is_string()) {
    return fail(bad_reply(what, "message.role", expected("a string", *role)));
  }
  auto content = optional_string(msg, "content", what, "message");
  if (!content) {
    return fail(content.error());
  }
  out.content = std::move(*content);
  auto thinking = optional_string(msg, "thinking", what, "message");
  if (!thinking) {
    return fail(thinking.error());
  }
  out.thinking = std::move(*thinking);
  const auto calls = msg.find("tool_calls");
  if (calls == msg.end() || calls->is_null()) {
    return out;
  }
  if (!calls->is_array()) {
    return fail(bad_reply(what, "message.tool_calls", expected("an array", *calls)));
  }
  for (std::size_t i = 0; i < calls->size(); ++i) {
    auto call = read_tool_call((*calls)[i], index_path("message.tool_calls", i), what,
                               first_call + static_cast<int>(i));
    if (!call) {
      return fail(call.error());
    }
    out.calls.push_back(std::move(*call));
  }
  return out;
}

// done_reason -> finish_reason: "length" stays, calls made give "tool_calls", the rest
// (stop, load, unload, absent as from ollama.com) "stop".
Result<std::string> finish_reason(const Json& body, bool made_calls, std::string_view what) {
  const auto reason = body.find("done_reason");
  if (reason != body.end() && !reason->is_null() && !reason->is_string()) {
    return fail(bad_reply(what, "done_reason", expected("a string", *reason)));
  }
  if (reason != body.end() && *reason == "length") {
    return std::string("length");
  }
  return std::string(made_calls ? "tool_calls" : "stop");
}

// A token count: absent or null is 0; else a non-negative integer.
Result<long long> read_count(const Json& body, const char* key, std::string_view what) {
  const auto it = body.find(key);
  if (it == body.end() || it->is_null()) {
    return 0LL;
  }
  const auto n = as_int64(*it);
  if (!n || *n < 0 || *n > k_max_count) {
    return fail(bad_reply(what, key,
                          it->is_number() ? "expected a token count (a non-negative integer)"
                                          : expected("an integer", *it)));
  }
  return *n;
}

Result<core::Usage> read_usage(const Json& body, std::string_view what) {
  auto prompt = read_count(body, "prompt_eval_count", what);
  if (!prompt) {
    return fail(prompt.error());
  }
  auto completion = read_count(body, "eval_count", what);
  if (!completion) {
    return fail(completion.error());
  }
  core::Usage usage;
  usage.prompt_tokens = *prompt;
  usage.completion_tokens = *completion;
  usage.total_tokens = *prompt + *completion;
  return usage;
}

// The checks every reply object goes through first: an object, not an error.
std::optional<Error> check_object(const Json& body, std::string_view what) {
  if (!body.is_object()) {
    return bad_reply(what, "body", expected("an object", body));
  }
  return in_band_error(body, what);
}

// A chunk with the stream's header and one choice, its delta empty.
core::ChatChunk make_chunk(const ReplyMeta& meta) {
  core::ChatChunk chunk;
  chunk.id = meta.id;
  chunk.created = meta.created;
  chunk.model = meta.model;
  chunk.choices.emplace_back();
  return chunk;
}

} // namespace

namespace ollama_detail {

// The reply-side helpers above, for the /api/generate translation (ollama_generate.cpp).
std::optional<core::Error> reply_error(const core::Json& body, std::string_view what) {
  return check_object(body, what);
}

core::Result<std::string> done_finish_reason(const core::Json& body, std::string_view what) {
  return finish_reason(body, false, what);
}

core::Result<core::Usage> reply_usage(const core::Json& body, std::string_view what) {
  return read_usage(body, what);
}

core::Error malformed(std::string_view what, const std::string& path, std::string_view reason) {
  return bad_reply(what, path, reason);
}

} // namespace ollama_detail

core::Result<core::Json> openai_response_from_ollama(const core::Json& reply,
                                                     const ReplyMeta& meta) {
  if (auto e = check_object(reply, k_reply)) {
    return fail(std::move(*e));
  }
  if (const auto done = reply.find("done"); done != reply.end() && *done != true) {
    return fail(bad_reply(k_reply, "done",
                          done->is_boolean() ? "false in a non-streaming reply"
                                             : expected("a boolean", *done)));
  }
  const auto msg_it = reply.find("message");
  if (msg_it == reply.end()) {
    return fail(bad_reply(k_reply, "message", "required"));
  }
  auto msg = read_message(*msg_it, k_reply, 0);
  if (!msg) {
    return fail(msg.error());
  }
  auto finish = finish_reason(reply, !msg->calls.empty(), k_reply);
  if (!finish) {
    return fail(finish.error());
  }
  auto usage = read_usage(reply, k_reply);
  if (!usage) {
    return fail(usage.error());
  }
  core::ChatResponse resp;
  resp.id = meta.id;
  resp.created = meta.created;
  resp.model = meta.model;
  core::Choice choice;
  choice.message.role = "assistant";
  if (msg->calls.empty() || !msg->content.empty()) {
    choice.message.content = std::move(msg->content);
  } else {
    choice.message.extra["content"] = nullptr; // as OpenAI writes a tool-calls-only answer
  }
  if (!msg->thinking.empty()) {
    choice.message.reasoning_content = std::move(msg->thinking);
  }
  choice.message.tool_calls = std::move(msg->calls);
  choice.finish_reason = std::move(*finish);
  resp.choices.push_back(std::move(choice));
  resp.usage = std::move(*usage);
  return core::to_json(resp);
}

OllamaStreamTranslator::OllamaStreamTranslator(ReplyMeta meta, bool include_usage)
    : m_meta(std::move(meta)), m_include_usage(include_usage) {}

core::Result<std::vector<core::Json>> OllamaStreamTranslator::translate(const core::Json& line) {
  if (auto e = check_object(line, k_stream)) {
    return fail(std::move(*e));
  }
  if (m_done) {
    return fail(bad_reply(k_stream, "body", "an object after the final (done) one"));
  }
  const auto done_it = line.find("done");
  if (done_it == line.end() || !done_it->is_boolean()) {
    return fail(bad_reply(k_stream, "done",
                          done_it == line.end() ? "required" : expected("a boolean", *done_it)));
  }
  const bool done = done_it->get<bool>();
  // Read everything before changing state, so that a bad object leaves no trace.
  ReplyMessage msg;
  if (const auto msg_it = line.find("message"); msg_it != line.end()) {
    auto read = read_message(*msg_it, k_stream, m_tool_calls);
    if (!read) {
      return fail(read.error());
    }
    msg = std::move(*read);
  } else if (!done) {
    return fail(bad_reply(k_stream, "message", "required"));
  }
  const int calls_after = m_tool_calls + static_cast<int>(msg.calls.size());
  std::string finish;
  core::Usage usage;
  if (done) {
    auto reason = finish_reason(line, calls_after > 0, k_stream);
    auto counts = read_usage(line, k_stream);
    if (!reason || !counts) {
      return fail(!reason ? reason.error() : counts.error());
    }
    finish = std::move(*reason);
    usage = std::move(*counts);
  }

  std::vector<Json> out;
  if (!m_sent_role) {
    auto chunk = make_chunk(m_meta);
    chunk.choices[0].delta.role = "assistant";
    chunk.choices[0].delta.content = "";
    out.push_back(core::to_json(chunk));
    m_sent_role = true;
  }
  if (!msg.thinking.empty() || !msg.content.empty()) {
    auto chunk = make_chunk(m_meta);
    if (!msg.thinking.empty()) {
      chunk.choices[0].delta.reasoning_content = std::move(msg.thinking);
    }
    if (!msg.content.empty()) {
      chunk.choices[0].delta.content = std::move(msg.content);
    }
    out.push_back(core::to_json(chunk));
  }
  if (!msg.calls.empty()) {
    auto chunk = make_chunk(m_meta);
    for (auto& call : msg.calls) {
      core::ToolCallDelta delta;
      delta.index = m_tool_calls++;
      delta.id = std::move(call.id);
      delta.type = "function";
      delta.name = std::move(call.function.name);
      delta.arguments = std::move(call.function.arguments);
      chunk.choices[0].delta.tool_calls.push_back(std::move(delta));
    }
    out.push_back(core::to_json(chunk));
  }
  if (done) {
    auto chunk = make_chunk(m_meta);
    chunk.choices[0].finish_reason = std::move(finish);
    out.push_back(core::to_json(chunk));
    m_usage = std::move(usage);
    m_done = true;
    if (m_include_usage) {
      auto last = make_chunk(m_meta);
      last.choices.clear();
      last.usage = m_usage;
      out.push_back(core::to_json(last));
    }
  }
  return out;
}

} // namespace ask::proxy
