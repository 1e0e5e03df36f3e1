#include "sim/ollama_format.h"

#include "sim/log.h"

namespace ask::sim::ollama {

namespace {

OJson head(const std::string& model, const std::string& created_at) {
  return OJson{{"model", model}, {"created_at", created_at}};
}

OJson tool_calls_json(const ToolCallPlan& call, const std::string& call_id) {
  return OJson::array(
      {OJson{{"id", call_id},
             {"function", {{"index", 0}, {"name", call.name}, {"arguments", call.arguments}}}}});
}

void add_counters(OJson& line, long long prompt_tokens, long long eval_tokens, const Durations& d) {
  line["total_duration"] = d.total;
  line["load_duration"] = d.load;
  line["prompt_eval_count"] = prompt_tokens;
  line["prompt_eval_duration"] = d.prompt_eval;
  line["eval_count"] = eval_tokens;
  line["eval_duration"] = d.eval;
}

} // namespace

OJson token_line(Endpoint ep, const std::string& model, const std::string& created_at,
                 const Token& token) {
  OJson line = head(model, created_at);
  const bool thinking = token.kind == TokenKind::reasoning;
  if (ep == Endpoint::chat) {
    OJson message{{"role", "assistant"}, {"content", thinking ? "" : token.text}};
    if (thinking) {
      message["thinking"] = token.text;
    }
    line["message"] = std::move(message);
  } else {
    line["response"] = thinking ? "" : token.text;
    if (thinking) {
      line["thinking"] = token.text;
    }
  }
  line["done"] = false;
  return line;
}

OJson tool_call_line(const std::string& model, const std::string& created_at,
                     const ToolCallPlan& call, const std::string& call_id) {
  OJson line = head(model, created_at);
  line["message"] =
      OJson{{"role", "assistant"}, {"content", ""}, {"tool_calls", tool_calls_json(call, call_id)}};
  line["done"] = false;
  return line;
}

OJson final_line(Endpoint ep, const std::string& model, const std::string& created_at,
                 const std::string& reason, long long prompt_tokens, long long eval_tokens,
                 const Durations& d) {
  OJson line = head(model, created_at);
  if (ep == Endpoint::chat) {
    line["message"] = OJson{{"role", "assistant"}, {"content", ""}};
  } else {
    line["response"] = "";
  }
  line["done"] = true;
  line["done_reason"] = reason;
  add_counters(line, prompt_tokens, eval_tokens, d);
  return line;
}

OJson whole_answer(Endpoint ep, const std::string& model, const std::string& created_at,
                   const Answer& answer, const std::string& call_id, const Durations& d) {
  OJson line = head(model, created_at);
  if (ep == Endpoint::chat) {
    OJson message{{"role", "assistant"}, {"content", answer.content()}};
    if (answer.reasoning_tokens() > 0) {
      message["thinking"] = answer.reasoning();
    }
    if (answer.tool_call) {
      message["tool_calls"] = tool_calls_json(*answer.tool_call, call_id);
    }
    line["message"] = std::move(message);
  } else {
    line["response"] = answer.content();
    if (answer.reasoning_tokens() > 0) {
      line["thinking"] = answer.reasoning();
    }
  }
  line["done"] = true;
  line["done_reason"] = done_reason(answer);
  add_counters(line, answer.prompt_tokens, answer.completion_tokens(), d);
  return line;
}

OJson load_reply(Endpoint ep, const std::string& model, const std::string& created_at,
                 const std::string& reason) {
  OJson line = head(model, created_at);
  if (ep == Endpoint::chat) {
    line["message"] = OJson{{"role", "assistant"}, {"content", ""}};
  } else {
    line["response"] = "";
  }
  line["done"] = true;
  line["done_reason"] = reason;
  return line;
}

OJson details_json(const OllamaModelSpec& s) {
  return OJson{{"parent_model", ""},
               {"format", "gguf"},
               {"family", s.family},
               {"families", OJson::array({s.family})},
               {"parameter_size", s.parameter_size},
               {"quantization_level", s.quantization}};
}

OJson tags_json(const std::vector<OllamaModelSpec>& models, const std::string& modified_at) {
  OJson list = OJson::array();
  for (const OllamaModelSpec& s : models) {
    list.push_back(OJson{{"name", s.name},
                         {"model", s.name},
                         {"modified_at", modified_at},
                         {"size", s.size},
                         {"digest", s.digest},
                         {"details", details_json(s)}});
  }
  return OJson{{"models", std::move(list)}};
}

OJson ps_json(const std::vector<RunningModel>& running, core::Clock::WallTime now) {
  // Ollama shows "never" as now plus the largest Go duration (about 292 years).
  constexpr long long k_forever_seconds = 9'223'372'036LL;
  const long long now_s =
      std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count();
  OJson list = OJson::array();
  for (const RunningModel& r : running) {
    list.push_back(OJson{{"name", r.spec.name},
                         {"model", r.spec.name},
                         {"size", r.spec.size},
                         {"digest", r.spec.digest},
                         {"details", details_json(r.spec)},
                         {"expires_at", r.forever ? rfc3339_nano(now_s + k_forever_seconds, 0)
                                                  : rfc3339_nano(r.expires_at)},
                         {"size_vram", r.spec.size},
                         {"context_length", r.spec.context_length}});
  }
  return OJson{{"models", std::move(list)}};
}

OJson show_json(const OllamaModelSpec& s, const std::string& modified_at) {
  OJson info{{"general.architecture", s.family},
             {"general.parameter_count",
              static_cast<long long>(static_cast<double>(s.size - 300'000'000ULL) / 0.6)},
             {s.family + ".context_length", s.train_context},
             {s.family + ".embedding_length", s.embedding_length}};
  return OJson{{"license", ""},
               {"modelfile", "# Modelfile generated by llm-sim\nFROM " + s.name + "\n"},
               {"parameters", ""},
               {"template", "{{ .Prompt }}"},
               {"details", details_json(s)},
               {"model_info", std::move(info)},
               {"capabilities", s.capabilities},
               {"modified_at", modified_at}};
}

OJson error_body(const std::string& message) {
  return OJson{{"error", message}};
}

std::string model_not_found(const std::string& name) {
  return "model \"" + name + "\" not found, try pulling it first";
}

Headers json_headers(std::size_t content_length, const std::string& date,
                     const std::string& content_type) {
  return Headers{{"Content-Type", content_type},
                 {"Date", date},
                 {"Content-Length", std::to_string(content_length)}};
}

Headers stream_headers(const std::string& content_type, const std::string& date) {
  return Headers{{"Content-Type", content_type}, {"Date", date}, {"Transfer-Encoding", "chunked"}};
}

std::string done_reason(const Answer& answer) {
  return answer.finish_reason == "length" ? "length" : "stop";
}

} // namespace ask::sim::ollama
