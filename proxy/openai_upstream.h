#pragma once
// OpenAiUpstream: the `openai` backend kind, a passthrough to any OpenAI-compatible server.
// Also used by ManagedUpstream to talk to the llama-server instance it leased.

#include <memory>

#include "proxy/backend_http.h"
#include "proxy/upstream.h"

namespace ask::proxy {

class OpenAiUpstream final : public Upstream {
public:
  explicit OpenAiUpstream(std::unique_ptr<BackendHttp> http);

  core::Result<core::Json> chat(const core::Json& request, const CallContext& ctx) override;
  core::Result<std::unique_ptr<ChunkStream>> chat_stream(const core::Json& request,
                                                         const CallContext& ctx) override;
  // llama-server's POST /apply-template then POST /tokenize; nullopt when the server has
  // neither (a 404: not a llama-server).
  core::Result<std::optional<long long>> count_tokens(const core::Json& request,
                                                      const CallContext& ctx) override;

  // The same over any BackendHttp (a leased instance's).
  static core::Result<core::Json> chat_with(BackendHttp& http, const core::Json& request,
                                            const CallContext& ctx);
  static core::Result<std::unique_ptr<ChunkStream>>
  chat_stream_with(BackendHttp& http, const core::Json& request, const CallContext& ctx);
  static core::Result<std::optional<long long>>
  count_tokens_with(BackendHttp& http, const core::Json& request, const CallContext& ctx);

private:
  std::unique_ptr<BackendHttp> m_http;
};

} // namespace ask::proxy
