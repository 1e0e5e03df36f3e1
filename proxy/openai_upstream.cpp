// OpenAiUpstream: passthrough to any OpenAI-compatible server (llama-server, vLLM, LM Studio,
// llama-swap, another askd). The request goes out as the proxy prepared it; replies come back
// with `model` rewritten to the served logical model and everything else as the backend sent
// it. Streams always ask for the usage chunk (askd counts tokens) and drop it again when the
// client did not ask for it.

#include "proxy/openai_upstream.h"

#include <deque>

#include "core/sse.h"

namespace ask::proxy {

namespace {

// Where each operation goes, and the key its whole reply must have.
struct Route {
  std::string_view path;
  std::string_view result_key;
};
constexpr Route route_of(Operation op) {
  switch (op) {
  case Operation::chat:
    break;
  case Operation::completion:
    return {"/v1/completions", "choices"};
  case Operation::embedding:
    return {"/v1/embeddings", "data"};
  case Operation::rerank:
    return {"/v1/rerank", "results"};
  }
  return {"/v1/chat/completions", "choices"};
}

// An error object sent in-band (in a 200 reply or as a stream event).
std::optional<core::Error> inband_error(const core::Json& body, std::string_view backend,
                                        std::string_view result_key = "choices") {
  if (!body.is_object() || !body.contains("error") || body.contains(result_key)) {
    return std::nullopt;
  }
  auto err = core::parse_error_body(body);
  std::string message = err ? err->message : body["error"].dump();
  int status = 502;
  if (err && err->code.is_number_integer()) {
    const auto code = err->code.get<long long>();
    if (code >= 400 && code <= 599) {
      status = static_cast<int>(code);
    }
  }
  return core::Error::upstream(status, std::string(backend) + " sent an error: " + message);
}

class SseChunkStream final : public ChunkStream {
public:
  SseChunkStream(net::ResponseStream response, const CallContext& ctx, std::string backend)
      : m_response(std::move(response)), m_model(ctx.meta.model),
        m_client_wants_usage(ctx.client_wants_usage), m_backend(std::move(backend)) {}

  core::Result<std::optional<core::Json>> next() override {
    for (;;) {
      while (!m_events.empty()) {
        core::SseEvent event = std::move(m_events.front());
        m_events.pop_front();
        if (event.is_done()) {
          m_ended = true;
          return std::optional<core::Json>();
        }
        auto chunk = take(event);
        if (!chunk) {
          return core::fail(std::move(chunk.error()));
        }
        if (*chunk) {
          return std::move(*chunk);
        }
      }
      if (m_ended) {
        return std::optional<core::Json>();
      }
      m_buffer.clear();
      auto more = m_response.read(m_buffer);
      if (!more) {
        return core::fail(std::move(more.error()));
      }
      if (!*more) {
        m_parser.finish();
        return core::fail(core::Error::connect(m_backend + " ended the stream without [DONE]"));
      }
      m_parser.feed(m_buffer, m_parsed);
      if (m_parser.failed()) {
        return core::fail(core::Error::malformed_reply(m_backend + ": " + m_parser.error()));
      }
      for (auto& e : m_parsed) {
        m_events.push_back(std::move(e));
      }
      m_parsed.clear();
    }
  }

  // A stream read to its end marker takes in the rest of the body (the chunked terminator,
  // normally already here) so its connection can be reused; one given up early is closed,
  // which is how the backend learns that nobody is listening.
  ~SseChunkStream() override {
    if (m_ended) {
      m_response.finish(k_finish_grace);
    }
  }

  std::optional<core::Usage> usage() const override { return m_usage; }

private:
  // The chunk for one event, or nullopt when it is dropped (a usage-only chunk nobody asked for).
  core::Result<std::optional<core::Json>> take(const core::SseEvent& event) {
    auto body = parse_backend_json(event.data, m_backend + " stream event");
    if (!body) {
      return core::fail(std::move(body.error()));
    }
    core::Json& chunk = *body;
    if (auto err = inband_error(chunk, m_backend)) {
      return core::fail(std::move(*err));
    }
    if (!chunk.is_object()) {
      return core::fail(core::Error::malformed_reply(m_backend + " stream event: not an object"));
    }
    if (auto it = chunk.find("usage"); it != chunk.end() && it->is_object()) {
      core::Usage usage;
      usage.prompt_tokens = it->value("prompt_tokens", 0LL);
      usage.completion_tokens = it->value("completion_tokens", 0LL);
      usage.total_tokens = it->value("total_tokens", 0LL);
      m_usage = usage;
      if (!m_client_wants_usage) {
        auto choices = chunk.find("choices");
        if (choices == chunk.end() || (choices->is_array() && choices->empty())) {
          return std::optional<core::Json>();
        }
        chunk.erase(it);
      }
    }
    if (chunk.contains("model")) {
      chunk["model"] = m_model;
    }
    return std::optional<core::Json>(std::move(chunk));
  }

  net::ResponseStream m_response;
  std::string m_model;
  bool m_client_wants_usage;
  std::string m_backend;
  core::SseParser m_parser;
  std::vector<core::SseEvent> m_parsed;
  std::deque<core::SseEvent> m_events;
  std::string m_buffer;
  std::optional<core::Usage> m_usage;
  bool m_ended = false;
};

} // namespace

OpenAiUpstream::OpenAiUpstream(std::unique_ptr<BackendHttp> http) : m_http(std::move(http)) {}

core::Result<core::Json> OpenAiUpstream::chat(const core::Json& request, const CallContext& ctx) {
  return call_with(*m_http, Operation::chat, request, ctx);
}

core::Result<std::unique_ptr<ChunkStream>> OpenAiUpstream::chat_stream(const core::Json& request,
                                                                       const CallContext& ctx) {
  return stream_with(*m_http, Operation::chat, request, ctx);
}

core::Result<core::Json> OpenAiUpstream::complete(const core::Json& request,
                                                  const CallContext& ctx) {
  return call_with(*m_http, Operation::completion, request, ctx);
}

core::Result<std::unique_ptr<ChunkStream>>
OpenAiUpstream::complete_stream(const core::Json& request, const CallContext& ctx) {
  return stream_with(*m_http, Operation::completion, request, ctx);
}

core::Result<core::Json> OpenAiUpstream::embed(const core::Json& request, const CallContext& ctx) {
  return call_with(*m_http, Operation::embedding, request, ctx);
}

core::Result<core::Json> OpenAiUpstream::rerank(const core::Json& request, const CallContext& ctx) {
  return call_with(*m_http, Operation::rerank, request, ctx);
}

core::Result<core::Json> OpenAiUpstream::call_with(BackendHttp& http, Operation op,
                                                   const core::Json& request,
                                                   const CallContext& ctx) {
  const Route route = route_of(op);
  auto body = http.post_for_json(route.path, request, ctx);
  if (!body) {
    return core::fail(std::move(body.error()));
  }
  if (auto err = inband_error(*body, http.name(), route.result_key)) {
    return core::fail(std::move(*err));
  }
  if (!body->is_object() || !body->contains(route.result_key)) {
    return core::fail(core::Error::malformed_reply(http.name() + " reply has no " +
                                                   std::string(route.result_key)));
  }
  (*body)["model"] = ctx.meta.model;
  return std::move(*body);
}

core::Result<std::unique_ptr<ChunkStream>> OpenAiUpstream::stream_with(BackendHttp& http,
                                                                       Operation op,
                                                                       const core::Json& request,
                                                                       const CallContext& ctx) {
  core::Json body = request;
  body["stream_options"]["include_usage"] = true;
  auto response = http.post_json(route_of(op).path, body, true, ctx);
  if (!response) {
    return core::fail(std::move(response.error()));
  }
  return std::unique_ptr<ChunkStream>(
      std::make_unique<SseChunkStream>(std::move(*response), ctx, http.name()));
}

core::Result<std::optional<ModelFacts>> OpenAiUpstream::facts(const config::Model& model,
                                                              const net::ClientTimeouts& timeouts) {
  (void)model; // one llama-server serves one model
  auto props = m_http->get_json("/props", timeouts);
  if (!props) {
    if (props.error().http_status == 404) {
      return std::optional<ModelFacts>(); // not a llama-server
    }
    return core::fail(std::move(props.error()));
  }
  auto facts = facts_from_props(*props);
  if (!facts) {
    return core::fail(std::move(facts.error()));
  }
  return std::optional<ModelFacts>(std::move(*facts));
}

core::Result<std::optional<long long>> OpenAiUpstream::count_tokens(const core::Json& request,
                                                                    const CallContext& ctx) {
  return count_tokens_with(*m_http, request, ctx);
}

core::Result<std::optional<long long>> OpenAiUpstream::count_tokens_with(BackendHttp& http,
                                                                         const core::Json& request,
                                                                         const CallContext& ctx) {
  // The prompt exactly as llama-server would build it for this chat, then its tokens (with
  // the BOS and other special tokens the template writes as text).
  auto post = [&](std::string_view path, const core::Json& body) {
    return http.post_for_json(path, body, ctx, std::string(path) + " reply");
  };
  core::Json templated_request = {{"messages", request.value("messages", core::Json::array())}};
  for (const char* key : {"tools", "chat_template_kwargs"}) {
    if (auto it = request.find(key); it != request.end()) {
      templated_request[key] = *it;
    }
  }
  auto templated = post("/apply-template", templated_request);
  if (!templated) {
    if (templated.error().http_status == 404) {
      return std::optional<long long>(); // not a llama-server
    }
    return core::fail(std::move(templated.error()));
  }
  auto prompt = templated->find("prompt");
  if (!templated->is_object() || prompt == templated->end() || !prompt->is_string()) {
    return core::fail(
        core::Error::malformed_reply(http.name() + " /apply-template reply has no prompt"));
  }
  auto tokens = post("/tokenize", {{"content", *prompt}, {"parse_special", true}});
  if (!tokens) {
    return core::fail(std::move(tokens.error()));
  }
  auto list = tokens->find("tokens");
  if (!tokens->is_object() || list == tokens->end() || !list->is_array()) {
    return core::fail(core::Error::malformed_reply(http.name() + " /tokenize reply has no tokens"));
  }
  return std::optional<long long>(static_cast<long long>(list->size()));
}

} // namespace ask::proxy
