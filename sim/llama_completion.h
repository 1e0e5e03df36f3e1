#pragma once
// llama-server's non-chat wire formats, key order included, as recorded in
// tests/fixtures/llama-server (v1-completions-*, completion-*, infill*, embeddings.http,
// rerank.http): the OpenAI text completion (/v1/completions), the native completion
// (/completion, /completions, /infill) with its per-token events, and the embedding and
// rerank replies.

#include <optional>
#include <string>
#include <vector>

#include "sim/generator.h"
#include "sim/llama_format.h"

namespace ask::sim::llama {

// {"choices":[{"text","index":0,"logprobs":null,"finish_reason"}],"created","model",
// "system_fingerprint","object":"text_completion","id"}: a token chunk (finish null).
OJson text_chunk(const CompletionMeta& meta, const std::string& text);
// The last chunk: empty text, the finish reason, usage and timings (always: llama-server
// sends usage here with or without stream_options.include_usage).
OJson text_final_chunk(const CompletionMeta& meta, const std::string& finish_reason,
                       long long prompt_tokens, long long completion_tokens,
                       const Timings& timings);
// A whole non-streaming text completion.
OJson text_completion(const CompletionMeta& meta, const Answer& answer, const Timings& timings);

// What the native final body reports besides the answer.
struct NativeMeta {
  std::string model;
  std::string prompt; // echoed as "prompt"
  long long prompt_tokens = 0;
  bool stream = false;
  OJson settings = OJson::object(); // request parameters for generation_settings
};

// {"index":0,"content","tokens":[id],"stop":false,"id_slot":-1,"tokens_predicted",
// "tokens_evaluated"}: one streamed token.
OJson native_token(const Token& token, long long predicted, long long evaluated);
// The final object, streamed (content "") or whole (content = the answer).
OJson native_final(const NativeMeta& meta, const Answer& answer, const std::string& content,
                   const Timings& timings);

// /v1/embeddings: {"model","object":"list","usage","data":[{"embedding","index","object"}]};
// `base64` sends each vector as base64 float32.
OJson oai_embeddings(const std::string& model, const std::vector<std::vector<float>>& vectors,
                     long long prompt_tokens, bool base64);
// /embeddings: [{"index","embedding":[[...]]}] (one row per vector given).
OJson native_embeddings(const std::vector<std::vector<std::vector<float>>>& rows);

struct RankedDocument {
  int index = 0;
  double score = 0;
  std::string text;
};
// /rerank with documents: {"model","object":"list","usage","results":[{"index",
// "relevance_score"}]}; with texts (TEI): [{"index","score"[,"text"]}]. `ranked` is in
// the order to send.
OJson rerank_reply(const std::string& model, const std::vector<RankedDocument>& ranked,
                   long long prompt_tokens, bool tei, bool return_text);

} // namespace ask::sim::llama
