#include "proxy/ollama_upstream.h"

#include <deque>

#include "core/ndjson.h"
#include "proxy/ollama_embed.h"
#include "proxy/ollama_generate.h"

namespace ask::proxy {

namespace {

// The keep_alive to send: the model's, else none (Ollama applies its own default, 5m).
std::optional<core::Duration> keep_alive_of(const CallContext& ctx) {
  return ctx.model != nullptr ? ctx.model->keep_alive : std::nullopt;
}

// Ollama cuts a prompt longer than num_ctx silently (keeping its end, so the instructions at
// the start are lost) and defaults num_ctx to less than most models hold: a model whose
// context_length the config says gets exactly that, unless the request set num_ctx itself.
// askd skips a model whose window the prompt would not fit (proxy/chat.cpp).
void set_context(core::Json& body, const CallContext& ctx) {
  if (ctx.model == nullptr || !ctx.model->context_length) {
    return;
  }
  core::Json& options = body["options"];
  if (!options.is_object()) {
    options = core::Json::object();
  }
  if (!options.contains("num_ctx")) {
    options["num_ctx"] = *ctx.model->context_length;
  }
}

// `Translator`: OllamaStreamTranslator (/api/chat) or OllamaGenerateTranslator (/api/generate).
template <class Translator> class NdjsonChunkStream final : public ChunkStream {
public:
  NdjsonChunkStream(net::ResponseStream response, const CallContext& ctx, std::string backend)
      : m_response(std::move(response)), m_translator(ctx.meta, ctx.client_wants_usage),
        m_backend(std::move(backend)) {}

  core::Result<std::optional<core::Json>> next() override {
    for (;;) {
      if (!m_chunks.empty()) {
        core::Json chunk = std::move(m_chunks.front());
        m_chunks.pop_front();
        return std::optional<core::Json>(std::move(chunk));
      }
      if (m_translator.done()) {
        return std::optional<core::Json>();
      }
      if (!m_lines.empty()) {
        std::string line = std::move(m_lines.front());
        m_lines.pop_front();
        auto body = parse_backend_json(line, m_backend + " stream line");
        if (!body) {
          return core::fail(std::move(body.error()));
        }
        auto chunks = m_translator.translate(*body);
        if (!chunks) {
          return core::fail(std::move(chunks.error()));
        }
        for (auto& c : *chunks) {
          m_chunks.push_back(std::move(c));
        }
        continue;
      }
      m_buffer.clear();
      auto more = m_response.read(m_buffer);
      if (!more) {
        return core::fail(std::move(more.error()));
      }
      std::vector<std::string> lines;
      if (!*more) {
        m_splitter.finish(lines);
        if (lines.empty()) {
          return core::fail(
              core::Error::connect(m_backend + " ended the stream before its done line"));
        }
      } else {
        m_splitter.feed(m_buffer, lines);
      }
      if (m_splitter.failed()) {
        return core::fail(core::Error::malformed_reply(m_backend + ": " + m_splitter.error()));
      }
      for (auto& l : lines) {
        m_lines.push_back(std::move(l));
      }
    }
  }

  // A stream read to its end marker takes in the rest of the body (the chunked terminator,
  // normally already here) so its connection can be reused; one given up early is closed,
  // which is how the backend learns that nobody is listening.
  ~NdjsonChunkStream() override {
    if (m_translator.done()) {
      m_response.finish(k_finish_grace);
    }
  }

  std::optional<core::Usage> usage() const override {
    if (!m_translator.done()) {
      return std::nullopt;
    }
    return m_translator.usage();
  }

private:
  net::ResponseStream m_response;
  Translator m_translator;
  std::string m_backend;
  core::NdjsonSplitter m_splitter;
  std::deque<std::string> m_lines;
  std::deque<core::Json> m_chunks;
  std::string m_buffer;
};

} // namespace

OllamaUpstream::OllamaUpstream(std::unique_ptr<BackendHttp> http) : m_http(std::move(http)) {}

core::Result<core::Json> OllamaUpstream::chat(const core::Json& request, const CallContext& ctx) {
  auto body = ollama_chat_request(request, request.value("model", ""), keep_alive_of(ctx), false);
  if (!body) {
    return core::fail(std::move(body.error()));
  }
  set_context(*body, ctx);
  auto reply = m_http->post_for_json("/api/chat", *body, ctx);
  if (!reply) {
    return core::fail(std::move(reply.error()));
  }
  return openai_response_from_ollama(*reply, ctx.meta);
}

core::Result<std::unique_ptr<ChunkStream>> OllamaUpstream::chat_stream(const core::Json& request,
                                                                       const CallContext& ctx) {
  auto body = ollama_chat_request(request, request.value("model", ""), keep_alive_of(ctx), true);
  if (!body) {
    return core::fail(std::move(body.error()));
  }
  set_context(*body, ctx);
  auto response = m_http->post_json("/api/chat", *body, true, ctx);
  if (!response) {
    return core::fail(std::move(response.error()));
  }
  return std::unique_ptr<ChunkStream>(std::make_unique<NdjsonChunkStream<OllamaStreamTranslator>>(
      std::move(*response), ctx, m_http->name()));
}

core::Result<core::Json> OllamaUpstream::complete(const core::Json& request,
                                                  const CallContext& ctx) {
  auto body =
      ollama_generate_request(request, request.value("model", ""), keep_alive_of(ctx), false);
  if (!body) {
    return core::fail(std::move(body.error()));
  }
  set_context(*body, ctx);
  auto reply = m_http->post_for_json("/api/generate", *body, ctx);
  if (!reply) {
    return core::fail(generate_error(std::move(reply.error())));
  }
  return completion_from_ollama(*reply, ctx.meta);
}

core::Result<std::unique_ptr<ChunkStream>>
OllamaUpstream::complete_stream(const core::Json& request, const CallContext& ctx) {
  auto body =
      ollama_generate_request(request, request.value("model", ""), keep_alive_of(ctx), true);
  if (!body) {
    return core::fail(std::move(body.error()));
  }
  set_context(*body, ctx);
  auto response = m_http->post_json("/api/generate", *body, true, ctx);
  if (!response) {
    return core::fail(generate_error(std::move(response.error())));
  }
  return std::unique_ptr<ChunkStream>(std::make_unique<NdjsonChunkStream<OllamaGenerateTranslator>>(
      std::move(*response), ctx, m_http->name()));
}

core::Result<core::Json> OllamaUpstream::embed(const core::Json& request, const CallContext& ctx) {
  const std::optional<std::int64_t> num_ctx =
      ctx.model != nullptr ? ctx.model->context_length : std::nullopt;
  auto body =
      ollama_embed_request(request, request.value("model", ""), keep_alive_of(ctx), num_ctx);
  if (!body) {
    return core::fail(std::move(body.error()));
  }
  auto reply = m_http->post_for_json("/api/embed", *body, ctx);
  if (!reply) {
    return core::fail(std::move(reply.error()));
  }
  const core::Json& input = request.at("input");
  const bool base64 = request.value("encoding_format", core::Json()) == "base64";
  return openai_embeddings_from_ollama(*reply, ctx.meta.model, input.is_array() ? input.size() : 1,
                                       base64);
}

core::Result<std::optional<std::vector<LoadedModel>>>
OllamaUpstream::loaded_models(const net::ClientTimeouts& timeouts) {
  auto reply = m_http->get_json("/api/ps", timeouts);
  if (!reply) {
    return core::fail(std::move(reply.error()));
  }
  auto models = parse_ollama_ps(*reply);
  if (!models) {
    return core::fail(std::move(models.error()));
  }
  return std::optional<std::vector<LoadedModel>>(std::move(*models));
}

core::Result<std::optional<ModelFacts>> OllamaUpstream::facts(const config::Model& model,
                                                              const net::ClientTimeouts& timeouts) {
  CallContext ctx;
  ctx.model = &model;
  ctx.timeouts = timeouts;
  auto reply =
      m_http->post_for_json("/api/show", {{"model", model.upstream}}, ctx, "/api/show reply");
  if (!reply) {
    return core::fail(std::move(reply.error()));
  }
  auto facts = facts_from_ollama_show(*reply);
  if (!facts) {
    return core::fail(std::move(facts.error()));
  }
  return std::optional<ModelFacts>(std::move(*facts));
}

core::Result<std::vector<LoadedModel>> parse_ollama_ps(const core::Json& reply) {
  if (!reply.is_object() || !reply.contains("models") || !reply["models"].is_array()) {
    return core::fail(core::Error::malformed_reply("/api/ps: expected {\"models\": [...]}"));
  }
  std::vector<LoadedModel> out;
  for (const core::Json& m : reply["models"]) {
    if (!m.is_object()) {
      continue;
    }
    auto name = m.find("name");
    if (name == m.end() || !name->is_string()) {
      name = m.find("model");
    }
    if (name == m.end() || !name->is_string()) {
      continue;
    }
    LoadedModel lm;
    lm.name = name->get<std::string>();
    if (auto e = m.find("expires_at"); e != m.end() && e->is_string()) {
      lm.expires_at = e->get<std::string>();
    }
    if (auto v = m.find("size_vram"); v != m.end() && v->is_number_integer()) {
      lm.size_vram = v->get<long long>();
    }
    out.push_back(std::move(lm));
  }
  return out;
}

bool same_ollama_model(std::string_view loaded, std::string_view upstream) {
  auto with_tag = [](std::string_view name) {
    std::string s(name);
    if (s.find(':') == std::string::npos) {
      s += ":latest";
    }
    return s;
  };
  return with_tag(loaded) == with_tag(upstream);
}

} // namespace ask::proxy
