// libFuzzer target: what askd reads of a client's body at its doors, and of a backend's
// answers beyond chat. The input, parsed as JSON, goes through every door's check (text
// completions, embeddings, rerank, Anthropic Messages, Responses) and the requests built from
// what passes (Ollama's /api/generate and /api/embed, llama-server's /infill); as a backend's
// reply, through the readers of llama-server's /props and Ollama's /api/show and the
// translations of /api/embed, /api/generate and /infill replies, whole and as stream events.
// Nothing may throw or crash, and what is produced must dump as valid JSON.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "core/json_text.h"
#include "proxy/dialect_anthropic.h"
#include "proxy/dialect_openai.h"
#include "proxy/dialect_responses.h"
#include "proxy/llama_infill.h"
#include "proxy/model_facts.h"
#include "proxy/ollama_embed.h"
#include "proxy/ollama_generate.h"

namespace {

void check_dumps(const ask::core::Json& j) {
  const std::string text = j.dump(-1, ' ', false, ask::core::Json::error_handler_t::replace);
  if (!ask::core::parse_json_text(text)) {
    std::fprintf(stderr, "a translation does not parse back\n");
    std::abort();
  }
}

template <class R> void check(const R& result) {
  if (result) {
    check_dumps(*result);
  }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  auto json = ask::core::parse_json_text(input);
  if (!json) {
    return 0;
  }
  using namespace ask::proxy;
  check(completion_request(*json));
  check(embedding_request(*json));
  check(rerank_request(*json));
  check(anthropic_chat_request(*json));
  check(ResponsesDialect().to_openai(*json));
  if (auto facts = facts_from_props(*json); facts && facts->context_length && *facts->context_length <= 0) {
    std::abort();
  }
  if (auto facts = facts_from_ollama_show(*json); facts && facts->context_length && *facts->context_length <= 0) {
    std::abort();
  }
  check(openai_embeddings_from_ollama(*json, "embed", size % 4, size % 2 == 0));
  if (auto request = embedding_request(*json)) {
    check(ollama_embed_request(*request, "nomic-embed-text", std::nullopt, 2048));
  }
  if (auto request = completion_request(*json)) {
    check(ollama_generate_request(*request, "qwen2.5-coder", std::nullopt, size % 2 == 0));
    check(llama_infill_request(*request, size % 2 == 0));
  }
  const ReplyMeta meta{"cmpl-fuzz", 1, "coder"};
  check(completion_from_ollama(*json, meta));
  check(completion_from_infill(*json, meta));
  OllamaGenerateTranslator generate(meta, size % 2 == 0);
  InfillStreamTranslator infill(meta, size % 2 == 1);
  for (const auto& event : json->is_array() ? *json : ask::core::Json::array({*json})) {
    if (auto chunks = generate.translate(event)) {
      for (const auto& chunk : *chunks) {
        check_dumps(chunk);
      }
    }
    if (auto chunks = infill.translate(event)) {
      for (const auto& chunk : *chunks) {
        check_dumps(chunk);
      }
    }
  }
  return 0;
}
