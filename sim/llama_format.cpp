#include "sim/llama_format.h"

#include "core/json_text.h"
#include "core/sse.h"

namespace ask::sim::llama {

namespace {

double per(double a, double b) {
  return b > 0 ? a / b : 0.0;
}

OJson meta_tail(OJson body, const CompletionMeta& meta, const char* object) {
  body["created"] = meta.created;
  body["id"] = meta.id;
  body["model"] = meta.model;
  body["system_fingerprint"] = k_system_fingerprint;
  body["object"] = object;
  return body;
}

OJson tool_call_message(const ToolCallPlan& call) {
  return OJson{{"type", "function"},
               {"function", {{"name", call.name}, {"arguments", call.arguments.dump()}}},
               {"id", call.id}};
}

} // namespace

OJson timings_json(const Timings& t) {
  // llama-server divides the generation time by the tokens after the first, which it
  // counts with the prompt (so 16 tokens in 5.328 ms are 0.3552 ms per token).
  const double generated =
      static_cast<double>(t.predicted_n > 1 ? t.predicted_n - 1 : t.predicted_n);
  return OJson{
      {"cache_n", 0},
      {"prompt_n", t.prompt_n},
      {"prompt_ms", t.prompt_ms},
      {"prompt_per_token_ms", per(t.prompt_ms, static_cast<double>(t.prompt_n))},
      {"prompt_per_second", per(1e3 * static_cast<double>(t.prompt_n), t.prompt_ms)},
      {"predicted_n", t.predicted_n},
      {"predicted_ms", t.predicted_ms},
      {"predicted_per_token_ms", per(t.predicted_ms, generated)},
      {"predicted_per_second", per(1e3 * generated, t.predicted_ms)},
  };
}

OJson usage_json(long long prompt_tokens, long long completion_tokens) {
  return OJson{{"completion_tokens", completion_tokens},
               {"prompt_tokens", prompt_tokens},
               {"total_tokens", prompt_tokens + completion_tokens},
               {"prompt_tokens_details", {{"cached_tokens", 0}}}};
}

OJson chunk(const CompletionMeta& meta, OJson delta) {
  OJson choice{{"finish_reason", nullptr}, {"index", 0}, {"delta", std::move(delta)}};
  OJson body{{"choices", OJson::array({std::move(choice)})}};
  return meta_tail(std::move(body), meta, "chat.completion.chunk");
}

OJson role_delta() {
  return OJson{{"role", "assistant"}, {"content", nullptr}};
}

OJson token_delta(const Token& token) {
  return token.kind == TokenKind::reasoning ? OJson{{"reasoning_content", token.text}}
                                            : OJson{{"content", token.text}};
}

OJson tool_call_delta(const ToolCallPlan& call) {
  OJson tc{{"index", 0},
           {"id", call.id},
           {"type", "function"},
           {"function", {{"name", call.name}, {"arguments", call.arguments.dump()}}}};
  return OJson{{"tool_calls", OJson::array({std::move(tc)})}};
}

OJson final_chunk(const CompletionMeta& meta, const std::string& finish_reason,
                  const std::optional<Timings>& timings) {
  OJson choice{{"finish_reason", finish_reason}, {"index", 0}, {"delta", OJson::object()}};
  OJson body = meta_tail(OJson{{"choices", OJson::array({std::move(choice)})}}, meta,
                         "chat.completion.chunk");
  if (timings) {
    body["timings"] = timings_json(*timings);
  }
  return body;
}

OJson usage_chunk(const CompletionMeta& meta, long long prompt_tokens, long long completion_tokens,
                  const Timings& timings) {
  OJson body = meta_tail(OJson{{"choices", OJson::array()}}, meta, "chat.completion.chunk");
  body["usage"] = usage_json(prompt_tokens, completion_tokens);
  body["timings"] = timings_json(timings);
  return body;
}

OJson completion(const CompletionMeta& meta, const Answer& answer, const Timings& timings) {
  OJson message{{"role", "assistant"}};
  if (answer.tool_call && answer.content_tokens() == 0) {
    message["content"] = nullptr;
  } else {
    message["content"] = answer.content();
  }
  if (answer.reasoning_tokens() > 0) {
    message["reasoning_content"] = answer.reasoning();
  }
  if (answer.tool_call) {
    message["tool_calls"] = OJson::array({tool_call_message(*answer.tool_call)});
  }
  OJson choice{
      {"finish_reason", answer.finish_reason}, {"index", 0}, {"message", std::move(message)}};
  return OJson{
      {"choices", OJson::array({std::move(choice)})},
      {"created", meta.created},
      {"model", meta.model},
      {"system_fingerprint", k_system_fingerprint},
      {"object", "chat.completion"},
      {"usage", usage_json(answer.prompt_tokens, answer.completion_tokens())},
      {"id", meta.id},
      {"timings", timings_json(timings)},
  };
}

std::string sse(const OJson& event) {
  return core::encode_sse(core::dump_json(event));
}

OJson error_body(int code, const std::string& message, const std::string& type,
                 const OJson& extra) {
  OJson err{{"code", code}, {"message", message}, {"type", type}};
  for (const auto& [k, v] : extra.items()) {
    err[k] = v;
  }
  return OJson{{"error", std::move(err)}};
}

OJson not_found_body() {
  return OJson{
      {"error", {{"message", "File Not Found"}, {"type", "not_found_error"}, {"code", 404}}}};
}

std::string error_type(int status) {
  switch (status) {
  case 400:
    return "invalid_request_error";
  case 401:
    return "authentication_error";
  case 403:
    return "permission_error";
  case 404:
    return "not_found_error";
  case 429:
    return "rate_limit_error";
  case 501:
    return "not_supported_error";
  case 503:
    return "unavailable_error";
  default:
    return status >= 500 ? "server_error" : "invalid_request_error";
  }
}

Headers json_headers(int status, std::size_t content_length, bool keep_alive,
                     const std::string& content_type) {
  Headers h{{"Server", "llama.cpp"},
            {"Access-Control-Allow-Origin", ""},
            {"Content-Type", content_type},
            {"Content-Length", std::to_string(content_length)}};
  if (keep_alive && status < 400) {
    h.emplace_back("Keep-Alive", "timeout=5, max=100");
  } else {
    h.emplace_back("Connection", "close");
  }
  return h;
}

Headers sse_headers(bool keep_alive) {
  Headers h{{"Server", "llama.cpp"},
            {"Access-Control-Allow-Origin", ""},
            {"X-Accel-Buffering", "no"},
            {"Content-Type", "text/event-stream"},
            {"Transfer-Encoding", "chunked"}};
  h.emplace_back(keep_alive ? Header{"Keep-Alive", "timeout=5, max=100"}
                            : Header{"Connection", "close"});
  return h;
}

} // namespace ask::sim::llama
