// The upstreams against a scripted backend: a real net::HttpServer on loopback whose answers
// each test chooses, so replies that llm-sim never sends (in-band errors, missing [DONE],
// a reply that is not JSON) are covered too.

#include "proxy/upstream.h"

#include <doctest/doctest.h>

#include <atomic>
#include <functional>
#include <mutex>
#include <thread>

#include "net/http_server.h"

namespace ask::proxy {

namespace {

using namespace std::chrono_literals;

// A backend whose reply is a function of the request; runs until destroyed.
class ScriptedBackend {
public:
  using Script = std::function<void(const net::HttpRequest&, net::Exchange&)>;

  explicit ScriptedBackend(Script script)
      : m_script(std::move(script)), m_server([this](const auto& r, auto& ex) {
          {
            std::lock_guard lock(m_mutex);
            m_bodies.push_back(r.body);
            m_peers.push_back(ex.peer());
          }
          m_script(r, ex);
        }) {
    m_port = *m_server.listen("127.0.0.1", 0);
    m_thread = std::thread([this] { m_server.serve(); });
  }
  ~ScriptedBackend() {
    m_server.stop();
    m_thread.join();
  }
  int port() const { return m_port; }
  // The client address of each request: the same one twice means a reused connection.
  std::vector<std::string> peers() const {
    std::lock_guard lock(m_mutex);
    return m_peers;
  }
  core::Json last_body() const {
    std::lock_guard lock(m_mutex);
    return core::Json::parse(m_bodies.back());
  }

private:
  Script m_script;
  net::HttpServer m_server;
  int m_port = 0;
  std::thread m_thread;
  mutable std::mutex m_mutex;
  std::vector<std::string> m_bodies;
  std::vector<std::string> m_peers;
};

void reply_json(net::Exchange& ex, int status, const std::string& body) {
  ex.send_response(status,
                   {{"Content-Type", "application/json"},
                    {"Content-Length", std::to_string(body.size())}},
                   body);
}

void reply_sse(net::Exchange& ex, const std::vector<std::string>& events, bool done = true) {
  ex.begin_chunked(200, {{"Content-Type", "text/event-stream"}, {"Transfer-Encoding", "chunked"}});
  for (const auto& e : events) {
    ex.send_chunk("data: " + e + "\n\n");
  }
  if (done) {
    ex.send_chunk("data: [DONE]\n\n");
  }
  ex.end_chunked();
}

constexpr const char* k_reply =
    R"({"id":"x","object":"chat.completion","created":1,"model":"upstream-name",)"
    R"("choices":[{"index":0,"message":{"role":"assistant","content":"hi"},"finish_reason":"stop"}],)"
    R"("usage":{"prompt_tokens":3,"completion_tokens":1,"total_tokens":4}})";

config::Backend openai_backend(int port) {
  config::Backend b;
  b.name = "scripted";
  b.kind = config::BackendKind::openai;
  b.url = config::Url{"http", "127.0.0.1", port, ""};
  return b;
}

config::Model model_named(std::string name) {
  config::Model m;
  m.name = std::move(name);
  m.backend = "scripted";
  return m;
}

CallContext context_for(const config::Model& model, bool wants_usage = false) {
  CallContext ctx;
  ctx.model = &model;
  ctx.timeouts = client_timeouts(config::k_default_timeouts, std::chrono::steady_clock::now());
  ctx.timeouts.first_byte = 5s;
  ctx.timeouts.idle = 5s;
  ctx.meta = {"chatcmpl-test", 1, model.name};
  ctx.client_wants_usage = wants_usage;
  return ctx;
}

const core::Json k_request = {{"model", "upstream-name"},
                              {"messages", {{{"role", "user"}, {"content", "hi"}}}}};
// What prepare_request sends for a stream.
const core::Json k_stream_request = [] {
  core::Json r = k_request;
  r["stream"] = true;
  return r;
}();

// Drains a stream: its chunks, or the error that ended it.
core::Result<std::vector<core::Json>> drain(ChunkStream& stream) {
  std::vector<core::Json> chunks;
  for (;;) {
    auto next = stream.next();
    if (!next) {
      return core::fail(next.error());
    }
    if (!*next) {
      return chunks;
    }
    chunks.push_back(std::move(**next));
  }
}

class FakeLease final : public Lease {
public:
  FakeLease(std::string host, int port, std::atomic<int>& live)
      : m_host(std::move(host)), m_port(port), m_live(live) {
    ++m_live;
  }
  ~FakeLease() override { --m_live; }
  const std::string& host() const override { return m_host; }
  int port() const override { return m_port; }

private:
  std::string m_host;
  int m_port;
  std::atomic<int>& m_live;
};

// Leases the scripted backend and counts leases alive and acquired.
class FakeRouter final : public ModelRouter {
public:
  explicit FakeRouter(int port) : m_port(port) {}
  core::Result<std::unique_ptr<Lease>> acquire(const config::Model& model,
                                               std::chrono::steady_clock::time_point,
                                               const net::Watch&) override {
    acquired.push_back(model.name);
    return std::unique_ptr<Lease>(std::make_unique<FakeLease>("127.0.0.1", m_port, live));
  }
  std::atomic<int> live{0};
  std::vector<std::string> acquired;

private:
  int m_port;
};

} // namespace

TEST_CASE("OpenAiUpstream: rewrites the model and passes everything else through") {
  ScriptedBackend backend([](const auto&, auto& ex) { reply_json(ex, 200, k_reply); });
  UnavailableRouter router;
  auto up = make_upstream(openai_backend(backend.port()), router);
  config::Model m = model_named("fast-9b");
  auto reply = up->chat(k_request, context_for(m));
  REQUIRE(reply);
  CHECK((*reply)["model"] == "fast-9b");
  CHECK((*reply)["id"] == "x");
  CHECK((*reply)["usage"]["completion_tokens"] == 1);
  CHECK(backend.last_body()["model"] == "upstream-name");
}

TEST_CASE("OpenAiUpstream: an error status carries the backend's own message") {
  ScriptedBackend backend([](const auto&, auto& ex) {
    reply_json(ex, 503, R"({"error":{"code":503,"message":"Loading model","type":"unavailable_error"}})");
  });
  UnavailableRouter router;
  auto up = make_upstream(openai_backend(backend.port()), router);
  config::Model m = model_named("fast-9b");
  auto reply = up->chat(k_request, context_for(m));
  REQUIRE(!reply);
  CHECK(reply.error().kind == core::ErrorKind::upstream_status);
  CHECK(reply.error().http_status == 503);
  CHECK(reply.error().message == "scripted answered 503: Loading model");
}

TEST_CASE("OpenAiUpstream: llama-server's context-size refusal is a context error with its counts") {
  // tests/fixtures/llama-server/errors.http, case 8 (b10587, -c 512).
  ScriptedBackend backend([](const auto&, auto& ex) {
    reply_json(ex, 400,
               R"({"error":{"code":400,"message":"request (6452 tokens) exceeds the available )"
               R"(context size (512 tokens), try increasing it","type":"exceed_context_size_error",)"
               R"("n_prompt_tokens":6452,"n_ctx":512}})");
  });
  UnavailableRouter router;
  auto up = make_upstream(openai_backend(backend.port()), router);
  config::Model m = model_named("fast-9b");
  auto reply = up->chat(k_request, context_for(m));
  REQUIRE(!reply);
  CHECK(reply.error().kind == core::ErrorKind::context_exceeded);
  CHECK(reply.error().context_size.prompt_tokens == 6452);
  CHECK(reply.error().context_size.context == 512);
  CHECK_FALSE(reply.error().context_size.estimated);
  CHECK(reply.error().status_for_client() == 400);
}

TEST_CASE("OpenAiUpstream: completions, embeddings and rerank go to their own paths") {
  ScriptedBackend backend([](const net::HttpRequest& r, auto& ex) {
    if (r.path == "/v1/embeddings") {
      reply_json(ex, 200, R"({"object":"list","data":[{"index":0,"embedding":[1]}],"model":"e"})");
    } else if (r.path == "/v1/rerank") {
      reply_json(ex, 200, R"({"results":[{"index":0,"relevance_score":0.5}],"model":"r"})");
    } else if (r.path == "/v1/completions") {
      reply_json(ex, 200, R"({"object":"text_completion","choices":[{"text":"x"}]})");
    } else {
      reply_json(ex, 200, R"({"object":"list","nothing":[]})");
    }
  });
  UnavailableRouter router;
  auto up = make_upstream(openai_backend(backend.port()), router);
  config::Model m = model_named("fast-9b");
  auto embedded = up->embed({{"model", "e"}, {"input", "hi"}}, context_for(m));
  REQUIRE(embedded);
  CHECK((*embedded)["data"][0]["embedding"] == core::Json::array({1}));
  CHECK((*embedded)["model"] == "fast-9b");
  auto ranked = up->rerank({{"model", "r"}, {"query", "q"}, {"documents", {"d"}}}, context_for(m));
  REQUIRE(ranked);
  CHECK((*ranked)["results"][0]["relevance_score"] == 0.5);
  auto completed = up->complete({{"model", "c"}, {"prompt", "p"}}, context_for(m));
  REQUIRE(completed);
  CHECK((*completed)["choices"][0]["text"] == "x");
  // A reply without the operation's own key is malformed.
  ScriptedBackend wrong([](const auto&, auto& ex) { reply_json(ex, 200, R"({"choices":[]})"); });
  auto bad = make_upstream(openai_backend(wrong.port()), router)->embed({{"input", "x"}}, context_for(m));
  REQUIRE(!bad);
  CHECK(bad.error().http_status == 502);
  CHECK(bad.error().message.find("has no data") != std::string::npos);
}

TEST_CASE("OpenAiUpstream: an error sent in a 200 reply, or a reply that is not JSON, is an error") {
  std::atomic<int> which{0};
  ScriptedBackend backend([&](const auto&, auto& ex) {
    if (which == 0) {
      reply_json(ex, 200, R"({"error":{"code":500,"message":"out of memory"}})");
    } else {
      reply_json(ex, 200, "<html>oops</html>");
    }
  });
  UnavailableRouter router;
  auto up = make_upstream(openai_backend(backend.port()), router);
  config::Model m = model_named("fast-9b");
  auto inband = up->chat(k_request, context_for(m));
  REQUIRE(!inband);
  CHECK(inband.error().http_status == 500);
  CHECK(inband.error().message.find("out of memory") != std::string::npos);
  which = 1;
  auto html = up->chat(k_request, context_for(m));
  REQUIRE(!html);
  CHECK(html.error().http_status == core::Error::k_malformed_reply_status);
}

TEST_CASE("OpenAiUpstream: streams ask for usage, and drop it when the client did not") {
  ScriptedBackend backend([](const auto&, auto& ex) {
    reply_sse(ex, {R"({"model":"u","choices":[{"index":0,"delta":{"content":"a"}}]})",
                   R"({"model":"u","choices":[],"usage":{"prompt_tokens":2,"completion_tokens":1,"total_tokens":3}})"});
  });
  UnavailableRouter router;
  auto up = make_upstream(openai_backend(backend.port()), router);
  config::Model m = model_named("fast-9b");
  for (bool wants : {false, true}) {
    CAPTURE(wants);
    auto stream = up->chat_stream(k_stream_request, context_for(m, wants));
    REQUIRE(stream);
    auto chunks = drain(**stream);
    REQUIRE(chunks);
    CHECK(chunks->size() == (wants ? 2u : 1u));
    CHECK((*chunks)[0]["model"] == "fast-9b");
    REQUIRE((*stream)->usage());
    CHECK((*stream)->usage()->completion_tokens == 1);
    CHECK(backend.last_body()["stream_options"]["include_usage"] == true);
  }
}

TEST_CASE("OpenAiUpstream: a stream read to [DONE] leaves its connection for the next request") {
  ScriptedBackend backend([](const auto&, auto& ex) {
    reply_sse(ex, {R"({"choices":[{"index":0,"delta":{"content":"a"}}]})"});
  });
  UnavailableRouter router;
  auto up = make_upstream(openai_backend(backend.port()), router);
  config::Model m = model_named("fast-9b");
  for (int i = 0; i < 3; ++i) {
    auto stream = up->chat_stream(k_stream_request, context_for(m));
    REQUIRE(stream);
    REQUIRE(drain(**stream));
  }
  auto peers = backend.peers();
  REQUIRE(peers.size() == 3);
  CHECK(peers[0] == peers[1]);
  CHECK(peers[1] == peers[2]);
}

TEST_CASE("OpenAiUpstream: a stream given up early closes its connection") {
  std::atomic<int> gone{0};
  ScriptedBackend backend([&](const auto&, auto& ex) {
    ex.begin_chunked(200, {{"Content-Type", "text/event-stream"}, {"Transfer-Encoding", "chunked"}});
    ex.send_chunk("data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"a\"}}]}\n\n");
    // Still generating: the backend only stops when its client leaves.
    if (ex.wait_for(std::nullopt) == net::WaitResult::client_gone) {
      ++gone;
    }
  });
  UnavailableRouter router;
  auto up = make_upstream(openai_backend(backend.port()), router);
  config::Model m = model_named("fast-9b");
  for (int i = 0; i < 2; ++i) {
    auto stream = up->chat_stream(k_stream_request, context_for(m));
    REQUIRE(stream);
    REQUIRE((*stream)->next()); // one chunk, then the client goes away
  }
  auto peers = backend.peers();
  REQUIRE(peers.size() == 2);
  CHECK(peers[0] != peers[1]);
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  while (gone < 2 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::yield(); // the backend's threads notice the close on their own
  }
  CHECK(gone == 2);
}

TEST_CASE("OpenAiUpstream: a stream without [DONE] or with an error event fails") {
  std::atomic<int> which{0};
  ScriptedBackend backend([&](const auto&, auto& ex) {
    if (which == 0) {
      reply_sse(ex, {R"({"choices":[{"index":0,"delta":{"content":"a"}}]})"}, false);
    } else {
      reply_sse(ex, {R"({"error":{"code":503,"message":"slot unavailable"}})"});
    }
  });
  UnavailableRouter router;
  auto up = make_upstream(openai_backend(backend.port()), router);
  config::Model m = model_named("fast-9b");
  auto cut = up->chat_stream(k_stream_request, context_for(m));
  REQUIRE(cut);
  auto cut_chunks = drain(**cut);
  REQUIRE(!cut_chunks);
  CHECK(cut_chunks.error().kind == core::ErrorKind::connect);
  which = 1;
  auto errored = up->chat_stream(k_stream_request, context_for(m));
  REQUIRE(errored);
  auto err_chunks = drain(**errored);
  REQUIRE(!err_chunks);
  CHECK(err_chunks.error().http_status == 503);
}

TEST_CASE("Managed upstream: leases an instance per request and gives it back") {
  ScriptedBackend backend([](const auto& r, auto& ex) {
    if (core::Json::parse(r.body).value("stream", false)) {
      reply_sse(ex, {R"({"choices":[{"index":0,"delta":{"content":"a"}}]})"});
    } else {
      reply_json(ex, 200, k_reply);
    }
  });
  FakeRouter router(backend.port());
  config::Backend managed;
  managed.name = "local";
  managed.kind = config::BackendKind::llama_server;
  auto up = make_upstream(managed, router);
  config::Model m = model_named("coder-30b");
  auto reply = up->chat(k_request, context_for(m));
  REQUIRE(reply);
  CHECK((*reply)["model"] == "coder-30b");
  CHECK(router.live == 0);
  auto stream = up->chat_stream(k_stream_request, context_for(m));
  REQUIRE(stream);
  CHECK(router.live == 1); // held while the stream is read
  auto chunks = drain(**stream);
  REQUIRE_MESSAGE(chunks, chunks.error().describe());
  CHECK(chunks->size() == 1);
  stream->reset();
  CHECK(router.live == 0);
  CHECK(router.acquired == std::vector<std::string>{"coder-30b", "coder-30b"});
}

TEST_CASE("UnavailableRouter: managed models cannot be placed, which falls back") {
  UnavailableRouter router;
  config::Model m = model_named("coder-30b");
  auto lease = router.acquire(m, std::chrono::steady_clock::now(), {});
  REQUIRE(!lease);
  CHECK(lease.error().kind == core::ErrorKind::overloaded);
  CHECK(lease.error().message.find("cannot place coder-30b") == 0);
}

TEST_CASE("client_timeouts: forever becomes a very long wait, total a deadline") {
  const auto now = std::chrono::steady_clock::now();
  config::Timeouts t{core::Duration::seconds(2), core::Duration::forever(),
                     core::Duration::seconds(30), core::Duration::seconds(60)};
  net::ClientTimeouts c = client_timeouts(t, now);
  CHECK(c.connect == 2s);
  CHECK(c.first_byte > std::chrono::hours(24 * 300));
  CHECK(c.idle == 30s);
  REQUIRE(c.deadline);
  CHECK(*c.deadline == now + 60s);
  CHECK(!client_timeouts(config::k_default_timeouts, now).deadline);
}

} // namespace ask::proxy

