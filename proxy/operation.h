#pragma once
// Operation: what a request asks of a model. It picks the Upstream call that serves it and
// the capability (config Model::capabilities, Ollama's vocabulary) the model needs.

#include <string_view>

namespace ask::proxy {

enum class Operation {
  chat,       // Upstream::chat()/chat_stream(); needs "completion"
  completion, // complete()/complete_stream(), OpenAI /v1/completions; "completion", and
              // "insert" when the request has a suffix (fill-in-the-middle)
  embedding,  // embed(), OpenAI /v1/embeddings; "embedding"
  rerank,     // rerank(), /v1/rerank (llama-server's shape, which Jina and Cohere share); "rerank"
};

// For logs and errors: "chat", "completion", "embedding", "rerank".
constexpr std::string_view operation_name(Operation op) {
  switch (op) {
  case Operation::chat:
    return "chat";
  case Operation::completion:
    return "completion";
  case Operation::embedding:
    return "embedding";
  case Operation::rerank:
    return "rerank";
  }
  return "chat";
}

// Whether replies of `op` can stream (chat and text completions do).
constexpr bool operation_streams(Operation op) {
  return op == Operation::chat || op == Operation::completion;
}

} // namespace ask::proxy
