#pragma once
// OpenAiUpstream: the `openai` backend kind, a passthrough to any OpenAI-compatible server.
// Also used by ManagedUpstream to talk to the llama-server instance it leased.

#include <memory>

#include "proxy/backend_http.h"
#include "proxy/operation.h"
#include "proxy/upstream.h"

namespace ask::proxy {

class OpenAiUpstream final : public Upstream {
public:
  explicit OpenAiUpstream(std::unique_ptr<BackendHttp> http);

  core::Result<core::Json> chat(const core::Json& request, const CallContext& ctx) override;
  core::Result<std::unique_ptr<ChunkStream>> chat_stream(const core::Json& request,
                                                         const CallContext& ctx) override;
  // POST /v1/completions, passed through (llama-server, vLLM and the like take "suffix" there
  // or say they do not).
  core::Result<core::Json> complete(const core::Json& request, const CallContext& ctx) override;
  core::Result<std::unique_ptr<ChunkStream>> complete_stream(const core::Json& request,
                                                             const CallContext& ctx) override;
  // POST /v1/embeddings and POST /v1/rerank, passed through.
  core::Result<core::Json> embed(const core::Json& request, const CallContext& ctx) override;
  core::Result<core::Json> rerank(const core::Json& request, const CallContext& ctx) override;
  // llama-server's POST /apply-template then POST /tokenize; nullopt when the server has
  // neither (a 404: not a llama-server).
  core::Result<std::optional<long long>> count_tokens(const core::Json& request,
                                                      const CallContext& ctx) override;
  // llama-server's GET /props; nullopt when the server has none (a 404: not a llama-server).
  core::Result<std::optional<ModelFacts>> facts(const config::Model& model,
                                                const net::ClientTimeouts& timeouts) override;

  // The same over any BackendHttp (a leased instance's): the whole reply of `op` (its path
  // is chat's, completions', embeddings' or rerank's), or its stream (chat and completion).
  static core::Result<core::Json> call_with(BackendHttp& http, Operation op,
                                            const core::Json& request, const CallContext& ctx);
  static core::Result<std::unique_ptr<ChunkStream>>
  stream_with(BackendHttp& http, Operation op, const core::Json& request, const CallContext& ctx);
  static core::Result<std::optional<long long>>
  count_tokens_with(BackendHttp& http, const core::Json& request, const CallContext& ctx);

private:
  std::unique_ptr<BackendHttp> m_http;
};

} // namespace ask::proxy
