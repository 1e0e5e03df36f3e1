#pragma once
// AskdUpstream: the `askd` backend kind, another askd (a peer, proxy/peers.h). Requests pass
// through as to any OpenAI-compatible server, carrying the ids of the askds they went through
// (X-Ask-Via) and, unless the backend keeps the peer's fallback, X-Ask-Fallback: off; the
// peer's X-Served-By, X-Fallback-Path and X-Fallback-Reasons come back labelled with the
// machine (PeerAnswer). A peer known to be down is not called (unavailable()); a request that
// cannot reach it marks it down.

#include <memory>

#include "net/response_parser.h"
#include "proxy/backend_http.h"
#include "proxy/operation.h"
#include "proxy/peers.h"
#include "proxy/upstream.h"

namespace ask::proxy {

// What `head` (a peer askd's response head) says of its answer, each name labelled
// `name@machine`. Header values that are too long or hold control characters are ignored.
PeerAnswer read_peer_answer(const net::ResponseHead& head, std::string_view machine);

class AskdUpstream final : public Upstream {
public:
  // `peer` may be null (then the peer is never known to be down).
  AskdUpstream(const config::Backend& backend, std::shared_ptr<Peer> peer);

  core::Result<core::Json> chat(const core::Json& request, const CallContext& ctx) override;
  core::Result<std::unique_ptr<ChunkStream>> chat_stream(const core::Json& request,
                                                         const CallContext& ctx) override;
  core::Result<core::Json> complete(const core::Json& request, const CallContext& ctx) override;
  core::Result<std::unique_ptr<ChunkStream>> complete_stream(const core::Json& request,
                                                             const CallContext& ctx) override;
  core::Result<core::Json> embed(const core::Json& request, const CallContext& ctx) override;
  core::Result<core::Json> rerank(const core::Json& request, const CallContext& ctx) override;
  std::optional<core::Error> unavailable() const override;
  bool peer() const override { return true; }

private:
  // `ctx` with the hop's headers and the reading of the peer's head added.
  CallContext hop(const CallContext& ctx) const;
  core::Result<core::Json> call(Operation op, const core::Json& request, const CallContext& ctx);
  core::Result<std::unique_ptr<ChunkStream>> stream(Operation op, const core::Json& request,
                                                    const CallContext& ctx);

  std::string m_name;
  bool m_peer_fallback;
  std::shared_ptr<Peer> m_peer;
  std::unique_ptr<BackendHttp> m_http;
};

} // namespace ask::proxy
