#include "sim/llama_info.h"

#include <cstdio>

namespace ask::sim::llama {

namespace {

using OJson = nlohmann::ordered_json;

// llama-server's defaults as GET /props reported them (build 10587).
constexpr const char* k_default_params =
    R"({"seed":4294967295,"temperature":0.800000011920929,"dynatemp_range":0.0,"dynatemp_exponent":1.0,"top_k":40,"top_p":0.949999988079071,"min_p":0.05000000074505806,"top_n_sigma":-1.0,"xtc_probability":0.0,"xtc_threshold":0.10000000149011612,"typical_p":1.0,"repeat_last_n":64,"repeat_penalty":1.0,"presence_penalty":0.0,"frequency_penalty":0.0,"dry_multiplier":0.0,"dry_base":1.75,"dry_allowed_length":2,"dry_penalty_last_n":64,"mirostat":0,"mirostat_tau":5.0,"mirostat_eta":0.10000000149011612,"adaptive_target":-1.0,"adaptive_decay":0.8999999761581421,"max_tokens":-1,"n_predict":-1,"n_keep":0,"n_discard":0,"ignore_eos":false,"stream":false,"n_probs":0,"min_keep":0,"chat_format":"Content-only","reasoning_format":"none","reasoning_in_content":false,"generation_prompt":"","samplers":["penalties","dry","top_n_sigma","top_k","typ_p","top_p","min_p","xtc","temperature"],"speculative.types":"none","timings_per_token":false,"post_sampling_probs":false,"backend_sampling":false,"lora":[]})";

OJson template_caps(bool has_tools) {
  return OJson{
      {"supports_object_arguments", has_tools}, {"supports_parallel_tool_calls", has_tools},
      {"supports_preserve_reasoning", false},   {"supports_reasoning_effort", false},
      {"supports_string_content", true},        {"supports_system_role", true},
      {"supports_tool_calls", has_tools},       {"supports_tools", has_tools},
      {"supports_typed_content", false}};
}

void metric(std::string& out, const char* name, const char* help, const char* type,
            const std::string& value) {
  out += std::string("# HELP llamacpp:") + name + " " + help + "\n";
  out += std::string("# TYPE llamacpp:") + name + " " + type + "\n";
  out += std::string("llamacpp:") + name + " " + value + "\n";
}

std::string num(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%g", v);
  return buf;
}

} // namespace

OJson slot_params(const OJson& overrides) {
  OJson params = OJson::parse(k_default_params);
  for (const auto& [k, v] : overrides.items()) {
    params[k] = v;
  }
  return params;
}

OJson props_json(const ServedModel& s, bool metrics_enabled) {
  std::string tmpl =
      s.model.chat_template.empty() ? std::string(k_chatml_template) : s.model.chat_template;
  while (!tmpl.empty() && (tmpl.back() == '\n' || tmpl.back() == ' ')) {
    tmpl.pop_back(); // llama-server reports the template trimmed
  }
  bool tools = tmpl.find("tools") != std::string::npos;
  return OJson{
      {"default_generation_settings", {{"params", slot_params()}, {"n_ctx", s.ctx.n_ctx_seq}}},
      {"total_slots", s.ctx.n_seq},
      {"model_alias", s.id()},
      {"model_ftype", ftype_name(s.model.file_type)},
      {"model_path", s.model.path},
      {"modalities", {{"vision", false}, {"video", false}, {"audio", false}}},
      {"media_marker", "<__media_C10fEqSRX2JBbm4e3O6aGlXeUHBDA2l9__>"},
      {"endpoint_slots", true},
      {"endpoint_props", false},
      {"endpoint_metrics", metrics_enabled},
      {"ui", true},
      {"ui_settings", OJson::object()},
      {"chat_template", tmpl},
      {"chat_template_caps", template_caps(tools)},
      {"bos_token", "<s>"},
      {"eos_token", "</s>"},
      {"build_info", "b10587-3f545becc"},
      {"is_sleeping", false},
      {"cors_proxy_enabled", false},
  };
}

OJson models_json(const ServedModel& s) {
  const std::string id = s.id();
  OJson details{{"parent_model", ""}, {"format", "gguf"},     {"family", ""},
                {"families", {""}},   {"parameter_size", ""}, {"quantization_level", ""}};
  OJson entry{{"name", id},
              {"model", id},
              {"modified_at", ""},
              {"size", ""},
              {"digest", ""},
              {"type", "model"},
              {"description", ""},
              {"tags", {""}},
              {"capabilities", {"completion"}},
              {"parameters", ""},
              {"details", std::move(details)}};
  OJson aliases = OJson::array();
  for (const std::string& a : s.aliases.empty() ? std::vector<std::string>{id} : s.aliases) {
    aliases.push_back(a);
  }
  OJson meta{{"vocab_type", true},
             {"n_vocab", s.model.arch.n_vocab},
             {"n_ctx", s.ctx.n_ctx_seq},
             {"n_ctx_train", s.model.arch.n_ctx_train},
             {"n_embd", s.model.arch.n_embd},
             {"n_params", s.model.n_params},
             {"size", s.model.tensor_bytes},
             {"ftype", ftype_name(s.model.file_type)}};
  OJson data{{"id", id},
             {"aliases", std::move(aliases)},
             {"tags", OJson::array()},
             {"object", "model"},
             {"created", s.created},
             {"owned_by", "llamacpp"},
             {"meta", std::move(meta)}};
  return OJson{{"models", OJson::array({std::move(entry)})},
               {"object", "list"},
               {"data", OJson::array({std::move(data)})}};
}

std::string metrics_text(const MetricsSnapshot& m) {
  std::string out;
  auto per_second = [](long long n, double s) { return s > 0 ? static_cast<double>(n) / s : 0.0; };
  metric(out, "prompt_tokens_total", "Number of prompt tokens processed, excluding cached tokens",
         "counter", std::to_string(m.prompt_tokens));
  metric(out, "prompt_tokens_cached_total", "Number of prompt tokens reused from the cache",
         "counter", "0");
  metric(out, "prompt_seconds_total", "Total time spent processing prompts", "counter",
         num(m.prompt_seconds));
  metric(out, "tokens_predicted_total", "Number of generation tokens processed", "counter",
         std::to_string(m.predicted_tokens));
  metric(out, "tokens_predicted_seconds_total", "Total time spent generating tokens", "counter",
         num(m.predicted_seconds));
  metric(out, "n_decode_total",
         "Total number of llama_decode() calls, excluding speculative decoding and multimodal "
         "decoding",
         "counter", std::to_string(m.decode_calls));
  metric(out, "n_tokens_max", "Largest observed sequence length (prompt + generation)", "counter",
         std::to_string(m.max_tokens_seen));
  metric(out, "spec_decode_num_draft_tokens_total", "Speculative: Total draft tokens generated",
         "counter", "0");
  metric(out, "spec_decode_num_accepted_tokens_total",
         "Speculative: Total draft tokens accepted by the target model", "counter", "0");
  metric(out, "spec_decode_num_drafts_total",
         "Speculative: Total speculative decoding verification steps", "counter", "0");
  metric(out, "prompt_tokens_seconds", "Average prompt throughput in tokens/s", "gauge",
         num(per_second(m.prompt_tokens, m.prompt_seconds)));
  metric(out, "predicted_tokens_seconds", "Average generation throughput in tokens/s", "gauge",
         num(per_second(m.predicted_tokens, m.predicted_seconds)));
  metric(out, "requests_processing", "Number of requests processing", "gauge",
         std::to_string(m.processing));
  metric(out, "requests_deferred", "Number of requests deferred", "gauge",
         std::to_string(m.deferred));
  metric(out, "n_busy_slots_per_decode", "Average number of busy slots per llama_decode() call",
         "gauge", m.processing > 0 ? "1" : "0");
  return out;
}

} // namespace ask::sim::llama
