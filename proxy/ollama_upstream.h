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
  // Text completions (with fill-in-the-middle) over /api/generate (proxy/ollama_generate.h).
  core::Result<core::Json> complete(const core::Json& request, const CallContext& ctx) override;
  core::Result<std::unique_ptr<ChunkStream>> complete_stream(const core::Json& request,
                                                             const CallContext& ctx) override;
  // POST /api/embed (proxy/ollama_embed.h). Rerank stays Upstream's 501: Ollama has none.
  core::Result<core::Json> embed(const core::Json& request, const CallContext& ctx) override;
  // GET /api/ps.
  core::Result<std::optional<std::vector<LoadedModel>>>
  loaded_models(const net::ClientTimeouts& timeouts) override;
  // POST /api/show.
  core::Result<std::optional<ModelFacts>> facts(const config::Model& model,
                                                const net::ClientTimeouts& timeouts) override;

private:
  std::unique_ptr<BackendHttp> m_http;
};

// Ollama's /api/ps reply ({"models":[{"name","model","expires_at","size_vram",...}]}) as
// loaded models; entries without a string name are skipped, fields of the wrong type left
// out; anything but an object with a "models" array is malformed_reply.
core::Result<std::vector<LoadedModel>> parse_ollama_ps(const core::Json& reply);

// Whether Ollama's `loaded` name and a configured upstream name mean the same model
// ("llama3.2" is "llama3.2:latest").
bool same_ollama_model(std::string_view loaded, std::string_view upstream);

} // namespace ask::proxy
