#pragma once
// Upstream: one backend as the proxy sees it. It takes an OpenAI request already prepared for
// one logical model (upstream model name, default params merged) and gives back OpenAI-shaped
// JSON: a whole chat.completion, or a stream of chat.completion.chunk objects; likewise for
// text completions (with fill-in-the-middle), embeddings and rerank.
// Implementations: OpenAiUpstream (passthrough to any OpenAI-compatible server),
// OllamaUpstream (Ollama's native /api/chat, translated), ManagedUpstream (a llama-server
// instance leased from a ModelRouter). Made from the config by make_upstream().

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "config/types.h"
#include "core/error.h"
#include "core/openai.h"
#include "net/http_client.h"
#include "proxy/event_log.h"
#include "proxy/model_facts.h"
#include "proxy/ollama_translate.h"

namespace ask::proxy {

// What another askd said of its answer in its response head, each name labelled with the
// machine ("coder-30b@box2"): who served, the models it tried, and why each before failed.
struct PeerAnswer {
  std::string served_by;                                   // its X-Served-By
  std::vector<std::string> path;                           // its X-Fallback-Path
  std::vector<std::pair<std::string, std::string>> failed; // its X-Fallback-Reasons
};

// One attempt at one logical model.
struct CallContext {
  const config::Model* model = nullptr;
  net::ClientTimeouts timeouts; // from the model's (else its backend's) timeouts
  net::Watch watch;             // the askd client's socket and the stop pipe
  ReplyMeta meta;               // id, created, and the served logical model's name
  // Stream requests: whether the client asked for the usage chunk. Upstreams always ask
  // their backend for usage (askd counts tokens) and drop it again when the client did not.
  bool client_wants_usage = false;
  // Where an upstream adds the time it waited for its backend to be ready (a managed
  // llama-server loading); may be null.
  double* load_s = nullptr;
  // The askds this request went through, this one last (X-Ask-Via), for a peer to see loops.
  std::string via;
  // Where a peer's upstream puts what the peer said of its answer; may be null.
  PeerAnswer* peer = nullptr;
  // Sent with the request besides the backend's own headers, and shown the response head
  // (2xx or not) before its body is read: how a hop to another askd is carried.
  net::ClientHeaders extra_headers;
  std::function<void(const net::ResponseHead&)> on_head;
};

// A streamed reply (chat.completion.chunk or text_completion objects). next() blocks until the next
// chunk, the end, or an error (timeouts and the Watch apply). Destroying it early closes the
// upstream connection.
class ChunkStream {
public:
  virtual ~ChunkStream() = default;
  // The next chat.completion.chunk object, or nullopt at the end of the stream. A stream that
  // ends without its end marker ([DONE], Ollama's done) is a connect error.
  virtual core::Result<std::optional<core::Json>> next() = 0;
  // Tokens the backend reported, once known (after the end).
  virtual std::optional<core::Usage> usage() const = 0;
};

// A model the backend holds in memory (Ollama's /api/ps).
struct LoadedModel {
  std::string name;                      // the backend's name for it ("qwen3.5:9b")
  std::optional<std::string> expires_at; // RFC 3339, as the backend said; none = no expiry
  std::optional<long long> size_vram;    // bytes in GPU memory, when said
};

class Upstream {
public:
  virtual ~Upstream() = default;
  // What the backend holds in memory right now, for `GET /v1/models?state=1` (ask models).
  // nullopt when the backend cannot tell (an OpenAI-compatible server); an error when it
  // could not be asked or its answer made no sense.
  virtual core::Result<std::optional<std::vector<LoadedModel>>>
  loaded_models(const net::ClientTimeouts& timeouts) {
    (void)timeouts;
    return std::optional<std::vector<LoadedModel>>();
  }
  // What the backend says of `model` (its context window, its capabilities), for the
  // /v1/models entries of models whose config does not say; nullopt when it cannot tell.
  virtual core::Result<std::optional<ModelFacts>> facts(const config::Model& model,
                                                        const net::ClientTimeouts& timeouts) {
    (void)model;
    (void)timeouts;
    return std::optional<ModelFacts>();
  }
  // Why requests cannot go there now (a peer askd known to be down), so that the request
  // moves on at once; none when they may.
  virtual std::optional<core::Error> unavailable() const { return std::nullopt; }
  // Another askd: its answers are labelled with the machine (PeerAnswer).
  virtual bool peer() const { return false; }
  // `request` is the OpenAI request body to send (model and params set, "stream" false).
  virtual core::Result<core::Json> chat(const core::Json& request, const CallContext& ctx) = 0;
  // `request` as above with "stream" true.
  virtual core::Result<std::unique_ptr<ChunkStream>> chat_stream(const core::Json& request,
                                                                 const CallContext& ctx) = 0;
  // POST /v1/completions: `request` is OpenAI's text-completion body ("prompt", maybe
  // "suffix" for fill-in-the-middle; "stream" false); the reply a text_completion object
  // ({"choices":[{"text","index","finish_reason"}],"usage"}). The default: the backend kind
  // cannot (a 501, which moves the request on down its chain).
  virtual core::Result<core::Json> complete(const core::Json& request, const CallContext& ctx) {
    (void)request;
    return core::fail(unsupported("text completions", ctx));
  }
  // The same with "stream" true: text_completion chunks.
  virtual core::Result<std::unique_ptr<ChunkStream>> complete_stream(const core::Json& request,
                                                                     const CallContext& ctx) {
    (void)request;
    return core::fail(unsupported("text completions", ctx));
  }
  // POST /v1/embeddings: OpenAI's body and reply ({"object":"list","data":[{"object":
  // "embedding","index","embedding"}],"model","usage"}).
  virtual core::Result<core::Json> embed(const core::Json& request, const CallContext& ctx) {
    (void)request;
    return core::fail(unsupported("embeddings", ctx));
  }
  // POST /v1/rerank: {"model","query","documents",["top_n"]} → {"results":[{"index",
  // "relevance_score"}],"model","usage"} (llama-server's shape, which Jina and Cohere share).
  virtual core::Result<core::Json> rerank(const core::Json& request, const CallContext& ctx) {
    (void)request;
    return core::fail(unsupported("rerank", ctx));
  }
  // The prompt tokens of chat `request` with the backend's own chat template and tokenizer;
  // nullopt when the backend has no way to say (askd then estimates, and says so).
  virtual core::Result<std::optional<long long>> count_tokens(const core::Json& request,
                                                              const CallContext& ctx) {
    (void)request;
    (void)ctx;
    return std::optional<long long>();
  }

protected:
  // The error of an operation this backend kind does not have: a 501 from "the backend",
  // so that the request moves on to the next model of its chain.
  static core::Error unsupported(std::string_view what, const CallContext& ctx);
};

// A running llama-server instance lent to one request; returned when destroyed.
class Lease {
public:
  virtual ~Lease() = default;
  virtual const std::string& host() const = 0;
  virtual int port() const = 0;
  // After the connection to the instance failed: how its process ended when it crashed
  // ("llama-server pid 4242 crashed while serving the request (killed by signal 9: …)"),
  // waiting up to `wait` for the process to be reaped; none when it is still up, was
  // stopped on purpose, or nothing is known.
  virtual std::optional<std::string> crash(std::chrono::milliseconds wait) const {
    (void)wait;
    return std::nullopt;
  }
};

// Hands out llama-server instances for managed models (the router, a later module).
class ModelRouter {
public:
  virtual ~ModelRouter() = default;
  // Waits (bounded by `deadline` and the watch) for an instance of `model` that can take a
  // request. Errors: overloaded when the model cannot be placed (the fallback chain moves on),
  // timeout, cancelled.
  virtual core::Result<std::unique_ptr<Lease>>
  acquire(const config::Model& model, std::chrono::steady_clock::time_point deadline,
          const net::Watch& watch) = 0;
  // GET /api/status: GPUs, instances, queued requests.
  virtual core::Json status() const {
    return {{"managed", false}, {"last_event", m_events.last()}};
  }
  // POST /api/models/{name}/load and /unload. Errors: not_found (no such managed model),
  // overloaded (cannot be placed).
  virtual core::Result<core::Json> load(std::string_view model) {
    return core::fail(core::Error::not_found("no llama-server model named '" + std::string(model) +
                                             "' is managed by askd"));
  }
  virtual core::Result<core::Json> unload(std::string_view model) { return load(model); }
  // POST /api/models/{name}/pin and /unpin: `on` keeps its instances from keep_alive and
  // eviction until unpinned (or a reload sets the config's pin again). Errors: not_found.
  virtual core::Result<core::Json> pin(std::string_view model, bool on) {
    (void)on;
    return load(model);
  }
  // GET /api/events: askd's history of events; the router publishes its state changes
  // (loads, stops, crashes, calibrations, …) there, and the server the requests it finished
  // and its alias changes.
  EventLog& events() { return m_events; }
  const EventLog& events() const { return m_events; }

private:
  EventLog m_events;
};

// The ModelRouter of a build without the scheduler: every managed model "cannot be placed",
// with a message saying so, so that chains fall back past them.
class UnavailableRouter final : public ModelRouter {
public:
  core::Result<std::unique_ptr<Lease>> acquire(const config::Model& model,
                                               std::chrono::steady_clock::time_point deadline,
                                               const net::Watch& watch) override;
};

class Peer;
// The upstream for `backend`, chosen by its kind. `router` serves llama-server backends and
// must outlive the result; `peer` is the shared state of an askd backend (may be null).
std::unique_ptr<Upstream> make_upstream(const config::Backend& backend, ModelRouter& router,
                                        std::shared_ptr<Peer> peer = nullptr);

// The timeouts of `model` as client timeouts, starting now.
net::ClientTimeouts client_timeouts(const config::Timeouts& timeouts,
                                    std::chrono::steady_clock::time_point now);

} // namespace ask::proxy
