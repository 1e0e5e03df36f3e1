#pragma once
// llama-server's HTTP API as llm-sim serves it: /health, /v1/models and /models, /props,
// /slots, /metrics, /v1/chat/completions (also /chat/completions), /v1/completions,
// /completion(s), /infill, and with --embeddings / --reranking the embedding and rerank
// endpoints, and the foreign doors /v1/messages (+ /count_tokens) and /v1/responses,
// streaming or not, with llama-server's headers, framing, key order and error bodies.

#include <expected>
#include <mutex>
#include <string>

#include "sim/http.h"
#include "sim/llama_completion.h"
#include "sim/llama_format.h"
#include "sim/llama_info.h"
#include "sim/memory_log.h"
#include "sim/model_info.h"
#include "sim/services.h"
#include "sim/slots.h"
#include "sim/stream.h"

namespace ask::sim {

class LlamaServerApi {
public:
  LlamaServerApi(const Services& services, const ModelInfo& model, const ContextPlan& ctx);

  // Serves one request. The app answers "Loading model" itself until the API exists.
  void handle(const HttpRequest& request, Exchange& exchange);
  // The 503 llama-server answers every request with while the model loads.
  static void send_loading(Exchange& exchange);

private:
  // The wire shape of a generated answer.
  enum class Shape { chat, oai_text, native, anthropic, responses };

  // One generation, whichever endpoint asked for it.
  struct Job {
    Shape shape = Shape::chat;
    bool stream = false;
    bool include_usage = false;
    GenerationRequest gen;
    long long prompt_tokens = 0;
    std::optional<std::string> directive;
    llama::OJson params = llama::OJson::object(); // for /slots
    llama::NativeMeta native;                      // the native shape's extras
  };

  // How one answer goes out.
  struct Reply {
    bool stream = false;
    bool include_usage = false;
    Pacing pacing;
    Shape shape = Shape::chat;
    const llama::NativeMeta* native = nullptr;
  };

  // --api-key given: every endpoint but llama-server's public ones needs one of the keys
  // (Authorization: Bearer KEY or X-Api-Key: KEY).
  bool authorized(const HttpRequest& request) const;
  void chat(const HttpRequest& request, Exchange& exchange);
  // POST /v1/messages and /v1/responses: the body becomes a chat body, the answer goes
  // out in `shape` (sim/llama_messages.h).
  void door(const HttpRequest& request, Exchange& exchange, Shape shape);
  // POST /v1/messages/count_tokens: {"input_tokens": N} of the chat prompt it becomes.
  void count_tokens(const HttpRequest& request, Exchange& exchange);
  // A chat body (parsed, or the error reading it) answered in `shape`.
  void chat_job(const HttpRequest& request, Exchange& exchange,
                std::expected<nlohmann::json, llama::ErrorReply> body, Shape shape);
  // POST /v1/completions (OpenAI shape) and /completion, /completions (native shape).
  void text_completion(const HttpRequest& request, Exchange& exchange, Shape shape);
  // POST /infill: fill in between input_prefix and input_suffix (native shape).
  void infill(const HttpRequest& request, Exchange& exchange);
  // POST /v1/embeddings (oai) and /embeddings, /embedding (native); needs --embeddings.
  void embeddings(const HttpRequest& request, Exchange& exchange, bool oai);
  // POST /rerank and friends; needs --reranking.
  void rerank(const HttpRequest& request, Exchange& exchange);
  // Faults, the context check, a slot, generation and delivery, for every endpoint that
  // generates.
  void run(const HttpRequest& request, Exchange& exchange, Job& job);
  // POST /apply-template and /tokenize: the prompt a chat becomes (ChatML), and its tokens
  // (about four bytes each), as askd's token counting asks llama-server.
  void apply_template(const HttpRequest& request, Exchange& exchange);
  void tokenize(const HttpRequest& request, Exchange& exchange);
  Outcome respond(Exchange& exchange, const Reply& reply, const Answer& answer, SlotLease& lease);
  void send_fault_status(Exchange& exchange, int status, int retry_after);
  void send_json(Exchange& exchange, int status, const llama::OJson& body, Headers extra = {});
  void send_error(Exchange& exchange, const llama::ErrorReply& error, Headers extra = {});
  void send_metrics(Exchange& exchange);
  void record_timings(long long prompt_tokens, const llama::Timings& t);

  const Services& m_services;
  const ModelInfo& m_model;
  const ContextPlan& m_ctx;
  llama::ServedModel m_served;
  SlotPool m_slots;
  std::mutex m_metrics_mutex;
  llama::MetricsSnapshot m_metrics;
};

} // namespace ask::sim
