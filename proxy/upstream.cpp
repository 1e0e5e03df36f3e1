#include "proxy/upstream.h"

#include <map>
#include <mutex>

#include "proxy/askd_upstream.h"
#include "proxy/backend_http.h"
#include "proxy/llama_infill.h"
#include "proxy/ollama_generate.h"
#include "proxy/ollama_upstream.h"
#include "proxy/openai_upstream.h"

namespace ask::proxy {

namespace {

// How long a failed connection waits for its instance's exit to be known.
constexpr std::chrono::milliseconds k_crash_wait{1'000};

// A connection to a leased instance that broke because the process crashed says so, with
// its exit status and last log line, rather than "reset the connection".
void explain_crash(core::Error& error, const Lease& lease) {
  if (error.kind != core::ErrorKind::connect) {
    return;
  }
  if (auto crash = lease.crash(k_crash_wait)) {
    error.message = std::move(*crash);
  }
}

// A stream that keeps its lease until it is destroyed.
class LeasedStream final : public ChunkStream {
public:
  LeasedStream(std::unique_ptr<Lease> lease, std::unique_ptr<ChunkStream> inner)
      : m_lease(std::move(lease)), m_inner(std::move(inner)) {}
  ~LeasedStream() override { m_inner.reset(); } // close the connection, then give the lease back

  core::Result<std::optional<core::Json>> next() override {
    auto chunk = m_inner->next();
    if (!chunk) {
      explain_crash(chunk.error(), *m_lease);
    }
    return chunk;
  }
  std::optional<core::Usage> usage() const override { return m_inner->usage(); }

private:
  std::unique_ptr<Lease> m_lease;
  std::unique_ptr<ChunkStream> m_inner;
};

// The `llama-server` kind: asks the router for an instance, then talks OpenAI to it.
class ManagedUpstream final : public Upstream {
public:
  ManagedUpstream(std::string backend, ModelRouter& router)
      : m_backend(std::move(backend)), m_router(router) {}

  core::Result<core::Json> chat(const core::Json& request, const CallContext& ctx) override {
    return call(Operation::chat, request, ctx);
  }
  core::Result<std::unique_ptr<ChunkStream>> chat_stream(const core::Json& request,
                                                         const CallContext& ctx) override {
    return stream(Operation::chat, request, ctx);
  }
  // With a suffix: llama-server's /infill (its /v1/completions ignores "suffix"); a model
  // without FIM tokens answers 501 there, which falls back like a missing capability: it is
  // the model's limit, not the client's mistake. Without: /v1/completions as it is.
  core::Result<core::Json> complete(const core::Json& request, const CallContext& ctx) override {
    if (!completion_suffix(request)) {
      return call(Operation::completion, request, ctx);
    }
    auto lease = acquire(ctx);
    if (!lease) {
      return core::fail(std::move(lease.error()));
    }
    auto reply = infill_with(http_for(**lease), request, ctx);
    if (!reply) {
      explain_crash(reply.error(), **lease);
    }
    return reply;
  }
  core::Result<std::unique_ptr<ChunkStream>> complete_stream(const core::Json& request,
                                                             const CallContext& ctx) override {
    if (!completion_suffix(request)) {
      return stream(Operation::completion, request, ctx);
    }
    auto lease = acquire(ctx);
    if (!lease) {
      return core::fail(std::move(lease.error()));
    }
    auto infill = infill_stream_with(http_for(**lease), request, ctx);
    if (!infill) {
      explain_crash(infill.error(), **lease);
      return core::fail(std::move(infill.error()));
    }
    return std::unique_ptr<ChunkStream>(
        std::make_unique<LeasedStream>(std::move(*lease), std::move(*infill)));
  }
  core::Result<core::Json> embed(const core::Json& request, const CallContext& ctx) override {
    return call(Operation::embedding, request, ctx);
  }
  core::Result<core::Json> rerank(const core::Json& request, const CallContext& ctx) override {
    return call(Operation::rerank, request, ctx);
  }

  core::Result<std::optional<long long>> count_tokens(const core::Json& request,
                                                      const CallContext& ctx) override {
    auto lease = acquire(ctx);
    if (!lease) {
      return core::fail(std::move(lease.error()));
    }
    return OpenAiUpstream::count_tokens_with(http_for(**lease), request, ctx);
  }

private:
  core::Result<core::Json> call(Operation op, const core::Json& request, const CallContext& ctx) {
    auto lease = acquire(ctx);
    if (!lease) {
      return core::fail(std::move(lease.error()));
    }
    auto reply = OpenAiUpstream::call_with(http_for(**lease), op, request, ctx);
    if (!reply) {
      explain_crash(reply.error(), **lease);
    }
    return reply;
  }

  core::Result<std::unique_ptr<ChunkStream>> stream(Operation op, const core::Json& request,
                                                    const CallContext& ctx) {
    auto lease = acquire(ctx);
    if (!lease) {
      return core::fail(std::move(lease.error()));
    }
    auto stream = OpenAiUpstream::stream_with(http_for(**lease), op, request, ctx);
    if (!stream) {
      explain_crash(stream.error(), **lease);
      return core::fail(std::move(stream.error()));
    }
    return std::unique_ptr<ChunkStream>(
        std::make_unique<LeasedStream>(std::move(*lease), std::move(*stream)));
  }

  core::Result<std::unique_ptr<Lease>> acquire(const CallContext& ctx) {
    // Waiting for a load counts against the first-byte timeout: that is what a cold model
    // costs a client on any backend.
    const auto start = std::chrono::steady_clock::now();
    auto lease = m_router.acquire(*ctx.model, start + ctx.timeouts.first_byte, ctx.watch);
    if (ctx.load_s) {
      *ctx.load_s +=
          std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    }
    return lease;
  }

  // One pooled client per instance address, kept for reuse across leases.
  BackendHttp& http_for(const Lease& lease) {
    std::lock_guard lock(m_mutex);
    const std::string key = lease.host() + ":" + std::to_string(lease.port());
    auto& slot = m_clients[key];
    if (!slot) {
      slot = std::make_unique<BackendHttp>(m_backend, lease.host(), lease.port());
    }
    return *slot;
  }

  std::string m_backend;
  ModelRouter& m_router;
  std::mutex m_mutex;
  std::map<std::string, std::unique_ptr<BackendHttp>> m_clients;
};

} // namespace

core::Error Upstream::unsupported(std::string_view what, const CallContext& ctx) {
  const std::string backend = ctx.model != nullptr ? ctx.model->backend : std::string("this");
  return core::Error::upstream(501, "backend " + backend + " does not answer " + std::string(what));
}

core::Result<std::unique_ptr<Lease>>
UnavailableRouter::acquire(const config::Model& model, std::chrono::steady_clock::time_point,
                           const net::Watch&) {
  return core::fail(core::Error::overloaded(
      "cannot place " + model.name +
      ": llama-server backends are run by askd's scheduler, which is not part of this build"));
}

std::unique_ptr<Upstream> make_upstream(const config::Backend& backend, ModelRouter& router,
                                        std::shared_ptr<Peer> peer) {
  switch (backend.kind) {
  case config::BackendKind::ollama:
    return std::make_unique<OllamaUpstream>(std::make_unique<BackendHttp>(backend));
  case config::BackendKind::openai:
    return std::make_unique<OpenAiUpstream>(std::make_unique<BackendHttp>(backend));
  case config::BackendKind::llama_server:
    return std::make_unique<ManagedUpstream>(backend.name, router);
  case config::BackendKind::askd:
    return std::make_unique<AskdUpstream>(backend, std::move(peer));
  }
  return nullptr;
}

net::ClientTimeouts client_timeouts(const config::Timeouts& timeouts,
                                    std::chrono::steady_clock::time_point now) {
  using std::chrono::nanoseconds;
  // "forever" becomes a wait long enough never to matter (a year).
  constexpr nanoseconds k_forever = std::chrono::hours(24 * 365);
  auto length = [&](const core::Duration& d) -> nanoseconds {
    auto finite = d.finite();
    return finite ? nanoseconds(*finite) : k_forever;
  };
  net::ClientTimeouts out;
  out.connect = length(timeouts.connect);
  out.first_byte = length(timeouts.first_byte);
  out.idle = length(timeouts.idle);
  if (auto total = timeouts.total.finite()) {
    out.deadline = now + *total;
  }
  return out;
}

} // namespace ask::proxy
