#include "sim/llama_completion.h"

#include "sim/embedding.h"

namespace ask::sim::llama {

namespace {

OJson text_body(const CompletionMeta& meta, OJson choice) {
  return OJson{{"choices", OJson::array({std::move(choice)})},
               {"created", meta.created},
               {"model", meta.model},
               {"system_fingerprint", k_system_fingerprint},
               {"object", "text_completion"}};
}

OJson text_choice(const std::string& text, const OJson& finish_reason) {
  return OJson{{"text", text}, {"index", 0}, {"logprobs", nullptr}, {"finish_reason", finish_reason}};
}

// A stable token id for a token's text, as a tokenizer would give (the count matters).
long long token_id(const std::string& text) {
  unsigned id = 0;
  for (char c : text) {
    id = id * 31 + static_cast<unsigned char>(c);
  }
  return static_cast<long long>(id % 32000);
}

// generation_settings as the recording shows it, with the request's values.
OJson generation_settings(const NativeMeta& meta) {
  OJson s{{"seed", 4294967295LL},     {"temperature", 0.8}, {"top_k", 40},
          {"top_p", 0.95},            {"min_p", 0.05},      {"typical_p", 1.0},
          {"repeat_last_n", 64},      {"repeat_penalty", 1.0}, {"presence_penalty", 0.0},
          {"frequency_penalty", 0.0}, {"stop", OJson::array()}, {"max_tokens", -1},
          {"n_predict", -1},          {"n_keep", 0},        {"stream", meta.stream}};
  for (const auto& [k, v] : meta.settings.items()) {
    s[k] = v;
  }
  return s;
}

} // namespace

OJson text_chunk(const CompletionMeta& meta, const std::string& text) {
  OJson body = text_body(meta, text_choice(text, nullptr));
  body["id"] = meta.id;
  return body;
}

OJson text_final_chunk(const CompletionMeta& meta, const std::string& finish_reason,
                       long long prompt_tokens, long long completion_tokens,
                       const Timings& timings) {
  OJson body = text_body(meta, text_choice("", finish_reason));
  body["usage"] = usage_json(prompt_tokens, completion_tokens);
  body["id"] = meta.id;
  body["timings"] = timings_json(timings);
  return body;
}

OJson text_completion(const CompletionMeta& meta, const Answer& answer, const Timings& timings) {
  OJson body = text_body(meta, text_choice(answer.content(), answer.finish_reason));
  body["usage"] = usage_json(answer.prompt_tokens, answer.completion_tokens());
  body["id"] = meta.id;
  body["timings"] = timings_json(timings);
  return body;
}

OJson native_token(const Token& token, long long predicted, long long evaluated) {
  return OJson{{"index", 0},
               {"content", token.text},
               {"tokens", OJson::array({token_id(token.text)})},
               {"stop", false},
               {"id_slot", -1},
               {"tokens_predicted", predicted},
               {"tokens_evaluated", evaluated}};
}

OJson native_final(const NativeMeta& meta, const Answer& answer, const std::string& content,
                   const Timings& timings) {
  const bool limit = answer.finish_reason == "length";
  return OJson{{"index", 0},
               {"content", content},
               {"tokens", OJson::array()},
               {"id_slot", 0},
               {"stop", true},
               {"model", meta.model},
               {"tokens_predicted", answer.completion_tokens()},
               {"tokens_evaluated", meta.prompt_tokens},
               {"generation_settings", generation_settings(meta)},
               {"prompt", meta.prompt},
               {"has_new_line", answer.content().find('\n') != std::string::npos},
               {"truncated", false},
               {"stop_type", limit ? "limit" : "eos"},
               {"stopping_word", ""},
               {"tokens_cached", meta.prompt_tokens + answer.completion_tokens()},
               {"timings", timings_json(timings)}};
}

OJson oai_embeddings(const std::string& model, const std::vector<std::vector<float>>& vectors,
                     long long prompt_tokens, bool base64) {
  OJson data = OJson::array();
  for (std::size_t i = 0; i < vectors.size(); ++i) {
    OJson item;
    if (base64) {
      item["embedding"] = base64_floats(vectors[i]);
    } else {
      item["embedding"] = vectors[i];
    }
    item["index"] = i;
    item["object"] = "embedding";
    data.push_back(std::move(item));
  }
  return OJson{{"model", model},
               {"object", "list"},
               {"usage", {{"prompt_tokens", prompt_tokens}, {"total_tokens", prompt_tokens}}},
               {"data", std::move(data)}};
}

OJson native_embeddings(const std::vector<std::vector<std::vector<float>>>& rows) {
  OJson out = OJson::array();
  for (std::size_t i = 0; i < rows.size(); ++i) {
    out.push_back(OJson{{"index", i}, {"embedding", rows[i]}});
  }
  return out;
}

OJson rerank_reply(const std::string& model, const std::vector<RankedDocument>& ranked,
                   long long prompt_tokens, bool tei, bool return_text) {
  OJson results = OJson::array();
  for (const RankedDocument& d : ranked) {
    OJson item{{"index", d.index}, {tei ? "score" : "relevance_score", d.score}};
    if (tei && return_text) {
      item["text"] = d.text;
    }
    results.push_back(std::move(item));
  }
  if (tei) {
    return results;
  }
  return OJson{{"model", model},
               {"object", "list"},
               {"usage", {{"prompt_tokens", prompt_tokens}, {"total_tokens", prompt_tokens}}},
               {"results", std::move(results)}};
}

} // namespace ask::sim::llama
