#pragma once
// Ollama's HTTP API as llm-sim serves it (--ollama): /api/chat and /api/generate (NDJSON
// streams by default, "stream": false for one object; empty prompts load or unload),
// /api/tags, /api/ps, /api/show, /api/version, /api/embed and /api/embeddings, and the
// OpenAI-compatible /v1/chat/completions, /v1/embeddings and /v1/models. Models load on first use and stay loaded for their
// keep_alive (see OllamaModels).

#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "core/duration.h"
#include "sim/chat_input.h"
#include "sim/generator.h"
#include "sim/http.h"
#include "sim/ollama_format.h"
#include "sim/ollama_models.h"
#include "sim/services.h"
#include "sim/stream.h"

namespace ask::sim {

// When the parts of one answer happened, for Ollama's duration counters.
struct RunTiming {
  std::chrono::steady_clock::time_point start;
  std::chrono::nanoseconds load{0};
  std::chrono::steady_clock::time_point first_token;

  ollama::Durations durations() const;
};

// A sink for non-streaming answers: notes when the first token came, sends the whole body
// (built by `send`) once the answer is complete.
class WholeAnswerSink final : public TokenSink {
public:
  using Send = std::function<bool()>;
  WholeAnswerSink(RunTiming& timing, Send send) : m_timing(timing), m_send(std::move(send)) {}
  bool open() override {
    m_timing.first_token = std::chrono::steady_clock::now();
    return true;
  }
  bool token(std::size_t) override { return true; }
  bool flush() override { return true; }
  bool finish() override { return m_send(); }

private:
  RunTiming& m_timing;
  Send m_send;
};

// One chat request, ready to generate.
struct OllamaJob {
  const OllamaModelSpec* spec = nullptr;
  std::string requested; // the model name as the request spelled it (echoed back)
  core::Duration keep_alive = core::Duration::from(k_default_keep_alive);
  bool stream = true;
  ChatInput input;
  GenerationRequest gen;
  FaultSpec fault;
  std::string suffix;            // /api/generate FIM
  bool raw = false;              // /api/generate without the template
  bool prompt_truncated = false; // num_ctx cut the prompt
};

class OllamaApi {
public:
  OllamaApi(const Services& services, OllamaModels& models);

  void handle(const HttpRequest& request, Exchange& exchange);

private:
  using SinkFactory =
      std::function<std::unique_ptr<TokenSink>(const Answer& answer, RunTiming& timing)>;
  // Answers an error in the endpoint's own format.
  using FailFn = std::function<void(int status, const std::string& message, Headers extra)>;

  enum class EmbedApi { embed, legacy, openai };

  void native_chat(const HttpRequest& request, Exchange& exchange, ollama::Endpoint endpoint);
  // POST /api/embed, /api/embeddings (legacy) and /v1/embeddings.
  void embed(const HttpRequest& request, Exchange& exchange, EmbedApi api);
  void load_or_unload(Exchange& exchange, const OllamaJob& job, ollama::Endpoint endpoint);
  void openai_chat(const HttpRequest& request, Exchange& exchange);
  void openai_models(Exchange& exchange);
  void show(const HttpRequest& request, Exchange& exchange);
  // Faults, model load, generation and delivery, shared by both chat endpoints.
  void run(Exchange& exchange, OllamaJob& job, const HttpRequest& request, const FailFn& fail,
           const SinkFactory& make_sink);

  void send_json(Exchange& exchange, int status, const ollama::OJson& body, Headers extra = {});
  void send_error(Exchange& exchange, int status, const std::string& message, Headers extra = {});
  void send_openai_error(Exchange& exchange, int status, const std::string& message,
                         Headers extra = {});
  std::string now_rfc3339() const;
  std::string date() const;

  const Services& m_services;
  OllamaModels& m_models;
  std::string m_modified_at; // when the "installed" models were "pulled"
};

} // namespace ask::sim
