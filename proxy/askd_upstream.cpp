#include "proxy/askd_upstream.h"

#include <algorithm>

#include "core/strings.h"
#include "proxy/openai_upstream.h"

namespace ask::proxy {

namespace {

// Header values of a peer are read only this far, and lists only this long.
constexpr std::size_t k_max_value = 4'096;
constexpr std::size_t k_max_items = 64;

bool printable(std::string_view s) {
  return std::ranges::none_of(s, [](char c) {
    const auto u = static_cast<unsigned char>(c);
    return u < 0x20 || u == 0x7f;
  });
}

// A stream from a peer: a connection that breaks mid-stream marks the peer down.
class PeerStream final : public ChunkStream {
public:
  PeerStream(std::unique_ptr<ChunkStream> inner, std::shared_ptr<Peer> peer)
      : m_inner(std::move(inner)), m_peer(std::move(peer)) {}
  core::Result<std::optional<core::Json>> next() override {
    auto chunk = m_inner->next();
    if (!chunk && m_peer) {
      m_peer->request_failed(chunk.error());
    }
    return chunk;
  }
  std::optional<core::Usage> usage() const override { return m_inner->usage(); }

private:
  std::unique_ptr<ChunkStream> m_inner;
  std::shared_ptr<Peer> m_peer;
};

} // namespace

PeerAnswer read_peer_answer(const net::ResponseHead& head, std::string_view machine) {
  PeerAnswer out;
  auto value = [&](std::string_view name) -> std::string_view {
    auto v = head.header(name);
    return v && v->size() <= k_max_value && printable(*v) ? *v : std::string_view();
  };
  auto label = [&](std::string_view name) {
    return std::string(name) + "@" + std::string(machine);
  };
  if (const std::string_view served = core::trim_blanks(value("X-Served-By")); !served.empty()) {
    out.served_by = label(served);
  }
  for (std::string_view m : core::split_trimmed(value("X-Fallback-Path"), '>', k_max_items)) {
    out.path.push_back(label(m));
  }
  for (std::string_view item : core::split_trimmed(value("X-Fallback-Reasons"), ',', k_max_items)) {
    const std::size_t eq = item.rfind('=');
    if (eq == std::string_view::npos || eq == 0 || eq + 1 == item.size()) {
      continue;
    }
    out.failed.emplace_back(label(core::trim_blanks(item.substr(0, eq))),
                            std::string(core::trim_blanks(item.substr(eq + 1))));
  }
  return out;
}

AskdUpstream::AskdUpstream(const config::Backend& backend, std::shared_ptr<Peer> peer)
    : m_name(backend.name), m_peer_fallback(backend.peer_fallback), m_peer(std::move(peer)),
      m_http(std::make_unique<BackendHttp>(backend)) {}

std::optional<core::Error> AskdUpstream::unavailable() const {
  return m_peer ? m_peer->unavailable() : std::nullopt;
}

CallContext AskdUpstream::hop(const CallContext& ctx) const {
  CallContext out = ctx;
  if (!ctx.via.empty()) {
    out.extra_headers.emplace_back(std::string(k_via_header), ctx.via);
  }
  if (!m_peer_fallback) {
    out.extra_headers.emplace_back(std::string(k_fallback_header), "off");
  }
  if (PeerAnswer* answer = ctx.peer) {
    out.on_head = [answer, machine = m_name](const net::ResponseHead& head) {
      *answer = read_peer_answer(head, machine);
    };
  }
  return out;
}

core::Result<core::Json> AskdUpstream::call(Operation op, const core::Json& request,
                                            const CallContext& ctx) {
  auto reply = OpenAiUpstream::call_with(*m_http, op, request, hop(ctx));
  if (m_peer && reply) {
    m_peer->request_succeeded();
  } else if (m_peer) {
    m_peer->request_failed(reply.error());
  }
  return reply;
}

core::Result<std::unique_ptr<ChunkStream>>
AskdUpstream::stream(Operation op, const core::Json& request, const CallContext& ctx) {
  auto stream = OpenAiUpstream::stream_with(*m_http, op, request, hop(ctx));
  if (!stream) {
    if (m_peer) {
      m_peer->request_failed(stream.error());
    }
    return stream;
  }
  if (m_peer) {
    m_peer->request_succeeded();
  }
  return std::unique_ptr<ChunkStream>(std::make_unique<PeerStream>(std::move(*stream), m_peer));
}

core::Result<core::Json> AskdUpstream::chat(const core::Json& request, const CallContext& ctx) {
  return call(Operation::chat, request, ctx);
}
core::Result<std::unique_ptr<ChunkStream>> AskdUpstream::chat_stream(const core::Json& request,
                                                                     const CallContext& ctx) {
  return stream(Operation::chat, request, ctx);
}
core::Result<core::Json> AskdUpstream::complete(const core::Json& request, const CallContext& ctx) {
  return call(Operation::completion, request, ctx);
}
core::Result<std::unique_ptr<ChunkStream>> AskdUpstream::complete_stream(const core::Json& request,
                                                                         const CallContext& ctx) {
  return stream(Operation::completion, request, ctx);
}
core::Result<core::Json> AskdUpstream::embed(const core::Json& request, const CallContext& ctx) {
  return call(Operation::embedding, request, ctx);
}
core::Result<core::Json> AskdUpstream::rerank(const core::Json& request, const CallContext& ctx) {
  return call(Operation::rerank, request, ctx);
}

} // namespace ask::proxy
