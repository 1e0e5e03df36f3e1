// Ollama's OpenAI-compatible endpoints (/v1/chat/completions, /v1/models), shaped like
// Ollama's openai package: "system_fingerprint":"fp_ollama", ids "chatcmpl-<n>", reasoning
// in "reasoning", every delta carrying "role":"assistant", errors as
// {"error":{"message","type","param":null,"code":null}}.

#include <expected>

#include "core/json_text.h"
#include "core/sse.h"
#include "sim/log.h"
#include "sim/ollama_api.h"

namespace ask::sim {

namespace {

using ollama::OJson;
using Json = nlohmann::json;
using SteadyClock = std::chrono::steady_clock;

struct ChunkMeta {
  std::string id;
  long long created = 0;
  std::string model;
};

OJson envelope(const ChunkMeta& m, const char* object) {
  return OJson{{"id", m.id},
               {"object", object},
               {"created", m.created},
               {"model", m.model},
               {"system_fingerprint", "fp_ollama"}};
}

OJson tool_calls(const ToolCallPlan& call) {
  return OJson::array(
      {OJson{{"id", "call_" + call.id.substr(0, 8)},
             {"index", 0},
             {"type", "function"},
             {"function", {{"name", call.name}, {"arguments", call.arguments.dump()}}}}});
}

std::string finish_reason(const Answer& a) {
  return a.tool_call ? "tool_calls" : (a.finish_reason == "length" ? "length" : "stop");
}

OJson usage(const Answer& a) {
  return OJson{{"prompt_tokens", a.prompt_tokens},
               {"completion_tokens", a.completion_tokens()},
               {"total_tokens", a.prompt_tokens + a.completion_tokens()}};
}

OJson chunk(const ChunkMeta& m, OJson delta, const std::optional<std::string>& finish) {
  OJson body = envelope(m, "chat.completion.chunk");
  OJson choice{{"index", 0}, {"delta", std::move(delta)}};
  choice["finish_reason"] = finish ? OJson(*finish) : OJson(nullptr);
  body["choices"] = OJson::array({std::move(choice)});
  return body;
}

OJson completion(const ChunkMeta& m, const Answer& a) {
  OJson message{{"role", "assistant"}, {"content", a.content()}};
  if (a.reasoning_tokens() > 0) {
    message["reasoning"] = a.reasoning();
  }
  if (a.tool_call) {
    message["tool_calls"] = tool_calls(*a.tool_call);
  }
  OJson body = envelope(m, "chat.completion");
  body["choices"] = OJson::array(
      {OJson{{"index", 0}, {"message", std::move(message)}, {"finish_reason", finish_reason(a)}}});
  body["usage"] = usage(a);
  return body;
}

class SseSink final : public TokenSink {
public:
  SseSink(Exchange& ex, ChunkMeta meta, const Answer& answer, bool include_usage, RunTiming& timing,
          std::string date)
      : m_ex(ex), m_meta(std::move(meta)), m_answer(answer), m_usage(include_usage),
        m_timing(timing), m_date(std::move(date)) {}

  bool open() override {
    m_timing.first_token = SteadyClock::now();
    return m_ex.begin_chunked(200, ollama::stream_headers("text/event-stream", m_date));
  }
  bool token(std::size_t i) override {
    Token t = m_answer.token(i);
    OJson delta{{"role", "assistant"}, {"content", t.kind == TokenKind::content ? t.text : ""}};
    if (t.kind == TokenKind::reasoning) {
      delta["reasoning"] = t.text;
    }
    return event(chunk(m_meta, std::move(delta), std::nullopt));
  }
  bool flush() override { return true; }
  bool finish() override {
    if (m_answer.tool_call) {
      OJson delta{
          {"role", "assistant"}, {"content", ""}, {"tool_calls", tool_calls(*m_answer.tool_call)}};
      if (!event(chunk(m_meta, std::move(delta), std::nullopt))) {
        return false;
      }
    }
    if (!event(chunk(m_meta, OJson{{"role", "assistant"}, {"content", ""}},
                     finish_reason(m_answer)))) {
      return false;
    }
    if (m_usage) {
      OJson u = envelope(m_meta, "chat.completion.chunk");
      u["choices"] = OJson::array();
      u["usage"] = usage(m_answer);
      if (!event(u)) {
        return false;
      }
    }
    return m_ex.send_chunk(core::encode_sse_done()) && m_ex.end_chunked();
  }

private:
  bool event(const OJson& body) { return m_ex.send_chunk(core::encode_sse(core::dump_json(body))); }

  Exchange& m_ex;
  ChunkMeta m_meta;
  const Answer& m_answer;
  bool m_usage;
  RunTiming& m_timing;
  std::string m_date;
};

bool openai_wants_reasoning(const Json& body) {
  auto on = [](const Json& v) { return v.is_string() && v.get<std::string>() != "none"; };
  if (body.contains("reasoning_effort") && on(body["reasoning_effort"])) {
    return true;
  }
  return body.contains("reasoning") && body["reasoning"].is_object() &&
         body["reasoning"].contains("effort") && on(body["reasoning"]["effort"]);
}

std::optional<std::string> openai_chosen_tool(const Json& body) {
  const Json c = body.value("tool_choice", Json());
  if (c.is_string() && c.get<std::string>() == "required") {
    return std::string();
  }
  if (c.is_object() && c.contains("function") && c["function"].is_object() &&
      !string_field(c["function"], "name").empty()) {
    return c["function"]["name"].get<std::string>();
  }
  return std::nullopt;
}

struct OpenAiRequest {
  OllamaJob job;
  bool include_usage = false;
};

std::expected<OpenAiRequest, std::pair<int, std::string>> parse_openai(const std::string& text,
                                                                       const OllamaModels& models) {
  Json body = Json::parse(text, nullptr, false);
  if (body.is_discarded() || !body.is_object()) {
    return std::unexpected(std::pair(400, std::string("invalid JSON in request body")));
  }
  std::string name = string_field(body, "model");
  if (name.empty()) {
    return std::unexpected(std::pair(400, std::string("model is required")));
  }
  if (!body.contains("messages") || !body["messages"].is_array() || body["messages"].empty()) {
    return std::unexpected(std::pair(400, std::string("messages is required")));
  }
  OpenAiRequest r;
  r.job.requested = name;
  r.job.spec = models.find(name);
  if (r.job.spec == nullptr) {
    return std::unexpected(std::pair(404, ollama::model_not_found(name)));
  }
  r.job.stream = flag_field(body, "stream");
  r.include_usage =
      body.contains("stream_options") && flag_field(body["stream_options"], "include_usage");
  r.job.input = read_chat_input(body["messages"], body.value("tools", Json()));
  GenerationRequest& gen = r.job.gen;
  gen.model = r.job.spec->name;
  gen.messages = r.job.input.messages;
  gen.tools = r.job.input.tools;
  gen.reasoning = openai_wants_reasoning(body);
  gen.tool_call = gen.tools.empty() ? std::nullopt : openai_chosen_tool(body);
  if (body.contains("max_tokens") && body["max_tokens"].is_number_integer()) {
    gen.max_tokens = body["max_tokens"].get<long long>();
  }
  if (body.contains("seed") && body["seed"].is_number_integer()) {
    gen.seed = body["seed"].get<long long>();
  }
  if (body.contains("temperature") && body["temperature"].is_number()) {
    gen.temperature = body["temperature"].get<double>();
  }
  gen.context_left =
      std::max(1LL, r.job.spec->context_length - count_prompt_tokens(gen.messages, gen.tools));
  return r;
}

} // namespace

void OllamaApi::send_openai_error(Exchange& exchange, int status, const std::string& message,
                                  Headers extra) {
  std::string type =
      status == 400 ? "invalid_request_error" : (status == 404 ? "not_found_error" : "api_error");
  send_json(exchange, status,
            OJson{{"error",
                   {{"message", message}, {"type", type}, {"param", nullptr}, {"code", nullptr}}}},
            std::move(extra));
}

void OllamaApi::openai_models(Exchange& exchange) {
  OJson data = OJson::array();
  const long long created = static_cast<long long>(core::unix_seconds(m_services.clock.wall_now()));
  for (const OllamaModelSpec& s : m_models.catalog()) {
    data.push_back(
        OJson{{"id", s.name}, {"object", "model"}, {"created", created}, {"owned_by", "library"}});
  }
  send_json(exchange, 200, OJson{{"object", "list"}, {"data", std::move(data)}});
}

void OllamaApi::openai_chat(const HttpRequest& request, Exchange& exchange) {
  auto parsed = parse_openai(request.body, m_models);
  if (!parsed) {
    send_openai_error(exchange, parsed.error().first, parsed.error().second);
    return;
  }
  ChunkMeta meta{"chatcmpl-" + std::to_string(m_services.ids.number(1000)),
                 static_cast<long long>(core::unix_seconds(m_services.clock.wall_now())),
                 parsed->job.requested};
  const bool stream = parsed->job.stream;
  const bool include_usage = parsed->include_usage;
  auto fail = [&](int status, const std::string& message, Headers extra) {
    send_openai_error(exchange, status, message, std::move(extra));
  };
  run(exchange, parsed->job, request, fail,
      [&](const Answer& answer, RunTiming& timing) -> std::unique_ptr<TokenSink> {
        if (stream) {
          return std::make_unique<SseSink>(exchange, meta, answer, include_usage, timing, date());
        }
        return std::make_unique<WholeAnswerSink>(timing, [&] {
          send_json(exchange, 200, completion(meta, answer));
          return !exchange.write_failed();
        });
      });
}

} // namespace ask::sim
