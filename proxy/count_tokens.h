#pragma once
// POST /v1/messages/count_tokens (Anthropic's token counting, which Claude Code calls before
// long requests): the prompt tokens a request would take on the model it names, counted with
// that model's backend where the backend can say (llama-server's own template and tokenizer,
// managed or not), else estimated at about four bytes a token. The reply says which in the
// header X-Token-Count ("tokenizer" or "estimate"); the body is Anthropic's
// {"input_tokens": N}. Nothing is generated and no concurrency permit is taken, but a managed
// model is loaded when it is not (its tokenizer lives in its llama-server).

#include <utility>

#include "proxy/chat.h"
#include "proxy/dialect.h"

namespace ask::proxy {

class TokenCounter {
public:
  explicit TokenCounter(ChatDeps deps) : m_deps(std::move(deps)) {}

  // Answers one request on `exchange`, in `door`'s shapes (its request, its errors).
  void handle(const net::HttpRequest& request, net::Exchange& exchange, const Dialect& door);

private:
  ChatDeps m_deps;
};

// The estimate for a chat request: about four bytes a token of each message's text and each
// tool's definition, plus a few per message for the template's markers.
long long estimate_prompt_tokens(const core::Json& chat_request);

} // namespace ask::proxy
