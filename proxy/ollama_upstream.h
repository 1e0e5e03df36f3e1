#pragma once
// OllamaUpstream: the `ollama` backend kind. Requests go to Ollama's native /api/chat (the
// API that honours keep_alive and think), translated by ollama_translate; replies come back
// as OpenAI JSON. The logical model's keep_alive is sent with every request.

#include <memory>

#include "proxy/backend_http.h"
#include "proxy/upstream.h"

namespace ask::proxy {

class OllamaUpstream final : public Upstream {
public:
  explicit OllamaUpstream(std::unique_ptr<BackendHttp> http);

  core::Result<core::Json> chat(const core::Json& request, const CallContext& ctx) override;
  core::Result<std::unique_ptr<ChunkStream>> chat_stream(const core::Json& request,
                                                         const CallContext& ctx) override;

private:
  std::unique_ptr<BackendHttp> m_http;
};

} // namespace ask::proxy
